#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# meshgate: a backend that stops is taken out by its failed probes
# (connection refused) and put back when it starts again.  The backend is
# a second nginx, stopped and started by the test; passive checks are off
# (max_fails=0), so without the health check every other request would
# still try the stopped backend first: $upstream_addr in the proxy's log
# shows that no request tried it after the check failed.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Test::More;
use Time::HiRes qw(sleep time);

use Meshgate::Test;

my $t = Meshgate::Test->new(workers => 2);
$t->need_module_or_skip;

my $backend = Meshgate::Test->new(workers => 1);

my $b1 = '127.0.0.1:' . $backend->port('b1');
my $b2 = '127.0.0.1:' . $t->port('b2');

my $backend_conf = <<'EOF';
    server {
        listen 127.0.0.1:%%PORT_b1%%;
        access_log %%PREFIX%%/b1.log;

        location / {
            return 200 "b1\n";
        }
    }
EOF

$backend->start($backend_conf, no_module => 1);

$t->start(<<"EOF");
    log_format up '\$arg_n \$upstream_addr \$upstream_status';

    upstream u {
        zone u 64k;
        server $b1 max_fails=0;
        server $b2 max_fails=0;
    }

    server {
        listen 127.0.0.1:%%PORT_main%%;
        access_log %%PREFIX%%/proxy.log up;

        location / {
            proxy_pass http://u;
            proxy_connect_timeout 1s;
            proxy_read_timeout 2s;
            health_check interval=200ms;
        }
    }

    server {
        listen $b2;
        access_log off;

        location / {
            return 200 "b2\\n";
        }
    }
EOF

my $seq = 0;

sub traffic {
    my ($n) = @_;
    my %seen;
    for (1 .. $n) {
        $seq++;
        my $r = $t->get("/?n=$seq");
        my $who = ($r->{status} // 0) == 200 ? $r->{body}
            : 'status ' . ($r->{status} // 'none');
        chomp $who;
        $seen{$who}++;
    }
    return \%seen;
}

# the proxy log lines of requests numbered above $from that tried $addr
sub tried_after {
    my ($from, $addr) = @_;
    my @l;
    for my $line (split /\n/, $t->read_file('proxy.log')) {
        my ($n, $rest) = split / /, $line, 2;
        push @l, $rest
            if $n =~ /^\d+$/ && $n > $from && $rest =~ /\Q$addr\E/;
    }
    return @l;
}

ok($backend->wait_for_log(qr{"GET / HTTP/1\.0"}, 5, 'b1.log'),
   'b1 probed, with GET / HTTP/1.0 by default');
like($backend->read_file('b1.log'), qr/"meshgate health check"/,
     'the probe says what it is');

my $seen = traffic(10);
is_deeply($seen, { b1 => 5, b2 => 5 }, 'both peers take traffic')
    or diag explain $seen;

# b1 goes away

$backend->stop;

ok($t->wait_for_log(qr/\[warn\].*peer \Q$b1\E is down \(health check: connect\(\) failed/,
                    5),
   'stopped backend marked down');

my $mark = $seq;
$seen = traffic(20);
is_deeply($seen, { b2 => 20 }, 'all requests go to b2')
    or diag explain $seen;

my @tried = tried_after($mark, $b1);
is(scalar @tried, 0, 'no request tried the stopped backend')
    or diag join "\n", @tried;

# b1 comes back on the same port

$backend->start($backend_conf, no_module => 1);

ok($t->wait_for_log(qr/\[warn\].*peer \Q$b1\E is up/, 5),
   'restarted backend marked up');

$seen = traffic(10);
is_deeply($seen, { b1 => 5, b2 => 5 }, 'b1 takes traffic again')
    or diag explain $seen;

# the whole group down: the balancer finds no live peer, and tries none

$backend->stop;

ok($t->wait_for_log(qr/is up(?:.*\n)+.*peer \Q$b1\E is down/, 5),
   'b1 down again');

my $r = $t->get('/?n=1000');
is($r->{status}, 200, 'b2 alone still answers');

done_testing;
