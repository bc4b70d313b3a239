#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# What a value can do to a part's uri: nothing but be one path segment or
# one query value.  A value of an earlier part ("$v=a.v") and an nginx
# variable in the uri ($arg_*, $http_*, a regex capture) arrive at the
# service with "/", "?", "#", "%" and a ".." of their own percent-encoded,
# whatever passes the part on (proxy_pass with a uri, without one, with
# variables; grpc_pass); the part's location is found with the value as
# one segment too.  Each check is on the exact request line the
# service received (AggregateBackend's /line/).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib", "$FindBin::Bin/lib";

use JSON::PP;
use Test::More;
use Meshgate::Test;
use AggregateBackend;

my $t = Meshgate::Test->new(workers => 1);
$t->need_module_or_skip;

AggregateBackend->start($t->port('svc'));

# a value of 20000 bytes, a "/" in every 4
my $long = 'seg/' x 5000;
$t->write_file('html/long.json', qq({"long":"$long"}));

$t->start(<<'EOF');
    server {
        listen 127.0.0.1:%%PORT_main%%;
        default_type application/json;
        aggregate_timeout 5s;

        # values of one part in the uris of the next
        location = /chain {
            aggregate a     /_src/values;
            aggregate slash /_catp/items/$slash optional $slash=a.slash;
            aggregate dots  /_catp/items/$dots/x optional $dots=a.dots;
            aggregate dot   /_catp/items/$dot/x optional $dot=a.dot;
            aggregate up    /_catp/items/$up optional $up=a.up;
            aggregate pct   /_catp/items/$pct optional $pct=a.pct;
            aggregate qh    /_catp/items/$qh?view=$qh optional $qh=a.qh;
            aggregate admin /_catp/items/$adm optional $adm=a.admin;
            aggregate plain /line/items/$slash optional $slash=a.slash;
            aggregate vars  /_vars/items/$slash optional $slash=a.slash;
            aggregate grpc  /_grpc/items/$slash?q=$qh optional
                            $slash=a.slash $qh=a.qh;
            aggregate rw    /_rw/items/$slash optional $slash=a.slash;
        }

        location = /long {
            aggregate a /_src/long;
            aggregate b /_catp/items/$l?q=$l $l=a.long;
        }

        # client input in the uri of a part
        location = /arg {
            aggregate u /_catp/users/$arg_id?view=$arg_view;
        }

        location = /header {
            aggregate u /_catp/users/$http_x_id?view=$http_x_view;
        }

        location ~ ^/cap/(.+)$ {
            aggregate u /_catp/users/$1;
        }

        location = /seen {
            aggregate r /_seen/items/$arg_id?x=$arg_id;
        }

        location = /_src/values {
            internal;
            return 200 '{"slash":"alice/admin/export","dots":"..","dot":".","up":"../../admin","pct":"a%2Fb","qh":"x?y=1#z&w","admin":"admin/secret"}';
        }

        location = /_src/long {
            internal;
            alias %%PREFIX%%/html/long.json;
        }

        # proxy_pass with a uri: the location's prefix is replaced
        location /_catp/ {
            internal;
            proxy_pass http://127.0.0.1:%%PORT_svc%%/line/;
        }

        # what a "/" in a value would reach if it were a segment
        location /_catp/items/admin/ {
            internal;
            return 200 '{"wrong":"location"}';
        }

        # proxy_pass without a uri: the uri goes as it is
        location /line/ {
            internal;
            proxy_pass http://127.0.0.1:%%PORT_svc%%;
        }

        # proxy_pass with variables
        location /_vars/ {
            internal;
            proxy_pass http://127.0.0.1:%%PORT_svc%%/line$uri;
        }

        # a rewrite makes a uri of nginx's own, which proxy_pass encodes
        location /_rw/ {
            internal;
            rewrite ^/_rw/(.*)$ /line/rw/$1 break;
            proxy_pass http://127.0.0.1:%%PORT_svc%%;
        }

        # grpc_pass: the :path of an HTTP/2 request
        location /_grpc/ {
            internal;
            grpc_pass grpc://127.0.0.1:%%PORT_h2%%;
        }

        location /_seen/ {
            internal;
            return 200 '{"request_uri":"$request_uri","uri":"$uri","args":"$args"}';
        }
    }

    # a service behind grpc_pass, telling the request line it made of it
    server {
        listen 127.0.0.1:%%PORT_h2%% http2;
        default_type application/json;

        location / {
            return 200 '{"line":"$request"}';
        }
    }
EOF

my $json = JSON::PP->new;

sub lines {
    my ($path, @headers) = @_;
    my $r = $t->get($path, @headers);
    my $j = eval { $json->decode($r->{body}) } || {};
    diag("$path: $r->{status} " . substr($r->{body}, 0, 200))
        unless $r->{status} == 200;
    return { map { $_ => ref $j->{$_} eq 'HASH'
                         ? ($j->{$_}{line} // $json->encode($j->{$_}))
                         : $j->{$_} } keys %$j };
}

# -- values of an earlier part -------------------------------------------------

my $l = lines('/chain');
is($l->{slash}, 'GET /line/items/alice%2Fadmin%2Fexport HTTP/1.0',
   'a "/" in a value: one segment, up to the service');
is($l->{dots}, 'GET /line/items/%2E%2E/x HTTP/1.0',
   'a value "..": encoded, no step up');
is($l->{dot}, 'GET /line/items/%2E/x HTTP/1.0', 'a value ".": encoded');
is($l->{up}, 'GET /line/items/..%2F..%2Fadmin HTTP/1.0',
   'a value "../../admin": one segment');
is($l->{pct}, 'GET /line/items/a%252Fb HTTP/1.0',
   'a value with "%2F" in it: its "%" encoded, never decoded');
is($l->{qh}, 'GET /line/items/x%3Fy%3D1%23z%26w?view=x%3Fy%3D1%23z%26w '
             . 'HTTP/1.0',
   '"?", "#", "&" and "=" in a value: no arguments of its own, in the '
   . 'path or in a query value');
is($l->{admin}, 'GET /line/items/admin%2Fsecret HTTP/1.0',
   'a value does not pick a more specific location');
is($l->{plain}, 'GET /line/items/alice%2Fadmin%2Fexport HTTP/1.0',
   '... through proxy_pass without a uri');
is($l->{vars}, 'GET /line/_vars/items/alice%2Fadmin%2Fexport HTTP/1.0',
   '... through proxy_pass with variables');
is($l->{grpc}, 'GET /_grpc/items/alice%2Fadmin%2Fexport'
               . '?q=x%3Fy%3D1%23z%26w HTTP/2.0',
   '... through grpc_pass');
is($l->{rw}, 'GET /line/rw/items/alice%252Fadmin%252Fexport HTTP/1.0',
   '... rewritten in the part\'s location: encoded twice, one segment');

# long lines: compared whole, shown short
sub same {
    my ($got, $expect, $name) = @_;
    ok(defined $got && $got eq $expect, $name)
        or diag('got ' . (defined $got ? length($got) . ' bytes: '
                          . substr($got, 0, 60) . '...' : 'nothing'));
}

my $enc = 'seg%2F' x 5000;
$l = lines('/long');
same($l->{b}, "GET /line/items/$enc?q=$enc HTTP/1.0",
     'a value of 20000 bytes: all of it, encoded, in the path and the query');

# -- nginx variables -------------------------------------------------------------

$l = lines('/arg?id=42?admin=1%26role=root&view=full');
is($l->{u}, 'GET /line/users/42%3Fadmin%3D1%2526role%3Droot?view=full '
            . 'HTTP/1.0',
   'a "?" in $arg_id gives the part no arguments of its own');

$l = lines('/arg?id=a%2Fb&view=x');
is($l->{u}, 'GET /line/users/a%252Fb?view=x HTTP/1.0',
   'a "%2F" the client encoded: sent as the variable holds it, encoded');

$l = lines('/arg?id=..&view=..');
is($l->{u}, 'GET /line/users/%2E%2E?view=%2E%2E HTTP/1.0',
   '".." in $arg_id: encoded');

$l = lines('/arg?id=%2E%2E&view=');
is($l->{u}, 'GET /line/users/%252E%252E?view= HTTP/1.0',
   '"%2E%2E" in $arg_id: not a step up either');

$l = lines('/header', 'X-Id' => 'a#b/c d', 'X-View' => 'full&admin=1#x');
is($l->{u}, 'GET /line/users/a%23b%2Fc%20d?view=full%26admin%3D1%23x '
            . 'HTTP/1.0',
   '"#", "/", " " and "&" in header variables: encoded');

my $arg = 'a/' x 1500;
$l = lines("/arg?id=$arg&view=v");
same($l->{u}, 'GET /line/users/' . ('a%2F' x 1500) . '?view=v HTTP/1.0',
     'a long argument with "/" in it: one segment');

$l = lines('/cap/a%2Fb%3Fc');
is($l->{u}, 'GET /line/users/a%2Fb%3Fc HTTP/1.0',
   'a regex capture (which nginx decodes) is one segment too');

# -- what the part's location sees -------------------------------------------------

my $r = $t->get('/seen?id=a/b');
is_deeply(eval { $json->decode($r->{body})->{r} },
          { request_uri => '/_seen/items/a%2Fb?x=a%2Fb',
            uri => '/_seen/items/a%2Fb', args => 'x=a%2Fb' },
          'the part\'s location: $uri and $request_uri as sent, $args');

done_testing;
