#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# meshgate: the health checks in the Prometheus metrics.  The peer's `up`
# gauge goes 1 -> 0 -> 1 as its health location fails and recovers, with
# the probe counters and the consecutive failures alongside; a peer that
# is "down" in the configuration is 0 and never probed.  Needs the metrics
# module (metrics_zone, metrics_export): skipped when nginx does not know
# its directives.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Test::More;

use Meshgate::Test;

my $t = Meshgate::Test->new(workers => 2);
$t->need_module_or_skip;

my $conf = <<'EOF';
    metrics_zone m 1m;

    upstream u {
        zone u 64k;
        server 127.0.0.1:%%PORT_b1%%;
        server 127.0.0.1:%%PORT_b2%%;
        server 127.0.0.1:%%PORT_b3%% down;
    }

    server {
        listen 127.0.0.1:%%PORT_main%%;

        location / {
            proxy_pass http://u;
            health_check interval=200ms uri=/health;
        }

        location = /metrics {
            metrics_export m;
        }
    }

    server {
        listen 127.0.0.1:%%PORT_b1%%;
        listen 127.0.0.1:%%PORT_b2%%;
        listen 127.0.0.1:%%PORT_b3%%;
        access_log off;

        location / {
            return 200 "ok\n";
        }

        location = /health {
            if (-f %%PREFIX%%/$server_port.down) {
                return 500;
            }

            return 200 "ok\n";
        }
    }
EOF

my ($ok, $out) = $t->test_config($conf);

if (!$ok && $out =~ /unknown directive "metrics_zone"/) {
    plan(skip_all => 'metrics module not built');
}

ok($ok, 'configuration accepted') or diag $out;

$t->start($conf);

my $u = 'upstream="u"';
my $b1 = 'peer="127.0.0.1:' . $t->port('b1') . '"';
my $b2 = 'peer="127.0.0.1:' . $t->port('b2') . '"';
my $b3 = 'peer="127.0.0.1:' . $t->port('b3') . '"';

# the samples of the health check families, by "name{labels}"
sub scrape {
    my $r = $t->get('/metrics');
    is($r->{status}, 200, 'metrics served');

    my (%s, %type, %help);
    for my $l (split /\n/, $r->{body}) {
        if ($l =~ /^# TYPE (\S+) (\S+)$/) {
            my ($name, $type) = ($1, $2);
            $type{$name}++;
            is($type, $name =~ /_total$/ ? 'counter' : 'gauge',
               "type of $name")
                if $name =~ /^meshgate_(?:upstream_peer_up|health_checks_total|upstream_peer_health_fails)$/;
            next;
        }
        $help{$1}++ if $l =~ /^# HELP (\S+) \S/;
        next if $l =~ /^#/ || $l eq '';
        if ($l =~ /^(meshgate_(?:upstream_peer_up|health_checks_total|upstream_peer_health_fails)\{[^}]*\}) (\d+)$/) {
            ok(!exists $s{$1}, "$1 once");
            $s{$1} = $2;
        }
    }

    for my $f (qw(meshgate_upstream_peer_up meshgate_health_checks_total
                  meshgate_upstream_peer_health_fails))
    {
        is($type{$f}, 1, "one TYPE line for $f");
        is($help{$f}, 1, "one HELP line for $f");
    }

    return \%s;
}

sub up     { $_[0]{"meshgate_upstream_peer_up{$u,$_[1]}"} }
sub passes { $_[0]{"meshgate_health_checks_total{$u,$_[1],result=\"pass\"}"} }
sub fails  { $_[0]{"meshgate_health_checks_total{$u,$_[1],result=\"fail\"}"} }
sub run    { $_[0]{"meshgate_upstream_peer_health_fails{$u,$_[1]}"} }

is($t->get('/')->{status}, 200, 'proxying');

# wait for a probe of each peer to have passed
my $s;
for (1 .. 50) {
    $s = scrape();
    last if (passes($s, $b1) // 0) > 0 && (passes($s, $b2) // 0) > 0;
    select undef, undef, undef, 0.1;
}

is(up($s, $b1), 1, 'b1 up');
is(up($s, $b2), 1, 'b2 up');
is(up($s, $b3), 0, 'b3, down in the configuration, is 0');
cmp_ok(passes($s, $b1), '>=', 1, 'b1 passed probes counted');
is(fails($s, $b1), 0, 'b1 no failed probe');
is(run($s, $b1), 0, 'b1 no consecutive failures');
is(passes($s, $b3), 0, 'b3 never probed');
is(fails($s, $b3), 0, 'b3 never failed');

# b1 fails

$t->write_file($t->port('b1') . '.down', '');

my $addr = '127.0.0.1:' . $t->port('b1');
ok($t->wait_for_log(qr/peer \Q$addr\E is down/, 5), 'b1 down');

$s = scrape();
is(up($s, $b1), 0, 'b1 up gauge 0');
is(up($s, $b2), 1, 'b2 still 1');
cmp_ok(fails($s, $b1), '>=', 1, 'b1 failed probes counted');
cmp_ok(run($s, $b1), '>=', 1, 'b1 consecutive failures');

my $passed = passes($s, $b1);

# and recovers

unlink $t->path($t->port('b1') . '.down');

ok($t->wait_for_log(qr/peer \Q$addr\E is up/, 5), 'b1 up again');

$s = scrape();
is(up($s, $b1), 1, 'b1 up gauge back to 1');
is(run($s, $b1), 0, 'consecutive failures reset');
cmp_ok(passes($s, $b1), '>', $passed, 'more passed probes');

done_testing;
