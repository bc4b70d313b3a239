#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# Keys fetched by auth_jwt_key_request are never shared between requests
# that would fetch them from different places: the key subrequest carries
# nothing of the client's request (no header, not even Host, no variable
# values), fetched keys are kept per evaluated key request uri and per
# server, and a key request keeps at most 64 such sets per worker.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Test::More;
use Meshgate::Test;
use Meshgate::JWT;
use Time::HiRes qw(sleep);

# one worker: the key sets are per worker, the fetch counts must be exact
my $t = Meshgate::Test->new(workers => 1);
$t->need_module_or_skip;

my ($good, $good_jwk) = gen_key('ES256', kid => 'good');
my ($evil, $evil_jwk) = gen_key('ES256', kid => 'evil');
my ($srv_b, $srv_b_jwk) = gen_key('ES256', kid => 'b');

# the identity provider: one key set per tenant
$t->write_file('idp/jwks/good.example.json', jwks($good_jwk));
$t->write_file('idp/jwks/evil.example.json', jwks($evil_jwk));
$t->write_file('idp/jwks/a.json', jwks($good_jwk));
$t->write_file('idp/jwks/b.json', jwks($srv_b_jwk));

# tenants for the bound on key sets: each with its own key
my ($tenant, $tenant_jwk) = gen_key('ES256');
for my $i (1 .. 70) {
    $t->write_file("idp/jwks/t$i.example.json",
                   jwks({ %$tenant_jwk, kid => "t$i" }));
}

$t->write_file('html/ok.txt', "OK\n");

my $conf = <<'EOF';
    log_format idp '$request_uri auth=[$http_authorization] '
                   'host=[$http_host] secret=[$http_x_secret] '
                   'cookie=[$http_cookie]';

    # a source at http level, inherited by the servers' locations below
    auth_jwt_key_request /_srv_jwks;
    auth_jwt_key_cache 60s;

    server {
        listen 127.0.0.1:%%PORT_main%%;
        server_name good.example;

        # the key location of the report: $host is the client's on HEAD
        location /exact {
            auth_jwt "api";
            auth_jwt_key_request /_jwks;
            CONTENT
        }

        location = /_jwks {
            internal;
            proxy_pass http://127.0.0.1:%%PORT_idp%%/jwks/$host.json;
        }

        # a key set per host, chosen in the directive
        location /tenant {
            auth_jwt "api";
            auth_jwt_key_request /_tenant_jwks/$host.json;
            CONTENT
        }

        location /_tenant_jwks/ {
            internal;
            proxy_pass http://127.0.0.1:%%PORT_idp%%/jwks/;
        }

        # the client's header, read by the parent before the key request
        location /header-in {
            set $tenant $http_x_tenant;
            auth_jwt "api";
            auth_jwt_key_request /_header_jwks;
            CONTENT
        }

        # and after it
        location /header-out {
            auth_jwt "api";
            auth_jwt_key_request /_header_jwks;
            add_header X-Tenant $http_x_tenant always;
            CONTENT
        }

        location = /_header_jwks {
            internal;
            proxy_pass http://127.0.0.1:%%PORT_idp%%/jwks/$http_x_tenant.json;
        }

        # arguments: ?tenant= in the key request uri
        location /arg {
            auth_jwt "api";
            auth_jwt_key_request /_arg_jwks?tenant=$arg_tenant;
            CONTENT
        }

        location = /_arg_jwks {
            internal;
            proxy_pass http://127.0.0.1:%%PORT_idp%%/jwks/$arg_tenant.json;
        }

        # a uri that client input must not lead out of the key locations
        location /path {
            auth_jwt "api";
            auth_jwt_key_request /_path_jwks/$arg_t;
            CONTENT
        }

        location /_path_jwks/ {
            internal;
            proxy_pass http://127.0.0.1:%%PORT_idp%%/jwks/;
        }

        location /srv {
            auth_jwt "api";
            CONTENT
        }

        location = /_srv_jwks {
            internal;
            proxy_pass http://127.0.0.1:%%PORT_idp%%/jwks/a.json;
        }
    }

    # another server, the same http-level key request, its own key location
    server {
        listen 127.0.0.1:%%PORT_other%%;

        location /srv {
            auth_jwt "api";
            CONTENT
        }

        location = /_srv_jwks {
            internal;
            proxy_pass http://127.0.0.1:%%PORT_idp%%/jwks/b.json;
        }
    }

    server {
        listen 127.0.0.1:%%PORT_idp%%;
        access_log %%PREFIX%%/idp.log idp;
        root %%PREFIX%%/idp;
    }
EOF
$conf =~ s/CONTENT/root %%PREFIX%%\/html; try_files \/ok.txt =404;/g;

$t->start($conf);

sub tok {
    my ($key, $kid) = @_;
    return mint(alg => 'ES256', key => $key, header => { kid => $kid },
                claims => { sub => $kid, exp => time + 600 });
}

sub status {
    my ($path, $token, $host, @headers) = @_;
    return $t->get($path, Host => $host, Authorization => "Bearer $token",
                   @headers)->{status};
}

sub fetches {
    my ($re) = @_;
    return scalar grep { /$re/ } split /\n/, $t->read_file('idp.log');
}

my $tgood = tok($good, 'good');
my $tevil = tok($evil, 'evil');

# --- the report's scenario ------------------------------------------------------

is(status('/exact', $tgood, 'good.example'), 200,
   'exact: a good.example token at good.example: 200');

# the attacker waits out the unknown-kid refresh interval, then sends a
# token with a kid of their own and Host: evil.example
sleep 5.5;

is(status('/exact', $tevil, 'evil.example'), 401,
   'exact: the attacker\'s token at Host evil.example: 401');
is(status('/exact', $tevil, 'good.example'), 401,
   'exact: the attacker\'s token at good.example: 401, keys did not cross');
is(status('/exact', $tgood, 'good.example'), 200,
   'exact: the good.example token still accepted');
is(fetches(qr{^/jwks/evil\.example\.json }), 0,
   'exact: the key location never fetched with the client\'s Host');
ok(fetches(qr{^/jwks/good\.example\.json }) >= 1,
   'exact: $host in the key location is the server\'s name');

# --- a key set per host ------------------------------------------------------------

my $before_good = fetches(qr{^/jwks/good\.example\.json });

is(status('/tenant', $tevil, 'evil.example'), 200,
   'per host: evil.example\'s token at evil.example: 200');
is(status('/tenant', $tgood, 'good.example'), 200,
   'per host: good.example\'s token at good.example: 200');
is(status('/tenant', $tevil, 'good.example'), 401,
   'per host: evil.example\'s token at good.example: 401');
is(status('/tenant', $tgood, 'evil.example'), 401,
   'per host: good.example\'s token at evil.example: 401');

# the verified tokens are remembered: not across hosts either
is(status('/tenant', $tevil, 'evil.example'), 200,
   'per host: evil.example\'s token again at evil.example: 200');
is(status('/tenant', $tevil, 'good.example'), 401,
   'per host: remembered token of evil.example at good.example: 401');

is(fetches(qr{^/jwks/evil\.example\.json }), 1,
   'per host: evil.example\'s keys fetched once');
is(fetches(qr{^/jwks/good\.example\.json }) - $before_good, 1,
   'per host: good.example\'s keys fetched once');

# --- nothing of the client reaches the key server -------------------------------------

{
    my $r = $t->get('/tenant', Host => 'good.example',
                    Authorization => "Bearer $tgood",
                    'X-Secret' => 'client-secret', Cookie => 'sid=42');
    is($r->{status}, 200, 'headers: request with a secret header: 200');

    my @lines = grep { m{^/jwks/} } split /\n/, $t->read_file('idp.log');
    ok(@lines >= 3, 'headers: the key server was asked');
    is(scalar(grep { !/auth=\[-\] / } @lines), 0,
       'headers: no Authorization header reached the key server');
    is(scalar(grep { !/secret=\[-\] / } @lines), 0,
       'headers: no client header reached the key server');
    is(scalar(grep { !/cookie=\[-\]$/ } @lines), 0,
       'headers: no Cookie reached the key server');
}

# --- the parent's variable values do not reach the key location -----------------------

{
    my $r = $t->get('/header-in', Host => 'good.example',
                    Authorization => "Bearer $tevil",
                    'X-Tenant' => 'evil.example');
    isnt($r->{status}, 200,
         'variables: the client\'s X-Tenant, read before, does not choose '
         . 'the keys');
    is(fetches(qr{^/jwks/evil\.example\.json }), 1,
       'variables: evil.example\'s keys were not fetched again');
    ok(fetches(qr{^/jwks/\.json }) >= 1,
       'variables: the key location saw an empty $http_x_tenant');

    $r = $t->get('/header-out', Host => 'good.example',
                 Authorization => "Bearer $tevil",
                 'X-Tenant' => 'evil.example');
    isnt($r->{status}, 200,
         'variables: the client\'s X-Tenant does not choose the keys');
    is($r->{headers}{'x-tenant'}, 'evil.example',
       'variables: the key location\'s values do not reach the parent');
}

# --- arguments of the key request uri --------------------------------------------------

is(status('/arg?tenant=evil.example', $tevil, 'good.example'), 200,
   'arguments: ?tenant=evil.example: evil.example\'s keys');
is(status('/arg?tenant=good.example', $tevil, 'good.example'), 401,
   'arguments: ?tenant=good.example: not evil.example\'s keys');
is(status('/arg?tenant=good.example', $tgood, 'good.example'), 200,
   'arguments: ?tenant=good.example: good.example\'s keys');
is(status('/arg?tenant=evil.example', $tgood, 'good.example'), 401,
   'arguments: a set per argument value, both kept');

is(status('/path?t=../html/ok.txt', $tgood, 'good.example'), 500,
   'a key request uri with "..": 500');
like($t->error_log, qr{auth_jwt: unsafe key request uri "/_path_jwks/\.\./},
     'a key request uri with "..": logged');
is(fetches(qr{html}), 0, 'a key request uri with "..": nothing fetched');

# --- one source, two servers ---------------------------------------------------------------

is(status('/srv', $tgood, 'good.example'), 200,
   'servers: server A\'s key at server A: 200');
sub status_b {
    my ($token) = @_;
    return $t->request('GET', '/srv', port => 'other',
                       headers => [Authorization => "Bearer $token"])
             ->{status};
}

is(status_b($tgood), 401,
   'servers: server A\'s key at server B: 401, keys did not cross');
is(status_b(tok($srv_b, 'b')), 200, 'servers: server B\'s key at server B: 200');
is(status('/srv', tok($srv_b, 'b'), 'good.example'), 401,
   'servers: server B\'s key at server A: 401');

# --- at most 64 key sets per key request and worker ---------------------------------------

for my $i (1 .. 70) {
    my $host = "t$i.example";
    my $s = status('/tenant', tok($tenant, "t$i"), $host);
    is($s, 200, "bound: $host: 200") if $i == 1 || $i == 70 || $s != 200;
}

is(fetches(qr{^/jwks/t70\.example\.json }), 1, 'bound: each tenant fetched');
is(status('/tenant', tok($tenant, 't70'), 't70.example'), 200,
   'bound: the most recent set is kept');
is(fetches(qr{^/jwks/t70\.example\.json }), 1,
   'bound: the most recent set is used without a fetch');
is(status('/tenant', tok($tenant, 't1'), 't1.example'), 200,
   'bound: the least recently used set was dropped, and is fetched again');
is(fetches(qr{^/jwks/t1\.example\.json }), 2,
   'bound: the least recently used set was fetched again');

done_testing;
