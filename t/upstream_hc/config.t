#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# meshgate: health_check and match configuration, what `nginx -t` accepts
# and what it refuses, with a message naming the directive.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Test::More;
use Meshgate::Test;

my $t = Meshgate::Test->new(workers => 1);
$t->need_module_or_skip;

# an upstream group with a zone, a location proxying to it with $hc, and
# whatever else is given at http level
sub conf {
    my ($hc, %o) = @_;

    my $upstream = $o{upstream} // <<'EOF';
    upstream u {
        zone u 64k;
        server 127.0.0.1:%%PORT_b%%;
    }
EOF

    my $proxy = $o{proxy} // 'proxy_pass http://u;';

    return ($o{http} // '') . $upstream . <<"EOF";
    server {
        listen 127.0.0.1:%%PORT_main%%;

        location / {
            $proxy
            $hc
        }
    }
EOF
}

sub good { $t->config_accepted(@_) }
sub bad  { $t->config_refused(@_) }

my $match = <<'EOF';
    match ok {
        status 200-399;
        header Content-Type ~ text/;
        body !~ "maintenance";
    }
EOF

# --- accepted ----------------------------------------------------------------

good(conf('health_check;'), 'no parameters');

good(conf('health_check interval=10s jitter=1s fails=3 passes=2 uri=/health '
          . 'port=8081 match=ok mandatory persistent;', http => $match),
     'every parameter');

good(conf('health_check match=later;')
     . "    match later {\n        status 200;\n    }\n",
     'match declared after its use');

good(<<'EOF', 'upstream declared after the location');
    server {
        listen 127.0.0.1:%%PORT_main%%;
        location / {
            health_check;
            proxy_pass http://late;
        }
    }

    upstream late {
        zone late 64k;
        server 127.0.0.1:%%PORT_b%%;
    }
EOF

good(conf('health_check uri=/a; health_check uri=/b match=ok;',
          http => $match),
     'two checks in one location');

good(conf('health_check;', upstream => <<'EOF'), 'hash, backup and down');
    upstream u {
        zone u 64k;
        hash $request_uri consistent;
        server 127.0.0.1:%%PORT_b%%;
        server 127.0.0.1:%%PORT_c%% down;
        server localhost:%%PORT_d%%;
    }
EOF

good(conf('health_check;', upstream => <<'EOF'), 'backup servers');
    upstream u {
        zone u 64k;
        server 127.0.0.1:%%PORT_b%%;
        server 127.0.0.1:%%PORT_c%% backup;
    }
EOF

good(conf('health_check;', http => <<'EOF'), 'several groups share a zone');
    upstream v {
        zone u;
        server 127.0.0.1:%%PORT_c%%;
    }
EOF

good(conf('', http => <<'EOF'), 'a match nobody uses');
    match unused {
        status ! 500;
        header ! X-Maintenance;
        header X-Version;
        header X-Mode = "production mode";
        header X-Mode != test;
        header X-Mode !~ "^test";
        body ~ ok;
    }
    match empty {
    }
EOF

# --- the location --------------------------------------------------------------

bad(conf('health_check;', proxy => 'return 200;'), 'health_check',
    qr/needs "proxy_pass" to an upstream group/, 'no proxy_pass');

bad(conf('health_check;', proxy => 'proxy_pass http://$arg_u;'),
    'health_check', qr/needs "proxy_pass" to an upstream group \(without variables\)/,
    'proxy_pass with variables');

bad(conf('health_check;', proxy => 'proxy_pass http://127.0.0.1:%%PORT_b%%;'),
    'health_check', qr/not to the address "127\.0\.0\.1:\d+"/,
    'proxy_pass to an address');

bad(conf('health_check;', upstream => <<'EOF'), 'health_check',
    upstream u {
        server 127.0.0.1:%%PORT_b%%;
    }
EOF
    qr/upstream "u" has no "zone"/, 'group without a zone');

bad(conf('health_check;', proxy => 'proxy_pass https://u;'), 'health_check',
    qr/does not support https/, 'https upstream');

bad(<<'EOF', 'health_check', qr/not allowed here/, 'at server level');
    server {
        listen 127.0.0.1:%%PORT_main%%;
        health_check;
    }
EOF

# --- parameters ----------------------------------------------------------------

for my $c (
    [ 'interval=0',        qr/invalid parameter "interval=0"/ ],
    [ 'interval=soon',     qr/invalid parameter "interval=soon"/ ],
    [ 'jitter=-1s',        qr/invalid parameter "jitter=-1s"/ ],
    [ 'fails=0',           qr/invalid number "fails=0"/ ],
    [ 'passes=many',       qr/invalid number "passes=many"/ ],
    [ 'passes=1000001',    qr/invalid number "passes=1000001"/ ],
    [ 'uri=health',        qr/invalid uri "uri=health"/ ],
    [ 'uri=',              qr/invalid uri "uri="/ ],
    [ '"uri=/a b"',        qr/invalid uri "uri=\/a b"/ ],
    [ '"uri=/a\r\nX: y"',  qr/invalid uri/ ],
    [ 'port=0',            qr/invalid port "port=0"/ ],
    [ 'port=65536',        qr/invalid port "port=65536"/ ],
    [ 'match=',            qr/invalid parameter "match="/ ],
    [ 'interval=1s interval=2s', qr/duplicate parameter "interval=2s"/ ],
    [ 'mandatory mandatory', qr/duplicate parameter "mandatory"/ ],
    [ 'persistent',        qr/"persistent" without "mandatory"/ ],
    [ 'type=grpc',         qr/"type=grpc" is not supported/ ],
    [ 'keepalive_time=60s', qr/"keepalive_time=60s" is not supported/ ],
    [ 'timeout=1s',        qr/invalid parameter "timeout=1s"/ ],
    [ 'match=nope',        qr/unknown match "nope"/ ],
)
{
    my ($params, $re) = @$c;
    bad(conf("health_check $params;"), 'health_check', $re,
        "health_check $params");
}

# --- match blocks ----------------------------------------------------------------

sub match_block {
    my ($body) = @_;
    return conf('health_check match=m;', http => <<"EOF");
    match m {
        $body
    }
EOF
}

for my $c (
    [ 'status;',              'status', qr/needs at least one status code/ ],
    [ 'status !;',            'status', qr/needs at least one status code/ ],
    [ 'status 2000;',         'status', qr/invalid code or range "2000"/ ],
    [ 'status 99;',           'status', qr/invalid code or range "99"/ ],
    [ 'status ok;',           'status', qr/invalid code or range "ok"/ ],
    [ 'status 500-400;',      'status', qr/invalid code or range "500-400"/ ],
    [ 'status 200-;',         'status', qr/invalid code or range "200-"/ ],
    [ 'status !500;',         'status', qr/invalid code or range "!500"/ ],
    [ 'header;',              'header', qr/invalid "header" test/ ],
    [ 'header X ~~ y;',       'header', qr/invalid "header" test "header X ~~ y"/ ],
    [ 'header ? X;',          'header', qr/invalid "header" test/ ],
    [ 'header X = a b;',      'header', qr/invalid "header" test/ ],
    [ 'header X:Y;',          'header', qr/invalid field name "X:Y"/ ],
    [ 'header "X Y" = z;',    'header', qr/invalid field name "X Y"/ ],
    [ 'header X ~ "(";',      'header', qr/invalid regular expression/ ],
    [ 'body "x";',            'body',   qr/invalid "body" test/ ],
    [ 'body = x;',            'body',   qr/invalid "body" test/ ],
    [ 'body ~ "[";',          'body',   qr/invalid regular expression/ ],
    [ 'expect ~ x;',          'expect', qr/unknown test "expect" in "match" "m"/ ],
    [ 'status 200 { }',       'status', qr/unexpected "\{"/ ],
)
{
    my ($body, $directive, $re) = @$c;
    bad(match_block($body), $directive, $re, "match: $body");
}

bad(conf('health_check;', http => <<'EOF'), 'match', qr/duplicate "match" name "m"/,
    match m {
        status 200;
    }
    match m {
        status 204;
    }
EOF
    'duplicate match name');

bad(<<'EOF', 'match', qr/not allowed here/, 'match in a server');
    server {
        listen 127.0.0.1:%%PORT_main%%;
        match m {
            status 200;
        }
    }
EOF

done_testing;
