#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# Unit tests of the nginx-free RESP command encoder (lib/mg_resp.c):
# builds t/unit/test_resp.c with it and hiredis, whose reply reader reads
# the encoded commands back, and runs it; its TAP output is this test's
# output.  Needs no nginx.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Meshgate::Unit;

Meshgate::Unit->run('test_resp', ['mg_resp.c'], '-lhiredis');
