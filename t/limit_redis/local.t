#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# The local fallback (limit_redis_fail local) in detail: the same algorithm
# as Redis's (exact headers), several zones (a rejection charges no zone),
# delays, LRU eviction when the zone's shared memory is full, big keys, and
# the way back to Redis.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Test::More;
use Time::HiRes qw(time sleep);
use Meshgate::Test;

my $t = Meshgate::Test->new(workers => 2);
$t->need_module_or_skip;
$t->need('redis-server');

my $redis = $t->start_redis;
$t->write_file('html/ok.txt', "OK\n");

$t->start(<<'EOF');
    redis_server main 127.0.0.1:%%PORT_redis%% timeout=100ms;

    limit_redis_zone $arg_a zone=A rate=1r/m redis=main;
    limit_redis_zone $arg_b zone=B rate=1r/m redis=main;
    limit_redis_zone $arg_k zone=D rate=2r/s redis=main;
    limit_redis_zone $http_x_key zone=small:32k rate=1r/m redis=main;

    large_client_header_buffers 4 80k;

    server {
        listen 127.0.0.1:%%PORT_main%% reuseport;
        root %%PREFIX%%/html;
        add_header X-LR $limit_redis_status always;
        limit_redis_fail local;

        location /ab { limit_redis zone=A; limit_redis zone=B burst=5 nodelay;
                       try_files /ok.txt =404; }
        location /b  { limit_redis zone=B burst=5 nodelay; try_files /ok.txt =404; }
        location /d  { limit_redis zone=D burst=2; try_files /ok.txt =404; }
        location /s  { limit_redis zone=small; try_files /ok.txt =404; }
        location /dd { limit_redis zone=D burst=2; limit_redis_dry_run on;
                       try_files /ok.txt =404; }
    }
EOF

is($t->get_lr('/b?b=warm')->{lr}, 'PASSED', 'Redis up');
$t->stop_redis;

# --- exact arithmetic and headers, locally ----------------------------------------------

my @r = map { $t->get_lr('/b?b=x') } 1 .. 7;
is(join(' ', map { $_->{lr} } @r),
   join(' ', ('LOCAL_PASSED') x 6, 'LOCAL_REJECTED'),
   'local 1r/m burst=5 nodelay: 6 LOCAL_PASSED then LOCAL_REJECTED');
is($r[0]{headers}{'ratelimit-policy'}, '"B";q=6;w=360', 'local: RateLimit-Policy');
is($r[0]{headers}{'ratelimit'}, '"B";r=5;t=60', 'local: RateLimit of the first');
is($r[5]{headers}{'ratelimit'}, '"B";r=0;t=360', 'local: RateLimit of the sixth');
is($r[6]{status}, 429, 'local rejection: 429');
is($r[6]{headers}{'retry-after'}, '60', 'local rejection: Retry-After 60');

# --- several zones: a local rejection charges no zone ----------------------------------------

is($t->get_lr('/ab?a=a1&b=b1')->{lr}, 'LOCAL_PASSED', '(a1, b1): LOCAL_PASSED');
is($t->get_lr('/ab?a=a1&b=b1')->{lr}, 'LOCAL_REJECTED', '(a1, b1) again: rejected by A');
is($t->get_lr('/ab?a=a1&b=b1')->{lr}, 'LOCAL_REJECTED', '... and again');
my $r = $t->get_lr('/b?b=b1');
is($r->{headers}{'ratelimit'}, '"B";r=4;t=120',
   'B:b1 was charged once, not by the rejected requests (r=4 after this one)');

# --- local delays -------------------------------------------------------------------------------

@r = map { $t->get_lr('/d?k=d') } 1 .. 2;
is($r[0]{lr}, 'LOCAL_PASSED', 'local 2r/s burst=2: first LOCAL_PASSED');
is($r[1]{lr}, 'LOCAL_DELAYED', 'second LOCAL_DELAYED');
ok($r[1]{time} >= 0.4, sprintf('... by about 500 ms (%.3f s)', $r[1]{time}));

@r = map { $t->get_lr('/dd?k=dry') } 1 .. 4;
is(join(' ', map { $_->{lr} } @r),
   'LOCAL_PASSED LOCAL_DELAYED_DRY_RUN LOCAL_DELAYED_DRY_RUN LOCAL_REJECTED_DRY_RUN',
   'local dry run: LOCAL_DELAYED_DRY_RUN, LOCAL_REJECTED_DRY_RUN');
ok(!(grep { $_->{time} >= 0.4 } @r), 'local dry run: nothing delayed');
ok(!(grep { $_->{status} != 200 } @r), 'local dry run: nothing rejected');
ok(!(grep { exists $_->{headers}{ratelimit} } @r), 'local dry run: no headers');

# --- LRU eviction in a 32k zone ---------------------------------------------------------------

my $big = 'k' x 1000;
is($t->get_lr('/s', 'X-Key' => "first$big")->{lr}, 'LOCAL_PASSED', 'small zone: first key');
is($t->get_lr('/s', 'X-Key' => "first$big")->{lr}, 'LOCAL_REJECTED', 'first key limited');

my %seen;
my $fill_start = time;
for my $i (1 .. 300) {
    my $x = $t->get_lr('/s', 'X-Key' => "fill$i$big");
    $seen{"$x->{status} $x->{lr}"}++;
}
note(sprintf '300 fill keys in %.2f s: %s', time - $fill_start,
     join ', ', map { "$_ x$seen{$_}" } sort keys %seen);
is_deeply(\%seen, { '200 LOCAL_PASSED' => 300 },
          '300 new 1k keys in a 32k zone: all LOCAL_PASSED (old ones evicted)');
is($t->get_lr('/s', 'X-Key' => "first$big")->{lr}, 'LOCAL_PASSED',
   'the first key was evicted (least recently used): fresh again');
my $last = $t->get_lr('/s', 'X-Key' => "fill300$big");
is($last->{lr}, 'LOCAL_REJECTED', 'the most recent key is still there');

# a zone full of short keys (all still live at 1r/m): a new, longer key must
# still be limited ("keys are evicted least recently used first when the
# zone is full"), whatever slab size class it needs
for my $len (100, 3000) {
    $t->get_lr('/s', 'X-Key' => "short$_" . ('x' x 20)) for 1 .. 400;
    my $k = "long$len" . ('y' x $len);
    my @l = map { $t->get_lr('/s', 'X-Key' => $k)->{lr} } 1 .. 3;
    is(join(' ', @l), 'LOCAL_PASSED LOCAL_REJECTED LOCAL_REJECTED',
       "zone full of 25-byte keys: a new $len-byte key is limited too");
}

# a key bigger than the whole zone
my $huge = 'h' x 60000;
my @h = map { $t->get_lr('/s', 'X-Key' => $huge) } 1 .. 3;
note('60000-byte key in a 32k zone: ' . join(', ', map { "$_->{status} $_->{lr}" } @h));
ok(!(grep { $_->{status} >= 500 } @h), 'a key bigger than the zone: no 5xx');
ok(!(grep { $_->{lr} !~ /^(?:LOCAL_\w+|ERROR)$/ } @h),
   'a key bigger than the zone: a local verdict or ERROR');
my @unfit = $t->error_log
    =~ /limit_redis: zone "small": a key of 60000 bytes does not fit into the local zone, not limited locally/g;
ok(@unfit >= 1 && @unfit <= 2,
   'a key bigger than the zone: logged once per worker (' . scalar(@unfit) . ')');

# --- back to Redis ---------------------------------------------------------------------------

$t->start_redis;
my $st = time;
my $back;
while (time - $st < 3) {
    my $x = $t->get_lr('/b?b=back' . int(rand(1e9)));
    if ($x->{lr} eq 'PASSED') { $back = time - $st; last }
    sleep 0.05;
}
ok(defined $back, sprintf('Redis back: verdicts from Redis again (%.2f s)', $back // -1));
@r = map { $t->get_lr('/b?b=x') } 1 .. 7;
is(join(' ', map { $_->{lr} } @r), join(' ', ('PASSED') x 6, 'REJECTED'),
   'the Redis state is separate from the local one: key x fresh in Redis');

done_testing;
