#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# meshgate: health state across reloads.  A peer that is down stays down
# through a reload (no traffic to it from the new workers' first request
# on, and no new transition logged), a peer that is up stays up even when
# the new configuration makes the check "mandatory", and a peer added by
# the reload is checked like a new one.  A probe in flight (to a socket
# that never answers, with a long proxy_read_timeout) does not hold old
# workers back: they close it and leave at once, without leaving sockets
# open, and so does a graceful stop.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use IO::Select;
use IO::Socket::INET;
use Test::More;
use Time::HiRes qw(sleep time);

use Meshgate::Test;

my $t = Meshgate::Test->new(workers => 2);
$t->need_module_or_skip;

my $p = $t->prefix;

my $silent = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                   LocalPort => $t->port('silent'),
                                   Listen => 64, ReuseAddr => 1)
    or die "listen: $!\n";

sub conf {
    my (%o) = @_;
    my $servers = join '', map { "        server 127.0.0.1:%%PORT_$_%%;\n" }
                           @{$o{peers}};
    my $mandatory = $o{mandatory} ? ' mandatory' : '';

    my $backends = '';
    for my $b (qw(b1 b2 b3)) {
        $backends .= <<"EOF";
    server {
        listen 127.0.0.1:%%PORT_$b%%;
        access_log off;

        location / {
            return 200 "$b\\n";
        }

        location = /health {
            if (-f %%PREFIX%%/$b.down) {
                return 500;
            }

            return 200 "ok\\n";
        }
    }
EOF
    }

    return <<"EOF" . $backends;
    upstream u {
        zone u 64k;
$servers    }

    upstream hang {
        zone hang 64k;
        server 127.0.0.1:%%PORT_b1%%;
    }

    server {
        listen 127.0.0.1:%%PORT_main%%;

        location / {
            proxy_pass http://u;
            health_check interval=200ms uri=/health$mandatory;
        }

        location /hang {
            proxy_pass http://hang;
            proxy_read_timeout 30s;
            health_check port=%%PORT_silent%%;
        }
    }
EOF
}

sub traffic {
    my ($n) = @_;
    my %seen;
    for (1 .. $n) {
        my $r = $t->get('/');
        my $b = $r->{body} // '';
        chomp $b;
        $seen{$b || 'status ' . ($r->{status} // 'none')}++;
    }
    return \%seen;
}

sub count {
    my ($re) = @_;
    my @m = $t->error_log =~ /$re/g;
    return scalar @m;
}

my $b1 = '127.0.0.1:' . $t->port('b1');
my $b2 = '127.0.0.1:' . $t->port('b2');
my $b3 = '127.0.0.1:' . $t->port('b3');

$t->start(conf(peers => [qw(b1 b2)]));

$t->write_file('b1.down', '');

ok($t->wait_for_log(qr/upstream "u" peer \Q$b1\E is down/, 5), 'b1 down');
is_deeply(traffic(10), { b2 => 10 }, 'traffic to b2 only');

# a probe of "hang" waits on the silent socket: take its connection, read
# its request, and never answer

ok(IO::Select->new($silent)->can_read(5), 'a probe connects to "hang"');
my $probe = $silent->accept;
my $req = '';
while ($req !~ /\r\n\r\n/ && IO::Select->new($probe)->can_read(5)) {
    sysread($probe, $req, 4096, length $req) or last;
}
like($req, qr{^GET / HTTP/1\.0\r\nHost: hang\r\n}, 'its request');

my $t0 = time;
ok($t->reload, 'reload with the probe in flight');
my $took = time - $t0;

cmp_ok($took, '<', 3, sprintf('old workers left at once (%.1f s)', $took));

my $eof = IO::Select->new($probe)->can_read(5)
          && !sysread($probe, my $buf, 4096);
ok($eof, 'the old worker closed the probe');
close $probe;

is_deeply(traffic(10), { b2 => 10 }, 'b1 still down after the reload');
is(count(qr/peer \Q$b1\E is down/), 1, 'no new transition for b1');
is(count(qr/peer \Q$b1\E is up/), 0, 'and never up');

unlink "$p/b1.down";

ok($t->wait_for_log(qr/upstream "u" peer \Q$b1\E is up/, 5), 'b1 back up');
is_deeply(traffic(10), { b1 => 5, b2 => 5 }, 'traffic to both');

# the check becomes mandatory and b3 is added: b1 and b2 keep their state

ok($t->reload(conf(peers => [qw(b1 b2 b3)], mandatory => 1)),
   'reload: mandatory, one more peer');

my %first = %{ traffic(1) };
ok(!$first{'status 502'}, 'first request after the reload served');

ok($t->wait_for_log(qr/upstream "u" peer \Q$b3\E is up/, 5),
   'new peer up after its first probe');

is_deeply(traffic(30), { b1 => 10, b2 => 10, b3 => 10 },
          'traffic to all three');
is(count(qr/peer \Q$b1\E is (?:up|down)/), 2, 'b1: no new transition');
is(count(qr/peer \Q$b2\E is (?:up|down)/), 0, 'b2: none at all');

# a removed peer's state is forgotten: back after two reloads, it is new
# again, and its failing first probe (mandatory) is a transition of its own

$t->write_file('b3.down', '');
ok($t->wait_for_log(qr/peer \Q$b3\E is down/, 5), 'b3 down');

ok($t->reload(conf(peers => [qw(b1 b2)], mandatory => 1)), 'b3 removed');
ok($t->reload(conf(peers => [qw(b1 b2)], mandatory => 1)), 'reload again');
ok($t->reload(conf(peers => [qw(b1 b2 b3)], mandatory => 1)), 'b3 back');

ok($t->wait_for_log(qr/peer \Q$b3\E is down(?:.*\n)+.*peer \Q$b3\E is down/,
                    5), 'b3 checked afresh');
is(count(qr/peer \Q$b3\E is down/), 2, 'down once more');
is_deeply(traffic(10), { b1 => 5, b2 => 5 }, 'no traffic to b3');

# a graceful stop does not wait for the probe in flight either

$t0 = time;
ok($t->stop, 'stopped');
$took = time - $t0;
cmp_ok($took, '<', 3, sprintf('at once (%.1f s)', $took));

unlike($t->error_log, qr/open socket/, 'no socket left open');

close $silent;

done_testing;
