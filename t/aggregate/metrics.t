#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# aggregate's part outcomes in the metrics: each part of each answer is
# counted once by its outcome (ok, status, invalid, too_large, skipped),
# under the route of the aggregating location, while the parts themselves
# (subrequests) are not counted as client requests.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Test::More;
use Meshgate::Test;

my $t = Meshgate::Test->new(workers => 2);
$t->need_module_or_skip;
$t->need('promtool');

$t->start(<<'EOF');
    metrics_zone m 1m;

    server {
        listen 127.0.0.1:%%PORT_main%%;
        default_type application/json;
        aggregate_buffer_size 64;

        location = /page {
            metrics m;
            metrics_route page;
            aggregate good  /_good;
            aggregate error /_error optional;
            aggregate bad   /_bad optional;
            aggregate big   /_big optional;
            aggregate next  /_good?id=$id optional $id=bad.id;
        }

        location = /_good  { internal; return 200 '{"id":1}'; }
        location = /_error { internal; return 500; }
        location = /_bad   { internal; return 200 'not json'; }
        location = /_big   { internal; return 200 '{"pad":"................................................................"}'; }

        location = /metrics { metrics_export m; }
    }
EOF

for (1 .. 3) {
    my $r = $t->get('/page');
    is($r->{status}, 200, 'the page: 200');
    is($r->{headers}{'x-aggregate-complete'}, 'false', 'the page: incomplete');
}

my $m = $t->get('/metrics')->{body};

my %want = (good => 'ok', error => 'status', bad => 'invalid',
            big => 'too_large', next => 'skipped');
for my $part (sort keys %want) {
    like($m, qr/^meshgate_aggregate_parts_total\{route="page",part="$part",outcome="$want{$part}"\} 3$/m,
         "part $part: 3 x $want{$part}");
}
my @series = $m =~ /^meshgate_aggregate_parts_total\{/mg;
is(scalar @series, 5, 'one series per part: no other outcome');

like($m, qr/^meshgate_http_requests_total\{route="page",method="GET",code="200"\} 3$/m,
     'the page counted once per request');
unlike($m, qr/route="\/_/, 'the parts are not client requests');

$t->write_file('scrape.txt', $m);
my $check = `promtool check metrics < ${\ $t->path('scrape.txt')} 2>&1`;
is($?, 0, 'promtool check metrics accepts it') or diag($check);

done_testing;
