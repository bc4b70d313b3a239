#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# Unit tests of the metrics module's Prometheus text format pieces
# (lib/mg_prom.c: label value escaping, seconds): builds
# t/unit/test_prom.c with it and runs it; its TAP output is this test's
# output.  Needs no nginx.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Meshgate::Unit;

Meshgate::Unit->run('test_prom', ['mg_prom.c']);
