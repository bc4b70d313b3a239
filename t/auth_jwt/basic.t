#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# auth_jwt basics: missing / valid / invalid tokens, WWW-Authenticate format,
# realm escaping and variables, key files, kid rules, exp / nbf / leeway.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Test::More;
use Meshgate::Test;
use Meshgate::JWT;

my $t = Meshgate::Test->new(workers => 1);
$t->need_module_or_skip;

my ($hs, $hs_jwk) = gen_key('HS256', kid => 'hs1');
my ($ec, $ec_jwk) = gen_key('ES256', kid => 'ec1');
my ($ec2, $ec2_jwk) = gen_key('ES256', kid => 'ec2');
my ($single, $single_jwk) = gen_key('ES256');          # no kid
my ($stranger) = gen_key('ES256');                      # in no key file

$t->write_file('keys/main.jwks', jwks($hs_jwk, $ec_jwk));
$t->write_file('keys/second.jwks', jwks($ec2_jwk));
$t->write_file('keys/single.jwk', json_text($single_jwk));
$t->write_file('html/ok.txt', "OK\n");

my $conf = <<'EOF';
    server {
        listen 127.0.0.1:%%PORT_main%%;

        location /open {
            CONTENT
        }

        location /p {
            auth_jwt "api";
            auth_jwt_key_file %%PREFIX%%/keys/main.jwks;
            auth_jwt_key_file %%PREFIX%%/keys/second.jwks;
            CONTENT
        }

        location /single {
            auth_jwt "single";
            auth_jwt_key_file %%PREFIX%%/keys/single.jwk;
            CONTENT
        }

        location /escaped {
            auth_jwt 'say "hi" \\ there';
            auth_jwt_key_file %%PREFIX%%/keys/main.jwks;
            CONTENT
        }

        location /varrealm {
            auth_jwt "realm-$http_x_realm";
            auth_jwt_key_file %%PREFIX%%/keys/main.jwks;
            CONTENT
        }

        location /leeway {
            auth_jwt "api";
            auth_jwt_key_file %%PREFIX%%/keys/main.jwks;
            auth_jwt_leeway 30s;
            CONTENT
        }
    }
EOF
$conf =~ s/CONTENT/root %%PREFIX%%\/html; try_files \/ok.txt =404;/g;

$t->start($conf);

sub bearer { return (Authorization => "Bearer $_[0]") }

sub hs_token {
    my (%claims) = @_;
    return mint(alg => 'HS256', key => $hs, claims => \%claims,
                header => { kid => 'hs1' });
}

# request; returns the response and what the error log got meanwhile
sub req {
    my ($path, @h) = @_;
    my $from = length $t->error_log;
    my $r = $t->get($path, @h);
    # the log line is written before the response is sent
    $r->{log} = substr($t->error_log, $from);
    return $r;
}

my $now = time;
my $r;

# --- sanity ----------------------------------------------------------------

$r = $t->get('/open');
is($r->{status}, 200, 'unprotected location: 200');
is($r->{body}, "OK\n", 'unprotected location: body');

# --- missing token ---------------------------------------------------------

$r = $t->get('/p');
is($r->{status}, 401, 'no Authorization: 401');
is($r->{headers}{'www-authenticate'}, 'Bearer realm="api"',
   'no Authorization: WWW-Authenticate exactly Bearer realm="api"');
isnt($r->{body}, "OK\n", 'no Authorization: content not served');

$r = $t->get('/p', Authorization => 'Bearer ');
is($r->{status}, 401, 'empty Bearer token: 401');
is($r->{headers}{'www-authenticate'}, 'Bearer realm="api"',
   'empty Bearer token: treated as missing');

$r = $t->get('/p', Authorization => 'Basic dXNlcjpwYXNz');
is($r->{status}, 401, 'Basic credentials: 401');
is($r->{headers}{'www-authenticate'}, 'Bearer realm="api"',
   'Basic credentials: treated as missing token');

# --- valid tokens ------------------------------------------------------------

my $good = hs_token(sub => 'alice', exp => $now + 300);

$r = $t->get('/p', bearer($good));
is($r->{status}, 200, 'valid HS256 token: 200');
is($r->{body}, "OK\n", 'valid HS256 token: content served');
ok(!defined $r->{headers}{'www-authenticate'},
   'valid token: no WWW-Authenticate');

$r = $t->get('/p', bearer(mint(alg => 'ES256', key => $ec,
    claims => { sub => 'bob', exp => $now + 300 },
    header => { kid => 'ec1' })));
is($r->{status}, 200, 'valid ES256 token (kid ec1, first key file): 200');

$r = $t->get('/p', bearer(mint(alg => 'ES256', key => $ec2,
    claims => { sub => 'bob' }, header => { kid => 'ec2' })));
is($r->{status}, 200, 'key from the second auth_jwt_key_file: 200');

$r = $t->get('/p', bearer(mint(alg => 'ES256', key => $ec2,
    claims => { sub => 'bob' })));
is($r->{status}, 200, 'token without kid: any fitting key may verify it');

$r = $t->get('/p', bearer(mint(alg => 'ES256', key => $ec,
    claims => { sub => 'nobody-said-exp' })));
is($r->{status}, 200, 'token without exp / nbf: 200');

$r = $t->get('/p', bearer(hs_token(sub => 'f', exp => $now + 300.5,
                                   nbf => $now - 10.25)));
is($r->{status}, 200, 'fractional exp / nbf numbers: 200');

$r = $t->get('/single', bearer(mint(alg => 'ES256', key => $single,
    claims => { sub => 'x' })));
is($r->{status}, 200, 'single JWK (not a set) key file: 200');

my $ok_count = 0;
for (1 .. 30) {
    $ok_count++ if $t->get('/p', bearer($good))->{status} == 200;
}
is($ok_count, 30, 'the same valid token 30 times: 200 each time');

# --- kid rules ---------------------------------------------------------------

$r = req('/p', bearer(mint(alg => 'ES256', key => $ec2,
    claims => { sub => 'x' }, header => { kid => 'ec1' })));
is($r->{status}, 401,
   'kid ec1 but signed by the key of kid ec2: 401 (only kid ec1 is tried)');

$r = req('/single', bearer(mint(alg => 'ES256', key => $single,
    claims => { sub => 'x' }, header => { kid => 'some-kid' })));
is($r->{status}, 401, 'token with kid vs. the only key having no kid: 401');

$r = req('/p', bearer(mint(alg => 'ES256', key => $stranger,
    claims => { sub => 'x' })));
is($r->{status}, 401, 'token signed by an unknown key, no kid: 401');

# --- invalid tokens: header and log ------------------------------------------

$r = req('/p', bearer('abc'));
is($r->{status}, 401, 'garbage token: 401');
is($r->{headers}{'www-authenticate'},
   'Bearer realm="api",error="invalid_token"',
   'garbage token: WWW-Authenticate with error="invalid_token"');
like($r->{log}, qr/\[info\] .*auth_jwt: invalid token: \S/,
     'garbage token: reason logged at info level');

$r = req('/p', bearer(mint(alg => 'HS256', key => 'wrong secret',
    claims => { sub => 'x' }, header => { kid => 'hs1' })));
is($r->{status}, 401, 'HS256 with a wrong secret: 401');
is($r->{headers}{'www-authenticate'},
   'Bearer realm="api",error="invalid_token"',
   'HS256 with a wrong secret: error="invalid_token"');
like($r->{log}, qr/auth_jwt: invalid token:/, 'wrong secret: logged');

# --- exp / nbf -----------------------------------------------------------------

$r = req('/p', bearer(hs_token(sub => 'x', exp => $now - 100)));
is($r->{status}, 401, 'expired token: 401');
is($r->{headers}{'www-authenticate'},
   'Bearer realm="api",error="invalid_token"', 'expired token: invalid_token');
like($r->{log}, qr/auth_jwt: invalid token:/, 'expired token: logged');

$r = req('/p', bearer(hs_token(sub => 'x', exp => time - 2)));
is($r->{status}, 401, 'expired two seconds ago, no leeway: 401');

$r = req('/p', bearer(hs_token(sub => 'x', nbf => $now + 100)));
is($r->{status}, 401, 'nbf in the future: 401');

$r = req('/p', bearer(hs_token(sub => 'x', nbf => $now - 100,
                               exp => $now + 100)));
is($r->{status}, 200, 'nbf in the past, exp in the future: 200');

# --- leeway ------------------------------------------------------------------

$r = $t->get('/leeway', bearer(hs_token(sub => 'x', exp => $now - 10)));
is($r->{status}, 200, 'leeway 30s: expired 10s ago passes');

$r = $t->get('/leeway', bearer(hs_token(sub => 'x', exp => $now - 100)));
is($r->{status}, 401, 'leeway 30s: expired 100s ago fails');

$r = $t->get('/leeway', bearer(hs_token(sub => 'x', nbf => $now + 10)));
is($r->{status}, 200, 'leeway 30s: nbf 10s ahead passes');

$r = $t->get('/leeway', bearer(hs_token(sub => 'x', nbf => $now + 100)));
is($r->{status}, 401, 'leeway 30s: nbf 100s ahead fails');

# --- realm ----------------------------------------------------------------------

$r = $t->get('/escaped');
is($r->{status}, 401, 'escaped realm: 401');
is($r->{headers}{'www-authenticate'}, 'Bearer realm="say \"hi\" \\\\ there"',
   'quotes and backslashes in the realm are backslash-escaped');

$r = $t->get('/escaped', bearer('x.y.z'));
is($r->{headers}{'www-authenticate'},
   'Bearer realm="say \"hi\" \\\\ there",error="invalid_token"',
   'escaped realm with error="invalid_token"');

$r = $t->get('/varrealm', 'X-Realm' => 'zone7');
is($r->{headers}{'www-authenticate'}, 'Bearer realm="realm-zone7"',
   'realm with a variable');

$r = $t->get('/varrealm', 'X-Realm' => 'a"b\\c');
is($r->{headers}{'www-authenticate'}, 'Bearer realm="realm-a\"b\\\\c"',
   'realm variable value with quote and backslash is escaped');

$r = $t->get('/varrealm', 'X-Realm' => "a\x0bb\x1fc\x7fd\te");
is($r->{status}, 401, 'realm variable value with control characters: 401');
like($r->{raw}, qr/\r\nWWW-Authenticate: Bearer realm="realm-abcd\te"\r\n/,
     'realm variable value: control characters but HT dropped');

$r = $t->get('/varrealm', 'X-Realm' => 'v', bearer($good));
is($r->{status}, 200, 'variable realm location with a valid token: 200');

done_testing;
