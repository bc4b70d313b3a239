#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# auth_jwt: tokens that must be rejected with 401 error="invalid_token" (and
# a logged reason), never 400 / 500 / a crash; each next to a control token
# that differs only in the point under test and passes.

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

my ($att_rsa, $att_rsa_jwk) = gen_key('RS256', kid => 'att');
my ($att_ec, $att_ec_jwk) = gen_key('ES256', kid => 'att');
my ($att_hs) = gen_key('HS256');

$t->write_file('keys/mixed.jwks', jwks($hs_jwk, $ec_jwk, $rsa_jwk));
$t->write_file('keys/rsa.jwks', jwks($rsa_jwk));
$t->write_file('keys/ec.jwks', jwks($ec_jwk));
$t->write_file('html/ok.txt', "OK\n");
$t->write_file('attacker/attacker.jwks', jwks($att_rsa_jwk, $att_ec_jwk));
$t->write_file('attacker/attacker.pem', $att_rsa->export_key_pem('public_x509'));

my $conf = <<'EOF';
    server {
        listen 127.0.0.1:%%PORT_main%%;

        location /mixed {
            auth_jwt "api";
            auth_jwt_key_file %%PREFIX%%/keys/mixed.jwks;
            CONTENT
        }

        location /rsa {
            auth_jwt "api";
            auth_jwt_key_file %%PREFIX%%/keys/rsa.jwks;
            CONTENT
        }

        location /ec {
            auth_jwt "api";
            auth_jwt_key_file %%PREFIX%%/keys/ec.jwks;
            CONTENT
        }
    }

    server {
        listen 127.0.0.1:%%PORT_big%%;
        large_client_header_buffers 4 32k;

        location /mixed {
            auth_jwt "api";
            auth_jwt_key_file %%PREFIX%%/keys/mixed.jwks;
            CONTENT
        }
    }

    # what a "jku" / "x5u" header would point to: must never be fetched
    server {
        listen 127.0.0.1:%%PORT_attacker%%;
        access_log %%PREFIX%%/attacker_access.log;
        root %%PREFIX%%/attacker;
    }
EOF
$conf =~ s/CONTENT/root %%PREFIX%%\/html; try_files \/ok.txt =404;/g;

$t->start($conf);

my $now = time;
my $claims = json_text({ sub => 'x', exp => $now + 300 });
my $hs_h = '{"alg":"HS256","kid":"hs1"}';

sub get {
    my ($path, $token, %o) = @_;
    return $t->request('GET', $path, port => $o{port} // 'main',
                       headers => [Authorization => "Bearer $token"]);
}

sub accept_ok {
    my ($path, $token, $name, %o) = @_;
    my $r = get($path, $token, %o);
    is($r->{status}, 200, "control: $name")
        or diag(substr($t->error_log, -600));
}

sub reject_ok {
    my ($path, $token, $name, %o) = @_;
    my $from = length $t->error_log;
    my $r = get($path, $token, %o);
    my $log = substr($t->error_log, $from);

    subtest "rejected: $name" => sub {
        is($r->{status}, 401, 'status 401');
        is($r->{headers}{'www-authenticate'},
           'Bearer realm="api",error="invalid_token"', 'invalid_token');
        isnt($r->{body}, "OK\n", 'content not served');
        like($log, qr/\[info\] .*auth_jwt: invalid token: \S/,
             'reason logged at info level');
    };
}

sub hs { hs_sign('HS256', $hs, @_) }

# --- controls ------------------------------------------------------------------

accept_ok('/mixed', hs($hs_h, $claims), 'hand-signed HS256');
accept_ok('/rsa', mint(alg => 'RS256', key => $rsa, claims => { sub => 'x' },
                       header => { kid => 'rsa1' }), 'RS256 on the RSA-only set');
accept_ok('/ec', sign_compact('ES256', $ec, '{"alg":"ES256","kid":"ec1"}',
                              $claims), 'ES256 on the P-256-only set');

# --- alg none ------------------------------------------------------------------

for my $none (qw(none NONE nOnE)) {
    reject_ok('/mixed', raw_token(qq({"alg":"$none"}), $claims, ''),
              "alg \"$none\", empty signature");
    reject_ok('/mixed', raw_token(qq({"alg":"$none","kid":"hs1"}), $claims,
                                  "\x01\x02\x03\x04signature"),
              "alg \"$none\" with kid, some signature");
    reject_ok('/mixed', hs(qq({"alg":"$none","kid":"hs1"}), $claims),
              "alg \"$none\" with a valid HMAC of the right key");
}
reject_ok('/mixed', raw_token('{"alg":"none"}', $claims, '') =~ s/\.$//r,
          'alg none without a signature segment');

# --- algorithm confusion: HMAC keyed with the RSA public key -------------------

{
    my %secrets = (
        'PKCS#1 PEM' => $rsa->export_key_pem('public'),
        'SPKI PEM'   => $rsa->export_key_pem('public_x509'),
        'PKCS#1 DER' => $rsa->export_key_der('public'),
        'SPKI DER'   => $rsa->export_key_der('public_x509'),
        'JWK JSON'   => json_text($rsa_jwk),
        'modulus'    => b64url_decode($rsa_jwk->{n}),
    );
    my %trimmed = map { ("$_ (no final newline)" => $secrets{$_} =~ s/\n\z//r) }
                  grep { /PEM/ } keys %secrets;
    %secrets = (%secrets, %trimmed);

    for my $name (sort keys %secrets) {
        for my $h ('{"alg":"HS256"}', '{"alg":"HS256","kid":"rsa1"}') {
            reject_ok('/rsa', hs_sign('HS256', $secrets{$name}, $h, $claims),
                      "HS256 keyed with the RSA public key ($name), $h");
        }
    }
    reject_ok('/rsa', hs_sign('HS512', $secrets{'SPKI PEM'},
                              '{"alg":"HS512","kid":"rsa1"}', $claims),
              'HS512 keyed with the RSA public key PEM');
}

# --- key type / curve mismatch ---------------------------------------------------

{
    my ($e) = gen_key('ES256');
    reject_ok('/rsa', mint(alg => 'ES256', key => $e, claims => { sub => 'x' }),
              'ES256 token, only an RSA key');
    reject_ok('/rsa', mint(alg => 'ES256', key => $e, claims => { sub => 'x' },
                           header => { kid => 'rsa1' }),
              'ES256 token naming the RSA key');

    my ($p384) = gen_key('ES384');
    reject_ok('/ec', mint(alg => 'ES384', key => $p384, claims => { sub => 'x' },
                          header => { kid => 'ec1' }),
              'ES384-signed token vs. a P-256 key');
    reject_ok('/ec', sign_compact('ES384', $ec, '{"alg":"ES384","kid":"ec1"}',
                                  $claims),
              'ES384 header, SHA-384 signature by the P-256 key itself');
    reject_ok('/ec', sign_compact('RS256', $rsa, '{"alg":"RS256","kid":"ec1"}',
                                  $claims),
              'RS256 token naming the EC key');
}

# --- kid ------------------------------------------------------------------------

reject_ok('/mixed', hs('{"alg":"HS256","kid":"nope"}', $claims),
          'kid matching no key (signature otherwise right)');
reject_ok('/mixed', hs('{"alg":"HS256","kid":""}', $claims), 'empty kid');
reject_ok('/mixed', hs('{"alg":"HS256","kid":1}', $claims), 'numeric kid');
reject_ok('/mixed', hs('{"alg":"HS256","kid":"ec1"}', $claims),
          'HS256 naming the EC key');

# --- crit ---------------------------------------------------------------------------

reject_ok('/mixed', hs('{"alg":"HS256","kid":"hs1","crit":["exp"]}', $claims),
          'crit ["exp"]');
reject_ok('/mixed', hs('{"alg":"HS256","kid":"hs1","crit":["x-ext"],"x-ext":1}',
                       $claims), 'crit with an unknown extension');

# --- keys carried or pointed to by the token ------------------------------------------

{
    my $attacker_url = 'http://127.0.0.1:' . $t->port('attacker');

    my $h = json_text({ alg => 'RS256', jwk => $att_rsa_jwk });
    reject_ok('/rsa', sign_compact('RS256', $att_rsa, $h, $claims),
              'RS256 signed by the key embedded in "jwk"');

    $h = json_text({ alg => 'RS256', kid => 'rsa1',
                     jwk => { %$att_rsa_jwk, kid => 'rsa1' } });
    reject_ok('/rsa', sign_compact('RS256', $att_rsa, $h, $claims),
              '"jwk" with the kid of the real key');

    $h = json_text({ alg => 'ES256', jwk => $att_ec_jwk });
    reject_ok('/mixed', sign_compact('ES256', $att_ec, $h, $claims),
              'ES256 signed by the key embedded in "jwk"');

    $h = json_text({ alg => 'HS256',
                     jwk => { kty => 'oct', k => b64url($att_hs) } });
    reject_ok('/mixed', sign_compact('HS256', $att_hs, $h, $claims),
              'HS256 with an oct key embedded in "jwk"');

    $h = json_text({ alg => 'RS256', kid => 'att',
                     jku => "$attacker_url/attacker.jwks" });
    reject_ok('/rsa', sign_compact('RS256', $att_rsa, $h, $claims),
              '"jku" pointing to the attacker\'s JWKS');

    $h = json_text({ alg => 'RS256', x5u => "$attacker_url/attacker.pem" });
    reject_ok('/rsa', sign_compact('RS256', $att_rsa, $h, $claims),
              '"x5u" pointing to the attacker\'s key');

    # make sure the attacker server works, then that nothing but us asked it
    my $r = $t->request('GET', '/attacker.jwks', port => 'attacker');
    is($r->{status}, 200, 'attacker server reachable');
    my @hits = grep { /attacker\.(?:jwks|pem)/ }
               split /\n/, $t->read_file('attacker_access.log');
    is(scalar @hits, 1, 'jku / x5u URLs were never fetched by nginx');
}

# --- shape ------------------------------------------------------------------------------

{
    my $good = hs($hs_h, $claims);
    my ($h, $p, $s) = split /\./, $good;

    reject_ok('/mixed', "$h.$p", 'two segments');
    reject_ok('/mixed', "$h.$p.$s.$s", 'four segments');
    reject_ok('/mixed', "$h.$p.$s.$s.$s", 'five segments (JWE)');
    reject_ok('/mixed', "$h.$p.", 'empty signature');
    reject_ok('/mixed', "..", 'three empty segments');
    reject_ok('/mixed', sign_input('HS256', $hs, "$h."), 'empty payload');
    reject_ok('/mixed', sign_input('HS256', $hs, ".$p"), 'empty header');

    # HMAC truncated to 16 bytes
    reject_ok('/mixed', "$h.$p." . b64url(substr(b64url_decode($s), 0, 16)),
              'truncated HMAC');

    # HS384 header over an HS256 MAC
    my $h384 = b64url('{"alg":"HS384","kid":"hs1"}');
    reject_ok('/mixed', "$h384.$p." . b64url(signature('HS256', $hs, "$h384.$p")),
              'HS384 header with an HS256 MAC');
}

# --- base64url -----------------------------------------------------------------------

{
    # a payload whose base64url has both "-" and "_"
    my $pl;
    for my $i (0 .. 500) {
        $pl = json_text({ sub => 'x', exp => $now + 300,
                          pad => ('?>' x ($i % 7)) . chr(0x7e) x ($i % 5) . $i });
        my $b = b64url($pl);
        last if $b =~ /-/ && $b =~ /_/;
    }
    my $h64 = b64url($hs_h);
    my $p64 = b64url($pl);
    like($p64, qr/-.*_|_.*-/, 'test payload has - and _ in base64url');
    accept_ok('/mixed', sign_input('HS256', $hs, "$h64.$p64"),
              'payload with - and _ in base64url');

    (my $std = $p64) =~ tr/-_/+\//;
    reject_ok('/mixed', sign_input('HS256', $hs, "$h64.$std"),
              'standard base64 "+" and "/" instead of base64url');

    my $bang = $p64;
    substr($bang, 5, 0) = '!';
    reject_ok('/mixed', sign_input('HS256', $hs, "$h64.$bang"),
              'invalid character "!" in payload');

    my $star = $h64;
    substr($star, 3, 1) = '*';
    reject_ok('/mixed', sign_input('HS256', $hs, "$star.$p64"),
              'invalid character "*" in header');

    reject_ok('/mixed', sign_input('HS256', $hs, "$h64." . substr($p64, 0, -1)),
              'payload one character short');

    # padding: texts whose lengths are not multiples of 3
    my $hp = '{"alg":"HS256",  "kid":"hs1"}';      # 29 bytes: one "="
    my $pp = json_text({ sub => 'pad', exp => $now + 300 });
    $pp .= ' ' while length($pp) % 3 != 1;        # two "="
    is(length($hp) % 3, 2, 'header length 3n+2');
    my ($hb, $pb) = (b64url($hp), b64url($pp));
    accept_ok('/mixed', sign_input('HS256', $hs, "$hb.$pb"),
              'texts with lengths 3n+1 / 3n+2, unpadded');
    reject_ok('/mixed', sign_input('HS256', $hs, "$hb=.$pb"),
              'base64url padding "=" in header');
    reject_ok('/mixed', sign_input('HS256', $hs, "$hb.$pb=="),
              'base64url padding "==" in payload');
    my ($hh, $pp2, $ss) = split /\./, sign_input('HS256', $hs, "$hb.$pb");
    reject_ok('/mixed', "$hh.$pp2.$ss=", 'base64url padding "=" in signature');
}

# --- JSON ---------------------------------------------------------------------------------

reject_ok('/mixed', hs('not json', $claims), 'header not JSON');
reject_ok('/mixed', hs('"HS256"', $claims), 'header a JSON string');
reject_ok('/mixed', hs('[{"alg":"HS256","kid":"hs1"}]', $claims),
          'header a JSON array');
reject_ok('/mixed', hs($hs_h, '[' . $claims . ']'), 'payload a JSON array');
reject_ok('/mixed', hs($hs_h, '"sub"'), 'payload a JSON string');
reject_ok('/mixed', hs($hs_h, 'not json'), 'payload not JSON');
reject_ok('/mixed', hs($hs_h, $claims . 'x'), 'trailing garbage after payload');
reject_ok('/mixed', hs($hs_h, $claims . '{}'), 'two JSON objects as payload');
reject_ok('/mixed', hs($hs_h . 'garbage', $claims),
          'trailing garbage after header');
reject_ok('/mixed', hs($hs_h, '{"sub":"x",}'), 'trailing comma');
reject_ok('/mixed', hs($hs_h, "{'sub':'x'}"), 'single quotes');
reject_ok('/mixed', hs($hs_h, '{"sub":"x"'), 'unterminated object');
reject_ok('/mixed', hs($hs_h, '{"n":01}'), 'number with a leading zero');
reject_ok('/mixed', hs($hs_h, '{"n":NaN}'), 'NaN');
reject_ok('/mixed', hs($hs_h, qq({"sub":"\xff"})), 'invalid UTF-8 in a string');
reject_ok('/mixed', hs($hs_h, qq({"sub":"\xc0\xaf"})), 'overlong UTF-8');
accept_ok('/mixed', hs($hs_h, qq({"sub":"caf\xc3\xa9"})), 'valid UTF-8 claim');

# --- CR / LF / NUL in strings ----------------------------------------------------------

accept_ok('/mixed', hs($hs_h, '{"sub":"a\tb \u0041"}'),
          'tab and \u0041 escapes in a claim');
for my $case (
    [ '{"sub":"a\nb"}',            '\n in a claim' ],
    [ '{"sub":"a\rb"}',            '\r in a claim' ],
    [ '{"sub":"a\u0000b"}',        '\u0000 in a claim' ],
    [ '{"sub":"a\u000ab"}',        '\u000a in a claim' ],
    [ '{"sub":"a\u000Db"}',        '\u000D in a claim' ],
    [ '{"a\nb":"x"}',              '\n in a claim name' ],
    [ '{"o":{"k":"a\r\nb"}}',      '\r\n in a nested claim' ],
    [ '{"r":["ok","a\nb"]}',       '\n in an array element' ],
    [ qq({"sub":"a\nb"}),          'raw newline inside a string' ],
) {
    reject_ok('/mixed', hs($hs_h, $case->[0]), $case->[1]);
}
reject_ok('/mixed', hs('{"alg":"HS256","kid":"hs1","x":"a\nb"}', $claims),
          '\n in a header parameter');
reject_ok('/mixed', hs('{"alg":"HS256","kid":"hs1\u0000"}', $claims),
          '\u0000 in kid');

# --- exp / nbf types ------------------------------------------------------------------

accept_ok('/mixed', hs($hs_h, '{"exp":9e9}'), 'exp 9e9 (a number)');
for my $case (
    [ '{"exp":"123"}',                 'exp as string "123"' ],
    [ '{"exp":"' . ($now + 300) . '"}', 'exp as string in the future' ],
    [ '{"exp":true}',                  'exp true' ],
    [ '{"exp":null}',                  'exp null' ],
    [ '{"exp":[9999999999]}',          'exp array' ],
    [ '{"exp":{}}',                    'exp object' ],
    [ '{"nbf":"0"}',                   'nbf as string "0"' ],
    [ '{"nbf":false}',                 'nbf false' ],
) {
    reject_ok('/mixed', hs($hs_h, $case->[0]), $case->[1]);
}

# --- duplicate member names ----------------------------------------------------------

reject_ok('/mixed', hs('{"alg":"HS256","kid":"hs1","kid":"hs1"}', $claims),
          'duplicate "kid" in header');
reject_ok('/mixed', hs('{"alg":"none","alg":"HS256","kid":"hs1"}', $claims),
          'duplicate "alg" in header (none, HS256)');
reject_ok('/mixed', hs('{"alg":"HS256","alg":"HS256","kid":"hs1"}', $claims),
          'duplicate "alg" in header (same value)');
reject_ok('/mixed', hs($hs_h, '{"sub":"a","sub":"b"}'), 'duplicate "sub"');
reject_ok('/mixed', hs($hs_h, '{"exp":1,"exp":9999999999}'),
          'duplicate "exp" (expired first)');
reject_ok('/mixed', hs($hs_h, '{"exp":9999999999,"exp":1}'),
          'duplicate "exp" (expired last)');
reject_ok('/mixed', hs($hs_h, '{"sub":"a","s\u0075b":"b"}'),
          'duplicate "sub", second written with an escape');
reject_ok('/mixed', hs($hs_h, '{"o":{"k":1,"k":2}}'),
          'duplicate member in a nested object');
accept_ok('/mixed', hs($hs_h, '{"o":{"k":1},"p":{"k":2}}'),
          'same member name in different objects');

# --- alg -----------------------------------------------------------------------------

reject_ok('/mixed', hs('{"kid":"hs1"}', $claims), 'no alg');
reject_ok('/mixed', hs('{"alg":"HS257","kid":"hs1"}', $claims), 'unknown alg');
reject_ok('/mixed', hs('{"alg":"hs256","kid":"hs1"}', $claims),
          'alg names are case-sensitive ("hs256")');
reject_ok('/mixed', hs('{"alg":256,"kid":"hs1"}', $claims), 'numeric alg');
reject_ok('/mixed', hs('{"alg":["HS256"],"kid":"hs1"}', $claims), 'array alg');

# --- ECDSA signature encoding ------------------------------------------------------------

{
    my $h64 = b64url('{"alg":"ES256","kid":"ec1"}');
    my $input = "$h64." . b64url($claims);
    my $raw = signature('ES256', $ec, $input);
    is(length $raw, 64, 'ES256 R||S signature is 64 bytes');

    accept_ok('/ec', "$input." . b64url($raw), 'ES256 R||S');
    reject_ok('/ec', "$input." . b64url($ec->sign_message($input, 'SHA256')),
              'ES256 DER-encoded signature (valid, wrong encoding)');
    reject_ok('/ec', "$input." . b64url(substr($raw, 0, 63)),
              'ES256 signature one byte short');
    reject_ok('/ec', "$input." . b64url($raw . "\0"),
              'ES256 signature one byte long');
    reject_ok('/ec', "$input." . b64url("\0" x 64), 'ES256 signature all zero');
    reject_ok('/ec', "$input." . b64url(substr($raw, 32) . substr($raw, 0, 32)),
              'ES256 R and S swapped');
}

# --- token length --------------------------------------------------------------------------

{
    # an HS256 token of exactly $len characters
    my $token_of = sub {
        my ($len) = @_;
        for my $sp (0 .. 2) {
            my $h = '{"alg":"HS256",' . (' ' x $sp) . '"kid":"hs1"}';
            my $start = int(($len - 120) * 3 / 4) - 60;
            $start = 0 if $start < 0;
            for my $n ($start .. $len) {
                my $pl = json_text({ sub => 'big', exp => $now + 300,
                                     pad => 'a' x $n });
                my $tok = hs_sign('HS256', $hs, $h, $pl);
                return $tok if length $tok == $len;
                last if length $tok > $len;
            }
        }
        die "cannot make a token of $len bytes\n";
    };

    my $t8192 = $token_of->(8192);
    my $t8193 = $token_of->(8193);
    is(length $t8192, 8192, 'token of 8192 bytes made');
    accept_ok('/mixed', $t8192, 'token of exactly 8192 bytes', port => 'big');
    reject_ok('/mixed', $t8193, 'token of 8193 bytes', port => 'big');
    reject_ok('/mixed', $token_of->(20000), 'token of 20000 bytes',
              port => 'big');
}

# --- deep nesting: a clear answer, no crash --------------------------------------------

{
    my $deep = '{"d":' . ('[' x 2000) . (']' x 2000) . '}';
    my $r = get('/mixed', hs($hs_h, $deep));
    ok($r->{status} == 401 || $r->{status} == 200,
       'payload nested 2000 deep: 401 or 200, not an error')
        or diag("status $r->{status}");
    accept_ok('/mixed', hs($hs_h, $claims), 'still serving after deep nesting');
}

done_testing;
