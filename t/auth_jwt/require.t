#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# auth_jwt_require: values that are empty or "0" fail; error=401 (default,
# with error="insufficient_scope") or error=403 (no challenge); several
# directives; inheritance.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Test::More;
use Meshgate::Test;
use Meshgate::JWT;

my $t = Meshgate::Test->new(workers => 1);
$t->need_module_or_skip;

my ($key, $jwk) = gen_key('HS256', kid => 'k1');
$t->write_file('keys/k.jwks', jwks($jwk));
$t->write_file('html/ok.txt', "OK\n");

my $conf = <<'EOF';
    map $jwt_claim_role $is_admin {
        admin    1;
        default  0;
    }

    map $jwt_claim_scope $can_write {
        "~(^| )write( |$)"  1;
        default             "";
    }

    server {
        listen 127.0.0.1:%%PORT_main%%;
        auth_jwt "api";
        auth_jwt_key_file %%PREFIX%%/keys/k.jwks;

        location /admin {
            auth_jwt_require $is_admin;
            CONTENT
        }

        location /admin403 {
            auth_jwt_require $is_admin error=403;
            CONTENT
        }

        location /admin401 {
            auth_jwt_require $is_admin error=401;
            CONTENT
        }

        location /both {
            auth_jwt_require $is_admin $can_write;
            CONTENT
        }

        location /two {
            auth_jwt_require $is_admin error=403;
            auth_jwt_require $can_write;
            CONTENT
        }

        location /flag {
            auth_jwt_require $jwt_claim_flag;
            CONTENT
        }

        location /inherit {
            CONTENT
        }

        location /noauth {
            auth_jwt off;
            CONTENT
        }
    }

    server {
        listen 127.0.0.1:%%PORT_srv%%;
        auth_jwt "srv";
        auth_jwt_key_file %%PREFIX%%/keys/k.jwks;
        auth_jwt_require $is_admin error=403;

        location /inherit {
            CONTENT
        }

        location /own {
            auth_jwt_require $can_write;
            CONTENT
        }
    }
EOF
$conf =~ s/CONTENT/root %%PREFIX%%\/html; try_files \/ok.txt =404;/g;

$t->start($conf);

sub tok {
    my (%c) = @_;
    return mint(alg => 'HS256', key => $key, claims => { exp => time + 300, %c },
                header => { kid => 'k1' });
}

sub get {
    my ($path, $token, %o) = @_;
    return $t->request('GET', $path, port => $o{port} // 'main',
                       headers => [Authorization => "Bearer $token"]);
}

my $admin = tok(sub => 'a', role => 'admin', scope => 'read write');
my $admin_ro = tok(sub => 'b', role => 'admin', scope => 'read');
my $user_rw = tok(sub => 'c', role => 'user', scope => 'write read');
my $user = tok(sub => 'd', role => 'user', scope => 'read');
my $nothing = tok(sub => 'e');

my $r;

# --- one value, default 401 ----------------------------------------------------

$r = get('/admin', $admin);
is($r->{status}, 200, 'require: satisfied: 200');

$r = get('/admin', $user);
is($r->{status}, 401, 'require "0": 401');
is($r->{headers}{'www-authenticate'},
   'Bearer realm="api",error="insufficient_scope"',
   'require failed: error="insufficient_scope"');

$r = get('/admin', $nothing);
is($r->{status}, 401, 'require, claim missing: 401');

$r = get('/admin401', $user);
is($r->{status}, 401, 'require error=401: 401');
is($r->{headers}{'www-authenticate'},
   'Bearer realm="api",error="insufficient_scope"',
   'require error=401: error="insufficient_scope"');

# --- error=403 ---------------------------------------------------------------------

$r = get('/admin403', $admin);
is($r->{status}, 200, 'require error=403: satisfied: 200');

$r = get('/admin403', $user);
is($r->{status}, 403, 'require error=403: 403');
ok(!defined $r->{headers}{'www-authenticate'},
   'require error=403: no WWW-Authenticate');

# --- the token is checked before the requirements --------------------------------

my ($other) = gen_key('HS256');
my $forged = mint(alg => 'HS256', key => $other, header => { kid => 'k1' },
                  claims => { role => 'admin', scope => 'write' });

$r = get('/admin403', $forged);
is($r->{status}, 401, 'forged admin token on error=403 location: 401');
is($r->{headers}{'www-authenticate'},
   'Bearer realm="api",error="invalid_token"',
   'forged token: invalid_token, not insufficient_scope');

$r = $t->get('/admin403');
is($r->{status}, 401, 'no token on error=403 location: 401');
is($r->{headers}{'www-authenticate'}, 'Bearer realm="api"',
   'no token: plain challenge');

# --- several values in one directive: all must hold ------------------------------

is(get('/both', $admin)->{status}, 200, 'two values, both hold: 200');
is(get('/both', $admin_ro)->{status}, 401, 'two values, second empty: 401');
is(get('/both', $user_rw)->{status}, 401, 'two values, first "0": 401');
is(get('/both', $user)->{status}, 401, 'two values, none holds: 401');

# --- two directives with their own codes ------------------------------------------

is(get('/two', $admin)->{status}, 200, 'two directives, both hold: 200');

$r = get('/two', $user_rw);
is($r->{status}, 403, 'two directives: first (error=403) fails: 403');
ok(!defined $r->{headers}{'www-authenticate'}, '403: no WWW-Authenticate');

$r = get('/two', $admin_ro);
is($r->{status}, 401, 'two directives: second (default 401) fails: 401');
is($r->{headers}{'www-authenticate'},
   'Bearer realm="api",error="insufficient_scope"',
   'second directive: insufficient_scope');

# --- "0" and empty fail, anything else passes -------------------------------------

is(get('/flag', tok(flag => 1))->{status}, 200, 'claim 1: passes');
is(get('/flag', tok(flag => 'yes'))->{status}, 200, 'claim "yes": passes');
is(get('/flag', tok(flag => '00'))->{status}, 200, 'claim "00": passes');
is(get('/flag', tok(flag => 0))->{status}, 401, 'claim 0: fails');
is(get('/flag', tok(flag => '0'))->{status}, 401, 'claim "0": fails');
is(get('/flag', tok(flag => ''))->{status}, 401, 'claim "": fails');
is(get('/flag', tok(sub => 'x'))->{status}, 401, 'claim missing: fails');

# --- locations without require ----------------------------------------------------

is(get('/inherit', $user)->{status}, 200,
   'location without auth_jwt_require: any valid token');
is($t->get('/noauth')->{status}, 200, 'auth_jwt off: no token needed');

# --- server-level require is inherited; a location's own replaces it -------------

$r = get('/inherit', $admin, port => 'srv');
is($r->{status}, 200, 'server-level require, satisfied: 200');

$r = get('/inherit', $user, port => 'srv');
is($r->{status}, 403, 'server-level require (error=403) inherited: 403');

$r = get('/own', $user_rw, port => 'srv');
is($r->{status}, 200,
   'location with its own auth_jwt_require replaces the server one');

$r = get('/own', $admin_ro, port => 'srv');
is($r->{status}, 401, 'location own require fails: its own code 401');

done_testing;
