#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# limit_redis when Redis answers, but not as expected: error replies (a key
# of the wrong type, out of memory) follow the fail mode, are logged as
# `error reply "..."` once per episode, and the next good reply ends the
# episode; odd stored values (garbage, negative, fractional, enormous) never
# crash nginx and give a sane verdict.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Test::More;
use Meshgate::Test;

my $t = Meshgate::Test->new(workers => 1);
$t->need_module_or_skip;
$t->need('redis-server');

my $redis = $t->start_redis;
$t->write_file('html/ok.txt', "OK\n");

$t->start(<<'EOF');
    redis_server main 127.0.0.1:%%PORT_redis%% timeout=1s;

    limit_redis_zone $arg_k zone=z rate=1r/m redis=main;
    limit_redis_zone $arg_k zone=c rate=1r/m redis=main;
    limit_redis_zone $arg_k zone=l rate=1r/m redis=main;

    server {
        listen 127.0.0.1:%%PORT_main%%;
        root %%PREFIX%%/html;
        add_header X-LR $limit_redis_status always;

        location /z { limit_redis zone=z burst=1 nodelay; try_files /ok.txt =404; }
        location /c { limit_redis zone=c; limit_redis_fail closed; try_files /ok.txt =404; }
        location /l { limit_redis zone=l; limit_redis_fail local; try_files /ok.txt =404; }
    }
EOF

sub new_log { substr($t->error_log, $_[0]) }

# --- a key of the wrong type: WRONGTYPE error reply ----------------------------------------

$t->redis_command($redis, 'LPUSH', 'mg:lr:z:list', 'x');
$t->redis_command($redis, 'LPUSH', 'mg:lr:c:list', 'x');
$t->redis_command($redis, 'LPUSH', 'mg:lr:l:list', 'x');

my $from = length $t->error_log;
my @r = map { $t->get_lr('/z?k=list') } 1 .. 3;
is(join(',', map { "$_->{status} $_->{lr}" } @r), '200 ERROR,200 ERROR,200 ERROR',
   'WRONGTYPE, fail open: 200 ERROR');
ok(!exists $r[0]{headers}{ratelimit}, 'no RateLimit header on ERROR');
my $log = new_log($from);
like($log, qr/limit_redis: zone "z": redis server "main" unavailable \(error reply "[^"]*WRONGTYPE[^"]*"\), failing open/,
     'logged: error reply "...WRONGTYPE..."');
my @n = $log =~ /unavailable \(error reply/g;
is(scalar @n, 1, 'once for the episode (3 requests)');

$from = length $t->error_log;
is($t->get_lr('/z?k=fine')->{lr}, 'PASSED', 'another key of the zone works');
like(new_log($from), qr/limit_redis: zone "z": redis server "main" answers again/,
     'the good reply ends the episode');

is($t->get_lr('/c?k=list')->{status}, 429, 'WRONGTYPE, fail closed: 429');
is($t->get_lr('/c?k=list')->{lr}, 'ERROR', '... ERROR');
@r = map { $t->get_lr('/l?k=list') } 1 .. 2;
is(join(',', map { $_->{lr} } @r), 'LOCAL_PASSED,LOCAL_REJECTED',
   'WRONGTYPE, fail local: decided locally');
is($t->redis_command($redis, 'TYPE', 'mg:lr:z:list'), 'list', 'the list was left alone');

# --- out of memory -----------------------------------------------------------------------------

$t->redis_command($redis, 'CONFIG', 'SET', 'maxmemory-policy', 'noeviction');
$t->redis_command($redis, 'CONFIG', 'SET', 'maxmemory', '1');
$from = length $t->error_log;
my $oom = $t->get_lr('/z?k=oom');
$t->redis_command($redis, 'CONFIG', 'SET', 'maxmemory', '0');
is("$oom->{status} $oom->{lr}", '200 ERROR', 'Redis out of memory: 200 ERROR (fail open)');
like(new_log($from), qr/unavailable \(error reply "[^"]*OOM[^"]*"\)/, 'logged: error reply "OOM ..."');
@r = map { $t->get_lr('/z?k=oom') } 1 .. 3;
is(join(',', map { $_->{status} } @r), '200,200,429', 'memory back: limiting exact again');

# --- odd stored values ------------------------------------------------------------------------

sub now_us {
    my $tm = $t->redis_command($redis, 'TIME');
    return $tm->[0] * 1000000 + $tm->[1];
}

$t->redis_command($redis, 'SET', 'mg:lr:z:garbage', 'not a number');
@r = map { $t->get_lr('/z?k=garbage') } 1 .. 3;
is(join(',', map { $_->{status} } @r), '200,200,429',
   'a garbage value counts as no state (200 200 429)');
like($t->redis_command($redis, 'GET', 'mg:lr:z:garbage'), qr/^\d+$/, 'and is overwritten');

$t->redis_command($redis, 'SET', 'mg:lr:z:neg', '-5000000');
@r = map { $t->get_lr('/z?k=neg') } 1 .. 3;
is(join(',', map { $_->{status} } @r), '200,200,429', 'a negative tat counts as past');

# a tat 90 s ahead (backlog 1.5 T > B T = 1 T): rejected, Retry-After ~30
$t->redis_command($redis, 'SET', 'mg:lr:z:ahead', now_us() + 90_000_000 . '.75');
my $x = $t->get_lr('/z?k=ahead');
is("$x->{status} $x->{lr}", '429 REJECTED', 'a fractional tat 90 s ahead: REJECTED');
like($x->{headers}{'retry-after'} // '', qr/^(?:29|30)$/, 'Retry-After about 30');

# far in the future (a year: more than any limit can make, less than the
# 2^52 us mg_gcra.h takes for a broken store): a huge, well-formed Retry-After
$t->redis_command($redis, 'SET', 'mg:lr:z:far', sprintf('%.0f', now_us() + 365 * 86400 * 1e6));
$x = $t->get_lr('/z?k=far');
is("$x->{status} $x->{lr}", '429 REJECTED', 'a tat a year ahead: 429 REJECTED');
like($x->{headers}{'retry-after'} // '', qr/^315359[34]\d$/,
     'Retry-After = a year - B T (31535940 s), a plain integer')
    or diag($x->{headers}{'retry-after'});
like($x->{headers}{'ratelimit'} // '', qr/^"z";r=0;t=(?:31536000|3153599\d)$/,
     'RateLimit t = a year');

# beyond what the arithmetic can hold: an error or a rejection, never a crash
for my $v (sprintf('%.0f', now_us() + 1000 * 365 * 86400 * 1e6), '1e30', '9223372036854775807', 'inf', '-inf', 'nan', '1e308') {
    $t->redis_command($redis, 'SET', "mg:lr:z:odd$v", $v);
    my $o = $t->get_lr("/z?k=odd$v");
    like("$o->{status} $o->{lr}", qr/^(?:429 REJECTED|200 ERROR|200 PASSED)$/,
         "stored \"$v\": a sane answer ($o->{status} $o->{lr})");
}
is($t->get_lr('/z?k=sane-after')->{lr}, 'PASSED', 'and the worker still works');

done_testing;
