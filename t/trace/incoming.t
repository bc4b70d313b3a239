#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
# trace_incoming: a server with "off" starts a new trace for every request
# and removes the client's traceparent and tracestate before any module
# sees them; a server with "on" (the default) continues the client's
# trace.  Checked in the variables and at a real backend (a small Perl
# server that answers with the raw header block it received and also
# writes it to a file, for subrequests whose answer the client never
# sees), per server, with and without trace_propagate, through internal
# redirects and subrequests, and for servers chosen by Host on one port.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use IO::Select;
use IO::Socket::INET;
use POSIX ();
use Test::More;

use Meshgate::Test;

my $t = Meshgate::Test->new(workers => 1);
$t->need_module_or_skip;

# -- the raw backend: the request's header block is the response body -----

my $seen_file = $t->path('seen.log');
my $raw_port = $t->port('raw');
my $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                   LocalPort => $raw_port, Proto => 'tcp',
                                   Listen => 64, ReuseAddr => 1)
    or die "raw backend: listen: $!";

my $raw_pid = fork // die "fork: $!";

if ($raw_pid == 0) {
    while (my $c = $listen->accept) {
        my ($head, $sel) = ('', IO::Select->new($c));
        while ($head !~ /\r\n\r\n/ && $sel->can_read(5)) {
            sysread($c, my $buf, 65536) or last;
            $head .= $buf;
        }
        $head =~ s/\r\n\r\n.*//s;
        if (open my $f, '>>', $seen_file) {
            print $f "$head\r\n\r\n";
            close $f;
        }
        syswrite($c, "HTTP/1.1 200 OK\r\nContent-Length: " . length($head)
                     . "\r\nConnection: close\r\n\r\n$head");
        close $c;
    }
    POSIX::_exit(0);
}

close $listen;

END { local $?; if ($raw_pid) { kill 'KILL', $raw_pid; waitpid($raw_pid, 0) } }

$t->write_file('html/auth', "authorized\n");
$t->write_file('html/ssi.html',
               '<!--#echo var="traceparent" -->|'
               . '<!--#include virtual="/off/sub" -->|'
               . '<!--#include virtual="/on/sub" -->');

# the locations every server below has
my $locations = <<'EOF';
        root %%PREFIX%%/html;

        add_header X-Traceparent $traceparent always;

        location = /vars {
            return 200 "$trace_id $span_id $parent_span_id $traceparent|$http_traceparent|$http_tracestate";
        }

        location /on/ {
            trace_propagate on;
            proxy_pass http://127.0.0.1:%%PORT_raw%%/;
        }

        location /off/ {
            proxy_pass http://127.0.0.1:%%PORT_raw%%/;
        }

        # the client's header, by name: empty values are not sent
        location /copy/ {
            proxy_set_header Traceparent-Copy $http_traceparent;
            proxy_set_header Tracestate-Copy $http_tracestate;
            proxy_pass http://127.0.0.1:%%PORT_raw%%/;
        }

        location = /redirect {
            try_files /nonexistent /off/redirected;
        }

        location = /ssi.html {
            ssi on;
        }

        # a subrequest in the ACCESS phase, before any content handler;
        # then the static file html/auth
        location = /auth {
            auth_request /off/auth;
        }
EOF

# http level: off, so that a server must say "on" to trust its clients
$t->start(<<"EOF");
    trace_incoming off;

    server {
        listen 127.0.0.1:%%PORT_trust%%;
        trace_incoming on;
$locations
    }

    server {
        listen 127.0.0.1:%%PORT_edge%%;
$locations
    }

    # one port, two servers chosen by Host: the default one trusts, the
    # named one does not ...
    server {
        listen 127.0.0.1:%%PORT_vhost%% default_server;
        server_name trust.test;
        trace_incoming on;
$locations
    }

    server {
        listen 127.0.0.1:%%PORT_vhost%%;
        server_name edge.test;
$locations
    }

    # ... and the other way round
    server {
        listen 127.0.0.1:%%PORT_vhost2%% default_server;
        server_name edge.test;
        trace_incoming off;
$locations
    }

    server {
        listen 127.0.0.1:%%PORT_vhost2%%;
        server_name trust.test;
        trace_incoming on;
$locations
    }
EOF

my $TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
my $PARENT = '00f067aa0ba902b7';
my $VALID = "00-$TRACE-$PARENT-01";
my $STATE = 'rojo=00f067aa0ba902b7, congo=t61rcWkgMzE';

# the variables: trace, span, parent, traceparent, $http_traceparent,
# $http_tracestate
sub vars {
    my ($port, @headers) = @_;
    my $r = $t->request('GET', '/vars', port => $port, headers => \@headers);
    my ($ids, $http_tp, $http_ts) = split /\|/, $r->{body} // '', -1;
    my %v;
    @v{qw(trace span parent traceparent)} = split / /, $ids // '', -1;
    @v{qw(http_tp http_ts status)} = ($http_tp, $http_ts, $r->{status});
    return \%v;
}

# what the raw backend saw: [name, value] in order
sub raw {
    my ($port, $path, @headers) = @_;
    my $r = $t->request('GET', $path, port => $port, headers => \@headers);
    return { status => $r->{status}, headers => parse($r->{body}),
             sent => $r->{headers}{'x-traceparent'} // '' };
}

sub parse {
    my ($head) = @_;
    my @lines = split /\r\n/, $head // '';
    shift @lines;
    return [map { /^([^:]+):\s*(.*)$/ ? [$1, $2] : () } @lines];
}

sub values_of {
    my ($headers, $name) = @_;
    return map { $_->[1] } grep { lc $_->[0] eq $name } @$headers;
}

sub trace_headers {
    my ($headers) = @_;
    return [map { "$_->[0]: $_->[1]" }
            grep { $_->[0] =~ /^trace(?:parent|state)/i } @$headers];
}

sub ids {
    return ($_[0] // '') =~ /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
}

# the header blocks the backend wrote since the last call
my $seen_from = 0;
sub seen {
    my $all = -e $seen_file ? $t->read_file('seen.log') : '';
    my $new = substr($all, $seen_from);
    $seen_from = length $all;
    return [map { parse($_) } grep { length } split /\r\n\r\n/, $new];
}

my @client = (traceparent => $VALID, tracestate => $STATE,
              'X-Extra' => 'kept');

# -- variables ----------------------------------------------------------------

my $v = vars('edge', @client);
is($v->{status}, 200, 'off: 200');
like($v->{trace}, qr/^[0-9a-f]{32}$/, 'off: a trace id');
isnt($v->{trace}, $TRACE, 'off, valid traceparent: a new trace');
is($v->{parent}, '', 'off: $parent_span_id empty');
is($v->{traceparent}, "00-$v->{trace}-$v->{span}-01",
   'off: $traceparent of the new trace, sampled');
is($v->{http_tp}, '', 'off: $http_traceparent empty');
is($v->{http_ts}, '', 'off: $http_tracestate empty');

$v = vars('edge', traceparent => "00-$TRACE-$PARENT-00");
isnt($v->{trace}, $TRACE, 'off, not sampled: a new trace');
like($v->{traceparent}, qr/-01$/, '... which is sampled');

my $from = length $t->error_log;
$v = vars('edge', traceparent => "00-\U$TRACE\E-$PARENT-01");
is($v->{parent}, '', 'off, invalid traceparent: a new trace');
$v = vars('trust');
unlike(substr($t->error_log, $from), qr/traceparent ignored/,
       'off: an invalid traceparent is not even read (nothing logged)');

$v = vars('trust', @client);
is($v->{trace}, $TRACE, 'on: the client\'s trace');
is($v->{parent}, $PARENT, 'on: $parent_span_id is the client\'s');
is($v->{http_tp}, $VALID, 'on: $http_traceparent');
is($v->{http_ts}, $STATE, 'on: $http_tracestate');

# -- at the backend, without propagation ---------------------------------

my $r = raw('edge', '/off/x', @client, TraceParent => $VALID,
            TraceState => 'b=2');
is($r->{status}, 200, 'off, not propagating: 200');
is_deeply(trace_headers($r->{headers}), [],
          'off, not propagating: no trace header reaches the backend')
    or diag(explain $r->{headers});
is_deeply([values_of($r->{headers}, 'x-extra')], ['kept'],
          '... the other headers do');

$r = raw('trust', '/off/x', @client);
is_deeply(trace_headers($r->{headers}),
          ["traceparent: $VALID", "tracestate: $STATE"],
          'on, not propagating: the client\'s headers, as they came');

my $post = $t->request('POST', '/off/x', port => 'edge', body => 'a' x 1000,
                       headers => [@client]);
my $ph = parse($post->{body});
is_deeply(trace_headers($ph), [], 'off, POST: no trace header');
is_deeply([values_of($ph, 'content-length')], [1000], '... the body is sent');

# -- at the backend, with propagation ------------------------------------

$r = raw('edge', '/on/x', @client);
my @tp = values_of($r->{headers}, 'traceparent');
is(scalar(@tp), 1, 'off, propagating: one traceparent');
is($tp[0], $r->{sent}, '... the request\'s $traceparent');
my ($trace) = ids($tp[0]);
ok(defined $trace && $trace ne $TRACE, '... of a new trace');
is_deeply([values_of($r->{headers}, 'tracestate')], [],
          '... and no tracestate');

$r = raw('trust', '/on/x', @client);
@tp = values_of($r->{headers}, 'traceparent');
like($tp[0] // '', qr/^00-$TRACE-(?!$PARENT)[0-9a-f]{16}-01$/,
     'on, propagating: the client\'s trace continues');
is_deeply([values_of($r->{headers}, 'tracestate')], [$STATE],
          '... with its tracestate');

# -- the client's headers by name ------------------------------------------

$r = raw('edge', '/copy/x', @client);
is_deeply([grep { $_->[0] =~ /copy/i } @{$r->{headers}}], [],
          'off: $http_traceparent copied by proxy_set_header: nothing');

$r = raw('trust', '/copy/x', @client);
is_deeply([values_of($r->{headers}, 'traceparent-copy')], [$VALID],
          'on: copied');

# -- internal redirects and subrequests -----------------------------------

$r = raw('edge', '/redirect', @client);
is_deeply(trace_headers($r->{headers}), [],
          'off, internal redirect: no trace header');

my $page = $t->request('GET', '/ssi.html', port => 'edge',
                       headers => [@client]);
my ($main, $off, $on) = split /\|/, $page->{body} // '', 3;
($trace) = ids($main);
ok(defined $trace && $trace ne $TRACE, 'off, SSI: the page has a new trace');
is_deeply(trace_headers(parse($off)), [],
          'off, SSI part not propagating: no trace header');
is_deeply(trace_headers(parse($on)), ["traceparent: $main"],
          'off, SSI part propagating: the page\'s traceparent only');

seen();
$r = $t->request('GET', '/auth', port => 'edge', headers => [@client]);
is($r->{body}, "authorized\n", 'off, auth_request: the file');
my $auth = seen();
is(scalar(@$auth), 1, '... one subrequest reached the backend');
is_deeply(trace_headers($auth->[0] // []), [],
          '... without the client\'s trace headers');

$r = $t->request('GET', '/auth', port => 'trust', headers => [@client]);
$auth = seen();
is_deeply(trace_headers($auth->[0] // []),
          ["traceparent: $VALID", "tracestate: $STATE"],
          'on, auth_request: the client\'s trace headers');

# -- the server chosen by Host decides ----------------------------------------

for my $port ('vhost', 'vhost2') {
    my $kind = $port eq 'vhost' ? 'named' : 'default';

    $v = vars($port, Host => 'edge.test', @client);
    ok($v->{trace} ne $TRACE && $v->{parent} eq '',
       "$port: edge.test ($kind server, off): a new trace");

    $v = vars($port, Host => 'trust.test', @client);
    is($v->{trace}, $TRACE, "$port: trust.test (on): the client's trace");

    $r = raw($port, '/off/x', Host => 'edge.test', @client);
    is_deeply(trace_headers($r->{headers}), [],
              "$port: edge.test: no trace header at the backend");

    $r = raw($port, '/off/x', Host => 'trust.test', @client);
    is_deeply(trace_headers($r->{headers}),
              ["traceparent: $VALID", "tracestate: $STATE"],
              "$port: trust.test: the client's headers at the backend");
}

done_testing;
