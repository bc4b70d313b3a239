#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# $limit_redis_status in the access log: PASSED, DELAYED, REJECTED, ERROR
# (fail open and closed), LOCAL_PASSED, LOCAL_DELAYED, LOCAL_REJECTED,
# LOCAL_REJECTED_DRY_RUN, and "-" for requests that are not limited
# (no limit_redis, empty key).

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
    redis_server main 127.0.0.1:%%PORT_redis%% timeout=100ms;

    limit_redis_zone $arg_k zone=z  rate=1r/s redis=main;
    limit_redis_zone $arg_k zone=zm rate=1r/m redis=main;

    log_format lr '$request_uri $status $limit_redis_status';

    server {
        listen 127.0.0.1:%%PORT_main%% reuseport;
        root %%PREFIX%%/html;
        access_log %%PREFIX%%/lr.log lr;

        location /open   { limit_redis zone=z burst=1; try_files /ok.txt =404; }
        location /closed { limit_redis zone=z; limit_redis_fail closed;
                           try_files /ok.txt =404; }
        location /local  { limit_redis zone=z burst=1; limit_redis_fail local;
                           try_files /ok.txt =404; }
        location /ldry   { limit_redis zone=zm; limit_redis_fail local;
                           limit_redis_dry_run on; try_files /ok.txt =404; }
        location /plain  { try_files /ok.txt =404; }
    }
EOF

# each request gets a unique tag in its URI so its log line can be found
my $seq = 0;

sub req {
    my ($path, $key) = @_;
    my $uri = "$path?k=$key&n=" . ++$seq;
    my $r = $t->get($uri);
    $r->{uri} = $uri;
    return $r;
}

sub logged {
    my ($r) = @_;
    my $re = qr/^\Q$r->{uri}\E (\d+) (\S+)$/m;
    $t->wait_for_log($re, 2, 'lr.log');
    return $t->read_file('lr.log') =~ $re ? "$1 $2" : 'not logged';
}

# --- Redis up ----------------------------------------------------------------

my $r = req('/open', 'a');
is(logged($r), '200 PASSED', 'PASSED');

# the second is delayed ~1 s; a third sent meanwhile is rejected
my $pid = fork // die "fork: $!";
if ($pid == 0) {
    $seq = 1000;
    my $x = req('/open', 'a');
    POSIX::_exit(0);
}
sleep 0.3;
my $rej = req('/open', 'a');
waitpid($pid, 0);
is(logged({ uri => '/open?k=a&n=1001' }), '200 DELAYED', 'DELAYED');
is(logged($rej), '429 REJECTED', 'REJECTED');

is(logged(req('/plain', 'a')), '200 -', 'no limit_redis: "-"');
is(logged(req('/open', '')), '200 -', 'empty key: "-"');

# --- Redis down ------------------------------------------------------------------

$t->stop_redis;

$r = req('/open', 'b');
is(logged($r), '200 ERROR', 'fail open: 200 ERROR');
ok($r->{time} < 1, sprintf('... in %.3f s', $r->{time}));

$r = req('/closed', 'b');
is(logged($r), '429 ERROR', 'fail closed: 429 ERROR');

my @l = map { req('/local', 'c') } 1 .. 3;
is(logged($l[0]), '200 LOCAL_PASSED', 'LOCAL_PASSED');
is(logged($l[1]), '200 LOCAL_DELAYED', 'LOCAL_DELAYED');
ok($l[1]{time} >= 0.8, sprintf('... delayed (%.3f s)', $l[1]{time}));

# LOCAL_REJECTED: two requests at once on a fresh key of 1r/s burst=1
# (the second delayed ~1 s, the third rejected)
$pid = fork // die "fork: $!";
if ($pid == 0) {
    $seq = 2000;
    req('/local', 'd') for 1 .. 2;
    POSIX::_exit(0);
}
sleep 0.4;
$r = req('/local', 'd');
waitpid($pid, 0);
is(logged($r), '429 LOCAL_REJECTED', 'LOCAL_REJECTED');

@l = map { req('/ldry', 'e') } 1 .. 2;
is(logged($l[0]), '200 LOCAL_PASSED', 'local dry run: LOCAL_PASSED');
is(logged($l[1]), '200 LOCAL_REJECTED_DRY_RUN', 'LOCAL_REJECTED_DRY_RUN');

is(logged(req('/plain', 'x')), '200 -', 'Redis down, no limit_redis: "-"');
is(logged(req('/local', '')), '200 -', 'Redis down, empty key: "-"');

done_testing;
