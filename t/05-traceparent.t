#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# Unit tests of the W3C traceparent parser and formatter
# (lib/mg_traceparent.c): builds t/unit/test_traceparent.c with
# it and runs it; its TAP output is this test's output.  Needs no nginx.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Meshgate::Unit;

Meshgate::Unit->run('test_traceparent', ['mg_traceparent.c']);
