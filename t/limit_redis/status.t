#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# limit_redis_status, limit_redis_dry_run, limit_redis_log_level, and
# what a rejected request looks like behind error_page (headers survive; the
# request is not counted again in the error_page location).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use POSIX ();
use Test::More;
use Time::HiRes qw(time);
use Meshgate::Test;

my $t = Meshgate::Test->new(workers => 2);
$t->need_module_or_skip;
$t->need('redis-server');

my $redis = $t->start_redis;
$t->write_file('html/ok.txt', "OK\n");
$t->write_file('html/limited.txt', "slow down\n");

$t->start(<<'EOF');
    redis_server main 127.0.0.1:%%PORT_redis%% timeout=1s;

    limit_redis_zone $arg_k zone=st   rate=1r/m redis=main;
    limit_redis_zone $arg_k zone=dry  rate=1r/m redis=main;
    limit_redis_zone $arg_k zone=dryd rate=1r/s redis=main;
    limit_redis_zone $arg_k zone=ep   rate=1r/m redis=main;
    limit_redis_zone $arg_k zone=epz  rate=1r/m redis=main;
    limit_redis_zone $arg_k zone=lvl  rate=1r/s redis=main;
    limit_redis_zone $arg_k zone=inf  rate=1r/s redis=main;

    server {
        listen 127.0.0.1:%%PORT_main%% reuseport;
        root %%PREFIX%%/html;
        add_header X-LR $limit_redis_status always;

        limit_redis_status 503;

        location /s503 {
            limit_redis zone=st;
            try_files /ok.txt =404;
        }

        location /s599 {
            limit_redis zone=st;
            limit_redis_status 599;
            try_files /ok.txt =404;
        }

        location /dry {
            limit_redis zone=dry burst=1 nodelay;
            limit_redis_dry_run on;
            try_files /ok.txt =404;
        }

        location /dryd {
            limit_redis zone=dryd burst=2;
            limit_redis_dry_run on;
            try_files /ok.txt =404;
        }

        location /ep {
            limit_redis zone=ep;
            limit_redis_status 429;
            error_page 429 /err/limited;
            try_files /ok.txt =404;
        }

        location /err/ {
            limit_redis zone=epz;
            alias %%PREFIX%%/html/;
            try_files /limited.txt =404;
        }

        location /lvl {
            limit_redis zone=lvl burst=1;
            limit_redis_log_level warn;
            try_files /ok.txt =404;
        }

        location /inf {
            limit_redis zone=inf burst=1;
            limit_redis_log_level info;
            try_files /ok.txt =404;
        }
    }
EOF

sub new_log {
    my ($from) = @_;
    return substr($t->error_log, $from);
}

# --- limit_redis_status ------------------------------------------------------------

my @r = map { $t->get_lr('/s503?k=a') } 1 .. 2;
is($r[0]{status}, 200, 'first 200');
is($r[1]{status}, 503, 'limit_redis_status 503 (server level): rejected with 503');
is($r[1]{lr}, 'REJECTED', '... REJECTED');
is($r[1]{headers}{'retry-after'}, '60', '... with Retry-After');
is($r[1]{headers}{'ratelimit'}, '"st";r=0;t=60', '... and RateLimit');

my $r = $t->get_lr('/s599?k=a');
is($r->{status}, 599, 'limit_redis_status 599 (location level)');

# --- dry run: nodelay ---------------------------------------------------------------

my $from = length $t->error_log;
@r = map { $t->get_lr('/dry?k=d') } 1 .. 4;
is_deeply([map { $_->{status} } @r], [200, 200, 200, 200], 'dry run: never rejected');
is_deeply([map { $_->{lr} } @r],
          [qw(PASSED PASSED REJECTED_DRY_RUN REJECTED_DRY_RUN)],
          'dry run: PASSED PASSED REJECTED_DRY_RUN REJECTED_DRY_RUN');
for my $i (0 .. 3) {
    ok(!exists $r[$i]{headers}{$_},
       'dry run: no ' . $_ . ' on response ' . ($i + 1))
        for qw(ratelimit ratelimit-policy retry-after);
}
my $dtat = $t->lr_state($redis, 'dry:d');
ok(defined $dtat, 'dry run: requests are counted in Redis');
my $tm = $t->redis_command($redis, 'TIME');
my $ahead = $dtat - ($tm->[0] * 1e6 + $tm->[1]);
ok($ahead > 110e6 && $ahead <= 120e6,
   'dry run: two accepted requests counted (tat = 2T ahead), the would-be '
   . 'rejected ones not') or diag("tat ahead by $ahead us");
$t->get_lr('/dry?k=d');
is($t->lr_state($redis, 'dry:d'), $dtat, 'dry run: a would-be rejection charges nothing');
like(new_log($from),
     qr/limit_redis: limiting requests by zone "dry", dry run, retry in \d+ms/,
     'dry run rejection logged with ", dry run"');

# --- dry run: would-be delays -------------------------------------------------------

$from = length $t->error_log;
@r = map { $t->get_lr('/dryd?k=d') } 1 .. 4;
is_deeply([map { $_->{lr} } @r],
          [qw(PASSED DELAYED_DRY_RUN DELAYED_DRY_RUN REJECTED_DRY_RUN)],
          'dry run 1r/s burst=2: PASSED DELAYED_DRY_RUN x2 REJECTED_DRY_RUN');
ok($r[$_]{time} < 0.5,
   sprintf('dry run: request %d not delayed (%.3f s)', $_ + 1, $r[$_]{time}))
    for 1 .. 2;
like(new_log($from),
     qr/limit_redis: delaying request by zone "dryd", dry run, for \d+ms/,
     'dry run delay logged with ", dry run"');

# --- error_page: headers survive, no second count -----------------------------------

@r = map { $t->get_lr('/ep?k=e') } 1 .. 2;
is($r[0]{status}, 200, 'error_page location: first 200');
is($r[1]{status}, 429, 'rejected: status 429 kept through error_page');
is($r[1]{body}, "slow down\n", 'body from the error_page target');
is($r[1]{headers}{'retry-after'}, '60', 'Retry-After survives error_page');
is($r[1]{headers}{'ratelimit'}, '"ep";r=0;t=60', 'RateLimit survives error_page');
is($r[1]{headers}{'ratelimit-policy'}, '"ep";q=1;w=60',
   'RateLimit-Policy survives error_page');
is($r[1]{lr}, 'REJECTED', 'verdict kept across the internal redirect');
ok(!defined $t->lr_state($redis, 'epz:e'),
   'the error_page location\'s own zone did not count the redirected request');

# --- limit_redis_log_level --------------------------------------------------------------

# the second request waits ~1 s; the third, sent meanwhile, is rejected
sub three {
    my ($uri) = @_;
    my $first = $t->get_lr($uri);
    pipe(my $rd, my $wr) or die "pipe: $!";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        close $rd;
        my $x = $t->get($uri);
        print {$wr} $x->{headers}{'x-lr'} // '-';
        close $wr;
        POSIX::_exit(0);
    }
    close $wr;
    Time::HiRes::sleep(0.3);
    my $third = $t->get_lr($uri);
    my $second = do { local $/; <$rd> } // '';
    waitpid($pid, 0);
    return ($first, { lr => $second }, $third);
}

$from = length $t->error_log;
@r = three('/lvl?k=l');
is_deeply([map { $_->{lr} } @r], [qw(PASSED DELAYED REJECTED)],
          'log level test: PASSED DELAYED REJECTED');
my $log = new_log($from);
like($log, qr/\[warn\] .*limit_redis: limiting requests by zone "lvl", retry in \d+ms/,
     'log_level warn: rejection at warn');
like($log, qr/\[notice\] .*limit_redis: delaying request by zone "lvl", for \d+ms/,
     'log_level warn: delay one lower, at notice');

$from = length $t->error_log;
@r = three('/inf?k=l');
is_deeply([map { $_->{lr} } @r], [qw(PASSED DELAYED REJECTED)],
          'log level info: PASSED DELAYED REJECTED');
$log = new_log($from);
like($log, qr/\[info\] .*limit_redis: limiting requests by zone "inf"/,
     'log_level info: rejection at info');
like($log, qr/\[info\] .*limit_redis: delaying request by zone "inf"/,
     'log_level info: delay stays at info');

# the default level: error / warn (seen above in other locations)
like($t->error_log, qr/\[error\] .*limit_redis: limiting requests by zone "st", retry in \d+ms/,
     'default: rejection at error');

done_testing;
