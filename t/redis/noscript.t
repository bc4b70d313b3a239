#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# The shared Redis client's script handling: one EVALSHA per request (what
# INFO commandstats counts for nginx's commands), and NOSCRIPT recovery:
# after SCRIPT FLUSH the next requests are still limited exactly, also when
# many of them are pipelined at once on the same connections.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use POSIX ();
use Test::More;
use Meshgate::Test;

my $t = Meshgate::Test->new(workers => 2);
$t->need_module_or_skip;
$t->need('redis-server');

my $redis = $t->start_redis;
$t->write_file('html/ok.txt', "OK\n");

$t->start(<<'EOF');
    redis_server main 127.0.0.1:%%PORT_redis%% timeout=1s;

    limit_redis_zone $arg_k zone=z  rate=1r/m redis=main;
    limit_redis_zone $arg_j zone=z2 rate=1r/m redis=main;

    server {
        listen 127.0.0.1:%%PORT_main%% reuseport;
        root %%PREFIX%%/html;
        add_header X-LR $limit_redis_status always;

        location /  { limit_redis zone=z burst=2 nodelay; try_files /ok.txt =404; }
        location /two { limit_redis zone=z burst=2 nodelay; limit_redis zone=z2 nodelay;
                        try_files /ok.txt =404; }
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

sub concurrent {
    my ($uri, $n) = @_;
    my @kids;
    for (1 .. $n) {
        pipe(my $rd, my $wr) or die "pipe: $!";
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            close $rd;
            my $r = $t->get($uri);
            print {$wr} ($r->{status} // 'none') . ' ' . ($r->{headers}{'x-lr'} // '-');
            close $wr;
            POSIX::_exit(0);
        }
        close $wr;
        push @kids, [$pid, $rd];
    }
    my %res;
    for my $k (@kids) {
        my $line = do { local $/; readline($k->[1]) } // '';
        waitpid($k->[0], 0);
        $res{$line}++;
    }
    return join ', ', map { "$_ x$res{$_}" } sort keys %res;
}

# warm up: both workers connected (and their scripts loaded)
$t->get_lr("/?k=warm$_") for 1 .. 10;

# --- one EVALSHA per request ---------------------------------------------------------------

$t->redis_command($redis, 'CONFIG', 'RESETSTAT');
$t->get_lr("/?k=count$_") for 1 .. 20;
$t->get_lr("/two?k=count$_&j=x$_") for 1 .. 10;
my $c = cmdstats();
is($c->{evalsha}, 30, '30 requests (10 of them with two zones): exactly 30 EVALSHA');
ok(!$c->{eval}, 'no EVAL');
ok(!$c->{'script|load'} && !$c->{script}, 'no SCRIPT LOAD');
my @other = grep { !/^(?:evalsha|config\|resetstat|info|get|set|time)$/ } keys %$c;
ok(!@other, 'nginx sent no other commands') or diag("@other");

# --- SCRIPT FLUSH between requests of one key ------------------------------------------------

my $from = length $t->error_log;
is($t->get_lr('/?k=a')->{lr}, 'PASSED', 'a 1: PASSED');
is($t->redis_command($redis, 'SCRIPT', 'FLUSH'), 'OK', 'SCRIPT FLUSH');
my @r = map { $t->get_lr('/?k=a') } 2 .. 5;
is(join(' ', map { "$_->{status} $_->{lr}" } @r),
   '200 PASSED 200 PASSED 429 REJECTED 429 REJECTED',
   'after SCRIPT FLUSH: still exact (a 2..5: 200 200 429 429)');
like(substr($t->error_log, $from), qr/redis does not know script [0-9a-f]{40}, sending it with EVAL/,
     'NOSCRIPT noticed and logged (info)');
is_deeply($t->redis_command($redis, 'SCRIPT', 'EXISTS',
                            _sha($t->error_log)), [1],
          'the script is cached in Redis again');

# flush again, then both workers (several requests, new keys)
$t->redis_command($redis, 'SCRIPT', 'FLUSH');
my @s = map { $t->get_lr("/?k=b$_")->{lr} } 1 .. 10;
is(join(',', @s), join(',', ('PASSED') x 10), 'after another flush: 10 new keys PASSED');
@r = map { $t->get_lr('/?k=b1') } 1 .. 3;
is(join(' ', map { $_->{status} } @r), '200 200 429', 'b1: exact (200 200 429 after the first)');

# --- SCRIPT FLUSH, then many requests pipelined at once -------------------------------------------

$t->redis_command($redis, 'SCRIPT', 'FLUSH');
$t->redis_command($redis, 'CONFIG', 'RESETSTAT');
is(concurrent('/?k=conc', 30), '200 PASSED x3, 429 REJECTED x27',
   'flush, then 30 concurrent requests on one key: exactly 3 PASSED');
$c = cmdstats();
note(join ', ', map { "$_=$c->{$_}" } sort keys %$c);
# limit_redis batches the requests of one pass of the event loop: one
# EVALSHA for one or more requests (the verdicts above show that Redis
# decided each); a resent one runs as EVAL only, its EVALSHA did not run
ok(($c->{evalsha} // 0) >= 1 && $c->{evalsha} <= 30,
   'every request reached Redis, at most one EVALSHA per request');
ok(($c->{eval} // 0) >= 1, 'some were resent with EVAL');
is($c->{time}, $c->{evalsha},
   'the script ran exactly once per batch (no double run on resend)');

# two zones after a flush
$t->redis_command($redis, 'SCRIPT', 'FLUSH');
@r = map { $t->get_lr('/two?k=t&j=t') } 1 .. 2;
is(join(' ', map { $_->{status} } @r), '200 429', 'two zones after a flush: 200 429');
ok(!defined $t->redis_command($redis, 'GET', 'mg:lr:z:t2'), 'sanity: nothing stray');

done_testing;

sub _sha {
    my ($log) = @_;
    return $log =~ /redis does not know script ([0-9a-f]{40})/ ? $1 : 'none';
}
