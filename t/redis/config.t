#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# redis_server configuration: what `nginx -t` accepts, and what it refuses
# with a clear message naming the directive (or pointing at its line).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Test::More;
use Meshgate::Test;

my $t = Meshgate::Test->new(workers => 1);
$t->need_module_or_skip;

# the server declarations, then a zone and a location that use server "r"
sub conf {
    my ($servers, %o) = @_;
    $servers =~ s/;\s*/;\n    /g;
    my $zone = $o{zone} // 'limit_redis_zone $remote_addr zone=z rate=1r/s redis=r;';
    my $extra = $o{server} // '';
    return <<"CONF";
    $servers
    $zone

    server {
        listen 127.0.0.1:%%PORT_main%%;
        location / {
            limit_redis zone=z;
            root %%PREFIX%%;
        }
        $extra
    }
CONF
}

sub good_conf { $t->config_accepted(@_) }
sub bad_conf  { $t->config_refused(@_) }

# --- accepted ---------------------------------------------------------------------------

good_conf(conf('redis_server r 127.0.0.1;'), 'address without port');
good_conf(conf('redis_server r 127.0.0.1:6380 password=x db=15 timeout=250ms '
               . 'connect_timeout=1s connections=64;'), 'every parameter');
good_conf(conf('redis_server r localhost:6379 "password=with space";'),
          'host name, quoted password with a space');
good_conf(conf('redis_server r 127.0.0.1; redis_server unused 127.0.0.1:1;'),
          'a server nobody uses');
good_conf(conf('redis_server r 127.0.0.1 timeout=2;'), 'timeout without a unit');

# --- refused ------------------------------------------------------------------------------

bad_conf(conf('redis_server r 127.0.0.1:99999;'), 'redis_server',
         qr/invalid port|99999/, 'bad port');
bad_conf(conf('redis_server r 127.0.0.1:abc;'), 'redis_server',
         qr/invalid|abc/, 'non-numeric port');
bad_conf(conf('redis_server r "";'), 'redis_server',
         qr/no host|invalid|address|""/, 'empty address');
bad_conf(conf('redis_server r no-such-host.invalid;'), 'redis_server',
         qr/host not found|no-such-host/, 'unresolvable host');
bad_conf(conf('redis_server r 127.0.0.1; redis_server r 127.0.0.1:6380;'), 'redis_server',
         qr/duplicate redis_server "r"/, 'duplicate name');
# the value of an unknown parameter is not shown: it may be a password
bad_conf(conf('redis_server r 127.0.0.1 pasword=x;'), 'redis_server',
         qr/invalid parameter "pasword=\.\.\."/, 'unknown parameter');
bad_conf(conf('redis_server r 127.0.0.1 fast;'), 'redis_server',
         qr/invalid parameter "fast"/, 'unknown flag');
bad_conf(conf('redis_server r 127.0.0.1 timeout=abc;'), 'redis_server',
         qr/invalid value "timeout=abc"/, 'bad timeout');
bad_conf(conf('redis_server r 127.0.0.1 connect_timeout=-1s;'), 'redis_server',
         qr/invalid value "connect_timeout=-1s"/, 'bad connect_timeout');
bad_conf(conf('redis_server r 127.0.0.1 connections=0;'), 'redis_server',
         qr/connections=0.*1 to 64/, 'connections=0');
bad_conf(conf('redis_server r 127.0.0.1 connections=65;'), 'redis_server',
         qr/connections=65.*1 to 64/, 'connections=65');
bad_conf(conf('redis_server r 127.0.0.1 db=-1;'), 'redis_server',
         qr/invalid value "db=-1"/, 'db=-1');
bad_conf(conf('redis_server r 127.0.0.1 db=x;'), 'redis_server',
         qr/invalid value "db=x"/, 'db=x');
bad_conf(conf('redis_server r 127.0.0.1 password=;'), 'redis_server',
         qr/invalid value "password="/, 'empty password');
bad_conf(conf('redis_server r 127.0.0.1 db=1 db=2;'), 'redis_server',
         qr/duplicate parameter "db=2"/, 'duplicate parameter');
bad_conf(conf('redis_server r;'), 'redis_server',
         qr/invalid number of arguments/, 'no address');
bad_conf(conf('redis_server r 127.0.0.1;', server => 'redis_server s 127.0.0.1;'),
         'redis_server', qr/not allowed here/, 'redis_server in a server block');
bad_conf(conf('', zone => 'limit_redis_zone $remote_addr zone=z rate=1r/s redis=nope;'),
         'limit_redis_zone', qr/unknown redis_server "nope"/,
         'a reference to a server never declared names the referring directive');

done_testing;
