#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# What parts see of the client's request: its headers (Authorization,
# cookies, custom ones), but not those that would get them less than a
# whole plain body (Accept-Encoding, Range, If-*), nor the request body.
# auth_jwt on the aggregating location protects the whole composition and
# its claims reach the parts; auth_jwt on a part's own location does not
# apply (nginx skips the access phase for subrequests).  The answer itself
# may still be compressed by gzip.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib", "$FindBin::Bin/lib";

use IO::Uncompress::Gunzip qw(gunzip);
use JSON::PP;
use Test::More;
use Meshgate::Test;
use AggregateBackend;

my $t = Meshgate::Test->new(workers => 1);
$t->need_module_or_skip;
$t->need('Crypt::JWT');

require Meshgate::JWT;
Meshgate::JWT->import;

AggregateBackend->start($t->port('svc'));

my ($key, $jwk) = gen_key('HS256', kid => 'k1');
$t->write_file('keys/k.jwks', jwks($jwk));

$t->start(<<'EOF');
    server {
        listen 127.0.0.1:%%PORT_main%%;
        default_type application/json;

        location = /h {
            aggregate h /_svc/headers;
        }

        location = /gz {
            gzip on;
            gzip_types application/json;
            gzip_min_length 1;
            aggregate h   /_svc/headers;
            aggregate pad /_pad;
        }

        location = /me {
            auth_jwt "api";
            auth_jwt_key_file %%PREFIX%%/keys/k.jwks;
            aggregate profile /_svc/echo/users/$jwt_claim_sub;
            aggregate seen    /_seen;
        }

        location = /open {
            aggregate secret /_secret;
        }

        location = /_seen {
            internal;
            proxy_set_header X-User $jwt_claim_sub;
            proxy_pass http://127.0.0.1:%%PORT_svc%%/headers;
        }

        location = /_secret {
            internal;
            auth_jwt "inner";
            auth_jwt_key_file %%PREFIX%%/keys/k.jwks;
            return 200 '{"secret":true}';
        }

        location = /_pad {
            internal;
            return 200 '"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"';
        }

        location /_svc/ {
            internal;
            proxy_pass http://127.0.0.1:%%PORT_svc%%/;
        }
    }
EOF

my $json = JSON::PP->new;

my $r = $t->request('GET', '/h', headers => [
    'Authorization' => 'Bearer abc.def.ghi',
    'Cookie' => 'session=1',
    'X-Custom' => 'yes',
    'Accept-Encoding' => 'gzip, br',
    'Range' => 'bytes=0-10',
    'If-Range' => 'Wed, 21 Oct 2015 07:28:00 GMT',
    'If-None-Match' => '"abc"',
    'If-Modified-Since' => 'Wed, 21 Oct 2015 07:28:00 GMT',
]);
is($r->{status}, 200, 'headers: 200');
my $h = $json->decode($r->{body})->{h}{headers};
is($h->{authorization}, 'Bearer abc.def.ghi', 'Authorization reaches the part');
is($h->{cookie}, 'session=1', 'so do cookies');
is($h->{'x-custom'}, 'yes', 'and custom headers');
for my $gone (qw(accept-encoding range if-range if-none-match
                 if-modified-since content-length))
{
    ok(!exists $h->{$gone}, "$gone does not");
}

# If-Match and If-Unmodified-Since apply to the answer itself, which has
# no ETag or Last-Modified: nginx refuses them as for any such response
is($t->get('/h', 'If-Match' => '"abc"')->{status}, 412,
   'If-Match: 412 from nginx, as for any answer without an ETag');

$r = $t->request('GET', '/h', body => 'a body the parts never see');
is($r->{status}, 200, 'GET with a body: 200');
$h = $json->decode($r->{body})->{h}{headers};
ok(!exists $h->{'content-length'}, 'the parts get no request body');

# the answer itself, compressed by nginx
$r = $t->request('GET', '/gz', headers => ['Accept-Encoding' => 'gzip']);
is($r->{headers}{'content-encoding'}, 'gzip', 'the answer may be gzipped');
my $plain;
gunzip(\$r->{body}, \$plain);
my $doc = eval { $json->decode($plain) };
ok($doc && !exists $doc->{h}{headers}{'accept-encoding'},
   '... from parts that were not');

# auth_jwt on the aggregating location
is($t->get('/me')->{status}, 401, 'no token: 401, before any part');
my $token = mint(alg => 'HS256', key => $key, header => { kid => 'k1' },
                 claims => { sub => 'alice', exp => time + 60 });
$r = $t->get('/me', Authorization => "Bearer $token");
is($r->{status}, 200, 'with a token: 200');
$doc = $json->decode($r->{body});
is($doc->{profile}{target}, '/echo/users/alice', '$jwt_claim_sub in a part uri');
is($doc->{seen}{headers}{'x-user'}, 'alice',
   '$jwt_claim_sub in the part\'s location');
is($doc->{seen}{headers}{authorization}, "Bearer $token",
   'the token reaches the services');

# what auth_jwt on a part's own location does: nothing
$r = $t->get('/open');
is($r->{body}, '{"secret":{"secret":true}}',
   'auth_jwt in a part\'s location is not checked for the part '
   . '(protect the aggregating location)');

done_testing;
