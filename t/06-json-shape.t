#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# Unit tests of the reshaping of aggregate's part bodies
# (lib/mg_json_shape.c, on top of mg_json.c): builds
# t/unit/test_json_shape.c with them and runs it; its TAP output is this
# test's output.  Needs no nginx.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Meshgate::Unit;

Meshgate::Unit->run('test_json_shape', [qw(mg_json.c mg_json_shape.c)]);
