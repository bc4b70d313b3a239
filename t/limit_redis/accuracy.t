#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# Accuracy of the joint limit: two nginx instances with two workers each,
# one Redis, rate=20r/s burst=5 nodelay, a fixed offered load of 200 r/s
# (10 times the rate) for 10 s from 4 forked client loops that spread their
# requests over both instances.  The accepted count must be within 1% of
# burst + 1 + rate * duration.
#
# Why this is exact enough to assert: under saturation the key's backlog
# never drains to 0, so every accepted request moves the tat by exactly
# T = 50 ms and none is lost; the only slack is the time between a slot
# opening and the next offered request taking it (at most the 5 ms offer
# interval), which does not accumulate, and the floor() of the last partial
# slot: the count is exact to +-1 request, and 1% of ~206 is ~2.  The Redis
# state is checked as well: the final tat is exactly (accepted - 1) * T
# after the first request's.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use IO::Socket::INET;
use POSIX ();
use Test::More;
use Time::HiRes qw(time sleep);
use Meshgate::Test;

my $RATE = 20;          # r/s
my $BURST = 5;
my $SECONDS = 10;
my $LOOPS = 4;
my $PER_LOOP = 50;      # offered r/s per loop: 200 r/s in all

my $t1 = Meshgate::Test->new(workers => 2);
$t1->need_module_or_skip;
$t1->need('redis-server');
my $t2 = Meshgate::Test->new(workers => 2);

my $redis = $t1->start_redis;

my $conf = <<'EOF';
    redis_server main 127.0.0.1:REDIS_PORT timeout=500ms;

    limit_redis_zone $arg_k zone=acc rate=RATEr/s redis=main;

    server {
        listen 127.0.0.1:%%PORT_main%% reuseport;
        root %%PREFIX%%/html;
        access_log off;

        location / {
            limit_redis zone=acc burst=BURST nodelay;
            try_files /ok.txt =404;
        }
    }
EOF
$conf =~ s/REDIS_PORT/$redis/;
$conf =~ s/RATE/$RATE/;
$conf =~ s/BURST/$BURST/;

for my $t ($t1, $t2) {
    $t->write_file('html/ok.txt', "OK\n");
    $t->start($conf);
}
my @ports = ($t1->port('main'), $t2->port('main'));

# warm up: every worker connected to Redis
for my $t ($t1, $t2) {
    $t->get("/?k=warm$_") for 1 .. 10;
}

# one request: returns (status, send time)
sub one {
    my ($port, $key) = @_;
    my $sent = time;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 2)
        or return ('connect', $sent);
    print {$s} "GET /?k=$key HTTP/1.0\r\nHost: x\r\n\r\n";
    my $line = <$s> // '';
    close $s;
    return ($line =~ m{^HTTP/1\.\d (\d{3})} ? $1 : 'none', $sent);
}

my $key = 'load';

# the first request alone: its tat fixes the start on Redis's clock
my ($st0, $sent0) = one($ports[0], $key);
is($st0, 200, 'first request accepted');
my $tat0 = $t1->redis_command($redis, 'GET', "mg:lr:acc:$key");

# the load: each loop sends on a fixed schedule, alternating instances
my $start = $sent0 + 0.02;
my @kids;
for my $l (0 .. $LOOPS - 1) {
    pipe(my $rd, my $wr) or die "pipe: $!";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        close $rd;
        my ($acc, $rej, $other, $first, $last, $late) = (0, 0, 0, undef, undef, 0);
        my $gap = 1 / $PER_LOOP;
        my $n = int($SECONDS * $PER_LOOP);
        my %by_port;
        for my $i (0 .. $n - 1) {
            my $at = $start + $i * $gap + $l * $gap / $LOOPS;
            my $wait = $at - time;
            if ($wait > 0) { sleep $wait } else { $late++ if $wait < -0.05 }
            my $port = $ports[($i + $l) % 2];
            my ($st, $sent) = one($port, $key);
            $first = $sent if !defined $first || $sent < $first;
            $last = $sent if !defined $last || $sent > $last;
            if ($st eq '200') { $acc++; $by_port{$port}++ }
            elsif ($st eq '429') { $rej++ }
            else { $other++ }
        }
        printf {$wr} "%d %d %d %.6f %.6f %d %d %d\n", $acc, $rej, $other,
            $first, $last, $late, $by_port{$ports[0]} // 0, $by_port{$ports[1]} // 0;
        close $wr;
        POSIX::_exit(0);
    }
    close $wr;
    push @kids, [$pid, $rd];
}

my ($acc, $rej, $other, $first, $last, $late, $a1, $a2) = (1, 0, 0, $sent0, $sent0, 0, 1, 0);
for my $k (@kids) {
    my $line = readline($k->[1]) // '';
    waitpid($k->[0], 0);
    my @f = split ' ', $line;
    if (@f != 8) { $other += 1000; next }
    $acc += $f[0];
    $rej += $f[1];
    $other += $f[2];
    $last = $f[4] if $f[4] > $last;
    $late += $f[5];
    $a1 += $f[6];
    $a2 += $f[7];
}

my $duration = $last - $first;
my $expected = $BURST + 1 + $RATE * $duration;
my $offered = $acc + $rej + $other;

diag(sprintf 'offered %d requests in %.3f s (%.0f r/s; %d sent late); accepted %d '
     . '(instance A %d, B %d), expected %.2f: ratio %.4f, error %+.2f%%',
     $offered, $duration, $offered / $duration, $late, $acc, $a1, $a2, $expected,
     $acc / $expected, 100 * ($acc - $expected) / $expected);

is($other, 0, 'every request answered with 200 or 429');
ok($late < $offered / 10, "the load generator kept its schedule ($late late)");
ok(abs($acc - $expected) <= 0.01 * $expected,
   sprintf('accepted %d within 1%% of burst + 1 + rate x duration = %.2f', $acc, $expected));
ok($a1 > 0 && $a2 > 0, 'both instances accepted requests');

# the Redis state agrees: (accepted - 1) slots of T after the first request
my $tat = $t1->redis_command($redis, 'GET', "mg:lr:acc:$key");
my $T = 1e6 / $RATE;
is(($tat - $tat0) / $T, $acc - 1,
   'Redis tat moved by exactly (accepted - 1) x T: no lost or double update');

done_testing;
