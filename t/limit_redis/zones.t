#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# limit_redis: several zones in one location (all checked in one script
# call; a request rejected by one zone charges no zone), the headers of the
# most restrictive zone (smallest remaining, then larger `after`, then the
# directive order), Retry-After the largest retry, limit_redis_headers off,
# and inheritance of limit_redis from the server level.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Test::More;
use Time::HiRes qw(time);
use Meshgate::Test;

my $t = Meshgate::Test->new(workers => 2);
$t->need_module_or_skip;
$t->need('redis-server');

my $redis = $t->start_redis;
$t->write_file('html/ok.txt', "OK\n");

$t->start(<<'EOF');
    redis_server main 127.0.0.1:%%PORT_redis%% timeout=1s;

    limit_redis_zone $arg_a zone=A rate=1r/m redis=main;
    limit_redis_zone $arg_b zone=B rate=1r/m redis=main;
    limit_redis_zone $arg_c zone=C rate=1r/s redis=main;
    limit_redis_zone $arg_d zone=D rate=1r/m redis=main;
    limit_redis_zone $arg_e zone=E rate=1r/m redis=main;
    limit_redis_zone $arg_f zone=F rate=1r/m redis=main;
    limit_redis_zone $arg_s zone=S rate=1r/m redis=main;
    limit_redis_zone $arg_k zone=M1 rate=1r/m redis=main;
    limit_redis_zone $arg_k zone=M2 rate=2r/m redis=main;
    limit_redis_zone $arg_k zone=M3 rate=3r/m redis=main;
    limit_redis_zone $arg_k zone=M4 rate=4r/m redis=main;
    limit_redis_zone $arg_k zone=M5 rate=5r/m redis=main;
    limit_redis_zone $arg_k zone=M6 rate=6r/m redis=main;
    limit_redis_zone $arg_k zone=M7 rate=7r/m redis=main;
    limit_redis_zone $arg_j zone=M8 rate=1r/s redis=main;

    server {
        listen 127.0.0.1:%%PORT_main%% reuseport;
        root %%PREFIX%%/html;
        add_header X-LR $limit_redis_status always;

        limit_redis zone=S burst=1 nodelay;

        location /ab {
            limit_redis zone=A burst=1 nodelay;
            limit_redis zone=B nodelay;
            try_files /ok.txt =404;
        }

        # both r=0 on a new key: D has the larger `after` (60 s vs 1 s)
        location /cd {
            limit_redis zone=C;
            limit_redis zone=D;
            try_files /ok.txt =404;
        }

        # identical: the first directive wins
        location /fe {
            limit_redis zone=F;
            limit_redis zone=E;
            try_files /ok.txt =404;
        }

        location /noheaders {
            limit_redis zone=A burst=1 nodelay;
            limit_redis zone=B nodelay;
            limit_redis_headers off;
            try_files /ok.txt =404;
        }

        # eight zones, bursts 7..0: M8 (key $arg_j) decides
        location /eight {
            limit_redis zone=M1 burst=7 nodelay;
            limit_redis zone=M2 burst=7 nodelay;
            limit_redis zone=M3 burst=7 nodelay;
            limit_redis zone=M4 burst=7 nodelay;
            limit_redis zone=M5 burst=7 nodelay;
            limit_redis zone=M6 burst=7 nodelay;
            limit_redis zone=M7 burst=7 nodelay;
            limit_redis zone=M8 burst=3 nodelay;
            try_files /ok.txt =404;
        }

        # inherits limit_redis zone=S from the server level
        location /inherit {
            try_files /ok.txt =404;
        }
    }
EOF

# --- both zones are checked ---------------------------------------------------

my $r = $t->get_lr('/ab?a=a1&b=b1');
is($r->{status}, 200, '(a1, b1): both fresh, 200');
ok(defined $t->lr_state($redis, 'A:a1') && defined $t->lr_state($redis, 'B:b1'), 'both zones charged');
# A: r=1 (burst 1), B: r=0 -> B is the most restrictive
is($r->{headers}{'ratelimit-policy'}, '"B";q=1;w=60',
   'RateLimit-Policy of the most restrictive zone B');
is($r->{headers}{'ratelimit'}, '"B";r=0;t=60', 'RateLimit of zone B');

my $a1 = $t->lr_state($redis, 'A:a1');
$r = $t->get_lr('/ab?a=a1&b=b2');
is($r->{status}, 200, '(a1, b2): A within burst, B fresh: 200');
isnt($t->lr_state($redis, 'A:a1'), $a1, 'A charged again');
# now A: r=0, after 120 s; B: r=0, after 60 s -> A (larger after)
is($r->{headers}{'ratelimit'}, '"A";r=0;t=120',
   'tie on r=0: the zone with the larger after (A)');
is($r->{headers}{'ratelimit-policy'}, '"A";q=2;w=120', 'RateLimit-Policy of A');

# --- a request rejected by B charges A nothing ---------------------------------

$r = $t->get_lr('/ab?a=a2&b=b1');
is($r->{status}, 429, '(a2, b1): rejected by B');
is($r->{lr}, 'REJECTED', 'REJECTED');
ok(!defined $t->lr_state($redis, 'A:a2'), 'zone A not charged by the rejected request (no key a2)');
is($r->{headers}{'ratelimit'} // '', '"B";r=0;t=60',
   'RateLimit names the zone that rejected (B), r=0');
like($r->{headers}{'retry-after'} // '', qr/^60$/, 'Retry-After 60');

# a2 is untouched: it still has its whole burst
$r = $t->get_lr('/ab?a=a2&b=b3');
is($r->{status}, 200, '(a2, b3): 200');
is($r->{headers}{'ratelimit'} // '', '"B";r=0;t=60',
   'B most restrictive again (A has r=1: a2 was never charged)');

# --- a request rejected by A charges B nothing ---------------------------------

my $b1 = $t->lr_state($redis, 'B:b1');
$r = $t->get_lr('/ab?a=a1&b=b4');
is($r->{status}, 429, '(a1, b4): rejected by A (3rd request of a1, burst 1)');
ok(!defined $t->lr_state($redis, 'B:b4'), 'zone B not charged (no key b4)');
is($r->{headers}{'ratelimit'} // '', '"A";r=0;t=120', 'RateLimit names A');
is($r->{headers}{'retry-after'} // '', '60', 'Retry-After 60 (retry = 120 - 60)');
is($t->get_lr('/ab?a=a9&b=b4')->{status}, 200, 'b4 then has its full quota');

# rejected by both: Retry-After is the largest retry
$r = $t->get_lr('/ab?a=a1&b=b1');
is($r->{status}, 429, '(a1, b1): rejected by both');
is($t->lr_state($redis, 'B:b1'), $b1, 'B:b1 unchanged');

# --- tie-breaking -------------------------------------------------------------

$r = $t->get_lr('/cd?c=x&d=x');
is($r->{status}, 200, '/cd: 200');
is($r->{headers}{'ratelimit'}, '"D";r=0;t=60',
   'both r=0: D (after 60 s) beats C (after 1 s)');
is($r->{headers}{'ratelimit-policy'}, '"D";q=1;w=60', 'policy of D');

$r = $t->get_lr('/cd?c=x&d=y');
is($r->{status}, 429, '/cd: rejected by C only');
is($r->{headers}{'ratelimit'}, '"C";r=0;t=1', 'RateLimit names C, which rejected');
is($r->{headers}{'retry-after'}, '1', 'Retry-After 1');
ok(!defined $t->lr_state($redis, 'D:y'), 'D:y not charged');

$t->get_lr('/cd?c=x2&d=x2');
$r = $t->get_lr('/cd?c=x2&d=x2');
is($r->{status}, 429, '/cd: rejected by both zones');
is($r->{headers}{'retry-after'}, '60', 'Retry-After: the largest retry (D, 60 s; C 1 s)');
is($r->{headers}{'ratelimit'}, '"D";r=0;t=60', 'RateLimit: D (r=0, larger after)');

$r = $t->get_lr('/fe?e=x&f=x');
is($r->{headers}{'ratelimit'}, '"F";r=0;t=60',
   'identical zones: the first limit_redis directive (F) wins');

# a zone with an empty key does not count; the other does
$r = $t->get_lr('/fe?e=x');
is($r->{status}, 429, 'F key empty, E rejects');
is($r->{headers}{'ratelimit'}, '"E";r=0;t=60', 'headers from E only');
$r = $t->get_lr('/fe?f=new');
is($r->{status}, 200, 'E key empty, F fresh: 200');
is($r->{headers}{'ratelimit'}, '"F";r=0;t=60', 'headers from F only');

# --- limit_redis_headers off ---------------------------------------------------

$r = $t->get_lr('/noheaders?a=n1&b=n1');
is($r->{status}, 200, 'headers off: 200');
ok(!exists $r->{headers}{$_}, "headers off: no $_ on 200")
    for qw(ratelimit ratelimit-policy retry-after);
$r = $t->get_lr('/noheaders?a=n1&b=n1');
is($r->{status}, 429, 'headers off: still limited');
ok(!exists $r->{headers}{$_}, "headers off: no $_ on 429")
    for qw(ratelimit ratelimit-policy retry-after);

# --- eight zones in one script call ------------------------------------------------

my @e = map { $t->get_lr("/eight?k=e&j=j$_") } 1 .. 9;
is(join(' ', map { $_->{status} } @e), '200 200 200 200 200 200 200 200 429',
   'eight zones, fresh M8 keys each time: the seven shared ones allow 8, then 429');
is($e[0]{headers}{'ratelimit'}, '"M8";r=3;t=1',
   'first: M8 most restrictive (r=3 against r=7)');
is($e[7]{headers}{'ratelimit'}, '"M1";r=0;t=480',
   '8th: M1 (r=0, the largest after: 8 x 60 s)');
is($e[8]{headers}{'ratelimit'}, '"M1";r=0;t=480', '9th rejected: M1, r=0');
is($e[8]{headers}{'retry-after'}, '60', '9th: Retry-After 60 (M1 retries last)');
ok(!defined $t->lr_state($redis, 'M8:j9'), 'the rejected request charged none of the eight (M8:j9 absent)');
my @tats = map { $t->lr_state($redis, "M$_:e") } 1 .. 7;
ok(!(grep { !defined } @tats), 'M1..M7 hold key e');

# --- inheritance from the server level --------------------------------------------

my @s = map { $t->get_lr('/inherit?s=i1')->{status} } 1 .. 3;
is_deeply(\@s, [200, 200, 429], 'server-level limit_redis inherited: 200 200 429');
is($t->get_lr('/ab?a=q&b=q&s=i2')->{status}, 200,
   'a location with its own limit_redis does not inherit the server zone');
ok(!defined $t->lr_state($redis, 'S:i2'), '... S not charged there');

done_testing;
