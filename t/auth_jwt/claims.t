#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# auth_jwt variables: $jwt_claim_<name>, $jwt_header_<name>, $jwt_payload,
# auth_jwt_claim_set / auth_jwt_header_set, and that nothing from an
# unverified token ever reaches a variable.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Test::More;
use Meshgate::Test;
use Meshgate::JWT;
use JSON::PP ();

my $t = Meshgate::Test->new(workers => 1);
$t->need_module_or_skip;

my ($hs, $hs_jwk) = gen_key('HS256', kid => 'k1');
my ($ec, $ec_jwk) = gen_key('ES256', kid => 'e1');
$t->write_file('keys/k.jwks', jwks($hs_jwk, $ec_jwk));
$t->write_file('html/ok.txt', "OK\n");

my @vars = (
    [ 'X-Sub',      '$jwt_claim_sub' ],
    [ 'X-Roles',    '$jwt_claim_roles' ],
    [ 'X-Mixed',    '$jwt_claim_mixed' ],
    [ 'X-Num',      '$jwt_claim_num' ],
    [ 'X-Big',      '$jwt_claim_big' ],
    [ 'X-Neg',      '$jwt_claim_neg' ],
    [ 'X-True',     '$jwt_claim_yes' ],
    [ 'X-False',    '$jwt_claim_no' ],
    [ 'X-Obj',      '$jwt_claim_obj' ],
    [ 'X-Name',     '$jwt_claim_name' ],
    [ 'X-Missing',  '$jwt_claim_missing' ],
    [ 'X-Deep',     '$jwt_deep' ],
    [ 'X-Deep-Obj', '$jwt_deep_obj' ],
    [ 'X-Deep-None', '$jwt_deep_none' ],
    [ 'X-Alg',      '$jwt_header_alg' ],
    [ 'X-Kid',      '$jwt_header_kid' ],
    [ 'X-Typ',      '$jwt_header_typ' ],
    [ 'X-H-Nested', '$jwt_h_nested' ],
    [ 'X-Payload',  '$jwt_payload' ],
);
my $add = join "\n", map { "            add_header $_->[0] \"$_->[1]\" always;" }
                     @vars;

my $conf = <<'EOF';
    auth_jwt_claim_set $jwt_deep a b c;
    auth_jwt_claim_set $jwt_deep_obj a b;
    auth_jwt_claim_set $jwt_deep_none a x c;
    auth_jwt_header_set $jwt_h_nested x y;

    server {
        listen 127.0.0.1:%%PORT_main%%;

        location /c {
            auth_jwt "api";
            auth_jwt_key_file %%PREFIX%%/keys/k.jwks;
ADD_HEADERS
            root %%PREFIX%%/html;
            try_files /ok.txt =404;
        }

        location /px {
            auth_jwt "api";
            auth_jwt_key_file %%PREFIX%%/keys/k.jwks;
            proxy_pass http://127.0.0.1:%%PORT_backend%%/echo;
            proxy_set_header X-Sub $jwt_claim_sub;
            proxy_set_header X-Deep $jwt_deep;
            proxy_set_header X-Roles $jwt_claim_roles;
        }
    }

    server {
        listen 127.0.0.1:%%PORT_backend%%;

        location /echo {
            return 200 "sub=$http_x_sub deep=$http_x_deep roles=$http_x_roles\n";
        }
    }
EOF
$conf =~ s/ADD_HEADERS/$add/;

$t->start($conf);

sub get_c {
    my ($token, $path) = @_;
    return $t->get($path // '/c', Authorization => "Bearer $token");
}

my $exp = time + 300;

# --- values written by Crypt::JWT ------------------------------------------

my $tok = mint(alg => 'HS256', key => $hs, header => { kid => 'k1', typ => 'JWT' },
    claims => {
        sub   => 'alice',
        exp   => $exp,
        roles => ['admin', 'dev', 'ops'],
        a     => { b => { c => 'deep value' } },
    });

my $r = get_c($tok);
is($r->{status}, 200, 'valid token: 200');
my $h = $r->{headers};
is($h->{'x-sub'}, 'alice', '$jwt_claim_sub');
is($h->{'x-roles'}, 'admin,dev,ops', 'array claim: comma-separated');
is($h->{'x-deep'}, 'deep value', 'auth_jwt_claim_set $v a b c: nested claim');
is($h->{'x-deep-obj'}, '{"c":"deep value"}',
   'auth_jwt_claim_set to an object: compact JSON');
ok(!defined $h->{'x-deep-none'}, 'auth_jwt_claim_set, missing path: empty');
ok(!defined $h->{'x-missing'}, 'missing claim: empty');
is($h->{'x-alg'}, 'HS256', '$jwt_header_alg');
is($h->{'x-kid'}, 'k1', '$jwt_header_kid');
is($h->{'x-typ'}, 'JWT', '$jwt_header_typ');

# --- values exactly as written (hs_sign: our bytes) ------------------------------

my $payload = '{ "sub" : "bob",' . "\n"
    . '  "num": 1.50, "big": 1e3, "neg": -0.25E+2,'
    . ' "yes": true, "no": false,'
    . ' "mixed": [1, "two", true],'
    . ' "obj": { "k" : "v", "n" : [ 1, 2 ] },'
    . ' "name": "caf\u00e9 \"q\" \\\\ \/ \ud83d\ude00",'
    . ' "exp": ' . $exp . ' }';
my $header = '{"alg":"HS256","kid":"k1","x":{"y":"header nested"}}';

$r = get_c(hs_sign('HS256', $hs, $header, $payload));
is($r->{status}, 200, 'hand-written token: 200');
$h = $r->{headers};
is($h->{'x-sub'}, 'bob', 'string claim');
is($h->{'x-num'}, '1.50', 'number 1.50 stays "1.50"');
is($h->{'x-big'}, '1e3', 'number 1e3 stays "1e3"');
is($h->{'x-neg'}, '-0.25E+2', 'number -0.25E+2 stays as written');
is($h->{'x-true'}, 'true', 'true');
is($h->{'x-false'}, 'false', 'false');
is($h->{'x-mixed'}, '1,two,true', 'mixed array: comma-separated');
is($h->{'x-obj'}, '{"k":"v","n":[1,2]}', 'object claim: compact JSON');
is($h->{'x-name'}, "caf\xc3\xa9 \"q\" \\ / \xf0\x9f\x98\x80",
   'escapes decoded (\u00e9, \", \\\\, \/, surrogate pair) as UTF-8');
is($h->{'x-h-nested'}, 'header nested', 'auth_jwt_header_set $v x y');
ok(!defined $h->{'x-typ'}, 'absent header parameter: empty');
my $pl = eval { JSON::PP->new->utf8->decode($h->{'x-payload'} // '') };
is_deeply($pl, JSON::PP->new->utf8->decode($payload),
   '$jwt_payload decodes to the claims set');
unlike($h->{'x-payload'} // ' ', qr/[\n ]"|[:,{\[] |\n/,
       '$jwt_payload: no insignificant white space');

# --- $jwt_payload is compact ---------------------------------------------------

$r = get_c(hs_sign('HS256', $hs, '{"alg":"HS256"}',
    qq({ "sub" : "p" ,\n "n" : [ 1 , 2.50 ] , "o" : { "k" : true } }\n)));
is($r->{status}, 200, 'claims set with white space: 200');
is($r->{headers}{'x-payload'}, '{"sub":"p","n":[1,2.50],"o":{"k":true}}',
   '$jwt_payload: compact JSON, numbers as written');

$r = get_c(hs_sign('HS256', $hs, '{"alg":"HS256"}', '{"sub":"p","n":[1,2]}'));
is($r->{headers}{'x-payload'}, '{"sub":"p","n":[1,2]}',
   '$jwt_payload of an already compact claims set is unchanged');

# --- arrays: a list that no element can extend -------------------------------------

$r = get_c(hs_sign('HS256', $hs, '{"alg":"HS256"}',
    '{"sub":"p","roles":["team,admin","50%","a%2Cb","dev"]}'));
is($r->{status}, 200, 'array with "," and "%" in elements: 200');
is($r->{headers}{'x-roles'}, 'team%2Cadmin,50%25,a%252Cb,dev',
   'array: "," and "%" inside an element are %2C and %25');

$r = get_c(hs_sign('HS256', $hs, '{"alg":"HS256"}',
    '{"sub":"p","roles":["team\\u002cadmin"]}'));
is($r->{headers}{'x-roles'}, 'team%2Cadmin',
   'array: an escaped "," inside an element is %2C too');

$r = get_c(hs_sign('HS256', $hs, '{"alg":"HS256"}',
    '{"sub":"p","mixed":[["a", "b"], {"k": "x,y"}, "c"]}'));
is($r->{headers}{'x-mixed'}, '["a"%2C"b"],{"k":"x%2Cy"},c',
   'array: elements that are arrays or objects, commas escaped');

$r = get_c(hs_sign('HS256', $hs, '{"alg":"HS256"}',
    '{"sub":"a,b%c","roles":["team,admin"]}'), '/px');
is($r->{body}, "sub=a,b%c deep= roles=team%2Cadmin\n",
   'proxied: a string keeps its ",", an array element does not');

# --- no control characters but HT ----------------------------------------------------

my $ctl_re =
    qr/invalid token: claim or header value contains a control character/;

$r = get_c(hs_sign('HS256', $hs, '{"alg":"HS256"}',
                   '{"sub":"a\\u000bb\\u001fc\\u007fd"}'), '/px');
is($r->{status}, 401, 'sub with VT, US and DEL: 401');
like($r->{headers}{'www-authenticate'} // '', qr/error="invalid_token"/,
     'sub with VT, US and DEL: invalid_token');
unlike($r->{body}, qr/sub=a/, 'sub with VT, US and DEL: backend not reached');
like($t->error_log, $ctl_re, 'sub with VT, US and DEL: reason logged');

for my $case (
    [ '\\u0001',                 'SOH' ],
    [ '\\u0008',                 'BS as \\u0008' ],
    [ '\\b',                     'BS as \\b' ],
    [ '\\f',                     'FF as \\f' ],
    [ '\\u000B',                 'VT, upper-case hex' ],
    [ '\\u001F',                 'US' ],
    [ '\\u007F',                 'DEL escaped' ],
    [ "\x7f",                   'DEL as a raw byte' ],
) {
    my ($ctl, $name) = @$case;
    is(get_c(hs_sign('HS256', $hs, '{"alg":"HS256"}',
                     qq({"sub":"a${ctl}b"})))->{status}, 401,
       "claim with $name: 401");
}

is(get_c(hs_sign('HS256', $hs, '{"alg":"HS256"}',
                 '{"sub":"p","o":{"k":["x\\u0002"]}}'))->{status}, 401,
   'control character deep inside an object and an array: 401');
is(get_c(hs_sign('HS256', $hs, '{"alg":"HS256"}',
                 '{"sub":"p","a\\u0003b":1}'))->{status}, 401,
   'control character in a member name: 401');
is(get_c(hs_sign('HS256', $hs, '{"alg":"HS256","x":"\\u0004"}',
                 '{"sub":"p"}'))->{status}, 401,
   'control character in a JOSE header parameter: 401');

$r = get_c(hs_sign('HS256', $hs, '{"alg":"HS256"}',
                   '{"sub":"a\\tb\\u0009c"}'), '/px');
is($r->{status}, 200, 'HT is allowed: 200');
is($r->{body}, "sub=a\tb\tc deep= roles=\n", 'HT reaches the backend');

# --- variables reach a proxied request ---------------------------------------------

$r = get_c($tok, '/px');
is($r->{status}, 200, 'proxied: 200');
is($r->{body}, "sub=alice deep=deep value roles=admin,dev,ops\n",
   'variables passed with proxy_set_header');

# --- ES256 header variables ------------------------------------------------------

$r = get_c(mint(alg => 'ES256', key => $ec, claims => { sub => 'eve' },
                header => { kid => 'e1' }));
is($r->{status}, 200, 'ES256 token: 200');
is($r->{headers}{'x-alg'}, 'ES256', '$jwt_header_alg for ES256');
is($r->{headers}{'x-kid'}, 'e1', '$jwt_header_kid for ES256');
is($r->{headers}{'x-sub'}, 'eve', '$jwt_claim_sub for ES256');

# --- nothing from unverified tokens ------------------------------------------------

my ($other) = gen_key('HS256');
$r = get_c(mint(alg => 'HS256', key => $other, header => { kid => 'k1' },
                claims => { sub => 'mallory', roles => ['admin'] }));
is($r->{status}, 401, 'forged token: 401');
ok(!defined $r->{headers}{'x-sub'},
   'forged token: $jwt_claim_sub not exposed');
ok(!defined $r->{headers}{'x-payload'},
   'forged token: $jwt_payload not exposed');
ok(!defined $r->{headers}{'x-alg'},
   'forged token: $jwt_header_alg not exposed');

$r = get_c(mint(alg => 'HS256', key => $hs, header => { kid => 'k1' },
                claims => { sub => 'late', exp => time - 100 }));
is($r->{status}, 401, 'expired token: 401');
ok(!defined $r->{headers}{'x-sub'},
   'expired token: $jwt_claim_sub not exposed');

$r = $t->get('/px', Authorization => 'Bearer '
    . mint(alg => 'HS256', key => $other, header => { kid => 'k1' },
           claims => { sub => 'mallory' }));
is($r->{status}, 401, 'forged token on proxied location: 401');
unlike($r->{body}, qr/mallory/, 'forged token: backend never sees the claim');

$r = $t->get('/c');
is($r->{status}, 401, 'no token: 401');
ok(!defined $r->{headers}{'x-sub'}, 'no token: $jwt_claim_sub empty');

done_testing;
