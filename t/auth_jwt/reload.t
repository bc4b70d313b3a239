#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# auth_jwt_key_file is read at configuration time: a changed key file takes
# effect on reload, a broken one makes the reload fail and the running
# configuration keeps serving.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Test::More;
use Meshgate::Test;
use Meshgate::JWT;

my $t = Meshgate::Test->new(workers => 2);
$t->need_module_or_skip;

my ($ka, $ka_jwk) = gen_key('ES256', kid => 'a');
my ($kb, $kb_jwk) = gen_key('ES256', kid => 'b');

$t->write_file('keys/k.jwks', jwks($ka_jwk));
$t->write_file('html/ok.txt', "OK\n");

my $conf = <<'EOF';
    server {
        listen 127.0.0.1:%%PORT_main%%;

        location /p {
            auth_jwt "api";
            auth_jwt_key_file %%PREFIX%%/keys/k.jwks;
            root %%PREFIX%%/html;
            try_files /ok.txt =404;
        }
    }
EOF

$t->start($conf);

my $ta = mint(alg => 'ES256', key => $ka, claims => { sub => 'a' },
              header => { kid => 'a' });
my $tb = mint(alg => 'ES256', key => $kb, claims => { sub => 'b' },
              header => { kid => 'b' });

# two workers: ask a few times so that both are likely to answer
sub statuses {
    my ($token, $path) = @_;
    my %s;
    $s{$t->get($path // '/p', Authorization => "Bearer $token")->{status}
       // 'none'}++ for 1 .. 6;
    return join ',', sort keys %s;
}

is(statuses($ta), '200', 'key a: 200');
is(statuses($tb), '401', 'key b (not in the file): 401');

$t->write_file('keys/k.jwks', jwks($kb_jwk));
is(statuses($ta), '200', 'key file rewritten, no reload: key a still 200');
is(statuses($tb), '401', 'key file rewritten, no reload: key b still 401');

my @old = $t->worker_pids;
ok($t->reload, 'reload');
my @new = $t->worker_pids;
is(scalar @new, 2, 'two workers after reload');
ok(!(grep { my $o = $_; grep { $_ == $o } @new } @old), 'all workers new');

is(statuses($tb), '200', 'after reload: key b 200');
is(statuses($ta), '401', 'after reload: key a 401');

# a broken key file: the reload fails, the old configuration keeps running
$t->write_file('keys/k.jwks', '{"keys": [ this is broken');
$t->ignore_log(qr/\[emerg\].*k\.jwks/);
ok(!$t->reload(undef, quiet => 1), 'reload with a broken key file fails');
is(statuses($tb), '200', 'after the failed reload: key b still 200');

# fix it and change the configuration as well
$t->write_file('keys/k.jwks', jwks($ka_jwk, $kb_jwk));
(my $conf2 = $conf) =~ s{(location /p)}{location /q {
            auth_jwt "q";
            auth_jwt_key_file %%PREFIX%%/keys/k.jwks;
            root %%PREFIX%%/html;
            try_files /ok.txt =404;
        }

        $1};
ok($t->reload($conf2), 'reload with a new configuration');
is(statuses($ta), '200', 'both keys: a 200');
is(statuses($tb), '200', 'both keys: b 200');
is(statuses($ta, '/q'), '200', 'new location /q: 200');
is($t->get('/q')->{headers}{'www-authenticate'}, 'Bearer realm="q"',
   'new location /q: its realm');

done_testing;
