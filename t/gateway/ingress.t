#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
# The example ingress (conf.d/ingress.conf + conf.d/ingress-backends.conf),
# run as shipped except for its port numbers, with a certificate and keys
# made for the test and a real redis-server: HTTPS with host routing, JWT on
# the API host, rate limits, health checks taking a server out and back,
# trace ids at the services and in the JSON log (a client's trace context
# ignored: the edge starts every trace), and the metrics.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use JSON::PP;
use Test::More;
use Time::HiRes qw(sleep time);

use Meshgate::Test;

my $t = Meshgate::Test->new(workers => 2);
$t->need_module_or_skip;
$t->need('redis-server', 'curl', 'openssl', 'promtool', 'Crypt::JWT');
$t->need_nginx_module('http_ssl');

require Meshgate::JWT;
Meshgate::JWT->import;

my %port_of = (8080 => 'main', 8443 => 'tls', 9145 => 'metrics',
               9201 => 'web_a', 9202 => 'web_b', 9211 => 'users_a',
               9212 => 'users_b', 9221 => 'orders_a', 6380 => 'redis');


my ($ingress, $iseen) = $t->example('ingress.conf', \%port_of);
my ($backends, $bseen) = $t->example('ingress-backends.conf', \%port_of);
is_deeply([sort keys %{{ %$iseen, %$bseen }}], [sort keys %port_of],
          'the example uses the expected ports');

my ($hs_key, $hs_jwk) = gen_key('HS256', kid => 'demo-hs256', alg => 'HS256');

my $tls = $t->path('tls');
mkdir $tls;
# quiet: openssl draws its progress on stderr
open my $stderr, '>&', \*STDERR or die;
open STDERR, '>', '/dev/null' or die;
my $made = system('openssl', 'req', '-x509', '-newkey', 'ec',
       '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
       '-subj', '/CN=example.test',
       '-addext', 'subjectAltName=DNS:www.example.test,DNS:api.example.test',
       '-keyout', "$tls/ingress.key", '-out', "$tls/ingress.crt");
open STDERR, '>&', $stderr or die;
$made == 0 or BAIL_OUT('openssl could not make a certificate');

for my $dir ('', 'conf/') {
    $t->write_file("${dir}meshgate/ingress.conf", $ingress);
    $t->write_file("${dir}meshgate/ingress-backends.conf", $backends);
    $t->write_file("${dir}meshgate/keys/jwks.json", jwks($hs_jwk));
    $t->write_file("${dir}meshgate/tls/$_", $t->read_file("tls/$_"))
        for qw(ingress.crt ingress.key);
}
mkdir $t->path("meshgate/www/$_") for qw(web-a web-b users-a users-b orders-a);

my $http = <<'EOF';
    include meshgate/ingress.conf;
    include meshgate/ingress-backends.conf;
EOF

my ($ok, $out) = $t->test_config($http);
ok($ok, 'nginx -t accepts the example') or diag($out);

$t->start_redis;
$t->start($http);

my $json = JSON::PP->new;

sub token {
    my (%o) = @_;
    my $now = time;
    my %claims = (iss => 'meshgate-demo', sub => 'alice', iat => $now,
                  exp => $now + 300, %o);
    return mint(alg => 'HS256', key => $hs_key, claims => \%claims,
                header => { kid => 'demo-hs256', typ => 'JWT' });
}

# https(host, path, headers...) through curl, with the test's CA; several
# paths (an array ref) go over one connection.  Returns a list of
# { status, headers, body, json }.
sub https {
    my ($host, $paths, @h) = @_;
    $paths = [$paths] unless ref $paths;
    my $port = $t->port('tls');
    my @args = ('curl', '-s', '--http1.1', '--cacert', "$tls/ingress.crt",
                '--resolve', "$host:$port:127.0.0.1", '-D', '-');
    push @args, '-H', $_ for @h;
    push @args, map { "https://$host:$port$_" } @$paths;
    open my $p, '-|', @args or die "curl: $!";
    my $all = do { local $/; <$p> };
    close $p;
    my @res;
    for my $resp (split /(?=^HTTP\/\d(?:\.\d)? \d{3})/m, $all // '') {
        my ($head, $body) = split /\r\n\r\n/, $resp, 2;
        my ($st) = $head =~ m{^HTTP/\S+ (\d{3})};
        my %hd;
        while ($head =~ /^([^:\r\n]+):\s*(.*?)\r?$/mg) {
            $hd{lc $1} = $2;
        }
        push @res, { status => $st // 0, headers => \%hd, body => $body // '',
                     json => eval { $json->decode($body // '') } };
    }
    return wantarray ? @res : $res[0];
}

# -- plain HTTP -------------------------------------------------------------

my $r = $t->get('/users/me', Host => 'api.example.test');
is($r->{status}, 308, 'plain HTTP: 308');
is($r->{headers}{location}, 'https://api.example.test/users/me',
   'plain HTTP: to the same URL over HTTPS');

# -- the web site -----------------------------------------------------------

my %seen;
for my $x (https('www.example.test', [('/index.html') x 4])) {
    $seen{ $x->{json}{server} // 'none' }++ if $x->{status} == 200;
}
is_deeply([sort keys %seen], ['web-a', 'web-b'],
          'www: both servers of the web group answer, over TLS')
    or diag(explain \%seen);

# -- the API: JWT, limits, traces -------------------------------------------

$r = https('api.example.test', '/users/me');
is($r->{status}, 401, 'API without a token: 401');
is($r->{json}{error}, 'unauthorized', 'API without a token: JSON error');
like($r->{headers}{'www-authenticate'} // '', qr/^Bearer realm="api"/,
     'API without a token: WWW-Authenticate');

$r = https('api.example.test', '/users/me', 'Authorization: Bearer x.y.z');
is($r->{status}, 401, 'API with a malformed token: 401');

$r = https('api.example.test', '/users/me',
           'Authorization: Bearer ' . token(iss => 'elsewhere'));
is($r->{status}, 401, 'API with a token of another issuer: 401');

# the client's trace context is not continued: a new trace starts here
my $trace = '4bf92f3577b34da6a3ce929d0e0e4736';
my $parent = '00f067aa0ba902b7';
$r = https('api.example.test', '/users/me',
           'Authorization: Bearer ' . token(),
           "traceparent: 00-$trace-$parent-00");
is($r->{status}, 200, 'API with a token: 200');
is($r->{json}{service}, 'users', 'API /users/: the users group');
is($r->{json}{user}, 'alice', 'the service sees the user of the token');
my ($new_trace, $hop) = ($r->{json}{traceparent} // '')
    =~ /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/;
ok(defined $new_trace, 'the service gets a traceparent, sampled')
    or diag($r->{json}{traceparent});
isnt($new_trace, $trace, '... of a trace the ingress started, not the client\'s');
isnt($hop, $parent, '... with the ingress\'s span as its parent');

# the web host too, and the one traceparent the service gets is the
# ingress's even when the client sends two
my $w = https('www.example.test', '/index.html',
              "traceparent: 00-$trace-$parent-01",
              "traceparent: 00-$trace-$parent-01");
like($w->{json}{traceparent} // '', qr/^00-(?!$trace)[0-9a-f]{32}-[0-9a-f]{16}-01$/,
     'www: the service gets a new trace');

# no token on the web host: an identity the client claims never reaches it
$w = https('www.example.test', '/index.html', 'X-User-Id: admin');
is($w->{status}, 200, 'www with a made-up X-User-Id: 200');
is($w->{json}{user}, '', '... the service sees no user');
like($r->{headers}{ratelimit} // '', qr/^"ingress_(?:user|ip)";r=\d+;t=\d+$/,
     'RateLimit header');

$r = https('api.example.test', '/nothing/here',
           'Authorization: Bearer ' . token());
is($r->{status}, 404, 'API: unknown path 404');

# the per-user limit: 10r/s, burst 20; a user of its own
my @r = https('api.example.test', [('/users/x') x 40],
              'Authorization: Bearer ' . token(sub => 'eager'));
my $passed = grep { $_->{status} == 200 } @r;
my @limited = grep { $_->{status} == 429 } @r;
# 21 at once, and one more per 100 ms that the 40 requests take
ok($passed >= 21 && $passed <= 30,
   "per-user limit: about burst + 1 of 40 at once accepted ($passed)");
is(scalar(@limited), 40 - $passed, 'the others: 429');
is($limited[0]{json}{error}, 'too_many_requests', '429: JSON error');
ok(($limited[0]{headers}{'retry-after'} // 0) >= 1, '429: Retry-After');

# -- health checks ------------------------------------------------------------

# orders has "mandatory": it gets traffic once its first probe passed
my $deadline = time + 5;
do { $r = https('api.example.test', '/orders/1', 'Authorization: Bearer ' . token()) }
    until $r->{status} == 200 || time > $deadline || !sleep 0.2;
is($r->{status}, 200, 'orders: answers once its first check passed');
is($r->{json}{server}, 'orders-a', 'orders: its server');

my $users_a = '127.0.0.1:' . $t->port('users_a');
$t->write_file('meshgate/www/users-a/draining', '');
ok($t->wait_for_log(qr/upstream "ingress_users" peer \Q$users_a\E is down/, 8),
   'users-a draining: its health check fails twice, it is down');

%seen = ();
for my $x (https('api.example.test', [('/users/y') x 10],
                 'Authorization: Bearer ' . token(sub => 'carol'))) {
    $seen{ $x->{json}{server} // $x->{status} }++;
}
is_deeply(\%seen, { 'users-b' => 10 }, 'while users-a is down, users-b takes all')
    or diag(explain \%seen);

unlink $t->path('meshgate/www/users-a/draining');
ok($t->wait_for_log(qr/upstream "ingress_users" peer \Q$users_a\E is up/, 8),
   'users-a healthy again: it is up');

%seen = ();
for my $x (https('api.example.test', [('/users/z') x 6],
                 'Authorization: Bearer ' . token(sub => 'dave'))) {
    $seen{ $x->{json}{server} // $x->{status} }++;
}
ok($seen{'users-a'}, 'users-a gets traffic again') or diag(explain \%seen);

# -- metrics ----------------------------------------------------------------

$r = $t->request('GET', '/metrics', port => 'metrics');
is($r->{status}, 200, 'metrics: 200');
my $m = $r->{body};
like($m, qr/^meshgate_http_requests_total\{route="users",method="GET",code="200"\} (\d+)$/m,
     'metrics: users requests by status');
my ($n429) = $m =~ /^meshgate_http_requests_total\{route="\@too_many_requests",method="GET",code="429"\} (\d+)$/m;
is($n429, scalar(@limited), 'metrics: every 429 counted, under the error location');
like($m, qr/^meshgate_http_requests_total\{route="redirect",method="GET",code="308"\} 1$/m,
     'metrics: the redirect');
unlike($m, qr/route="\/healthz"/, 'metrics: the sample services are not counted');
like($m, qr/^meshgate_upstream_peer_up\{upstream="ingress_users",peer="\Q$users_a\E"\} 1$/m,
     'metrics: users-a up');
like($m, qr/^meshgate_auth_jwt_results_total\{[^}]*result="missing"[^}]*\} [1-9]/m,
     'metrics: missing tokens counted');
like($m, qr/^meshgate_limit_redis_outcomes_total\{[^}]*zone="ingress_user"[^}]*\} [1-9]/m,
     'metrics: limit_redis outcomes by zone');
like($m, qr/^meshgate_upstream_requests_total\{upstream="ingress_web",peer="127\.0\.0\.1:\d+",code="200"\} [1-9]/m,
     'metrics: upstream requests by group and peer');

$t->write_file('scrape.txt', $m);
my $check = `promtool check metrics < ${\ $t->path('scrape.txt')} 2>&1`;
is($?, 0, 'promtool check metrics accepts the scrape') or diag($check);

# -- the access log -----------------------------------------------------------

my @lines = map { eval { $json->decode($_) } // () }
            split /\n/, $t->read_file('logs/ingress.access.log');
ok(@lines >= 60, 'access log: one JSON object per request (' . scalar(@lines) . ')');
ok(!(grep { ($_->{trace_id} // '') eq $trace } @lines),
   'access log: never the client\'s trace id');
my ($line) = grep { ($_->{trace_id} // '') eq ($new_trace // '-') } @lines;
ok($line, 'access log: the trace id the service saw');
is($line->{parent_span_id}, '', 'access log: no parent, a new trace');
is($line->{span_id}, $hop, 'access log: the span the service saw as its parent');
is($line->{user}, 'alice', 'access log: the user');

done_testing;
