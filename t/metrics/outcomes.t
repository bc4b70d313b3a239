#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# Outcomes the other modules report: auth_jwt results by route (ok,
# missing, invalid, forbidden, error) and limit_redis verdicts by zone
# (each zone's own, dry runs, Redis down, the local fallback), counted in
# the zone of the request's location, and only where metrics is on.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Test::More;
use Meshgate::Test;
use Meshgate::JWT;
use Meshgate::Prom;

my $t = Meshgate::Test->new(workers => 2);
$t->need_module_or_skip;
$t->need('redis-server');

my $redis = $t->start_redis;

my ($hs, $hs_jwk) = gen_key('HS256', kid => 'k1');
my ($other) = gen_key('HS256', kid => 'k1');

$t->write_file('keys/k.jwks', jwks($hs_jwk));
$t->write_file('html/ok.txt', "OK\n");

$t->start(<<'EOF');
    metrics_zone main 1m;
    metrics main;

    redis_server main 127.0.0.1:%%PORT_redis%% timeout=1s;
    redis_server down 127.0.0.1:%%PORT_closed%% timeout=100ms
                      connect_timeout=100ms;

    limit_redis_zone $arg_k zone=one  rate=1r/m   redis=main;
    limit_redis_zone $arg_k zone=many rate=100r/s redis=main;
    limit_redis_zone $arg_k zone=dry  rate=1r/m   redis=main;
    limit_redis_zone $arg_k zone=del  rate=10r/s  redis=main;
    limit_redis_zone $arg_k zone=off  rate=1r/m   redis=main;
    limit_redis_zone $arg_k zone=gone rate=1r/m   redis=down;
    limit_redis_zone $arg_k zone=loc  rate=1r/m   redis=down;

    server {
        listen 127.0.0.1:%%PORT_main%%;
        root %%PREFIX%%/html;

        location /api {
            auth_jwt "api";
            auth_jwt_key_file %%PREFIX%%/keys/k.jwks;
            try_files /ok.txt =404;
        }

        location /admin {
            metrics_route admin;
            auth_jwt "api";
            auth_jwt_key_file %%PREFIX%%/keys/k.jwks;
            auth_jwt_require $jwt_claim_admin error=403;
            try_files /ok.txt =404;
        }

        location /broken {
            auth_jwt "api";
            auth_jwt_key_request /nokeys;
            try_files /ok.txt =404;
        }

        location = /nokeys {
            internal;
            return 500;
        }

        location /quiet {
            metrics off;
            auth_jwt "api";
            auth_jwt_key_file %%PREFIX%%/keys/k.jwks;
            limit_redis zone=off;
            try_files /ok.txt =404;
        }

        location /lim {
            limit_redis zone=one;
            limit_redis zone=many burst=10 nodelay;
            try_files /ok.txt =404;
        }

        location /dry {
            limit_redis zone=dry;
            limit_redis_dry_run on;
            try_files /ok.txt =404;
        }

        location /del {
            limit_redis zone=del burst=5;
            try_files /ok.txt =404;
        }

        location /gone {
            limit_redis zone=gone;
            try_files /ok.txt =404;
        }

        location /loc {
            limit_redis zone=loc;
            limit_redis_fail local;
            try_files /ok.txt =404;
        }

        location = /metrics {
            metrics off;
            metrics_export main;
        }
    }
EOF

my $ok = mint(alg => 'HS256', key => $hs, claims => { sub => 'a' },
              header => { kid => 'k1' });
my $admin = mint(alg => 'HS256', key => $hs,
                 claims => { sub => 'b', admin => 1 }, header => { kid => 'k1' });
my $expired = mint(alg => 'HS256', key => $hs,
                   claims => { sub => 'a', exp => time - 3600 },
                   header => { kid => 'k1' });
my $forged = mint(alg => 'HS256', key => $other, claims => { sub => 'a' },
                  header => { kid => 'k1' });

sub st {
    my ($path, $token) = @_;
    my @h = defined $token ? (Authorization => "Bearer $token") : ();
    return $t->get($path, @h)->{status} // 'none';
}

# --- auth_jwt ---------------------------------------------------------------

is(st('/api', $ok), 200, 'valid token') for 1 .. 3;
is(st('/api'), 401, 'no token');
is(st('/api', 'abc'), 401, 'not a token');
is(st('/api', $expired), 401, 'expired');
is(st('/api', $forged), 401, 'forged');
is(st('/admin', $admin), 200, 'admin: requirement met');
is(st('/admin', $ok), 403, 'admin: requirement not met: 403');
is(st('/admin'), 401, 'admin: no token');
is(st('/broken', $ok), 500, 'keys cannot be fetched: 500');
is(st('/quiet', $ok), 200, 'metrics off') for 1 .. 2;

# --- limit_redis --------------------------------------------------------------

sub lr { $t->get($_[0])->{status} // 'none' }

is(lr('/lim?k=a'), 200, 'two zones: accepted');
is(lr('/lim?k=a'), 429, 'two zones: zone "one" rejects');
is(lr('/lim?k='), 200, 'empty key: not limited, no outcome');
is(lr('/dry?k=a'), 200, 'dry run') for 1 .. 2;
is(lr('/del?k=a'), 200, 'delay zone: passed');
is(lr('/del?k=a'), 200, 'delay zone: delayed');
is(lr('/gone?k=a'), 200, 'Redis down, fail open');
is(lr('/loc?k=a'), 200, 'Redis down, local fallback: passed');
is(lr('/loc?k=a'), 429, 'Redis down, local fallback: rejected');

$t->ignore_log(qr/redis server "down"/);

# --- what was counted ---------------------------------------------------------

my $text = $t->get('/metrics')->{body};
my $m = prom_parse($text);
is_deeply($m->{errors}, [], 'exposition parses');

sub family {
    my ($name) = @_;
    my %f;
    for my $k (@{$m->{order}}) {
        $f{$1} = $m->{samples}{$k} if $k =~ /^\Q$name\E\{(.*)\}$/;
    }
    return \%f;
}

is_deeply(family('meshgate_auth_jwt_results_total'), {
    'route="/api",result="ok"' => 3,
    'route="/api",result="missing"' => 1,
    'route="/api",result="invalid"' => 3,
    'route="admin",result="ok"' => 1,
    'route="admin",result="forbidden"' => 1,
    'route="admin",result="missing"' => 1,
    'route="/broken",result="error"' => 1,
}, 'auth_jwt results by route') or diag(explain(family(
    'meshgate_auth_jwt_results_total')));

is_deeply(family('meshgate_limit_redis_outcomes_total'), {
    'zone="one",outcome="passed"' => 1,
    'zone="one",outcome="rejected"' => 1,
    'zone="many",outcome="passed"' => 2,
    'zone="dry",outcome="passed"' => 1,
    'zone="dry",outcome="rejected_dry_run"' => 1,
    'zone="del",outcome="passed"' => 1,
    'zone="del",outcome="delayed"' => 1,
    'zone="gone",outcome="error"' => 1,
    'zone="loc",outcome="local_passed"' => 1,
    'zone="loc",outcome="local_rejected"' => 1,
}, 'limit_redis outcomes by zone: each zone\'s own verdict')
    or diag(explain(family('meshgate_limit_redis_outcomes_total')));

is(prom_value($m, 'meshgate_http_requests_total{route="/lim",method="GET",'
                  . 'code="429"}'), 1, 'the rejected request, 429');
is(prom_value($m, 'meshgate_http_requests_total{route="admin",method="GET",'
                  . 'code="403"}'), 1, 'the forbidden request, 403');

my ($pass, $out) = prom_check($text);
SKIP: {
    skip $out, 1 unless defined $pass;
    ok($pass, 'promtool check metrics: no problem') or diag($out);
}

done_testing;
