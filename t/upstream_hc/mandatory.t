#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# meshgate: "mandatory" keeps a peer out until its first probe passes.
# The probes of two one-peer groups go (port=) to a socket that accepts
# connections and never answers, so their first probe lasts until
# proxy_read_timeout: meanwhile the mandatory group has no live peer (502)
# while the other one uses its peer; then both probes time out and both
# peers are down.  A third mandatory group whose probe passes takes
# traffic once it has.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use IO::Socket::INET;
use Test::More;
use Time::HiRes qw(sleep time);

use Meshgate::Test;

my $t = Meshgate::Test->new(workers => 1);
$t->need_module_or_skip;

# connections complete in the kernel's backlog, and nothing is ever read
my $silent = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                   LocalPort => $t->port('silent'),
                                   Listen => 64, ReuseAddr => 1)
    or die "listen: $!\n";

my $started = time;

$t->start(<<'EOF');
    upstream m {
        zone m 64k;
        server 127.0.0.1:%%PORT_b%%;
    }

    upstream n {
        zone n 64k;
        server 127.0.0.1:%%PORT_b%%;
    }

    upstream g {
        zone g 64k;
        server 127.0.0.1:%%PORT_b%%;
    }

    server {
        listen 127.0.0.1:%%PORT_main%%;

        proxy_read_timeout 3s;

        location /m {
            proxy_pass http://m;
            health_check port=%%PORT_silent%% mandatory;
        }

        location /n {
            proxy_pass http://n;
            health_check port=%%PORT_silent%%;
        }

        location /g {
            proxy_pass http://g;
            health_check uri=/health mandatory;
        }
    }

    server {
        listen 127.0.0.1:%%PORT_b%%;
        access_log off;

        location / {
            return 200 "b\n";
        }
    }
EOF

my $b = '127.0.0.1:' . $t->port('b');

# while the first probes hang

my %st;
for (1 .. 5) {
    $st{m}{$t->get('/m')->{status} // 'none'}++;
    $st{n}{$t->get('/n')->{status} // 'none'}++;
}

my $early = time - $started < 2.5;

SKIP: {
    skip 'too slow to catch the first probes in flight', 2 unless $early;

    is_deeply($st{m}, { 502 => 5 }, 'mandatory: no traffic before the '
              . 'first probe') or diag explain $st{m};
    is_deeply($st{n}, { 200 => 5 }, 'not mandatory: traffic before the '
              . 'first probe') or diag explain $st{n};
}

ok($t->wait_for_log(qr/upstream "g" peer \Q$b\E is up \(health check: status 200\)/,
                    5), 'mandatory peer whose probe passes is up');
is($t->get('/g')->{status}, 200, 'and takes traffic');

# the hanging probes time out

ok($t->wait_for_log(qr/\[warn\].*upstream "m" peer \Q$b\E is down \(health check: timed out reading the response\)/,
                    5), 'mandatory peer down when its first probe times out');
ok($t->wait_for_log(qr/\[warn\].*upstream "n" peer \Q$b\E is down \(health check: timed out reading the response\)/,
                    5), 'the other one too');

is($t->get('/m')->{status}, 502, 'no traffic to m');
is($t->get('/n')->{status}, 502, 'no traffic to n');

# only a warning per transition: the mandatory peer's first verdict, and
# the other one going down

my @m = $t->error_log =~ /\[warn\].*upstream "m" peer/g;
my @n = $t->error_log =~ /\[warn\].*upstream "n" peer/g;
is(scalar @m + scalar @n, 2, 'one warning each');

close $silent;

done_testing;
