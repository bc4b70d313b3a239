#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
# The example sidecar (conf.d/sidecar.conf + conf.d/sidecar-backends.conf),
# run as shipped except for its port numbers: inbound traffic to the app
# with its trace continued, outbound calls routed by Host over
# health-checked groups, a server taken out and back, the JSON log and the
# metrics.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use JSON::PP;
use Test::More;

use Meshgate::Test;

my $t = Meshgate::Test->new(workers => 2);
$t->need_module_or_skip;
$t->need('promtool');

my %port_of = (15006 => 'main', 15001 => 'outbound', 15090 => 'metrics',
               8000 => 'app', 9311 => 'users_a', 9312 => 'users_b',
               9321 => 'orders_a');


my ($sidecar, $sseen) = $t->example('sidecar.conf', \%port_of);
# the direction map names the listening ports too
$sidecar =~ s{^(\s+)(15006|15001)(\s+)}{$1 . $t->port($port_of{$2}) . $3}mge;
my ($backends, $bseen) = $t->example('sidecar-backends.conf', \%port_of);
is_deeply([sort keys %{{ %$sseen, %$bseen }}], [sort keys %port_of],
          'the example uses the expected ports');

for my $dir ('', 'conf/') {
    $t->write_file("${dir}meshgate/sidecar.conf", $sidecar);
    $t->write_file("${dir}meshgate/sidecar-backends.conf", $backends);
}
mkdir $t->path("meshgate/www/$_") for qw(app users-a users-b orders-a);

my $http = <<'EOF';
    include meshgate/sidecar.conf;
    include meshgate/sidecar-backends.conf;
EOF

my ($ok, $out) = $t->test_config($http);
ok($ok, 'nginx -t accepts the example') or diag($out);

$t->start($http);

my $json = JSON::PP->new;

sub call {
    my ($port, $path, @h) = @_;
    my $r = $t->request('GET', $path, port => $port, headers => \@h);
    $r->{json} = eval { $json->decode($r->{body}) };
    return $r;
}

# -- inbound ----------------------------------------------------------------

my $trace = '0af7651916cd43dd8448eb211c80319c';
my $caller = 'b7ad6b7169203331';
my $r = call('main', '/work', Host => 'app.svc',
             traceparent => "00-$trace-$caller-01", tracestate => 'vendor=x1');
is($r->{status}, 200, 'inbound: 200');
is($r->{json}{service}, 'app', 'inbound: the app answers');
like($r->{json}{traceparent} // '', qr/^00-$trace-[0-9a-f]{16}-01$/,
     'inbound: the app continues the caller\'s trace');
my ($hop) = ($r->{json}{traceparent} // '') =~ /^00-$trace-([0-9a-f]{16})-/;
isnt($hop, $caller, 'inbound: with the sidecar\'s span as parent');
is($r->{json}{tracestate}, 'vendor=x1', 'inbound: tracestate unchanged');

$r = call('main', '/work', Host => 'app.svc');
like($r->{json}{traceparent} // '', qr/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/,
     'inbound without a trace: one is started');
unlike($r->{json}{traceparent} // '', qr/$trace/, 'a new trace id');

# -- outbound ---------------------------------------------------------------

# the app's own call, in the same trace, with the span the app made
my $app_span = 'aaaaaaaaaaaaaaaa';
$r = call('outbound', '/users/7', Host => 'users.svc',
          traceparent => "00-$trace-$app_span-01");
is($r->{status}, 200, 'outbound users.svc: 200');
is($r->{json}{service}, 'users', 'outbound users.svc: the users group');
like($r->{json}{traceparent} // '', qr/^00-$trace-[0-9a-f]{16}-01$/,
     'outbound: the same trace goes on');

$r = call('outbound', '/orders/7', Host => 'orders.svc');
is($r->{json}{server}, 'orders-a', 'outbound orders.svc: the orders group');

$r = call('outbound', '/', Host => 'billing.svc');
is($r->{status}, 404, 'outbound to an unknown service: 404');
is($r->{json}{host}, 'billing.svc', 'naming the service');

my %seen;
$seen{ call('outbound', '/', Host => 'users.svc')->{json}{server} // 'none' }++
    for 1 .. 6;
is_deeply([sort keys %seen], ['users-a', 'users-b'], 'both users servers answer');

# -- a server out and back ----------------------------------------------------

my $users_b = '127.0.0.1:' . $t->port('users_b');
$t->write_file('meshgate/www/users-b/draining', '');
ok($t->wait_for_log(qr/upstream "sidecar_users" peer \Q$users_b\E is down/, 8),
   'users-b draining: down after two failed checks');
%seen = ();
$seen{ call('outbound', '/', Host => 'users.svc')->{json}{server} // 'none' }++
    for 1 .. 10;
is_deeply(\%seen, { 'users-a' => 10 }, 'no traffic to users-b while it is down')
    or diag(explain \%seen);

unlink $t->path('meshgate/www/users-b/draining');
ok($t->wait_for_log(qr/upstream "sidecar_users" peer \Q$users_b\E is up/, 8),
   'users-b healthy: up again');

# -- log and metrics ------------------------------------------------------------

my @lines = map { eval { $json->decode($_) } // () }
            split /\n/, $t->read_file('logs/sidecar.access.log');
my ($in) = grep { $_->{direction} eq 'inbound' && $_->{trace_id} eq $trace } @lines;
ok($in, 'log: the inbound request, with its trace id');
is($in->{parent_span_id}, $caller, 'log: the caller\'s span as parent');
is($in->{span_id}, $hop, 'log: the span the app saw');
my ($outb) = grep { $_->{direction} eq 'outbound' && $_->{trace_id} eq $trace } @lines;
is($outb->{parent_span_id}, $app_span, 'log: the outbound call, child of the app\'s span');

$r = $t->request('GET', '/metrics', port => 'metrics');
is($r->{status}, 200, 'metrics: 200');
my $m = $r->{body};
like($m, qr/^meshgate_http_requests_total\{route="inbound",method="GET",code="200"\} 2$/m,
     'metrics: inbound requests');
like($m, qr/^meshgate_http_requests_total\{route="unknown",method="GET",code="404"\} 1$/m,
     'metrics: the unknown service');
like($m, qr/^meshgate_upstream_peer_up\{upstream="sidecar_users",peer="\Q$users_b\E"\} 1$/m,
     'metrics: users-b up');
like($m, qr/^meshgate_health_checks_total\{upstream="sidecar_users",peer="\Q$users_b\E",result="fail"\} [1-9]/m,
     'metrics: its failed checks');
$t->write_file('scrape.txt', $m);
my $check = `promtool check metrics < ${\ $t->path('scrape.txt')} 2>&1`;
is($?, 0, 'promtool check metrics accepts the scrape') or diag($check);

done_testing;
