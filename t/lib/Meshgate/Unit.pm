# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
package Meshgate::Unit;

# Unit tests of the nginx-free C files: builds a program of t/unit/ with
# the files of lib/ it tests and runs it; its TAP output is the
# output of the test file that called run().  Needs no nginx.
#
#   use Meshgate::Unit;
#   Meshgate::Unit->run('test_gcra', ['mg_gcra.c']);
#   Meshgate::Unit->run('test_resp', ['mg_resp.c'], '-lhiredis');
#
# Environment: CC (default cc), MESHGATE_UNIT_CFLAGS (added to the flags),
# for example:
#
#   CC=clang prove -v t/03-gcra.t
#   MESHGATE_UNIT_CFLAGS="-fsanitize=address,undefined" prove t/03-gcra.t

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Temp qw(tempdir);

our $VERSION = '1.00';

sub run {
    my ($class, $name, $sources, @libs) = @_;

    my $root = abs_path(dirname(__FILE__) . '/../../..');
    my $common = "$root/lib";
    my $dir = tempdir('meshgate-unit-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    my $bin = "$dir/$name";

    my @cc = split ' ', ($ENV{CC} || 'cc');
    my @cflags = (qw(-std=gnu99 -Wall -Wextra -Wpointer-arith
                     -Wno-unused-parameter -Werror -g -O1),
                  split(' ', $ENV{MESHGATE_UNIT_CFLAGS} || ''));

    my @cmd = (@cc, @cflags, "-I$common", '-o', $bin,
               "$root/t/unit/$name.c", (map { "$common/$_" } @$sources),
               @libs);

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
}

1;
