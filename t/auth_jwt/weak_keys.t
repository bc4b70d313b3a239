#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# Keys weaker than RFC 7518 allows: an HMAC key shorter than the hash
# (32 bytes for HS256, 48 for HS384, 64 for HS512), an RSA key under 2048
# bits.  A key file with one fails `nginx -t` naming the key; a fetched
# key set loses them, with one log line per fetch; an oct key without alg
# serves only the algorithms it is long enough for.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Test::More;
use Meshgate::Test;
use Meshgate::JWT;
use Crypt::PK::RSA;
use Crypt::PRNG qw(random_bytes);

my $t = Meshgate::Test->new(workers => 1);
$t->need_module_or_skip;

my ($ec, $ec_jwk) = gen_key('ES256', kid => 'ec');
my ($rsa, $rsa_jwk) = gen_key('RS256', kid => 'rsa2048');

my $rsa1024 = Crypt::PK::RSA->new;
$rsa1024->generate_key(128, 65537);
my $rsa1024_jwk = { %{$rsa1024->export_key_jwk('public', 1)},
                    kid => 'rsa1024' };

my $short = random_bytes(16);
my $k31 = random_bytes(31);
my $k32 = random_bytes(32);
my $k40 = random_bytes(40);
my $k47 = random_bytes(47);

sub oct_jwk { my ($k, %m) = @_; return { kty => 'oct', k => b64url($k), %m } }

my $K = '%%PREFIX%%/keys';

$t->write_file('keys/good.jwks', jwks($ec_jwk, oct_jwk($k32, kid => 'k32')));
$t->write_file('keys/short-hmac.jwks',
               jwks($ec_jwk, oct_jwk($short, kid => 'short')));
$t->write_file('keys/short-hmac-31.jwks', jwks(oct_jwk($k31)));
$t->write_file('keys/short-hs384.jwks',
               jwks($ec_jwk, oct_jwk($k47, kid => 'h384', alg => 'HS384')));
$t->write_file('keys/rsa1024.jwks', jwks($rsa_jwk, { %$rsa1024_jwk }));
{
    my %nokid = %$rsa1024_jwk;
    delete $nokid{kid};
    $t->write_file('keys/rsa1024-nokid.jwks', jwks($ec_jwk, \%nokid));
}
$t->write_file('keys/oct40.jwks', jwks(oct_jwk($k40, kid => 'k40')));

# the fetched set: a weak RSA key and a weak HMAC key among good ones
$t->write_file('idp/mixed.jwks',
               jwks($rsa1024_jwk, oct_jwk($short, kid => 'short'), $ec_jwk,
                    $rsa_jwk));
$t->write_file('idp/weak-only.jwks', jwks($rsa1024_jwk));
$t->write_file('html/ok.txt', "OK\n");

sub loc {
    my ($body) = @_;
    $body =~ s/;\s*/;\n            /g;
    return <<"EOF";
    server {
        listen 127.0.0.1:%%PORT_main%%;
        location /p {
            $body
            root %%PREFIX%%;
        }
    }
EOF
}

# --- key files ------------------------------------------------------------------

$t->config_accepted(loc(qq{auth_jwt "x"; auth_jwt_key_file $K/good.jwks;}),
                    'key file with a 32-byte oct key and an EC key');
$t->config_accepted(loc(qq{auth_jwt "x"; auth_jwt_key_file $K/oct40.jwks;}),
                    'key file with a 40-byte oct key');

$t->config_refused(loc(qq{auth_jwt "x"; auth_jwt_key_file $K/short-hmac.jwks;}),
                   'auth_jwt_key_file',
                   qr/short-hmac\.jwks.*key 1 \(kid "short"\): oct key of 16 bytes, shorter than the 32 RFC 7518 requires/,
                   'key file with a 16-byte oct key next to a good key');
$t->config_refused(loc(qq{auth_jwt "x"; auth_jwt_key_file $K/short-hmac-31.jwks;}),
                   'auth_jwt_key_file',
                   qr/key 0: oct key of 31 bytes/,
                   'key file with a 31-byte oct key, named by its index');
$t->config_refused(loc(qq{auth_jwt "x"; auth_jwt_key_file $K/short-hs384.jwks;}),
                   'auth_jwt_key_file',
                   qr/kid "h384"\): oct key of 47 bytes, shorter than the 48 RFC 7518 requires for HS384/,
                   'key file with a 47-byte HS384 key');
$t->config_refused(loc(qq{auth_jwt "x"; auth_jwt_key_file $K/rsa1024.jwks;}),
                   'auth_jwt_key_file',
                   qr/key 1 \(kid "rsa1024"\): RSA modulus of 1024 bits, shorter than the 2048 RFC 7518 requires/,
                   'key file with a 1024-bit RSA key next to a good key');
$t->config_refused(loc(qq{auth_jwt "x"; auth_jwt_key_file $K/rsa1024-nokid.jwks;}),
                   'auth_jwt_key_file', qr/key 1: RSA modulus of 1024 bits/,
                   'key file with a 1024-bit RSA key without kid');

# --- at run time -----------------------------------------------------------------

$t->start(<<'EOF');
    server {
        listen 127.0.0.1:%%PORT_main%%;

        location /oct40 {
            auth_jwt "x";
            auth_jwt_key_file %%PREFIX%%/keys/oct40.jwks;
            root %%PREFIX%%/html;
            try_files /ok.txt =404;
        }

        location /fetched {
            auth_jwt "x";
            auth_jwt_key_request /_idp/mixed.jwks;
            auth_jwt_key_cache 60s;
            root %%PREFIX%%/html;
            try_files /ok.txt =404;
        }

        location /nocache {
            auth_jwt "x";
            auth_jwt_key_request /_idp/mixed.jwks;
            root %%PREFIX%%/html;
            try_files /ok.txt =404;
        }

        location /weak-only {
            auth_jwt "x";
            auth_jwt_key_request /_idp/weak-only.jwks;
            root %%PREFIX%%/html;
            try_files /ok.txt =404;
        }

        location /_idp/ {
            internal;
            alias %%PREFIX%%/idp/;
        }
    }
EOF

sub status {
    my ($path, $token) = @_;
    return $t->get($path, Authorization => "Bearer $token")->{status};
}

sub weak_lines {
    return scalar grep { /weaker than RFC 7518 allows left out/ }
                  split /\n/, $t->error_log;
}

my %c = (sub => 'u', exp => time + 600);

# an oct key without alg: only the algorithms it is long enough for
is(status('/oct40', hs_sign('HS256', $k40, '{"alg":"HS256","kid":"k40"}',
                            json_text(\%c))), 200,
   '40-byte oct key: HS256 token: 200');
is(status('/oct40', hs_sign('HS384', $k40, '{"alg":"HS384","kid":"k40"}',
                            json_text(\%c))), 401,
   '40-byte oct key: HS384 token: 401');
like($t->error_log, qr/invalid token: no key fits the token's alg/,
     '40-byte oct key: HS384 token: "no key fits the token\'s alg"');
is(status('/oct40', hs_sign('HS512', $k40, '{"alg":"HS512","kid":"k40"}',
                            json_text(\%c))), 401,
   '40-byte oct key: HS512 token: 401');

# fetched keys: the weak ones are left out, the good ones serve
is(status('/fetched', mint(alg => 'ES256', key => $ec, claims => \%c,
                           header => { kid => 'ec' })), 200,
   'fetched: token of the good EC key: 200');
is(status('/fetched', mint(alg => 'RS256', key => $rsa, claims => \%c,
                           header => { kid => 'rsa2048' })), 200,
   'fetched: token of the 2048-bit RSA key: 200');
is(status('/fetched', mint(alg => 'RS256', key => $rsa1024, claims => \%c,
                           header => { kid => 'rsa1024' })), 401,
   'fetched: token of the 1024-bit RSA key: 401');
is(status('/fetched', mint(alg => 'RS256', key => $rsa1024, claims => \%c)),
   401, 'fetched: token of the 1024-bit RSA key, no kid: 401');
is(status('/fetched', hs_sign('HS256', $short,
                              '{"alg":"HS256","kid":"short"}',
                              json_text(\%c))), 401,
   'fetched: token of the 16-byte HMAC key: 401');
is(status('/fetched', hs_sign('HS256', $short, '{"alg":"HS256"}',
                              json_text(\%c))), 401,
   'fetched: token of the 16-byte HMAC key, no kid: 401');

is(weak_lines(), 1, 'fetched: one fetch, one line about the weak keys');
like($t->error_log,
     qr/\[warn\].*auth_jwt: key request "\/_idp\/mixed\.jwks": 2 key\(s\) weaker than RFC 7518 allows left out, first: key 0 \(kid "rsa1024"\): RSA modulus of 1024 bits/,
     'fetched: the line counts the weak keys and names the first');

# without a cache every request fetches, and logs once
is(status('/nocache', mint(alg => 'ES256', key => $ec, claims => \%c,
                           header => { kid => 'ec' })), 200,
   'no cache: token of the good EC key: 200');
is(status('/nocache', mint(alg => 'RS256', key => $rsa1024, claims => \%c,
                           header => { kid => 'rsa1024' })), 401,
   'no cache: token of the 1024-bit RSA key: 401');
is(weak_lines(), 3, 'no cache: one line per fetch');

# a fetched set of weak keys only is no key set
is(status('/weak-only', mint(alg => 'RS256', key => $rsa1024, claims => \%c,
                             header => { kid => 'rsa1024' })), 500,
   'fetched set with only a weak key: 500');
like($t->error_log,
     qr/\[error\].*key request "\/_idp\/weak-only\.jwks": no usable key: key 0 \(kid "rsa1024"\): RSA modulus of 1024 bits/,
     'fetched set with only a weak key: logged');

done_testing;
