#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# Label values and cardinality: routes from variables are escaped (\, ",
# newline), invalid UTF-8 is replaced, long values are cut; a zone that
# reaches max_series or runs out of memory creates no new series, counts
# what they would have counted in overflow series (t/metrics/overflow.t),
# says so once in the log, and goes on counting the series it has.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Test::More;
use Meshgate::Test;
use Meshgate::Prom;

my $t = Meshgate::Test->new(workers => 2);
$t->need_module_or_skip;

$t->start(<<'EOF');
    metrics_zone main 1m;
    metrics_zone capped 1m max_series=10;
    metrics_zone tiny 32k;

    server {
        listen 127.0.0.1:%%PORT_main%%;

        location /esc/ {
            metrics main;
            metrics_route $uri;
            return 200 "esc\n";
        }

        location /long {
            metrics main;
            metrics_route $arg_r;
            return 200 "long\n";
        }

        location /capped {
            metrics capped;
            metrics_route $arg_r;
            return 200 "capped\n";
        }

        location /tiny {
            metrics tiny;
            metrics_route $arg_r;
            return 200 "tiny\n";
        }

        location = /metrics        { metrics_export main; }
        location = /metrics/capped { metrics_export capped; }
        location = /metrics/tiny   { metrics_export tiny; }
    }
EOF

sub scrape {
    my ($path) = @_;
    my $text = $t->get($path)->{body};
    return ($text, prom_parse($text));
}

sub count_of {
    my ($m, $route) = @_;
    return prom_value($m, "meshgate_http_requests_total{route=\"$route\","
                          . 'method="GET",code="200"}');
}

# --- escaping ---------------------------------------------------------------

my %cases = (
    '/esc/a%22b%5Cc%0Ad'  => '/esc/a\"b\\\\c\nd',
    '/esc/%C3%A9t%C3%A9'  => "/esc/\xc3\xa9t\xc3\xa9",
    '/esc/%FF%FEx'        => "/esc/\xef\xbf\xbd\xef\xbf\xbdx",
    '/esc/%C0%AF'         => "/esc/\xef\xbf\xbd\xef\xbf\xbd",
    '/esc/%ED%A0%80'      => "/esc/\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd",
    '/esc/%F0%9F%98%80'   => "/esc/\xf0\x9f\x98\x80",
    '/esc/tab%09cr%0D'    => "/esc/tab\tcr\r",
);

for my $uri (sort keys %cases) {
    is($t->get($uri)->{status}, 200, "GET $uri");
}

my ($text, $m) = scrape('/metrics');
is_deeply($m->{errors}, [], 'exposition parses');

for my $uri (sort keys %cases) {
    is(count_of($m, $cases{$uri}), 1, "route of $uri, escaped");
}

my ($ok, $out) = prom_check($text);
SKIP: {
    skip $out, 1 unless defined $ok;
    ok($ok, 'promtool accepts the escaped and replaced values')
        or diag($out);
}

# the unescaped value is the route, with U+FFFD for invalid bytes
my @routes = map { (prom_labels($_))[1]{route} }
             grep { /^meshgate_http_requests_total\{route="\/esc/ }
             @{$m->{order}};
ok((grep { $_ eq "/esc/a\"b\\c\nd" } @routes), 'unescaped: the $uri');

# --- long values --------------------------------------------------------------

is($t->get('/long?r=' . ('x' x 300))->{status}, 200, 'a 300-byte route');
is($t->get('/long?r=' . ('x' x 256) . 'yyy')->{status}, 200,
   'another, the same in its first 256 bytes');
(undef, $m) = scrape('/metrics');
is(count_of($m, 'x' x 256), 2, 'cut to 256 bytes: one series');

# a route with variables keeps the series of its last value: changing
# values are each counted right
$t->get("/long?r=$_") for qw(a b a a b c a);
(undef, $m) = scrape('/metrics');
is(count_of($m, 'a'), 4, 'alternating routes: a');
is(count_of($m, 'b'), 2, 'alternating routes: b');
is(count_of($m, 'c'), 1, 'alternating routes: c');
is(prom_value($m, 'meshgate_http_request_bytes_total{route="b"}'),
   2 * prom_value($m, 'meshgate_http_request_bytes_total{route="c"}'),
   'alternating routes: bytes of b twice those of c');

# --- max_series ---------------------------------------------------------------

my $from = length $t->error_log;

# 4 series a route (requests, duration, request and response bytes): two
# routes fit, the third gets 2 of its 4, the rest none
for my $i (1 .. 20) {
    is($t->get("/capped?r=r$i")->{status}, 200, "capped route r$i")
        if $i <= 3 || $i == 20;
    $t->get("/capped?r=r$i") if $i > 3 && $i < 20;
}

($text, $m) = scrape('/metrics/capped');
is_deeply($m->{errors}, [], 'capped: exposition parses');
is(prom_value($m, 'meshgate_metrics_series{zone="capped"}'), 10,
   'capped: 10 series');
is(prom_value($m, 'meshgate_metrics_series_dropped_total{zone="capped"}'),
   2 + 17 * 4, 'capped: every observation without a series is counted');
is(count_of($m, 'r1'), 1, 'capped: r1 counted');
is(count_of($m, 'r3'), 1, 'capped: r3 got its requests_total');
is(count_of($m, 'r4'), 0, 'capped: r4 not');

$t->get('/capped?r=r1') for 1 .. 3;
(undef, $m) = scrape('/metrics/capped');
is(count_of($m, 'r1'), 4, 'capped: existing series go on counting');

my $log = substr($t->error_log, $from);
my @full = $log =~ /(metrics zone "capped" is full \(max_series=10\)[^\n]*)/g;
is(scalar @full, 1, 'capped: said once in the log') or diag($log);
like($full[0] // '', qr/new series of meshgate_http_\w+ and other families are counted in their "__overflow__" series/,
     'capped: the message says where new series go');

# --- a zone out of memory -----------------------------------------------------

$from = length $t->error_log;

my $n = 0;
for my $i (1 .. 150) {
    my $r = $t->get("/tiny?r=" . sprintf('%03d', $i) . ('t' x 200));
    $n++ if ($r->{status} // 0) == 200;
}
is($n, 150, 'tiny: every request answered');

($text, $m) = scrape('/metrics/tiny');
is_deeply($m->{errors}, [], 'tiny: exposition parses');
my $series = prom_value($m, 'meshgate_metrics_series{zone="tiny"}');
my $dropped = prom_value($m, 'meshgate_metrics_series_dropped_total{zone="tiny"}');
ok($series > 4 && $series < 150, "tiny: $series series fit");
ok($dropped > 100, "tiny: $dropped observations dropped");

my $first = '001' . ('t' x 200);
is(count_of($m, $first), 1, 'tiny: the first route counted');
$t->get("/tiny?r=$first") for 1 .. 2;
(undef, $m) = scrape('/metrics/tiny');
is(count_of($m, $first), 3, 'tiny: and still counted when full');

$log = substr($t->error_log, $from);
@full = $log =~ /(metrics zone "tiny" is full \(no memory\)[^\n]*)/g;
is(scalar @full, 1, 'tiny: said once in the log') or diag($log);
unlike($log, qr/ngx_slab_alloc\(\) failed/, 'tiny: no slab allocator noise');

($ok, $out) = prom_check($text);
SKIP: {
    skip $out, 1 unless defined $ok;
    ok($ok, 'promtool accepts the full zone\'s exposition') or diag($out);
}

done_testing;
