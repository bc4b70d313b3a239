#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# limit_redis: burst, nodelay and delay=.  Delayed requests are measurably
# delayed (lower bounds only, generous), requests that must not be delayed
# come back well before the delay they would have had, and the verdicts
# ($limit_redis_status, the "delaying request" log line) match.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use POSIX ();
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

    limit_redis_zone $arg_k zone=half  rate=2r/s redis=main;
    limit_redis_zone $arg_k zone=one   rate=1r/s redis=main;
    limit_redis_zone $arg_k zone=d1    rate=1r/s redis=main;
    limit_redis_zone $arg_k zone=big   rate=1r/s redis=main;
    limit_redis_zone $arg_k zone=par   rate=2r/s redis=main;

    server {
        listen 127.0.0.1:%%PORT_main%% reuseport;
        root %%PREFIX%%/html;
        add_header X-LR $limit_redis_status always;

        location /delayed { limit_redis zone=half burst=2; try_files /ok.txt =404; }
        location /nodelay { limit_redis zone=one burst=2 nodelay; try_files /ok.txt =404; }
        location /delay1  { limit_redis zone=d1 burst=3 delay=1; try_files /ok.txt =404; }
        location /delaybig { limit_redis zone=big burst=2 delay=5; try_files /ok.txt =404; }
        location /par     { limit_redis zone=par burst=2; try_files /ok.txt =404; }
    }
EOF

# --- 2r/s burst=2, no nodelay: the second request waits ~T = 500 ms ----------

my $r1 = $t->get_lr('/delayed?k=a');
my $r2 = $t->get_lr('/delayed?k=a');
is($r1->{status}, 200, '2r/s burst=2: first 200');
is($r1->{lr}, 'PASSED', 'first PASSED');
ok($r1->{time} < 0.4, sprintf('first not delayed (%.3f s)', $r1->{time}));
is($r2->{status}, 200, 'second 200');
is($r2->{lr}, 'DELAYED', 'second DELAYED');
ok($r2->{time} >= 0.4, sprintf('second delayed >= 400 ms (%.3f s)', $r2->{time}));
ok($t->wait_for_log(
       qr/\[warn\].*limit_redis: delaying request by zone "half", for (?:4\d\d|500)ms/, 2),
   'delay logged at warn (one below error) with about 500ms');

# concurrently: 4 requests at once on 2r/s burst=2, fresh key -> 1 at once,
# then delays of ~500, ~1000 ms, the 4th rejected (backlog 1.5 s > B*T = 1 s)
{
    my @kids;
    my $start = time;
    for my $i (1 .. 4) {
        pipe(my $rd, my $wr) or die "pipe: $!";
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            close $rd;
            my $r = $t->get('/par?k=c');
            printf {$wr} "%s %s %.3f\n", $r->{status} // 'none',
                $r->{headers}{'x-lr'} // '-', $r->{time};
            close $wr;
            POSIX::_exit(0);
        }
        close $wr;
        push @kids, [$pid, $rd];
    }
    my @res;
    for my $k (@kids) {
        my $line = readline($k->[1]) // '';
        waitpid($k->[0], 0);
        chomp $line;
        push @res, [split / /, $line];
    }
    @res = sort { $a->[2] <=> $b->[2] } @res;
    note(join '; ', map { "@$_" } @res);
    my @st = sort map { "$_->[0] $_->[1]" } @res;
    is_deeply(\@st, ['200 DELAYED', '200 DELAYED', '200 PASSED', '429 REJECTED'],
              '4 concurrent on 2r/s burst=2: 1 passed, 2 delayed, 1 rejected');
    my @delayed = sort { $a <=> $b } map { $_->[2] } grep { $_->[1] eq 'DELAYED' } @res;
    ok(@delayed == 2 && $delayed[0] >= 0.4 && $delayed[1] >= 0.9,
       'the delayed ones took >= 400 ms and >= 900 ms')
        or diag("@delayed");
}

# --- 1r/s burst=2 nodelay: nothing delayed (a delay would be >= 1 s) --------

my @n = map { $t->get_lr('/nodelay?k=b') } 1 .. 4;
is_deeply([map { $_->{status} } @n], [200, 200, 200, 429],
          'nodelay: 200 200 200 429');
is_deeply([map { $_->{lr} } @n], [qw(PASSED PASSED PASSED REJECTED)],
          'nodelay: PASSED x3, REJECTED');
ok($n[$_]{time} < 0.5,
   sprintf('nodelay request %d not delayed (%.3f s)', $_ + 1, $n[$_]{time}))
    for 0 .. 2;

# --- 1r/s burst=3 delay=1: the first excess request at once, then delays -----

my $d1 = $t->get_lr('/delay1?k=c');
my $d2 = $t->get_lr('/delay1?k=c');
my $d3 = $t->get_lr('/delay1?k=c');
is($d1->{lr}, 'PASSED', 'delay=1: first PASSED');
is($d2->{lr}, 'PASSED', 'delay=1: first excess request PASSED (not delayed)');
ok($d2->{time} < 0.5, sprintf('... and fast (%.3f s)', $d2->{time}));
is($d3->{status}, 200, 'delay=1: second excess request 200');
is($d3->{lr}, 'DELAYED', 'delay=1: second excess request DELAYED');
ok($d3->{time} >= 0.8, sprintf('... by about T = 1 s (%.3f s)', $d3->{time}));
# after d3 (which waited ~1 s) the backlog is 2T again: the next one is
# delayed too; the log line says so
my $d4 = $t->get_lr('/delay1?k=c');
is($d4->{lr}, 'DELAYED', 'delay=1: next one DELAYED too');
ok($d4->{time} >= 0.8, sprintf('... by about 1 s (%.3f s)', $d4->{time}));

# --- delay= larger than burst means nodelay -------------------------------------

my @b = map { $t->get_lr('/delaybig?k=d') } 1 .. 4;
is_deeply([map { $_->{lr} } @b], [qw(PASSED PASSED PASSED REJECTED)],
          'delay=5 > burst=2: PASSED x3 then REJECTED (as nodelay)');
ok($b[$_]{time} < 0.5, 'delay > burst: request ' . ($_ + 1) . ' not delayed')
    for 0 .. 2;

done_testing;
