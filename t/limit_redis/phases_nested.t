#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# Where limit_redis limits (ACCESS after auth_jwt, or PREACCESS) in
# locations that get auth_jwt in other ways than their own directive:
# nested locations, "auth_jwt off", "if", "limit_except", a named location
# reached by error_page.  The key is $jwt_claim_sub: in ACCESS it is the
# token's subject (the request is limited, PASSED), in PREACCESS it is
# still empty (not limited, no status).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Test::More;
use Meshgate::Test;
use Meshgate::JWT;

my $t = Meshgate::Test->new(workers => 1);
$t->need_module_or_skip;
$t->need('redis-server');

my $redis = $t->start_redis;

my ($hs, $hs_jwk) = gen_key('HS256', kid => 'hs1');
$t->write_file('keys/hs.jwks', jwks($hs_jwk));
$t->write_file('html/ok.txt', "OK\n");

$t->start(<<'EOF');
    redis_server main 127.0.0.1:%%PORT_redis%% timeout=1s;

    limit_redis_zone $jwt_claim_sub zone=z rate=100r/s redis=main;

    server {
        listen 127.0.0.1:%%PORT_main%%;
        root %%PREFIX%%/html;
        add_header X-LR $limit_redis_status always;
        limit_redis zone=z burst=100 nodelay;

        location /outer {
            auth_jwt "outer";
            auth_jwt_key_file %%PREFIX%%/keys/hs.jwks;
            try_files /ok.txt =404;

            location /outer/inner {
                try_files /ok.txt =404;
            }

            location /outer/off {
                auth_jwt off;
                try_files /ok.txt =404;
            }
        }

        location /plain {
            try_files /ok.txt =404;

            location /plain/jwt {
                auth_jwt "inner";
                auth_jwt_key_file %%PREFIX%%/keys/hs.jwks;
                try_files /ok.txt =404;
            }
        }

        location /lmt {
            auth_jwt_key_file %%PREFIX%%/keys/hs.jwks;
            limit_except GET {
                auth_jwt "lmt";
            }
            try_files /ok.txt =404;
        }

        location /iff {
            auth_jwt "iff";
            auth_jwt_key_file %%PREFIX%%/keys/hs.jwks;
            if ($arg_x) {
                add_header X-LR $limit_redis_status always;
            }
            try_files /ok.txt =404;
        }

        location /redir {
            error_page 404 = @named;
            return 404;
        }

        location @named {
            auth_jwt "named";
            auth_jwt_key_file %%PREFIX%%/keys/hs.jwks;
            try_files /ok.txt =404;
        }

        location /noauth {
            try_files /ok.txt =404;
        }
    }
EOF

my $tok = mint(alg => 'HS256', key => $hs,
               claims => { sub => 'alice', exp => time + 600 },
               header => { kid => 'hs1' });
my @auth = (Authorization => "Bearer $tok");

sub lr {
    my ($method, $uri) = @_;
    my $r = $t->request($method, $uri, headers => [@auth]);
    return ($r->{status}, $r->{headers}{'x-lr'} // '');
}

is_deeply([lr('GET', '/outer')], [200, 'PASSED'], 'own auth_jwt: ACCESS');
is_deeply([lr('GET', '/outer/inner')], [200, 'PASSED'], 'nested, inherited: ACCESS');
is_deeply([lr('GET', '/outer/off')], [200, ''], 'nested, auth_jwt off: PREACCESS');
is_deeply([lr('GET', '/plain')], [200, ''], 'no auth_jwt: PREACCESS');
is_deeply([lr('GET', '/plain/jwt')], [200, 'PASSED'], 'nested with auth_jwt: ACCESS');
is_deeply([lr('GET', '/lmt')], [200, ''], 'limit_except, GET allowed: PREACCESS');
# the blocks have no try_files of their own: the static module's 404
is_deeply([lr('POST', '/lmt')], [404, 'PASSED'], 'limit_except, POST: ACCESS');
is_deeply([lr('GET', '/iff?x=1')], [404, 'PASSED'], 'if block: ACCESS');
# "return" answers before PREACCESS: only @named limits, in ACCESS
is_deeply([lr('GET', '/redir')], [200, 'PASSED'], 'error_page to named with auth_jwt: ACCESS');
is_deeply([lr('GET', '/noauth')], [200, ''], 'none: PREACCESS');

done_testing;
