#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# limit_redis batches: the requests that reach the limiter during one pass
# of a worker's event loop go to Redis as one script call, and each keeps
# the verdict it would have had alone.  To put many requests into one pass,
# the test opens the connections first, stops the worker (SIGSTOP), writes
# all requests, and lets it go on (SIGCONT): the worker then reads them all
# in one pass.  Checked: exact acceptance counts for one key and for two
# interleaved keys, all zones of a request charged only when every one
# accepts, dry run per request, a key of the wrong type failing only its own
# requests, fewer EVALSHA than requests, clients that leave while their
# batch waits for Redis (the run under ASan matters), and the fail mode of
# each request when the batch cannot be sent.

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
    redis_server main 127.0.0.1:%%PORT_redis%% timeout=2s;

    limit_redis_zone $arg_k zone=one rate=1r/m redis=main;
    limit_redis_zone $arg_k zone=wide rate=1r/m redis=main;
    limit_redis_zone $arg_j zone=narrow rate=1r/m redis=main;

    server {
        listen 127.0.0.1:%%PORT_main%%;
        root %%PREFIX%%/html;
        add_header X-LR $limit_redis_status always;

        location /one { limit_redis zone=one burst=9 nodelay; try_files /ok.txt =404; }
        location /hdr {
            limit_redis zone=one burst=9 nodelay;
            limit_redis_headers on;
            try_files /ok.txt =404;
        }
        location /dry {
            limit_redis zone=one burst=9 nodelay;
            limit_redis_dry_run on;
            try_files /ok.txt =404;
        }
        location /two {
            limit_redis zone=wide burst=9 nodelay;
            limit_redis zone=narrow burst=4 nodelay;
            try_files /ok.txt =404;
        }
        location /closed {
            limit_redis zone=one burst=9 nodelay;
            limit_redis_fail closed;
            try_files /ok.txt =404;
        }
    }
EOF

sub cmdstats {
    my $info = $t->redis_command($redis, 'INFO', 'commandstats');
    my %c;
    while ($info =~ /^cmdstat_(\S+?):calls=(\d+)/mg) {
        $c{$1} = $2;
    }
    return \%c;
}

sub redis_now_us {
    my $tm = $t->redis_command($redis, 'TIME');
    return $tm->[0] * 1000000 + $tm->[1];
}

# burst(\@uris, close => N): the requests in one pass of the worker; the
# first N clients close their connection right after sending.  Returns the
# "status X-LR" of each request, in order ("none -" for closed ones).
sub burst {
    my ($uris, %opt) = @_;
    my $close = $opt{close} // 0;
    my @s;
    for (@$uris) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port('main'),
                                      Proto => 'tcp', Timeout => 8) or die "connect: $!";
        push @s, $s;
    }
    # the worker accepts them all, one per pass, before it is stopped
    sleep(0.3);
    my ($pid) = $t->worker_pids;
    kill 'STOP', $pid;
    for my $i (0 .. $#s) {
        syswrite($s[$i], "GET $uris->[$i] HTTP/1.0\r\nHost: x\r\n\r\n");
    }
    $opt{stopped}->() if $opt{stopped};
    close $s[$_] for 0 .. $close - 1;
    kill 'CONT', $pid;
    my @res;
    for my $i (0 .. $#s) {
        if ($i < $close) {
            push @res, 'none -';
            next;
        }
        local $/;
        my $s = $s[$i];
        my $resp = <$s> // '';
        my ($st) = $resp =~ m{^HTTP/1\.\d (\d{3})};
        my ($lr) = $resp =~ m{^X-LR: (\S+)}mi;
        my $r = ($st // 'none') . ' ' . ($lr // '-');
        if ($opt{headers}) {
            my ($rl) = $resp =~ m{^RateLimit: (.*?)\r$}mi;
            my ($ra) = $resp =~ m{^Retry-After: (.*?)\r$}mi;
            $r .= ' ' . ($rl // '-') . ' ' . ($ra // '-');
        }
        push @res, $r;
    }
    return @res;
}

sub summary {
    my %n;
    $n{$_}++ for @_;
    return join ', ', map { "$_ x$n{$_}" } sort keys %n;
}

# warm up: connected, script loaded
$t->get("/one?k=warm$_") for 1 .. 3;

# --- one key, 40 requests in one pass: exactly B + 1 = 10 accepted --------------------

# a client's requests in a row are evaluated in one step in Redis; each
# request still gets its own place in the run: its own remaining count
my @h = burst([map { '/hdr?k=headers' } 1 .. 16], headers => 1);
is_deeply([map { (split / /)[0 .. 1] } @h[0 .. 9]], [('200', 'PASSED') x 10],
          'headers: the first 10 of the run accepted');
is_deeply([map { /;r=(\d+)/ ? $1 : 'none' } @h[0 .. 9]], [reverse 0 .. 9],
          'headers: remaining 9, 8, ... 0 in request order')
    or diag(join "\n", @h);
is_deeply([map { /;t=(\d+)/ ? $1 : 'none' } @h[0 .. 9]], [map { $_ * 60 } 1 .. 10],
          'headers: t = 60, 120, ... 600 s (the tat moves by T per request)')
    or diag(join "\n", @h);
ok(!grep({ !/^429 REJECTED "one";r=0;t=600 60$/ } @h[10 .. 15]),
   'headers: the 6 others rejected with r=0, t=600, Retry-After 60')
    or diag(join "\n", @h);

$t->redis_command($redis, 'CONFIG', 'RESETSTAT');
my @r = burst([map { '/one?k=same' } 1 .. 40]);
is(summary(@r), '200 PASSED x10, 429 REJECTED x30',
   '40 requests of one key in one pass, burst=9 nodelay: exactly 10 accepted');
my $c = cmdstats();
note(join ', ', map { "$_=$c->{$_}" } sort keys %$c);
ok(($c->{evalsha} // 0) >= 1 && $c->{evalsha} < 40,
   "fewer EVALSHA than requests ($c->{evalsha} for 40)");
ok(($c->{get} // 0) <= $c->{evalsha} && ($c->{set} // 0) <= $c->{evalsha},
   'the key is read and written at most once per batch');
ok(!$c->{eval}, 'no EVAL');

# the tat moved by exactly 10 T (600 s) from the first request on
my $ahead = $t->redis_command($redis, 'GET', 'mg:lr:one:same') - redis_now_us();
ok($ahead > 600e6 - 5e6 && $ahead <= 600e6, 'the tat is 10 T ahead')
    or diag("tat - now = $ahead us");
my $pttl = $t->redis_command($redis, 'PTTL', 'mg:lr:one:same');
ok(abs($pttl - ($ahead / 1000 + 1000)) < 1000, 'PTTL = time to the tat + 1 s')
    or diag("pttl $pttl, tat - now $ahead us");

# --- two keys, interleaved -------------------------------------------------------------

$t->redis_command($redis, 'CONFIG', 'RESETSTAT');
@r = burst([map { '/one?k=' . ($_ % 2 ? 'odd' : 'even') } 1 .. 40]);
my @odd = @r[grep { $_ % 2 == 0 } 0 .. 39];
my @even = @r[grep { $_ % 2 == 1 } 0 .. 39];
is(summary(@odd), '200 PASSED x10, 429 REJECTED x10', 'interleaved keys: 10 of key 1 accepted');
is(summary(@even), '200 PASSED x10, 429 REJECTED x10', 'interleaved keys: 10 of key 2 accepted');
$c = cmdstats();
ok(($c->{evalsha} // 0) < 40, "fewer EVALSHA than requests ($c->{evalsha} for 40)");

# --- two zones: a request charges them only when both accept ---------------------------

@r = burst([map { '/two?k=w&j=n' } 1 .. 20]);
is(summary(@r), '200 PASSED x5, 429 REJECTED x15',
   'two zones (burst 9 and 4), 20 requests: 5 accepted');
$ahead = $t->redis_command($redis, 'GET', 'mg:lr:wide:w') - redis_now_us();
ok($ahead > 300e6 - 5e6 && $ahead <= 300e6,
   'the wider zone was charged by the 5 accepted requests only')
    or diag("tat - now = $ahead us");

# --- dry run per request -----------------------------------------------------------------

@r = burst([map { ($_ % 2 ? '/dry' : '/one') . '?k=mixed' } 1 .. 30]);
my @dry = @r[grep { $_ % 2 == 0 } 0 .. 29];
my @real = @r[grep { $_ % 2 == 1 } 0 .. 29];
my $passed = grep { /PASSED/ } @r;
is($passed, 10, 'dry run and not, one key: 10 accepted in all');
ok(!grep({ !/^200 (?:PASSED|REJECTED_DRY_RUN)$/ } @dry), 'dry run: 200 PASSED or 200 REJECTED_DRY_RUN')
    or diag(summary(@dry));
ok(!grep({ !/^(?:200 PASSED|429 REJECTED)$/ } @real), 'not dry run: 200 PASSED or 429 REJECTED')
    or diag(summary(@real));

# --- a key of the wrong type fails its own requests only ------------------------------------

$t->redis_command($redis, 'LPUSH', 'mg:lr:one:list', 'x');
@r = burst([map { $_ % 3 ? '/one?k=good' : '/one?k=list' } 1 .. 12]);
my @bad = @r[grep { ($_ + 1) % 3 == 0 } 0 .. 11];
my @good = @r[grep { ($_ + 1) % 3 } 0 .. 11];
is(summary(@bad), '200 ERROR x4', 'WRONGTYPE key: its requests fail open');
is(summary(@good), '200 PASSED x8', 'the other requests of the batch: PASSED');
like($t->error_log, qr/unavailable \(error reply "[^"]*WRONGTYPE[^"]*"\)/, 'logged: WRONGTYPE');
is($t->redis_command($redis, 'TYPE', 'mg:lr:one:list'), 'list', 'the list was left alone');

# --- clients that leave while their batch waits for Redis -----------------------------------

$t->redis_command($redis, 'CLIENT', 'PAUSE', 500);
@r = burst([map { '/one?k=gone' } 1 .. 20], close => 8);
ok(!grep({ !/^(?:200 PASSED|429 REJECTED)$/ } @r[8 .. 19]),
   '8 of 20 clients gone: the others get their verdicts')
    or diag(summary(@r));
# the requests of the clients that left reached Redis, as they would have
# without batches: all 20 were counted, 10 accepted
$ahead = $t->redis_command($redis, 'GET', 'mg:lr:one:gone') - redis_now_us();
ok($ahead > 600e6 - 5e6 && $ahead <= 600e6, 'the batch was evaluated whole: 10 T')
    or diag("tat - now = $ahead us");

# all of a batch's clients gone: the command is cancelled, its reply dropped
$t->redis_command($redis, 'CLIENT', 'PAUSE', 300);
@r = burst([map { '/one?k=allgone' } 1 .. 5], close => 5);
sleep(0.5);
is($t->get('/one?k=after')->{headers}{'x-lr'}, 'PASSED', 'after a cancelled batch, all is well');

# --- the batch cannot be sent: each request's own fail mode -----------------------------------

$t->stop_redis($redis);
sleep(0.2);
my $from = length $t->error_log;
@r = burst([map { $_ % 2 ? '/one?k=down' : '/closed?k=down' } 1 .. 10]);
is(summary(@r[grep { $_ % 2 == 0 } 0 .. 9]), '200 ERROR x5', 'Redis down: fail open requests go on');
is(summary(@r[grep { $_ % 2 == 1 } 0 .. 9]), '429 ERROR x5', 'Redis down: fail closed requests are rejected');
my @n = substr($t->error_log, $from) =~ /zone "one": redis server "main" unavailable/g;
is(scalar @n, 1, 'the failure is logged once for the episode');

$t->ignore_log(qr/redis server "main".*(?:connect|closed|failed|reset)/i);

done_testing;
