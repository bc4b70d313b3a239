#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
# The example gateway (conf.d/gateway.conf + conf.d/backends.conf), run as
# shipped except for its port numbers, with keys made for the test and a
# real redis-server for its rate limits.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use JSON::PP;
use Test::More;

use Meshgate::Test;

my $t = Meshgate::Test->new(workers => 1);
$t->need_module_or_skip;
$t->need('redis-server', 'Crypt::JWT', 'Crypt::PK::ECC');

require Meshgate::JWT;
Meshgate::JWT->import;

# The example's fixed ports become free ones.  Every port must be found:
# if the example changes its ports, this test has to change with it.
my %port_of = (8080 => 'main', 9001 => 'users', 9002 => 'orders',
               9003 => 'products', 9004 => 'reviews', 9005 => 'stock',
               6380 => 'redis');


my ($gateway, $gseen) = $t->example('gateway.conf', \%port_of);
my ($backends, $bseen) = $t->example('backends.conf', \%port_of);
is_deeply([sort keys %{{ %$gseen, %$bseen }}], [sort keys %port_of],
          'the example uses the expected ports');

# Same layout as the demo and the Docker image: meshgate/ beside nginx.conf.
my ($hs_key, $hs_jwk) = gen_key('HS256', kid => 'demo-hs256', alg => 'HS256');
my ($es_key, $es_jwk) = gen_key('ES256', kid => 'demo-es256', alg => 'ES256');
# test_config() writes its nginx.conf into conf/, start() into the prefix:
# relative names resolve against each one's directory, so both get a copy.
for my $dir ('', 'conf/') {
    $t->write_file("${dir}meshgate/gateway.conf", $gateway);
    $t->write_file("${dir}meshgate/backends.conf", $backends);
    $t->write_file("${dir}meshgate/keys/jwks.json", jwks($hs_jwk, $es_jwk));
}

my $http = <<'EOF';
    include meshgate/gateway.conf;
    include meshgate/backends.conf;
EOF

my ($ok, $out) = $t->test_config($http);
ok($ok, 'nginx -t accepts the example') or diag($out);

$t->start_redis;
$t->start($http);

my $json = JSON::PP->new;

sub token {
    my (%o) = @_;
    my $alg = delete $o{alg} // 'HS256';
    my $key = delete $o{key} // ($alg eq 'HS256' ? $hs_key : $es_key);
    my $kid = delete $o{kid} // ($alg eq 'HS256' ? 'demo-hs256' : 'demo-es256');
    my $now = time;
    my %claims = (iss => 'meshgate-demo', sub => 'alice', aud => 'meshgate-api',
                  iat => $now, exp => $now + 300, role => 'user',
                  scope => 'users:read orders:read',
                  org => { id => 'acme', plan => 'demo' }, %o);
    delete @claims{ grep { !defined $claims{$_} } keys %claims };
    return mint(alg => $alg, key => $key, claims => \%claims,
                header => { kid => $kid, typ => 'JWT' });
}

sub call {
    my ($path, $token, @headers) = @_;
    push @headers, Authorization => "Bearer $token" if defined $token;
    my $r = $t->get($path, @headers);
    $r->{json} = eval { $json->decode($r->{body}) };
    return $r;
}

sub is_invalid_token {
    my ($r, $name) = @_;
    is($r->{status}, 401, "$name: 401");
    like($r->{headers}{'www-authenticate'} // '',
         qr/^Bearer realm="meshgate",\s*error="invalid_token"/,
         "$name: error=\"invalid_token\"");
}

# -- public routes -----------------------------------------------------------

my $r = call('/health');
is($r->{status}, 200, '/health: 200 without a token');
is_deeply($r->{json}, { status => 'ok' }, '/health: JSON body');
like($r->{headers}{'x-request-id'} // '', qr/^[0-9a-f]{32}$/,
     'responses carry X-Request-Id');

$r = call('/api/public/catalogue', undef, 'X-User-Id' => 'mallory');
is($r->{status}, 200, 'public route: 200 without a token');
is($r->{json}{service}, 'products', 'public route: products service');
is($r->{json}{path}, '/catalogue', 'public route: prefix stripped');
is($r->{json}{user}, undef, 'public route: a client X-User-Id is not passed on');

# -- protected routes ------------------------------------------------------------

$r = call('/api/users/me');
is($r->{status}, 401, 'no token: 401');
is($r->{headers}{'www-authenticate'}, 'Bearer realm="meshgate"',
   'no token: WWW-Authenticate names the realm');
is($r->{json}{error}, 'unauthorized', 'no token: JSON error body');

$r = call('/api/users/me', token(), 'X-User-Id' => 'mallory');
is($r->{status}, 200, 'HS256 token: 200');
is($r->{json}{service}, 'users', 'HS256 token: users service');
is($r->{json}{path}, '/me', 'HS256 token: path');
is($r->{json}{user}, 'alice', 'backend sees X-User-Id from the token, not the client');
is($r->{json}{role}, 'user', 'backend sees X-User-Role');
is($r->{json}{scope}, 'users:read orders:read', 'backend sees X-User-Scope');
is($r->{json}{org}, 'acme', 'backend sees X-Org-Id (nested claim)');
like($r->{json}{request_id} // '', qr/^[0-9a-f]{32}$/,
     'backend sees X-Request-Id');
is($r->{json}{request_id}, $r->{headers}{'x-request-id'},
   'client and backend see the same request id');

$r = call('/api/orders/', token(alg => 'ES256', sub => 'bob'));
is($r->{status}, 200, 'ES256 token: 200');
is($r->{json}{service}, 'orders', 'ES256 token: orders service');
is($r->{json}{user}, 'bob', 'ES256 token: backend sees the subject');

my $good = token();
(my $forged = $good) =~ s/\.([^.]+)$/'.' . reverse($1)/e;
is_invalid_token(call('/api/users/me', $forged), 'forged signature');

is_invalid_token(call('/api/users/me', token(exp => time - 120)),
                 'expired beyond the leeway');
is(call('/api/users/me', token(exp => time - 10))->{status}, 200,
   'expired within the 30s leeway: 200');

my ($other_hs) = gen_key('HS256');
is_invalid_token(call('/api/users/me', token(key => $other_hs)),
                 'HS256 with an unknown secret');
my ($other_es) = gen_key('ES256');
is_invalid_token(call('/api/users/me', token(alg => 'ES256', key => $other_es)),
                 'ES256 with an unknown key');

$r = call('/api/users/me', token(iss => 'someone-else'));
is($r->{status}, 401, 'wrong issuer: 401 (auth_jwt_require)');
$r = call('/api/users/me', token(iss => undef));
is($r->{status}, 401, 'no issuer: 401');
$r = call('/api/users/me', token(sub => undef));
is($r->{status}, 401, 'no subject: 401 (nothing to rate-limit by)');

# -- admin route ---------------------------------------------------------------

$r = call('/api/admin/stats');
is($r->{status}, 401, 'admin, no token: 401');

$r = call('/api/admin/stats', token());
is($r->{status}, 403, 'admin, user token: 403');
is($r->{json}{error}, 'forbidden', 'admin, user token: JSON error body');
ok(!defined $r->{headers}{'www-authenticate'}, 'admin, 403: no WWW-Authenticate');

$r = call('/api/admin/stats', token(role => 'admin', sub => 'root'));
is($r->{status}, 200, 'admin, role "admin": 200');
ok($r->{json}{admin}, 'admin, role "admin": admin endpoint of users service');
is($r->{json}{path}, '/admin/stats', 'admin: path');
is($r->{json}{user}, 'root', 'admin: backend sees the subject');

$r = call('/api/admin/stats', token(role => ['user', 'admin'], alg => 'ES256'));
is($r->{status}, 200, 'admin, roles ["user","admin"]: 200');
is($r->{json}{role}, 'user,admin', 'admin: backend sees the role list');

$r = call('/api/admin/stats', token(role => 'administrator'));
is($r->{status}, 403, 'admin, role "administrator": 403 (exact role match)');

# an element with a comma in it is one element, not a way in
$r = call('/api/admin/stats', token(role => ['team,admin']));
is($r->{status}, 403, 'admin, roles ["team,admin"]: 403');
$r = call('/api/users/me', token(role => ['team,admin', 'dev']));
is($r->{json}{role}, 'team%2Cadmin,dev',
   'backend sees the "," inside an element as %2C');

$r = call('/api/admin/stats', token(role => 'admin', iss => 'someone-else'));
is($r->{status}, 401, 'admin, wrong issuer: 401, the issuer check is kept');

# -- rate limits ---------------------------------------------------------------

# per_user: 5r/s, burst=10 nodelay, so q=11 and w=ceil(11 * 0.2s)=3.
# Subjects of their own, so that the requests above do not count.
$r = call('/api/users/me', token(sub => 'erin'));
is($r->{status}, 200, 'rate limit: first request of a user: 200');
is($r->{headers}{'ratelimit-policy'}, '"per_user";q=11;w=3',
   'rate limit: RateLimit-Policy of the per-user zone');
is($r->{headers}{'ratelimit'}, '"per_user";r=10;t=1',
   'rate limit: RateLimit, 10 more requests allowed now');
ok(!defined $r->{headers}{'retry-after'}, 'rate limit: no Retry-After on 200');

$r = call('/api/public/catalogue');
# per_ip: 20r/s, burst=40, so q=41 and w=ceil(41 * 0.05s)=3
is($r->{headers}{'ratelimit-policy'}, '"per_ip";q=41;w=3',
   'rate limit: public routes are limited per address');

$r = call('/health');
ok(!defined $r->{headers}{'ratelimit-policy'}, 'rate limit: /health is not limited');

# A burst well beyond 11 requests, faster than 5r/s refills: a run of 200s
# (at least the 11 of the burst), then 429s.
my $frank = token(sub => 'frank', alg => 'ES256');
my (@status, $limited);
for (1 .. 30) {
    my $x = call('/api/orders/', $frank);
    push @status, $x->{status};
    $limited //= $x if $x->{status} == 429;
}
my $passed = () = grep { $_ == 200 } @status;
is(join(' ', @status), join(' ', (200) x $passed, (429) x (30 - $passed)),
   'rate limit: a burst is 200s, then 429s');
ok($passed >= 11 && $passed < 30, "rate limit: $passed of 30 passed (burst 11)");
ok($limited, 'rate limit: the burst ends in 429');
$limited //= { headers => {} };
is($limited->{json}{error}, 'too many requests', '429: JSON error body');
like($limited->{headers}{'retry-after'} // '', qr/^[1-9]\d*$/,
     '429: Retry-After');
like($limited->{headers}{'ratelimit'} // '', qr/^"per_user";r=0;t=\d+$/,
     '429: RateLimit says none remain');
like($limited->{headers}{'x-request-id'} // '', qr/^[0-9a-f]{32}$/,
     '429: X-Request-Id');

$r = call('/api/orders/', token(sub => 'grace'));
is($r->{status}, 200, 'rate limit: another user still gets 200');
is($r->{json}{user}, 'grace', '... as herself');
is(call('/api/orders/', $frank)->{status}, 429,
   'rate limit: the limited user is still limited');

# -- aggregation -----------------------------------------------------------------

$r = call('/api/products/mg-1/page');
is($r->{status}, 200, 'product page: 200 without a token');
is($r->{body}, '{"product":{"id":"mg-1","name":"mesh cable",'
               . '"price":{"amount":9.90,"currency":"EUR"}},'
               . '"reviews":{"average":4.5,"count":2,"items":['
               . '{"stars":5,"text":"Works as advertised."},'
               . '{"stars":4,"text":"Solid, a bit pricey."}]},'
               . '"stock":{"in_stock":true,"quantity":12,"ships_in_days":1}}',
   'product page: three services in one document, trimmed by fields= '
   . 'and path=');
is($r->{headers}{'x-aggregate-complete'}, 'true', 'product page: complete');
like($r->{headers}{'ratelimit-policy'} // '', qr/^"per_ip";/,
     'product page: limited per address');

$r = call('/api/products/mg-3/page');
is($r->{status}, 200, 'product page, reviews failing: 200');
is($r->{json}{reviews}, undef, '... reviews null');
is($r->{json}{product}{name}, 'sidecar kit', '... the rest there');
is($r->{headers}{'x-aggregate-complete'}, 'false', '... not complete');

$r = call('/api/products/nope/page');
is($r->{status}, 502, 'unknown product: 502');
is_deeply($r->{json},
          { error => 'service unavailable',
            request_id => $r->{headers}{'x-request-id'} },
          'unknown product: the server\'s error_page answers, with the id');

is(call('/api/me/overview')->{status}, 401, 'overview without a token: 401');
$r = call('/api/me/overview', token(sub => 'ivan'));
is($r->{status}, 200, 'overview: 200');
is($r->{json}{profile}{user}, 'ivan', 'overview: the profile sees the user');
is($r->{json}{orders}{customer}, 'ivan',
   'overview: the orders part asked for the profile\'s user');

# -- the rest ------------------------------------------------------------------

$r = call('/nowhere');
is($r->{status}, 404, 'unknown route: 404');
is($r->{json}{error}, 'not found', 'unknown route: JSON error body');

# Each access log line must be JSON, with the subject for authenticated
# requests.
ok($t->wait_for_log(qr/"uri":"\/nowhere"/, 5, 'logs/gateway.access.log'),
   'access log written');
my @lines = split /\n/, $t->read_file('logs/gateway.access.log');
my @bad = grep { !eval { $json->decode($_); 1 } } @lines;
ok(@lines > 10 && !@bad, 'access log lines are JSON') or diag("bad: @bad");
my ($line) = map { $json->decode($_) }
             grep { /"uri":"\/api\/orders\/"/ && /"status":200/ } @lines;
is($line->{sub}, 'bob', 'access log: subject');
is($line->{alg}, 'ES256', 'access log: token algorithm');
is($line->{kid}, 'demo-es256', 'access log: key id');
is($line->{org}, 'acme', 'access log: nested claim');
is($line->{upstream_status}, '200', 'access log: upstream status');
is($line->{limit}, 'PASSED', 'access log: rate limit status');

my @frank = map { $json->decode($_) } grep { /"sub":"frank"/ } @lines;
is(scalar(grep { $_->{status} == 429 && $_->{limit} eq 'REJECTED' } @frank),
   scalar(grep { $_ == 429 } @status) + 1,
   'access log: 429s are logged as REJECTED');
($line) = map { $json->decode($_) } grep { /"uri":"\/health"/ } @lines;
is($line->{limit}, '', 'access log: an unlimited request has no limit status');

# -- Redis goes away -------------------------------------------------------------

# limit_redis_fail local: the instance limits on its own, from a fresh
# local state.
$t->stop_redis;
my $heidi = token(sub => 'heidi');
@status = map { call('/api/users/me', $heidi)->{status} } 1 .. 25;
is($status[0], 200, 'without Redis: 200');
is($status[-1], 429, 'without Redis: still limited, locally');
ok($t->wait_for_log(qr/"sub":"heidi".*"limit":"LOCAL_REJECTED"/, 5,
                    'logs/gateway.access.log'),
   'access log: LOCAL_REJECTED without Redis');

$t->stop;

done_testing;
