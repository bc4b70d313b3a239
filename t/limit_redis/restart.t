#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# limit_redis and Redis restarts: nginx started while Redis is not running
# fails open; Redis started (and later restarted) on the same port is used
# again within ~1-2 s without reloading nginx, in every worker; each
# episode's start and end are logged; limits are enforced again.

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

my $redis = $t->port('redis');      # reserved, not started yet
$t->write_file('html/ok.txt', "OK\n");

$t->start(<<'EOF');
    redis_server main 127.0.0.1:%%PORT_redis%% timeout=100ms connect_timeout=100ms;

    limit_redis_zone $arg_k zone=z rate=1r/m redis=main;

    server {
        listen 127.0.0.1:%%PORT_main%% reuseport;
        root %%PREFIX%%/html;
        add_header X-LR $limit_redis_status always;
        add_header X-Pid $pid always;

        location / {
            limit_redis zone=z;
            try_files /ok.txt =404;
        }
    }
EOF

my @workers = $t->worker_pids;
my $master = $t->master_pid;
is(scalar @workers, 2, 'two workers');

# --- Redis not running at start-up --------------------------------------------------

my @r = map { $t->get_lr("/?k=s$_") } 1 .. 10;
is(join(',', map { "$_->{status} $_->{lr}" } @r[0 .. 2]),
   '200 ERROR,200 ERROR,200 ERROR', 'Redis never started: 200 ERROR (fail open)');
ok(!(grep { $_->{lr} ne 'ERROR' } @r), 'all 10 ERROR');
ok(!(grep { $_->{time} >= 1 } @r), 'each answered within 1 s');

# waits until every one of $n requests in a row (new keys) gets a verdict from
# Redis; returns the seconds it took, or undef after $limit seconds
my $kseq = 0;
sub until_recovered {
    my ($limit, $n) = @_;
    my $start = time;
    my $ok = 0;
    my %pids;
    while (time - $start < $limit) {
        my $r = $t->get_lr('/?k=r' . ++$kseq);
        if ($r->{lr} eq 'PASSED') {
            $ok++;
            $pids{$r->{headers}{'x-pid'} // ''} = 1;
            return (time - $start, scalar keys %pids) if $ok >= $n;
        } else {
            $ok = 0;
            %pids = ();
            sleep 0.05;
        }
    }
    return (undef, 0);
}

sub episode {
    my ($redis_port, $what) = @_;

    my $from = length $t->error_log;
    $t->start_redis;            # returns once Redis answers PING
    my ($took, $npids) = until_recovered(4, 20);
    ok(defined $took, "$what: limiting resumes") or return;
    # the design's bar: reconnects within 1 s of Redis coming back
    ok($took < 1.5, sprintf('%s: every worker back within 1 s + margin (%.2f s)',
                            $what, $took));
    is($npids, 2, "$what: both workers answered among 20 good requests in a row");

    my $k = 'after' . ++$kseq;
    my @r = map { $t->get_lr("/?k=$k") } 1 .. 2;
    is_deeply([map { $_->{status} } @r], [200, 429], "$what: 1r/m enforced again: 200 429");

    my $log = substr($t->error_log, $from);
    my @again = $log =~ /limit_redis: zone "z": redis server "main" answers again/g;
    ok(@again >= 1 && @again <= 2,
       "$what: \"answers again\" logged once per worker that had failed ("
       . scalar(@again) . ')');
}

# --- Redis comes up -----------------------------------------------------------------

episode($redis, 'first start');

# --- Redis stopped and started again on the same port -------------------------------

$t->stop_redis;
my $from = length $t->error_log;
@r = map { $t->get_lr("/?k=d$_") } 1 .. 10;
ok(!(grep { $_->{lr} ne 'ERROR' } @r), 'Redis stopped: 10 x ERROR');
ok(!(grep { $_->{time} >= 1 } @r), '... each within 1 s');
my @down = substr($t->error_log, $from)
    =~ /limit_redis: zone "z": redis server "main" unavailable/g;
ok(@down >= 1 && @down <= 2, 'the new episode is logged again, once per worker ('
   . scalar(@down) . ')');

sleep 3;       # let the reconnect backoff grow to its cap (1 s)
episode($redis, 'restart');

# a second restart, quickly
$t->stop_redis;
$t->get_lr("/?k=e$_") for 1 .. 4;
episode($redis, 'second restart');

is($t->master_pid, $master, 'same master (no reload)');
is_deeply([$t->worker_pids], [@workers], 'same workers (no reload, no crash)');

done_testing;
