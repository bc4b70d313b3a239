#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# meshgate: how probes read what servers send.  A small server forked
# here answers each health URI with a canned response, some well-formed in
# ways nginx backends never are (a chunked body, an interim 100, a body
# sent a byte at a time), some broken (garbage, a truncated body, a head
# larger than proxy_buffer_size, no answer at all).  Each case is a
# one-peer group checked with "mandatory": its first probe decides, and
# the log says why.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use IO::Select;
use IO::Socket::INET;
use POSIX qw(_exit);
use Test::More;
use Time::HiRes qw(sleep);

use Meshgate::Test;

my $t = Meshgate::Test->new(workers => 1);
$t->need_module_or_skip;

my $ok_head = "HTTP/1.1 200 OK\r\n";

# where the server waits a little before it sends the rest
use constant PAUSE => "\0pause\0";

my %responses = (
    '/chunked'     => $ok_head . "Transfer-Encoding: chunked\r\n\r\n"
                      . "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\n"
                      . "X-Trailer: t\r\n\r\n",
    '/chunked-bad' => $ok_head . "Transfer-Encoding: chunked\r\n\r\nzz\r\n",
    '/interim'     => "HTTP/1.1 100 Continue\r\n\r\n" . $ok_head
                      . "Content-Length: 11\r\n\r\nhello world",
    '/close'       => $ok_head . "\r\nhello world",
    '/short'       => $ok_head . "Content-Length: 100\r\n\r\nhello",
    '/garbage'     => "garbage\r\n\r\n",
    '/http09'      => "hello world",
    '/nothing'     => '',
    '/bighead'     => $ok_head . 'X-Big: ' . ('x' x 10000) . "\r\n\r\nhello world",
    '/lf'          => "HTTP/1.0 200 OK\nContent-Length: 11\n\nhello world",
    '/te'          => $ok_head . "Transfer-Encoding: gzip\r\n\r\nhello world",
    '/trickle'     => $ok_head . "Content-Length: 11\r\n\r\nhello world",
    '/split'       => $ok_head . "X-Check: yes\r\n"
                      . "Transfer-Encoding: chunked\r\n\r\n" . PAUSE
                      . '5;pad=' . ('p' x 200) . "\r\nhello\r\n" . PAUSE
                      . "6\r\n world\r\n0\r\n\r\n",
    '/split-len'   => $ok_head . "X-Check: yes\r\nContent-Length: 11\r\n\r\n"
                      . PAUSE . "hello" . PAUSE . " world",
);

# [ uri, match (1: on the body, 2: on a field and the body), up (1) or
#   down, reason in the log ]
my @cases = (
    [ '/chunked',     1, 1, 'status 200, match' ],
    [ '/chunked-bad', 1, 0, 'invalid chunked body: invalid chunk size' ],
    [ '/interim',     1, 1, 'status 200, match' ],
    [ '/close',       1, 1, 'status 200, match' ],
    [ '/short',       1, 0, 'connection closed in the response body' ],
    [ '/garbage',     0, 0, 'invalid response: invalid status line' ],
    [ '/http09',      0, 0, 'invalid response: invalid status line' ],
    [ '/nothing',     0, 0, 'connection closed without a response' ],
    [ '/bighead',     0, 0, 'too big response head' ],
    [ '/lf',          1, 1, 'status 200, match' ],
    [ '/te',          0, 0, 'invalid response: unsupported Transfer-Encoding' ],
    [ '/trickle',     1, 1, 'status 200, match' ],
    [ '/split',       2, 1, 'status 200, match' ],
    [ '/split-len',   2, 1, 'status 200, match' ],
);

my $server = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                   LocalPort => $t->port('canned'),
                                   Listen => 64, ReuseAddr => 1)
    or die "listen: $!\n";

my $child = fork;
die "fork: $!\n" unless defined $child;

if ($child == 0) {
    alarm 60;

    while (my $c = $server->accept) {
        my $req = '';
        while ($req !~ /\r\n\r\n/) {
            last unless IO::Select->new($c)->can_read(5);
            sysread($c, $req, 4096, length $req) or last;
        }

        my ($uri) = $req =~ m{^GET (\S+) HTTP/1\.0\r\n};
        my $res = $responses{$uri // ''} // "HTTP/1.1 404 Not Found\r\n\r\n";

        if (($uri // '') eq '/trickle') {
            for my $byte (split //, $res) {
                syswrite($c, $byte);
                sleep 0.005;
            }

        } else {
            my @parts = split /\Q${\PAUSE}\E/, $res;
            for my $i (0 .. $#parts) {
                sleep 0.1 if $i;
                syswrite($c, $parts[$i]);
            }
        }

        close $c;
    }

    _exit(0);
}

close $server;

END {
    local $?;

    if ($child) {
        kill 'TERM', $child;
        waitpid $child, 0;
    }
}

my ($upstreams, $locations) = ('', '');
my $i = 0;

for my $c (@cases) {
    my ($uri, $body) = @$c;
    $i++;

    $upstreams .= "    upstream c$i {\n        zone c$i 64k;\n"
        . "        server 127.0.0.1:%%PORT_canned%%;\n    }\n";

    my $match = !$body ? '' : $body == 1 ? ' match=hello'
                                         : ' match=hello_check';

    $locations .= "        location /c$i {\n"
        . "            proxy_pass http://c$i;\n"
        . "            health_check interval=10s uri=$uri$match mandatory;\n"
        . "        }\n";
}

$t->start(<<"EOF");
    match hello {
        status 200;
        body ~ "^hello world\$";
    }

    match hello_check {
        header X-Check = yes;
        body ~ "^hello world\$";
    }

$upstreams
    server {
        listen 127.0.0.1:%%PORT_main%%;
        proxy_read_timeout 3s;

$locations    }
EOF

my $peer = '127.0.0.1:' . $t->port('canned');

$i = 0;
for my $c (@cases) {
    my ($uri, $body, $up, $reason) = @$c;
    $i++;

    my $state = $up ? 'up' : 'down';

    ok($t->wait_for_log(qr/upstream "c$i" peer \Q$peer\E is $state \(health check: \Q$reason\E/,
                        5), "$uri: $state, $reason");
}

done_testing;
