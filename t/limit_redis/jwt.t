#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# limit_redis keyed by $jwt_claim_sub: with auth_jwt in the location,
# limit_redis runs after auth_jwt (ACCESS phase), so the key is the verified
# token's subject.  alice and bob are limited independently; missing and
# invalid tokens get 401 and are not counted (not even for the subject they
# claim); a valid token without sub is not limited (empty key).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Test::More;
use Meshgate::Test;
use Meshgate::JWT;

my $t = Meshgate::Test->new(workers => 2);
$t->need_module_or_skip;
$t->need('redis-server');

my $redis = $t->start_redis;

my ($hs, $hs_jwk) = gen_key('HS256', kid => 'hs1');
my ($other) = gen_key('HS256', kid => 'hs1');
$t->write_file('keys/hs.jwks', jwks($hs_jwk));
$t->write_file('html/ok.txt', "OK\n");

$t->start(<<'EOF');
    redis_server main 127.0.0.1:%%PORT_redis%% timeout=1s;

    limit_redis_zone $jwt_claim_sub zone=user rate=1r/m redis=main;
    limit_redis_zone $jwt_claim_sub zone=inh  rate=1r/m redis=main;

    server {
        listen 127.0.0.1:%%PORT_main%% reuseport;
        root %%PREFIX%%/html;
        add_header X-LR $limit_redis_status always;
        add_header X-Sub $jwt_claim_sub always;

        location /api {
            auth_jwt "api";
            auth_jwt_key_file %%PREFIX%%/keys/hs.jwks;
            limit_redis zone=user burst=2 nodelay;
            try_files /ok.txt =404;
        }

        # auth_jwt inherited from the server-level block below
        location /inh {
            limit_redis zone=inh nodelay;
            try_files /ok.txt =404;
        }

        auth_jwt "srv";
        auth_jwt_key_file %%PREFIX%%/keys/hs.jwks;
    }
EOF

sub token {
    my (%claims) = @_;
    return mint(alg => 'HS256', key => $hs, claims => \%claims,
                header => { kid => 'hs1' });
}

sub rget {
    my ($uri, $tok) = @_;
    return $t->get_lr($uri, defined $tok ? (Authorization => "Bearer $tok") : ());
}

my $alice = token(sub => 'alice', exp => time + 600);
my $bob = token(sub => 'bob', exp => time + 600);
my $forged_alice = mint(alg => 'HS256', key => $other,
                        claims => { sub => 'alice' }, header => { kid => 'hs1' });
my $expired_alice = token(sub => 'alice', exp => time - 100);
my $forged_carol = mint(alg => 'HS256', key => $other,
                        claims => { sub => 'carol' }, header => { kid => 'hs1' });

# --- alice: 3 pass, then 429 ---------------------------------------------------------

my $r = rget('/api', $alice);
is($r->{status}, 200, 'alice 1: 200');
is($r->{lr}, 'PASSED', 'alice 1: PASSED');
is($r->{headers}{'ratelimit'}, '"user";r=2;t=60', 'alice 1: RateLimit r=2');
ok(defined $t->lr_state($redis, 'user:alice'), 'the Redis key is mg:lr:user:alice (the verified sub)');

# invalid tokens in between: 401, alice's state unchanged
my $before = $t->lr_state($redis, 'user:alice');
for my $bad (['no token', undef], ['forged alice', $forged_alice],
             ['expired alice', $expired_alice], ['garbage', 'a.b.c'])
{
    my $x = rget('/api', $bad->[1]);
    is($x->{status}, 401, "$bad->[0]: 401");
    is($x->{lr}, '', "$bad->[0]: not limited (\$limit_redis_status empty)");
    ok(!exists $x->{headers}{'ratelimit'}, "$bad->[0]: no RateLimit header");
}
is($t->lr_state($redis, 'user:alice'), $before, 'invalid tokens did not charge alice');

# many invalid tokens do not eat anybody's quota
rget('/api', $forged_alice) for 1 .. 10;
rget('/api', $forged_carol) for 1 .. 3;
is($t->lr_state($redis, 'user:alice'), $before, '10 forged alice tokens: alice not charged');
ok(!defined $t->lr_state($redis, 'user:carol'), 'forged carol token: no key for carol');

my @a = map { rget('/api', $alice) } 2 .. 4;
is_deeply([map { $_->{status} } @a], [200, 200, 429], 'alice 2..4: 200 200 429');
is($a[2]{lr}, 'REJECTED', 'alice 4: REJECTED');
is($a[2]{headers}{'retry-after'}, '60', 'alice 4: Retry-After 60');

# --- bob is independent ---------------------------------------------------------------

my @b = map { rget('/api', $bob) } 1 .. 4;
is_deeply([map { $_->{status} } @b], [200, 200, 200, 429],
          'bob: 200 200 200 429, independent of alice');
is($b[0]{headers}{'x-sub'}, 'bob', 'bob\'s sub seen');

# a new token for alice (another jti, same sub) is still alice
is(rget('/api', token(sub => 'alice', jti => 'x2'))->{status}, 429,
   'another token with sub alice: still limited as alice');

# --- a valid token without sub: empty key, not limited --------------------------------

my $nosub = token(name => 'anonymous');
my @n = map { rget('/api', $nosub) } 1 .. 5;
is_deeply([map { $_->{status} } @n], [200, 200, 200, 200, 200],
          'valid token without sub: never limited');
is($n[0]{lr}, '', 'without sub: $limit_redis_status empty');
ok(!exists $n[0]{headers}{'ratelimit'}, 'without sub: no RateLimit header');
is(scalar @{$t->redis_command($redis, 'KEYS', 'mg:lr:user:*')}, 2,
   'only alice and bob have keys');

# --- auth_jwt inherited from the server level ------------------------------------------

is(rget('/inh')->{status}, 401, 'inherited auth_jwt: no token 401');
my @i = map { rget('/inh', $alice) } 1 .. 2;
is_deeply([map { $_->{status} } @i], [200, 429],
          'inherited auth_jwt: limit_redis keyed by the sub works (200 429)');
ok(defined $t->lr_state($redis, 'inh:alice'), 'inh zone key for alice');

done_testing;
