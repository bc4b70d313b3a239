#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# meshgate: active health checks take a peer out when its health location
# starts answering 500 and put it back when it recovers.  Two workers share
# the probing: a peer is probed by one of them at a time, at the interval,
# and both stop sending it traffic as soon as the check fails.  Every
# client request is checked, through $upstream_addr in the proxy's access
# log, never to have been sent (nor tried) to the peer while it was down.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Test::More;
use Time::HiRes qw(sleep time);

use Meshgate::Test;

my $t = Meshgate::Test->new(workers => 2);
$t->need_module_or_skip;

my $p = $t->prefix;

$t->start(<<'EOF');
    log_format up '$arg_n $upstream_addr $upstream_status';
    log_format probe '$msec $uri $status';

    upstream u {
        zone u 64k;
        server 127.0.0.1:%%PORT_b1%% max_fails=0;
        server 127.0.0.1:%%PORT_b2%% max_fails=0;
    }

    server {
        listen 127.0.0.1:%%PORT_main%%;
        access_log %%PREFIX%%/proxy.log up;

        location / {
            proxy_pass http://u;
            proxy_connect_timeout 1s;
            proxy_read_timeout 2s;
            health_check interval=200ms uri=/health;
        }
    }

    server {
        listen 127.0.0.1:%%PORT_b1%%;
        access_log %%PREFIX%%/b1.log probe;

        location / {
            return 200 "b1\n";
        }

        location = /health {
            if (-f %%PREFIX%%/b1.down) {
                return 500;
            }

            return 200 "ok\n";
        }
    }

    server {
        listen 127.0.0.1:%%PORT_b2%%;
        access_log %%PREFIX%%/b2.log probe;

        location / {
            return 200 "b2\n";
        }

        location = /health {
            return 200 "ok\n";
        }
    }
EOF

my $b1 = '127.0.0.1:' . $t->port('b1');
my $b2 = '127.0.0.1:' . $t->port('b2');
my $seq = 0;

# sends $n requests; returns the bodies' backend names by count
sub traffic {
    my ($n) = @_;
    my %seen;
    for (1 .. $n) {
        $seq++;
        my $r = $t->get("/?n=$seq");
        my $who = ($r->{status} // 0) == 200 ? $r->{body} : "status "
            . ($r->{status} // 'none');
        chomp $who;
        $seen{$who}++;
    }
    return \%seen;
}

# the proxy log lines of requests numbered above $from
sub proxied_after {
    my ($from) = @_;
    my @l;
    for my $line (split /\n/, $t->read_file('proxy.log')) {
        my ($n, $rest) = split / /, $line, 2;
        push @l, $rest if $n =~ /^\d+$/ && $n > $from;
    }
    return @l;
}

ok($t->wait_for_log(qr{/health 200}, 5, 'b1.log')
   && $t->wait_for_log(qr{/health 200}, 5, 'b2.log'), 'both peers probed');

my $seen = traffic(20);
is_deeply($seen, { b1 => 10, b2 => 10 }, 'both peers take traffic')
    or diag explain $seen;

# b1's health location fails

$t->write_file('b1.down', '');

my $down = qr/\[warn\].*upstream "u" peer \Q$b1\E is down \(health check: status 500\)/;

ok($t->wait_for_log($down, 5), 'transition to down logged as a warning');

my $mark = $seq;
$seen = traffic(30);
is_deeply($seen, { b2 => 30 }, 'all requests go to b2 once b1 is down')
    or diag explain $seen;

my @tried = grep { /\Q$b1\E/ } proxied_after($mark);
is(scalar @tried, 0, 'b1 was not even tried while down')
    or diag join "\n", @tried;

# it stays down while it keeps failing, and is not reported again

sleep 0.6;

$mark = $seq;
$seen = traffic(10);
is_deeply($seen, { b2 => 10 }, 'still down after more failed probes');

# b1 recovers

unlink "$p/b1.down";

my $up = qr/\[warn\].*upstream "u" peer \Q$b1\E is up \(health check: status 200\)/;

ok($t->wait_for_log($up, 5), 'transition to up logged as a warning');

$seen = traffic(20);
is_deeply($seen, { b1 => 10, b2 => 10 }, 'b1 takes traffic again')
    or diag explain $seen;

my $log = $t->error_log;
my @downs = $log =~ /peer \Q$b1\E is down/g;
my @ups = $log =~ /peer \Q$b1\E is up/g;
is(scalar @downs, 1, 'one down transition logged');
is(scalar @ups, 1, 'one up transition logged');
unlike($log, qr/peer \Q$b2\E is (?:up|down)/, 'b2 never changed');

# one probe at a time per peer: b2's probes (it always passes) come at
# least an interval apart, however many workers there are

my @probes = map { (split / /)[0] }
             grep { m{ /health } } split /\n/, $t->read_file('b2.log');

ok(@probes >= 5, 'b2 was probed a number of times (' . @probes . ')');

my $min;
for my $i (1 .. $#probes) {
    my $gap = $probes[$i] - $probes[$i - 1];
    $min = $gap if !defined $min || $gap < $min;
}

cmp_ok($min, '>=', 0.19, 'probes of a peer are at least an interval apart');

my $span = $probes[-1] - $probes[0];
cmp_ok(scalar @probes, '<=', $span / 0.2 + 2,
       'no more probes than one per interval');

done_testing;
