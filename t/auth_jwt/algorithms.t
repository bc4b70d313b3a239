#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# auth_jwt: every algorithm verifies its own tokens and rejects tokens made
# with another key of the same type; keys are used only for algorithms that
# fit their kty / crv / alg.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Test::More;
use Meshgate::Test;
use Meshgate::JWT;

my $t = Meshgate::Test->new(workers => 1);
$t->need_module_or_skip;

my @ALGS = qw(HS256 HS384 HS512 RS256 RS384 RS512 PS256 PS384 PS512
              ES256 ES384 ES512 EdDSA);

# one key pair per type, shared by the algorithms of that type, and a second
# ("other") key of each type that is in no key file
my %type_of = (
    (map { $_ => $_ } qw(HS256 HS384 HS512 ES256 ES384 ES512)),
    (map { $_ => 'RSA' } qw(RS256 RS384 RS512 PS256 PS384 PS512)),
    EdDSA => 'Ed25519',
);
my %gen_alg = (RSA => 'RS256', Ed25519 => 'EdDSA');

my (%priv, %pub, %other);
for my $type (sort { $a cmp $b } keys %{{ reverse %type_of }}) {
    my $g = $gen_alg{$type} // $type;
    ($priv{$type}, $pub{$type}) = gen_key($g);
    ($other{$type}) = gen_key($g);
}

# Ed448 through PyJWT / python3-cryptography
my (undef, $ed448_jwk, $ed448) = mint_ed448(claims => {});
my (undef, undef, $ed448_other) = mint_ed448(claims => {});

# the key file: every key once per algorithm under kid "<alg>", without
# "alg" members, so that each token picks its key by kid
my @keys;
for my $alg (@ALGS) {
    push @keys, { %{$pub{$type_of{$alg}}}, kid => $alg };
}
push @keys, { %$ed448_jwk, kid => 'Ed448' };
$t->write_file('keys/all.jwks', jwks(@keys));

# keys that carry "alg" / "use"
my ($rsa_alg, $rsa_alg_jwk) = gen_key('RS256', kid => 'ra', alg => 'RS256');
my ($ec_alg, $ec_alg_jwk) = gen_key('ES256', kid => 'ea', alg => 'ES256');
my ($enc, $enc_jwk) = gen_key('RS256', kid => 'enc', use => 'enc');
my ($sig, $sig_jwk) = gen_key('RS256', kid => 'sig', use => 'sig');
$t->write_file('keys/alg.jwks', jwks($rsa_alg_jwk, $ec_alg_jwk, $enc_jwk,
                                     $sig_jwk));

# a P-384 key only, and an Ed25519 key only
my ($p384, $p384_jwk) = gen_key('ES384', kid => 'p384');
$t->write_file('keys/p384.jwks', jwks($p384_jwk));

$t->write_file('html/ok.txt', "OK\n");

my $conf = <<'EOF';
    server {
        listen 127.0.0.1:%%PORT_main%%;

        location /all {
            auth_jwt "all";
            auth_jwt_key_file %%PREFIX%%/keys/all.jwks;
            CONTENT
        }

        location /alg {
            auth_jwt "alg";
            auth_jwt_key_file %%PREFIX%%/keys/alg.jwks;
            CONTENT
        }

        location /p384 {
            auth_jwt "p384";
            auth_jwt_key_file %%PREFIX%%/keys/p384.jwks;
            CONTENT
        }
    }
EOF
$conf =~ s/CONTENT/root %%PREFIX%%\/html; try_files \/ok.txt =404;/g;

$t->start($conf);

sub status {
    my ($path, $token) = @_;
    return $t->get($path, Authorization => "Bearer $token")->{status};
}

my $exp = time + 300;

for my $alg (@ALGS) {
    my $type = $type_of{$alg};
    my %c = (sub => "user-$alg", exp => $exp);

    my $good = mint(alg => $alg, key => $priv{$type}, claims => \%c,
                    header => { kid => $alg });
    is(status('/all', $good), 200, "$alg: valid token: 200");

    my $nokid = mint(alg => $alg, key => $priv{$type}, claims => \%c);
    is(status('/all', $nokid), 200,
       "$alg: valid token without kid (any fitting key): 200");

    my $bad = mint(alg => $alg, key => $other{$type}, claims => \%c,
                   header => { kid => $alg });
    is(status('/all', $bad), 401,
       "$alg: token signed by another $type key: 401");

    my $bad_nokid = mint(alg => $alg, key => $other{$type}, claims => \%c);
    is(status('/all', $bad_nokid), 401,
       "$alg: token signed by another $type key, no kid: 401");

    # a valid token whose signature has one bit flipped
    my ($h, $p, $s) = split /\./, $good;
    my $raw = b64url_decode($s);
    substr($raw, length($raw) >> 1, 1) ^= "\x01";
    is(status('/all', "$h.$p." . b64url($raw)), 401,
       "$alg: one bit of the signature flipped: 401");

    # the payload changed after signing
    my $p2 = b64url(json_text({ %c, sub => 'admin' }));
    is(status('/all', "$h.$p2.$s"), 401, "$alg: payload changed: 401");
}

# --- Ed448 -------------------------------------------------------------------

{
    my %c = (sub => 'user-ed448', exp => $exp);
    my ($good) = mint_ed448(key => $ed448, claims => \%c,
                            header => { kid => 'Ed448' });
    is(status('/all', $good), 200, 'EdDSA (Ed448): valid token: 200');

    my ($nokid) = mint_ed448(key => $ed448, claims => \%c);
    is(status('/all', $nokid), 200,
       'EdDSA (Ed448): valid token without kid: 200');

    my ($bad) = mint_ed448(key => $ed448_other, claims => \%c,
                           header => { kid => 'Ed448' });
    is(status('/all', $bad), 401,
       'EdDSA (Ed448): token signed by another Ed448 key: 401');

    my ($bad_nokid) = mint_ed448(key => $ed448_other, claims => \%c);
    is(status('/all', $bad_nokid), 401,
       'EdDSA (Ed448): another Ed448 key, no kid: 401');

    # an Ed448 token naming the Ed25519 key
    my ($cross) = mint_ed448(key => $ed448, claims => \%c,
                             header => { kid => 'EdDSA' });
    is(status('/all', $cross), 401,
       'EdDSA: Ed448 signature checked against the Ed25519 key: 401');

    # an Ed25519 token naming the Ed448 key
    my $cross2 = mint(alg => 'EdDSA', key => $priv{Ed25519}, claims => \%c,
                      header => { kid => 'Ed448' });
    is(status('/all', $cross2), 401,
       'EdDSA: Ed25519 signature checked against the Ed448 key: 401');
}

# --- kty / crv must fit the alg ------------------------------------------------

{
    my %c = (sub => 'x', exp => $exp);

    # RSA key, but the token says ES256 and names the RSA key's kid
    my $es = mint(alg => 'ES256', key => $priv{ES256}, claims => \%c,
                  header => { kid => 'RS256' });
    is(status('/all', $es), 401, 'ES256 token naming an RSA key: 401');

    # RS256 token naming the P-256 key
    my $rs = mint(alg => 'RS256', key => $priv{RSA}, claims => \%c,
                  header => { kid => 'ES256' });
    is(status('/all', $rs), 401, 'RS256 token naming an EC key: 401');

    # ES384 signature made with the P-256 key (SHA-384 over P-256): the
    # P-256 key must not be used for ES384
    my $h = json_text({ alg => 'ES384', kid => 'ES256' });
    my $mixed = sign_compact('ES384', $priv{ES256}, $h, json_text(\%c));
    is(status('/all', $mixed), 401,
       'ES384 token signed with the P-256 key (kid of the P-256 key): 401');

    # ES256 with the P-384 key: only a P-384 key in the file
    my $h2 = json_text({ alg => 'ES256' });
    my $mixed2 = sign_compact('ES256', $p384, $h2, json_text(\%c));
    is(status('/p384', $mixed2), 401,
       'ES256 token signed with the only (P-384) key: 401');

    my $ok384 = mint(alg => 'ES384', key => $p384, claims => \%c);
    is(status('/p384', $ok384), 200, 'ES384 with the P-384 key: 200');

    # HS256 token whose HMAC key is an EC key's x coordinate bytes
    my $x = b64url_decode($pub{ES256}{x});
    my $hs = hs_sign('HS256', $x, json_text({ alg => 'HS256', kid => 'ES256' }),
                     json_text(\%c));
    is(status('/all', $hs), 401, 'HS256 token naming an EC key: 401');

    # PS256 with the RSA key of RS256 (no "alg" in that JWK): fits
    my $ps = mint(alg => 'PS256', key => $priv{RSA}, claims => \%c,
                  header => { kid => 'RS256' });
    is(status('/all', $ps), 200,
       'PS256 with an RSA key whose JWK has no alg: 200');
}

# --- JWK "alg" and "use" ---------------------------------------------------------

{
    my %c = (sub => 'x', exp => $exp);

    is(status('/alg', mint(alg => 'RS256', key => $rsa_alg, claims => \%c,
                           header => { kid => 'ra' })),
       200, 'JWK alg RS256: RS256 token: 200');

    is(status('/alg', mint(alg => 'RS384', key => $rsa_alg, claims => \%c,
                           header => { kid => 'ra' })),
       401, 'JWK alg RS256: RS384 token with the same key: 401');

    is(status('/alg', mint(alg => 'PS256', key => $rsa_alg, claims => \%c,
                           header => { kid => 'ra' })),
       401, 'JWK alg RS256: PS256 token with the same key: 401');

    is(status('/alg', mint(alg => 'PS256', key => $rsa_alg, claims => \%c)),
       401, 'JWK alg RS256: PS256 token without kid: 401');

    is(status('/alg', mint(alg => 'ES256', key => $ec_alg, claims => \%c)),
       200, 'JWK alg ES256: ES256 token without kid: 200');

    is(status('/alg', mint(alg => 'RS256', key => $enc, claims => \%c,
                           header => { kid => 'enc' })),
       401, 'JWK use "enc": never used for signatures: 401');

    is(status('/alg', mint(alg => 'RS256', key => $sig, claims => \%c,
                           header => { kid => 'sig' })),
       200, 'JWK use "sig": 200');
}

done_testing;
