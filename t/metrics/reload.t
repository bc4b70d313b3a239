#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# Reloads keep the counters: the zone's shared memory is taken over by the
# new configuration when its name and size stay.  New buckets start the
# histograms they concern afresh; a new size starts a new zone; a failed
# reload changes nothing.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Test::More;
use Meshgate::Test;
use Meshgate::Prom;

my $t = Meshgate::Test->new(workers => 2);
$t->need_module_or_skip;

my $conf = <<'EOF';
    metrics_zone main SIZE;
    metrics main;

    server {
        listen 127.0.0.1:%%PORT_main%%;

        location /a {
            BUCKETS
            return 200 "a\n";
        }

        EXTRA

        location = /metrics {
            metrics off;
            metrics_export main;
        }
    }
EOF

sub conf {
    my (%o) = @_;
    my $c = $conf;
    $c =~ s/SIZE/$o{size} \/\/ '1m'/e;
    $c =~ s/BUCKETS/$o{buckets} \/\/ ''/e;
    $c =~ s/EXTRA/$o{extra} \/\/ ''/e;
    return $c;
}

sub scrape {
    my $r = $t->get('/metrics');
    my $m = prom_parse($r->{body});
    is_deeply($m->{errors}, [], 'exposition parses, no duplicates');
    return $m;
}

sub count_of {
    my ($m, $route) = @_;
    return prom_value($m, "meshgate_http_requests_total{route=\"$route\","
                          . 'method="GET",code="200"}');
}

$t->start(conf());

$t->get('/a') for 1 .. 3;
my $m = scrape();
is(count_of($m, '/a'), 3, '3 requests');

# --- the same configuration -----------------------------------------------------

my @old = $t->worker_pids;
ok($t->reload, 'reload');
my @new = $t->worker_pids;
ok(!(grep { my $o = $_; grep { $_ == $o } @new } @old), 'all workers new');

$m = scrape();
is(count_of($m, '/a'), 3, 'after reload: still 3');
$t->get('/a') for 1 .. 2;
$m = scrape();
is(count_of($m, '/a'), 5, 'and counting on: 5');
my $h = prom_histogram($m, 'meshgate_http_request_duration_seconds',
                       'route="/a"');
is($h->{count}, 5, 'the histogram too');
my $per_request =
    prom_value($m, 'meshgate_http_request_bytes_total{route="/a"}') / 5;
ok($per_request > 20, "$per_request bytes a request");

# --- a new location, new buckets ----------------------------------------------

ok($t->reload(conf(buckets => 'metrics_buckets 1 2;',
                   extra => 'location /b { return 200 "b\n"; }')),
   'reload with new buckets for /a and a new location');

$t->get('/a') for 1 .. 2;
$t->get('/b');
$m = scrape();
is(count_of($m, '/a'), 7, '/a: 7');
is(count_of($m, '/b'), 1, '/b: counted');
$h = prom_histogram($m, 'meshgate_http_request_duration_seconds',
                    'route="/a"');
is_deeply([map { $_->[0] } @{$h->{buckets}}], ['1', '2', '+Inf'],
          '/a: the histogram has the new buckets');
is($h->{count}, 2, '/a: and starts afresh');
is(prom_value($m, 'meshgate_http_request_bytes_total{route="/a"}'),
   7 * $per_request, '/a: request bytes kept, 7 requests');

my ($ok, $out) = prom_check($t->get('/metrics')->{body});
SKIP: {
    skip $out, 1 unless defined $ok;
    ok($ok, 'promtool check metrics after the buckets changed')
        or diag($out);
}

# the same buckets again: nothing restarts
ok($t->reload(conf(buckets => 'metrics_buckets 1 2;')), 'reload, same');
$t->get('/a');
$m = scrape();
$h = prom_histogram($m, 'meshgate_http_request_duration_seconds',
                    'route="/a"');
is($h->{count}, 3, '/a: the histogram goes on');

# --- a failed reload ----------------------------------------------------------

$t->ignore_log(qr/\[emerg\].*bucket "1" is not larger/);
ok(!$t->reload(conf(buckets => 'metrics_buckets 2 1;'), quiet => 1),
   'a bad configuration is refused');
$t->get('/a');
$m = scrape();
is(count_of($m, '/a'), 9, 'the running configuration goes on counting');

# --- a new size: a new zone -----------------------------------------------------

ok($t->reload(conf(size => '2m')), 'reload with another zone size');
$m = scrape();
is(count_of($m, '/a'), 0, 'a new zone starts from zero');
$t->get('/a');
$m = scrape();
is(count_of($m, '/a'), 1, 'and counts');

done_testing;
