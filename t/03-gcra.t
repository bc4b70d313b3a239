#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# Unit tests of limit_redis's GCRA arithmetic (lib/mg_gcra.c):
# builds t/unit/test_gcra.c with it and runs it; its TAP output is this
# test's output.  Needs no nginx and no Redis.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Meshgate::Unit;

Meshgate::Unit->run('test_gcra', ['mg_gcra.c']);
