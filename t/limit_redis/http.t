#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# limit_redis and HTTP connections: keep-alive and pipelined requests (each
# one counted, answered in order, also while the previous one waits for
# Redis or is delayed), a rejected POST whose body must be discarded before
# the next request on the connection, HEAD, HTTP/1.0.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use IO::Select;
use IO::Socket::INET;
use Test::More;
use Time::HiRes qw(time sleep);
use Meshgate::Test;

my $t = Meshgate::Test->new(workers => 2);
$t->need_module_or_skip;
$t->need('redis-server');

my $redis = $t->start_redis;
$t->write_file('html/ok.txt', "OK\n");

$t->start(<<'EOF');
    redis_server main 127.0.0.1:%%PORT_redis%% timeout=1s;

    limit_redis_zone $arg_k zone=z rate=1r/m redis=main;
    limit_redis_zone $arg_k zone=d rate=2r/s redis=main;

    server {
        listen 127.0.0.1:%%PORT_main%% reuseport;
        root %%PREFIX%%/html;
        add_header X-LR $limit_redis_status always;
        keepalive_requests 1000;

        location /z { limit_redis zone=z burst=2 nodelay; try_files /ok.txt =404; }
        location /d { limit_redis zone=d burst=5; try_files /ok.txt =404; }
        location /post {
            limit_redis zone=z;
            proxy_pass http://127.0.0.1:%%PORT_backend%%/;
        }
    }

    server {
        listen 127.0.0.1:%%PORT_backend%%;
        location / { return 200 "posted\n"; }
    }
EOF

sub conn {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port('main'),
                                  Proto => 'tcp', Timeout => 5) or die "connect: $!";
    $s->autoflush(1);
    binmode $s;
    return $s;
}

# reads $n responses (Content-Length framed) from a keep-alive connection
sub read_responses {
    my ($s, $n, $timeout) = @_;
    my $buf = '';
    my @out;
    my $deadline = time + ($timeout // 5);
    my $sel = IO::Select->new($s);
    while (@out < $n && time < $deadline) {
        while ($buf =~ /^(HTTP\/1\.\d (\d{3})[^\r\n]*\r\n(.*?)\r\n\r\n)/s) {
            my ($head, $status, $hdrs) = ($1, $2, $3);
            my ($len) = $hdrs =~ /^Content-Length: (\d+)/mi;
            $len //= 0;
            last if length($buf) < length($head) + $len;
            my ($lr) = $hdrs =~ /^X-LR: (\S+)/mi;
            push @out, { status => $status, lr => $lr // '', at => time,
                         body => substr($buf, length $head, $len) };
            substr($buf, 0, length($head) + $len) = '';
            last if @out >= $n;
        }
        last if @out >= $n;
        next unless $sel->can_read(0.1);
        my $r = sysread($s, my $chunk, 65536);
        last unless $r;
        $buf .= $chunk;
    }
    return @out;
}

sub req_text {
    my ($method, $uri, %o) = @_;
    my $r = "$method $uri HTTP/1.1\r\nHost: x\r\n";
    $r .= "Content-Length: " . length($o{body}) . "\r\n" if defined $o{body};
    $r .= "\r\n";
    $r .= $o{body} if defined $o{body};
    return $r;
}

# --- keep-alive, one after the other ---------------------------------------------------

my $s = conn();
my @st;
for (1 .. 4) {
    print {$s} req_text('GET', '/z?k=ka');
    my ($r) = read_responses($s, 1);
    push @st, $r ? "$r->{status} $r->{lr}" : 'none';
}
is(join(', ', @st), '200 PASSED, 200 PASSED, 200 PASSED, 429 REJECTED',
   'keep-alive: each request counted (200 200 200 429)');
print {$s} req_text('GET', '/z?k=ka2');
my ($r) = read_responses($s, 1);
is($r && $r->{status}, 200, 'the connection stays usable after a 429');
close $s;

# --- pipelined -------------------------------------------------------------------------------

$s = conn();
print {$s} join '', map { req_text('GET', '/z?k=pipe') } 1 .. 5;
my @r = read_responses($s, 5);
is(join(', ', map { "$_->{status} $_->{lr}" } @r),
   '200 PASSED, 200 PASSED, 200 PASSED, 429 REJECTED, 429 REJECTED',
   '5 pipelined requests: answered in order, each counted');
close $s;

# pipelined mix of keys
$s = conn();
print {$s} join '', map { req_text('GET', "/z?k=$_") } qw(m1 m2 m1 m1 m1 m2 m2 m2);
@r = read_responses($s, 8);
is(join(' ', map { $_->{status} } @r), '200 200 200 200 429 200 200 429',
   '8 pipelined requests on two keys: each key limited on its own, in order');
close $s;

# --- pipelined behind a delayed request ---------------------------------------------------------

$s = conn();
my $t0 = time;
print {$s} req_text('GET', '/d?k=dd') . req_text('GET', '/d?k=dd') . req_text('GET', '/z?k=after-delay');
@r = read_responses($s, 3, 5);
is(join(', ', map { "$_->{status} $_->{lr}" } @r),
   '200 PASSED, 200 DELAYED, 200 PASSED',
   'pipelined behind a delayed request: in order, verdicts right');
ok(@r == 3 && $r[1]{at} - $t0 >= 0.4, 'the second was delayed ~500 ms');
close $s;

# --- a rejected POST with a body, then more requests on the connection -----------------------------

$s = conn();
my $body = 'x' x 100000;
print {$s} req_text('POST', '/post?k=p', body => 'first');
($r) = read_responses($s, 1);
is($r && "$r->{status} $r->{body}", "200 posted\n", 'POST accepted and proxied');
print {$s} req_text('POST', '/post?k=p', body => $body) . req_text('GET', '/z?k=after-post');
@r = read_responses($s, 2, 5);
is(join(', ', map { $_->{status} } @r), '429, 200',
   'a rejected 100k POST: 429, its body discarded, the next request on the connection works');
close $s;

# --- HTTP/1.0 and HEAD ------------------------------------------------------------------------------

my $h = $t->request('HEAD', '/z?k=head');
is($h->{status}, 200, 'HEAD: 200');
is($h->{headers}{'ratelimit'}, '"z";r=2;t=60', 'HEAD: RateLimit header');
$h = $t->request('GET', '/z?k=head', http10 => 1);
is($h->{status}, 200, 'HTTP/1.0: counted with HEAD (r=1)');
is($h->{headers}{'ratelimit'}, '"z";r=1;t=120', 'HTTP/1.0: RateLimit r=1');

done_testing;
