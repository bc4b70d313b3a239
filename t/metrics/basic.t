#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# metrics and metrics_export: a known sequence of requests, counted by two
# workers in one zone, and the exposition checked value by value and with
# promtool.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Test::More;
use Meshgate::Test;
use Meshgate::Prom;

my $t = Meshgate::Test->new(workers => 2);
$t->need_module_or_skip;

$t->write_file('html/slow.txt', "slow\n");

$t->start(<<'EOF');
    metrics_zone main 1m;
    metrics_zone other 64k;
    metrics main;

    limit_req_zone $uri zone=slow:1m rate=10r/s;

    upstream backend {
        server 127.0.0.1:%%PORT_back%%;
    }

    server {
        listen 127.0.0.1:%%PORT_main%%;

        location /api/ {
            proxy_pass http://backend/;
        }

        location = /users {
            metrics_route users;
            return 200 "users\n";
        }

        location = /fast {
            metrics_buckets 0.001 .1 1.5;
            return 204;
        }

        location = /slow {
            limit_req zone=slow burst=5;
            root %%PREFIX%%/html;
            try_files /slow.txt =404;
        }

        location = /metrics {
            metrics off;
            metrics_export main;
        }

        location = /metrics-other {
            metrics off;
            metrics_export other;
        }
    }

    server {
        listen 127.0.0.1:%%PORT_second%%;
        metrics other;

        location / {
            return 200 "second\n";
        }
    }

    server {
        listen 127.0.0.1:%%PORT_back%%;
        metrics off;

        location / {
            return 200 "backend $uri\n";
        }
    }
EOF

my $port = $t->port('back');

# requests are sent as raw bytes, so that their length is known exactly
my (%req_bytes, %resp_bytes);

sub send_raw {
    my ($route, $raw, %o) = @_;
    my $r = $t->request(undef, undef, raw => $raw, %o);
    $req_bytes{$route} += length $raw;
    $resp_bytes{$route} += length $r->{raw};
    return $r;
}

sub req {
    my ($method, $path, $body) = @_;
    return "$method $path HTTP/1.1\r\nHost: localhost\r\n"
        . "Connection: close\r\n"
        . (defined $body ? 'Content-Length: ' . length($body) . "\r\n" : '')
        . "\r\n" . ($body // '');
}

sub scrape {
    my ($path) = @_;
    my $r = $t->get($path // '/metrics');
    is($r->{status}, 200, 'export answers 200') or diag($r->{raw});
    return prom_parse($r->{body});
}

# --- before any request: the families are there, empty ----------------------

my $m = scrape();
is_deeply($m->{errors}, [], 'empty exposition parses');
for my $f (qw(meshgate_http_requests_total meshgate_http_request_bytes_total
              meshgate_http_response_bytes_total
              meshgate_upstream_requests_total
              meshgate_upstream_failures_total meshgate_auth_jwt_results_total
              meshgate_limit_redis_outcomes_total
              meshgate_aggregate_parts_total
              meshgate_connections_accepted_total
              meshgate_metrics_series_dropped_total))
{
    is($m->{types}{$f}, 'counter', "$f: TYPE counter");
    ok(length($m->{help}{$f} // ''), "$f: HELP");
}
for my $f (qw(meshgate_http_request_duration_seconds
              meshgate_upstream_response_time_seconds))
{
    is($m->{types}{$f}, 'histogram', "$f: TYPE histogram");
}
is($m->{types}{meshgate_connections}, 'gauge', 'meshgate_connections: gauge');
is(prom_value($m, 'meshgate_metrics_series{zone="main"}'), 0, 'no series');

# --- a known sequence -------------------------------------------------------

for (1 .. 3) {
    is(send_raw('/api/', req('GET', '/api/a'))->{status}, 200, 'GET /api/a');
}
for (1 .. 2) {
    is(send_raw('/api/', req('POST', '/api/b', 'hello'))->{status}, 200,
       'POST /api/b');
}
is(send_raw('/api/', req('HEAD', '/api/c'))->{status}, 200, 'HEAD /api/c');

is(send_raw('users', req('GET', '/users'))->{status}, 200, 'GET /users')
    for 1 .. 2;
is(send_raw('users', req('FROB', '/users'))->{status}, 200,
   'an unknown method');
is(send_raw('', req('GET', '/nowhere'))->{status}, 404,
   'no location: 404');
is(send_raw('/fast', req('GET', '/fast'))->{status}, 204, 'GET /fast');

# limit_req delays the second request by 100 ms
is(send_raw('/slow', req('GET', '/slow'))->{status}, 200, 'GET /slow')
    for 1 .. 2;

# a malformed request line: 400 before any location; like
# $request_length, its length is 0 for a request never read whole
my $bad = "GET /x HTTP/1.1 junk\r\n\r\n";
is(send_raw('', $bad)->{status}, 400, 'a malformed request: 400');
$req_bytes{''} -= length $bad;

is($t->request('GET', '/', port => 'second')->{status}, 200,
   'second server');

$m = scrape();
is_deeply($m->{errors}, [], 'exposition parses');

my %requests = (
    'route="/api/",method="GET",code="200"' => 3,
    'route="/api/",method="POST",code="200"' => 2,
    'route="/api/",method="HEAD",code="200"' => 1,
    'route="users",method="GET",code="200"' => 2,
    'route="users",method="OTHER",code="200"' => 1,
    'route="",method="GET",code="404"' => 1,
    'route="",method="OTHER",code="400"' => 1,
    'route="/fast",method="GET",code="204"' => 1,
    'route="/slow",method="GET",code="200"' => 2,
);

my %seen;
for my $k (@{$m->{order}}) {
    next unless $k =~ /^meshgate_http_requests_total\{(.*)\}$/;
    $seen{$1} = $m->{samples}{$k};
}
is_deeply(\%seen, \%requests,
          'requests_total: every route, method and code, exactly')
    or diag(explain(\%seen));

for my $route (sort keys %req_bytes) {
    is(prom_value($m, "meshgate_http_request_bytes_total{route=\"$route\"}"),
       $req_bytes{$route}, "request bytes of \"$route\": what was sent");
    is(prom_value($m, "meshgate_http_response_bytes_total{route=\"$route\"}"),
       $resp_bytes{$route}, "response bytes of \"$route\": what was read");
}

# duration histograms

my $h = prom_histogram($m, 'meshgate_http_request_duration_seconds',
                       'route="/api/"');
is_deeply([map { $_->[0] } @{$h->{buckets}}],
          [qw(0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 5 10 +Inf)],
          'default buckets, as Prometheus clients have them');
is($h->{count}, 6, '/api/: 6 observations');
is($h->{buckets}[-1][1], 6, '... +Inf bucket equals the count');
my @n = map { $_->[1] } @{$h->{buckets}};
ok(!grep({ $n[$_] < $n[$_ - 1] } 1 .. $#n), '... buckets are cumulative');

$h = prom_histogram($m, 'meshgate_http_request_duration_seconds',
                    'route="/fast"');
is_deeply([map { $_->[0] } @{$h->{buckets}}], ['0.001', '0.1', '1.5', '+Inf'],
          'metrics_buckets 0.001 .1 1.5');
is_deeply([map { $_->[1] } @{$h->{buckets}}[1 .. 3]], [1, 1, 1],
          '... the request is under 100 ms');

$h = prom_histogram($m, 'meshgate_http_request_duration_seconds',
                    'route="/slow"');
my %b = map { @$_ } @{$h->{buckets}};
is($h->{count}, 2, '/slow: 2 observations');
is($b{'0.05'}, 1, '/slow: one under 50 ms');
is($b{'0.5'}, 2, '/slow: the delayed one under 500 ms');
ok($h->{sum} >= 0.09 && $h->{sum} < 0.5, "/slow: sum $h->{sum} s");

# upstream

is(prom_value($m, "meshgate_upstream_requests_total{upstream=\"backend\","
                  . "peer=\"127.0.0.1:$port\",code=\"200\"}"), 6,
   'upstream requests by group, peer and code');
$h = prom_histogram($m, 'meshgate_upstream_response_time_seconds',
                    "upstream=\"backend\",peer=\"127.0.0.1:$port\"");
is($h->{count}, 6, 'upstream response time: 6 observations');
is(scalar(grep { /^meshgate_upstream_failures_total/ } @{$m->{order}}), 0,
   'no upstream failures');

ok(!(grep { /route="\/"/ } @{$m->{order}}),
   'the backend server (metrics off) is not counted');
ok(!(grep { /route="\/metrics"/ } @{$m->{order}}),
   'the export location (metrics off) is not counted');

# connections, as stub_status

ok(prom_value($m, 'meshgate_connections{state="active"}') >= 1,
   'active connections: at least the scrape');
ok(prom_value($m, 'meshgate_connections{state="writing"}') >= 1,
   'writing: at least the scrape');
ok(prom_value($m, 'meshgate_connections_accepted_total') >= 17,
   'accepted connections');
ok(prom_value($m, 'meshgate_client_requests_total') >= 17,
   'client requests');

# 9 requests_total, 5 routes x (duration, request and response bytes),
# the upstream's requests and response time
is(prom_value($m, 'meshgate_metrics_series{zone="main"}'), 26,
   'series in the zone');
is(prom_value($m, 'meshgate_metrics_series_dropped_total{zone="main"}'), 0,
   'nothing dropped');

my ($ok, $out) = prom_check($t->get('/metrics')->{body});
SKIP: {
    skip $out, 1 unless defined $ok;
    ok($ok, 'promtool check metrics: no problem') or diag($out);
}

# the other zone counts the second server alone

my $o = scrape('/metrics-other');
is(prom_value($o, 'meshgate_http_requests_total{route="/",method="GET",'
                  . 'code="200"}'), 1, 'zone "other": the second server');
is(scalar(grep { /^meshgate_http_requests_total/ } @{$o->{order}}), 1,
   'zone "other": nothing else');
is(prom_value($o, 'meshgate_metrics_series{zone="other"}'), 4,
   'zone "other": 4 series');

# --- the export itself ------------------------------------------------------

my $r = $t->get('/metrics');
is($r->{headers}{'content-type'}, 'text/plain; version=0.0.4; charset=utf-8',
   'Content-Type of the text format 0.0.4');
is($r->{headers}{'content-length'}, length $r->{body}, 'Content-Length');

$r = $t->request('HEAD', '/metrics');
is($r->{status}, 200, 'HEAD: 200');
ok($r->{headers}{'content-length'} > 1000, 'HEAD: Content-Length');
is($r->{raw} =~ /\r\n\r\n(.*)$/s ? length $1 : -1, 0, 'HEAD: no body');

$r = $t->request('POST', '/metrics', body => 'x');
is($r->{status}, 405, 'POST: 405');

done_testing;
