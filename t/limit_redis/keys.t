#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# limit_redis keys: $binary_remote_addr (binary-safe, per client address),
# arbitrary bytes, a constant key (one global limit), an empty key (never
# limited, nothing written to Redis), and the 65535-byte key limit.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use IO::Socket::INET;
use Test::More;
use Meshgate::Test;

my $t = Meshgate::Test->new(workers => 2);
$t->need_module_or_skip;
$t->need('redis-server');

my $redis = $t->start_redis;
$t->write_file('html/ok.txt', "OK\n");

$t->start(<<'EOF');
    redis_server main 127.0.0.1:%%PORT_redis%% timeout=1s;

    limit_redis_zone $binary_remote_addr zone=ip rate=1r/m redis=main;
    limit_redis_zone $arg_user zone=user rate=1r/m redis=main;
    limit_redis_zone $http_x_key zone=hdr rate=1r/m redis=main;
    limit_redis_zone global zone=glob rate=1r/m redis=main;

    large_client_header_buffers 4 160k;

    server {
        listen 127.0.0.1:%%PORT_main%% reuseport;
        root %%PREFIX%%/html;
        add_header X-LR $limit_redis_status always;

        location /ip   { limit_redis zone=ip burst=1 nodelay; try_files /ok.txt =404; }
        location /user { limit_redis zone=user; try_files /ok.txt =404; }
        location /hdr  { limit_redis zone=hdr; try_files /ok.txt =404; }
        location /glob { limit_redis zone=glob burst=2 nodelay; try_files /ok.txt =404; }
    }
EOF

sub status_from {
    my ($local, $uri) = @_;
    my $s = IO::Socket::INET->new(LocalAddr => $local,
                                  PeerAddr => '127.0.0.1',
                                  PeerPort => $t->port('main'),
                                  Proto => 'tcp', Timeout => 3)
        or return "connect from $local: $!";
    print {$s} "GET $uri HTTP/1.0\r\nHost: localhost\r\n\r\n";
    local $/;
    my $resp = <$s> // '';
    close $s;
    return $resp =~ m{^HTTP/1\.\d (\d{3})} ? $1 : 'no response';
}

sub keys_like { $t->redis_command($redis, 'KEYS', $_[0]) }

# --- $binary_remote_addr --------------------------------------------------------------

my @s = map { $t->get_lr('/ip')->{status} } 1 .. 3;
is_deeply(\@s, [200, 200, 429], '$binary_remote_addr, 1r/m burst=1: 200 200 429');

my $bin = "mg:lr:ip:\x7f\x00\x00\x01";
my $tat = $t->redis_command($redis, 'GET', $bin);
like($tat // '', qr/^\d+$/, 'key is mg:lr:ip: + the 4 raw bytes of 127.0.0.1');
is(scalar @{keys_like('mg:lr:ip:*')}, 1, 'exactly one key in zone ip');
is(length(keys_like('mg:lr:ip:*')->[0]), length('mg:lr:ip:') + 4, 'key length prefix + 4');

SKIP: {
    my $probe = IO::Socket::INET->new(LocalAddr => '127.0.0.2', PeerAddr => '127.0.0.1',
                                      PeerPort => $t->port('main'), Proto => 'tcp');
    skip 'cannot use 127.0.0.2 as a source address', 4 unless $probe;
    close $probe;

    my @o = map { status_from('127.0.0.2', '/ip') } 1 .. 3;
    is_deeply(\@o, [200, 200, 429], 'another client address (127.0.0.2) has its own limit');
    ok(defined $t->redis_command($redis, 'GET', "mg:lr:ip:\x7f\x00\x00\x02"),
       'key with the raw bytes of 127.0.0.2');
    is(status_from('127.0.0.1', '/ip'), 429, '127.0.0.1 still limited');
    is(status_from('127.0.0.3', '/ip'), 200, '127.0.0.3 fresh');
}

# --- empty key: never limited, nothing in Redis -------------------------------------------

my @e = map { $t->get_lr('/user') } 1 .. 10;
is_deeply([map { $_->{status} } @e], [(200) x 10], 'no ?user=: 10 x 200 (1r/m not applied)');
ok(!(grep { $_->{lr} ne '' } @e), 'empty key: $limit_redis_status empty');
ok(!(grep { exists $_->{headers}{ratelimit} } @e), 'empty key: no RateLimit headers');
@e = map { $t->get_lr('/user?user=') } 1 .. 3;
is_deeply([map { $_->{status} } @e], [200, 200, 200], '?user= (empty value): not limited');
is_deeply(keys_like('mg:lr:user*'), [], 'no Redis key written for the empty key');

@e = map { $t->get_lr('/user?user=u1') } 1 .. 2;
is_deeply([map { $_->{status} } @e], [200, 429], '?user=u1: limited (200 429)');
is_deeply(keys_like('mg:lr:user*'), ['mg:lr:user:u1'], 'exactly mg:lr:user:u1');

# --- arbitrary bytes (UTF-8, colon, spaces) are kept as they are -------------------------------

my $k = "caf\xc3\xa9: a b";
@e = map { $t->get_lr('/hdr', 'X-Key' => $k) } 1 .. 2;
is_deeply([map { $_->{status} } @e], [200, 429], 'header key with UTF-8, colon, spaces: 200 429');
ok(defined $t->redis_command($redis, 'GET', "mg:lr:hdr:$k"), 'stored under the exact bytes');
is($t->get_lr('/hdr', 'X-Key' => "caf\xc3\xa9: a")->{status}, 200, 'a prefix of it is another key');

# --- a constant key: one global limit ----------------------------------------------------

@e = map { $t->get_lr('/glob?user=' . $_) } 1 .. 4;
is_deeply([map { $_->{status} } @e], [200, 200, 200, 429], 'constant key: one limit for all');
ok(defined $t->redis_command($redis, 'GET', 'mg:lr:glob:global'), 'key mg:lr:glob:global');

# --- 65535 bytes is the longest key that is limited ---------------------------------------------

my $k65535 = 'a' x 65535;
@e = map { $t->get_lr('/hdr', 'X-Key' => $k65535) } 1 .. 2;
is_deeply([map { $_->{status} } @e], [200, 429], 'a 65535-byte key is limited (200 429)');
ok(defined $t->redis_command($redis, 'EXISTS', "mg:lr:hdr:$k65535")
   && $t->redis_command($redis, 'EXISTS', "mg:lr:hdr:$k65535"), '... and stored');

my $from = length $t->error_log;
my $k65536 = 'b' x 65536;
@e = map { $t->get_lr('/hdr', 'X-Key' => $k65536) } 1 .. 3;
is_deeply([map { $_->{status} } @e], [200, 200, 200], 'a 65536-byte key is not limited');
is($e[0]{lr}, '', '... $limit_redis_status empty');
is($t->redis_command($redis, 'EXISTS', "mg:lr:hdr:$k65536"), 0, '... nothing stored');
like(substr($t->error_log, $from),
     qr/limit_redis: the key of zone "hdr" is more than 65535 bytes/,
     '... and logged');

done_testing;
