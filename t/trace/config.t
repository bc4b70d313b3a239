#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# trace_propagate and trace_incoming configuration: what `nginx -t`
# accepts and what it refuses, with a message naming the directive; the
# variables need no directive.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Test::More;
use Meshgate::Test;

my $t = Meshgate::Test->new(workers => 1);
$t->need_module_or_skip;

sub server {
    my ($srv, $loc, $http) = @_;
    return ($http // '') . <<"EOF";
    server {
        listen 127.0.0.1:%%PORT_main%%;
        $srv
        location / {
            $loc
            return 200;
        }
    }
EOF
}

# --- accepted -----------------------------------------------------------------

$t->config_accepted(server('', 'trace_propagate on;'), 'in a location');
$t->config_accepted(server('trace_propagate on;', 'trace_propagate off;'),
                    'on for a server, off for a location');
$t->config_accepted(server('', '', 'trace_propagate on;'), 'in http');
$t->config_accepted(server('', 'trace_propagate off;'), 'off alone');
$t->config_accepted(server('', '', <<'EOF'), 'variables in log_format and map');
    log_format trace '$trace_id $span_id $parent_span_id $traceparent';
    map $parent_span_id $trace_is_new { "" 1; default 0; }
EOF

$t->config_accepted(server('trace_incoming off;', ''),
                    'trace_incoming in a server');
$t->config_accepted(server('trace_incoming on;', '', 'trace_incoming off;'),
                    'trace_incoming off in http, on in a server');
$t->config_accepted(server('trace_incoming off;', 'trace_propagate on;'),
                    'trace_incoming off with trace_propagate on');

# --- refused ------------------------------------------------------------------

$t->config_refused(server('', 'trace_propagate yes;'), 'trace_propagate',
                   qr/it must be "on" or "off"/, 'a value other than on/off');
$t->config_refused(server('', 'trace_propagate;'), 'trace_propagate',
                   qr/invalid number of arguments/, 'no value');
$t->config_refused(server('', 'trace_propagate on off;'), 'trace_propagate',
                   qr/invalid number of arguments/, 'two values');
$t->config_refused(server('', "trace_propagate on;\n"
                              . "            trace_propagate off;"),
                   'trace_propagate', qr/is duplicate/, 'twice in a location');
$t->config_refused(server('', 'limit_except GET { trace_propagate on; }'),
                   'trace_propagate', qr/is not allowed here/,
                   'inside limit_except');


# the trace of a request is computed once and shared by every location it
# passes through: a per-location setting could not be honoured
$t->config_refused(server('', 'trace_incoming off;'), 'trace_incoming',
                   qr/is not allowed here/, 'trace_incoming in a location');
$t->config_refused(server('trace_incoming ignore;', ''), 'trace_incoming',
                   qr/it must be "on" or "off"/,
                   'trace_incoming: a value other than on/off');
$t->config_refused(server('trace_incoming;', ''), 'trace_incoming',
                   qr/invalid number of arguments/, 'trace_incoming: no value');
$t->config_refused(server("trace_incoming off;\n"
                          . "        trace_incoming on;", ''),
                   'trace_incoming', qr/is duplicate/,
                   'trace_incoming twice in a server');

done_testing;
