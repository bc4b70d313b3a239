#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# Chaining: "aggregate orders /_orders?customer=$cid $cid=user.customer.id"
# starts orders once user is read, with the value from user's answer.
# Values are strings (unescaped), numbers, true or false, escaped as URI
# components, and stay so up to the service (a "/" in a value is no new
# segment, see uri.t); they reach the part's own location too.  Independent parts
# stay parallel (a barrier proves it), chains go three levels deep, a
# missing value or a failed source skips the part (null, or 502 when it is
# required).

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

$t->start(<<'EOF');
    server {
        listen 127.0.0.1:%%PORT_main%%;
        default_type application/json;
        aggregate_timeout 5s;

        location = /account {
            aggregate user    /_users/$arg_user;
            aggregate orders  /_svc/echo/orders?customer=$cid&tier=$tier
                              $cid=user.customer.id $tier=user.customer.tier;
            aggregate profile /_svc/echo/profile/$arg_user;
        }

        location = /types {
            aggregate src /_types;
            aggregate use /_svc/echo/types?s=$s&n=$n&t=$b&u=$u&e=$e
                          $s=src.s $n=src.n $b=src.t $u=src.u $e=src.list.1;
            aggregate inpath /_svc/echo/p/$p $p=src.p;
        }

        location = /header {
            aggregate user /_users/$arg_user;
            aggregate seen /_seen $cid=user.customer.id;
        }

        location = /deep {
            aggregate a /_users/$arg_user;
            aggregate b /_next/$x $x=a.customer.id;
            aggregate c /_next/$y $y=b.next;
        }

        location = /parallel {
            aggregate a     /_svc/barrier/2/$arg_g/a;
            aggregate b     /_svc/barrier/2/$arg_g/b;
            aggregate after /_svc/echo/after/$an $an=a.name;
        }

        location = /missing {
            aggregate user  /_users/$arg_user;
            aggregate nul   /_svc/echo/nul/$v  optional $v=user.nothing;
            aggregate obj   /_svc/echo/obj/$o  optional $o=user.customer;
            aggregate empty /_svc/echo/emp/$e  optional $e=user.empty;
            aggregate null2 /_svc/echo/nl/$n   optional $n=user.null;
            aggregate ok    /_svc/echo/ok/$i   $i=user.customer.id;
        }

        location = /source-failed {
            aggregate user   /_svc/status/503 optional;
            aggregate orders /_svc/echo/orders/$cid optional $cid=user.id;
            aggregate other  /_svc/echo/other;
        }

        location = /source-failed-required {
            aggregate user   /_svc/status/503 optional;
            aggregate orders /_svc/echo/orders/$cid $cid=user.id;
        }

        location = /shared {
            aggregate user /_users/$arg_user fields=name;
            aggregate one  /_svc/echo/one/$cid $cid=user.customer.id;
            aggregate two  /_svc/echo/two/$cid $cid=user.customer.id;
        }

        location = /unsafe {
            aggregate src  /_types;
            aggregate bad  /_svc/echo/$d/x optional $d=src.dots;
            aggregate up   /_svc/echo/$u/x optional $u=src.up;
        }

        location ~ ^/_users/(\w+)$ {
            internal;
            return 200 '{"name":"$1","customer":{"id":"c-$1","tier":"gold"},"empty":"","null":null}';
        }

        location = /_types {
            internal;
            return 200 '{"s":"a&b=c d/e?\u00e9\\"","n":-1.5e3,"t":true,"u":"\u0041\u00e9","list":[0,"one"],"p":"x y/z","dots":"../../etc","up":".."}';
        }

        location /_next/ {
            internal;
            return 200 '{"next":"n$uri"}';
        }

        location = /_seen {
            internal;
            proxy_set_header X-Customer $cid;
            proxy_pass http://127.0.0.1:%%PORT_svc%%/headers;
        }

        location = /outside {
            return 200 '"$cid"';
        }

        location /_svc/ {
            internal;
            proxy_pass http://127.0.0.1:%%PORT_svc%%/;
        }
    }
EOF

$t->ignore_log(qr/part "\w+" failed/);

my $json = JSON::PP->new;

sub get_json {
    my $r = $t->get(@_);
    $r->{json} = eval { $json->decode($r->{body}) };
    return $r;
}

my $r = get_json('/account?user=alice');
is($r->{status}, 200, 'chain: 200');
is($r->{json}{orders}{target}, '/echo/orders?customer=c-alice&tier=gold',
   'two values of the earlier part in the uri of the later');
is($r->{json}{profile}{target}, '/echo/profile/alice', 'an independent part');
is($r->{headers}{'x-aggregate-complete'}, 'true', 'complete');

$r = get_json('/types');
is($r->{json}{use}{target},
   '/echo/types?s=a%26b%3Dc%20d%2Fe%3F%C3%A9%22&n=-1.5e3&t=true&u=A%C3%A9&e=one',
   'strings unescaped then escaped as URI components; numbers and true as '
   . 'written; array elements by index');
is($r->{json}{inpath}{target}, '/echo/p/x%20y%2Fz',
   'in a path the value stays one segment, its "/" encoded');

$r = get_json('/header?user=bob');
is($r->{json}{seen}{headers}{'x-customer'}, 'c-bob',
   'the value reaches the part\'s own location (proxy_set_header)');
is($t->get('/outside')->{body}, '""', 'outside an aggregation it is empty');

$r = get_json('/deep?user=carol');
is_deeply($r->{json}{c}, { next => 'n/_next/n%2F_next%2Fc-carol' },
          'three parts in a chain (a value with "/" is one segment)');

$r = $t->request('GET', '/parallel?g=1', timeout => 8);
is($r->{status}, 200, 'independent parts behind a barrier of two: 200');
is($json->decode($r->{body})->{after}{target}, '/echo/after/a',
   '... in parallel, the dependent one after its source');

$r = get_json('/missing?user=dan');
is($r->{status}, 200, 'missing values: 200');
is($r->{body}, '{"user":{"name":"dan","customer":{"id":"c-dan","tier":"gold"},'
               . '"empty":"","null":null},"nul":null,"obj":null,"empty":null,'
               . '"null2":null,"ok":{"target":"/echo/ok/c-dan"}}',
   'a missing name, an object, an empty string, null: the part is skipped');
is($r->{headers}{'x-aggregate-complete'}, 'false', 'not complete');

$r = get_json('/source-failed');
is($r->{body}, '{"user":null,"orders":null,"other":{"target":"/echo/other"}}',
   'a failed source: its dependent is skipped');

$r = get_json('/source-failed-required');
is($r->{status}, 502, 'a required part whose source failed: 502');
like($r->{body}, qr/^\{"error":"dependency failed","part":"orders","request_id":"[0-9a-f]{32}"\}$/,
   '... naming it');

$r = get_json('/shared?user=eve');
is_deeply($r->{json}, { user => { name => 'eve' },
                        one => { target => '/echo/one/c-eve' },
                        two => { target => '/echo/two/c-eve' } },
          'one value for two parts; values come from the whole answer, '
          . 'before fields=');

$r = get_json('/unsafe');
is($r->{json}{bad}{target}, '/echo/..%2F..%2Fetc/x',
   'a value with ".." and "/" stays one segment');
is($r->{json}{up}{target}, '/echo/%2E%2E/x',
   'a value ".." is encoded, not a step up');
ok($t->wait_for_log(qr/part "nul" failed: value missing \(user\.nothing\)/, 2),
   'a missing value is logged');

done_testing;
