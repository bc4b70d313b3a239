#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# auth_jwt_key_request / auth_jwt_key_cache: JWKS fetched with a subrequest,
# per-worker caching, refresh on an unknown kid (at most once per 5 s),
# cache expiry, failures (500), big key sets, key files and requests together.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Test::More;
use Meshgate::Test;
use Meshgate::JWT;
use Time::HiRes qw(sleep time);

# one worker: the cache is per worker, the fetch counts must be exact
my $t = Meshgate::Test->new(workers => 1);
$t->need_module_or_skip;

my ($a1, $a1_jwk) = gen_key('ES256', kid => 'a1');
my ($b1, $b1_jwk) = gen_key('ES256', kid => 'b1');
my ($f1, $f1_jwk) = gen_key('HS256', kid => 'f1');
my ($r1, $r1_jwk) = gen_key('RS256', kid => 'r1');

$t->write_file('keys/alias.jwks', jwks($a1_jwk));
$t->write_file('keys/file.jwks', jwks($f1_jwk));
$t->write_file('keys/big.jwks',
               jwks(map { +{ %$r1_jwk, kid => "r$_" } } 1 .. 24));

$t->write_file('jwks/nocache.jwks', jwks($a1_jwk));
$t->write_file('jwks/cached.jwks', jwks($a1_jwk));
$t->write_file('jwks/short.jwks', jwks($a1_jwk));
$t->write_file('jwks/req.jwks', jwks($b1_jwk));
$t->write_file('jwks/garbage.jwks', "this is not a JWKS\n");
$t->write_file('jwks/empty.jwks', '{"keys":[]}');
$t->write_file('jwks/truncated.jwks', substr(jwks($a1_jwk), 0, 40));
$t->write_file('keys/huge.jwks', jwks($r1_jwk) . (' ' x (1024 * 1024)));
$t->write_file('html/ok.txt', "OK\n");

cmp_ok(length($t->read_file('keys/big.jwks')), '>', 9000,
       'big JWKS is larger than the default subrequest buffer');

my $conf = <<'EOF';
    server {
        listen 127.0.0.1:%%PORT_main%%;

        location /alias {
            auth_jwt_key_request /_jwks_alias;
            CONTENT
        }

        location /nocache {
            auth_jwt_key_request /_jwks/nocache.jwks;
            CONTENT
        }

        location /cached {
            auth_jwt_key_request /_jwks/cached.jwks;
            auth_jwt_key_cache 60s;
            CONTENT
        }

        location /short {
            auth_jwt_key_request /_jwks/short.jwks;
            auth_jwt_key_cache 2s;
            CONTENT
        }

        location /both {
            auth_jwt_key_file %%PREFIX%%/keys/file.jwks;
            auth_jwt_key_request /_jwks/req.jwks;
            CONTENT
        }

        location /missing {
            auth_jwt_key_request /_jwks/missing.jwks;
            CONTENT
        }

        location /garbage {
            auth_jwt_key_request /_jwks/garbage.jwks;
            CONTENT
        }

        location /empty {
            auth_jwt_key_request /_jwks/empty.jwks;
            CONTENT
        }

        location /truncated {
            auth_jwt_key_request /_jwks/truncated.jwks;
            CONTENT
        }

        location /down {
            auth_jwt_key_request /_down;
            CONTENT
        }

        location /big {
            auth_jwt_key_request /_jwks_big;
            CONTENT
        }

        location /bigsmall {
            auth_jwt_key_request /_jwks_big_small;
            CONTENT
        }

        location /huge {
            auth_jwt_key_request /_jwks_huge;
            CONTENT
        }

        location = /_jwks_alias {
            internal;
            alias %%PREFIX%%/keys/alias.jwks;
        }

        location = /_jwks_big {
            internal;
            subrequest_output_buffer_size 64k;
            alias %%PREFIX%%/keys/big.jwks;
        }

        location = /_jwks_big_small {
            internal;
            alias %%PREFIX%%/keys/big.jwks;
        }

        location = /_jwks_huge {
            internal;
            alias %%PREFIX%%/keys/huge.jwks;
        }

        location /_jwks/ {
            internal;
            proxy_pass http://127.0.0.1:%%PORT_jwks%%/;
        }

        location = /_down {
            internal;
            proxy_pass http://127.0.0.1:%%PORT_closed%%/jwks;
        }
    }

    # the key server; its access log counts the fetches
    server {
        listen 127.0.0.1:%%PORT_jwks%%;
        access_log %%PREFIX%%/jwks_access.log;
        root %%PREFIX%%/jwks;
    }
EOF
$conf =~ s/CONTENT/auth_jwt "api";\n            root %%PREFIX%%\/html; try_files \/ok.txt =404;/g;

$t->port('closed');     # allocated, never listened on
$t->start($conf);

sub tok {
    my ($key, $alg, $kid, %c) = @_;
    return mint(alg => $alg, key => $key, claims => { sub => 'u', %c },
                header => { defined $kid ? (kid => $kid) : () });
}

sub status {
    my ($path, $token) = @_;
    return $t->get($path, Authorization => "Bearer $token")->{status};
}

sub hits {
    my ($name) = @_;
    return scalar grep { m{"GET /\Q$name\E[ ?]} }
                  split /\n/, $t->read_file('jwks_access.log');
}

my $ta1 = tok($a1, 'ES256', 'a1');
my $tb1 = tok($b1, 'ES256', 'b1');

# --- the key server itself -------------------------------------------------

is($t->request('GET', '/cached.jwks', port => 'jwks')->{status}, 200,
   'key server serves the JWKS');
is(hits('cached.jwks'), 1, 'key server hit counted');

# --- internal location with alias --------------------------------------------

is(status('/alias', $ta1), 200, 'JWKS from an internal alias location: 200');
is(status('/alias', tok($b1, 'ES256', 'a1')), 401,
   'alias JWKS, token signed by another key: 401');
is($t->get('/alias')->{status}, 401, 'alias JWKS, no token: 401');
is($t->get('/_jwks_alias')->{status}, 404,
   'the internal JWKS location is not reachable from outside');

# --- no cache: every request fetches -------------------------------------------

is(status('/nocache', $ta1), 200, 'no cache: request 1: 200');
is(status('/nocache', $ta1), 200, 'no cache: request 2: 200');
is(status('/nocache', $ta1), 200, 'no cache: request 3: 200');
is(hits('nocache.jwks'), 3, 'no cache (default 0): one fetch per request');

# --- cache 2s: first part (expiry checked after the sleep below) ---------------
# (2s rather than 1s: a cache that counts whole seconds could otherwise
# expire between two back-to-back requests)

is(status('/short', $ta1), 200, 'cache 2s: request 1: 200');
is(status('/short', $ta1), 200, 'cache 2s: request 2: 200');
is(hits('short.jwks'), 1, 'cache 2s: second request right after: no fetch');
my $short_at = time;

# --- cache 60s: rotation ----------------------------------------------------------

my $base = hits('cached.jwks');

is(status('/cached', $ta1), 200, 'cache 60s: first request: 200');
is(hits('cached.jwks') - $base, 1, 'cache 60s: first request fetched');
is(status('/cached', $ta1), 200, 'cache 60s: second request: 200');
is(status('/cached', tok($a1, 'ES256', undef)), 200,
   'cache 60s: token without kid: 200');
is(hits('cached.jwks') - $base, 1, 'cache 60s: no refetch for known keys');

# rotate: the key server now has only b1; wait out the 5s refresh interval
# (with a margin for whole-second clocks) so that the first fetch above does
# not count against it
$t->write_file('jwks/cached.jwks', jwks($b1_jwk));
sleep 6.2;

is(status('/cached', $tb1), 200,
   'rotated key (new kid b1) accepted thanks to the unknown-kid refresh');
is(hits('cached.jwks') - $base, 2, 'unknown kid: exactly one refetch');

is(status('/cached', tok($b1, 'ES256', 'zz-garbage')), 401,
   'garbage kid right after the refresh: 401');
is(hits('cached.jwks') - $base, 2,
   'garbage kid within 5s of the refresh: no refetch');

is(status('/cached', tok($b1, 'ES256', 'zz-other')), 401,
   'another garbage kid: 401');
is(hits('cached.jwks') - $base, 2, 'another garbage kid: still no refetch');

is(status('/cached', $ta1), 401,
   'key removed from the JWKS (a1) no longer accepted after the refresh');
is(status('/cached', $tb1), 200, 'new key (b1) still accepted');
is(hits('cached.jwks') - $base, 2, 'no more fetches');

# --- cache 2s: expiry --------------------------------------------------------------

cmp_ok(time - $short_at, '>=', 4, 'well over 2s since the 2s cache was filled');
is(status('/short', $ta1), 200, 'cache 2s: after expiry: 200');
is(hits('short.jwks'), 2, 'cache 2s: expired cache refetched');
is(status('/short', $ta1), 200, 'cache 2s: refilled: 200');
is(hits('short.jwks'), 2, 'cache 2s: refilled cache used');

# --- key file and key request together ------------------------------------------------

is(status('/both', tok($f1, 'HS256', 'f1')), 200, 'both sources: key from the file');
is(status('/both', $tb1), 200, 'both sources: key from the request');
is(status('/both', tok($a1, 'ES256', 'a1')), 401, 'both sources: unknown key: 401');

# --- keys cannot be obtained: 500 ----------------------------------------------------

is(status('/missing', $ta1), 500, 'JWKS location answers 404: 500');
is(status('/garbage', $ta1), 500, 'JWKS body is not JSON: 500');
is(status('/empty', $ta1), 500, 'JWKS without any key: 500');
is(status('/truncated', $ta1), 500, 'truncated JWKS: 500');
is(status('/down', $ta1), 500, 'JWKS upstream refuses connections: 500');
$t->ignore_log(qr/connect\(\) failed/);

# --- big key sets ------------------------------------------------------------------------

is(status('/big', tok($r1, 'RS256', 'r24')), 200,
   'JWKS > default subrequest buffer, subrequest_output_buffer_size 64k: 200');
is(status('/big', tok($r1, 'RS256', 'r1')), 200, 'big JWKS: first key: 200');
is(status('/bigsmall', tok($r1, 'RS256', 'r24')), 200,
   'JWKS larger than subrequest_output_buffer_size: still 200');
{
    my $r = $t->get('/huge',
                    Authorization => 'Bearer ' . tok($r1, 'RS256', 'r1'));
    is($r->{status}, 500, 'JWKS larger than 1m: 500')
        or diag('request error: ' . ($r->{error} // 'none'));
    like($t->error_log, qr/key set is larger than 1m/,
         'oversized key set logged');
}

# --- still healthy --------------------------------------------------------------------------

is(status('/alias', $ta1), 200, 'still serving');

done_testing;
