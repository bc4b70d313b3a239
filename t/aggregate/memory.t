#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# What a 1 MB part costs the worker: its body, and 20 bytes for each value
# in it only when the part must be read into tokens.  A part that goes
# into the answer as it came (group mode, no fields=, path= or value for
# a later part) is only validated; a part that is shaped takes tokens for
# the values it has, not for as many as a text of its length could have.
#
# Measured on the worker: its peak resident size (VmHWM) for parts
# answered as they came, its peak virtual size (VmPeak, what it asked the
# system for) for shaped parts, whose tokens are really written.  Each case
# has a worker of its own, warmed up by a small aggregation, then asked
# three times; the bounds are a few times what the body itself takes.
# Skipped under AddressSanitizer, whose allocator keeps what is freed.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Test::More;
use Meshgate::Test;

plan skip_all => 'memory is not measured under AddressSanitizer'
    if ($ENV{MESHGATE_PRELOAD} // '') =~ /asan/;
plan skip_all => 'needs /proc/PID/status' unless -r "/proc/$$/status";

my $MB = 1024 * 1024;

# an array of small objects, as a list service answers
my ($objects, $i) = ('', 0);
while (length($objects) < $MB - 100) {
    $objects .= ',' if $i;
    $objects .= qq({"id":$i,"name":"item $i","price":9.5,"tags":["a","b"]});
    $i++;
}
$objects = "[$objects]";

# the densest text there is: a value in every other byte
my $ones = '[' . join(',', (1) x ($MB / 2 - 1)) . ']';

# one long string
my $string = '{"s":"' . ('x' x ($MB - 8)) . '"}';

sub status_kb {
    my ($pid, $field) = @_;
    open my $f, '<', "/proc/$pid/status" or die "/proc/$pid/status: $!\n";
    while (<$f>) {
        return $1 if /^$field:\s+(\d+)/;
    }
    die "no $field in /proc/$pid/status\n";
}

# the worker's growth in $field (kB) over three aggregations of $body
sub growth {
    my ($body, $options, $field) = @_;

    my $t = Meshgate::Test->new(workers => 1);
    $t->need_module_or_skip;
    $t->write_file('html/part.json', $body);

    $t->start(<<"EOF");
    server {
        listen 127.0.0.1:%%PORT_main%%;
        root %%PREFIX%%/html;
        default_type application/json;
        aggregate_buffer_size 2m;

        location = /big   { aggregate big /part.json $options; }
        location = /small { aggregate small /_small; }
        location = /_small { internal; return 200 '{"a":[1,2,3]}'; }
    }
EOF

    is($t->get('/small')->{status}, 200, 'warm-up');

    my ($pid) = $t->worker_pids;
    my $before = status_kb($pid, $field);

    for (1 .. 3) {
        my $r = $t->get('/big');
        die "/big: $r->{status}\n" unless $r->{status} == 200;
    }

    my $after = status_kb($pid, $field);
    $t->stop;

    return $after - $before;
}

my $g = growth($objects, '', 'VmHWM');
cmp_ok($g, '<', 2560, "1 MB of small objects, as it came: $g kB more "
       . 'resident (body 1024 kB)');

$g = growth($ones, '', 'VmHWM');
cmp_ok($g, '<', 2560, "1 MB of one-byte values, as it came: $g kB more "
       . 'resident');

$g = growth($objects, 'path=0', 'VmPeak');
cmp_ok($g, '<', 8192, "1 MB of small objects, shaped with path=: $g kB more "
       . 'asked for (20 bytes a value: the values it has)');

$g = growth($string, 'fields=s', 'VmPeak');
cmp_ok($g, '<', 6144, "1 MB in one string, shaped with fields=: $g kB more "
       . 'asked for (3 tokens, a copy)');

done_testing;
