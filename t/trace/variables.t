#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
# $trace_id, $span_id, $parent_span_id and $traceparent without any
# directive: a valid incoming traceparent is continued, every invalid form
# of it starts a new trace, a missing one too; subrequests and internal
# redirects keep the request's trace.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Test::More;

use Meshgate::Test;

my $t = Meshgate::Test->new(workers => 1);
$t->need_module_or_skip;

$t->write_file('html/ssi.html',
               'main <!--#echo var="trace_id" --> <!--#echo var="span_id" -->'
               . ' <!--#echo var="parent_span_id" -->|'
               . '<!--#include virtual="/vars" -->');

$t->start(<<'EOF');
    server {
        listen 127.0.0.1:%%PORT_main%%;
        root %%PREFIX%%/html;

        location = /vars {
            return 200 "$trace_id $span_id $parent_span_id $traceparent";
        }

        location = /ssi.html {
            ssi on;
        }

        # $trace_id is taken before an internal redirect, the rest after:
        # the trace must not change with the location
        location = /redirect {
            set $before $trace_id;
            try_files /nonexistent @show;
        }

        location @show {
            return 200 "$before $trace_id $span_id $parent_span_id $traceparent";
        }
    }
EOF

my $TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
my $PARENT = '00f067aa0ba902b7';
my $VALID = "00-$TRACE-$PARENT-01";

sub vars {
    my ($path, @headers) = @_;
    my $r = $t->get($path // '/vars', @headers);
    my %v;
    @v{qw(trace span parent traceparent)} = split / /, $r->{body}, -1;
    $v{status} = $r->{status};
    return \%v;
}

# a new trace: fresh ids, no parent, sampled
sub is_new_trace {
    my ($v, $name, $not) = @_;
    subtest "new trace: $name" => sub {
        is($v->{status}, 200, 'status 200');
        like($v->{trace}, qr/^[0-9a-f]{32}$/, '$trace_id is 32 hex digits');
        unlike($v->{trace}, qr/^0+$/, '$trace_id is not all zeros');
        like($v->{span}, qr/^[0-9a-f]{16}$/, '$span_id is 16 hex digits');
        unlike($v->{span}, qr/^0+$/, '$span_id is not all zeros');
        is($v->{parent}, '', '$parent_span_id is empty');
        is($v->{traceparent}, "00-$v->{trace}-$v->{span}-01",
           '$traceparent: version 00, the ids, sampled');
        isnt($v->{trace}, $not, 'not the incoming trace-id') if defined $not;
    };
}

sub is_continued {
    my ($v, $trace, $parent, $flags, $name) = @_;
    subtest "continued: $name" => sub {
        is($v->{status}, 200, 'status 200');
        is($v->{trace}, $trace, '$trace_id is the incoming trace-id');
        is($v->{parent}, $parent, '$parent_span_id is the incoming parent-id');
        like($v->{span}, qr/^[0-9a-f]{16}$/, '$span_id is 16 hex digits');
        isnt($v->{span}, $parent, 'the span id is a new one');
        is($v->{traceparent}, "00-$trace-$v->{span}-$flags",
           "\$traceparent: version 00, the trace, this span, flags $flags");
    };
}

# -- no traceparent --------------------------------------------------------

is_new_trace(vars(), 'no traceparent');

my (%traces, %spans);
for (1 .. 20) {
    my $v = vars();
    $traces{$v->{trace}}++;
    $spans{$v->{span}}++;
}
is(scalar(keys %traces), 20, '20 requests, 20 different trace ids');
is(scalar(keys %spans), 20, '20 requests, 20 different span ids');

# -- valid -------------------------------------------------------------------

is_continued(vars('/vars', traceparent => $VALID), $TRACE, $PARENT, '01',
             'the specification\'s example');
is_continued(vars('/vars', traceparent => "00-$TRACE-$PARENT-00"),
             $TRACE, $PARENT, '00', 'not sampled stays not sampled');
is_continued(vars('/vars', traceparent => "00-$TRACE-$PARENT-ff"),
             $TRACE, $PARENT, '01', 'flags ff: only "sampled" is kept');
is_continued(vars('/vars', traceparent => "00-$TRACE-$PARENT-02"),
             $TRACE, $PARENT, '00', 'flags 02: an unknown flag is dropped');
is_continued(vars('/vars', TraceParent => $VALID), $TRACE, $PARENT, '01',
             'the header name in any case');
is_continued(vars('/vars', traceparent => "01-$TRACE-$PARENT-01"),
             $TRACE, $PARENT, '01', 'version 01, read as 00');
is_continued(vars('/vars', traceparent => "cc-$TRACE-$PARENT-01-more-fields"),
             $TRACE, $PARENT, '01', 'version cc with fields after the flags');

my %spans_of_one;
$spans_of_one{vars('/vars', traceparent => $VALID)->{span}}++ for 1 .. 10;
is(scalar(keys %spans_of_one), 10,
   'the same traceparent ten times: ten different spans');

# -- invalid: a new trace, with the reason at info level -------------------

my $UPPER = uc $TRACE;
my @invalid = (
    ["00-$UPPER-$PARENT-01", 'uppercase trace-id',
     'trace-id is not 32 lowercase hex digits'],
    ["00-$TRACE-" . uc($PARENT) . '-01', 'uppercase parent-id',
     'parent-id is not 16 lowercase hex digits'],
    ["00-$TRACE-$PARENT-0A", 'uppercase flags',
     'trace-flags are not two lowercase hex digits'],
    ["0A-$TRACE-$PARENT-01", 'uppercase version',
     'version is not two lowercase hex digits'],
    ['00-' . substr($TRACE, 1) . "-$PARENT-01", 'trace-id 31 digits',
     'version 00 is not 55 characters long'],
    ["00-${TRACE}0-$PARENT-01", 'trace-id 33 digits',
     'version 00 is not 55 characters long'],
    ["00-$TRACE-" . substr($PARENT, 1) . '-01', 'parent-id 15 digits',
     'version 00 is not 55 characters long'],
    ["00-$TRACE-$PARENT-1", 'flags 1 digit',
     'version 00 is not 55 characters long'],
    ['00-' . ('0' x 32) . "-$PARENT-01", 'all-zero trace-id',
     'trace-id is all zeros'],
    ["00-$TRACE-" . ('0' x 16) . '-01', 'all-zero parent-id',
     'parent-id is all zeros'],
    ["ff-$TRACE-$PARENT-01", 'version ff', 'version ff is forbidden'],
    ["00_$TRACE-$PARENT-01", "'_' after the version",
     'version is not two lowercase hex digits'],
    ["00-${TRACE}_$PARENT-01", "'_' after the trace-id",
     "trace-id is not followed by '-'"],
    ["00-$TRACE-${PARENT}_01", "'_' after the parent-id",
     "parent-id is not followed by '-'"],
    ["00-$TRACE-$PARENT-01-", "version 00 with a '-' after it",
     'version 00 is not 55 characters long'],
    ["00-$TRACE-$PARENT-01-extra", 'version 00 with extra data',
     'version 00 is not 55 characters long'],
    ["01-$TRACE-$PARENT-01x", 'version 01, flags followed by "x"',
     "trace-flags are followed by neither '-' nor the end"],
    ["01-$TRACE-$PARENT-1", 'version 01, 54 characters',
     'shorter than 55 characters'],
    ['', 'empty value', 'version is not two lowercase hex digits'],
    ["$VALID, $VALID", 'two values in one header',
     'version 00 is not 55 characters long'],
);

for my $case (@invalid) {
    my ($value, $name, $reason) = @$case;
    is_new_trace(vars('/vars', traceparent => $value), $name, $TRACE);
    ok($t->wait_for_log(qr/\[info\].*traceparent ignored, a new trace starts: \Q$reason\E/, 2),
       "$name: the reason is logged");
}

is_new_trace(vars('/vars', traceparent => $VALID, traceparent => $VALID),
             'two traceparent headers, the same value', $TRACE);
is_new_trace(vars('/vars', traceparent => $VALID,
                  traceparent => "00-$TRACE-$PARENT-00"),
             'two traceparent headers, different values', $TRACE);
ok($t->wait_for_log(qr/traceparent ignored, a new trace starts: 2 traceparent headers/, 2),
   'two headers: the reason is logged');

# -- subrequests and internal redirects keep the trace --------------------

for my $in (undef, $VALID) {
    my $what = defined $in ? 'continued trace' : 'new trace';
    my $r = $t->get('/ssi.html', defined $in ? (traceparent => $in) : ());
    my ($main, $sub) = split /\|/, $r->{body};
    my (undef, $trace, $span, $parent) = split / /, $main // '', -1;
    my ($strace, $sspan, $sparent, $stp) = split / /, $sub // '', -1;

    like($trace // '', qr/^[0-9a-f]{32}$/, "SSI, $what: the page has ids");
    is($strace, $trace, "SSI, $what: the subrequest has the trace id");
    is($sspan, $span, "SSI, $what: ... and the span id (one hop)");
    is($sparent, $parent, "SSI, $what: ... and the parent span id");
    is($stp, "00-$trace-$span-01", "SSI, $what: ... and the traceparent");
    is($parent, defined $in ? $PARENT : '', "SSI, $what: the parent");
}

for my $in (undef, $VALID) {
    my $what = defined $in ? 'continued trace' : 'new trace';
    my $r = $t->get('/redirect', defined $in ? (traceparent => $in) : ());
    my ($before, $trace, $span, $parent, $tp) = split / /, $r->{body}, -1;

    is($r->{status}, 200, "redirect, $what: 200");
    like($before // '', qr/^[0-9a-f]{32}$/, "redirect, $what: an id before");
    is($trace, $before, "redirect, $what: the same trace after it");
    is($tp, "00-$before-$span-01",
       "redirect, $what: the traceparent after it has the trace id before");
    is($parent, defined $in ? $PARENT : '',
       "redirect, $what: the parent after it");
}

done_testing;
