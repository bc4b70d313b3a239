#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# A full metrics zone: series that do not fit are counted in one overflow
# series per family, every label "__overflow__", so that each family's
# total is the number of requests (and bytes, attempts, outcomes) whatever
# the zone could hold.  Filled by max_series and by memory; the first
# overflow is logged once for the zone's lifetime (both workers, a reload
# that keeps the zone) and again after a reload that changes max_series;
# the gauges tell how full the zone is.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use List::Util qw(sum0);
use Test::More;

use Meshgate::Test;
use Meshgate::JWT;
use Meshgate::Prom;

my $t = Meshgate::Test->new(workers => 2);
$t->need_module_or_skip;

my (undef, $jwk) = gen_key('HS256', kid => 'k1');
$t->write_file('keys/k.jwks', jwks($jwk));
$t->write_file('html/ok.txt', "authorized\n");

my $conf = <<'EOF';
    metrics_zone capped 1m max_series=%%MAX%%;
    metrics_zone tiny 32k;
    metrics_zone named 1m max_series=4;

    server {
        listen 127.0.0.1:%%PORT_backend%%;
        location / { return 200 "backend\n"; }
    }

    server {
        listen 127.0.0.1:%%PORT_main%%;
        root %%PREFIX%%/html;
        default_type application/json;

        metrics capped;
        metrics_route $arg_r;

        location = /fill {
            return 200 "fill\n";
        }

        location = /proxy {
            proxy_pass http://127.0.0.1:%%PORT_backend%%/;
        }

        location = /auth {
            auth_jwt "api";
            auth_jwt_key_file %%PREFIX%%/keys/k.jwks;
            try_files /ok.txt =404;
        }

        location = /agg {
            aggregate a /_part;
        }

        location = /_part {
            internal;
            return 200 '{"a":1}';
        }

        location = /tiny {
            metrics tiny;
            return 200 "tiny\n";
        }

        location = /named {
            metrics named;
            return 200 "named\n";
        }

        location = /metrics/named {
            metrics off;
            metrics_export named;
        }

        location = /metrics/capped {
            metrics off;
            metrics_export capped;
        }

        location = /metrics/tiny {
            metrics off;
            metrics_export tiny;
        }
    }
EOF

sub config {
    my ($max) = @_;
    (my $c = $conf) =~ s/%%MAX%%/$max/;
    return $c;
}

$t->start(config(12));

# what was sent and received, to compare with the byte counters
my %sent = (requests => 0, request_bytes => 0, response_bytes => 0);

sub req {
    my ($path, $zone) = @_;
    my $raw = "GET $path HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    my $r = $t->request('GET', $path, raw => $raw);
    $sent{$zone // 'capped'}{requests}++;
    $sent{$zone // 'capped'}{request_bytes} += length $raw;
    $sent{$zone // 'capped'}{response_bytes} += length $r->{raw};
    return $r;
}

sub scrape {
    my ($zone) = @_;
    my $r = $t->get("/metrics/$zone");
    my $m = prom_parse($r->{body});
    $m->{text} = $r->{body};
    return $m;
}

# the samples of a metric (name, or name_count for a histogram)
sub samples {
    my ($m, $name) = @_;
    return map { [$_, $m->{samples}{$_}] }
           grep { /^\Q$name\E(?:\{|$)/ } @{$m->{order}};
}

sub total {
    my ($m, $name) = @_;
    return sum0(map { $_->[1] } samples($m, $name));
}

sub overflow_key {
    my ($name, @labels) = @_;
    return $name . '{' . join(',', map { "$_=\"__overflow__\"" } @labels)
           . '}';
}

my %labels = (
    meshgate_http_requests_total => [qw(route method code)],
    meshgate_http_request_duration_seconds_count => [qw(route)],
    meshgate_http_request_bytes_total => [qw(route)],
    meshgate_http_response_bytes_total => [qw(route)],
    meshgate_upstream_requests_total => [qw(upstream peer code)],
    meshgate_upstream_response_time_seconds_count => [qw(upstream peer)],
    meshgate_auth_jwt_results_total => [qw(route result)],
    meshgate_aggregate_parts_total => [qw(route part outcome)],
);

# --- before the zone is full ------------------------------------------------

my $m = scrape('capped');
is_deeply($m->{errors}, [], 'empty: exposition parses');
is(prom_value($m, 'meshgate_metrics_series{zone="capped"}'), 0,
   'empty: no series');
is(prom_value($m, 'meshgate_metrics_max_series{zone="capped"}'), 12,
   'empty: max_series gauge');
my $size = prom_value($m, 'meshgate_metrics_zone_size_bytes{zone="capped"}');
my $used = prom_value($m, 'meshgate_metrics_zone_used_bytes{zone="capped"}');
ok($size > 900 * 1024 && $size <= 1024 * 1024,
   "empty: the zone's memory, about 1m ($size)");
ok($used > 0 && $used < $size / 4, "empty: a little of it used ($used)");
is($m->{types}{meshgate_metrics_max_series}, 'gauge', 'max_series: a gauge');
is($m->{types}{meshgate_metrics_zone_used_bytes}, 'gauge',
   'used bytes: a gauge');
ok(!(grep { /__overflow__/ } @{$m->{order}}),
   'empty: no overflow series yet');

# --- fill it ----------------------------------------------------------------

my $from = length $t->error_log;

# 4 series a route (requests, duration, request and response bytes): r1,
# r2 and r3 take 12, the zone is full
req("/fill?r=r$_") for 1 .. 3;
$m = scrape('capped');
is(prom_value($m, 'meshgate_metrics_series{zone="capped"}'), 12,
   'three routes: 12 series, the most it may hold');
ok(!(grep { /__overflow__/ } @{$m->{order}}),
   'three routes: nothing overflowed yet');

# then every new series overflows
req("/fill?r=f$_") for 1 .. 7;
req("/proxy?r=p$_") for 1 .. 5;
is(req("/auth?r=a$_")->{status}, 401, "auth a$_: 401 (no token)") for 1 .. 3;
is(req("/agg?r=g$_")->{status}, 200, "aggregate g$_: 200") for 1 .. 3;

# and what has a series goes on counting there
req('/fill?r=r1') for 1 .. 2;

$m = scrape('capped');
is_deeply($m->{errors}, [], 'full: exposition parses');

my $n = $sent{capped}{requests};
is($n, 3 + 7 + 5 + 3 + 3 + 2, 'requests sent');

is(total($m, 'meshgate_http_requests_total'), $n,
   'requests_total: the family sums to every request');
is(total($m, 'meshgate_http_request_duration_seconds_count'), $n,
   'duration histogram: the counts sum to every request');
is(total($m, 'meshgate_http_request_bytes_total'), $sent{capped}{request_bytes},
   'request bytes: the family sums to every byte received');
is(total($m, 'meshgate_http_response_bytes_total'),
   $sent{capped}{response_bytes},
   'response bytes: the family sums to every byte sent');
is(total($m, 'meshgate_upstream_requests_total'), 5,
   'upstream requests: every attempt');
is(total($m, 'meshgate_upstream_response_time_seconds_count'), 5,
   'upstream time histogram: every attempt');
is(total($m, 'meshgate_auth_jwt_results_total'), 3,
   'auth_jwt results: every token check');
is(total($m, 'meshgate_aggregate_parts_total'), 3,
   'aggregate parts: every part');

my $o = overflow_key('meshgate_http_requests_total', qw(route method code));
is(prom_value($m, $o), 7 + 5 + 3 + 3, 'requests_total: the overflow series');
is(prom_value($m, 'meshgate_http_requests_total{route="r1",method="GET",code="200"}'),
   3, 'requests_total: a series that fitted goes on counting');

for my $name (sort keys %labels) {
    my $key = overflow_key($name, @{$labels{$name}});
    ok(exists $m->{samples}{$key}, "$name: one overflow series, every label __overflow__")
        or diag(join "\n", grep { /^\Q$name\E/ } @{$m->{order}});
    is(scalar(grep { /^\Q$name\E\{/ && /__overflow__/ } @{$m->{order}}), 1,
       "$name: only one");
}

ok(!(grep { /^meshgate_upstream_failures_total\{/ } @{$m->{order}}),
   'no failures: the overflow series of failures is not there');

my $h = prom_histogram($m, 'meshgate_http_request_duration_seconds',
                       'route="__overflow__"');
is((@{$h->{buckets}} ? $h->{buckets}[-1][0] : ''), '+Inf',
   'the overflow histogram has buckets');
is(scalar @{$h->{buckets}}, 12, '... the default ones');

# each observation that went to an overflow series: four per route after
# r3; two more per proxied request (the attempt and its time); one more
# per token check and per part
is(prom_value($m, 'meshgate_metrics_series_dropped_total{zone="capped"}'),
   7 * 4 + 5 * 6 + 3 * 5 + 3 * 5,
   'dropped_total: every observation that overflowed');
is(prom_value($m, 'meshgate_metrics_series{zone="capped"}'), 12,
   'full: 12 series, not counting the overflow ones');

my ($ok, $out) = prom_check($m->{text});
SKIP: {
    skip $out, 1 unless defined $ok;
    ok($ok, 'promtool accepts the full zone') or diag($out);
}

my @full = substr($t->error_log, $from) =~ /([^\n]*metrics zone "capped" is full[^\n]*)/g;
is(scalar @full, 1, 'the first overflow is logged once') or diag(join "\n", @full);
like($full[0] // '', qr/\[error\].*metrics zone "capped" is full \(max_series=12\), new series of meshgate_http_requests_total and other families are counted in their "__overflow__" series/,
     '... at "error", naming the zone, its limit and the first family');

# --- a reload that keeps the zone ---------------------------------------------

ok($t->reload(config(12)), 'reload, the same zone');
req("/fill?r=x$_") for 1 .. 4;
$m = scrape('capped');
is(total($m, 'meshgate_http_requests_total'), $n + 4,
   'after the reload: the family still sums to every request');
@full = substr($t->error_log, $from) =~ /([^\n]*metrics zone "capped" is full[^\n]*)/g;
is(scalar @full, 1, 'after the reload: not logged again');

# another max_series: the zone is kept (same size) and may fill up anew
ok($t->reload(config(13)), 'reload with max_series=13');
req("/fill?r=y$_") for 1 .. 2;
$m = scrape('capped');
is(prom_value($m, 'meshgate_metrics_max_series{zone="capped"}'), 13,
   'max_series 13: the gauge');
is(prom_value($m, 'meshgate_metrics_series{zone="capped"}'), 13,
   'max_series 13: one more series');
is(total($m, 'meshgate_http_requests_total'), $n + 6,
   'max_series 13: the family sums to every request');
@full = substr($t->error_log, $from) =~ /([^\n]*metrics zone "capped" is full[^\n]*)/g;
is(scalar @full, 2, 'max_series 13: full again, logged again');
like($full[1] // '', qr/\(max_series=13\)/, '... with the new limit');

# --- a route named __overflow__ ------------------------------------------------

# its 4 series fill the zone; the next route's overflow in the families
# labelled by route alone is that route's series, not a second one
req('/named?r=__overflow__', 'named');
req('/named?r=other', 'named');
$m = scrape('named');
is_deeply($m->{errors}, [], 'named: no two series with the same labels');
is(total($m, 'meshgate_http_requests_total'), 2, 'named: every request');
is(prom_value($m, 'meshgate_http_requests_total{route="__overflow__",method="GET",code="200"}'),
   1, 'named: the route\'s own requests series');
is(prom_value($m, overflow_key('meshgate_http_requests_total',
                               qw(route method code))),
   1, 'named: the other route in the overflow series');
is(prom_value($m, 'meshgate_http_request_duration_seconds_count{route="__overflow__"}'),
   2, 'named: one duration series for both');
is(prom_value($m, 'meshgate_http_response_bytes_total{route="__overflow__"}'),
   $sent{named}{response_bytes}, 'named: one response bytes series for both');

($ok, $out) = prom_check($m->{text});
SKIP: {
    skip $out, 1 unless defined $ok;
    ok($ok, 'named: promtool accepts it') or diag($out);
}

# --- a zone out of memory -----------------------------------------------------

$from = length $t->error_log;

for my $i (1 .. 150) {
    req('/tiny?r=' . sprintf('%03d', $i) . ('t' x 200), 'tiny');
}

$m = scrape('tiny');
is_deeply($m->{errors}, [], 'tiny: exposition parses');
my $series = prom_value($m, 'meshgate_metrics_series{zone="tiny"}');
ok($series > 4 && $series < 150, "tiny: $series series fit");
ok(!exists $m->{samples}{'meshgate_metrics_max_series{zone="tiny"}'},
   'tiny: no max_series gauge without max_series');
is(total($m, 'meshgate_http_requests_total'), 150,
   'tiny: requests_total sums to every request');
is(total($m, 'meshgate_http_request_duration_seconds_count'), 150,
   'tiny: the duration counts too');
is(total($m, 'meshgate_http_response_bytes_total'),
   $sent{tiny}{response_bytes}, 'tiny: and the response bytes');
ok(prom_value($m, $o) > 100, 'tiny: most requests in the overflow series');
$size = prom_value($m, 'meshgate_metrics_zone_size_bytes{zone="tiny"}');
$used = prom_value($m, 'meshgate_metrics_zone_used_bytes{zone="tiny"}');
ok($size > 0 && $size <= 32 * 1024, "tiny: the zone's memory ($size)");
is($used, $size, 'tiny: all of it used');

@full = substr($t->error_log, $from) =~ /([^\n]*metrics zone "tiny" is full[^\n]*)/g;
is(scalar @full, 1, 'tiny: logged once') or diag(join "\n", @full);
like($full[0] // '', qr/is full \(no memory\)/, 'tiny: ... as out of memory');

($ok, $out) = prom_check($m->{text});
SKIP: {
    skip $out, 1 unless defined $ok;
    ok($ok, 'promtool accepts the zone out of memory') or diag($out);
}

done_testing;
