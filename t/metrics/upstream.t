#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# Upstream metrics: attempts by upstream group, peer and code, their time,
# failures (refused connections, timeouts) against answers that are merely
# errors, the next upstream, internal redirects, names resolved per
# request and subrequests (auth_request).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use IO::Socket::INET;
use Test::More;
use Meshgate::Test;
use Meshgate::Prom;

my $t = Meshgate::Test->new(workers => 1);
$t->need_module_or_skip;
$t->need_nginx_module('http_auth_request');

# a peer that accepts connections (the kernel does, into the backlog) and
# never answers
my $silent = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                   LocalPort => $t->port('silent'),
                                   Listen => 16, ReuseAddr => 1)
    or die "listen: $!\n";

$t->write_file('html/ok.txt', "OK\n");

$t->start(<<'EOF');
    metrics_zone main 1m;
    metrics main;

    proxy_read_timeout 300ms;
    proxy_connect_timeout 1s;

    upstream backend { server 127.0.0.1:%%PORT_back%%; }
    upstream refused { server 127.0.0.1:%%PORT_closed%%; }
    upstream silent  { server 127.0.0.1:%%PORT_silent%%; }
    upstream next {
        server 127.0.0.1:%%PORT_closed%%;
        server 127.0.0.1:%%PORT_back%%;
    }
    upstream first   { server 127.0.0.1:%%PORT_back%%; }
    upstream second  { server 127.0.0.1:%%PORT_back2%%; }
    upstream authsrv { server 127.0.0.1:%%PORT_back2%%; }

    server {
        listen 127.0.0.1:%%PORT_main%%;
        root %%PREFIX%%/html;

        location = /ok        { proxy_pass http://backend/ok; }
        location = /err502    { proxy_pass http://backend/err502; }
        location = /refused   { proxy_pass http://refused/; }
        location = /silent    { proxy_pass http://silent/; }
        location = /next      { proxy_pass http://next/ok; }
        location = /implicit  { proxy_pass http://127.0.0.1:%%PORT_back%%/ok; }

        location = /resolved {
            set $peer 127.0.0.1:%%PORT_back%%;
            proxy_pass http://$peer/ok;
        }

        location = /redir {
            proxy_pass http://first/missing;
            proxy_intercept_errors on;
            error_page 404 = @fallback;
        }

        location @fallback {
            proxy_pass http://second;
        }

        location = /guarded {
            auth_request /auth;
            try_files /ok.txt =404;
        }

        location = /auth {
            internal;
            proxy_pass http://authsrv/ok;
        }

        location = /metrics {
            metrics off;
            metrics_export main;
        }
    }

    server {
        listen 127.0.0.1:%%PORT_back%%;
        listen 127.0.0.1:%%PORT_back2%%;
        metrics off;

        location = /ok       { return 200 "ok\n"; }
        location = /err502   { return 502 "bad\n"; }
        location = /missing  { return 404; }
        location = /redir    { return 200 "fallback\n"; }
    }
EOF

my ($back, $back2, $closed, $sport) =
    map { $t->port($_) } qw(back back2 closed silent);

sub status { $t->get($_[0])->{status} // 'none' }

is(status('/ok'), 200, 'ok') for 1 .. 3;
is(status('/err502'), 502, 'a backend answering 502') for 1 .. 2;
is(status('/refused'), 502, 'refused: 502') for 1 .. 2;
is(status('/silent'), 504, 'silent: 504');
is(status('/next'), 200, 'next upstream: 200') for 1 .. 3;
is(status('/implicit'), 200, 'implicit upstream');
is(status('/resolved'), 200, 'a name resolved per request') for 1 .. 3;
is(status('/redir'), 200, 'error_page to another upstream');
is(status('/guarded'), 200, 'auth_request') for 1 .. 2;

my $text = $t->get('/metrics')->{body};
my $m = prom_parse($text);
is_deeply($m->{errors}, [], 'exposition parses');

my %requests;
for my $k (@{$m->{order}}) {
    next unless $k =~ /^meshgate_upstream_requests_total\{(.*)\}$/;
    $requests{$1} = $m->{samples}{$k};
}

is_deeply(\%requests, {
    "upstream=\"backend\",peer=\"127.0.0.1:$back\",code=\"200\"" => 3,
    "upstream=\"backend\",peer=\"127.0.0.1:$back\",code=\"502\"" => 2,
    "upstream=\"refused\",peer=\"127.0.0.1:$closed\",code=\"502\"" => 2,
    "upstream=\"silent\",peer=\"127.0.0.1:$sport\",code=\"504\"" => 1,
    "upstream=\"next\",peer=\"127.0.0.1:$closed\",code=\"502\"" => 1,
    "upstream=\"next\",peer=\"127.0.0.1:$back\",code=\"200\"" => 3,
    "upstream=\"127.0.0.1:$back\",peer=\"127.0.0.1:$back\",code=\"200\"" => 4,
    "upstream=\"\",peer=\"127.0.0.1:$back\",code=\"404\"" => 1,
    "upstream=\"second\",peer=\"127.0.0.1:$back2\",code=\"200\"" => 1,
    "upstream=\"authsrv\",peer=\"127.0.0.1:$back2\",code=\"200\"" => 2,
}, 'upstream_requests_total: every attempt, by group, peer and code')
    or diag(explain(\%requests));

my %failures;
for my $k (@{$m->{order}}) {
    next unless $k =~ /^meshgate_upstream_failures_total\{(.*)\}$/;
    $failures{$1} = $m->{samples}{$k};
}

is_deeply(\%failures, {
    "upstream=\"refused\",peer=\"127.0.0.1:$closed\",reason=\"error\"" => 2,
    "upstream=\"silent\",peer=\"127.0.0.1:$sport\",reason=\"timeout\"" => 1,
    "upstream=\"next\",peer=\"127.0.0.1:$closed\",reason=\"error\"" => 1,
}, 'failures: refused and timed out, not a 502 answer')
    or diag(explain(\%failures));

my $h = prom_histogram($m, 'meshgate_upstream_response_time_seconds',
                       "upstream=\"silent\",peer=\"127.0.0.1:$sport\"");
my %b = map { @$_ } @{$h->{buckets}};
is($h->{count}, 1, 'the timed-out attempt has a time');
is($b{'0.25'}, 0, '... over 250 ms');
is($b{'0.5'}, 1, '... under 500 ms (proxy_read_timeout 300ms)');
ok($h->{sum} >= 0.29 && $h->{sum} < 0.5, "... $h->{sum} s");

$h = prom_histogram($m, 'meshgate_upstream_response_time_seconds',
                    "upstream=\"backend\",peer=\"127.0.0.1:$back\"");
is($h->{count}, 5, 'backend: 5 attempts timed');

# the subrequest is not a client request; the main request is
ok(!(grep { /route="\/auth"/ } @{$m->{order}}), 'auth_request: no route');
is(prom_value($m, 'meshgate_http_requests_total{route="/guarded",'
                  . 'method="GET",code="200"}'), 2, 'the main request');
is(prom_value($m, 'meshgate_http_requests_total{route="@fallback",'
                  . 'method="GET",code="200"}'), 1,
   'counted in the location it ends in');

my ($ok, $out) = prom_check($text);
SKIP: {
    skip $out, 1 unless defined $ok;
    ok($ok, 'promtool check metrics: no problem') or diag($out);
}

close $silent;

done_testing;
