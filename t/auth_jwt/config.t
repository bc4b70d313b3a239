#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# auth_jwt configuration: what `nginx -t` accepts and what it refuses, with a
# message naming the directive.

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
my ($rsa, $rsa_jwk) = gen_key('RS256', kid => 'rsa1');

$t->write_file('keys/good.jwks', jwks($hs_jwk, $ec_jwk));
$t->write_file('keys/single.jwk', json_text($rsa_jwk));
$t->write_file('keys/private.jwks',
               jwks({ %{$ec->export_key_jwk('private', 1)}, kid => 'p' }));
$t->write_file('keys/some-unusable.jwks',
               jwks({ kty => 'XYZ', kid => 'u1' },
                    { %$rsa_jwk, use => 'enc', kid => 'u2' },
                    $ec_jwk));
$t->write_file('keys/not-json.jwks', "{ this is not json\n");
$t->write_file('keys/truncated.jwks', substr(jwks($ec_jwk), 0, 30));
$t->write_file('keys/array.jwks', '[' . json_text($ec_jwk) . ']');
$t->write_file('keys/empty-file.jwks', '');
$t->write_file('keys/empty-set.jwks', '{"keys":[]}');
$t->write_file('keys/unknown-kty.jwks', jwks({ kty => 'XYZ', k => 'abc' }));
$t->write_file('keys/enc-only.jwks', jwks({ %$rsa_jwk, use => 'enc' }));
{
    my %bad = %$ec_jwk;
    my $y = b64url_decode($bad{y});
    substr($y, -1, 1) ^= "\x01";
    $bad{y} = b64url($y);
    $t->write_file('keys/off-curve.jwks', jwks(\%bad));
}
$t->write_file('keys/rsa-no-e.jwks',
               jwks({ kty => 'RSA', n => $rsa_jwk->{n}, kid => 'x' }));
mkdir $t->prefix . '/keys/a-directory.jwks';

sub loc {
    my ($body, %o) = @_;
    # one directive per line, so that the line an error points to tells
    # which directive it is about
    $body =~ s/;\s*/;\n            /g;
    return ($o{http} // '') . <<"EOF";
    server {
        listen 127.0.0.1:%%PORT_main%%;
        location /p {
            $body
            root %%PREFIX%%;
        }
    }
EOF
}

sub good_conf { $t->config_accepted(@_) }
sub bad_conf  { $t->config_refused(@_) }

my $K = '%%PREFIX%%/keys';

# --- accepted -----------------------------------------------------------------

good_conf(loc(qq{auth_jwt "x"; auth_jwt_key_file $K/good.jwks;}), 'minimal');

good_conf(loc(qq{
            auth_jwt "x" token=\$cookie_jwt;
            auth_jwt_key_file $K/good.jwks;
            auth_jwt_key_file $K/single.jwk;
            auth_jwt_leeway 10s;
            auth_jwt_key_cache 5m;
            auth_jwt_type signed;
            auth_jwt_require \$jwt_claim_sub \$c error=403;
            auth_jwt_require \$h;
            add_header X-P \$jwt_payload;
            add_header X-A \$jwt_header_alg;
            add_header X-S \$jwt_claim_sub;},
    http => "    auth_jwt_claim_set \$c a b c;\n"
          . "    auth_jwt_header_set \$h kid;\n"),
    'every directive');

good_conf(loc(qq{auth_jwt "x"; auth_jwt_key_request /jwks;}),
          'auth_jwt_key_request as the only key source');

good_conf(loc(qq{auth_jwt "realm \$host" token=\$arg_t;
                 auth_jwt_key_file $K/good.jwks;}),
          'realm with a variable, token=$arg_t');

good_conf(loc('auth_jwt off;'), 'auth_jwt off without keys');

good_conf(loc(qq{auth_jwt "x"; auth_jwt_key_file $K/single.jwk;}),
          'single JWK (not a set)');

good_conf(loc(qq{auth_jwt "x"; auth_jwt_key_file $K/private.jwks;}),
          'JWK with private members (public part used)');

good_conf(loc(qq{auth_jwt "x"; auth_jwt_key_file $K/some-unusable.jwks;}),
          'JWKS with unusable keys next to a usable one');

good_conf(loc(qq{limit_except GET { auth_jwt "x"; }
                 auth_jwt_key_file $K/good.jwks;}),
          'auth_jwt in limit_except, key inherited');

good_conf("    auth_jwt \"x\";\n    auth_jwt_key_file $K/good.jwks;\n"
          . loc('auth_jwt off;'), 'http-level auth_jwt and key file');

good_conf(loc(qq{auth_jwt "x"; auth_jwt_key_file $K/good.jwks;
                 auth_jwt_leeway 0;}), 'auth_jwt_leeway 0');

# --- no key source ---------------------------------------------------------------------

bad_conf(loc('auth_jwt "x";'), 'auth_jwt', qr/key/i,
         'auth_jwt without any key source');
bad_conf(loc(qq{auth_jwt "x";
                limit_except GET { auth_jwt_key_file $K/good.jwks; }}),
         'auth_jwt', qr/key/i,
         'auth_jwt whose only key file is inside limit_except');

# --- key files ----------------------------------------------------------------------------

sub key_file_conf {
    my ($file) = @_;
    return loc(qq{auth_jwt "x"; auth_jwt_key_file $K/$file;});
}

bad_conf(key_file_conf('does-not-exist.jwks'), 'auth_jwt_key_file',
         qr/does-not-exist\.jwks/, 'key file that does not exist');
bad_conf(key_file_conf('a-directory.jwks'), 'auth_jwt_key_file',
         qr/a-directory\.jwks/, 'key file that is a directory');

SKIP: {
    skip 'root can read any file', 1 if $> == 0;
    my $p = $t->write_file('keys/unreadable.jwks', jwks($ec_jwk));
    chmod 0000, $p;
    bad_conf(key_file_conf('unreadable.jwks'), 'auth_jwt_key_file',
             qr/unreadable\.jwks/, 'unreadable key file');
}

for my $case (
    [ 'not-json',      'key file that is not JSON' ],
    [ 'truncated',     'truncated JSON key file' ],
    [ 'array',         'key file with a JSON array' ],
    [ 'empty-file',    'empty key file' ],
    [ 'empty-set',     'JWKS with no keys' ],
    [ 'unknown-kty',   'JWKS whose only key has an unknown kty' ],
    [ 'enc-only',      'JWKS whose only key is for encryption' ],
    [ 'off-curve',     'JWKS whose only EC key is not on the curve' ],
    [ 'rsa-no-e',      'JWKS whose only RSA key has no "e"' ],
) {
    my ($file, $name) = @$case;
    bad_conf(key_file_conf("$file.jwks"), 'auth_jwt_key_file',
             qr/\Q$file\E\.jwks/, $name);
}

# a broken key file of several lines: the message says where it breaks
$t->write_file('keys/broken-line3.jwks',
               qq({"keys": [\n  {"kty": "oct",\n   "k" "x"}\n]}\n));
bad_conf(key_file_conf('broken-line3.jwks'), 'auth_jwt_key_file',
         qr/broken-line3\.jwks.*expected ":" \(line 3, column 8\)/,
         'a key file broken on line 3 names the line and column');

# --- other directives ----------------------------------------------------------------------

my $key = qq{auth_jwt "x"; auth_jwt_key_file $K/good.jwks;};

bad_conf(loc("$key auth_jwt_leeway abc;"), 'auth_jwt_leeway',
         qr/auth_jwt_leeway|"abc"/, 'auth_jwt_leeway abc');
bad_conf(loc("$key auth_jwt_leeway -5s;"), 'auth_jwt_leeway',
         qr/auth_jwt_leeway|"-5s"/, 'auth_jwt_leeway -5s');
bad_conf(loc("$key auth_jwt_key_cache forever;"), 'auth_jwt_key_cache',
         qr/auth_jwt_key_cache|"forever"/, 'auth_jwt_key_cache forever');

bad_conf(loc("$key auth_jwt_require \$jwt_claim_sub error=500;"),
         'auth_jwt_require', qr/error=500/, 'auth_jwt_require error=500');
bad_conf(loc("$key auth_jwt_require \$jwt_claim_sub error=abc;"),
         'auth_jwt_require', qr/error=abc/, 'auth_jwt_require error=abc');
bad_conf(loc("$key auth_jwt_require error=403;"), 'auth_jwt_require',
         qr/auth_jwt_require|value/, 'auth_jwt_require with no value');

bad_conf(loc("$key auth_jwt_type encrypted;"), 'auth_jwt_type',
         qr/supported/, 'auth_jwt_type encrypted ("not supported")');
bad_conf(loc("$key auth_jwt_type nested;"), 'auth_jwt_type',
         qr/supported/, 'auth_jwt_type nested ("not supported")');
bad_conf(loc("$key auth_jwt_type bogus;"), 'auth_jwt_type',
         qr/auth_jwt_type|"bogus"/, 'auth_jwt_type bogus');

bad_conf(loc(qq{auth_jwt "x" token=cookie_jwt; auth_jwt_key_file $K/good.jwks;}),
         'auth_jwt', qr/token=|cookie_jwt/, 'token= without a variable');
bad_conf(loc(qq{auth_jwt "x" bogus=1; auth_jwt_key_file $K/good.jwks;}),
         'auth_jwt', qr/bogus=1/, 'auth_jwt with an unknown parameter');

bad_conf(loc("$key auth_jwt_claim_set \$c sub;"), 'auth_jwt_claim_set',
         qr/auth_jwt_claim_set/, 'auth_jwt_claim_set in a location (http only)');
bad_conf(loc($key, http => "    auth_jwt_claim_set c sub;\n"),
         'auth_jwt_claim_set', qr/auth_jwt_claim_set|"c"/,
         'auth_jwt_claim_set without a $variable');
bad_conf(loc($key, http => "    auth_jwt_claim_set \$c;\n"),
         'auth_jwt_claim_set', qr/auth_jwt_claim_set/,
         'auth_jwt_claim_set without a claim name');
bad_conf(loc("$key auth_jwt_header_set \$h kid;"), 'auth_jwt_header_set',
         qr/auth_jwt_header_set/,
         'auth_jwt_header_set in a location (http only)');

# --- nothing above disturbed the main error log ----------------------------------------

unlike($t->error_log, qr/\[emerg\]/, 'test_config does not write the error log');

done_testing;
