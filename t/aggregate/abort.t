#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# Clients that go away mid-aggregation (run this file under ASan too):
# parts waiting for an answer, streaming a body, waiting on another part,
# or inside a nested aggregation are all stopped, and the service sees
# every one of their connections closed; many clients coming and going at
# once leave no connection open behind them.  The same over HTTP/2, where
# a stream, not the connection, goes away.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib", "$FindBin::Bin/lib";

use IO::Socket::INET;
use JSON::PP;
use Test::More;
use Time::HiRes qw(time sleep);
use Meshgate::Test;
use AggregateBackend;

my $t = Meshgate::Test->new(workers => 1);
$t->need_module_or_skip;

AggregateBackend->start($t->port('svc'));

my $p = $t->prefix;
my $tls = !system("openssl req -x509 -newkey rsa:2048 -nodes -days 1 "
                  . "-subj /CN=localhost -keyout $p/key.pem -out $p/cert.pem "
                  . ">/dev/null 2>&1");

my $h2 = $tls && $t->has_nginx_module('http_ssl', 'http_v2')
    && `curl --version 2>/dev/null` =~ /HTTP2/ ? <<'EOF' : '';
    server {
        listen 127.0.0.1:%%PORT_h2%% ssl http2;
        ssl_certificate %%PREFIX%%/cert.pem;
        ssl_certificate_key %%PREFIX%%/key.pem;
        include %%PREFIX%%/locations.conf;
    }
EOF

$t->write_file('locations.conf', $t->substitute(<<'EOF'));
        aggregate_timeout 10s;

        location = /slow {
            aggregate a /_svc/stall/a;
            aggregate b /_svc/sleep/5000/b;
            aggregate c /_svc/trickle/5000/c;
            aggregate d /_local;
        }

        location = /chain {
            aggregate a /_local;
            aggregate b /_svc/stall/b?after=$n $n=a.local;
        }

        location = /nested {
            aggregate inner /_inner;
            aggregate x     /_svc/stall/x;
        }

        location = /_inner {
            internal;
            aggregate s /_svc/stall/s;
            aggregate t /_svc/trickle/5000/t;
        }

        location = /fast {
            aggregate a /_local;
            aggregate b /_svc/sleep/0/b;
        }

        location = /_local {
            internal;
            default_type application/json;
            return 200 '{"local":true}';
        }

        location /_svc/ {
            internal;
            proxy_pass http://127.0.0.1:%%PORT_svc%%/;
        }

        location = /stats {
            proxy_pass http://127.0.0.1:%%PORT_svc%%/stats;
        }
EOF

$t->start(<<"EOF");
    server {
        listen 127.0.0.1:%%PORT_main%%;
        include %%PREFIX%%/locations.conf;
    }
$h2
EOF

my $json = JSON::PP->new;

sub stats { $json->decode($t->get('/stats')->{body}) }

# waits until the service holds $n unanswered requests; returns how many
sub open_now {
    my ($n) = @_;
    my $o;
    for (1 .. 200) {
        $o = stats()->{open};
        return $o if $o == $n;
        sleep 0.03;
    }
    return $o;
}

sub send_and_leave {
    my ($path, $parts) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $t->port('main'))
        or die "connect: $!\n";
    print {$s} "GET $path HTTP/1.1\r\nHost: x\r\n\r\n";
    my $held = open_now($parts);
    close $s;
    return $held;
}

for my $case (['/slow', 3, 'stalled, sleeping and streaming parts'],
              ['/chain', 1, 'a part started from another part\'s value'],
              ['/nested', 3, 'parts of a nested aggregation'])
{
    my ($path, $parts, $what) = @{$case};
    my $before = stats()->{closed_early};

    is(send_and_leave($path, $parts), $parts,
       "$path: $parts parts waiting for the service");
    is(open_now(0), 0, "$path: the client went away: $what stopped");
    is(stats()->{closed_early} - $before, $parts,
       "$path: ... by closing their connections");
}

ok($t->wait_for_log(qr/client prematurely closed connection.*GET \/slow/, 2),
   'the client going away is logged');

# many clients at once, some leaving at once, some later, some served
my @s;
for my $i (1 .. 60) {
    my $path = (qw(/slow /chain /nested /fast))[$i % 4];
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $t->port('main'))
        or die "connect: $!\n";
    print {$s} "GET $path HTTP/1.1\r\nHost: x\r\n\r\n";
    push @s, $s;
    close shift @s if $i % 3 == 0;
}
sleep 0.3;
close $_ for @s;

is(open_now(0), 0, '60 clients, all gone: no part left waiting');
is($t->get('/fast')->{body}, '{"a":{"local":true},"b":{"name":"b","slept":0}}',
   'the worker goes on serving');

# -- HTTP/2 ------------------------------------------------------------------------

SKIP: {
    skip 'no TLS certificate or no curl with HTTP/2', 4 unless $h2;

    my $base = 'https://127.0.0.1:' . $t->port('h2');

    my $out = `curl -sk --http2 -w ' %{http_code} %{http_version}' $base/fast`;
    is($out, '{"a":{"local":true},"b":{"name":"b","slept":0}} 200 2',
       'HTTP/2: aggregated');

    my $before = stats()->{closed_early};
    my $t0 = time;
    system('curl', '-sk', '--no-progress-meter', '--http2', '--max-time',
           '0.5', '--parallel', '-o', '/dev/null', "$base/slow", '-o',
           '/dev/null', "$base/nested");
    cmp_ok(time - $t0, '<', 3, 'HTTP/2: curl gave up on two streams');
    is(open_now(0), 0, 'HTTP/2: the streams went away, their parts stopped');
    is(stats()->{closed_early} - $before, 6, '... all six of them');
}

done_testing;
