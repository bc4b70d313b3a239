#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# auth_jwt: where the token comes from (token=$cookie_x, token=$arg_x) and
# where the directive applies (http / server / location inheritance, "off",
# limit_except).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Test::More;
use Meshgate::Test;
use Meshgate::JWT;

my $t = Meshgate::Test->new(workers => 1);
$t->need_module_or_skip;

my ($key, $jwk) = gen_key('ES256', kid => 'k1');
$t->write_file('keys/k.jwks', jwks($jwk));
$t->write_file('html/ok.txt', "OK\n");

my $conf = <<'EOF';
    # http level: applies to every server that does not say otherwise
    auth_jwt "global";
    auth_jwt_key_file %%PREFIX%%/keys/k.jwks;

    server {
        listen 127.0.0.1:%%PORT_main%%;
        auth_jwt off;

        location /open {
            CONTENT
        }

        location /cookie {
            auth_jwt "c" token=$cookie_jwt;
            CONTENT
        }

        location /arg {
            auth_jwt "a" token=$arg_access_token;
            CONTENT
        }

        location /le {
            limit_except GET {
                auth_jwt "le";
            }
            proxy_pass http://127.0.0.1:%%PORT_backend%%;
        }

        location /le2 {
            limit_except GET POST {
                auth_jwt "le2";
                auth_jwt_key_file %%PREFIX%%/keys/k.jwks;
            }
            proxy_pass http://127.0.0.1:%%PORT_backend%%;
        }
    }

    server {
        listen 127.0.0.1:%%PORT_srv%%;
        auth_jwt "srv";

        location /inherit {
            CONTENT
        }

        location /off {
            auth_jwt off;
            CONTENT
        }

        location /override {
            auth_jwt "loc";
            CONTENT
        }
    }

    server {
        listen 127.0.0.1:%%PORT_global%%;

        location / {
            CONTENT
        }
    }

    server {
        listen 127.0.0.1:%%PORT_backend%%;
        auth_jwt off;

        location / {
            return 200 "backend $request_method\n";
        }
    }
EOF
$conf =~ s/CONTENT/root %%PREFIX%%\/html; try_files \/ok.txt =404;/g;

$t->start($conf);

my $token = mint(alg => 'ES256', key => $key, claims => { sub => 'alice' },
                 header => { kid => 'k1' });
my ($other) = gen_key('ES256');
my $bad = mint(alg => 'ES256', key => $other, claims => { sub => 'alice' },
               header => { kid => 'k1' });

my $r;

# --- server with "auth_jwt off" ---------------------------------------------

$r = $t->get('/open');
is($r->{status}, 200, 'server-level auth_jwt off overrides http level');

# --- token=$cookie_jwt ----------------------------------------------------------

$r = $t->get('/cookie', Cookie => "jwt=$token");
is($r->{status}, 200, 'token from cookie: 200');

$r = $t->get('/cookie', Cookie => "a=b; jwt=$token; c=d");
is($r->{status}, 200, 'token from cookie among others: 200');

$r = $t->get('/cookie', Authorization => "Bearer $token");
is($r->{status}, 401, 'token=$cookie_jwt: Authorization header is not used');
is($r->{headers}{'www-authenticate'}, 'Bearer realm="c"',
   'token=$cookie_jwt, no cookie: missing-token challenge');

$r = $t->get('/cookie', Cookie => "jwt=$bad");
is($r->{status}, 401, 'bad token in cookie: 401');
is($r->{headers}{'www-authenticate'}, 'Bearer realm="c",error="invalid_token"',
   'bad token in cookie: invalid_token');

$r = $t->get('/cookie', Cookie => 'jwt=');
is($r->{status}, 401, 'empty cookie: 401');
is($r->{headers}{'www-authenticate'}, 'Bearer realm="c"',
   'empty cookie: treated as missing');

# --- token=$arg_access_token ----------------------------------------------

$r = $t->get("/arg?access_token=$token");
is($r->{status}, 200, 'token from query argument: 200');

$r = $t->get("/arg?x=1&access_token=$token&y=2");
is($r->{status}, 200, 'token from query argument among others: 200');

$r = $t->get('/arg', Authorization => "Bearer $token");
is($r->{status}, 401, 'token=$arg_access_token: Authorization not used');

$r = $t->get("/arg?access_token=$bad");
is($r->{status}, 401, 'bad token in query argument: 401');
is($r->{headers}{'www-authenticate'}, 'Bearer realm="a",error="invalid_token"',
   'bad token in query argument: invalid_token');

# --- server level --------------------------------------------------------------

$r = $t->request('GET', '/inherit', port => 'srv');
is($r->{status}, 401, 'server-level auth_jwt applies to a location');
is($r->{headers}{'www-authenticate'}, 'Bearer realm="srv"',
   'server-level realm');

$r = $t->request('GET', '/inherit', port => 'srv',
                 headers => [Authorization => "Bearer $token"]);
is($r->{status}, 200, 'server-level auth_jwt, valid token: 200');

$r = $t->request('GET', '/off', port => 'srv');
is($r->{status}, 200, 'auth_jwt off in a location disables it');

$r = $t->request('GET', '/override', port => 'srv');
is($r->{status}, 401, 'location-level auth_jwt: 401');
is($r->{headers}{'www-authenticate'}, 'Bearer realm="loc"',
   'location-level realm overrides the server one');

$r = $t->request('GET', '/override', port => 'srv',
                 headers => [Authorization => "Bearer $token"]);
is($r->{status}, 200, 'location-level auth_jwt, inherited key file: 200');

# --- http level ------------------------------------------------------------------

$r = $t->request('GET', '/anything', port => 'global');
is($r->{status}, 401, 'http-level auth_jwt applies to a server');
is($r->{headers}{'www-authenticate'}, 'Bearer realm="global"',
   'http-level realm');

$r = $t->request('GET', '/anything', port => 'global',
                 headers => [Authorization => "Bearer $token"]);
is($r->{status}, 200, 'http-level auth_jwt, valid token: 200');

# --- limit_except ----------------------------------------------------------------

$r = $t->get('/le');
is($r->{status}, 200, 'limit_except GET: GET without token passes');
is($r->{body}, "backend GET\n", 'limit_except GET: GET proxied');

$r = $t->request('HEAD', '/le');
is($r->{status}, 200, 'limit_except GET: HEAD without token passes');

$r = $t->request('POST', '/le', body => 'x');
is($r->{status}, 401, 'limit_except GET: POST without token: 401');
is($r->{headers}{'www-authenticate'}, 'Bearer realm="le"',
   'limit_except GET: realm from the limit_except block');

$r = $t->request('POST', '/le', body => 'x',
                 headers => [Authorization => "Bearer $token"]);
is($r->{status}, 200, 'limit_except GET: POST with a valid token: 200');
is($r->{body}, "backend POST\n", 'limit_except GET: POST proxied');

$r = $t->request('DELETE', '/le',
                 headers => [Authorization => "Bearer $bad"]);
is($r->{status}, 401, 'limit_except GET: DELETE with a bad token: 401');

$r = $t->request('POST', '/le2', body => 'x');
is($r->{status}, 200, 'limit_except GET POST: POST without token passes');

$r = $t->request('PUT', '/le2', body => 'x');
is($r->{status}, 401, 'limit_except GET POST: PUT without token: 401');

$r = $t->request('PUT', '/le2', body => 'x',
                 headers => [Authorization => "Bearer $token"]);
is($r->{status}, 200,
   'limit_except with its own key file: PUT with a valid token: 200');

done_testing;
