#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# A failed required part answers 502 (504 when it timed out) as any other
# 502 of the location: with the location's error_page for that status
# when there is one (the server's, inherited, or the location's own, a
# named location or a uri, with "=" or not), and otherwise with the
# module's JSON error, which names the part and the request ($request_id,
# as the X-Request-Id header has it).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib", "$FindBin::Bin/lib";

use JSON::PP;
use Test::More;
use Meshgate::Test;
use AggregateBackend;

my $t = Meshgate::Test->new(workers => 1);
$t->need_module_or_skip;

AggregateBackend->start($t->port('svc'));

$t->start(<<'EOF');
    server {
        listen 127.0.0.1:%%PORT_main%%;
        default_type application/json;
        aggregate_timeout 5s;

        add_header X-Request-Id $request_id always;

        error_page 502 504 @unavailable;

        # the server's error_page
        location = /server {
            aggregate ok  /_svc/sleep/0/ok;
            aggregate bad /_svc/status/500;
        }

        location = /server-timeout {
            aggregate slow /_svc/sleep/3000/slow timeout=200ms;
        }

        # the location's own, for 502 only: a timeout is not its business
        location = /own {
            error_page 502 /_errors/bad-gateway.json;
            aggregate bad /_svc/status/404;
        }

        location = /own-timeout {
            error_page 502 /_errors/bad-gateway.json;
            aggregate slow /_svc/sleep/3000/slow timeout=200ms;
        }

        # with "=": another status
        location = /overwrite {
            error_page 502 =503 @later;
            aggregate bad /_svc/status/500;
        }

        # a location with an error_page for other statuses only
        location = /other-status {
            error_page 404 @unavailable;
            aggregate bad /_svc/status/500;
        }

        # an optional failure is no error of the location
        location = /optional {
            aggregate ok  /_svc/sleep/0/ok;
            aggregate bad /_svc/status/500 optional;
        }

        location @unavailable {
            return 502 '{"error":"service unavailable","request_id":"$request_id"}';
        }

        location @later {
            add_header Retry-After 5 always;
            return 503 '{"error":"try later"}';
        }

        location /_errors/ {
            internal;
            return 200 '{"error":"bad gateway","from":"$uri"}';
        }

        location /_svc/ {
            internal;
            proxy_pass http://127.0.0.1:%%PORT_svc%%/;
        }
    }
EOF

$t->ignore_log(qr/part "\w+" failed/);

my $json = JSON::PP->new;

my $r = $t->get('/server');
is($r->{status}, 502, "the server's error_page 502: 502");
my $id = $r->{headers}{'x-request-id'};
is($r->{body},
   qq({"error":"service unavailable","request_id":"$id"}),
   '... its answer, with the request id');
is($r->{headers}{'x-aggregate-complete'}, 'false',
   '... and X-Aggregate-Complete: false');

$r = $t->get('/server-timeout');
is($r->{status}, 504, "a timeout, the server's error_page 504: 504 (no "
   . '"=": the status stays)');
like($r->{body}, qr/^\{"error":"service unavailable"/,
     '... its answer');

$r = $t->get('/own');
is($r->{status}, 502, "the location's own error_page 502 (a uri): 502");
is($r->{body}, '{"error":"bad gateway","from":"/_errors/bad-gateway.json"}',
   '... its answer');

$r = $t->get('/own-timeout');
is($r->{status}, 504, 'a timeout, no error_page 504 in the location: 504');
$id = $r->{headers}{'x-request-id'};
is($r->{body}, qq({"error":"timed out","part":"slow","request_id":"$id"}),
   '... the JSON error, with the request id');

$r = $t->get('/overwrite');
is($r->{status}, 503, 'error_page 502 =503: 503');
is($r->{body}, '{"error":"try later"}', '... its answer');
is($r->{headers}{'retry-after'}, '5', '... its headers');

$r = $t->get('/other-status');
is($r->{status}, 502, 'an error_page for another status only: 502');
$id = $r->{headers}{'x-request-id'};
like($id, qr/^[0-9a-f]{32}$/, '... a request id');
is($r->{body}, qq({"error":"status 500","part":"bad","request_id":"$id"}),
   '... the JSON error names the part and the request');
is($r->{headers}{'content-type'}, 'application/json', '... as JSON');

$r = $t->get('/optional');
is($r->{status}, 200, 'an optional part failed: 200, no error_page');
is($r->{body}, '{"ok":{"name":"ok","slept":0},"bad":null}', '... null');

done_testing;
