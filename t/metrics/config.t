#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# metrics configuration: what `nginx -t` accepts, and what it refuses with
# a clear message naming the directive (or pointing at its line).

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
            return 200;
        }
    }
EOF
}

my $Z = 'metrics_zone main 1m;';

sub good_conf { $t->config_accepted(@_) }
sub bad_conf  { $t->config_refused(@_) }

# --- accepted -----------------------------------------------------------------

good_conf(conf($Z, 'metrics main;'), 'minimal');

good_conf(conf("$Z metrics main; metrics_buckets 0.1 1;",
               'metrics_route api; metrics_buckets .005 0.010 2.5 60;',
               server => 'metrics_route site; metrics off;'),
          'every directive, at every level');

good_conf(conf('metrics main;', '') . "    metrics_zone main 64k;\n",
          'zone declared after the metrics that uses it');

good_conf(conf("$Z metrics_zone capped 32k max_series=100;",
               'metrics capped; metrics_route $host$uri;'),
          'max_series, a route with variables, the smallest zone');

good_conf(conf($Z, 'metrics_export main;'),
          'a zone used by metrics_export alone');

good_conf(conf($Z, 'metrics main; metrics_buckets '
                   . join(' ', 1 .. 32) . ';'),
          '32 buckets');

good_conf(conf("$Z limit_req_zone \$remote_addr zone=other:1m rate=1r/s;",
               'metrics main; limit_req zone=other;'),
          'next to a limit_req zone');

# --- metrics_zone ---------------------------------------------------------------

bad_conf(conf('metrics_zone main;', ''), 'metrics_zone',
         qr/invalid number of arguments/, 'no size');

bad_conf(conf('metrics_zone main lots;', ''), 'metrics_zone',
         qr/invalid zone size "lots"/, 'a size that is no size');

bad_conf(conf('metrics_zone main 4k;', ''), 'metrics_zone',
         qr/metrics zone "main" is too small: 4k, at least 32k/,
         'too small');

bad_conf(conf('metrics_zone main 1m max_series=0;', ''), 'metrics_zone',
         qr/invalid max_series "0"/, 'max_series=0');

bad_conf(conf('metrics_zone main 1m max_series=lots;', ''), 'metrics_zone',
         qr/invalid max_series "lots"/, 'max_series not a number');

bad_conf(conf('metrics_zone main 1m buckets=1;', ''), 'metrics_zone',
         qr/invalid parameter "buckets=1"/, 'unknown parameter');

bad_conf(conf("$Z $Z", ''), 'metrics_zone',
         qr/metrics zone "main" is already declared/, 'declared twice');

bad_conf(conf("$Z metrics_zone main 2m;", ''), 'metrics_zone',
         qr/conflicts with already declared size/, 'declared twice, sizes');

bad_conf(conf("$Z limit_req_zone \$remote_addr zone=main:1m rate=1r/s;",
              ''), 'limit_req_zone',
         qr/already declared for a different use/,
         'a name a limit_req zone has');

bad_conf(conf('', '', server => $Z), 'metrics_zone',
         qr/not allowed here/, 'in a server');

# --- metrics ----------------------------------------------------------------------

bad_conf(conf($Z, 'metrics nosuch;'), 'metrics',
         qr/"metrics" uses the unknown metrics zone "nosuch", declare it with metrics_zone/,
         'an unknown zone');

bad_conf(conf($Z, 'metrics main; metrics off;'), 'metrics',
         qr/is duplicate/, 'twice in a location');

bad_conf(conf($Z, 'metrics;'), 'metrics',
         qr/invalid number of arguments/, 'no zone');

# --- metrics_route ----------------------------------------------------------------

bad_conf(conf("$Z metrics main; metrics_route x;", ''), 'metrics_route',
         qr/not allowed here/, 'at http level');

bad_conf(conf($Z, 'metrics main; metrics_route "";'), 'metrics_route',
         qr/empty route label/, 'empty');

bad_conf(conf($Z, 'metrics main; metrics_route a; metrics_route b;'),
         'metrics_route', qr/is duplicate/, 'twice');

# nginx itself tells unknown variables, without the line, for every module
{
    my ($ok, $out) = $t->test_config(conf($Z, 'metrics main; '
                                              . 'metrics_route $nosuchvar;'));
    ok(!$ok, 'refused: an unknown variable in metrics_route');
    like($out, qr/\[emerg\] unknown "nosuchvar" variable/,
         '... nginx names the variable');
}

# --- metrics_buckets --------------------------------------------------------------

for my $b ('0.0005', '-1', '1e3', '1s', '.', '1.2.3', '1000000001') {
    bad_conf(conf($Z, "metrics main; metrics_buckets 1 $b;"),
             'metrics_buckets',
             qr/invalid bucket "\Q$b\E", seconds with at most three decimals/,
             "bucket $b");
}

bad_conf(conf($Z, 'metrics main; metrics_buckets 1 1;'), 'metrics_buckets',
         qr/bucket "1" is not larger than the one before it/, 'equal');

bad_conf(conf($Z, 'metrics main; metrics_buckets 0.5 0.25;'),
         'metrics_buckets',
         qr/bucket "0.25" is not larger than the one before it/,
         'decreasing');

bad_conf(conf($Z, 'metrics main; metrics_buckets ' . join(' ', 1 .. 33)
                  . ';'),
         'metrics_buckets', qr/too many buckets, at most 32/, '33 buckets');

bad_conf(conf($Z, 'metrics main; metrics_buckets 1; metrics_buckets 2;'),
         'metrics_buckets', qr/is duplicate/, 'twice');

# --- metrics_export ---------------------------------------------------------------

bad_conf(conf($Z, 'metrics_export nosuch;'), 'metrics_export',
         qr/"metrics_export" uses the unknown metrics zone "nosuch"/,
         'an unknown zone');

bad_conf(conf($Z, 'metrics_export main; metrics_export main;'),
         'metrics_export', qr/is duplicate/, 'twice');

bad_conf(conf($Z, '', server => 'metrics_export main;'), 'metrics_export',
         qr/not allowed here/, 'in a server');

done_testing;
