#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# meshgate: JWK parsing and JWS verification (mg_jwk.c, mg_jws.c), without
# nginx.
#
# Keys and tokens are made here with tooling that does not share code with
# the module: CryptX and Crypt::JWT (libtomcrypt) for everything but Ed448,
# which only Python's cryptography and PyJWT do.  t/unit/test_crypto.c is
# then built with the mg_*.c files and run over them; its TAP is ours.
#
# CC and MESHGATE_UNIT_CFLAGS (say "-fsanitize=address,undefined -g") are
# taken from the environment.

use strict;
use warnings;

use File::Basename qw(dirname);
use File::Spec;
use File::Temp qw(tempdir);
use Cwd qw(abs_path);

BEGIN {
    for my $m (qw(Crypt::JWT Crypt::PK::RSA Crypt::PK::ECC Crypt::PK::Ed25519
                  Crypt::PK::X25519 Crypt::Misc Crypt::PRNG))
    {
        unless (eval "require $m; 1") {
            print "1..0 # SKIP $m is not installed "
                . "(apt-get install libcrypt-jwt-perl)\n";
            exit 0;
        }
    }
}

use Crypt::JWT qw(encode_jwt);
use Crypt::Misc qw(decode_b64u);
use Crypt::PRNG qw(random_bytes);

my $top = abs_path(File::Spec->catdir(dirname(abs_path($0)), '..'));
my $dir = tempdir('meshgate-crypto-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $python = $ENV{MESHGATE_PYTHON} // '/usr/bin/python3';

my @lines;
my $nfile = 0;


# CryptX's encoder returns undef for substr()'s magic values: copy first
sub b64u {
    my ($data) = @_;
    my $copy = "$data";
    return Crypt::Misc::encode_b64u($copy);
}


sub put {
    my ($content, $name) = @_;
    $name //= 'f' . $nfile++ . '.json';
    open my $fh, '>', "$dir/$name" or die "$dir/$name: $!";
    binmode $fh;
    print $fh $content;
    close $fh;
    return $name;
}


# compact JSON with keys in a fixed order, enough for flat JWKs
sub json {
    my ($h) = @_;
    return '{' . join(',', map {
        my $v = $h->{$_};
        '"' . $_ . '":' . (ref $v eq 'ARRAY'
                           ? '[' . join(',', map { "\"$_\"" } @$v) . ']'
                           : "\"$v\"")
    } sort keys %$h) . '}';
}


sub jwk_hash {
    my ($key, $which) = @_;
    return $key->export_key_jwk($which // 'public', 1);
}


sub verify {
    my ($expect, $alg, $jwk, $token, $name) = @_;
    push @lines, "verify $expect $alg $jwk $token $name";
}


sub tamper_payload {
    my ($token) = @_;
    my ($h, $p, $s) = split /\./, $token;
    return join '.', $h, b64u('{"sub":"mallory","admin":true}'), $s;
}


sub flip_signature {
    my ($token) = @_;
    my ($h, $p, $s) = split /\./, $token;
    my $raw = decode_b64u($s);
    substr($raw, length($raw) / 2, 1) ^= "\x01";
    return join '.', $h, $p, b64u($raw);
}


sub cut_signature {
    my ($token) = @_;
    my ($h, $p, $s) = split /\./, $token;
    return join '.', $h, $p, b64u(substr(decode_b64u($s), 0, -1));
}


# a valid token, then the same one broken in every way that must fail
sub token_cases {
    my ($alg, $what, $jwk, $wrong, $token) = @_;

    verify('valid', $alg, $jwk, $token, "$what: valid token verifies");
    verify('invalid', $alg, $jwk, tamper_payload($token),
           "$what: tampered payload fails");
    verify('invalid', $alg, $jwk, flip_signature($token),
           "$what: flipped signature bit fails");
    verify('invalid', $alg, $jwk, cut_signature($token),
           "$what: signature one byte short fails");
    verify('invalid', $alg, $wrong, $token, "$what: wrong key fails");
}


my $claims = { sub => 'alice', iat => 1700000000, aud => 'meshgate' };


# HMAC

for my $alg (qw(HS256 HS384 HS512)) {
    my $secret = random_bytes(64);
    my $jwk = put(json({ kty => 'oct', k => b64u($secret) }));
    my $wrong = put(json({ kty => 'oct', k => b64u(random_bytes(64)) }));
    my $token = encode_jwt(payload => $claims, alg => $alg, key => $secret);

    token_cases($alg, $alg, $jwk, $wrong, $token);
}


# RSA: PKCS#1 v1.5 and PSS with one key pair

my $rsa = Crypt::PK::RSA->new->generate_key(256, 65537);
my $rsa2 = Crypt::PK::RSA->new->generate_key(256, 65537);
my $rsa_jwk = put($rsa->export_key_jwk('public'));
my $rsa_wrong = put($rsa2->export_key_jwk('public'));

for my $alg (qw(RS256 RS384 RS512 PS256 PS384 PS512)) {
    my $token = encode_jwt(payload => $claims, alg => $alg, key => $rsa);
    token_cases($alg, $alg, $rsa_jwk, $rsa_wrong, $token);
}

{
    # some encoders put a zero byte in front of the modulus
    my $h = jwk_hash($rsa);
    $h->{n} = b64u("\0" . decode_b64u($h->{n}));
    my $jwk = put(json($h));
    my $token = encode_jwt(payload => $claims, alg => 'RS256', key => $rsa);
    verify('valid', 'RS256', $jwk, $token,
           'RS256: modulus with a leading zero byte');

    # the private JWK is read as its public part
    $jwk = put($rsa->export_key_jwk('private'));
    $token = encode_jwt(payload => $claims, alg => 'PS384', key => $rsa);
    verify('valid', 'PS384', $jwk, $token, 'PS384: private RSA JWK');

    # the classic confusion: an HMAC keyed with the public key's text
    $token = encode_jwt(payload => $claims, alg => 'HS256',
                        key => $rsa->export_key_jwk('public'));
    verify('nofit', 'HS256', $rsa_jwk, $token,
           'HS256 token against an RSA key is refused');
}


# ECDSA

my %curves = (ES256 => 'secp256r1', ES384 => 'secp384r1',
              ES512 => 'secp521r1');
my %ec;

for my $alg (qw(ES256 ES384 ES512)) {
    my $key = Crypt::PK::ECC->new->generate_key($curves{$alg});
    my $key2 = Crypt::PK::ECC->new->generate_key($curves{$alg});
    my $jwk = put($key->export_key_jwk('public'));
    my $wrong = put($key2->export_key_jwk('public'));
    my $token = encode_jwt(payload => $claims, alg => $alg, key => $key);

    $ec{$alg} = { key => $key, jwk => $jwk };

    token_cases($alg, $alg, $jwk, $wrong, $token);
}

{
    my ($key, $jwk) = @{$ec{ES256}}{qw(key jwk)};
    my $token = encode_jwt(payload => $claims, alg => 'ES256', key => $key);
    my ($h, $p, $s) = split /\./, $token;
    my $input = "$h.$p";

    # DER is what OpenSSL wants, but JWS says R || S
    my $der = $key->sign_message($input, 'SHA256');
    verify('invalid', 'ES256', $jwk, "$input." . b64u($der),
           'ES256: DER-encoded signature is rejected');

    my $raw = decode_b64u($s);
    verify('invalid', 'ES256', $jwk,
           "$input." . b64u(substr($raw, 0, 63)),
           'ES256: 63-byte signature is rejected');
    verify('invalid', 'ES256', $jwk, "$input." . b64u("$raw\0"),
           'ES256: 65-byte signature is rejected');
    verify('invalid', 'ES256', $jwk, "$input." . b64u("\0" x 64),
           'ES256: all-zero signature is rejected');

    my $priv = put($key->export_key_jwk('private'));
    verify('valid', 'ES256', $priv, $token, 'ES256: private EC JWK');

    # an ES384 signature on a P-256 key
    my $t384 = encode_jwt(payload => $claims, alg => 'ES384',
                          key => $ec{ES384}{key});
    verify('nofit', 'ES384', $jwk, $t384, 'ES384 token against P-256 key');
}


# EdDSA with Ed25519

my $ed = Crypt::PK::Ed25519->new->generate_key;
my $ed_jwk = put($ed->export_key_jwk('public'));
my $ed_wrong = put(Crypt::PK::Ed25519->new->generate_key
                   ->export_key_jwk('public'));

token_cases('EdDSA', 'EdDSA (Ed25519)', $ed_jwk, $ed_wrong,
            encode_jwt(payload => $claims, alg => 'EdDSA', key => $ed));

verify('valid', 'EdDSA', put($ed->export_key_jwk('private')),
       encode_jwt(payload => $claims, alg => 'EdDSA', key => $ed),
       'EdDSA: private Ed25519 JWK');


# EdDSA with Ed448, which CryptX does not do

my $ed448_script = <<'END';
import json, sys
import jwt
from cryptography.hazmat.primitives.asymmetric.ed448 import Ed448PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding, PublicFormat)
from jwt.utils import base64url_encode

def jwk(k):
    raw = k.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return json.dumps({"kty": "OKP", "crv": "Ed448",
                       "x": base64url_encode(raw).decode()})

key, other = Ed448PrivateKey.generate(), Ed448PrivateKey.generate()
print(jwk(key))
print(jwk(other))
print(jwt.encode(json.loads(sys.argv[1]), key, algorithm="EdDSA"))
END

my @ed448;
if (open my $py, '-|', $python, '-c', $ed448_script,
    '{"sub":"alice","iat":1700000000}')
{
    @ed448 = <$py>;
    close $py;
    chomp @ed448;
}

my $ed448_jwk;

if (@ed448 == 3 && $? == 0) {
    $ed448_jwk = put($ed448[0]);
    token_cases('EdDSA', 'EdDSA (Ed448)', $ed448_jwk, put($ed448[1]),
                $ed448[2]);

    # a signature of Ed25519's length on an Ed448 key
    my ($h, $p) = split /\./, $ed448[2];
    verify('invalid', 'EdDSA', $ed448_jwk,
           "$h.$p." . b64u("\x01" x 64),
           'EdDSA (Ed448): 64-byte signature is rejected');

} else {
    push @lines, "# no Ed448 vectors: $python with jwt and cryptography "
                 . "failed";
    print "# no Ed448 vectors: $python with jwt and cryptography failed\n";
}


# mg_jwk_fits() across families

{
    my $p384 = $ec{ES384}{jwk};
    my $p256 = $ec{ES256}{jwk};

    my $h = jwk_hash($rsa);
    $h->{alg} = 'RS256';
    my $rsa_rs256 = put(json($h));

    my $oct = put(json({ kty => 'oct', k => b64u(random_bytes(64)) }));
    my $oct40 = put(json({ kty => 'oct', k => b64u(random_bytes(40)) }));
    my $oct48 = put(json({ kty => 'oct', k => b64u(random_bytes(48)) }));

    my @fits = (
        [0, 'HS256', $rsa_jwk, 'HS256 does not fit an RSA key'],
        [0, 'HS256', $ed_jwk, 'HS256 does not fit an OKP key'],
        [0, 'RS256', $oct, 'RS256 does not fit an oct key'],
        [0, 'ES256', $p384, 'ES256 does not fit a P-384 key'],
        [0, 'ES512', $p384, 'ES512 does not fit a P-384 key'],
        [0, 'ES384', $rsa_jwk, 'ES384 does not fit an RSA key'],
        [0, 'RS256', $p256, 'RS256 does not fit an EC key'],
        [0, 'PS256', $p256, 'PS256 does not fit an EC key'],
        [0, 'EdDSA', $p256, 'EdDSA does not fit an EC key'],
        [0, 'ES256', $ed_jwk, 'ES256 does not fit an Ed25519 key'],
        [0, 'RS384', $rsa_rs256, 'RS384 does not fit a key with alg RS256'],
        [0, 'PS256', $rsa_rs256, 'PS256 does not fit a key with alg RS256'],
        [1, 'RS256', $rsa_rs256, 'RS256 fits a key with alg RS256'],
        [1, 'PS512', $rsa_jwk, 'PS512 fits an RSA key without alg'],
        [1, 'HS512', $oct, 'HS512 fits an oct key'],
        [1, 'HS256', $oct40, 'HS256 fits a 40-byte oct key'],
        [0, 'HS384', $oct40, 'HS384 does not fit a 40-byte oct key'],
        [0, 'HS512', $oct40, 'HS512 does not fit a 40-byte oct key'],
        [1, 'HS384', $oct48, 'HS384 fits a 48-byte oct key'],
        [0, 'HS512', $oct48, 'HS512 does not fit a 48-byte oct key'],
        [1, 'ES384', $p384, 'ES384 fits a P-384 key'],
        [1, 'ES512', $ec{ES512}{jwk}, 'ES512 fits a P-521 key'],
        [1, 'EdDSA', $ed_jwk, 'EdDSA fits an Ed25519 key'],
    );

    push @fits, [1, 'EdDSA', $ed448_jwk, 'EdDSA fits an Ed448 key']
        if defined $ed448_jwk;

    push @lines, map { "fits @$_" } @fits;
}


# JWK Sets: what is skipped and why

{
    my $ec_pub = jwk_hash($ec{ES256}{key});

    # skipped is "N" or "N/W": N keys left out, W of them as weak
    my $jwks = sub {
        my ($name, $rc, $n, $skipped, $text, @keys) = @_;
        my $doc = '{"keys":[' . join(',', map { ref $_ ? json($_) : $_ }
                                          @keys) . ']}';
        push @lines, "jwks $rc $n $skipped " . put($doc, "$name.json")
                     . " $text";
    };

    $jwks->('use-enc', 0, 0, 1,
            'key 0 (kid "enc-key"): "use" is not "sig"',
            { %$ec_pub, use => 'enc', kid => 'enc-key' });

    $jwks->('use-sig', 0, 1, 0, '-',
            { %$ec_pub, use => 'sig', kid => 'sig-key' });

    $jwks->('key_ops-without-verify', 0, 0, 1,
            'key 0 (kid "wrap"): "key_ops" lacks "verify"',
            { %$ec_pub, key_ops => ['sign', 'wrapKey'], kid => 'wrap' });

    $jwks->('key_ops-with-verify', 0, 1, 0, '-',
            { %$ec_pub, key_ops => ['sign', 'verify'] });

    my $y = decode_b64u($ec_pub->{y});
    substr($y, -1, 1) ^= "\x01";

    $jwks->('ec-y-off-curve', 0, 0, 1,
            'key 0 (kid "moved"): EC point is not on the curve',
            { %$ec_pub, y => b64u($y), kid => 'moved' });

    # x = p, the field prime, is no coordinate, though it is 0 modulo p
    my $p256 = pack 'H*', 'ffffffff00000001000000000000000000000000'
                          . 'ffffffffffffffffffffffff';

    $jwks->('ec-x-equals-p', 0, 0, 1,
            'EC point is not on the curve',
            { %$ec_pub, x => b64u($p256) });

    $jwks->('ec-x-padded', 0, 0, 1,
            'key 0: "x" is not valid base64url',
            { %$ec_pub, x => "$ec_pub->{x}=" });

    $jwks->('ec-x-plus-char', 0, 0, 1,
            '"x" is not valid base64url',
            { %$ec_pub,
              x => substr($ec_pub->{x}, 0, 10) . '+'
                   . substr($ec_pub->{x}, 11) });

    $jwks->('ec-x-31-bytes', 0, 0, 1,
            '"x" or "y" is not 32 bytes long',
            { %$ec_pub, x => b64u(substr(decode_b64u($ec_pub->{x}), 1)) });

    $jwks->('ec-crv-secp256k1', 0, 0, 1,
            '"crv" is not P-256, P-384 or P-521',
            { %$ec_pub, crv => 'secp256k1' });

    $jwks->('okp-x25519', 0, 0, 1,
            'key 0 (kid "x"): "crv" X25519 is for key agreement',
            { %{jwk_hash(Crypt::PK::X25519->new->generate_key)},
              kid => 'x' });

    $jwks->('kty-foo-after-good-key', 0, 1, 1,
            'key 1: unsupported "kty"',
            { %$ec_pub }, { kty => 'foo', k => 'AAAA' });

    $jwks->('kty-lowercase-ec', 0, 0, 1,
            'key 0: unsupported "kty"',
            { %$ec_pub, kty => 'ec' });

    $jwks->('ec-alg-es384-on-p256', 0, 0, 1,
            '"alg" does not match the key type or curve',
            { %$ec_pub, alg => 'ES384' });

    $jwks->('ec-alg-ecdh-es', 0, 0, 1,
            '"alg" is not a supported signature algorithm',
            { %$ec_pub, alg => 'ECDH-ES' });

    $jwks->('rsa-alg-rsa-oaep', 0, 0, 1,
            '"alg" is not a supported signature algorithm',
            { %{jwk_hash($rsa)}, alg => 'RSA-OAEP' });

    $jwks->('rsa-512-bits', 0, 0, '1/1',
            'RSA modulus of 512 bits, shorter than the 2048 RFC 7518 requires',
            { kty => 'RSA', e => 'AQAB',
              n => b64u("\xc5" . random_bytes(62) . "\x01") });

    # RFC 7518: RSA keys of 2048 bits or more, HMAC keys as long as the hash
    my $rsa1024 = Crypt::PK::RSA->new->generate_key(128, 65537);

    $jwks->('rsa-1024-bits', 0, 0, '1/1',
            'key 0 (kid "old"): RSA modulus of 1024 bits, shorter than',
            { %{jwk_hash($rsa1024)}, kid => 'old' });

    $jwks->('rsa-2047-bits', 0, 0, '1/1',
            'RSA modulus of 2047 bits',
            { kty => 'RSA', e => 'AQAB',
              n => b64u("\x7f" . random_bytes(254) . "\x01") });

    $jwks->('rsa-2048-bits', 0, 1, 0, '-', { %{jwk_hash($rsa)} });

    $jwks->('oct-1-byte', 0, 0, '1/1',
            'key 0: oct key of 1 bytes, shorter than the 32 RFC 7518 requires',
            { kty => 'oct', k => b64u('k') });

    $jwks->('oct-31-bytes', 0, 0, '1/1',
            'key 0 (kid "h"): oct key of 31 bytes, shorter than the 32',
            { kty => 'oct', kid => 'h', k => b64u(random_bytes(31)) });

    $jwks->('oct-32-bytes', 0, 1, 0, '-',
            { kty => 'oct', k => b64u(random_bytes(32)) });

    $jwks->('oct-32-bytes-hs256', 0, 1, 0, '-',
            { kty => 'oct', alg => 'HS256', k => b64u(random_bytes(32)) });

    $jwks->('oct-47-bytes-hs384', 0, 0, '1/1',
            'oct key of 47 bytes, shorter than the 48 RFC 7518 requires '
            . 'for HS384',
            { kty => 'oct', alg => 'HS384', k => b64u(random_bytes(47)) });

    $jwks->('oct-48-bytes-hs384', 0, 1, 0, '-',
            { kty => 'oct', alg => 'HS384', k => b64u(random_bytes(48)) });

    $jwks->('oct-63-bytes-hs512', 0, 0, '1/1',
            'shorter than the 64 RFC 7518 requires for HS512',
            { kty => 'oct', alg => 'HS512', k => b64u(random_bytes(63)) });

    $jwks->('oct-64-bytes-hs512', 0, 1, 0, '-',
            { kty => 'oct', alg => 'HS512', k => b64u(random_bytes(64)) });

    # an oct key that is short and for another algorithm: the mismatch
    $jwks->('oct-short-es256', 0, 0, 1,
            '"alg" does not match the key type or curve',
            { kty => 'oct', alg => 'ES256', k => b64u('short') });

    # a weak key among good ones: they stay, it is counted as weak
    $jwks->('weak-among-good', 0, 2, '2/1',
            'key 3: unsupported "kty"',
            { %$ec_pub },
            { %{jwk_hash($rsa1024)}, kid => 'old' },
            { kty => 'oct', k => b64u(random_bytes(32)) },
            { kty => 'foo' });

    $jwks->('rsa-even-modulus', 0, 0, 1,
            '"n" is not an RSA modulus',
            { kty => 'RSA', e => 'AQAB',
              n => b64u("\xc5" . random_bytes(254) . "\x02") });

    $jwks->('rsa-e-1', 0, 0, 1,
            '"e" is not a usable RSA exponent',
            { %{jwk_hash($rsa)}, e => 'AQ' });

    $jwks->('rsa-no-e', 0, 0, 1,
            '"e" is missing or not a string',
            { kty => 'RSA', n => jwk_hash($rsa)->{n} });

    $jwks->('ed25519-x-short', 0, 0, 1,
            '"x" is not 32 bytes long',
            { kty => 'OKP', crv => 'Ed25519', x => b64u('short') });

    $jwks->('okp-crv-ed25519ph', 0, 0, 1,
            '"crv" is not Ed25519 or Ed448',
            { kty => 'OKP', crv => 'Ed25519ph', x => jwk_hash($ed)->{x} });

    # private keys are read as their public parts
    $jwks->('private-keys', 0, 4, 0, '-',
            $rsa->export_key_jwk('private'),
            $ec{ES512}{key}->export_key_jwk('private'),
            $ed->export_key_jwk('private'),
            json({ kty => 'oct', k => b64u(random_bytes(32)) }));

    # usable keys survive their unusable neighbours
    $jwks->('mixed-set', 0, 3, 2,
            'key 4 (kid "nokty"): "kty" is missing or not a string',
            $rsa->export_key_jwk('public'),
            { %$ec_pub, use => 'enc' },
            $ec{ES384}{key}->export_key_jwk('public'),
            $ed->export_key_jwk('public'),
            { kid => 'nokty' });

    my $doc = sub {
        my ($name, $rc, $n, $skipped, $text, $content) = @_;
        push @lines, "jwks $rc $n $skipped " . put($content, "$name.json")
                     . " $text";
    };

    # a single JWK rather than a set
    $doc->('single-jwk', 0, 1, 0, '-', $ed->export_key_jwk('public'));
    $doc->('single-jwk-enc', 0, 0, 1, 'key 0: "use" is not "sig"',
           json({ %$ec_pub, use => 'enc' }));

    $doc->('empty-set', 0, 0, 0, '-', '{"keys":[]}');

    $doc->('array', -1, 0, 0, 'not a JWK or JWK Set',
           '[' . $rsa->export_key_jwk('public') . ']');
    $doc->('string', -1, 0, 0, 'not a JWK or JWK Set', '"keys"');
    $doc->('truncated', -1, 0, 0, 'invalid JSON', '{"keys":[');
    $doc->('no-kty-no-keys', -1, 0, 0, 'not a JWK', '{"kid":"a"}');
    $doc->('duplicate-kid', -1, 0, 0, 'duplicate',
           '{"keys":[{"kty":"oct","k":"AAAA","kid":"a","kid":"b"}]}');
}


put(join("\n", @lines) . "\n", 'vectors.txt');


# build and run

my $cc = $ENV{CC} // 'cc';
my @sources = sort grep { !/\/ngx_/ } glob("$top/lib/mg_*.c");
my @cmd = ($cc, qw(-std=gnu99 -Wall -Wextra -Wpointer-arith
                   -Wno-unused-parameter -Werror -O2
                   -DOPENSSL_API_COMPAT=30000 -DOPENSSL_NO_DEPRECATED),
           split(' ', $ENV{MESHGATE_UNIT_CFLAGS} // ''),
           "-I$top/lib", "$top/t/unit/test_crypto.c", @sources,
           qw(-lcrypto), '-o', "$dir/test_crypto");

my $out = qx{@{[ join ' ', map { quotemeta } @cmd ]} 2>&1};

if ($? != 0) {
    print "1..1\nnot ok 1 - compile\n";
    print "# $_\n" for ("@cmd", split /\n/, $out);
    exit 1;
}

print "# $_\n" for grep { length } split /\n/, $out;

open my $run, '-|', "$dir/test_crypto", $dir or die "run: $!";
while (<$run>) {
    print;
}
close $run;

my $status = $?;
if ($status & 127) {
    print "# test_crypto died with signal ", $status & 127, "\n";
    print "not ok - test_crypto died\n";
}

exit($status >> 8 || ($status & 127 ? 1 : 0));
