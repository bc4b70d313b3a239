#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# Replies that claim more than their command can receive cost no memory.
# A fake Redis answers limit_redis's script call (one request, one zone:
# a reply of 2 integers) with a header that announces ten million array
# elements, a bulk string of 2 GB followed by 48 MB of it, an error line
# of 48 MB without an end, or arrays nested in the flat answer; between
# the rounds it answers correctly.  Each time the worker's peak memory
# (VmHWM) stays where it was, the request follows its fail mode at once
# (it does not wait for timeout=), one line of the error log says what
# was wrong, and once the client has reconnected, requests are limited by
# Redis again.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Digest::SHA qw(sha1_hex);
use IO::Select;
use IO::Socket::INET;
use Test::More;
use Time::HiRes qw(time sleep);
use Meshgate::Test;

my $t = Meshgate::Test->new(workers => 1);
$t->need_module_or_skip;

my $port = $t->port('fake');
my $mode_file = $t->path('fake.mode');
my $fake;

# --- the fake Redis --------------------------------------------------------------

# complete RESP commands (arrays of bulk strings) off the front of $$buf
sub take_commands {
    my ($buf) = @_;
    my @cmds;
    while ($$buf =~ /\G\*(\d+)\r\n/gc) {
        my $n = $1;
        my @args;
        for (1 .. $n) {
            if ($$buf =~ /\G\$(\d+)\r\n/gc) {
                my ($len, $at) = ($1, pos($$buf));
                last if length($$buf) < $at + $len + 2;
                push @args, substr($$buf, $at, $len);
                pos($$buf) = $at + $len + 2;
            } else { last }
        }
        last if @args < $n;
        substr($$buf, 0, pos($$buf)) = '';
        push @cmds, \@args;
    }
    return @cmds;
}

# writes $head, then $fill bytes of $byte, until the client goes away
sub stream {
    my ($s, $head, $byte, $fill) = @_;
    syswrite($s, $head) or return;
    my $chunk = $byte x 65536;
    for (my $sent = 0; $sent < $fill; $sent += length $chunk) {
        defined syswrite($s, $chunk) or return;
    }
}

sub start_fake {
    my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port,
                                  Proto => 'tcp', Listen => 16, ReuseAddr => 1)
        or die "fake: listen: $!";
    $fake = fork // die "fork: $!";
    if ($fake) { close $l; return }

    $SIG{PIPE} = 'IGNORE';
    my $sel = IO::Select->new($l);
    my %buf;
    while (1) {
        for my $s ($sel->can_read(1)) {
            if ($s == $l) {
                my $c = $l->accept or next;
                $sel->add($c);
                $buf{$c} = '';
                next;
            }
            my $n = sysread($s, my $chunk, 65536);
            if (!$n) { $sel->remove($s); delete $buf{$s}; close $s; next }
            $buf{$s} .= $chunk;
            for my $cmd (take_commands(\$buf{$s})) {
                my $name = uc $cmd->[0];
                if ($name eq 'SCRIPT') {
                    syswrite($s, "\$40\r\n" . sha1_hex($cmd->[2]) . "\r\n");
                    next;
                }
                if ($name ne 'EVALSHA' && $name ne 'EVAL') {
                    syswrite($s, $name eq 'PING' ? "+PONG\r\n" : "+OK\r\n");
                    next;
                }
                open my $fh, '<', $mode_file;
                my $mode = $fh ? <$fh> // 'valid' : 'valid';
                # one request of one zone: charged, backlog 0
                if ($mode eq 'valid') { syswrite($s, "*2\r\n:1\r\n:0\r\n") }
                elsif ($mode eq 'array') { syswrite($s, "*10000000\r\n") }
                elsif ($mode eq 'bulk') {
                    stream($s, "\$2000000000\r\n", 'x', 48 << 20);
                }
                elsif ($mode eq 'line') { stream($s, '-ERR ', 'E', 48 << 20) }
                elsif ($mode eq 'nested') {
                    syswrite($s, "*2\r\n*1\r\n*1\r\n:1\r\n:0\r\n");
                }
            }
        }
    }
}

sub set_mode {
    open my $fh, '>', $mode_file or die "$mode_file: $!";
    print {$fh} $_[0];
    close $fh;
}

set_mode('valid');
start_fake();

END { local $?; if ($fake) { kill 'KILL', $fake; waitpid($fake, 0) } }

# --- nginx -------------------------------------------------------------------------

$t->write_file('html/ok.txt', "OK\n");

$t->start(<<'EOF');
    redis_server fake 127.0.0.1:%%PORT_fake%% timeout=1s;

    limit_redis_zone $arg_k zone=zo rate=1r/m redis=fake;
    limit_redis_zone $arg_k zone=zc rate=1r/m redis=fake;

    server {
        listen 127.0.0.1:%%PORT_main%%;
        root %%PREFIX%%/html;
        add_header X-LR $limit_redis_status always;

        location /open   { limit_redis zone=zo; try_files /ok.txt =404; }
        location /closed { limit_redis zone=zc; limit_redis_fail closed;
                           try_files /ok.txt =404; }
    }
EOF

my ($worker) = $t->worker_pids;
my $n = 0;

# the worker's peak resident memory so far, in kB; clear_refs 5 sets it
# back to the current one (Linux 4.0), so that each round has its own
sub reset_hwm {
    open my $fh, '>', "/proc/$worker/clear_refs" or return;
    print {$fh} "5\n";
    close $fh;
}

sub hwm {
    open my $fh, '<', "/proc/$worker/status" or return -1;
    while (<$fh>) { return $1 if /^VmHWM:\s+(\d+) kB/ }
    return -1;
}

# requests with new keys until Redis (the fake) limits them again: the
# client reconnects after its backoff, at most 1 s
sub until_passed {
    my $start = time;
    while (time - $start < 5) {
        my $r = $t->get_lr('/open?k=w' . ++$n);
        return time - $start if $r->{status} == 200 && $r->{lr} eq 'PASSED';
        sleep 0.05;
    }
    return undef;
}

my %why = (
    array  => qr/reply over its bounds, too many array elements: 10000000, at most 2\b/,
    bulk   => qr/reply over its bounds, bulk string too long: 2000000000, at most \d+/,
    line   => qr/reply over its bounds, reply too long: \d+, at most 4096\b/,
    nested => qr/reply over its bounds, arrays nested too deep: 2, at most 1\b/,
);

ok(defined until_passed(), 'the fake Redis answers: PASSED');

for my $mode (qw(array bulk line nested)) {
    for my $loc (['open', '200 ERROR'], ['closed', '429 ERROR']) {
        my ($where, $expect) = @$loc;
        my $what = "$mode, fail $where";

        ok(defined until_passed(), "$what: connected, PASSED");

        my $from = length $t->error_log;
        reset_hwm();
        my $before = hwm();

        set_mode($mode);
        my $r = $t->get_lr("/$where?k=h" . ++$n);
        set_mode('valid');

        my $after = hwm();

        is("$r->{status} $r->{lr}", $expect, "$what: $expect");
        ok($r->{time} < 0.5,
           sprintf('%s: at once, not after timeout=1s (%.3f s)', $what, $r->{time}));
        ok($before > 0 && $after - $before < 8192,
           sprintf('%s: peak memory of the worker %d kB -> %d kB', $what, $before, $after));

        my $rec = until_passed();
        ok(defined $rec, sprintf('%s: reconnected, PASSED again (%.2f s)', $what, $rec // -1));

        my @lines = grep { /redis unavailable/ } split /\n/, substr($t->error_log, $from);
        is(scalar @lines, 1, "$what: one line of the client")
            or diag(join "\n", @lines);
        like($lines[0] // '', $why{$mode}, "$what: it says why");
        like($lines[0] // '', qr/\[error\].*redis server: "fake"/,
             "$what: an error, naming the server");
    }
}

ok(kill(0, $worker), 'the worker is alive, the same one');

done_testing;
