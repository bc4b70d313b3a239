#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# aggregate basics, parts served by nginx itself: group and merge answers
# (order, exact bytes, Content-Length), per-request variables ($arg_*,
# regex captures) in part uris, path= and fields=, HEAD, 405, the buffer
# size (a part far larger than nginx's one-page subrequest buffer, a part
# one byte too large), bodies that are not JSON or not objects.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use JSON::PP;
use Test::More;
use Meshgate::Test;

my $t = Meshgate::Test->new(workers => 1);
$t->need_module_or_skip;

# a part of 3 MB, one of exactly 64k and one of 64k + 1
my $big = '{"items":[' . join(',', map { qq({"id":$_,"name":"item $_"}) }
                                   1 .. 100000) . ']}';
$t->write_file('html/big.json', $big);
$t->write_file('html/edge.json', '"' . ('x' x (65536 - 2)) . '"');
$t->write_file('html/edge1.json', '"' . ('x' x (65536 - 1)) . '"');

$t->start(<<'EOF');
    server {
        listen 127.0.0.1:%%PORT_main%%;
        root %%PREFIX%%/html;
        default_type application/json;

        location = /page {
            aggregate product /_product/$arg_id;
            aggregate reviews /_reviews?product=$arg_id;
            aggregate stock   /_stock/$arg_id;
        }

        location ~ ^/shop/(\w+)/item/(\d+)$ {
            aggregate shop /_echo/$1;
            aggregate item /_echo/$2?shop=$1;
        }

        location = /merge {
            aggregate_mode merge;
            aggregate product /_product/$arg_id;
            aggregate stock   /_stock/$arg_id;
            aggregate extra   /_json/extra;
        }

        location = /shaped {
            aggregate product /_product/7 fields=name,price.amount;
            aggregate reviews /_reviews path=reviews.0;
            aggregate stock   /_stock/7 path=warehouses fields=city;
            aggregate scalar  /_reviews path=count;
        }

        location = /merge-shaped {
            aggregate_mode merge;
            aggregate product /_product/7 fields=id,name;
            aggregate reviews /_reviews path=summary;
        }

        location = /big {
            aggregate_buffer_size 4m;
            aggregate big /big.json;
            aggregate small /_stock/1 fields=count;
        }

        location = /edge {
            aggregate_buffer_size 64k;
            aggregate fits /edge.json;
            aggregate over /edge1.json optional;
        }

        location = /bad {
            aggregate text    /_text optional;
            aggregate html    /_html optional;
            aggregate empty   /_empty optional;
            aggregate trailer /_trailer optional;
            aggregate good    /_stock/2;
            aggregate nopath  /_stock/2 path=nothing.here optional;
            aggregate scalarf /_json/scalar fields=a optional;
        }

        location = /merge-bad {
            aggregate_mode merge;
            aggregate array /_json/array optional;
            aggregate good  /_stock/3;
        }

        location = /all-null {
            aggregate a /_text optional;
            aggregate b /_html optional;
        }

        location = /_json/extra {
            internal;
            return 200 '{"id":"extra","tags":["a", "b"]}';
        }
        location = /_json/array  { internal; return 200 '[1,2,3]'; }
        location = /_json/scalar { internal; return 200 '42'; }

        location /_product/ {
            internal;
            return 200 '{"id":"$uri","name":"mesh cable","price":{"amount":9.5,"currency":"EUR"},"tags":["x"]}\n';
        }
        location = /_reviews {
            internal;
            return 200 ' { "product": "$arg_product", "count": 2, "reviews": [ {"stars": 5}, {"stars": 3} ], "summary": {"stars": 4, "name": "reviewed"} } ';
        }
        location /_stock/ {
            internal;
            return 200 '{"count":3,"warehouses":[{"city":"Lyon","n":1},{"city":"Oslo","n":2}]}';
        }
        location /_echo/ {
            internal;
            return 200 '{"uri":"$uri","args":"$args"}';
        }
        location = /_text  { internal; default_type text/plain; return 200 'not json'; }
        location = /_html  { internal; return 200 '<html></html>'; }
        location = /_empty { internal; return 200 ''; }
        location = /_trailer { internal; return 200 '{"a":1} x'; }
    }
EOF

my $json = JSON::PP->new;

sub get_json {
    my ($path, %o) = @_;
    my $r = $t->request($o{method} // 'GET', $path, %o);
    $r->{json} = eval { $json->decode($r->{body}) };
    return $r;
}

# -- group -------------------------------------------------------------------

my $r = get_json('/page?id=42');
is($r->{status}, 200, 'group: 200');
is($r->{headers}{'content-type'}, 'application/json', 'application/json');
is($r->{headers}{'x-aggregate-complete'}, 'true', 'X-Aggregate-Complete: true');
is($r->{headers}{'content-length'}, length($r->{body}),
   'Content-Length is the body length');
like($r->{body}, qr/^\{"product":\{.*\},"reviews":.*,"stock":.*\}$/s,
     'parts in directive order');
is($r->{json}{product}{id}, '/_product/42', '$arg_id in a part path');
is($r->{json}{reviews}{product}, '42', '$arg_id in part arguments');
is($r->{json}{stock}{count}, 3, 'third part');

# the bodies are spliced as they came, white space included
like($r->{body}, qr/"reviews":\{ "product": "42", "count": 2,/,
     'a part body is passed as it came (validated, not rebuilt)');

$r = get_json('/page?id=43');
is($r->{json}{product}{id}, '/_product/43', 'variables are per request');

$r = get_json('/shop/acme/item/1234');
is($r->{json}{shop}{uri}, '/_echo/acme', 'regex capture $1 in a part uri');
is_deeply($r->{json}{item}, { uri => '/_echo/1234', args => 'shop=acme' },
          'captures $2 and $1');

# -- merge -------------------------------------------------------------------

$r = get_json('/merge?id=5');
is($r->{status}, 200, 'merge: 200');
is($r->{body},
   '{"id":"extra","name":"mesh cable","price":{"amount":9.5,"currency":"EUR"},'
   . '"tags":["a", "b"],"count":3,"warehouses":[{"city":"Lyon","n":1},'
   . '{"city":"Oslo","n":2}]}',
   'merge: shallow union, later parts win, names where they first appear');

# -- path and fields -----------------------------------------------------------

$r = get_json('/shaped');
is($r->{status}, 200, 'shaped: 200');
is_deeply($r->{json}{product}, { name => 'mesh cable',
                                 price => { amount => 9.5 } },
          'fields=name,price.amount keeps the nesting of what it keeps');
is_deeply($r->{json}{reviews}, { stars => 5 }, 'path=reviews.0');
is_deeply($r->{json}{stock}, [ { city => 'Lyon' }, { city => 'Oslo' } ],
          'path= then fields= on an array of objects');
is($r->{json}{scalar}, 2, 'path= to a number');
is($r->{body},
   '{"product":{"name":"mesh cable","price":{"amount":9.5}},'
   . '"reviews":{"stars": 5},"stock":[{"city":"Lyon"},{"city":"Oslo"}],'
   . '"scalar":2}', 'shaped answer, byte for byte');

$r = get_json('/merge-shaped');
is($r->{body}, '{"id":"/_product/7","name":"reviewed","stars":4}',
   'merge with fields= and path=');

# -- HEAD and methods ------------------------------------------------------------

my $get = get_json('/page?id=42');
$r = $t->request('HEAD', '/page?id=42');
is($r->{status}, 200, 'HEAD: 200');
is($r->{headers}{'content-length'}, length($get->{body}),
   'HEAD: the Content-Length of the GET answer');
unlike($r->{raw}, qr/\r\n\r\n./s, 'HEAD: no body');

for my $m (qw(POST PUT DELETE PATCH OPTIONS)) {
    $r = $t->request($m, '/page?id=1', body => $m eq 'POST' ? 'x=1' : undef);
    is($r->{status}, 405, "$m: 405");
}
is($r->{headers}{allow}, 'GET, HEAD', '405 says Allow: GET, HEAD');

# a GET with a body: the body is read and dropped, the answer is as usual
$r = $t->request('GET', '/page?id=9', body => 'ignored');
is($r->{status}, 200, 'GET with a body: 200');

# -- sizes -----------------------------------------------------------------------

$r = get_json('/big');
is($r->{status}, 200, 'a 3 MB part with aggregate_buffer_size 4m: 200');
is(length($r->{body}), length($big) + length('{"big":,"small":{"count":3}}'),
   'the whole part is in the answer');
is(scalar @{$r->{json}{big}{items}}, 100000, 'all 100000 items');

$r = get_json('/edge');
is($r->{status}, 200, 'edge: 200');
is(length($r->{json}{fits}), 65534, 'a body of exactly the buffer size fits');
is($r->{json}{over}, undef, 'one byte more: the part failed (null)');
like($r->{body}, qr/"over":null\}$/, '... as null, not truncated');
is($r->{headers}{'x-aggregate-complete'}, 'false', 'X-Aggregate-Complete: false');
ok($t->wait_for_log(qr/optional part "over" failed: response too large/, 2),
   'the error log says why');

# -- bodies that do not fit ----------------------------------------------------------

$r = get_json('/bad');
is($r->{status}, 200, 'optional parts with bad bodies: 200');
is($r->{headers}{'x-aggregate-complete'}, 'false', 'not complete');
is($r->{body},
   '{"text":null,"html":null,"empty":null,"trailer":null,'
   . '"good":{"count":3,"warehouses":[{"city":"Lyon","n":1},{"city":"Oslo","n":2}]},'
   . '"nopath":null,"scalarf":null}',
   'text, HTML, empty, trailing garbage, a missing path, fields= on a '
   . 'scalar: null');
for my $p ([text => 'invalid JSON (invalid JSON: unexpected character)'],
           [empty => 'invalid JSON (invalid JSON: unexpected end of input)'],
           [trailer => 'invalid JSON (trailing data after JSON value)'],
           [nopath => 'path not found'],
           [scalarf => 'not an object or an array'])
{
    ok($t->wait_for_log(qr/optional part "$p->[0]" failed: \Q$p->[1]\E/, 2),
       "log: $p->[0]: $p->[1]");
}

$r = get_json('/merge-bad');
is($r->{status}, 200, 'merge with an array part: 200');
is($r->{body}, '{"count":3,"warehouses":[{"city":"Lyon","n":1},{"city":"Oslo","n":2}]}',
   'the array is not merged');
ok($t->wait_for_log(qr/part "array" failed: not a JSON object/, 2),
   'log: not a JSON object');

$r = get_json('/all-null');
is($r->{body}, '{"a":null,"b":null}', 'every optional part failed: all null');
is($r->{headers}{'x-aggregate-complete'}, 'false', '... not complete');

done_testing;
