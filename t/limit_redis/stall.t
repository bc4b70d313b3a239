#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# A Redis that stops answering (CLIENT PAUSE) costs one timeout, not one
# per request: under paced load, the first command that times out makes
# the client stop sending to that connection; every later request fails
# per its fail mode at once, without waiting for timeout=, until Redis
# answers the PING the client sent behind the stuck commands; then the
# requests are limited by Redis again, at once, without a reconnect.  The
# client logs the stall once and the recovery once.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Test::More;
use Time::HiRes qw(time sleep);
use Meshgate::Test;

my $t = Meshgate::Test->new(workers => 1);
$t->need_module_or_skip;
$t->need('redis-server');

my $redis = $t->start_redis;
$t->write_file('html/ok.txt', "OK\n");

# timeout=300ms: a connection that has not answered for 10 timeouts (3 s)
# is dropped; the pause (2 s) ends before that
$t->start(<<'EOF');
    redis_server main 127.0.0.1:%%PORT_redis%% timeout=300ms;

    limit_redis_zone $arg_k zone=zo rate=1r/m redis=main;
    limit_redis_zone $arg_k zone=zc rate=1r/m redis=main;

    server {
        listen 127.0.0.1:%%PORT_main%%;
        root %%PREFIX%%/html;
        add_header X-LR $limit_redis_status always;

        location /open   { limit_redis zone=zo; try_files /ok.txt =404; }
        location /closed { limit_redis zone=zc; limit_redis_fail closed;
                           try_files /ok.txt =404; }
    }
EOF

my $pace = 0.025;          # a request every 25 ms
my $pause = 2.0;           # CLIENT PAUSE 2000
my $slow = 0.15;           # half the timeout: a request that waited for Redis

my $n = 0;

# warm up: the worker's connection is up and answers
my $warm = 0;
for (1 .. 40) {
    last if $t->get_lr('/open?k=warm' . ++$n)->{lr} eq 'PASSED' && ++$warm >= 3;
    sleep 0.05;
}
is($warm, 3, 'Redis answers: PASSED');

my $from = length $t->error_log;

# the paced loop: 0.5 s before the pause, the pause, 1.5 s after it;
# requests alternate between fail open and fail closed, each with a new key
my (@r, $paused);
my $start = time;
for (my $i = 0; ; $i++) {
    my $at = $start + $i * $pace;
    last if defined $paused && $at > $paused + $pause + 1.5;
    my $wait = $at - time;
    sleep $wait if $wait > 0;

    if (!defined $paused && time - $start >= 0.5) {
        is($t->redis_command($redis, 'CLIENT', 'PAUSE', $pause * 1000, 'ALL'),
           'OK', "CLIENT PAUSE @{[ $pause * 1000 ]} ALL");
        $paused = time;
    }

    my $where = $i % 2 ? 'closed' : 'open';
    my $sent = time;
    my $r = $t->get_lr("/$where?k=p" . ++$n);
    push @r, { %$r, where => $where,
               at => defined $paused ? $sent - $paused : $sent - $start - 1e6 };
}

my @before = grep { $_->{at} < 0 } @r;
my @during = grep { $_->{at} >= 0 && $_->{at} < $pause - 0.1 } @r;
my @after = grep { $_->{at} >= $pause + 0.5 } @r;

note(sprintf '%d requests before the pause, %d during, %d after it',
             scalar @before, scalar @during, scalar @after);

sub verdict { "$_[0]{status} $_[0]{lr}" }

ok(@before >= 5 && !(grep { $_->{lr} ne 'PASSED' } @before),
   'before the pause: PASSED');

# during the pause: the fail mode, every time
my @wrong = grep {
    verdict($_) ne ($_->{where} eq 'open' ? '200 ERROR' : '429 ERROR')
} @during;
ok(@during >= 30 && !@wrong,
   'during the pause: fail open 200 ERROR, fail closed 429 ERROR ('
   . @during . ' requests)')
    or diag(join ', ', map { sprintf '%.2f %s %s', $_->{at}, $_->{where}, verdict($_) } @wrong);

# the first request of the pause waits for the timeout; after it, none
my @slow = grep { $_->{time} >= $slow } @during;
my @late = @during[1 .. $#during];
my @lat = sort { $a <=> $b } map { $_->{time} } @late;
my $median = $lat[int(@lat / 2)] // 1;
my $max = $lat[-1] // 1;

ok($during[0]{time} >= 0.25,
   sprintf('the first request of the pause waited for the timeout (%.3f s)',
           $during[0]{time}));
ok(@slow <= 2,
   sprintf('no request after it waited for Redis: %d of %d took %d ms or more',
           scalar @slow, scalar @during, $slow * 1000))
    or diag(join ', ', map { sprintf '%.2f: %.3f s', $_->{at}, $_->{time} } @slow);
ok($median < 0.05,
   sprintf('... median %.1f ms, max %.1f ms after the first', $median * 1000,
           $max * 1000));

# after the pause: Redis answers the PING, requests are limited by it again
ok(@after >= 20 && !(grep { $_->{lr} ne 'PASSED' } @after),
   'from 0.5 s after the pause on: PASSED (' . @after . ' requests)')
    or diag(join ', ', map { sprintf '%.2f %s', $_->{at}, verdict($_) }
                       grep { $_->{lr} ne 'PASSED' } @after);
my ($back) = grep { $_->{at} >= $pause && $_->{lr} eq 'PASSED' } @r;
ok(defined $back && $back->{at} < $pause + 0.5,
   sprintf('the first PASSED %.3f s after the pause ended',
           defined $back ? $back->{at} - $pause : -1));

my $log = substr($t->error_log, $from);
my @stall = $log =~ /^(.*redis unavailable.*)$/mg;
is(scalar @stall, 1, 'the client logs the stall once') or diag(join "\n", @stall);
like($stall[0] // '', qr/\[error\] .*redis unavailable \(no reply in 300 ms\), failing commands at once until it answers a PING.*redis server: "main"/,
     '... saying what it does');
my @back = $log =~ /^(.*redis is back.*)$/mg;
is(scalar @back, 1, 'and the recovery once');
unlike($log, qr/has not answered|reconnecting/,
       'the connection was not dropped: the PING was answered');
like($log, qr/limit_redis: zone "zo": redis server "main" unavailable \(timed out\), failing open/,
     'limit_redis logs the episode with the reason of its first failure');

done_testing;
