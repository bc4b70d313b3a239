#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# aggregate's configuration: what nginx -t refuses, with a message naming
# the directive and the problem (duplicate parts, bad fields= and path=,
# values of unknown or later parts, other content handlers in the same
# location...), and what it accepts: inheritance of aggregate_mode,
# aggregate_timeout and aggregate_buffer_size, a variable bound otherwise
# in another location, nested locations that do not aggregate.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Test::More;
use Meshgate::Test;

my $t = Meshgate::Test->new(workers => 1);
$t->need_module_or_skip;

sub location {
    my ($body) = @_;
    return <<"EOF";
    server {
        listen 127.0.0.1:%%PORT_main%%;
        location = /a {
$body
        }
        location /_ { internal; return 200 '{}'; }
    }
EOF
}

sub refused {
    my ($body, $directive, $re, $name) = @_;
    $t->config_refused(location($body), $directive, $re, $name);
}

refused('aggregate a /_x; aggregate a /_y;', 'aggregate',
        qr/duplicate part name "a"/, 'duplicate part names');
refused('aggregate "a b" /_x;', 'aggregate',
        qr/invalid part name "a b"/, 'a part name with a space');
refused('aggregate a;', 'aggregate',
        qr/invalid number of arguments/, 'no uri');
refused('aggregate a "";', 'aggregate', qr/empty uri/, 'an empty uri');
refused('aggregate a http://example.com/;', 'aggregate',
        qr/invalid uri "http:\/\/example.com\/": a location uri/,
        'a uri that is not a location');
refused('aggregate a $arg_target;', 'aggregate',
        qr/invalid uri "\$arg_target": a location uri starting with "\/"/,
        'a uri that a variable starts: a value cannot make a path');
refused('aggregate a /_x/%zz;', 'aggregate',
        qr/invalid uri "\/_x\/%zz": "%" must start a percent-encoded byte/,
        'a "%" that encodes nothing');
refused('aggregate a /_x/50%;', 'aggregate',
        qr/invalid uri "\/_x\/50%": "%" must start/, 'a "%" at the end');
refused('aggregate a /_x/${id;', 'aggregate',
        qr/invalid uri "\/_x\/\$\{id": the closing bracket/,
        'a variable without its closing bracket');
refused('aggregate a /_x/$;', 'aggregate',
        qr/invalid uri "\/_x\/\$": invalid variable name/, 'a lone "$"');

refused('aggregate a /_x fields=a,,b;', 'aggregate',
        qr/invalid "fields=a,,b" of part "a": empty field/, 'fields= with an empty field');
refused('aggregate a /_x fields=;', 'aggregate',
        qr/invalid "fields=" of part "a": empty list/, 'an empty fields=');
refused('aggregate a /_x fields=a.;', 'aggregate',
        qr/invalid "fields=a\." of part "a": empty name/, 'fields= ending in a dot');
refused('aggregate a /_x path=a..b;', 'aggregate',
        qr/invalid "path=a\.\.b" of part "a": empty name/, 'path= with an empty name');
refused('aggregate a /_x path=a,b;', 'aggregate',
        qr/invalid "path=a,b" of part "a": invalid character/, 'path= with a comma');
refused('aggregate a /_x path=;', 'aggregate',
        qr/invalid "path=" of part "a": empty path/, 'an empty path=');

refused('aggregate a /_x timeout=soon;', 'aggregate',
        qr/invalid timeout "soon" of part "a"/, 'a bad timeout');
refused('aggregate a /_x timeout=0;', 'aggregate',
        qr/invalid timeout "0" of part "a"/, 'a zero timeout');
refused('aggregate a /_x required;', 'aggregate',
        qr/invalid parameter "required" of part "a"/, 'an unknown parameter');
refused('aggregate a /_x frields=a;', 'aggregate',
        qr/invalid parameter "frields=a" of part "a"/, 'a misspelt option');

refused('aggregate a /_x; aggregate b /_y/$v $v=nope.id;', 'aggregate',
        qr/part "b" uses "\$v=nope\.id", but there is no part "nope"/,
        'a value of an unknown part');
refused('aggregate a /_x/$v $v=b.id; aggregate b /_y;', 'aggregate',
        qr/part "a" uses "\$v=b\.id", but part "b" comes after it/,
        'a value of a later part');
refused('aggregate a /_x/$v $v=a.id;', 'aggregate',
        qr/part "a" cannot use a value of its own/, 'a value of its own');
refused('aggregate a /_x; aggregate b /_y $v=a;', 'aggregate',
        qr/a part and a path in it are expected/, 'a value without a path');
refused('aggregate a /_x; aggregate b /_y $v=a.;', 'aggregate',
        qr/a part and a path in it are expected/, 'a value with an empty path');
refused('aggregate a /_x; aggregate b /_y $=a.id;', 'aggregate',
        qr/invalid variable name in "\$=a\.id"/, 'a value without a name');
refused('aggregate a /_x; aggregate b /_y $v-1=a.id;', 'aggregate',
        qr/invalid variable name in "\$v-1=a\.id"/, 'a bad variable name');
refused('aggregate a /_x; aggregate b /_y $v=a.b..c;', 'aggregate',
        qr/invalid path in "\$v=a\.b\.\.c" of part "b": empty name/,
        'a value with a bad path');
refused('aggregate a /_x; aggregate b /_y $v=a.id; aggregate c /_z $v=a.name;',
        'aggregate', qr/"\$v=a\.name" of part "c": the variable is already "a\.id"/,
        'one variable, two values');
refused('aggregate a /_x; aggregate b /_y $host=a.id;', 'aggregate',
        qr/duplicate "host" variable/, 'a variable nginx has');

refused('aggregate a /_x; proxy_pass http://127.0.0.1:1;', 'aggregate',
        qr/cannot be mixed with another content handler/,
        'aggregate, then proxy_pass');
refused('proxy_pass http://127.0.0.1:1; aggregate a /_x;', 'aggregate',
        qr/cannot be mixed with another content handler/,
        'proxy_pass, then aggregate');
refused('empty_gif; aggregate a /_x;', 'aggregate',
        qr/cannot be mixed with another content handler/,
        'empty_gif, then aggregate');

refused('aggregate_mode join; aggregate a /_x;', 'aggregate_mode',
        qr/invalid value "join"/, 'an unknown mode');
refused('aggregate_timeout 0; aggregate a /_x;', 'aggregate_timeout',
        qr/must be positive/, 'a zero deadline');
refused('aggregate_buffer_size 0; aggregate a /_x;', 'aggregate_buffer_size',
        qr/must be positive/, 'a zero buffer size');

$t->config_refused(<<'EOF', 'aggregate', qr/is not allowed here/, 'at server level');
    server {
        listen 127.0.0.1:%%PORT_main%%;
        aggregate a /_x;
    }
EOF

# -- accepted ------------------------------------------------------------------

$t->config_accepted(location(<<'EOF'), 'every option');
            aggregate_mode merge;
            aggregate_timeout 2500ms;
            aggregate_buffer_size 8m;
            aggregate user   /_u/$arg_id timeout=1s fields=id,name,address.city;
            aggregate orders "/_o?customer=$cid&x=$n" optional timeout=500ms
                             path=data.items $cid=user.customer_id
                             $n=user.stats.count;
            aggregate more   /_m/$cid $cid=user.customer_id optional;
EOF

$t->start(<<'EOF');
    aggregate_buffer_size 16;
    aggregate_mode merge;

    server {
        listen 127.0.0.1:%%PORT_main%%;
        aggregate_timeout 5s;

        location /inherit {
            aggregate a /_json/a;
            aggregate b /_json/b optional;

            location /inherit/nested {
                return 200 'nested';
            }
        }

        location = /group {
            aggregate_mode group;
            aggregate_buffer_size 1k;
            aggregate src /_json/a;
            aggregate use /_echo/$v $v=src.a;
        }

        location = /other {
            aggregate_mode group;
            aggregate_buffer_size 1k;
            aggregate src /_json/b;
            aggregate use /_echo/$v $v=src.b;
        }

        location = /text {
            aggregate_mode group;
            aggregate_buffer_size 1k;
            aggregate a "/_echo2/a b|c%41?x=1 2&y=?";
        }

        location = /_json/a { internal; return 200 '{"a":"1"}'; }
        location = /_json/b { internal; return 200 '{"b":"twenty chars...."}'; }
        location /_echo/ { internal; return 200 '"$uri"'; }
        location /_echo2/ { internal; return 200 '"$uri $args"'; }
    }
EOF

$t->ignore_log(qr/part "b" failed: response too large/);

my $r = $t->get('/inherit');
is($r->{body}, '{"a":"1"}', 'aggregate_mode and aggregate_buffer_size '
   . 'inherited from http (b is larger than 16 bytes)');
is($t->get('/inherit/nested')->{body}, 'nested',
   'a nested location does not inherit the parts');
is($t->get('/group')->{body}, '{"src":{"a":"1"},"use":"/_echo/1"}',
   'a location sets its own');
is($t->get('/other')->{body},
   '{"src":{"b":"twenty chars...."},"use":"/_echo/twenty%20chars...."}',
   'the same variable bound otherwise in another location');
is($t->get('/text')->{body}, '{"a":"/_echo2/a%20b%7Cc%41 x=1%202&y=?"}',
   'the text of a uri: encoded where a request line needs it, "%41" and '
   . 'a "?" in the arguments kept');

done_testing;
