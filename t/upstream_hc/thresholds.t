#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# meshgate: fails= and passes=.  A peer goes down after `fails`
# consecutive failed probes, not before, and comes back after `passes`
# consecutive passed ones; the backend's access log of the health location
# shows what each probe got.  A second check of the same group, on another
# URI, takes the peer down on its own: a peer is up only when every check
# passes it.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Test::More;
use Time::HiRes qw(sleep time);

use Meshgate::Test;

my $t = Meshgate::Test->new(workers => 1);
$t->need_module_or_skip;

my $p = $t->prefix;

$t->start(<<'EOF');
    log_format probe '$uri $status';

    upstream u {
        zone u 64k;
        server 127.0.0.1:%%PORT_b1%%;
        server 127.0.0.1:%%PORT_b2%%;
    }

    server {
        listen 127.0.0.1:%%PORT_main%%;

        location / {
            proxy_pass http://u;
            health_check interval=150ms fails=3 passes=2 uri=/health;
        }

        location /second {
            proxy_pass http://u;
            health_check interval=150ms uri=/ready;
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
                return 503;
            }

            return 200 "ok\n";
        }

        location = /ready {
            if (-f %%PREFIX%%/b1.unready) {
                return 500;
            }

            return 200 "ok\n";
        }
    }

    server {
        listen 127.0.0.1:%%PORT_b2%%;
        access_log off;

        location / {
            return 200 "b2\n";
        }
    }
EOF

my $b1 = '127.0.0.1:' . $t->port('b1');

sub health_statuses {
    return map { (split / /)[1] } grep { m{^/health } }
           split /\n/, $t->read_file('b1.log');
}

sub traffic {
    my %seen;
    for (1 .. 10) {
        my $r = $t->get('/');
        my $b = $r->{body} // '';
        chomp $b;
        $seen{$b || 'status ' . ($r->{status} // 'none')}++;
    }
    return \%seen;
}

ok($t->wait_for_log(qr{^/health 200$}m, 5, 'b1.log'), 'b1 probed');

my $before = () = health_statuses();

$t->write_file('b1.down', '');

ok($t->wait_for_log(qr/peer \Q$b1\E is down \(health check uri=\/health: status 503\)/,
                    5), 'down after failed probes');

my @s = health_statuses();
my @failed = grep { $_ == 503 } @s[$before .. $#s];

# the probe that took it down is logged by the backend before the
# transition; one more may have come since
ok(@failed >= 3 && @failed <= 4, 'it took three failed probes ('
   . scalar(@failed) . ' seen)');

is_deeply(traffic(), { b2 => 10 }, 'no traffic to the peer that is down');

# two passes to come back

$before = () = health_statuses();
unlink "$p/b1.down";

ok($t->wait_for_log(qr/peer \Q$b1\E is up \(health check uri=\/health: status 200\)/,
                    5), 'up after passed probes');

@s = health_statuses();
my @passed = grep { $_ == 200 } @s[$before .. $#s];
ok(@passed >= 2 && @passed <= 3, 'it took two passed probes ('
   . scalar(@passed) . ' seen)');

is_deeply(traffic(), { b1 => 5, b2 => 5 }, 'traffic to both');

# the other check alone takes it down, whatever the first one says

$t->write_file('b1.unready', '');

ok($t->wait_for_log(qr/peer \Q$b1\E is down \(health check uri=\/ready: status 500\)/,
                    5), 'second check takes the peer down');

is_deeply(traffic(), { b2 => 10 }, 'no traffic while one check fails');

unlink "$p/b1.unready";

ok($t->wait_for_log(qr/peer \Q$b1\E is up \(health check uri=\/ready: status 200\)/,
                    5), 'and brings it back');

is_deeply(traffic(), { b1 => 5, b2 => 5 }, 'traffic to both again');

# while one check holds the peer down, the other one's changes are only
# noted (info), and the peer comes back when both pass

$t->write_file('b1.unready', '');
ok($t->wait_for_log(qr/\[warn\].*peer \Q$b1\E is down \(health check uri=\/ready(?:.*\n)+.*\[warn\].*peer \Q$b1\E is down \(health check uri=\/ready/,
                    5), 'down by /ready again');

$t->write_file('b1.down', '');
ok($t->wait_for_log(qr/\[info\].*peer \Q$b1\E is down \(health check uri=\/health: status 503\)/,
                    5), '/health fails too: noted');

unlink "$p/b1.unready";
ok($t->wait_for_log(qr/\[info\].*peer \Q$b1\E is up \(health check uri=\/ready: status 200\), held down by another check/,
                    5), '/ready passes again: noted, the peer stays down');

is_deeply(traffic(), { b2 => 10 }, 'no traffic while /health fails');

unlink "$p/b1.down";
ok($t->wait_for_log(qr/\[warn\].*peer \Q$b1\E is up \(health check uri=\/health(?:.*\n)+.*\[warn\].*peer \Q$b1\E is up \(health check uri=\/health/,
                    5), 'both pass: up');

is_deeply(traffic(), { b1 => 5, b2 => 5 }, 'traffic to both at the end');

done_testing;
