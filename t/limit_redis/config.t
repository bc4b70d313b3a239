#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# limit_redis configuration: what `nginx -t` accepts, and what it refuses
# with a clear message naming the directive (or pointing at its line).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Test::More;
use Meshgate::Test;

my $t = Meshgate::Test->new(workers => 1);
$t->need_module_or_skip;

# one directive per line, so that file:line in a message tells which one
sub lines {
    my ($s) = @_;
    $s =~ s/;\s*/;\n        /g;
    return $s;
}

# http-level text, then the location's directives
sub conf {
    my ($http, $loc, %o) = @_;
    $http = lines($http);
    $loc = lines($loc);
    my $server = lines($o{server} // '');
    return <<"EOF";
        $http
    server {
        listen 127.0.0.1:%%PORT_main%%;
        $server
        location / {
            $loc
            root %%PREFIX%%;
        }
    }
EOF
}

my $R = 'redis_server r 127.0.0.1:6379;';
my $Z = 'limit_redis_zone $remote_addr zone=z rate=1r/s redis=r;';

sub good_conf { $t->config_accepted(@_) }
sub bad_conf  { $t->config_refused(@_) }

# --- accepted ------------------------------------------------------------------------

good_conf(conf("$R $Z", 'limit_redis zone=z;'), 'minimal');

good_conf(conf("$R $Z", 'limit_redis zone=z burst=10 nodelay;
                          limit_redis_status 503; limit_redis_fail local;
                          limit_redis_headers off; limit_redis_dry_run on;
                          limit_redis_log_level notice;'),
          'every directive');

good_conf(conf($Z, 'limit_redis zone=z;') . "    $R\n",
          'redis_server declared after the zone that uses it');

good_conf(conf($R, 'limit_redis zone=late burst=2 delay=1;')
          . '    limit_redis_zone $arg_k zone=late rate=30r/m redis=r;' . "\n",
          'zone declared after the limit_redis that uses it');

good_conf(conf("$R limit_redis_zone \$arg_a zone=a rate=1r/m redis=r;
                limit_redis_zone \$arg_b zone=b:64k rate=5 redis=r;",
               'limit_redis zone=a; limit_redis zone=b burst=3 delay=5;'),
          'two zones, zone size, bare-number rate, delay > burst');

good_conf(conf("$R limit_redis_zone \$arg_a zone=A.b-c_9 rate=1000000r/s redis=r;",
               'limit_redis zone=A.b-c_9;'),
          'zone name with . - _ digits, rate 1000000r/s');

good_conf(conf("$R $Z limit_req_zone \$remote_addr zone=z:1m rate=1r/s;",
               'limit_redis zone=z; limit_req zone=z;'),
          'limit_req_zone with the same name (separate namespace)');

good_conf(conf("$R $Z limit_redis zone=z;", '',
               server => 'limit_redis_status 599; limit_redis_fail closed;'),
          'http-level limit_redis; server-level status 599');

good_conf(conf("$R $Z", 'limit_redis_status 400;'), 'status 400 without limit_redis');

# --- refused: zones -------------------------------------------------------------------------

bad_conf(conf($R, 'limit_redis zone=nosuch;'), 'limit_redis',
         qr/unknown zone "nosuch"/, 'unknown zone');

bad_conf(conf('limit_redis_zone $remote_addr zone=z rate=1r/s redis=nosrv;',
              'limit_redis zone=z;'), 'limit_redis_zone',
         qr/unknown redis_server "nosrv"/, 'unknown redis server');

for my $rate (qw(0r/s 1r/h abc 2000000r/s 1.5r/s -1r/s r/s 1r/ 1000001r/s)) {
    bad_conf(conf("$R limit_redis_zone \$remote_addr zone=z rate=$rate redis=r;",
                  'limit_redis zone=z;'), 'limit_redis_zone',
             qr/invalid rate/, "bad rate $rate");
}

bad_conf(conf("$R $Z $Z", 'limit_redis zone=z;'), 'limit_redis_zone',
         qr/duplicate .*zone "z"|zone "z".*(?:duplicate|already)/, 'duplicate zone');

bad_conf(conf("$R limit_redis_zone \$remote_addr zone=z:1k rate=1r/s redis=r;",
              'limit_redis zone=z;'), 'limit_redis_zone',
         qr/zone size/, 'zone size too small');

bad_conf(conf("$R limit_redis_zone \$remote_addr zone=a/b rate=1r/s redis=r;",
              'limit_redis zone=a/b;'), 'limit_redis_zone',
         qr/invalid zone name/, 'zone name with /');

bad_conf(conf("$R limit_redis_zone \$remote_addr zone=z redis=r;",
              'limit_redis zone=z;'), 'limit_redis_zone',
         qr/rate=/, 'zone without rate=');

bad_conf(conf("$R limit_redis_zone \$remote_addr zone=z rate=1r/s;",
              'limit_redis zone=z;'), 'limit_redis_zone',
         qr/redis=/, 'zone without redis=');

bad_conf(conf("$R limit_redis_zone \$remote_addr zone=z rate=1r/s redis=r foo=1;",
              'limit_redis zone=z;'), 'limit_redis_zone',
         qr/invalid parameter "foo=1"/, 'zone with unknown parameter');

# --- refused: limit_redis -----------------------------------------------------------------

bad_conf(conf("$R $Z", 'limit_redis burst=5;'), 'limit_redis',
         qr/zone=/, 'burst without zone');

bad_conf(conf("$R $Z", 'limit_redis zone=z burst=5 nodelay delay=2;'), 'limit_redis',
         qr/nodelay.*delay=|delay=.*nodelay/, 'nodelay with delay=');

bad_conf(conf("$R $Z", 'limit_redis zone=z burst=0x5;'), 'limit_redis',
         qr/invalid burst/, 'bad burst');

bad_conf(conf("$R $Z", 'limit_redis zone=z burst=1000001;'), 'limit_redis',
         qr/invalid burst/, 'burst too large');

bad_conf(conf("$R $Z", 'limit_redis zone=z burst=5 delay=0;'), 'limit_redis',
         qr/invalid delay/, 'delay=0');

bad_conf(conf("$R $Z", 'limit_redis zone=z fast;'), 'limit_redis',
         qr/invalid parameter "fast"/, 'unknown parameter');

bad_conf(conf("$R $Z", 'limit_redis zone=z; limit_redis zone=z burst=2;'), 'limit_redis',
         qr/zone "z" twice|twice/, 'one zone twice at one level');

bad_conf(conf("$R redis_server r2 127.0.0.1:6380; $Z
               limit_redis_zone \$arg_x zone=y rate=1r/s redis=r2;",
              'limit_redis zone=z; limit_redis zone=y;'), 'limit_redis',
         qr/different redis servers/, 'zones of one location on different servers');

# --- refused: the other directives ------------------------------------------------------------

for my $code (qw(399 600 abc 42 4290)) {
    bad_conf(conf("$R $Z", "limit_redis zone=z; limit_redis_status $code;"),
             'limit_redis_status', qr/invalid|must be/, "bad status $code");
}

bad_conf(conf("$R $Z", 'limit_redis zone=z; limit_redis_fail maybe;'),
         'limit_redis_fail', qr/maybe/, 'bad fail mode');

bad_conf(conf("$R $Z", 'limit_redis zone=z; limit_redis_headers yes;'),
         'limit_redis_headers', qr/on.*off|invalid/, 'bad headers flag');

bad_conf(conf("$R $Z", 'limit_redis zone=z; limit_redis_log_level debug;'),
         'limit_redis_log_level', qr/debug/, 'bad log level');

bad_conf(conf("$R", '', server => 'limit_redis_zone $remote_addr zone=z rate=1r/s redis=r;'),
         'limit_redis_zone', qr/not allowed|directive/, 'limit_redis_zone outside http');

done_testing;
