#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# limit_redis: allow / reject sequences against exact GCRA arithmetic, the
# headers' exact values, the Redis key (name, value = tat in microseconds of
# Redis's clock, PX TTL = tat + 1 s) and the expiry of idle keys.
#
# Slow rates (1r/m, 30r/m) keep the arithmetic exact: the few milliseconds
# between requests cannot move a value across a whole second.  Where a value
# depends on the time elapsed between requests, the test measures that time
# and only insists on the exact value when less than a second has passed.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use POSIX qw(ceil floor);
use Test::More;
use Time::HiRes qw(time sleep);
use Meshgate::Test;

my $t = Meshgate::Test->new(workers => 2);
$t->need_module_or_skip;
$t->need('redis-server');

my $redis = $t->start_redis;
$t->write_file('html/ok.txt', "OK\n");

$t->start(<<'EOF');
    redis_server main 127.0.0.1:%%PORT_redis%% timeout=1s;

    limit_redis_zone $arg_k zone=m3   rate=1r/m  redis=main;
    limit_redis_zone $arg_k zone=h2   rate=30r/m redis=main;
    limit_redis_zone $arg_k zone=s0   rate=1r/s  redis=main;
    limit_redis_zone $arg_k zone=fast rate=10r/s redis=main;
    limit_redis_zone $arg_k zone=p1   rate=10r/s redis=main;
    limit_redis_zone $arg_k zone=p2   rate=1r/s  redis=main;
    limit_redis_zone $arg_k zone=p3   rate=1r/m  redis=main;
    limit_redis_zone $arg_k zone=p4   rate=3r/s  redis=main;
    limit_redis_zone $arg_k zone=max  rate=1000000r/s redis=main;
    limit_redis_zone $arg_k zone=bigb rate=1r/m redis=main;

    server {
        listen 127.0.0.1:%%PORT_main%% reuseport;
        root %%PREFIX%%/html;
        add_header X-LR $limit_redis_status always;

        location /m3 { limit_redis zone=m3 burst=2 nodelay; try_files /ok.txt =404; }
        location /h2 { limit_redis zone=h2 burst=1 nodelay; try_files /ok.txt =404; }
        location /s0 { limit_redis zone=s0; try_files /ok.txt =404; }
        location /fast { limit_redis zone=fast; try_files /ok.txt =404; }
        location /p1 { limit_redis zone=p1 burst=5 nodelay; try_files /ok.txt =404; }
        location /p2 { limit_redis zone=p2 burst=3 nodelay; try_files /ok.txt =404; }
        location /p3 { limit_redis zone=p3; try_files /ok.txt =404; }
        location /p4 { limit_redis zone=p4 burst=2 nodelay; try_files /ok.txt =404; }
        location /max { limit_redis zone=max; try_files /ok.txt =404; }
        location /bigb { limit_redis zone=bigb burst=1000000 nodelay; try_files /ok.txt =404; }
    }
EOF

sub redis_now_us {
    my $tm = $t->redis_command($redis, 'TIME');
    return $tm->[0] * 1000000 + $tm->[1];
}

# --- rate=1r/m burst=2 nodelay: three pass, then 429 -------------------------

my $key = 'mg:lr:m3:u1';
ok(!defined $t->redis_command($redis, 'GET', $key), 'no key before the first request');

my $t0 = time;
my @r = map { $t->get_lr('/m3?k=u1') } 1 .. 4;
my $elapsed = time - $t0;
note(sprintf 'four requests took %.3f s', $elapsed);

is_deeply([map { $_->{status} } @r], [200, 200, 200, 429],
          '1r/m burst=2 nodelay: 200 200 200 429');
is_deeply([map { $_->{lr} } @r], [qw(PASSED PASSED PASSED REJECTED)],
          '$limit_redis_status: PASSED x3, REJECTED');

# RateLimit-Policy: q = B + 1 = 3, w = ceil(3 * 60 s) = 180
is($_->{headers}{'ratelimit-policy'}, '"m3";q=3;w=180',
   "RateLimit-Policy on response $_->{n}")
    for map { $r[$_]{n} = $_ + 1; $r[$_] } 0 .. 3;

# RateLimit r = remaining after the request, t = ceil(after / 1 s)
# request k (accepted) of a new key: after = k * T - (time since the first)
my @want_rl = ('"m3";r=2;t=60', '"m3";r=1;t=120', '"m3";r=0;t=180',
               '"m3";r=0;t=180');
if ($elapsed < 1) {
    is($r[$_]{headers}{'ratelimit'}, $want_rl[$_],
       "RateLimit on response " . ($_ + 1) . ": $want_rl[$_]") for 0 .. 3;
} else {
    for my $i (0 .. 3) {
        my ($rr, $tt) = ($r[$i]{headers}{'ratelimit'} // '')
            =~ /^"m3";r=(\d+);t=(\d+)$/;
        my ($wr, $wt) = $want_rl[$i] =~ /r=(\d+);t=(\d+)/;
        ok(defined $rr && $rr == $wr && $tt <= $wt
           && $tt >= $wt - ceil($elapsed),
           'RateLimit on response ' . ($i + 1) . ' (slow run)')
            or diag($r[$i]{headers}{'ratelimit'});
    }
}

ok(!defined $r[$_]{headers}{'retry-after'},
   'no Retry-After on accepted response ' . ($_ + 1)) for 0 .. 2;

# rejected: backlog = 3T - elapsed, retry = backlog - 2T = 60 s - elapsed
if ($elapsed < 1) {
    is($r[3]{headers}{'retry-after'}, '60', 'Retry-After: 60 on the 429');
} else {
    like($r[3]{headers}{'retry-after'} // '', qr/^(?:5\d|60)$/,
         'Retry-After about 60 on the 429 (slow run)');
}

# the Redis key: value = tat = t1 + 3T (us, Redis clock), PX = tat + 1 s
my $tat = $t->redis_command($redis, 'GET', $key);
my $now = redis_now_us();
like($tat // '', qr/^\d{16}$/, "key $key holds a tat in microseconds")
    or diag($tat);
my $ahead = ($tat // 0) - $now;
ok($ahead > 180e6 - ($elapsed + 1) * 1e6 && $ahead <= 180e6,
   'tat is 3T (180 s) after the first request, on Redis\'s clock')
    or diag("tat - now = $ahead us");

my $pttl = $t->redis_command($redis, 'PTTL', $key);
ok($pttl > 0, "key has a PX TTL ($pttl ms)");
ok(abs($pttl - ($ahead / 1000 + 1000)) < 1000,
   'PTTL = time to the tat + 1 s')
    or diag("pttl $pttl, tat - now $ahead us");

# a rejected request charges nothing
$t->get_lr('/m3?k=u1') for 1 .. 3;
is($t->redis_command($redis, 'GET', $key), $tat,
   'three more rejected requests: tat unchanged');

# another key is independent
is($t->get_lr('/m3?k=u2')->{status}, 200, 'another key of the same zone: 200');

# --- drain: rate=30r/m (T = 2 s) burst=1 nodelay -----------------------------

$t0 = time;
@r = map { $t->get_lr('/h2?k=d') } 1 .. 3;
is_deeply([map { $_->{status} } @r], [200, 200, 429],
          '30r/m burst=1 nodelay: 200 200 429');
is($r[2]{headers}{'retry-after'}, '2', 'Retry-After: 2 (retry = 4 s - 2 s)')
    if time - $t0 < 1;

# 2.3 s later one slot (T = 2 s) has drained: backlog = 4 - 2.3 - e <= 2
sleep(2.3 - (time - $t0)) if time - $t0 < 2.3;
my $e = time - $t0;
@r = map { $t->get_lr('/h2?k=d') } 1 .. 2;
is($r[0]{status}, 200, sprintf('after %.1f s one request passes again', $e));
is($r[1]{status}, 429, 'and the next one is rejected');
like($r[0]{headers}{'ratelimit'} // '', qr/^"h2";r=0;t=[34]$/,
     'RateLimit after the drain: r=0, t = ceil(4 s + 2 s - elapsed)')
    if $e < 3.5;

# --- rate=1r/s burst=0 (no nodelay): second request at once is rejected -------

@r = map { $t->get_lr('/s0?k=z') } 1 .. 2;
is($r[0]{status}, 200, '1r/s burst=0: first 200');
is($r[1]{status}, 429, '1r/s burst=0: immediate second 429');
is($r[1]{headers}{'retry-after'}, '1', 'Retry-After: 1 (max(1, ceil(<1 s)))');
is($r[0]{headers}{'ratelimit'}, '"s0";r=0;t=1', 'RateLimit r=0;t=1');
is($r[1]{headers}{'ratelimit'}, '"s0";r=0;t=1', 'RateLimit on the 429: r=0;t=1');
is($r[0]{headers}{'ratelimit-policy'}, '"s0";q=1;w=1', 'RateLimit-Policy q=1;w=1');

# --- RateLimit-Policy examples from the documentation --------------------------

is($t->get_lr('/p1?k=x')->{headers}{'ratelimit-policy'}, '"p1";q=6;w=1',
   '10r/s burst=5: q=6;w=1');
is($t->get_lr('/p2?k=x')->{headers}{'ratelimit-policy'}, '"p2";q=4;w=4',
   '1r/s burst=3: q=4;w=4');
is($t->get_lr('/p3?k=x')->{headers}{'ratelimit-policy'}, '"p3";q=1;w=60',
   '1r/m: q=1;w=60');
# 3r/s: T = 333333 us (rounded), q = 3, w = ceil(999999 us) = 1
my $p4 = $t->get_lr('/p4?k=x');
is($p4->{headers}{'ratelimit-policy'}, '"p4";q=3;w=1', '3r/s burst=2: q=3;w=1');
is($p4->{headers}{'ratelimit'}, '"p4";r=2;t=1',
   '3r/s: new key r=B=2, t at least 1');
# T is kept as 333333 us: the stored tat is exactly 333333 us after Redis's now
{
    my $tat4 = $t->redis_command($redis, 'GET', 'mg:lr:p4:x');
    my $n4 = redis_now_us();
    ok($tat4 - $n4 <= 333333 && $tat4 - $n4 > 0,
       '3r/s: tat at most T = 333333 us ahead') or diag($tat4 - $n4);
}

# 10r/s, first request of a new key: r = 5, t = ceil(0.1 s) = 1
my $p1 = $t->get_lr('/p1?k=y');
is($p1->{headers}{'ratelimit'}, '"p1";r=5;t=1', '10r/s burst=5 new key: r=5;t=1');

# --- the extremes: 1000000r/s (T = 1 us), burst=1000000 at 1r/m ---------------

my $mx = $t->get_lr('/max?k=x');
is($mx->{status}, 200, '1000000r/s: 200');
is($mx->{headers}{'ratelimit-policy'}, '"max";q=1;w=1', '1000000r/s: q=1;w=1');
is($mx->{headers}{'ratelimit'}, '"max";r=0;t=1', '1000000r/s: r=0;t=1 (t at least 1)');
is($t->get_lr('/max?k=x')->{status}, 200, '1000000r/s: the next request (> 1 us later) passes');

my @bb = map { $t->get_lr('/bigb?k=x') } 1 .. 2;
is($bb[0]{headers}{'ratelimit-policy'}, '"bigb";q=1000001;w=60000060',
   'burst=1000000 at 1r/m: q=1000001;w=60000060');
is($bb[0]{headers}{'ratelimit'}, '"bigb";r=1000000;t=60', 'first: r=1000000;t=60');
is($bb[1]{headers}{'ratelimit'}, '"bigb";r=999999;t=120', 'second: r=999999;t=120');
{
    my $pt = $t->redis_command($redis, 'PTTL', 'mg:lr:bigb:x');
    ok($pt > 119000 && $pt <= 121000, "PTTL follows the tat ($pt ms)");
}

# --- idle keys expire: T = 100 ms, PX = 100 ms + 1 s ---------------------------

my $fk = 'mg:lr:fast:idle';
my $fs = time;
is($t->get_lr('/fast?k=idle')->{status}, 200, '10r/s: request passes');
my $fp = $t->redis_command($redis, 'PTTL', $fk);
ok($fp > 500 && $fp <= 1100, "fresh key PTTL $fp ms in (500, 1100]");

sleep(0.5 - (time - $fs)) if time - $fs < 0.5;
{
    my $there = $t->redis_command($redis, 'EXISTS', $fk);
    my $when = time - $fs;
    ok($there, sprintf('key still there %.2f s later', $when))
        if $when < 0.95;
}

my $gone;
while (time - $fs < 4) {
    if (!$t->redis_command($redis, 'EXISTS', $fk)) {
        $gone = time - $fs;
        last;
    }
    sleep 0.05;
}
ok(defined $gone, 'idle key expired by itself');
ok(defined $gone && $gone >= 0.9 && $gone < 2.5,
   sprintf('... about 1.1 s after the request (%.2f s)', $gone // -1));

is($t->get_lr('/fast?k=idle')->{status}, 200, 'after expiry the key starts fresh');

done_testing;
