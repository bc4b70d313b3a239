#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
# scripts/demo start / status / stop, in a directory and on ports of its own
# so that a demo the user is running is not disturbed.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Cwd qw(abs_path);
use JSON::PP;
use Test::More;

use Meshgate::Test;

my $t = Meshgate::Test->new;
$t->need_module_or_skip;
$t->need('redis-server', 'curl', 'perl', 'Crypt::JWT', 'Crypt::PK::ECC');

# An ASan build of the module loads only into an nginx with the sanitizer
# runtime preloaded, which the demo does not do; gateway.t runs the same
# configuration under the harness, sanitizer included.
plan(skip_all => 'the demo does not run an ASan build (MESHGATE_PRELOAD)')
    if $ENV{MESHGATE_PRELOAD};

my $demo = abs_path("$FindBin::Bin/../../scripts/demo");
plan(skip_all => "no $demo") unless -x $demo;

my $dir = $t->prefix . '/demo';
$ENV{MESHGATE_DEMO_DIR} = $dir;
$ENV{MESHGATE_DEMO_PORT} = $t->port('gateway');
$ENV{MESHGATE_DEMO_BACKEND_PORTS} =
    join ' ', map { $t->port($_) } qw(users orders products reviews stock);
$ENV{MESHGATE_DEMO_REDIS_PORT} = $t->port('redis');
$ENV{NGINX} = $t->nginx_binary;

# timeout: a demo that hangs must fail this test, not stall the suite
sub demo {
    my $out = qx{timeout 120 "$demo" @_ 2>&1};
    return ($? >> 8, $out);
}

# Whatever happens below, what the demo started is stopped.
my $started;
END { demo('stop') if $started }

my ($rc, $out) = demo('start');
$started = 1;
is($rc, 0, 'demo start succeeds') or diag($out);
like($out, qr/http:\/\/127\.0\.0\.1:$ENV{MESHGATE_DEMO_PORT}\b/,
     'start prints the gateway URL with the chosen port');

my %token = $out =~ /^\s*export (MG_\w+)=(\S+)$/mg;
is_deeply([sort keys %token], [qw(MG_ADMIN_ES256 MG_USER_ES256 MG_USER_HS256)],
          'start prints the three tokens');
like($out, qr/curl .*Authorization: Bearer \$MG_USER_HS256/,
     'start prints curl commands');
like($out, qr/^\s*for i in .*curl .*\$MG_USER_ES256.*; done/m,
     'start prints a loop that runs into the rate limit');
like($out, qr{curl -i http://\S+/api/products/mg-1/page},
     'start prints the product page');
ok(-s "$dir/tokens.env", 'tokens are also in tokens.env');
ok(!grep(/"d"/, $t->read_file("$dir/meshgate/keys/jwks.json")),
   'the JWKS nginx reads has no private EC key');

my $json = JSON::PP->new;
sub call {
    my ($path, $token) = @_;
    my $r = $t->request('GET', $path, port => 'gateway',
        headers => [ defined $token ? (Authorization => "Bearer $token") : () ]);
    $r->{json} = eval { $json->decode($r->{body}) };
    return $r;
}

is(call('/health')->{status}, 200, 'health: 200');
is(call('/api/public/products')->{status}, 200, 'public route: 200');
is(call('/api/users/me')->{status}, 401, 'protected without a token: 401');

my $r = call('/api/users/me', $token{MG_USER_HS256});
is($r->{status}, 200, 'protected with the HS256 token: 200');
is($r->{json}{user}, 'alice', 'the service sees the user');
like($r->{headers}{'ratelimit-policy'} // '', qr/^"per_user";q=\d+;w=\d+$/,
     'a protected response carries RateLimit-Policy');
like($r->{headers}{'ratelimit'} // '', qr/^"per_user";r=\d+;t=\d+$/,
     '... and RateLimit');
# PASSED, not LOCAL_PASSED: the limit is kept in the demo's Redis
ok($t->wait_for_log(qr/"sub":"alice".*"limit":"PASSED"/, 5,
                    "$dir/logs/gateway.access.log"),
   'the demo gateway limits in its Redis (access log)');
$r = call('/api/products/mg-1/page');
is($r->{status}, 200, 'product page: 200');
is_deeply([sort keys %{$r->{json} || {}}], [qw(product reviews stock)],
          'product page: three parts');
is($r->{headers}{'x-aggregate-complete'}, 'true', 'product page: complete');

$r = call('/api/orders/', $token{MG_USER_ES256});
is($r->{status}, 200, 'protected with the ES256 token: 200');
is(call('/api/admin/stats', $token{MG_USER_ES256})->{status}, 403,
   'admin route with a user token: 403');
is(call('/api/admin/stats', $token{MG_ADMIN_ES256})->{status}, 200,
   'admin route with the admin token: 200');

($rc, my $tok) = demo('token', 'carol', 'admin', 'HS256');
chomp $tok;
is($rc, 0, 'demo token succeeds');
$r = call('/api/admin/stats', $tok);
is($r->{status}, 200, 'a token from "demo token" is accepted');
is($r->{json}{user}, 'carol', '... for its subject');

# a second start reuses the keys: earlier tokens stay valid
($rc, $out) = demo('start');
is($rc, 0, 'a second start succeeds') or diag($out);
like($out, qr/reloaded/, 'a second start reloads nginx');
is(call('/api/users/me', $token{MG_USER_HS256})->{status}, 200,
   'tokens from the first start are still valid');

($rc, $out) = demo('status');
is($rc, 0, 'status: running') or diag($out);

($rc, $out) = demo('stop');
is($rc, 0, 'stop succeeds') or diag($out);
like($out, qr/stopped nginx/, 'stop stops nginx');
like($out, qr/stopped redis/, 'stop stops redis');
$started = 0;
ok(!defined call('/health')->{status}, 'the gateway is gone');

($rc, $out) = demo('stop');
is($rc, 0, 'a second stop succeeds');
like($out, qr/not running/, '... and says there was nothing to stop');

($rc, $out) = demo('status');
isnt($rc, 0, 'status: not running');

done_testing;
