#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# limit_redis over HTTP/2 (TLS + ALPN, by curl; curl 7.88's parallel
# transfers over h2c prior knowledge fail in its framing layer): multiplexed
# streams are each counted; a connection closed while several of its streams
# wait for a paused Redis, or are delayed, leaves nothing behind (run this
# file under ASan too).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Test::More;
use Time::HiRes qw(time sleep);
use Meshgate::Test;

my $t = Meshgate::Test->new(workers => 1);
$t->need_module_or_skip;
$t->need('redis-server', 'curl', 'openssl');
$t->need_nginx_module('http_ssl', 'http_v2');

my $h2 = `curl --version 2>/dev/null`;
plan(skip_all => 'curl without HTTP/2') unless $h2 =~ /HTTP2/;
plan(skip_all => 'curl older than 7.84 (no %header{})')
    unless $h2 =~ /^curl (\d+)\.(\d+)/ && ($1 > 7 || $2 >= 84);

my $redis = $t->start_redis;
$t->write_file('html/ok.txt', "OK\n");
{
    my $p = $t->prefix;
    system('openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1',
           '-subj', '/CN=localhost', '-keyout', "$p/key.pem", '-out', "$p/cert.pem") == 0
        or plan(skip_all => 'openssl cannot make a certificate');
}

$t->start(<<'EOF');
    redis_server main 127.0.0.1:%%PORT_redis%% timeout=1s;
    redis_server slow 127.0.0.1:%%PORT_redis%% timeout=5s;

    limit_redis_zone $arg_k zone=z rate=1r/m redis=main;
    limit_redis_zone $arg_k zone=s rate=1r/m redis=slow;
    limit_redis_zone $arg_k zone=d rate=1r/s redis=main;

    log_format lr '$request_uri $status $limit_redis_status';

    server {
        listen 127.0.0.1:%%PORT_main%% ssl http2;
        ssl_certificate %%PREFIX%%/cert.pem;
        ssl_certificate_key %%PREFIX%%/key.pem;
        root %%PREFIX%%/html;
        add_header X-LR $limit_redis_status always;
        access_log %%PREFIX%%/lr.log lr;

        location /z { limit_redis zone=z burst=2 nodelay; try_files /ok.txt =404; }
        location /s { limit_redis zone=s burst=100 nodelay; try_files /ok.txt =404; }
        location /d { limit_redis zone=d burst=10; try_files /ok.txt =404; }
    }
EOF

my $base = 'https://127.0.0.1:' . $t->port('main');

# runs curl with parallel, multiplexed HTTP/2 requests; returns its output
sub curl {
    my ($max_time, @uris) = @_;
    my @cmd = ('curl', '-sk', '--no-progress-meter', '--http2', '--parallel', '--parallel-max', '50',
               '--max-time', $max_time, '-w', '%{http_code} %header{x-lr} %{http_version} %{num_connects}\n');
    push @cmd, '-o', '/dev/null', "$base$_" for @uris;
    open my $fh, '-|', @cmd or die "curl: $!";
    local $/;
    my $out = <$fh> // '';
    close $fh;
    return $out;
}

# "status x-lr http-version" => count; and the number of connections made
sub tally {
    my %s;
    my $connects = 0;
    for (grep { length } split /\n/, $_[0]) {
        my @f = split / /;
        $connects += pop @f if @f == 4;
        $s{join ' ', @f}++;
    }
    my $t = join ', ', map { "$_ x$s{$_}" } sort keys %s;
    return wantarray ? ($t, $connects) : $t;
}

# --- multiplexed streams, each counted -----------------------------------------------

my $out = curl(10, map { '/z?k=m' } 1 .. 8);
my ($tl, $conns) = tally($out);
is($tl, '200 PASSED 2 x3, 429 REJECTED 2 x5',
   '8 HTTP/2 streams, 1r/m burst=2: 3 PASSED, 5 REJECTED');
is($conns, 1, 'all 8 multiplexed on one connection');

# --- the connection goes away while streams wait for a paused Redis --------------------

is($t->redis_command($redis, 'CLIENT', 'PAUSE', 1500), 'OK', 'Redis paused');
my $st = time;
$out = curl(0.4, map { "/s?k=gone$_" } 1 .. 10);
ok(time - $st < 1.4, sprintf('curl gave up after ~0.4 s (%.2f s)', time - $st));
note("curl: $out");
sleep(1.6 - (time - $st)) if time - $st < 1.6;     # the pause ends, replies come

my $after = curl(10, map { "/s?k=after$_" } 1 .. 5);
is(tally($after), '200 PASSED 2 x5', 'after the pause, new streams work');
my $log = $t->read_file('lr.log');
my @gone = $log =~ m{^/s\?k=gone\d+ (\d+ \S+)$}mg;
ok(!(grep { $_ ne '499 -' } @gone),
   'streams that went away before their verdict: logged 499 "-" (' . join(', ', @gone) . ')');

# --- the connection goes away while streams are delayed ----------------------------------

$out = curl(0.5, map { '/d?k=dl' } 1 .. 6);
note("curl: $out");
my $ok = curl(5, '/z?k=fine');
is(tally($ok), '200 PASSED 2 x1', 'after delayed streams went away: fine');
$log = $t->read_file('lr.log');
my @d = $log =~ m{^/d\?k=dl (\d+ \S+)$}mg;
is(scalar(grep { $_ eq '499 DELAYED' } @d), 5,
   'delayed streams that went away: 499 DELAYED (5 of 6)') or diag(join ', ', @d);

done_testing;
