#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# meshgate: `match` tests against real responses.  Each case is an upstream
# group of one peer, checked with "mandatory" through a location of its
# own: the peer stays out until its first probe, which either passes (the
# location then proxies, 200) or fails (no live peer, 502).  The backend
# answers each probed URI with a known status, headers and body.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Test::More;

use Meshgate::Test;

my $t = Meshgate::Test->new(workers => 1);
$t->need_module_or_skip;

# a body larger than the 256 KB that body tests look at, with a marker at
# each end
$t->write_file('big.txt', 'START' . ('x' x (300 * 1024)) . "END\n");

# [ name, match block (undef: none), probed uri, expected up (1) or down ]
my @cases = (
    [ 'status_200',        'status 200;',                 '/ok',    1 ],
    [ 'status_200_500',    'status 200;',                 '/e500',  0 ],
    [ 'not_500_on_500',    'status ! 500;',               '/e500',  0 ],
    [ 'not_500_on_200',    'status ! 500;',               '/ok',    1 ],
    [ 'list_on_404',       'status 200 204;',             '/e404',  0 ],
    [ 'list_on_204',       'status 200 204;',             '/n204',  1 ],
    [ 'range_on_302',      'status 200-399;',             '/r302',  1 ],
    [ 'not_range_on_404',  'status ! 400-599;',           '/e404',  0 ],
    [ 'not_range_on_200',  'status ! 400-599;',           '/ok',    1 ],
    [ 'mixed_on_302',      'status 301-303 307;',         '/r302',  1 ],
    [ 'mixed_on_200',      'status 301-303 307;',         '/ok',    0 ],
    [ 'eq_ok',             'header X-Mode = production;', '/ok',    1 ],
    [ 'eq_maint',          'header X-Mode = production;', '/maint', 0 ],
    [ 'eq_prefix',         'header X-Mode = prod;',       '/ok',    0 ],
    [ 'name_case',         'header x-mode = production;', '/ok',    1 ],
    [ 'value_case',        'header X-Mode = Production;', '/ok',    0 ],
    [ 'ne_maint',          'header X-Mode != production;', '/maint', 1 ],
    [ 'ne_ok',             'header X-Mode != production;', '/ok',   0 ],
    [ 'ne_missing',        'header X-Mode != production;', '/e500', 0 ],
    [ 're_ok',             'header X-Mode ~ ^prod;',      '/ok',    1 ],
    [ 're_maint',          'header X-Mode ~ ^prod;',      '/maint', 0 ],
    [ 'nre_ok',            'header X-Mode !~ ^prod;',     '/ok',    0 ],
    [ 'nre_maint',         'header X-Mode !~ ^prod;',     '/maint', 1 ],
    [ 'present_ok',        'header X-Mode;',              '/ok',    1 ],
    [ 'present_missing',   'header X-Mode;',              '/e500',  0 ],
    [ 'absent_ok',         'header ! X-Mode;',            '/ok',    0 ],
    [ 'absent_missing',    'header ! X-Mode;',            '/e500',  1 ],
    [ 'second_field',      'header X-Multi = two;',       '/ok',    1 ],
    [ 'body_ok',           'body ~ "systems operational";', '/ok',  1 ],
    [ 'body_maint',        'body ~ "systems operational";', '/maint', 0 ],
    [ 'nbody_maint',       'body !~ "maintenance";',      '/maint', 0 ],
    [ 'nbody_ok',          'body !~ "maintenance";',      '/ok',    1 ],
    [ 'body_regex',        'body ~ "^all [a-z]+ oper";',  '/ok',    1 ],
    [ 'body_start',        'body ~ START;',               '/big',   1 ],
    [ 'body_after_256k',   'body ~ END;',                 '/big',   0 ],
    [ 'body_empty',        'body ~ ".";',                 '/n204',  0 ],
    [ 'all_of_them',       "status 200;\n header Content-Type ~ text/plain;"
                           . "\n body ~ operational;",    '/ok',    1 ],
    [ 'all_but_one',       "status 200;\n header Content-Type ~ text/plain;"
                           . "\n body ~ operational;",    '/maint', 0 ],
    [ 'empty_match',       '',                            '/e500',  1 ],
    [ 'default_200',       undef,                         '/ok',    1 ],
    [ 'default_302',       undef,                         '/r302',  1 ],
    [ 'default_404',       undef,                         '/e404',  0 ],
    [ 'default_500',       undef,                         '/e500',  0 ],
);

my $conf = <<'EOF';
    server {
        listen 127.0.0.1:%%PORT_b%%;
        access_log off;
        default_type text/plain;

        location = /ok {
            add_header X-Mode production always;
            add_header X-Multi one always;
            add_header X-Multi two always;
            return 200 "all systems operational\n";
        }

        location = /maint {
            add_header X-Mode maintenance always;
            return 200 "maintenance mode\n";
        }

        location = /e500 { return 500 "broken\n"; }
        location = /e404 { return 404; }
        location = /n204 { return 204; }
        location = /r302 { return 302 /elsewhere; }

        location = /big {
            alias %%PREFIX%%/big.txt;
        }

        location / {
            return 200 "proxied\n";
        }
    }

    server {
        listen 127.0.0.1:%%PORT_main%%;
EOF

my $i = 0;
my $matches = '';
my $upstreams = '';

for my $c (@cases) {
    my ($name, $match, $uri) = @$c;
    $i++;

    $upstreams .= "    upstream $name {\n        zone z$i 64k;\n"
        . "        server 127.0.0.1:%%PORT_b%%;\n    }\n";

    my $m = '';
    if (defined $match) {
        $matches .= "    match m_$name {\n        $match\n    }\n";
        $m = " match=m_$name";
    }

    $conf .= "        location /$name {\n"
        . "            proxy_pass http://$name;\n"
        . "            health_check interval=1s uri=$uri$m mandatory;\n"
        . "        }\n";
}

$conf .= "    }\n";

$t->start($upstreams . $matches . $conf);

my $b = '127.0.0.1:' . $t->port('b');

# every peer gets its verdict from its first probe

my $all = 1;
for my $c (@cases) {
    $all &&= $t->wait_for_log(qr/upstream "$c->[0]" peer \Q$b\E is (?:up|down)/,
                              5);
}
ok($all, 'every case has its first verdict');

my $log = $t->error_log;

for my $c (@cases) {
    my ($name, $match, $uri, $up) = @$c;

    my ($state) = $log =~ /upstream "$name" peer \Q$b\E is (up|down)/;
    my $r = $t->get("/$name");

    my $what = defined $match ? ($match eq '' ? 'empty match' : $match)
                              : 'no match';
    $what =~ s/\s+/ /g;

    is($state // 'none', $up ? 'up' : 'down', "$what on $uri: $name");
    is($r->{status}, $up ? 200 : 502, "$name: traffic follows the verdict");
}

# a failed match says which test failed

like($log, qr/upstream "eq_maint" peer \Q$b\E is down \(health check: status 200, "header X-Mode = production" of match "m_eq_maint" fails\)/,
     'the failed test is named in the log');

like($log, qr/upstream "status_200" peer \Q$b\E is up \(health check: status 200, match "m_status_200"\)/,
     'a passed match is named too');

done_testing;
