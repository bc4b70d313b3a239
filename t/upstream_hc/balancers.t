#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# meshgate: hash, consistent hash, ip_hash, least_conn and random skip a
# peer that a health check marks down, as round-robin does.  For each
# balancer, the peer a given key (or this client's address) goes to is
# found first, then its health location fails: the key moves to another
# peer, and no request reaches the one that is down.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Test::More;

use Meshgate::Test;

my $t = Meshgate::Test->new(workers => 1);
$t->need_module_or_skip;

my $p = $t->prefix;

my %balancers = (
    hash       => 'hash $arg_k;',
    consistent => 'hash $arg_k consistent;',
    ip_hash    => 'ip_hash;',
    least_conn => 'least_conn;',
    random     => 'random;',
);

my $conf = '';

for my $name (sort keys %balancers) {
    $conf .= "    upstream $name {\n        zone $name 64k;\n"
        . "        $balancers{$name}\n"
        . join('', map { "        server 127.0.0.1:%%PORT_${name}_$_%%;\n" }
                       1 .. 3)
        . "    }\n";

    for my $i (1 .. 3) {
        $conf .= <<"EOF";
    server {
        listen 127.0.0.1:%%PORT_${name}_$i%%;
        access_log off;

        location / {
            return 200 "$i\\n";
        }

        location = /health {
            if (-f %%PREFIX%%/$name.$i.down) {
                return 500;
            }

            return 200 "ok\\n";
        }
    }
EOF
    }
}

$conf .= "    server {\n        listen 127.0.0.1:%%PORT_main%%;\n";

for my $name (sort keys %balancers) {
    $conf .= <<"EOF";
        location /$name {
            proxy_pass http://$name;
            health_check interval=200ms uri=/health;
        }
EOF
}

$conf .= "    }\n";

$t->start($conf);

sub backend {
    my ($uri) = @_;
    my $r = $t->get($uri);
    my $b = $r->{body} // '';
    chomp $b;
    return $b || 'status ' . ($r->{status} // 'none');
}

for my $name (sort keys %balancers) {
    my $uri = "/$name?k=some-key";

    my $target = backend($uri);
    like($target, qr/^[123]$/, "$name: key goes to peer $target");

    $t->write_file("$name.$target.down", '');

    my $addr = '127.0.0.1:' . $t->port("${name}_$target");
    ok($t->wait_for_log(qr/upstream "$name" peer \Q$addr\E is down/, 5),
       "$name: peer $target down");

    my %seen;
    $seen{backend("/$name?k=key$_")}++ for 1 .. 30;
    $seen{backend($uri)}++ for 1 .. 10;

    ok(!$seen{$target}, "$name: no request to peer $target")
        or diag explain \%seen;
    is(scalar(grep { /^status/ } keys %seen), 0, "$name: all answered");
}

done_testing;
