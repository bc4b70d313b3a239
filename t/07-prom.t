#!/usr/bin/perl

# Unit tests of the metrics module's Prometheus text format pieces
# (modules/common/mg_prom.c: label value escaping, seconds): builds
# t/unit/test_prom.c with it and runs it; its TAP output is this test's
# output.  Needs no nginx.
#
#   CC=clang prove -v t/07-prom.t
#   MESHGATE_UNIT_CFLAGS="-fsanitize=address,undefined" prove t/07-prom.t

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Temp qw(tempdir);
use FindBin;

my $root = abs_path("$FindBin::Bin/..");
my $common = "$root/modules/common";
my $dir = tempdir('meshgate-unit-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $bin = "$dir/test_prom";

my @cc = split ' ', ($ENV{CC} || 'cc');
my @cflags = (qw(-std=gnu99 -Wall -Wextra -Wpointer-arith
                 -Wno-unused-parameter -Werror -g -O1),
              split(' ', $ENV{MESHGATE_UNIT_CFLAGS} || ''));

my @cmd = (@cc, @cflags, "-I$common", '-o', $bin,
           "$root/t/unit/test_prom.c", "$common/mg_prom.c");

my $out = qx{@{[ join ' ', map { quotemeta } @cmd ]} 2>&1};

if ($? != 0) {
    print "1..1\n";
    print "not ok 1 - compile\n";
    print "# $_\n" for ("@cmd", split /\n/, $out);
    exit 1;
}

$| = 1;

# system(), not exec(), so that the temporary directory goes away after
system($bin);

exit($? == -1 ? 255 : ($? & 127 ? 128 + ($? & 127) : $? >> 8));
