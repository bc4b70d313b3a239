#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# Unit tests of the nginx-free parsers (lib/mg_base64url.c,
# mg_json.c, mg_jwt.c): builds t/unit/test_parsers.c with them and runs it;
# its TAP output is this test's output.  Needs no nginx.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Meshgate::Unit;

Meshgate::Unit->run('test_parsers', [qw(mg_base64url.c mg_json.c mg_jwt.c)]);
