#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# Deadlines: aggregate_timeout answers at once with what has arrived, the
# unfinished parts timed out (null, or 504 for a required one), and their
# subrequests ended: the service sees its connections closed, and the
# client's keep-alive connection serves the next request.  Per-part
# timeouts while other parts are still streaming their bodies; a part that
# is itself an aggregation, stopped with its own parts; parts waiting on
# a part that timed out; a part delayed by limit_req in its location.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib", "$FindBin::Bin/lib";

use IO::Select;
use IO::Socket::INET;
use JSON::PP;
use Test::More;
use Time::HiRes qw(time sleep);
use Meshgate::Test;
use AggregateBackend;

my $t = Meshgate::Test->new(workers => 1);
$t->need_module_or_skip;

AggregateBackend->start($t->port('svc'));

$t->write_file('part.json', '{"part":true}');

$t->start(<<'EOF');
    limit_req_zone $binary_remote_addr zone=one:1m rate=2r/s;

    server {
        listen 127.0.0.1:%%PORT_main%%;
        keepalive_timeout 30s;

        location = /deadline {
            aggregate_timeout 400ms;
            aggregate fast  /_svc/sleep/0/fast;
            aggregate slow  /_svc/sleep/5000/slow optional;
            aggregate stall /_svc/stall/x optional;
            aggregate after /_svc/sleep/0/after?s=$s optional $s=slow.name;
        }

        location = /deadline-required {
            aggregate_timeout 300ms;
            aggregate fast  /_svc/sleep/0/fast;
            aggregate stall /_svc/stall/y;
        }

        location = /streaming {
            aggregate_timeout 5s;
            aggregate t1 /_svc/trickle/3000/t1 optional timeout=300ms;
            aggregate t2 /_svc/trickle/600/t2 fields=name;
            aggregate t3 /_svc/trickle/3000/t3 optional timeout=200ms;
            aggregate s4 /_svc/sleep/100/s4 timeout=2s;
        }

        location = /outer {
            aggregate_timeout 400ms;
            aggregate inner /_inner optional;
            aggregate fast  /_svc/sleep/0/fast;
        }

        location = /_inner {
            internal;
            aggregate_timeout 10s;
            aggregate s1 /_svc/stall/inner1;
            aggregate s2 /_svc/stall/inner2;
            aggregate ok /_svc/sleep/0/ok;
        }

        location = /outer-ok {
            aggregate inner /_inner-ok;
            aggregate fast  /_svc/sleep/0/fast;
        }

        location = /_inner-ok {
            internal;
            aggregate a /_svc/sleep/50/a;
            aggregate b /_svc/sleep/0/b fields=slept;
        }

        location = /inner-timeout {
            aggregate inner /_inner-short;
            aggregate fast  /_svc/sleep/0/fast;
        }

        location = /_inner-short {
            internal;
            aggregate_timeout 200ms;
            aggregate s /_svc/stall/z;
        }

        location = /delayed {
            aggregate_timeout 2s;
            aggregate slow /_limited optional;
            aggregate fast /_svc/sleep/0/fast;
        }

        location = /delayed-more {
            aggregate_timeout 300ms;
            aggregate slow /_limited optional;
            aggregate fast /_svc/sleep/0/fast;
        }

        location = /_limited {
            internal;
            limit_req zone=one burst=5;
            alias %%PREFIX%%/part.json;
        }

        location /_svc/ {
            internal;
            proxy_pass http://127.0.0.1:%%PORT_svc%%/;
        }

        location = /stats {
            proxy_pass http://127.0.0.1:%%PORT_svc%%/stats;
        }
    }
EOF

$t->ignore_log(qr/part "\w+" failed: timed out/,
               qr/part "inner" failed: status 504/,
               qr/delaying request/);

my $json = JSON::PP->new;

sub closed { $json->decode($t->get('/stats')->{body})->{closed_early} }

# waits until the service has seen $n more connections closed early
sub closed_since {
    my ($before, $n) = @_;
    my $c;
    for (1 .. 60) {
        last if ($c = closed() - $before) >= $n;
        sleep 0.05;
    }
    return $c;
}

# -- the overall deadline -------------------------------------------------------

my $before = closed();
my $t0 = time;
my $r = $t->get('/deadline');
my $took = time - $t0;

is($r->{status}, 200, 'deadline: 200');
is($r->{body}, '{"fast":{"name":"fast","slept":0},"slow":null,"stall":null,'
               . '"after":null}',
   'what arrived, the rest null (a part waiting on a timed-out one too)');
is($r->{headers}{'x-aggregate-complete'}, 'false', 'not complete');
cmp_ok($took, '>=', 0.35, 'answered at the deadline');
cmp_ok($took, '<', 3, '... not when the slow part would have ended');
is(closed_since($before, 2), 2,
   'the two unfinished parts: their connections closed by nginx');

$r = $t->get('/deadline-required');
is($r->{status}, 504, 'a required part at the deadline: 504');
like($r->{body}, qr/^\{"error":"timed out","part":"stall","request_id":"[0-9a-f]{32}"\}$/,
     '... naming it');

# -- keep-alive after a deadline -------------------------------------------------

my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                              PeerPort => $t->port('main'))
    or die "connect: $!\n";

sub keepalive_get {
    my ($path) = @_;
    print {$s} "GET $path HTTP/1.1\r\nHost: x\r\n\r\n";
    my $raw = '';
    my $sel = IO::Select->new($s);
    while ($sel->can_read(5)) {
        my $n = sysread($s, my $buf, 65536);
        last unless $n;
        $raw .= $buf;
        if ($raw =~ /^(.*?\r\n\r\n)/s) {
            my $head = $1;
            my ($len) = $head =~ /Content-Length: (\d+)/i;
            return $raw if length($raw) >= length($head) + $len;
        }
    }
    return $raw;
}

my $raw = keepalive_get('/deadline');
like($raw, qr/^HTTP\/1.1 200.*"slow":null/s, 'keep-alive: deadline answer');
like($raw, qr/Connection: keep-alive/i, '... the connection is kept');
$t0 = time;
$raw = keepalive_get('/outer-ok');
like($raw, qr/^HTTP\/1.1 200.*"inner":\{"a":/s,
     '... and serves the next request at once');
cmp_ok(time - $t0, '<', 2, '... without waiting for the stopped parts');
close $s;

# -- per-part timeouts while others stream ------------------------------------------

$before = closed();
$r = $t->get('/streaming');
is($r->{status}, 200, 'streaming: 200');
is($r->{body}, '{"t1":null,"t2":{"name":"t2"},"t3":null,'
               . '"s4":{"name":"s4","slept":100}}',
   'parts that timed out halfway through their bodies are null, the one '
   . 'streaming on is whole');
is(closed_since($before, 2), 2, 'both timed-out parts stopped');

# -- nested aggregations -------------------------------------------------------------

$r = $t->get('/outer-ok');
is($r->{body}, '{"inner":{"a":{"name":"a","slept":50},"b":{"slept":0}},'
               . '"fast":{"name":"fast","slept":0}}',
   'an aggregation as a part of another');

$before = closed();
$r = $t->get('/outer');
is($r->{status}, 200, 'outer deadline with a nested aggregation: 200');
is($r->{body}, '{"inner":null,"fast":{"name":"fast","slept":0}}',
   'the nested aggregation timed out');
is(closed_since($before, 2), 2, 'its own stalled parts were stopped with it');

$r = $t->get('/inner-timeout');
is($r->{status}, 502, 'a nested aggregation answering 504: the outer 502');
like($r->{body}, qr/^\{"error":"status 504","part":"inner","request_id":"[0-9a-f]{32}"\}$/,
     '... naming it');

# -- a part delayed by limit_req ----------------------------------------------------------

# nginx resumes a delayed request on the client connection's events, which
# the aggregating request gets: it passes them on, and lets a delayed part
# go when it stops it.
$r = $t->get('/delayed');
is($r->{body}, '{"slow":{"part":true},"fast":{"name":"fast","slept":0}}',
   'limit_req in a part\'s location: the first request passes');
$t0 = time;
$r = $t->get('/delayed');
is($r->{body}, '{"slow":{"part":true},"fast":{"name":"fast","slept":0}}',
   'the second is delayed by 500ms, within the deadline: the part is there');
cmp_ok(time - $t0, '>=', 0.45, '... after the delay');
$t0 = time;
$r = $t->get('/delayed-more');
is($r->{body}, '{"slow":null,"fast":{"name":"fast","slept":0}}',
   'delayed beyond the deadline: null');
cmp_ok(time - $t0, '<', 1.5, '... at the deadline, the connection not held');
is($t->get('/outer-ok')->{status}, 200, 'the worker goes on serving');

done_testing;
