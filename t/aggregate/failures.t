#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# aggregate's failure policy against real services (a test service of its
# own, proxied): each kind of part failure (a non-2xx status, invalid JSON,
# a body too large, a timeout, a service that is down, a connection closed
# without an answer, a compressed body) as an optional part (null,
# X-Aggregate-Complete: false) and as a required one (502, 504 for a
# timeout, a JSON error naming the part and the request).  A failed required part answers
# at once and stops the parts still running.  error_page, try_files and
# named locations inside a part's location: the part is what they answer.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib", "$FindBin::Bin/lib";

use JSON::PP;
use Test::More;
use Time::HiRes qw(time);
use Meshgate::Test;
use AggregateBackend;

my $t = Meshgate::Test->new(workers => 1);
$t->need_module_or_skip;

my $svc = AggregateBackend->start($t->port('svc'));
my $json = JSON::PP->new;

# kind => [uri of the failing part, reason in the error answer, status]
my %kinds = (
    status   => ['/_svc/status/503', 'status 503', 502],
    notfound => ['/_missing', 'status 404', 502],
    invalid  => ['/_svc/json/%7B%22a%22%3A', 'invalid JSON', 502],
    big      => ['/_svc/trickle/0/big', 'response too large', 502],
    timeout  => ['/_svc/sleep/5000/slow timeout=300ms', 'timed out', 504],
    down     => ['/_down/x', 'request failed', 502],
    closed   => ['/_svc/close', 'request failed', 502],
    gzip     => ['/_svc/gzip', 'response has a Content-Encoding', 502],
);

my $locations = '';
for my $k (sort keys %kinds) {
    my $uri = $kinds{$k}[0];
    $locations .= <<"EOF";
        location = /optional/$k {
            aggregate ok  /_svc/sleep/0/ok;
            aggregate bad $uri optional;
        }
        location = /required/$k {
            aggregate ok  /_svc/sleep/0/ok;
            aggregate bad $uri;
        }
EOF
}

$t->start(<<"EOF");
    server {
        listen 127.0.0.1:%%PORT_main%%;
        root %%PREFIX%%/html;
        aggregate_buffer_size 1k;
        proxy_read_timeout 10s;

$locations

        # a required failure does not wait for the slow part
        location = /fail-fast {
            aggregate slow /_svc/sleep/5000/slow optional;
            aggregate bad  /_svc/status/500;
        }

        location = /fallback {
            aggregate down  /_flaky;
            aggregate tried /_tried;
            aggregate named /_named;
            aggregate kept  /_kept optional;
        }

        location = /_flaky {
            internal;
            proxy_pass http://127.0.0.1:%%PORT_down%%/;
            error_page 502 = /_fallback;
        }

        location = /_tried {
            internal;
            try_files /nothing-here /_fallback;
        }

        location = /_named {
            internal;
            error_page 404 = \@named;
            return 404;
        }

        location = /_kept {
            internal;
            proxy_pass http://127.0.0.1:%%PORT_down%%/;
            error_page 502 /_fallback;
        }

        location = /_fallback {
            internal;
            return 200 '{"fallback":"\$uri"}';
        }

        location \@named {
            return 200 '{"named":true}';
        }

        location /_svc/ {
            internal;
            proxy_pass http://127.0.0.1:%%PORT_svc%%/;
        }

        location /_down/ {
            internal;
            proxy_pass http://127.0.0.1:%%PORT_down%%/;
        }

        location = /stats {
            proxy_pass http://127.0.0.1:%%PORT_svc%%/stats;
        }
    }
EOF

$t->ignore_log(qr/connect\(\) failed .* while connecting to upstream/,
               qr/upstream prematurely closed connection/,
               qr/part "(bad|kept)" failed/);

sub stats { $json->decode($t->get('/stats')->{body}) }

for my $k (sort keys %kinds) {
    my ($uri, $reason, $code) = @{$kinds{$k}};

    my $r = $t->get("/optional/$k");
    is($r->{status}, 200, "$k, optional: 200");
    is($r->{body}, '{"ok":{"name":"ok","slept":0},"bad":null}',
       "$k, optional: null");
    is($r->{headers}{'x-aggregate-complete'}, 'false',
       "$k, optional: X-Aggregate-Complete: false");
    ok($t->wait_for_log(qr/optional part "bad" failed: \Q$reason\E.*\/optional\/$k/, 2),
       "$k, optional: the log says \"$reason\"");

    $r = $t->get("/required/$k");
    is($r->{status}, $code, "$k, required: $code");
    like($r->{body}, qr/^\{"error":"\Q$reason\E","part":"bad","request_id":"[0-9a-f]{32}"\}$/,
         "$k, required: the error names the part");
    is($r->{headers}{'content-type'}, 'application/json',
       "$k, required: application/json");
    is($r->{headers}{'content-length'}, length($r->{body}),
       "$k, required: Content-Length");
    ok($t->wait_for_log(qr/\[error\].*required part "bad" failed: \Q$reason\E.*\/required\/$k/, 2),
       "$k, required: logged as an error");
}

# the part that timed out was stopped: its connection to the service closed
ok(stats()->{closed_early} >= 2, 'timed-out parts: the service saw nginx '
   . 'close their connections');

my $before = stats()->{closed_early};
my $t0 = time;
my $r = $t->get('/fail-fast');
is($r->{status}, 502, 'a required part failed: 502');
like($r->{body}, qr/^\{"error":"status 500","part":"bad","request_id":"[0-9a-f]{32}"\}$/,
     '... naming it');
cmp_ok(time - $t0, '<', 3, '... without waiting for the 5 s part');
my $closed;
for (1 .. 40) {
    last if ($closed = stats()->{closed_early} - $before) >= 1;
    select undef, undef, undef, 0.05;
}
is($closed, 1, '... whose request was stopped');

$r = $t->get('/fallback');
is($r->{status}, 200, 'fallbacks in part locations: 200');
is($r->{body}, '{"down":{"fallback":"/_fallback"},'
               . '"tried":{"fallback":"/_fallback"},"named":{"named":true},'
               . '"kept":null}',
   'error_page, try_files and a named location answer for the part');
ok($t->wait_for_log(qr/optional part "kept" failed: request failed/, 2),
   'error_page without "=" keeps the 502: the part failed');

# the worker is still fine
$r = $t->get('/optional/status');
is($r->{status}, 200, 'still answering');

done_testing;
