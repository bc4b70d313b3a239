#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# The client's per-connection ring of encoded commands (256k): commands of
# many sizes make it wrap around again and again; keys must arrive in Redis
# byte for byte, also when an EVALSHA answered with NOSCRIPT is resent as
# EVAL from the (wrapped) bytes still in the ring, and when more is pipelined
# than the ring holds (the excess fails at once, per the fail mode, and the
# connection keeps working).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use IO::Socket::INET;
use Test::More;
use Time::HiRes qw(time sleep);
use Meshgate::Test;

my $t = Meshgate::Test->new(workers => 1);
$t->need_module_or_skip;
$t->need('redis-server');

my $redis = $t->start_redis;
$t->write_file('html/ok.txt', "OK\n");

$t->start(<<'EOF');
    redis_server main 127.0.0.1:%%PORT_redis%% timeout=1s;
    redis_server slow 127.0.0.1:%%PORT_redis%% timeout=5s;

    limit_redis_zone $http_x_key zone=r rate=1r/m redis=main;
    limit_redis_zone $http_x_key zone=s rate=1r/m redis=slow;

    large_client_header_buffers 4 80k;

    server {
        listen 127.0.0.1:%%PORT_main%%;
        root %%PREFIX%%/html;
        add_header X-LR $limit_redis_status always;

        location /r { limit_redis zone=r; try_files /ok.txt =404; }
        location /s { limit_redis zone=s; try_files /ok.txt =404; }
    }
EOF

sub rget {
    my ($uri, $key) = @_;
    return $t->get_lr($uri, 'X-Key' => $key);
}

# a key of $len (>= 2) bytes: two bytes that name it (base 94), then filler
# that differs from the other keys' everywhere
sub mkkey {
    my ($i, $len) = @_;
    my $id = chr(33 + int($i / 94) % 94) . chr(33 + $i % 94);
    my $unit = sprintf('<%04d:', $i) . join('', map { chr(ord('a') + ($i * 7 + $_) % 26) } 0 .. 9) . '>';
    my $k = $id . ($unit x (int($len / length $unit) + 1));
    return substr($k, 0, $len);
}

my @sizes = (2, 7, 100, 4095, 4096, 4097, 30000, 65535, 17, 50000, 65000, 1234,
             60000, 2, 65535, 33333, 9999, 65535, 40000, 3);


# --- wrap around many times: 3 rounds of ~720k each --------------------------------

my (@bad, @first, @second);
my $n = 0;
for my $round (1 .. 3) {
    for my $len (@sizes) {
        my $k = mkkey(++$n, $len);
        my $r1 = rget('/r', $k);
        my $r2 = rget('/r', $k);
        push @bad, "$n ($len bytes): $r1->{status} $r1->{lr} / $r2->{status} $r2->{lr}"
            unless $r1->{lr} eq 'PASSED' && $r2->{lr} eq 'REJECTED';
        push @bad, "$n ($len bytes): not stored under its exact bytes"
            unless $t->redis_command($redis, 'EXISTS', "mg:lr:r:$k");
    }
}
ok(!@bad, "$n keys of 2..65535 bytes (ring wraps ~8 times): each PASSED then "
   . 'REJECTED, stored byte for byte') or diag(join "\n", @bad);
is($t->redis_command($redis, 'DBSIZE'), $n, "exactly $n keys in Redis (no garbled extras)");

# --- NOSCRIPT resends from a wrapped ring ------------------------------------------

@bad = ();
my $from = length $t->error_log;
for my $round (1 .. 2) {
    for my $len (@sizes) {
        my $k = mkkey(++$n, $len);
        $t->redis_command($redis, 'SCRIPT', 'FLUSH');
        my $r1 = rget('/r', $k);
        my $r2 = rget('/r', $k);
        push @bad, "$n ($len bytes): $r1->{status} $r1->{lr} / $r2->{status} $r2->{lr}"
            unless $r1->{lr} eq 'PASSED' && $r2->{lr} eq 'REJECTED';
        push @bad, "$n ($len bytes): not stored under its exact bytes"
            unless $t->redis_command($redis, 'EXISTS', "mg:lr:r:$k");
    }
}
ok(!@bad, 'SCRIPT FLUSH before each: the EVAL resent from the ring carries the exact keys')
    or diag(join "\n", @bad);
my @resent = substr($t->error_log, $from) =~ /redis does not know script/g;
ok(@resent >= 40, 'and every one went through the NOSCRIPT resend (' . scalar(@resent) . ')');
is($t->redis_command($redis, 'DBSIZE'), $n, "exactly $n keys in Redis");

# --- more pipelined than the ring holds ---------------------------------------------

# Redis paused, timeout=5s: 8 requests with 64k keys (~512k) wait at once
is($t->redis_command($redis, 'CLIENT', 'PAUSE', 1500), 'OK', 'Redis paused');
my $paused = time;
my @socks;
for my $i (1 .. 8) {
    my $k = mkkey(++$n, 65000);
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port('main'),
                                  Proto => 'tcp', Timeout => 5) or die "connect: $!";
    print {$s} "GET /s HTTP/1.0\r\nHost: x\r\nX-Key: $k\r\n\r\n";
    push @socks, [$s, $k];
}
my (%res, @times);
for my $x (@socks) {
    local $/;
    my $s = $x->[0];
    my $resp = <$s> // '';
    push @times, time - $paused;
    my ($st) = $resp =~ m{^HTTP/1\.\d (\d{3})};
    my ($lr) = $resp =~ m{^X-LR: (\S+)}mi;
    $res{($st // 'none') . ' ' . ($lr // '-')}++;
}
my $summary = join ', ', map { "$_ x$res{$_}" } sort keys %res;
note("8 x 64k keys while paused: $summary");
is(($res{'200 PASSED'} // 0) + ($res{'200 ERROR'} // 0), 8,
   "every one answered: PASSED when it fit, ERROR (fail open) when not ($summary)");
ok(($res{'200 PASSED'} // 0) >= 1, 'those that fit were answered after the pause');
ok(($res{'200 ERROR'} // 0) >= 1, 'those that did not fit failed (ring full)');
like($t->error_log, qr/limit_redis: zone "s": redis server "slow" unavailable \((?:too many commands waiting|command not sent)\)/,
     'logged as "too many commands waiting" or "command not sent"');

# after that, the connection works and keys are exact
@bad = ();
for my $len (@sizes) {
    my $k = mkkey(++$n, $len);
    my $r1 = rget('/s', $k);
    my $r2 = rget('/s', $k);
    push @bad, "$n ($len bytes): $r1->{lr} / $r2->{lr}"
        unless $r1->{lr} eq 'PASSED' && $r2->{lr} eq 'REJECTED';
}
ok(!@bad, 'after the overflow the connection works, verdicts exact') or diag(join "\n", @bad);

# --- NOSCRIPT for a full pipeline: resends need room in a full ring -----------------------

sub paused_batch {
    my ($count, $len, $what) = @_;
    is($t->redis_command($redis, 'SCRIPT', 'FLUSH'), 'OK', "$what: SCRIPT FLUSH");
    is($t->redis_command($redis, 'CLIENT', 'PAUSE', 1000), 'OK', "$what: Redis paused");
    my $p = time;
    my @s;
    for my $i (1 .. $count) {
        my $k = mkkey(++$n, $len);
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port('main'),
                                      Proto => 'tcp', Timeout => 8) or die "connect: $!";
        print {$s} "GET /s HTTP/1.0\r\nHost: x\r\nX-Key: $k\r\n\r\n";
        push @s, [$s, $k];
    }
    my (%res, $max, @passed);
    for my $x (@s) {
        local $/;
        my $s = $x->[0];
        my $resp = <$s> // '';
        my $el = time - $p;
        $max = $el if !defined $max || $el > $max;
        my ($st) = $resp =~ m{^HTTP/1\.\d (\d{3})};
        my ($lr) = $resp =~ m{^X-LR: (\S+)}mi;
        $res{($st // 'none') . ' ' . ($lr // '-')}++;
        push @passed, $x->[1] if ($lr // '') eq 'PASSED';
    }
    my $sum = join ', ', map { "$_ x$res{$_}" } sort keys %res;
    note("$what: $sum");
    is(($res{'200 PASSED'} // 0) + ($res{'200 ERROR'} // 0), $count,
       "$what: every request answered, PASSED or ERROR ($sum)");
    ok($max < 6, sprintf('%s: none waited past timeout=5s (max %.2f s)', $what, $max));
    my @missing = grep { !$t->redis_command($redis, 'EXISTS', "mg:lr:s:$_") } @passed;
    ok(!@missing, "$what: every PASSED key is stored under its exact bytes");
    return \%res;
}

# 4 x 64k: the ring is nearly full when the NOSCRIPT replies come
my $res = paused_batch(4, 65000, '4 x 64k after a flush');
ok(($res->{'200 PASSED'} // 0) >= 3, 'at most the first one lacks room for its EVAL');

# many small ones: all resent
$res = paused_batch(40, 200, '40 x 200 bytes after a flush');
is($res->{'200 PASSED'} // 0, 40, 'all 40 resent with EVAL and PASSED');

# and afterwards all is well
@bad = ();
for my $len (@sizes) {
    my $k = mkkey(++$n, $len);
    my $r1 = rget('/s', $k);
    my $r2 = rget('/s', $k);
    push @bad, "$n ($len bytes): $r1->{lr} / $r2->{lr}"
        unless $r1->{lr} eq 'PASSED' && $r2->{lr} eq 'REJECTED';
}
ok(!@bad, 'afterwards the connection works, verdicts exact') or diag(join "\n", @bad);

done_testing;
