#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
# trace_propagate: what upstreams receive, checked at the backends: an
# nginx server that echoes the headers it got, and a small Perl server
# that answers with the raw header block (to count repeated headers).

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
        syswrite($c, "HTTP/1.1 200 OK\r\nContent-Length: " . length($head)
                     . "\r\nConnection: close\r\n\r\n$head");
        close $c;
    }
    POSIX::_exit(0);
}

close $listen;

END { local $?; if ($raw_pid) { kill 'KILL', $raw_pid; waitpid($raw_pid, 0) } }

$t->write_file('html/ssi-on/page.html',
               '<!--#echo var="traceparent" -->|'
               . '<!--#include virtual="/raw-off/sub" -->');
$t->write_file('html/ssi-off/page.html',
               '<!--#echo var="traceparent" -->|'
               . '<!--#include virtual="/raw-on/sub" -->');

$t->start(<<'EOF');
    # the backend
    server {
        listen 127.0.0.1:%%PORT_backend%%;
        location / {
            return 200 "$http_traceparent|$http_tracestate|$http_x_extra|$content_length";
        }
    }

    server {
        listen 127.0.0.1:%%PORT_main%%;
        root %%PREFIX%%/html;

        add_header X-Traceparent $traceparent always;

        location /on/ {
            trace_propagate on;
            proxy_pass http://127.0.0.1:%%PORT_backend%%/;
        }

        location /off/ {
            proxy_pass http://127.0.0.1:%%PORT_backend%%/;
        }

        location /raw-on/ {
            trace_propagate on;
            proxy_pass http://127.0.0.1:%%PORT_raw%%/;
        }

        location /raw-off/ {
            proxy_pass http://127.0.0.1:%%PORT_raw%%/;
        }

        location /override/ {
            trace_propagate on;
            proxy_set_header traceparent "set-by-config";
            proxy_pass http://127.0.0.1:%%PORT_raw%%/;
        }

        # try_files redirects in the PRECONTENT phase, after propagation
        location /on-to-off/ {
            trace_propagate on;
            try_files /nonexistent /raw-off/redirected;
        }

        location /off-to-on/ {
            try_files /nonexistent /raw-on/redirected;
        }

        # a propagating page including a subrequest that does not, and
        # the other way round
        location /ssi-on/ {
            trace_propagate on;
            ssi on;
        }

        location /ssi-off/ {
            ssi on;
        }
    }

    # on for a whole server, off for one location
    server {
        listen 127.0.0.1:%%PORT_server%%;
        trace_propagate on;

        location / {
            proxy_pass http://127.0.0.1:%%PORT_raw%%/;
        }

        location /quiet/ {
            trace_propagate off;
            proxy_pass http://127.0.0.1:%%PORT_raw%%/;
        }
    }
EOF

my $TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
my $PARENT = '00f067aa0ba902b7';
my $VALID = "00-$TRACE-$PARENT-01";
my $STATE = 'rojo=00f067aa0ba902b7, congo=t61rcWkgMzE';

# what the nginx backend saw, and the client's answer
sub echo {
    my ($path, @headers) = @_;
    my $r = $t->get($path, @headers);
    my %b;
    @b{qw(traceparent tracestate extra length)} = split /\|/, $r->{body}, -1;
    $b{status} = $r->{status};
    $b{sent} = $r->{headers}{'x-traceparent'} // '';
    return \%b;
}

# what the raw backend saw: [name, value] in order
sub raw {
    my ($path, %o) = @_;
    my $r = $t->request('GET', $path, headers => $o{headers} || [],
                        port => $o{port} // 'main');
    my @lines = split /\r\n/, $r->{body};
    shift @lines;
    my @h = map { /^([^:]+):\s*(.*)$/ ? [$1, $2] : () } @lines;
    return { status => $r->{status}, headers => \@h,
             sent => $r->{headers}{'x-traceparent'} // '' };
}

sub values_of {
    my ($raw, $name) = @_;
    return map { $_->[1] } grep { lc $_->[0] eq $name } @{$raw->{headers}};
}

sub ids {
    return $_[0] =~ /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
}

# -- on ------------------------------------------------------------------------

my $b = echo('/on/x');
my ($trace, $span, $flags) = ids($b->{traceparent});
is($b->{status}, 200, 'on, no traceparent: 200');
ok(defined $trace, 'on, no traceparent: the backend gets a traceparent')
    or diag($b->{traceparent});
is($b->{traceparent}, $b->{sent}, '... which is $traceparent');
is($flags, '01', '... sampled');
is($b->{tracestate}, '', '... and no tracestate');

$b = echo('/on/x', traceparent => $VALID, tracestate => $STATE);
($trace, $span, $flags) = ids($b->{traceparent});
is($trace, $TRACE, 'on, valid traceparent: the backend gets the trace id');
isnt($span, $PARENT, '... with a new parent-id');
is($b->{traceparent}, $b->{sent}, '... this hop\'s $traceparent');
is($flags, '01', '... the flags');
is($b->{tracestate}, $STATE, '... and the tracestate unchanged');

$b = echo('/on/x', traceparent => "00-$TRACE-$PARENT-00",
          tracestate => 'k=v');
is($b->{traceparent}, $b->{sent}, 'on, not sampled: $traceparent sent');
like($b->{traceparent}, qr/^00-$TRACE-[0-9a-f]{16}-00$/,
     '... still not sampled');
is($b->{tracestate}, 'k=v', '... tracestate unchanged');

$b = echo('/on/x', traceparent => "00-\U$TRACE\E-$PARENT-01",
          tracestate => $STATE);
($trace) = ids($b->{traceparent});
ok(defined $trace && $trace ne $TRACE && $trace ne lc $TRACE,
   'on, invalid traceparent: the backend gets a new trace');
is($b->{traceparent}, $b->{sent}, '... which is $traceparent');
is($b->{tracestate}, '', '... and the tracestate is dropped with it');

$b = echo('/on/x', tracestate => $STATE);
is($b->{tracestate}, '', 'on, tracestate without traceparent: dropped');
ok(ids($b->{traceparent}), '... a new traceparent is sent');

$b = echo('/on/x', traceparent => $VALID, 'X-Extra' => 'kept');
is($b->{extra}, 'kept', 'on: the other headers still reach the backend');

my $post = $t->request('POST', '/on/x', body => 'a' x 1000,
                       headers => [traceparent => $VALID]);
is($post->{status}, 200, 'on, POST with a body: 200');
like($post->{body}, qr/^00-$TRACE-[0-9a-f]{16}-01\|\|\|1000$/,
     '... the backend gets the traceparent and the body length');

# -- off: the client's headers, as plain nginx passes them ---------------

$b = echo('/off/x');
is($b->{traceparent}, '', 'off, no traceparent: none sent');
like($b->{sent}, qr/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/,
     '... though $traceparent exists');

$b = echo('/off/x', traceparent => $VALID, tracestate => $STATE);
is($b->{traceparent}, $VALID, 'off, valid traceparent: passed unchanged');
is($b->{tracestate}, $STATE, '... tracestate too');

my $bad = "00-\U$TRACE\E-$PARENT-01";
$b = echo('/off/x', traceparent => $bad, tracestate => $STATE);
is($b->{traceparent}, $bad, 'off, invalid traceparent: passed unchanged');
is($b->{tracestate}, $STATE, '... tracestate too');

# -- repeated headers, names in any case: the raw backend ------------------

my $r = raw('/raw-on/x', headers => [traceparent => $VALID,
                                     traceparent => $VALID,
                                     tracestate => 'a=1', tracestate => 'b=2',
                                     'X-Extra' => 'kept']);
my @tp = values_of($r, 'traceparent');
is(scalar(@tp), 1, 'on, two traceparent headers: one is sent');
is($tp[0], $r->{sent}, '... $traceparent');
ok(($tp[0] // '') !~ /$TRACE/, '... a new trace');
is_deeply([values_of($r, 'tracestate')], [], '... no tracestate');
is_deeply([values_of($r, 'x-extra')], ['kept'], '... other headers kept');
is_deeply([map { $_->[0] } grep { lc $_->[0] eq 'traceparent' }
           @{$r->{headers}}], ['traceparent'],
          '... named in lowercase');

$r = raw('/raw-on/x', headers => [TraceParent => $VALID,
                                  tracestate => 'a=1', TraceState => 'b=2']);
@tp = values_of($r, 'traceparent');
is(scalar(@tp), 1, 'on, "TraceParent": one traceparent is sent');
like($tp[0] // '', qr/^00-$TRACE-[0-9a-f]{16}-01$/, '... continuing the trace');
is($tp[0], $r->{sent}, '... $traceparent');
is_deeply([map { "$_->[0]: $_->[1]" } grep { lc $_->[0] eq 'tracestate' }
           @{$r->{headers}}], ['tracestate: a=1', 'TraceState: b=2'],
          '... both tracestate headers unchanged, in order');

$r = raw('/raw-off/x', headers => [traceparent => $VALID,
                                   TraceParent => 'nonsense',
                                   tracestate => 'a=1']);
is_deeply([map { "$_->[0]: $_->[1]" } grep { $_->[0] =~ /^trace/i }
           @{$r->{headers}}],
          ["traceparent: $VALID", 'TraceParent: nonsense', 'tracestate: a=1'],
          'off: repeated headers passed as they came');

$r = raw('/override/x', headers => [traceparent => $VALID]);
is_deeply([values_of($r, 'traceparent')], ['set-by-config'],
          'on, with proxy_set_header traceparent: only that one is sent');

# -- internal redirects and subrequests -------------------------------------

$r = raw('/on-to-off/x', headers => [traceparent => $VALID,
                                     tracestate => 'a=1']);
is_deeply([values_of($r, 'traceparent')], [$VALID],
          'on, redirected to off: the client\'s traceparent is sent');
is_deeply([values_of($r, 'tracestate')], ['a=1'], '... and tracestate');

$r = raw('/off-to-on/x', headers => [traceparent => $VALID]);
@tp = values_of($r, 'traceparent');
is(scalar(@tp), 1, 'off, redirected to on: one traceparent');
is($tp[0], $r->{sent}, '... $traceparent');

my $page = $t->get('/ssi-off/page.html', traceparent => $VALID);
my ($main, $sub) = split /\|/, $page->{body}, 2;
like($main, qr/^00-$TRACE-[0-9a-f]{16}-01$/, 'SSI: the page\'s traceparent');
my @sub = grep { /^traceparent:/i } split /\r\n/, $sub // '';
is_deeply(\@sub, ["traceparent: $main"],
          'SSI, page off, part on: the part sends the page\'s traceparent');

$page = $t->get('/ssi-on/page.html', traceparent => $VALID,
                tracestate => 'a=1');
($main, $sub) = split /\|/, $page->{body}, 2;
@sub = grep { /^trace/i } split /\r\n/, $sub // '';
is_deeply(\@sub, ["traceparent: $VALID", 'tracestate: a=1'],
          'SSI, page on, part off: the part sends the client\'s headers');

$page = $t->get('/ssi-off/page.html');
($main, $sub) = split /\|/, $page->{body}, 2;
@sub = grep { /^traceparent:/i } split /\r\n/, $sub // '';
like($main, qr/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/,
     'SSI, new trace: the page\'s traceparent');
is_deeply(\@sub, ["traceparent: $main"],
          'SSI, new trace: the part sends it');

# -- server level --------------------------------------------------------------

$r = raw('/x', port => 'server', headers => [traceparent => $VALID]);
@tp = values_of($r, 'traceparent');
is(scalar(@tp), 1, 'on at server level: one traceparent');
like($tp[0] // '', qr/^00-$TRACE-(?!$PARENT)[0-9a-f]{16}-01$/,
     '... with a new parent-id');

$r = raw('/quiet/x', port => 'server', headers => [traceparent => $VALID]);
is_deeply([values_of($r, 'traceparent')], [$VALID],
          'off in one of its locations: passed unchanged');

done_testing;
