#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# Where limit_redis runs: PREACCESS without auth_jwt (before allow/deny);
# right after auth_jwt when auth_jwt is on (still before allow/deny); with
# `satisfy any`, a request auth_jwt accepts is limited at the start of
# PRECONTENT, and limit_redis never grants access by itself.  Only main
# requests are counted, once: not auth_request / mirror / SSI subrequests,
# not again after try_files to a named location; headers reach proxied
# responses.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Test::More;
use Meshgate::Test;
use Meshgate::JWT;

my $t = Meshgate::Test->new(workers => 1);
$t->need_module_or_skip;
$t->need('redis-server');
$t->need_nginx_module('http_auth_request');

my $redis = $t->start_redis;

my ($hs, $hs_jwk) = gen_key('HS256', kid => 'k');
$t->write_file('keys/k.jwks', jwks($hs_jwk));
$t->write_file('html/ok.txt', "OK\n");
$t->write_file('html/inc.txt', "INCLUDED\n");
$t->write_file('html/page.shtml', "A<!--# include virtual=\"/inc\" -->B\n");

$t->start(<<'EOF');
    redis_server main 127.0.0.1:%%PORT_redis%% timeout=1s;

    limit_redis_zone $arg_k zone=pre  rate=1r/m redis=main;
    limit_redis_zone $arg_k zone=acc  rate=1r/m redis=main;
    limit_redis_zone $arg_k zone=sa   rate=1r/m redis=main;
    limit_redis_zone $jwt_claim_sub zone=sb rate=1r/m redis=main;
    limit_redis_zone $arg_k zone=main_z rate=1r/m redis=main;
    limit_redis_zone $arg_k zone=sub_z  rate=1r/m redis=main;
    limit_redis_zone $arg_k zone=tf_z   rate=1r/m redis=main;
    limit_redis_zone $arg_k zone=named_z rate=1r/m redis=main;
    limit_redis_zone $arg_k zone=px     rate=1r/m redis=main;
    limit_redis_zone $arg_k zone=sc     rate=1r/m redis=main;

    server {
        listen 127.0.0.1:%%PORT_main%%;
        root %%PREFIX%%/html;
        add_header X-LR $limit_redis_status always;

        # PREACCESS: counted before deny
        location /pre {
            limit_redis zone=pre;
            deny all;
            try_files /ok.txt =404;
        }

        # after auth_jwt, before deny
        location /acc {
            auth_jwt "api";
            auth_jwt_key_file %%PREFIX%%/keys/k.jwks;
            limit_redis zone=acc;
            deny all;
            try_files /ok.txt =404;
        }

        # satisfy any: limit_redis must not grant access
        location /sa {
            satisfy any;
            auth_jwt "api";
            auth_jwt_key_file %%PREFIX%%/keys/k.jwks;
            limit_redis zone=sa;
            deny all;
            try_files /ok.txt =404;
        }

        # satisfy any, keyed by sub; 127.0.0.1 allowed
        location /sb {
            satisfy any;
            auth_jwt "api";
            auth_jwt_key_file %%PREFIX%%/keys/k.jwks;
            limit_redis zone=sb;
            allow 127.0.0.1;
            deny all;
            try_files /ok.txt =404;
        }

        # satisfy any, keyed by something every request has; 127.0.0.1 allowed
        location /sc {
            satisfy any;
            auth_jwt "api";
            auth_jwt_key_file %%PREFIX%%/keys/k.jwks;
            limit_redis zone=sc burst=1 nodelay;
            allow 127.0.0.1;
            deny all;
            try_files /ok.txt =404;
        }

        location /ar {
            auth_request /auth;
            limit_redis zone=main_z;
            try_files /ok.txt =404;
        }
        location = /auth {
            internal;
            limit_redis zone=sub_z;
            try_files /ok.txt =404;
        }

        location /mi {
            mirror /mirror;
            limit_redis zone=main_z;
            try_files /ok.txt =404;
        }
        location = /mirror {
            internal;
            limit_redis zone=sub_z;
            try_files /ok.txt =404;
        }

        location /page.shtml {
            ssi on;
            ssi_types *;
            limit_redis zone=main_z;
        }
        location = /inc {
            limit_redis zone=sub_z;
            try_files /inc.txt =404;
        }

        location /tf {
            limit_redis zone=tf_z;
            try_files /nonexistent @named;
        }
        location @named {
            limit_redis zone=named_z;
            try_files /ok.txt =404;
        }

        location /px {
            limit_redis zone=px burst=1 nodelay;
            proxy_pass http://127.0.0.1:%%PORT_backend%%/;
        }
    }

    server {
        listen 127.0.0.1:%%PORT_backend%%;
        location / {
            add_header X-Backend yes;
            return 200 "from backend\n";
        }
    }
EOF

sub bearer { (Authorization => "Bearer $_[0]") }

my $alice = mint(alg => 'HS256', key => $hs, claims => { sub => 'alice' },
                 header => { kid => 'k' });

# --- PREACCESS ------------------------------------------------------------------------

my @r = map { $t->get_lr('/pre?k=a') } 1 .. 2;
is_deeply([map { $_->{status} } @r], [403, 429],
          'no auth_jwt: limit_redis (PREACCESS) runs before deny: 403 then 429');

# --- after auth_jwt, before deny ---------------------------------------------------------

is($t->get_lr('/acc?k=a')->{status}, 401, 'auth_jwt on, no token: 401');
ok(!defined $t->lr_state($redis, 'acc:a'), '... not counted');
@r = map { $t->get_lr('/acc?k=a', bearer($alice)) } 1 .. 2;
is_deeply([map { $_->{status} } @r], [403, 429],
          'auth_jwt on, valid token: limit_redis after auth_jwt, before deny: 403 then 429');

# --- satisfy any ------------------------------------------------------------------------

my $r = $t->get_lr('/sa?k=s');
isnt($r->{status}, 200, "satisfy any, no token, deny all: not granted by limit_redis ($r->{status})");
like($r->{status}, qr/^(?:401|403)$/, '... 401 or 403');
$r = $t->get_lr('/sa?k=s2', bearer('bad.token.here'));
isnt($r->{status}, 200, "satisfy any, invalid token, deny all: not granted ($r->{status})");

@r = map { $t->get_lr('/sa?k=s3', bearer($alice)) } 1 .. 2;
is_deeply([map { $_->{status} } @r], [200, 429],
          'satisfy any, valid token: granted by auth_jwt, still limited (200 429)');
is($r[1]{lr}, 'REJECTED', '... REJECTED (in PRECONTENT)');

@r = map { $t->get_lr('/sb', bearer($alice)) } 1 .. 2;
is_deeply([map { $_->{status} } @r], [200, 429],
          'satisfy any + allow: valid token limited by sub (200 429)');
@r = map { $t->get_lr('/sb') } 1 .. 3;
is_deeply([map { $_->{status} } @r], [200, 200, 200],
          'satisfy any + allow, no token: allowed, empty sub not limited');

@r = map { $t->get_lr('/sc?k=c1', bearer($alice)) } 1 .. 3;
is_deeply([map { $_->{status} } @r], [200, 200, 429],
          'satisfy any, granted by auth_jwt: counted once per request (200 200 429)');
@r = map { $t->get_lr('/sc?k=c2') } 1 .. 3;
is_deeply([map { $_->{status} } @r], [200, 200, 429],
          'satisfy any, no token, granted by allow: limited too (200 200 429)');
@r = map { $t->get_lr('/sc?k=c3', bearer('bad.token.x')) } 1 .. 3;
is_deeply([map { $_->{status} } @r], [200, 200, 429],
          'satisfy any, invalid token, granted by allow: limited too (200 200 429)');

# --- subrequests are not counted ----------------------------------------------------------

@r = map { $t->get_lr('/ar?k=x') } 1 .. 2;
is_deeply([map { $_->{status} } @r], [200, 429], 'auth_request location: 200 429');
ok(!defined $t->lr_state($redis, 'sub_z:x'), 'the auth_request subrequest was not counted');

$r = $t->get_lr('/mi?k=y');
is($r->{status}, 200, 'mirror location: 200');
sleep 0.3;
ok(!defined $t->lr_state($redis, 'sub_z:y'), 'the mirror subrequest was not counted');

$r = $t->get_lr('/page.shtml?k=z');
is($r->{status}, 200, 'SSI page: 200');
is($r->{body}, "AINCLUDED\nB\n", 'SSI include served');
ok(!defined $t->lr_state($redis, 'sub_z:z'), 'the SSI subrequest was not counted');
ok(defined $t->lr_state($redis, 'main_z:z'), 'the page itself was');

# --- try_files to a named location: counted once -------------------------------------------

@r = map { $t->get_lr('/tf?k=t') } 1 .. 2;
is_deeply([map { $_->{status} } @r], [200, 429], 'try_files -> @named: 200 429');
ok(defined $t->lr_state($redis, 'tf_z:t'), 'counted in the first location');
ok(!defined $t->lr_state($redis, 'named_z:t'), 'not counted again in the named location');

# --- proxied responses carry the headers ------------------------------------------------------

$r = $t->get_lr('/px?k=p');
is($r->{body}, "from backend\n", 'proxied response');
is($r->{headers}{'x-backend'}, 'yes', 'backend header');
is($r->{headers}{'ratelimit'}, '"px";r=1;t=60', 'RateLimit on the proxied response');
is($r->{headers}{'ratelimit-policy'}, '"px";q=2;w=120', 'RateLimit-Policy on the proxied response');

done_testing;
