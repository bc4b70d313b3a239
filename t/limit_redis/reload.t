#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# Reload (HUP) and graceful quit with Redis connected, with requests in
# flight (delayed, or waiting on a paused Redis), and with Redis down: no
# hang, no alerts, the old workers leave, the Redis state survives a reload,
# a changed configuration takes effect, and the old workers' Redis
# connections are closed.

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

my $conf = <<'EOF';
    redis_server main 127.0.0.1:%%PORT_redis%% timeout=3s connections=2;

    limit_redis_zone $arg_k zone=z rate=RATE redis=main;
    limit_redis_zone $arg_k zone=d rate=1r/s redis=main;

    server {
        listen 127.0.0.1:%%PORT_main%% reuseport;
        root %%PREFIX%%/html;
        add_header X-LR $limit_redis_status always;

        location /z { limit_redis zone=z burst=1 nodelay; try_files /ok.txt =404; }
        location /d { limit_redis zone=d burst=5; try_files /ok.txt =404; }
    }
EOF

sub conf_rate { (my $c = $conf) =~ s/RATE/$_[0]/; return $c }

$t->start(conf_rate('1r/m'));

# nginx's connections to Redis (ours are short-lived and excluded)
sub nginx_clients {
    my $list = $t->redis_command($redis, 'CLIENT', 'LIST');
    return scalar grep { !/cmd=client/ } split /\n/, $list;
}

# runs a request in a child; returns a sub that waits for its result
sub in_background {
    my ($uri) = @_;
    pipe(my $rd, my $wr) or die "pipe: $!";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        close $rd;
        my $r = $t->get($uri, 'X-Wait' => 1);
        printf {$wr} "%s %s %.3f", $r->{status} // 'none',
            $r->{headers}{'x-lr'} // '-', $r->{time} // -1;
        close $wr;
        POSIX::_exit(0);
    }
    close $wr;
    return sub {
        my $line = do { local $/; <$rd> } // '';
        waitpid($pid, 0);
        return $line;
    };
}

sub wait_clients {
    my ($want) = @_;
    my $n;
    for (1 .. 60) {
        $n = nginx_clients();
        return $n if $n == $want;
        sleep 0.05;
    }
    return $n;
}

# warm up both workers
my @r = map { $t->get_lr('/z?k=warm' . $_) } 1 .. 10;
is(wait_clients(4), 4, 'connections=2 x 2 workers: 4 connections to Redis');

# use up key a
@r = map { $t->get_lr('/z?k=a') } 1 .. 3;
is_deeply([map { $_->{status} } @r], [200, 200, 429], 'before reload: 200 200 429');

# --- plain reload ----------------------------------------------------------------------

my @old = $t->worker_pids;
my $st = time;
ok($t->reload, 'reload (HUP) with Redis connected');
ok(time - $st < 5, sprintf('... done in %.2f s', time - $st));
my @new = $t->worker_pids;
ok(!(grep { my $o = $_; grep { $_ == $o } @new } @old), 'all workers new');
is($t->get_lr('/z?k=a')->{status}, 429, 'the Redis state survives the reload (key a still limited)');
$t->get_lr('/z?k=warm2' . $_) for 1 .. 10;
is(wait_clients(4), 4, 'the old workers\' connections are gone: 4 connections again');

# --- reload with a delayed request in flight ------------------------------------------------

is($t->get_lr('/d?k=x')->{lr}, 'PASSED', '/d: first PASSED');
my $bg = in_background('/d?k=x');
sleep 0.3;
ok($t->reload, 'reload while a request is delayed');
my $res = $bg->();
like($res, qr/^200 DELAYED /, "the delayed request completes across the reload ($res)");

# --- reload with a request waiting on a paused Redis ------------------------------------------

is($t->redis_command($redis, 'CLIENT', 'PAUSE', 1500), 'OK', 'Redis paused 1.5 s');
$bg = in_background('/z?k=p');
sleep 0.3;
$st = time;
ok($t->reload, 'reload while a request waits for Redis');
$res = $bg->();
like($res, qr/^200 PASSED /, "the waiting request gets its verdict after the pause ($res)");
ok(time - $st < 5, sprintf('reload finished, the old workers left (%.2f s)', time - $st));

# --- reload with a changed rate ------------------------------------------------------------------

ok($t->reload(conf_rate('1r/s')), 'reload: rate 1r/m -> 1r/s');
@r = map { $t->get_lr('/z?k=fresh') } 1 .. 3;
is_deeply([map { $_->{status} } @r], [200, 200, 429], 'new rate in effect (200 200 429)');
like($r[0]{headers}{'ratelimit-policy'}, qr/^"z";q=2;w=2$/, 'policy of the new rate: q=2;w=2');

# --- graceful quit with Redis connected ------------------------------------------------------------

$st = time;
ok($t->stop, 'graceful quit with Redis connected');
ok(time - $st < 3, sprintf('... quick (%.2f s)', time - $st));
is(wait_clients(0), 0, 'no nginx connection left in Redis');

# --- graceful quit with a request waiting on a paused Redis --------------------------------------

$t->start(conf_rate('1r/m'));
$t->get_lr('/z?k=warm3' . $_) for 1 .. 6;
is($t->redis_command($redis, 'CLIENT', 'PAUSE', 1000), 'OK', 'Redis paused 1 s');
$bg = in_background('/z?k=q');
sleep 0.2;
$st = time;
ok($t->stop, 'graceful quit while a request waits for Redis');
my $took = time - $st;
$res = $bg->();
like($res, qr/^200 PASSED /, "the waiting request was answered ($res)");
ok($took < 4, sprintf('quit done in %.2f s (within the 3 s command timeout + margin)', $took));

# --- reload and quit with Redis down ---------------------------------------------------------------

$t->start(conf_rate('1r/m'));
$t->get_lr('/z?k=warm4' . $_) for 1 .. 6;
$t->stop_redis;
@r = map { $t->get_lr('/z?k=down') } 1 .. 4;
is(join(',', map { $_->{lr} } @r), 'ERROR,ERROR,ERROR,ERROR', 'Redis down: ERROR');
ok($t->reload, 'reload with Redis down');
is($t->get_lr('/z?k=down')->{lr}, 'ERROR', 'after reload: ERROR');
$st = time;
ok($t->stop, 'graceful quit with Redis down (reconnect timers pending)');
ok(time - $st < 3, sprintf('... quick (%.2f s)', time - $st));

done_testing;
