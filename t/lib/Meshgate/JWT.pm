# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
package Meshgate::JWT;

# Token minting for the tests, with libraries independent of meshgate:
# CryptX / Crypt::JWT (Perl), Digest::SHA, and for Ed448 PyJWT with
# python3-cryptography (run as /usr/bin/python3).
#
#   my ($priv, $jwk) = gen_key('ES256', kid => 'k1');
#   my $token = mint(alg => 'ES256', key => $priv,
#                    claims => { sub => 'alice', exp => time + 60 },
#                    header => { kid => 'k1' });
#   $t->write_file('keys/a.jwks', jwks($jwk));
#
#   hs_sign('HS256', $secret, '{"alg":"HS256"}', '{"n":1.50}')   exact bytes
#   sign_compact('ES256', $priv, $header_json, $payload_json)     exact bytes
#   sign_input('HS256', $secret, "$h64.$p64")                     any segments
#   raw_token($header_json, $payload_json, $signature_bytes)      anything

use strict;
use warnings;

use Carp qw(croak);
use Crypt::JWT qw(encode_jwt);
use Crypt::PK::ECC;
use Crypt::PK::Ed25519;
use Crypt::PK::RSA;
use Crypt::PRNG qw(random_bytes);
use Digest::SHA qw(hmac_sha256 hmac_sha384 hmac_sha512);
use Exporter 'import';
use IPC::Open3 qw(open3);
use JSON::PP;
use MIME::Base64 qw(encode_base64url decode_base64url);
use Symbol qw(gensym);

our @EXPORT = qw(gen_key mint mint_ed448 jwks raw_token hs_sign
                 sign_compact sign_input signature b64url b64url_decode
                 json_text);
our @EXPORT_OK = @EXPORT;

our $PYTHON = '/usr/bin/python3';

my %HS = (HS256 => [\&hmac_sha256, 32],
          HS384 => [\&hmac_sha384, 48],
          HS512 => [\&hmac_sha512, 64]);

my %HASH = (256 => 'SHA256', 384 => 'SHA384', 512 => 'SHA512');

my %CURVE = (ES256 => 'secp256r1', ES384 => 'secp384r1', ES512 => 'secp521r1');


sub b64url { encode_base64url($_[0] // '') }

sub b64url_decode { decode_base64url($_[0] // '') }

# canonical compact JSON of a Perl structure, as UTF-8 bytes
sub json_text {
    return JSON::PP->new->utf8->canonical(1)->allow_nonref(1)->encode($_[0]);
}


# gen_key($alg, %jwk_members) -> ($private, $public_jwk_hashref)
#
# $alg: HS256..HS512, RS*, PS*, ES256/384/512, EdDSA or Ed25519, Ed448.
# %jwk_members (kid => 'k1', alg => 'RS256', use => 'sig', ...) are added to
# the public JWK.  The private part is what mint() / sign_compact() take:
# the secret bytes (HS*), a Crypt::PK::* object, or an Ed448 key object.

sub gen_key {
    my ($alg, %extra) = @_;
    croak 'gen_key: no alg' unless defined $alg;

    my ($priv, $jwk);

    if ($HS{$alg}) {
        $priv = random_bytes($HS{$alg}[1]);
        $jwk = { kty => 'oct', k => b64url($priv) };

    } elsif ($alg =~ /^(?:RS|PS)(256|384|512)$/) {
        $priv = Crypt::PK::RSA->new;
        $priv->generate_key(256, 65537);
        $jwk = $priv->export_key_jwk('public', 1);

    } elsif ($CURVE{$alg}) {
        $priv = Crypt::PK::ECC->new;
        $priv->generate_key($CURVE{$alg});
        $jwk = $priv->export_key_jwk('public', 1);

    } elsif ($alg eq 'EdDSA' || $alg eq 'Ed25519') {
        $priv = Crypt::PK::Ed25519->new;
        $priv->generate_key;
        $jwk = $priv->export_key_jwk('public', 1);

    } elsif ($alg eq 'Ed448') {
        my $r = _python_ed448({ op => 'gen' });
        $priv = bless { pem => $r->{pem} }, 'Meshgate::JWT::Ed448Key';
        $jwk = $r->{jwk};

    } else {
        croak "gen_key: unsupported alg $alg";
    }

    # keep only public members, then add the caller's
    my %pub = map { $_ => $jwk->{$_} }
              grep { exists $jwk->{$_} } qw(kty crv n e x y k);
    %pub = (%pub, %extra);

    return ($priv, \%pub);
}


# mint(alg => ..., key => $private, claims => {...}, header => {...})
# -> compact JWS, made by Crypt::JWT (PyJWT for Ed448 keys)

sub mint {
    my (%o) = @_;
    my $alg = $o{alg} // croak 'mint: no alg';
    my $key = $o{key} // croak 'mint: no key';
    my $claims = $o{claims} // {};
    my %header = %{$o{header} || {}};

    if (ref $key eq 'Meshgate::JWT::Ed448Key') {
        my ($token) = mint_ed448(key => $key, claims => $claims,
                                 header => \%header, alg => $alg);
        return $token;
    }

    delete $header{alg};
    return encode_jwt(payload => $claims, alg => $alg, key => $key,
                      extra_headers => \%header);
}


# mint_ed448(claims => {...}, header => {...}, key => $ed448_key?)
# -> ($token, $public_jwk, $key)   (a new key unless one is given)

sub mint_ed448 {
    my (%o) = @_;
    my $req = {
        op     => 'mint',
        claims => $o{claims} // {},
        header => $o{header} // {},
        alg    => $o{alg} // 'EdDSA',
    };
    $req->{pem} = $o{key}{pem} if $o{key};

    my $r = _python_ed448($req);
    my $key = $o{key} // bless { pem => $r->{pem} }, 'Meshgate::JWT::Ed448Key';
    my %jwk = (%{$r->{jwk}}, %{$o{jwk} || {}});
    return ($r->{token}, \%jwk, $key);
}


my $PY_ED448 = <<'PY';
import base64, json, sys
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed448 import Ed448PrivateKey

req = json.load(sys.stdin)
if req.get("pem"):
    key = serialization.load_pem_private_key(req["pem"].encode(), None)
else:
    key = Ed448PrivateKey.generate()
pem = key.private_bytes(serialization.Encoding.PEM,
                        serialization.PrivateFormat.PKCS8,
                        serialization.NoEncryption()).decode()
raw = key.public_key().public_bytes(serialization.Encoding.Raw,
                                    serialization.PublicFormat.Raw)
x = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
out = {"pem": pem, "jwk": {"kty": "OKP", "crv": "Ed448", "x": x}}
if req["op"] == "mint":
    headers = dict(req.get("header") or {})
    headers.pop("alg", None)
    out["token"] = jwt.encode(req["claims"], key, algorithm=req["alg"],
                              headers=headers or None)
elif req["op"] == "sign":
    out["sig"] = base64.urlsafe_b64encode(
        key.sign(req["input"].encode())).rstrip(b"=").decode()
json.dump(out, sys.stdout)
PY

sub _python_ed448 {
    my ($req) = @_;

    croak "Ed448 needs $PYTHON with python3-jwt and python3-cryptography"
        unless -x $PYTHON;

    my $err = gensym;
    my $pid = open3(my $in, my $out, $err, $PYTHON, '-c', $PY_ED448);
    print {$in} json_text($req);
    close $in;
    my $text = do { local $/; <$out> } // '';
    my $etext = do { local $/; <$err> } // '';
    waitpid($pid, 0);
    croak "python Ed448 helper failed ($?): $etext" if $? || $text eq '';
    return JSON::PP->new->decode($text);
}


# jwks(@public_jwks) -> '{"keys":[...]}'

sub jwks {
    return json_text({ keys => [@_] });
}


# raw_token($header_json, $payload_json, $signature_bytes)

sub raw_token {
    my ($h, $p, $sig) = @_;
    return join '.', b64url($h), b64url($p), b64url($sig // '');
}


# hs_sign($alg, $secret, $header_json, $payload_json): the exact given bytes,
# HMAC by Digest::SHA

sub hs_sign {
    my ($alg, $secret, $h, $p) = @_;
    my $f = $HS{$alg} or croak "hs_sign: not an HMAC alg: $alg";
    my $input = b64url($h) . '.' . b64url($p);
    return $input . '.' . b64url($f->[0]->($input, $secret));
}


# sign_compact($alg, $private, $header_json, $payload_json): exact bytes,
# any algorithm (CryptX; PyJWT's cryptography for Ed448)

sub sign_compact {
    my ($alg, $key, $h, $p) = @_;
    return sign_input($alg, $key, b64url($h) . '.' . b64url($p));
}


# sign_input($alg, $private, $signing_input): signs the given text as it is
# (for segments that are deliberately not canonical base64url) and returns
# "$signing_input.<signature>"

sub sign_input {
    my ($alg, $key, $input) = @_;
    return $input . '.' . b64url(signature($alg, $key, $input));
}


# signature($alg, $private, $bytes) -> raw signature bytes (JWS form: R || S
# for ECDSA)

sub signature {
    my ($alg, $key, $input) = @_;

    return $HS{$alg}[0]->($input, $key) if $HS{$alg};

    if ($alg =~ /^RS(256|384|512)$/) {
        return $key->sign_message($input, $HASH{$1}, 'v1.5');
    }
    if ($alg =~ /^PS(256|384|512)$/) {
        return $key->sign_message($input, $HASH{$1}, 'pss', $1 / 8);
    }
    if ($alg =~ /^ES(256|384|512)$/) {
        return $key->sign_message_rfc7518($input, $HASH{$1});
    }
    if ($alg eq 'EdDSA' && ref $key eq 'Meshgate::JWT::Ed448Key') {
        my $r = _python_ed448({ op => 'sign', pem => $key->{pem},
                                input => $input });
        return b64url_decode($r->{sig});
    }
    if ($alg eq 'EdDSA') {
        return $key->sign_message($input);
    }
    croak "signature: unsupported alg $alg";
}

1;
