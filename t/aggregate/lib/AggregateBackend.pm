# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
package AggregateBackend;

# A small HTTP/1.1 service for the aggregate tests, in a process of its own
# on 127.0.0.1, doing what an nginx location cannot:
#
#   GET /barrier/N/GROUP/NAME
#                           held until N requests to /barrier/N/GROUP/ are
#                           in, then all answered {"name":"NAME",
#                           "waited":N}: parts sent one after the other
#                           never get there
#   GET /sleep/MS/NAME      {"name":"NAME","slept":MS} after MS milliseconds
#   GET /stall/NAME         read, never answered (until nginx gives up)
#   GET /trickle/MS/NAME    half of {"name":"NAME",...} at once, the rest
#                           MS milliseconds later
#   GET /headers            {"headers":{name: value, ...}}, names lowercase
#   GET /gzip               a body with Content-Encoding: gzip
#   GET /close              closes the connection without an answer
#   GET /status/CODE        {"status":CODE} with that status
#   GET /stats              {"requests":N,"closed_early":N,"open":N}:
#                           requests received, connections nginx closed
#                           before they were answered, and those open and
#                           unanswered now (this one left out)
#   GET /json/TEXT          TEXT (URI-decoded) as the body, application/json
#   GET /echo/...           {"target":"..."}: the request target as sent
#   GET /line/...           {"line":"..."}: the whole request line as
#                           received, bytes outside printable ASCII as
#                           \u00XX
#
# Every answer closes its connection.
#
#   my $b = AggregateBackend->start($port);   # returns once it listens
#   $b->stop;                                 # also done at exit

use strict;
use warnings;

use Errno qw(EAGAIN EINTR EWOULDBLOCK);
use IO::Select;
use IO::Socket::INET;
use POSIX qw(_exit WNOHANG);
use Time::HiRes qw(time sleep);

my @RUNNING;

sub start {
    my ($class, $port) = @_;

    my $listen = IO::Socket::INET->new(
        LocalAddr => '127.0.0.1', LocalPort => $port, Proto => 'tcp',
        Listen => 128, ReuseAddr => 1)
        or die "AggregateBackend: listen on $port: $!\n";

    my $pid = fork;
    die "fork: $!\n" unless defined $pid;

    if ($pid == 0) {
        eval { serve($listen) };
        print STDERR "AggregateBackend: $@" if $@;
        _exit(0);
    }

    close $listen;

    my $self = bless { pid => $pid, port => $port }, $class;
    push @RUNNING, $self;
    return $self;
}

sub stop {
    my ($self) = @_;
    return unless $self->{pid};
    kill 'TERM', $self->{pid};
    waitpid($self->{pid}, 0);
    $self->{pid} = undef;
}

END {
    $_->stop for @RUNNING;
}


# ---------------------------------------------------------------------------
# the server (in the child)

my (%conn, @timers, %barrier, $requests, $closed_early);

sub serve {
    my ($listen) = @_;

    $SIG{TERM} = sub { _exit(0) };
    $SIG{PIPE} = 'IGNORE';

    $listen->blocking(0);
    my $sel = IO::Select->new($listen);
    $requests = 0;
    $closed_early = 0;

    while (1) {
        my $wait = 1;
        if (@timers) {
            @timers = sort { $a->[0] <=> $b->[0] } @timers;
            $wait = $timers[0][0] - time;
            $wait = 0 if $wait < 0;
        }

        my @ready = $sel->can_read($wait);

        for my $s (@ready) {
            if ($s == $listen) {
                while (my $c = $listen->accept) {
                    $c->blocking(0);
                    $conn{fileno $c} = { sock => $c, in => '', held => 0 };
                    $sel->add($c);
                }
                next;
            }

            my $st = $conn{fileno $s} or next;
            my $n = sysread($s, my $buf, 65536);

            if (!defined $n) {
                next if $! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR;
                $n = 0;
            }

            if ($n == 0) {
                # the peer closed: before an answer, that is nginx giving up
                $closed_early++ if $st->{held};
                drop($sel, $s);
                next;
            }

            next if $st->{held};

            $st->{in} .= $buf;
            next unless $st->{in} =~ /\r\n\r\n/;

            my ($line, @hdr) = split /\r\n/, substr($st->{in}, 0,
                                                    index($st->{in}, "\r\n\r\n"));
            my ($method, $path) = split / /, $line;
            my %h;
            for (@hdr) {
                $h{lc $1} = $2 if /^([^:]+):\s*(.*)$/;
            }

            $requests++;
            $st->{held} = 1;
            route($sel, $s, $path, \%h, $line);
        }

        my $now = time;
        while (@timers && $timers[0][0] <= $now) {
            my $t = shift @timers;
            $t->[1]->();
        }
    }
}

sub drop {
    my ($sel, $s) = @_;
    for my $k (keys %barrier) {
        $barrier{$k} = [grep { $_->[0] != $s } @{$barrier{$k}}];
    }
    delete $conn{fileno $s};
    $sel->remove($s);
    close $s;
}

# the connection is still there (a closed one has no fileno any more)
sub alive {
    my ($s) = @_;
    my $fd = fileno $s;
    return defined $fd && $conn{$fd} && $conn{$fd}{sock} == $s;
}

sub answer {
    my ($sel, $s, $status, $body, %o) = @_;
    return unless alive($s);

    my $type = $o{type} // 'application/json';
    my $head = "HTTP/1.1 $status X\r\nContent-Type: $type\r\n"
        . 'Content-Length: ' . length($body) . "\r\nConnection: close\r\n";
    $head .= "$_\r\n" for @{$o{headers} || []};
    $head .= "\r\n";

    write_all($s, $head . $body);
    $conn{fileno $s}{held} = 0;
    drop($sel, $s);
}

sub write_all {
    my ($s, $data) = @_;
    $s->blocking(1);
    my $off = 0;
    while ($off < length $data) {
        my $n = syswrite($s, $data, length($data) - $off, $off);
        last unless defined $n;
        $off += $n;
    }
    $s->blocking(0);
}

sub later {
    my ($ms, $cb) = @_;
    push @timers, [time + $ms / 1000, $cb];
}

sub route {
    my ($sel, $s, $path, $h, $line) = @_;

    if ($path =~ m{^/barrier/(\d+)/([\w-]+)/([\w-]+)}) {
        my ($n, $key, $name) = ($1, "$1/$2", $3);
        push @{$barrier{$key}}, [$s, $name];
        if (@{$barrier{$key}} >= $n) {
            for my $w (@{delete $barrier{$key}}) {
                answer($sel, $w->[0], 200,
                       qq({"name":"$w->[1]","waited":$n}));
            }
        }
        return;
    }

    if ($path =~ m{^/sleep/(\d+)/([\w-]+)}) {
        my ($ms, $name) = ($1, $2);
        later($ms, sub {
            answer($sel, $s, 200, qq({"name":"$name","slept":$ms}));
        });
        return;
    }

    return if $path =~ m{^/stall/};

    if ($path =~ m{^/trickle/(\d+)/([\w-]+)}) {
        my ($ms, $name) = ($1, $2);
        my $body = qq({"name":"$name","pad":") . ('x' x 4000) . '"}';
        my $half = int(length($body) / 2);
        write_all($s, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                      . 'Content-Length: ' . length($body)
                      . "\r\nConnection: close\r\n\r\n"
                      . substr($body, 0, $half));
        later($ms, sub {
            return unless alive($s);
            write_all($s, substr($body, $half));
            $conn{fileno $s}{held} = 0;
            drop($sel, $s);
        });
        return;
    }

    if ($path eq '/headers') {
        my $json = join ',', map {
            my $v = $h->{$_};
            $v =~ s/(["\\])/\\$1/g;
            qq("$_":"$v")
        } sort keys %$h;
        answer($sel, $s, 200, qq({"headers":{$json}}));
        return;
    }

    if ($path eq '/gzip') {
        answer($sel, $s, 200, "\x1f\x8b\x08\x00not really",
               headers => ['Content-Encoding: gzip']);
        return;
    }

    if ($path eq '/close') {
        $conn{fileno $s}{held} = 0;
        drop($sel, $s);
        return;
    }

    if ($path =~ m{^/status/(\d+)}) {
        answer($sel, $s, $1, qq({"status":$1}));
        return;
    }

    if ($path eq '/stats') {
        my $open = grep { $_->{held} } values %conn;
        $open--;
        answer($sel, $s, 200, qq({"requests":$requests,)
                              . qq("closed_early":$closed_early,"open":$open}));
        return;
    }

    if ($path =~ m{^/echo/}) {
        (my $target = $path) =~ s/(["\\])/\\$1/g;
        answer($sel, $s, 200, qq({"target":"$target"}));
        return;
    }

    if ($path =~ m{^/line/}) {
        $line =~ s/(["\\])/\\$1/g;
        $line =~ s/([^\x20-\x7e])/sprintf('\\u%04x', ord $1)/ge;
        answer($sel, $s, 200, qq({"line":"$line"}));
        return;
    }

    if ($path =~ m{^/json/(.*)$}s) {
        (my $text = $1) =~ s/%([0-9A-Fa-f]{2})/chr hex $1/ge;
        answer($sel, $s, 200, $text);
        return;
    }

    answer($sel, $s, 404, '{"error":"no such route"}');
}

1;
