#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# limit_redis with Redis stopped: fail open (200, ERROR), closed
# (limit_redis_status, ERROR), local (per-instance limiting in shared memory:
# LOCAL_PASSED, then LOCAL_REJECTED, across both workers; the local state
# starts empty and is separate from Redis's); no request waits longer than
# timeout + a margin; each failure episode is logged once per zone and
# worker, naming the zone, the server, the reason and the fail mode.

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
    redis_server main 127.0.0.1:%%PORT_redis%% timeout=100ms connect_timeout=100ms;

    limit_redis_zone $arg_k zone=zo  rate=1r/m redis=main;
    limit_redis_zone $arg_k zone=zc  rate=1r/m redis=main;
    limit_redis_zone $arg_k zone=zc5 rate=1r/m redis=main;
    limit_redis_zone $arg_k zone=zl  rate=1r/m redis=main;
    limit_redis_zone $arg_k zone=zd  rate=1r/m redis=main;

    server {
        listen 127.0.0.1:%%PORT_main%% reuseport;
        root %%PREFIX%%/html;
        add_header X-LR $limit_redis_status always;

        location /open {
            limit_redis zone=zo burst=1 nodelay;
            try_files /ok.txt =404;
        }
        location /closed {
            limit_redis zone=zc burst=1 nodelay;
            limit_redis_fail closed;
            try_files /ok.txt =404;
        }
        location /closed503 {
            limit_redis zone=zc5;
            limit_redis_fail closed;
            limit_redis_status 503;
            try_files /ok.txt =404;
        }
        location /closeddry {
            limit_redis zone=zd;
            limit_redis_fail closed;
            limit_redis_dry_run on;
            try_files /ok.txt =404;
        }
        location /local {
            limit_redis zone=zl burst=1 nodelay;
            limit_redis_fail local;
            try_files /ok.txt =404;
        }
    }
EOF

my $max_time = 0;

sub rget {
    my ($uri) = @_;
    my $r = $t->get_lr($uri);
    $max_time = $r->{time} if ($r->{time} // 0) > $max_time;
    return $r;
}

sub summary {
    my %s;
    $s{"$_->{status} $_->{lr}"}++ for @_;
    return join ', ', map { "$_ x$s{$_}" } sort keys %s;
}

# --- Redis up: use up key x in Redis for the local location -------------------

my @r = map { rget('/local?k=x') } 1 .. 3;
is(summary(@r), '200 PASSED x2, 429 REJECTED x1', 'Redis up: key x used up in Redis');
is(rget('/open?k=o')->{lr}, 'PASSED', 'Redis up: /open PASSED');

# --- Redis stopped ---------------------------------------------------------------

$t->stop_redis;
my $from = length $t->error_log;

@r = map { rget('/open?k=o') } 1 .. 30;
is(summary(@r), '200 ERROR x30', 'fail open: 30 x 200 ERROR (no limiting)');
ok(!(grep { exists $_->{headers}{ratelimit} || exists $_->{headers}{'ratelimit-policy'} } @r),
   'fail open: no RateLimit headers on ERROR');

@r = map { rget('/closed?k=c') } 1 .. 20;
is(summary(@r), '429 ERROR x20', 'fail closed: 20 x 429 ERROR');
ok(!(grep { exists $_->{headers}{ratelimit} || exists $_->{headers}{'retry-after'} } @r),
   'fail closed: no RateLimit / Retry-After headers on ERROR');

@r = map { rget('/closed503?k=c') } 1 .. 5;
is(summary(@r), '503 ERROR x5', 'fail closed with limit_redis_status 503: 503 ERROR');

@r = map { rget('/closeddry?k=c') } 1 .. 5;
is(summary(@r), '200 ERROR x5', 'fail closed in a dry run lets the request go on');

# local: the local state starts empty (key x was rejected in Redis); two pass
# (burst=1), then every request is rejected, whichever worker answers
@r = map { rget('/local?k=x') } 1 .. 20;
is_deeply([map { $_->{lr} } @r[0, 1]], [qw(LOCAL_PASSED LOCAL_PASSED)],
          'fail local: the first two LOCAL_PASSED (local state separate from Redis)');
is(summary(@r[2 .. 19]), '429 LOCAL_REJECTED x18',
   'fail local: then 18 x 429 LOCAL_REJECTED (shared by both workers)');
is($r[0]{headers}{'ratelimit'}, '"zl";r=1;t=60', 'local verdict has RateLimit headers');
is($r[2]{headers}{'retry-after'}, '60', 'local rejection has Retry-After 60');
is(summary(map { rget('/local?k=y') } 1 .. 3),
   '200 LOCAL_PASSED x2, 429 LOCAL_REJECTED x1', 'fail local: per key');

ok($max_time < 1, sprintf('no request took 1 s or more (max %.3f s)', $max_time));

# --- the episode is logged once per zone and worker ------------------------------

my $log = substr($t->error_log, $from);
my $n = 0;
for my $z (['zo', 'open'], ['zc', 'closed'], ['zl', 'local']) {
    my ($zone, $mode) = @$z;
    my @lines = $log =~ /^(.*limit_redis: zone "\Q$zone\E": redis server "main" unavailable.*)$/mg;
    ok(@lines >= 1 && @lines <= 2,
       "zone $zone: episode logged once per worker (" . scalar(@lines) . ' lines, 2 workers)')
        or diag(join "\n", @lines);
    like($lines[0] // '',
         qr/\[error\] .*limit_redis: zone "\Q$zone\E": redis server "main" unavailable \((?:down|connection failed|timed out|command not sent)\), failing \Q$mode\E/,
         "zone $zone: message names zone, server, reason, mode $mode");
}

my @client = $log =~ /^(.*redis unavailable.*)$/mg;
ok(@client <= 2, 'the Redis client logs the outage at most once per worker ('
   . scalar(@client) . ')') or diag(join "\n", @client);
like($client[0] // '', qr/redis server: "main" \(127\.0\.0\.1:$redis\)/,
     'the client\'s message names the server') if @client;

done_testing;
