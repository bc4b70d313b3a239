#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# The Redis client against servers that misbehave, played by a small fake
# Redis in a child process: one that never answers (the handshake and the
# commands time out), one that closes every connection, one that sends
# garbage, nested or oversized replies, one whose EVALSHA replies have the
# wrong shape, and one whose verdict disagrees with the limits.  Every
# request is answered per its fail mode within timeout + a margin, the
# reasons are logged, and nothing crashes (run under ASan too).  Three more
# accept connections and go through the handshake but fail every command:
# one closes the connection on each EVALSHA, one closes it after each reply,
# one never answers EVALSHA; they must not cause a reconnect storm.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Digest::SHA qw(sha1_hex);
use IO::Select;
use IO::Socket::INET;
use POSIX ();
use Test::More;
use Time::HiRes qw(time sleep);
use Meshgate::Test;

my $t = Meshgate::Test->new(workers => 2);
$t->need_module_or_skip;

my @storm = qw(drop once mute);
my @modes = (qw(silent close garbage nested huge shape disagree partial), @storm);
my %port = map { $_ => $t->port("fake_$_") } @modes;
my @fakes;

# the fakes of @storm log each connection they accept, one line each
sub accepts_file { $t->path("fake_$_[0].accepts") }

# --- the fake Redis ----------------------------------------------------------------------

# parses complete RESP commands (arrays of bulk strings) off the front of $$buf
sub take_commands {
    my ($buf) = @_;
    my @cmds;
    while (1) {
        my $pos = 0;
        last unless $$buf =~ /\G\*(\d+)\r\n/gc;
        my $n = $1;
        my @args;
        my $ok = 1;
        for (1 .. $n) {
            if ($$buf =~ /\G\$(\d+)\r\n/gc) {
                my $len = $1;
                my $at = pos($$buf);
                if (length($$buf) < $at + $len + 2) { $ok = 0; last }
                push @args, substr($$buf, $at, $len);
                pos($$buf) = $at + $len + 2;
            } else { $ok = 0; last }
        }
        last unless $ok;
        substr($$buf, 0, pos($$buf)) = '';
        push @cmds, \@args;
    }
    return @cmds;
}

sub reply_for {
    my ($mode, $cmd) = @_;
    my $name = uc($cmd->[0] // '');
    if ($name eq 'SCRIPT') {
        my $sha = sha1_hex($cmd->[2] // '');
        return "\$40\r\n$sha\r\n";
    }
    return "+OK\r\n" unless $name eq 'EVALSHA' || $name eq 'EVAL';

    return "HELLO I AM NOT REDIS\r\n" if $mode eq 'garbage';
    return ("*1\r\n" x 20) . ":1\r\n" if $mode eq 'nested';
    return "\$2000000000\r\nxxxx" if $mode eq 'huge';
    if ($mode eq 'shape') {
        # rotate through wrong shapes
        my @shapes = ("*1\r\n:1\r\n", "*2\r\n:1\r\n\$3\r\nabc\r\n", "*2\r\n:7\r\n:0\r\n",
                      "*2\r\n:1\r\n:-5\r\n", "*3\r\n:1\r\n:0\r\n:0\r\n", ":1\r\n",
                      "\$-1\r\n", "*-1\r\n", "*2\r\n:1\r\n*0\r\n", "+OK\r\n",
                      "*2\r\n:1\r\n:9223372036854775807\r\n");
        our $shape_i;
        return $shapes[$shape_i++ % @shapes];
    }
    # charged, although the backlog (2 T) does not fit burst 0
    return "*2\r\n:1\r\n:120000000\r\n" if $mode eq 'disagree';
    return "*2\r\n:1\r\n" if $mode eq 'partial';
    return "+OK\r\n";
}

sub start_fake {
    my ($mode) = @_;
    my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port{$mode},
                                  Proto => 'tcp', Listen => 128, ReuseAddr => 1)
        or die "fake $mode: listen: $!";
    my $pid = fork // die "fork: $!";
    if ($pid) {
        close $l;
        push @fakes, $pid;
        return;
    }
    my $sel = IO::Select->new($l);
    my %buf;
    my $counted = grep { $_ eq $mode } @storm;
    while (1) {
        for my $s ($sel->can_read(1)) {
            if ($s == $l) {
                my $c = $l->accept or next;
                if ($counted) {
                    open my $fh, '>>', accepts_file($mode) or die "accepts: $!";
                    print {$fh} time, "\n";
                    close $fh;
                }
                if ($mode eq 'close') { close $c; next }
                $sel->add($c);
                $buf{$c} = '';
                next;
            }
            my $n = sysread($s, my $chunk, 65536);
            if (!$n) { $sel->remove($s); delete $buf{$s}; close $s; next }
            next if $mode eq 'silent';
            $buf{$s} .= $chunk;
            my $out = '';
            my $drop = 0;
            for my $cmd (take_commands(\$buf{$s})) {
                my $user = uc($cmd->[0] // '') =~ /^EVAL(?:SHA)?$/;
                if ($user && $mode eq 'mute') { next }
                if ($user && $mode eq 'drop') { $drop = 1; last }
                $out .= reply_for($mode, $cmd);
                if ($mode eq 'once') { $drop = 1; last }
            }
            syswrite($s, $out) if length $out;
            if ($drop) { $sel->remove($s); delete $buf{$s}; close $s }
        }
    }
}

start_fake($_) for @modes;

END { local $?; kill "KILL", @fakes if @fakes; waitpid($_, 0) for @fakes; }

# --- nginx -------------------------------------------------------------------------------

$t->write_file('html/ok.txt', "OK\n");

my $http = '';
my $locs = '';
for my $m (@modes) {
    $http .= "    redis_server $m 127.0.0.1:$port{$m} timeout=150ms connect_timeout=150ms;\n";
    $http .= "    limit_redis_zone \$arg_k zone=$m rate=1r/m redis=$m;\n";
    $http .= "    limit_redis_zone \$arg_k zone=${m}_c rate=1r/m redis=$m;\n";
    $locs .= "        location /$m { limit_redis zone=$m; try_files /ok.txt =404; }\n";
    $locs .= "        location /${m}_c { limit_redis zone=${m}_c; limit_redis_fail closed;"
           . " try_files /ok.txt =404; }\n";
}

$t->start(<<"EOF");
$http
    server {
        listen 127.0.0.1:%%PORT_main%% reuseport;
        root %%PREFIX%%/html;
        add_header X-LR \$limit_redis_status always;
$locs
    }
EOF

my %reason = (
    silent   => qr/timed out|down|connection failed/,
    close    => qr/down|connection failed/,
    garbage  => qr/down|connection failed|unexpected reply/,
    nested   => qr/down|connection failed|unexpected reply/,
    huge     => qr/timed out|down|connection failed/,
    shape    => qr/unexpected reply|reply disagrees|error reply/,
    disagree => qr/reply disagrees with the limits/,
    partial  => qr/timed out|down|connection failed/,
    drop     => qr/down|connection failed/,
    once     => qr/down|connection failed/,
    mute     => qr/timed out|down/,
);

# --- no reconnect storm -------------------------------------------------------------------

# Servers that take connections and the handshake but fail every command.
# Once the episode has begun in both workers, 3 s of traffic: each worker
# reconnects with a backoff of 50 ms doubling up to 1 s and never reset,
# since no command succeeds, so at most 6 times in 3 s (50, 150, 350, 750,
# 1550 and 2550 ms into the episode), 12 for both workers.  The episode is
# logged once per worker, with no recovery in between, and requests are
# not held up: while a server is in its backoff they fail at once, and a
# new connection is tested by one request at a time.
sub client_lines {
    my ($what, $m) = @_;
    return $t->error_log =~ /^(.*redis \Q$what\E.*redis server: "\Q$m\E".*)$/mg;
}

for my $m (@storm) {
    my $st = time;
    my $n = 0;
    while (time - $st < 6 && (my @l = client_lines('unavailable', $m)) < 2) {
        $t->get_lr("/$m?k=w" . $n++);
    }
    note(sprintf '%s: episode begun in both workers after %d requests, %.2f s',
                 $m, $n, time - $st);

    my $before = () = $t->read_file(accepts_file($m)) =~ /\n/g;
    my @r;
    $st = time;
    while (time - $st < 3) {
        push @r, $t->get_lr("/$m?k=" . @r);
    }
    my $conns = (() = $t->read_file(accepts_file($m)) =~ /\n/g) - $before;

    my %so; $so{"$_->{status} $_->{lr}"}++ for @r;
    is_deeply(\%so, { '200 ERROR' => scalar @r },
              "$m: 3 s of traffic, all 200 ERROR (" . @r . ' requests)')
        or diag(explain \%so);
    ok($conns <= 15, "$m: reconnects follow the backoff, not the traffic"
                     . " ($conns connections in 3 s)");

    my @down = client_lines('unavailable', $m);
    my @back = client_lines('is back', $m);
    ok(@down >= 1 && @down <= 2,
       "$m: the client logs the outage once per worker (" . @down . ')')
        or diag(join "\n", @down);
    is(scalar @back, 0, "$m: no \"redis is back\": no command ever succeeded")
        or diag(join "\n", @back[0 .. ($#back < 3 ? $#back : 3)]);

    my $log = $t->error_log;
    my @zdown = $log =~ /limit_redis: zone "\Q$m\E": redis server "\Q$m\E" unavailable/g;
    my @zback = $log =~ /limit_redis: zone "\Q$m\E": redis server "\Q$m\E" answers again/g;
    ok(@zdown >= 1 && @zdown <= 2 && @zback == 0,
       "$m: limit_redis logs one episode per worker (" . @zdown
       . ' unavailable, ' . @zback . ' answers again)');

    my @slow = grep { $_->{time} >= 0.1 } @r;
    ok(@slow <= $conns + 2,
       sprintf('%s: requests fail at once, but for one per connection'
               . ' (%d of %d took 100 ms or more)', $m, scalar @slow, scalar @r));
}

# --- each mode in turn ----------------------------------------------------------------

for my $m (@modes) {
    # the zone of a server of @storm began its episode in the test above
    my $from = (grep { $_ eq $m } @storm) ? 0 : length $t->error_log;
    my (@o, @c);
    my $st = time;
    for my $i (1 .. 12) {
        push @o, $t->get_lr("/$m?k=$i");
        push @c, $t->get_lr("/${m}_c?k=$i");
    }
    my %so; $so{"$_->{status} $_->{lr}"}++ for @o;
    my %sc; $sc{"$_->{status} $_->{lr}"}++ for @c;
    is_deeply(\%so, { '200 ERROR' => 12 }, "$m: fail open, 12 x 200 ERROR")
        or diag(explain \%so);
    is_deeply(\%sc, { '429 ERROR' => 12 }, "$m: fail closed, 12 x 429 ERROR")
        or diag(explain \%sc);
    my ($max) = sort { $b <=> $a } map { $_->{time} } @o, @c;
    ok($max < 1, sprintf('%s: each answered within timeout=150ms + margin (max %.3f s)', $m, $max));
    my $log = substr($t->error_log, $from);
    like($log, qr/limit_redis: zone "\Q$m\E": redis server "\Q$m\E" unavailable \((?:$reason{$m})/,
         "$m: the reason is logged");
}

# a fake that disagrees also on a second zone: still no crash, then the
# misbehaving servers are left alone and nginx is stopped cleanly
ok(kill(0, $t->master_pid), 'nginx master alive');
is(scalar(my @w = $t->worker_pids), 2, 'both workers alive');

done_testing;
