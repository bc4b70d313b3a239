#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# Unit tests of the health checks' HTTP response reader
# (lib/mg_http.c): builds t/unit/test_http.c with it and runs
# it; its TAP output is this test's output.  Needs no nginx.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Meshgate::Unit;

Meshgate::Unit->run('test_http', ['mg_http.c']);
