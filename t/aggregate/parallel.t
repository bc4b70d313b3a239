#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# Parallelism, proved without timing: the test service answers none of a
# group of requests until all of them have arrived, so an aggregation whose
# parts were sent one after the other could only run into its deadline.
# The control: a chain of two such parts (the second uses a value of the
# first, so it must wait) does run into it.  Several aggregations at once
# are served side by side too.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib", "$FindBin::Bin/lib";

use IO::Select;
use IO::Socket::INET;
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

        # the deadline of each test: long enough never to be what answers
        aggregate_timeout 5s;

        location = /three {
            aggregate a /_svc/barrier/3/$arg_g/a;
            aggregate b /_svc/barrier/3/$arg_g/b;
            aggregate c /_svc/barrier/3/$arg_g/c;
        }

        location = /chained {
            aggregate_timeout 1s;
            aggregate a /_svc/barrier/2/$arg_g/a;
            aggregate b /_svc/barrier/2/$arg_g/b?after=$a_name $a_name=a.name;
        }

        location = /ten {
            aggregate p0 /_svc/barrier/10/$arg_g/p0;
            aggregate p1 /_svc/barrier/10/$arg_g/p1;
            aggregate p2 /_svc/barrier/10/$arg_g/p2;
            aggregate p3 /_svc/barrier/10/$arg_g/p3;
            aggregate p4 /_svc/barrier/10/$arg_g/p4;
            aggregate p5 /_svc/barrier/10/$arg_g/p5;
            aggregate p6 /_svc/barrier/10/$arg_g/p6;
            aggregate p7 /_svc/barrier/10/$arg_g/p7;
            aggregate p8 /_svc/barrier/10/$arg_g/p8;
            aggregate p9 /_svc/barrier/10/$arg_g/p9;
        }

        # one part of a two-request barrier: two aggregations at once
        location = /half {
            aggregate x /_svc/barrier/2/$arg_g/$arg_n;
        }

        location /_svc/ {
            internal;
            proxy_pass http://127.0.0.1:%%PORT_svc%%/;
        }
    }
EOF

$t->ignore_log(qr/part "a" failed: timed out/);

my $json = JSON::PP->new->canonical;

my $r = $t->request('GET', '/three?g=1', timeout => 8);
is($r->{status}, 200, 'three parts behind a barrier of three: 200')
    or diag($r->{body} // $r->{error});
is($r->{body}, '{"a":{"name":"a","waited":3},"b":{"name":"b","waited":3},'
               . '"c":{"name":"c","waited":3}}',
   'all three answered: they were in flight together');
is($r->{headers}{'x-aggregate-complete'}, 'true', 'complete');

$r = $t->request('GET', '/ten?g=1', timeout => 8);
is($r->{status}, 200, 'ten parts behind a barrier of ten: 200');
is(scalar keys %{$json->decode($r->{body})}, 10, '... all ten answered');

# the control: the same barrier, parts in sequence, cannot be passed
$r = $t->request('GET', '/chained?g=1', timeout => 8);
is($r->{status}, 504, 'a chain behind a barrier of two: 504 at the deadline');
like($r->{body}, qr/^\{"error":"timed out","part":"a","request_id":"[0-9a-f]{32}"\}$/,
   '... the first part timed out waiting for the second');

# two aggregations in flight together on two connections
my @s;
for my $n (qw(one two)) {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $t->port('main'))
        or die "connect: $!\n";
    print {$s} "GET /half?g=2&n=$n HTTP/1.1\r\nHost: x\r\n"
               . "Connection: close\r\n\r\n";
    push @s, $s;
}

my %body;
for my $i (0, 1) {
    my $s = $s[$i];
    my $sel = IO::Select->new($s);
    my $raw = '';
    while ($sel->can_read(8)) {
        my $n = sysread($s, my $buf, 65536);
        last unless $n;
        $raw .= $buf;
    }
    ($body{$i}) = $raw =~ /\r\n\r\n(.*)$/s;
}
is($body{0}, '{"x":{"name":"one","waited":2}}',
   'two aggregations at once: the first answered');
is($body{1}, '{"x":{"name":"two","waited":2}}', '... and the second');

done_testing;
