#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# auth_jwt: what a key set costs a worker.  The tokens of a JWKS document
# take 20 bytes per JSON value, ten times a document of tiny values; they
# serve the parse only, and must not stay with the keys: not with a set
# fetched and cached for an hour, not with a key file's set.
#
# The measure is the worker's resident size (VmRSS in /proc/PID/status),
# so the bounds are loose: each document here has half a million values,
# whose tokens (10 MB) each set would keep, and the sets measured must
# cost less than half of that together.  Under AddressSanitizer, whose
# allocator keeps freed memory for a while, the sizes are only shown; the
# sets still serve, where a key left pointing into freed memory shows.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Test::More;
use Meshgate::Test;
use Meshgate::JWT;

plan skip_all => 'needs /proc/self/status' unless -r '/proc/self/status';

# the cache is per worker: one worker holds every set
my $t = Meshgate::Test->new(workers => 1);
$t->need_module_or_skip;

my $asan = ($ENV{MESHGATE_PRELOAD} // '') =~ /asan/;

my $VALUES = 500_000;                  # 2 bytes each: a 1 MB document
my $TOKENS = 20 * $VALUES;             # what their tokens take
my $SETS = 10;                         # sets measured
my $WARM = 3;                          # sets fetched before measuring
my $MB = 1024 * 1024;

my ($key, $jwk) = gen_key('ES256', kid => 'k1');

my $doc = '{"keys":[' . json_text($jwk) . '],"pad":['
          . join(',', ('0') x $VALUES) . ']}';

my $small = jwks($jwk);

cmp_ok(length($doc), '<=', $MB, 'the document fits the 1m a key set may be');

$t->write_file("jwks/s$_.jwks", $doc) for 1 .. $WARM + $SETS;
$t->write_file('keys/big.jwks', $doc);
$t->write_file('keys/small.jwks', $small);
$t->write_file('html/ok.txt', "OK\n");

my $token = mint(alg => 'ES256', key => $key,
                 claims => { sub => 'alice', exp => time + 3600 },
                 header => { kid => 'k1' });


# kB of resident memory of the only worker
sub rss {
    my ($n) = @_;
    my ($pid) = $n->worker_pids;
    return undef unless $pid;
    open my $fh, '<', "/proc/$pid/status" or return undef;
    while (<$fh>) {
        return $1 if /^VmRSS:\s+(\d+)\s+kB/;
    }
    return undef;
}

sub get_ok {
    my ($n, $uri, $name) = @_;
    my $r = $n->get($uri, Authorization => "Bearer $token");
    is($r->{status}, 200, $name)
        or diag('error: ' . ($r->{error} // 'none'));
}

# growth in kB must stay under half of what the sets would keep
sub growth_ok {
    my ($grown, $sets, $name) = @_;
    my $kept = $sets * $TOKENS / 1024;

    diag(sprintf '%s: %.1f MB more for %d sets (their tokens: %.1f MB)',
         $name, $grown / 1024, $sets, $kept / 1024);

    SKIP: {
        skip 'resident size means little under AddressSanitizer', 1 if $asan;
        cmp_ok($grown, '<', $kept / 2, "$name: the tokens are not kept");
    }
}


# --- fetched sets, cached for an hour --------------------------------------

$t->start(<<'EOF');
    server {
        listen 127.0.0.1:%%PORT_main%%;

        location /fetched {
            auth_jwt "api";
            auth_jwt_key_request /_jwks/s$arg_t.jwks;
            auth_jwt_key_cache 1h;
            root %%PREFIX%%/html;
            try_files /ok.txt =404;
        }

        location /_jwks/ {
            internal;
            alias %%PREFIX%%/jwks/;
        }
    }
EOF

# a few sets first: the allocator has then seen parses come and go

get_ok($t, "/fetched?t=$_", "set $_ fetched") for 1 .. $WARM;

my $before = rss($t);
ok(defined $before, 'worker resident size read');

get_ok($t, "/fetched?t=$_", "set $_ fetched") for $WARM + 1 .. $WARM + $SETS;

my $after = rss($t);

# what is measured is sets held: they answer with their documents gone

unlink $t->path("jwks/s$_.jwks") for 1 .. $WARM + $SETS;

get_ok($t, "/fetched?t=$_", "set $_ still cached") for 1 .. $WARM + $SETS;

is($t->get('/fetched?t=0', Authorization => "Bearer $token")->{status},
   500, 'a set never fetched is gone indeed');

growth_ok($after - $before, $SETS, 'fetched sets')
    if defined $before && defined $after;

$t->stop;


# --- key files: the same document in every location ------------------------

my $conf = <<'EOF';
    server {
        listen 127.0.0.1:%%PORT_main%%;
LOCATIONS
    }
EOF

my $locations = join '', map { <<"EOF" } 1 .. $SETS;
        location /f$_ {
            auth_jwt "api";
            auth_jwt_key_file %%PREFIX%%/keys/KEYS.jwks;
            root %%PREFIX%%/html;
            try_files /ok.txt =404;
        }
EOF

$conf =~ s/LOCATIONS\n/$locations/;

my %rss;

for my $keys (qw(small big)) {
    my $n = Meshgate::Test->new(workers => 1);

    $n->write_file("keys/$keys.jwks", $keys eq 'big' ? $doc : $small);
    $n->write_file('html/ok.txt', "OK\n");

    (my $c = $conf) =~ s/KEYS/$keys/g;
    $n->start($c);

    get_ok($n, "/f$_", "$keys key file, location $_") for 1 .. $SETS;

    $rss{$keys} = rss($n);
    ok(defined $rss{$keys}, "$keys key files: worker resident size read");

    $n->stop;
}

growth_ok($rss{big} - $rss{small}, $SETS, 'key files')
    if defined $rss{big} && defined $rss{small};

done_testing;
