#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# The per-worker memory of verified tokens: a remembered token is accepted
# only by locations whose keys verified it, only while those keys are the
# same, never past its exp; claims are still available on a hit, and after
# an internal redirect (error_page).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Test::More;
use Meshgate::Test;
use Meshgate::JWT;

my $t = Meshgate::Test->new(workers => 1);
$t->need_module_or_skip;

my ($ka, $ja) = gen_key('ES256', kid => 'a');
my ($kb, $jb) = gen_key('ES256', kid => 'b');
my ($kh, $jh) = gen_key('HS256', kid => 'h');

$t->write_file('keys/a.jwks', jwks($ja, $jh));
$t->write_file('keys/b.jwks', jwks($jb));
$t->write_file('keys/fetched.jwks', jwks($ja));
$t->write_file('html/ok.txt', "OK\n");

$t->start(<<'EOF');
    map $jwt_claim_role $is_admin {
        admin    1;
        default  0;
    }

    log_format claims "$uri sub=$jwt_claim_sub";

    server {
        listen 127.0.0.1:%%PORT_main%%;

        location /a {
            auth_jwt "a";
            auth_jwt_key_file %%PREFIX%%/keys/a.jwks;
            proxy_pass http://127.0.0.1:%%PORT_main%%/echo;
            proxy_set_header X-Sub $jwt_claim_sub;
        }

        location /b {
            auth_jwt "b";
            auth_jwt_key_file %%PREFIX%%/keys/b.jwks;
            proxy_pass http://127.0.0.1:%%PORT_main%%/echo;
            proxy_set_header X-Sub $jwt_claim_sub;
        }

        location /admin {
            auth_jwt "a";
            auth_jwt_key_file %%PREFIX%%/keys/a.jwks;
            auth_jwt_require $is_admin error=403;
            error_page 403 = /denied;
            root %%PREFIX%%/html;
            try_files /ok.txt =404;
        }

        location = /denied {
            internal;
            access_log %%PREFIX%%/claims.log claims;
            return 403 "denied sub=$jwt_claim_sub\n";
        }

        location /fetched {
            auth_jwt "f";
            auth_jwt_key_request /_keys;
            auth_jwt_key_cache 1s;
            proxy_pass http://127.0.0.1:%%PORT_main%%/echo;
        }

        location = /_keys {
            internal;
            alias %%PREFIX%%/keys/fetched.jwks;
        }

        location /echo {
            return 200 "sub=$http_x_sub\n";
        }
    }
EOF

sub get {
    my ($path, $token) = @_;
    return $t->get($path, Authorization => "Bearer $token");
}

my $now = time;
my $ta = mint(alg => 'ES256', key => $ka, header => { kid => 'a' },
              claims => { sub => 'alice', exp => $now + 600 });
my $th = mint(alg => 'HS256', key => $kh, header => { kid => 'h' },
              claims => { sub => 'hugo', exp => $now + 600 });

for my $i (1 .. 3) {
    my $r = get('/a', $ta);
    is($r->{status}, 200, "ES256 token, request $i: 200");
    is($r->{body}, "sub=alice\n", "ES256 token, request $i: claims");
}

for my $i (1 .. 2) {
    my $r = get('/a', $th);
    is($r->{status}, 200, "HS256 token, request $i: 200");
    is($r->{body}, "sub=hugo\n", "HS256 token, request $i: claims");
}

is(get('/b', $ta)->{status}, 401,
   'a remembered token is refused where other keys apply');
is(get('/b', $th)->{status}, 401,
   'a remembered HS256 token is refused where other keys apply');
is(get('/a', $ta)->{status}, 200, 'and still accepted where it was verified');

# exp is checked on every request, also for remembered tokens

my $short = mint(alg => 'ES256', key => $ka, header => { kid => 'a' },
                 claims => { sub => 'sam', exp => time + 2 });
is(get('/a', $short)->{status}, 200, 'short-lived token: 200');
is(get('/a', $short)->{status}, 200, 'short-lived token again: 200');
sleep 3;
is(get('/a', $short)->{status}, 401, 'short-lived token after exp: 401');
like($t->error_log, qr/auth_jwt: invalid token: token expired/,
     'expiry logged');

# a tampered copy of a remembered token is not taken for it

(my $tampered = $ta) =~ s/.$/$& eq 'A' ? 'B' : 'A'/e;
is(get('/a', $tampered)->{status}, 401, 'tampered remembered token: 401');

# claims survive an internal redirect to an error page

my $user = mint(alg => 'ES256', key => $ka, header => { kid => 'a' },
                claims => { sub => 'bob', role => 'user', exp => $now + 600 });
my $r = get('/admin', $user);
is($r->{status}, 403, 'requirement not met: 403');
is($r->{body}, "denied sub=bob\n", 'error page sees the claims');
$r = get('/admin', $user);
is($r->{body}, "denied sub=bob\n", 'error page sees the claims on a hit');

my $admin = mint(alg => 'ES256', key => $ka, header => { kid => 'a' },
                 claims => { sub => 'ann', role => 'admin', exp => $now + 600 });
is(get('/admin', $admin)->{status}, 200, 'requirement met: 200');

# fetched keys: a token is remembered only while the keys stay the same

my $tf = mint(alg => 'ES256', key => $ka, header => { kid => 'a' },
              claims => { sub => 'fred', exp => $now + 600 });
is(get('/fetched', $tf)->{status}, 200, 'fetched keys: 200');
is(get('/fetched', $tf)->{status}, 200, 'fetched keys, again: 200');

$t->write_file('keys/fetched.jwks', jwks($jb));
sleep 2;
is(get('/fetched', $tf)->{status}, 401,
   'key withdrawn from the key set: the remembered token is refused');

done_testing;
