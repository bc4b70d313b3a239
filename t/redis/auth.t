#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# redis_server password= and db=: the client authenticates and selects the
# database before anything else, so the limit_redis keys land in that
# database.  A wrong or missing password, or a database Redis does not
# have, makes the requests follow their fail mode, quickly, and the error
# log names the server.

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

my $redis = $t->start_redis(password => 's3cret pass');
$t->write_file('html/ok.txt', "OK\n");

$t->start(<<'EOF');
    redis_server good   127.0.0.1:%%PORT_redis%% "password=s3cret pass" db=3;
    redis_server good0  127.0.0.1:%%PORT_redis%% "password=s3cret pass";
    redis_server bad    127.0.0.1:%%PORT_redis%% password=wrong;
    redis_server nopass 127.0.0.1:%%PORT_redis%%;
    redis_server baddb  127.0.0.1:%%PORT_redis%% "password=s3cret pass" db=99;

    limit_redis_zone $arg_k zone=zg  rate=1r/m redis=good;
    limit_redis_zone $arg_k zone=zg0 rate=1r/m redis=good0;
    limit_redis_zone $arg_k zone=zb  rate=1r/m redis=bad;
    limit_redis_zone $arg_k zone=zbc rate=1r/m redis=bad;
    limit_redis_zone $arg_k zone=zn  rate=1r/m redis=nopass;
    limit_redis_zone $arg_k zone=zd  rate=1r/m redis=baddb;

    server {
        listen 127.0.0.1:%%PORT_main%% reuseport;
        root %%PREFIX%%/html;
        add_header X-LR $limit_redis_status always;

        location /good   { limit_redis zone=zg burst=1 nodelay; try_files /ok.txt =404; }
        location /good0  { limit_redis zone=zg0; try_files /ok.txt =404; }
        location /bad    { limit_redis zone=zb; try_files /ok.txt =404; }
        location /badc   { limit_redis zone=zbc; limit_redis_fail closed;
                           try_files /ok.txt =404; }
        location /nopass { limit_redis zone=zn; try_files /ok.txt =404; }
        location /baddb  { limit_redis zone=zd; limit_redis_fail closed;
                           limit_redis_status 503; try_files /ok.txt =404; }
    }
EOF

my $max = 0;

sub rget {
    my ($uri) = @_;
    my $r = $t->get_lr($uri);
    $max = $r->{time} if $r->{time} > $max;
    return $r;
}

sub summary {
    my %s;
    $s{"$_->{status} $_->{lr}"}++ for @_;
    return join ', ', map { "$_ x$s{$_}" } sort keys %s;
}

# GET a key in another database, inside a script (SELECT there does not
# change the caller's database)
sub get_in_db {
    my ($db, $key) = @_;
    return $t->redis_command($redis, 'EVAL',
        "redis.call('SELECT', ARGV[1]) return redis.call('GET', KEYS[1])",
        1, $key, $db);
}

# --- password= and db=3 ---------------------------------------------------------------

my @r = map { rget('/good?k=a') } 1 .. 3;
is(join(' ', map { "$_->{status} $_->{lr}" } @r), '200 PASSED 200 PASSED 429 REJECTED',
   'password= db=3: limiting works (200 200 429)');

like(get_in_db(3, 'mg:lr:zg:a') // '', qr/^\d{16}$/, 'the key mg:lr:zg:a is in db 3');
ok(!defined $t->redis_command($redis, 'GET', 'mg:lr:zg:a'), 'and not in db 0');
like($t->redis_command($redis, 'INFO', 'keyspace'), qr/^db3:keys=1,expires=1/m,
     'INFO keyspace: db3 has the key, with an expiry');

@r = map { rget('/good0?k=a') } 1 .. 2;
is(join(' ', map { $_->{status} } @r), '200 429', 'password=, default db: 200 429');
ok(defined $t->redis_command($redis, 'GET', 'mg:lr:zg0:a'), 'default db is 0');

# --- wrong password -------------------------------------------------------------------------

my $from = length $t->error_log;
my $st = time;
my @bad;
while (time - $st < 1.5) {
    push @bad, rget('/bad?k=b');
}
is(summary(@bad), "200 ERROR x" . scalar(@bad),
   'wrong password, fail open: 200 ERROR for all ' . scalar(@bad) . ' requests in 1.5 s');
@r = map { rget('/badc?k=b') } 1 .. 5;
is(summary(@r), '429 ERROR x5', 'wrong password, fail closed: 429 ERROR');
# the client connects when the worker starts: the AUTH failure is logged then
my $log = $t->error_log;
like($log, qr/WRONGPASS|invalid password|AUTH/i, 'the AUTH failure is logged');
like($log, qr/^.*(?:WRONGPASS|AUTH).*redis server: "bad" \(127\.0\.0\.1:$redis\)/m,
     'the AUTH failure names the server "bad" and its address');
like($log, qr/limit_redis: zone "zb": redis server "bad" unavailable \([^)]+\), failing open/,
     'limit_redis names zone and server');
my @auth = $log =~ /^(.*(?:WRONGPASS|AUTH failed).*)$/mg;
note(scalar(@auth) . ' AUTH failure lines for ' . scalar(@bad) . ' requests');
ok(@auth >= 1 && @auth <= 2 * 2,
   'AUTH failures are not logged for every reconnect attempt (' . scalar(@auth) . ' lines)')
    or diag(join "\n", @auth);
# the good server on the same Redis is unaffected
is(rget('/good?k=c')->{lr}, 'PASSED', 'the good server keeps working meanwhile');

# --- no password ------------------------------------------------------------------------------

$from = length $t->error_log;
@r = map { rget('/nopass?k=n') } 1 .. 6;
is(summary(@r), '200 ERROR x6', 'no password on a protected Redis: 200 ERROR');
like(substr($t->error_log, $from),
     qr/limit_redis: zone "zn": redis server "nopass" unavailable \(.*NOAUTH.*\)|NOAUTH.*redis server: "nopass"/,
     'the NOAUTH error is logged, naming the server');

# --- a database Redis does not have -------------------------------------------------------------

$from = length $t->error_log;
@r = map { rget('/baddb?k=d') } 1 .. 6;
is(summary(@r), '503 ERROR x6', 'db=99 (Redis has 16): fail closed, 503 ERROR');
like($t->error_log, qr/SELECT 99 failed.*redis server: "baddb"/,
     'the SELECT failure is logged, naming the server');

ok($max < 1, sprintf('no request took 1 s or more (max %.3f s)', $max));

# nothing was written by the failing servers
is_deeply($t->redis_command($redis, 'KEYS', 'mg:lr:z[bnd]*'), [],
          'no keys from the failing servers');

done_testing;
