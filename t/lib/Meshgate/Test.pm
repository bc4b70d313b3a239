# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
package Meshgate::Test;

# Test harness for meshgate: runs a private nginx (and, when asked, a private
# redis-server) in a temporary prefix directory, speaks raw HTTP to it, and
# fails the test file when the logs show trouble (alerts, crashes, ASan).
#
#   use Test::More;
#   use Meshgate::Test;
#
#   my $t = Meshgate::Test->new(workers => 1);
#   $t->need_module_or_skip;
#   $t->start(<<'EOF');
#       server {
#           listen 127.0.0.1:%%PORT_main%%;
#           location / { return 200 "hi\n"; }
#       }
#   EOF
#   is($t->get('/')->{status}, 200, 'GET /');
#   done_testing;
#
# API:
#   new(workers => N)            temporary prefix (logs/, tmp/, conf/ inside)
#   prefix, path($rel), port($name)          ports are allocated once per name
#   write_file($rel, $text) -> abs path;  read_file($rel)
#   conf_text($snippet, %opts)   %opts: main => text for the main context,
#                                raw => whole configuration, no_module => 1
#   start($snippet, %opts)       dies (with the error log) if nginx fails
#   test_config($snippet, %opts) -> ($ok, $output)    own log, not error.log
#   reload($snippet?, %opts)     -> 1 / 0 (quiet => 1: failure expected)
#   stop                         graceful; automatic at the end of the file
#   request($method, $path, headers => [...], body => $s, port => 'main',
#           timeout => 5, host => '127.0.0.1', raw => $bytes, http10 => 1)
#       -> { status, reason, headers => { lc name => "v1, v2" },
#            header_list => [[Name, value], ...], body, raw, error, time }
#   get($path, Name => value, ...)            GET on port 'main'
#   get_lr($path, Name => value, ...)         get(), with {lr} set to the
#                                X-LR header (the tests' add_header X-LR
#                                $limit_redis_status), '' when absent
#   error_log, access_log, wait_for_log(qr//, $seconds, $which?)
#   ignore_log(qr//, ...)        lines the end-of-file check should not report
#   worker_pids, master_pid
#   start_redis(password => ..., args => [...], name => 'redis', k => v)
#       -> port;  stop_redis($port?);  redis_command($port, @cmd) -> reply
#   lr_state($port, $key)        limit_redis's state of key "zone:key" in
#                                that Redis (mg:lr:<key>), undef if none
#   need_module_or_skip, need('redis-server', 'Some::Module')
#   need_nginx_module('http_v2', ...)    skip unless the nginx binary has
#                                them built in; has_nginx_module(...) -> 0/1
#   example($file, { 8080 => 'main', ... })  -> ($text, { port => 1, ... })
#                                conf.d/<file> with each 127.0.0.1:<port>
#                                of the map on the test's own port of that
#                                name; also returns the ports it found
#
# Substitutions in snippets: %%PORT_<name>%%, %%PREFIX%%, %%MODULE%%.
#
# At the end of the file (done_testing, or END) nginx and redis are stopped
# and a test fails if error.log has [alert], [emerg] (after start-up),
# "exited on signal", a non-zero worker exit, "AddressSanitizer" or
# "runtime error:", or if <prefix>/asan.* reports exist.
#
# Environment:
#   NGINX                   nginx binary (default /usr/sbin/nginx)
#   MESHGATE_MODULE         absolute path of ngx_http_meshgate_module.so,
#                           or "builtin" for an nginx built with
#                           --add-module (NGINX names that binary)
#   MESHGATE_PRELOAD        library to LD_PRELOAD into nginx (libasan.so)
#   MESHGATE_ASAN_OPTIONS   appended to the default ASAN_OPTIONS
#   MESHGATE_KEEP=1         keep the prefix directory (its path is printed)
#   MESHGATE_KEEP_ON_FAIL=1 keep it only when the log check finds problems
#   MESHGATE_START_TIMEOUT  seconds to wait for nginx / redis to come up

use strict;
use warnings;

use Test::More ();
use Test2::API qw(test2_add_callback_testing_done test2_stack);

use Cwd qw(abs_path);
use Errno qw(EINTR);
use File::Basename qw(dirname);
use File::Path qw(make_path remove_tree);
use File::Temp qw(tempdir);
use IO::Select;
use IO::Socket::INET;
use POSIX qw(WNOHANG _exit);
use Time::HiRes qw(sleep time);

our $VERSION = '1.00';

my $OWNER_PID = $$;
my @INSTANCES;          # every harness object created by this test file
my %NGINX_V;            # nginx -V output per binary
my %USED_PORTS;         # ports handed out in this process


# The end-of-file log check runs when done_testing() finalizes the test
# (a follow-up of the root hub), or from our END block if the file never
# got that far (die, exit, no done_testing).  Whichever comes first wins.

test2_add_callback_testing_done(sub { _finish_all('done') });

END {
    my $exit = $?;
    my $late_failure = _finish_all('end');
    $? = ($late_failure && !$exit) ? 255 : $exit;
}


# ---------------------------------------------------------------------------
# construction

sub new {
    my ($class, %opt) = @_;

    my $dir = tempdir('meshgate-t-XXXXXXXX', TMPDIR => 1, CLEANUP => 0);
    $dir = abs_path($dir);

    # workers may run as another user when we are not root; let them in
    chmod 0755, $dir;

    my $self = bless {
        prefix        => $dir,
        workers       => $opt{workers} // 1,
        nginx         => $opt{nginx} // $ENV{NGINX} // '/usr/sbin/nginx',
        module        => $opt{module} // $ENV{MESHGATE_MODULE},
        ports         => {},
        redis         => [],
        running       => 0,
        master_pid    => undef,
        emerg_ranges  => [],    # [from, to) byte ranges of error.log
        ignore        => [],
        finished      => 0,
        seq           => 0,
        last_snippet  => undef,
        last_opts     => {},
    }, $class;

    make_path("$dir/logs", "$dir/tmp", "$dir/conf");

    push @INSTANCES, $self;

    Test::More::diag("meshgate test prefix: $dir") if $ENV{MESHGATE_KEEP};

    return $self;
}

sub prefix { $_[0]{prefix} }

sub module { $_[0]{module} }

sub nginx_binary { $_[0]{nginx} }

sub start_timeout {
    my $t = $ENV{MESHGATE_START_TIMEOUT} || 5;
    $t *= 2 if $ENV{MESHGATE_PRELOAD};
    return $t;
}


# ---------------------------------------------------------------------------
# skip helpers (also callable as class methods)

sub need_module_or_skip {
    my ($self) = @_;
    my $m = ref $self ? $self->{module} : $ENV{MESHGATE_MODULE};

    if (!defined $m || $m eq '') {
        Test::More::plan(skip_all => 'MESHGATE_MODULE is not set');
    }
    if ($m ne 'builtin' && !-f $m) {
        Test::More::plan(skip_all => "module $m does not exist (run make)");
    }
    return 1;
}

sub need {
    my ($self, @what) = @_;

    for my $w (@what) {
        if ($w =~ /::/) {
            next if eval "require $w; 1";
            Test::More::plan(skip_all => "Perl module $w is not installed");
        }
        next if _which($w);
        Test::More::plan(skip_all => "$w is not installed");
    }
    return 1;
}

# nginx's optional modules (ssl, http2, auth_request, ...) are chosen when
# nginx is built: a distribution's or a custom binary may lack one.  A test
# that needs one skips on such a binary rather than failing on "unknown
# directive".  Only built-in modules count: a "=dynamic" one needs its own
# load_module, which the tests do not write.
sub has_nginx_module {
    my ($self, @names) = @_;
    my $bin = ref $self ? $self->{nginx} : ($ENV{NGINX} // '/usr/sbin/nginx');

    $NGINX_V{$bin} //= `\Q$bin\E -V 2>&1` // '';

    for my $n (@names) {
        return 0 unless $NGINX_V{$bin} =~ /--with-\Q$n\E_module(?![=\w])/;
    }
    return 1;
}

sub need_nginx_module {
    my ($self, @names) = @_;

    for my $n (@names) {
        next if has_nginx_module($self, $n);
        Test::More::plan(skip_all => "nginx is built without ${n}_module");
    }
    return 1;
}

sub _which {
    my ($prog) = @_;
    return $prog if $prog =~ m{/} && -x $prog;
    for my $d (split(/:/, $ENV{PATH} // ''), '/usr/sbin', '/usr/bin',
               '/sbin', '/bin')
    {
        next unless length $d;
        return "$d/$prog" if -f "$d/$prog" && -x _;
    }
    return undef;
}


# ---------------------------------------------------------------------------
# ports and files

sub port {
    my ($self, $name) = @_;
    $name //= 'main';

    return $name if $name =~ /^\d+$/;
    return $self->{ports}{$name} //= _free_port();
}

sub _ephemeral_range {
    if (open my $fh, '<', '/proc/sys/net/ipv4/ip_local_port_range') {
        my $l = <$fh>;
        return ($1, $2) if defined $l && $l =~ /(\d+)\s+(\d+)/;
    }
    return (32768, 60999);
}

# Ports come from below the kernel's ephemeral range when possible, so that
# nginx's own outgoing connections (proxy_pass, Redis) never take a port that
# a later `listen` or reload wants.
sub _free_port {
    my ($elo, $ehi) = _ephemeral_range();
    my ($lo, $hi) = (20000, 32000);
    ($lo, $hi) = (10000, $elo - 1) if $elo - 1 < $hi && $elo > 11000;

    for (1 .. 200) {
        my $p = $lo + int(rand($hi - $lo));
        next if $USED_PORTS{$p};
        next if $p >= $elo && $p <= $ehi;
        if (_can_bind($p)) {
            $USED_PORTS{$p} = 1;
            return $p;
        }
    }

    # fall back to whatever the kernel picks
    for (1 .. 50) {
        my $s = IO::Socket::INET->new(
            LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp',
            Listen => 1) or next;
        my $p = $s->sockport;
        close $s;
        next if $USED_PORTS{$p}++;
        return $p;
    }
    die "Meshgate::Test: cannot find a free port\n";
}

sub _can_bind {
    my ($p) = @_;
    my $s = IO::Socket::INET->new(
        LocalAddr => '127.0.0.1', LocalPort => $p, Proto => 'tcp',
        Listen => 1, ReuseAddr => 1) or return 0;
    close $s;
    return 1;
}

sub path {
    my ($self, $rel) = @_;
    return $rel if $rel =~ m{^/};
    return "$self->{prefix}/$rel";
}

sub write_file {
    my ($self, $rel, $text) = @_;
    my $path = $self->path($rel);
    make_path(dirname($path));
    my $tmp = "$path.tmp.$$";
    open my $fh, '>:raw', $tmp or die "write $tmp: $!\n";
    print {$fh} $text // '';
    close $fh or die "close $tmp: $!\n";
    rename $tmp, $path or die "rename $tmp: $!\n";
    return $path;
}

sub read_file {
    my ($self, $rel) = @_;
    my $path = $self->path($rel);
    open my $fh, '<:raw', $path or return '';
    local $/;
    my $s = <$fh>;
    return $s // '';
}


# ---------------------------------------------------------------------------
# configuration

sub substitute {
    my ($self, $text) = @_;
    return '' unless defined $text;

    $text =~ s/%%PORT_(\w+)%%/$self->port($1)/ge;
    $text =~ s/%%PREFIX%%/$self->{prefix}/g;
    my $m = $self->{module} // '';
    $text =~ s/%%MODULE%%/$m/g;
    return $text;
}

sub example {
    my ($self, $name, $port_of) = @_;

    my $file = dirname(__FILE__) . "/../../../conf.d/$name";
    open my $f, '<', $file or die "conf.d/$name: $!\n";
    my $text = do { local $/; <$f> };
    close $f;

    my %seen;
    $text =~ s{127\.0\.0\.1:(\d+)\b}{
        $port_of->{$1}
            ? do { $seen{$1} = 1; "127.0.0.1:%%PORT_$port_of->{$1}%%" }
            : "127.0.0.1:$1"
    }ge;

    return ($self->substitute($text), \%seen);
}

sub conf_text {
    my ($self, $snippet, %opts) = @_;

    return $self->substitute($opts{raw}) if defined $opts{raw};

    my $p = $self->{prefix};
    my $error_log = $opts{error_log} // "$p/error.log";
    my $conf = '';

    if (!$opts{no_module} && defined $self->{module} && $self->{module} ne ''
        && $self->{module} ne 'builtin')
    {
        $conf .= "load_module $self->{module};\n\n";
    }

    my $main = $self->substitute($opts{main} // '');

    # as root, workers would run as "nobody" and could not read the files
    # tests create or write ASan reports into the prefix
    if ($> == 0 && $main !~ /^\s*user\s/m) {
        $conf .= "user root;\n";
    }

    $conf .= "worker_processes $self->{workers};\n"
        unless $main =~ /^\s*worker_processes\s/m;
    $conf .= <<"EOF";
daemon on;
master_process on;
pid $p/nginx.pid;
error_log $error_log info;

$main

events {
    worker_connections 1024;
}

http {
    access_log $p/access.log;

    client_body_temp_path $p/tmp/client_body;
    proxy_temp_path $p/tmp/proxy;
    fastcgi_temp_path $p/tmp/fastcgi;
    uwsgi_temp_path $p/tmp/uwsgi;
    scgi_temp_path $p/tmp/scgi;

EOF
    $conf .= $self->substitute($snippet // '');
    $conf .= "\n}\n";

    return $conf;
}

sub _nginx_env {
    my ($self) = @_;
    my %env;

    if (my $pre = $ENV{MESHGATE_PRELOAD}) {
        $env{LD_PRELOAD} = $pre;
        my $o = "detect_leaks=0:abort_on_error=0:log_path=$self->{prefix}/asan";
        $o .= ":$ENV{MESHGATE_ASAN_OPTIONS}"
            if defined $ENV{MESHGATE_ASAN_OPTIONS}
               && $ENV{MESHGATE_ASAN_OPTIONS} ne '';
        $env{ASAN_OPTIONS} = $o;
    }
    return %env;
}

# runs a command with stdout and stderr appended to $out_file, waits at most
# $timeout seconds; returns the exit status ($?-style) or undef on timeout
sub _run {
    my ($self, $argv, $out_file, $timeout, %env) = @_;

    my $pid = fork;
    die "fork: $!\n" unless defined $pid;

    if ($pid == 0) {
        # nginx reads listening sockets to inherit from $NGINX (binary
        # upgrade); our NGINX names the binary, so never pass it on
        delete $ENV{NGINX};
        delete $ENV{NGINX_BPF_MAPS};
        %ENV = (%ENV, %env);
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', $out_file or _exit(126);
        open STDERR, '>&', \*STDOUT or _exit(126);
        { no warnings q(exec); exec { $argv->[0] } @$argv; }
        print STDERR "exec $argv->[0]: $!\n";
        _exit(127);
    }

    my $deadline = time + $timeout;
    while (1) {
        my $r = waitpid($pid, WNOHANG);
        return $? if $r == $pid;
        if (time > $deadline) {
            kill 'KILL', $pid;
            waitpid($pid, 0);
            return undef;
        }
        sleep 0.02;
    }
}

# config_accepted($snippet, $name): nginx -t passes.
sub config_accepted {
    my ($self, $snippet, $name) = @_;
    my ($ok, $out) = $self->test_config($snippet);
    Test::More::ok($ok, "accepted: $name") or Test::More::diag($out);
}

# config_refused($snippet, $directive, $message_re, $name): nginx -t fails
# with an [emerg] that names $directive or points (file:line) at a line of
# it, and whose text matches $message_re.
sub config_refused {
    my ($self, $snippet, $directive, $re, $name) = @_;
    my ($ok, $out) = $self->test_config($snippet);

    my ($file, $line) = $out =~ /\[emerg\].* in (\S+):(\d+)/;
    my $text;
    if (defined $file && open my $fh, '<', $file) {
        my @lines = <$fh>;
        $text = $lines[$line - 1];
    }

    Test::More::subtest("refused: $name" => sub {
        Test::More::ok(!$ok, 'nginx -t fails');
        Test::More::like($out, qr/\[emerg\]/, 'an [emerg] message');
        Test::More::unlike($out, qr/unknown directive/,
                           'module directives known');
        my $word = qr/(?<![\w-])\Q$directive\E(?![\w-])/;
        Test::More::ok(($text // '') =~ /^\s*$word\s/
                       || $out =~ /\[emerg\][^\n]*$word/,
                       "names $directive or points at its line")
            or Test::More::diag('line ' . ($line // '?') . ': '
                                . ($text // ''));
        Test::More::like($out, $re, "message matches $re");
        Test::More::unlike($out, qr/signal|Segmentation|AddressSanitizer/,
                           'no crash');
    }) or Test::More::diag($out);
}

sub test_config {
    my ($self, $snippet, %opts) = @_;

    my $n = ++$self->{seq};
    my $p = $self->{prefix};
    my $log = "$p/test_config.$n.log";
    my $out = "$p/test_config.$n.out";
    my $file = "$p/conf/test_config.$n.conf";

    my $conf = $self->conf_text($snippet, %opts, error_log => $log);
    $self->write_file($file, $conf);
    unlink $out;

    my $st = $self->_run([$self->{nginx}, '-t', '-p', "$p/", '-c', $file,
                          '-e', $log], $out, 30, $self->_nginx_env);

    my $output = $self->read_file($out);
    my $ok = defined $st && $st == 0 ? 1 : 0;
    $output .= "\n(nginx -t timed out)\n" unless defined $st;

    return wantarray ? ($ok, $output) : $ok;
}


# ---------------------------------------------------------------------------
# nginx process control

sub conf_file { "$_[0]{prefix}/nginx.conf" }

sub error_log_file { "$_[0]{prefix}/error.log" }

sub access_log_file { "$_[0]{prefix}/access.log" }

sub _log_size {
    my ($self) = @_;
    return -s $self->error_log_file // 0;
}

sub _read_pid {
    my ($self) = @_;
    open my $fh, '<', "$self->{prefix}/nginx.pid" or return undef;
    my $pid = <$fh>;
    return undef unless defined $pid && $pid =~ /^(\d+)/;
    return $1;
}

sub _alive {
    my ($pid) = @_;
    return 0 unless $pid;
    return 0 unless kill 0, $pid;
    # a zombie is not alive
    if (open my $fh, '<', "/proc/$pid/stat") {
        my $s = <$fh> // '';
        return 0 if $s =~ /\)\s+Z\s/;
    }
    return 1;
}

# pids of the worker processes of the running master (from /proc)
sub worker_pids {
    my ($self) = @_;
    my $master = $self->{master_pid} or return ();
    my @pids;

    opendir my $d, '/proc' or return ();
    for my $pid (grep { /^\d+$/ } readdir $d) {
        open my $fh, '<', "/proc/$pid/stat" or next;
        my $stat = <$fh> // next;
        next unless $stat =~ /\)\s+(\S)\s+(\d+)/;
        my ($state, $ppid) = ($1, $2);
        next unless $ppid == $master;
        next if $state eq 'Z';
        open my $c, '<', "/proc/$pid/cmdline" or next;
        local $/;
        my $cmd = <$c> // '';
        next unless $cmd =~ /worker process/;
        push @pids, $pid + 0;
    }
    closedir $d;
    return sort { $a <=> $b } @pids;
}

sub master_pid { $_[0]{master_pid} }

sub _listen_ports {
    my ($conf) = @_;
    my %ports;

    # drop comments first
    (my $c = $conf) =~ s/#[^\n]*//g;

    while ($c =~ /(?:^|[;{}\s])listen\s+([^;\s]+)[^;]*;/g) {
        my $a = $1;
        next if $a =~ /^unix:/;
        if ($a =~ /^(\d+)$/) {
            $ports{$1} = '127.0.0.1';
        } elsif ($a =~ /^\[([^\]]+)\]:(\d+)$/) {
            $ports{$2} = $1;
        } elsif ($a =~ /^([^:]+):(\d+)$/) {
            my ($h, $p) = ($1, $2);
            $h = '127.0.0.1' if $h eq '*' || $h eq '0.0.0.0' || $h eq 'localhost';
            $ports{$p} = $h;
        }
    }
    return %ports;
}

sub _can_connect {
    my ($host, $port) = @_;
    return 0 if $host =~ /:/;       # IPv6: do not wait for it
    my $s = IO::Socket::INET->new(PeerAddr => $host, PeerPort => $port,
                                  Proto => 'tcp', Timeout => 1);
    return 0 unless $s;
    close $s;
    return 1;
}

sub _wait_up {
    my ($self, $conf, $what) = @_;
    my %ports = _listen_ports($conf);
    my $deadline = time + $self->start_timeout;

    while (1) {
        my @missing = grep { !_can_connect($ports{$_}, $_) } sort keys %ports;
        my @w = $self->worker_pids;
        $self->{seen_workers}{$_} = 1 for @w;
        my $master_ok = _alive($self->{master_pid});

        return 1 if $master_ok && !@missing && @w >= $self->_expected_workers($conf);

        if (!$master_ok || time > $deadline) {
            my $why = !$master_ok ? 'nginx master exited'
                : @missing ? "ports not accepting: @missing"
                : 'workers did not start (' . scalar(@w) . ')';
            return (0, $why);
        }
        sleep 0.05;
    }
}

sub _expected_workers {
    my ($self, $conf) = @_;
    if ($conf =~ /^\s*worker_processes\s+(\d+)\s*;/m) {
        return $1;
    }
    return 1 if $conf =~ /^\s*worker_processes\s+auto\s*;/m;
    return 1 if $conf =~ /^\s*master_process\s+off\s*;/m;
    return 1;
}

sub _fail_start {
    my ($self, $what, $why, $out, $from) = @_;
    my $log = $self->error_log;
    $log = substr($log, $from) if defined $from && $from <= length $log;
    my $msg = "Meshgate::Test: $what failed: $why\n"
        . ($out ne '' ? "--- nginx output:\n$out" : '')
        . "--- error log:\n$log\n";
    Test::More::diag($msg);
    $self->_kill_hard;
    die $msg;
}

sub start {
    my ($self, $snippet, %opts) = @_;

    die "Meshgate::Test: nginx already running; stop() it or reload()\n"
        if $self->{running};

    my $conf = $self->conf_text($snippet, %opts);
    $self->write_file($self->conf_file, $conf);
    $self->{last_snippet} = $snippet;
    $self->{last_opts} = {%opts};

    my $p = $self->{prefix};
    unlink "$p/nginx.pid";
    my $from = $self->_log_size;
    my $out_file = "$p/nginx.out";
    my $out_from = -s $out_file // 0;

    my $st = $self->_run([$self->{nginx}, '-p', "$p/", '-c', $self->conf_file,
                          '-e', $self->error_log_file],
                         $out_file, 30, $self->_nginx_env);
    my $out = substr($self->read_file($out_file), $out_from);

    if (!defined $st || $st != 0) {
        $self->_fail_start('start', defined $st
            ? 'nginx exited with status ' . ($st >> 8) : 'nginx hung',
            $out, $from);
    }

    # the foreground process exits once the daemon is forked; wait for the
    # pid file of the daemon
    my $deadline = time + $self->start_timeout;
    my $pid;
    while (!($pid = $self->_read_pid) || !_alive($pid)) {
        if (time > $deadline) {
            $self->_fail_start('start', 'no pid file / master', $out, $from);
        }
        sleep 0.02;
    }
    $self->{master_pid} = $pid;
    $self->{running} = 1;

    my ($ok, $why) = $self->_wait_up($conf);
    $self->_fail_start('start', $why, $out, $from) unless $ok;

    push @{$self->{emerg_ranges}}, [$self->_log_size, undef];

    return $self;
}

sub reload {
    my ($self, $snippet, %opts) = @_;

    die "Meshgate::Test: reload() without a running nginx\n"
        unless $self->{running};

    # quiet => 1: a failure is expected, do not diag it
    my $quiet = delete $opts{quiet};
    my $say = $quiet ? \&Test::More::note : \&Test::More::diag;

    my $conf;
    if (defined $snippet || %opts) {
        $snippet //= $self->{last_snippet};
        %opts = %{$self->{last_opts}} unless %opts;
        $conf = $self->conf_text($snippet, %opts);
        $self->write_file($self->conf_file, $conf);
        $self->{last_snippet} = $snippet;
        $self->{last_opts} = {%opts};
    } else {
        $conf = $self->read_file($self->conf_file);
    }

    my %old = map { $_ => 1 } $self->worker_pids;
    my $from = $self->_log_size;
    my $want = $self->_expected_workers($conf);

    kill 'HUP', $self->{master_pid}
        or die "Meshgate::Test: cannot signal nginx master: $!\n";

    my $deadline = time + 2 * $self->start_timeout;
    while (1) {
        my @now = $self->worker_pids;
        $self->{seen_workers}{$_} = 1 for @now;
        my @new = grep { !$old{$_} } @now;
        my @left = grep { $old{$_} } @now;

        last if @new >= $want && !@left;

        my $log = substr($self->error_log, $from);
        if ($log =~ /\[emerg\]/) {
            $say->("reload failed:\n$log");
            return 0;
        }
        if (!_alive($self->{master_pid})) {
            $say->("nginx master died on reload:\n$log");
            push @{$self->{problems}}, 'nginx master died on reload';
            $self->_kill_hard;
            return 0;
        }
        if (time > $deadline) {
            $say->("reload did not complete in time (new: @new, "
                . "old left: @left):\n$log");
            return 0;
        }
        sleep 0.05;
    }

    my ($ok, $why) = $self->_wait_up($conf);
    if (!$ok) {
        $say->("after reload: $why");
        return 0;
    }
    return 1;
}

sub stop {
    my ($self) = @_;
    return 1 unless $self->{running};

    my $pid = $self->{master_pid};
    my $ok = 1;

    if (_alive($pid)) {
        kill 'QUIT', $pid;
        my $deadline = time + 2 * $self->start_timeout;
        while (_alive($pid) && time < $deadline) {
            sleep 0.05;
        }
        if (_alive($pid)) {
            push @{$self->{problems}}, "nginx master $pid did not exit on QUIT";
            $self->_kill_hard;
            $ok = 0;
        }
    } else {
        push @{$self->{problems}},
            "nginx master " . ($pid // '?') . " was gone before stop()";
        $self->_kill_hard;
        $ok = 0;
    }

    $self->{running} = 0;
    if (@{$self->{emerg_ranges}} && !defined $self->{emerg_ranges}[-1][1]) {
        $self->{emerg_ranges}[-1][1] = $self->_log_size;
    }
    return $ok;
}

sub _kill_hard {
    my ($self) = @_;
    # workers still children of the master, and any seen earlier that are
    # still nginx processes (orphans of a dead master)
    my %w = map { $_ => 1 } $self->worker_pids;
    for my $p (keys %{$self->{seen_workers} || {}}) {
        next unless open my $c, '<', "/proc/$p/cmdline";
        local $/;
        my $cmd = <$c> // '';
        $w{$p} = 1 if $cmd =~ /^nginx: worker process/;
    }
    my @w = keys %w;
    my $pid = $self->{master_pid} // $self->_read_pid;
    for my $sig ('TERM', 'KILL') {
        kill $sig, grep { _alive($_) } ($pid // (), @w);
        my $deadline = time + 2;
        while (time < $deadline && grep { _alive($_) } ($pid // (), @w)) {
            sleep 0.05;
        }
    }
    $self->{running} = 0;
}


# ---------------------------------------------------------------------------
# HTTP client

sub request {
    my ($self, $method, $path, %o) = @_;

    my $port = $self->port($o{port} // 'main');
    my $host = $o{host} // '127.0.0.1';
    my $timeout = $o{timeout} // 5;

    my $req;
    if (defined $o{raw}) {
        $req = $o{raw};
    } else {
        my @h = @{$o{headers} || []};
        my %have;
        for (my $i = 0; $i < @h; $i += 2) {
            $have{lc $h[$i]} = 1;
        }
        my $proto = $o{http10} ? 'HTTP/1.0' : 'HTTP/1.1';
        $req = "$method $path $proto\r\n";
        $req .= "Host: localhost\r\n" unless $have{host};
        $req .= "Connection: close\r\n" unless $have{connection};
        if (defined $o{body} && !$have{'content-length'}
            && !$have{'transfer-encoding'})
        {
            $req .= 'Content-Length: ' . length($o{body}) . "\r\n";
        }
        for (my $i = 0; $i < @h; $i += 2) {
            $req .= "$h[$i]: " . ($h[$i + 1] // '') . "\r\n";
        }
        $req .= "\r\n";
        $req .= $o{body} if defined $o{body};
    }

    my $started = time;
    my $s = IO::Socket::INET->new(PeerAddr => $host, PeerPort => $port,
                                  Proto => 'tcp', Timeout => $timeout);
    if (!$s) {
        return { status => undef, headers => {}, header_list => [],
                 body => '', raw => '', error => "connect: $!" };
    }
    binmode $s;
    $s->autoflush(1);

    my $deadline = $started + $timeout;
    my $sel = IO::Select->new($s);
    my $error;

    # write
    my $off = 0;
    while ($off < length $req) {
        my $left = $deadline - time;
        if ($left <= 0) { $error = 'timeout while sending'; last }
        next unless IO::Select->new($s)->can_write($left);
        my $n = syswrite($s, $req, length($req) - $off, $off);
        if (!defined $n) {
            next if $! == EINTR;
            # the server may answer and close early (e.g. 413, 400)
            $error = "send: $!";
            last;
        }
        $off += $n;
    }

    # read to close
    my $raw = '';
    while (1) {
        my $left = $deadline - time;
        if ($left <= 0) { $error = 'timeout'; last }
        my @r = $sel->can_read($left);
        next unless @r;
        my $n = sysread($s, my $buf, 65536);
        if (!defined $n) {
            next if $! == EINTR;
            $error = "recv: $!";
            last;
        }
        last if $n == 0;
        $raw .= $buf;
    }
    close $s;

    my $r = _parse_response($raw, $method);
    $r->{error} = $error if defined $error;
    $r->{error} //= 'connection closed without a response' if $raw eq '';
    $r->{error} //= 'malformed or incomplete response'
        if !defined $r->{status} || !$r->{complete};
    $r->{time} = time - $started;
    return $r;
}

sub _parse_response {
    my ($raw, $method) = @_;
    my %r = (status => undef, headers => {}, header_list => [], body => '',
             raw => $raw);

    my $i = index($raw, "\r\n\r\n");
    return \%r if $i < 0;

    my $head = substr($raw, 0, $i);
    my $rest = substr($raw, $i + 4);

    my @lines = split /\r\n/, $head;
    my $sl = shift @lines // '';
    return \%r unless $sl =~ m{^HTTP/\d\.\d\s+(\d{3})(?:\s+(.*))?$};
    $r{status} = $1 + 0;
    $r{reason} = $2 // '';

    for my $l (@lines) {
        next unless $l =~ /^([^:]+):[ \t]*(.*?)[ \t]*$/;
        my ($n, $v) = (lc $1, $2);
        push @{$r{header_list}}, [$1, $v];
        $r{headers}{$n} = exists $r{headers}{$n}
            ? "$r{headers}{$n}, $v" : $v;
    }

    my $h = $r{headers};
    if (uc($method // '') eq 'HEAD' || $r{status} == 204
        || $r{status} == 304 || $r{status} < 200)
    {
        $r{body} = '';
        $r{complete} = 1;
    } elsif (($h->{'transfer-encoding'} // '') =~ /chunked/i) {
        my $body = '';
        my $ok = 0;
        while ($rest =~ s/^([0-9a-fA-F]+)[^\r\n]*\r\n//) {
            my $len = hex $1;
            if ($len == 0) { $ok = 1; last }
            last if length($rest) < $len;
            $body .= substr($rest, 0, $len);
            $rest = substr($rest, $len);
            $rest =~ s/^\r\n//;
        }
        $r{body} = $body;
        $r{complete} = 1 if $ok;
    } elsif (defined $h->{'content-length'}
             && $h->{'content-length'} =~ /^(\d+)/)
    {
        $r{body} = substr($rest, 0, $1);
        $r{complete} = 1 if length($rest) >= $1;
    } else {
        $r{body} = $rest;
        $r{complete} = 1;
    }
    return \%r;
}

sub get {
    my ($self, $path, @headers) = @_;
    return $self->request('GET', $path, headers => \@headers);
}


# ---------------------------------------------------------------------------
# logs

sub get_lr {
    my ($self, $path, @headers) = @_;
    my $r = $self->get($path, @headers);
    $r->{lr} = $r->{headers}{'x-lr'} // '';
    return $r;
}

sub error_log { $_[0]->read_file($_[0]->error_log_file) }

sub access_log { $_[0]->read_file($_[0]->access_log_file) }

sub wait_for_log {
    my ($self, $re, $seconds, $which) = @_;
    $seconds //= 5;
    my $file = defined $which && $which eq 'access' ? $self->access_log_file
             : defined $which ? $self->path($which)
             : $self->error_log_file;
    my $deadline = time + $seconds;
    while (1) {
        return 1 if $self->read_file($file) =~ $re;
        return 0 if time > $deadline;
        sleep 0.05;
    }
}

# lines matching $re are not reported by the end-of-file log check
sub ignore_log {
    my ($self, @re) = @_;
    push @{$self->{ignore}}, @re;
    return $self;
}


# ---------------------------------------------------------------------------
# redis

sub lr_state {
    my ($self, $port, $key) = @_;
    return $self->redis_command($port, 'GET', "mg:lr:$key");
}

sub start_redis {
    my ($self, %o) = @_;

    my $bin = _which($o{binary} // 'redis-server')
        or die "Meshgate::Test: redis-server not found\n";
    my $port = $self->port($o{name} // 'redis');
    my $p = $self->{prefix};
    my $log = "$p/redis-$port.log";

    my @argv = ($bin, '--port', $port, '--bind', '127.0.0.1',
                '--save', '', '--appendonly', 'no', '--daemonize', 'no',
                '--dir', $p);
    push @argv, '--requirepass', $o{password} if defined $o{password};
    push @argv, @{$o{args}} if $o{args};

    # any other option: --name value
    for my $k (sort keys %o) {
        next if $k =~ /^(?:name|password|args|binary)$/;
        push @argv, "--$k", (ref $o{$k} eq 'ARRAY' ? @{$o{$k}} : $o{$k});
    }

    my $pid = fork;
    die "fork: $!\n" unless defined $pid;
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', $log or _exit(126);
        open STDERR, '>&', \*STDOUT or _exit(126);
        { no warnings q(exec); exec { $argv[0] } @argv; }
        print STDERR "exec $argv[0]: $!\n";
        _exit(127);
    }

    my $r = { pid => $pid, port => $port, password => $o{password},
              log => $log };
    push @{$self->{redis}}, $r;

    my $deadline = time + $self->start_timeout;
    while (1) {
        my $reply = eval { $self->redis_command($port, 'PING') };
        last if defined $reply && $reply eq 'PONG';
        if (waitpid($pid, WNOHANG) == $pid || time > $deadline) {
            my $text = $self->read_file($log);
            $self->stop_redis($port);
            die "Meshgate::Test: redis-server did not start:\n$text\n";
        }
        sleep 0.05;
    }
    return $port;
}

sub stop_redis {
    my ($self, $port) = @_;
    my @keep;
    for my $r (@{$self->{redis}}) {
        if (defined $port && $r->{port} != $self->port($port)) {
            push @keep, $r;
            next;
        }
        if (waitpid($r->{pid}, WNOHANG) == 0) {
            kill 'TERM', $r->{pid};
            my $deadline = time + 5;
            while (waitpid($r->{pid}, WNOHANG) == 0) {
                if (time > $deadline) {
                    kill 'KILL', $r->{pid};
                    waitpid($r->{pid}, 0);
                    last;
                }
                sleep 0.02;
            }
        }
    }
    $self->{redis} = \@keep;
    return 1;
}

# a minimal RESP client: redis_command($port, 'GET', 'k') -> reply
# (status/bulk as string, integer as number, array as arrayref, nil as undef;
# an error reply dies)
sub redis_command {
    my ($self, $port, @cmd) = @_;
    $port = $self->port($port);

    my ($info) = grep { $_->{port} == $port } @{$self->{redis}};
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 2)
        or die "redis connect: $!\n";
    binmode $s;

    my $enc = sub {
        my @a = @_;
        my $x = '*' . scalar(@a) . "\r\n";
        $x .= '$' . length($_) . "\r\n$_\r\n" for @a;
        return $x;
    };

    my $pending = 1;
    my $out = '';
    if ($info && defined $info->{password}) {
        $out .= $enc->('AUTH', $info->{password});
        $pending++;
    }
    $out .= $enc->(@cmd);
    print {$s} $out;

    my $buf = '';
    my $deadline = time + 5;
    my $read = sub {
        my $sel = IO::Select->new($s);
        while (1) {
            die "redis: timeout\n" if time > $deadline;
            next unless $sel->can_read(0.2);
            my $n = sysread($s, my $chunk, 65536);
            die "redis: connection closed\n" unless $n;
            $buf .= $chunk;
            return;
        }
    };

    my $parse;
    $parse = sub {
        while (index($buf, "\r\n") < 0) { $read->() }
        my $i = index($buf, "\r\n");
        my $line = substr($buf, 0, $i);
        substr($buf, 0, $i + 2) = '';
        my ($t, $v) = (substr($line, 0, 1), substr($line, 1));
        return $v if $t eq '+';
        die "redis error: $v\n" if $t eq '-';
        return $v + 0 if $t eq ':';
        if ($t eq '$') {
            return undef if $v < 0;
            $read->() while length($buf) < $v + 2;
            my $d = substr($buf, 0, $v);
            substr($buf, 0, $v + 2) = '';
            return $d;
        }
        if ($t eq '*') {
            return undef if $v < 0;
            return [map { $parse->() } 1 .. $v];
        }
        die "redis: bad reply '$line'\n";
    };

    my $reply;
    $reply = $parse->() for 1 .. $pending;
    close $s;
    undef $parse;
    return $reply;
}


# ---------------------------------------------------------------------------
# end-of-file check

sub _problems {
    my ($self) = @_;
    my @p = @{$self->{problems} || []};
    my @ignore = @{$self->{ignore}};
    my $ignored = sub {
        my ($l) = @_;
        for my $re (@ignore) { return 1 if $l =~ $re }
        return 0;
    };

    my $log = $self->error_log;
    my $pos = 0;
    for my $line (split /\n/, $log) {
        my $start = $pos;
        $pos += length($line) + 1;
        next if $ignored->($line);

        if ($line =~ /\[alert\]/
            || $line =~ /exited on signal/
            || $line =~ /exited with (?:fatal )?code [1-9]/
            || $line =~ /AddressSanitizer|LeakSanitizer|runtime error:/)
        {
            push @p, "error.log: $line";
            next;
        }
        if ($line =~ /\[emerg\]/) {
            for my $r (@{$self->{emerg_ranges}}) {
                my $to = $r->[1] // ~0;
                if ($start >= $r->[0] && $start < $to) {
                    push @p, "error.log: $line";
                    last;
                }
            }
        }
    }

    my $p = $self->{prefix};
    for my $f (glob("$p/nginx.out"), glob("$p/test_config.*.out"),
               glob("$p/test_config.*.log"))
    {
        for my $line (split /\n/, $self->read_file($f)) {
            next if $ignored->($line);
            push @p, (substr($f, length($p) + 1) . ": $line")
                if $line =~ /AddressSanitizer|LeakSanitizer|runtime error:/
                   || $line =~ /exited on signal/;
        }
    }

    for my $f (glob("$p/asan.*")) {
        my $text = $self->read_file($f);
        my @l = split /\n/, $text;
        splice(@l, 60) if @l > 60;
        push @p, "ASan report " . substr($f, length($p) + 1) . ":",
            map { "  $_" } @l;
    }

    return @p;
}

sub _finish_all {
    my ($when) = @_;
    return 0 unless $$ == $OWNER_PID;

    my @todo = grep { !$_->{finished} } @INSTANCES;
    return 0 unless @todo;

    my @problems;
    my $started = 0;

    for my $t (@todo) {
        $t->{finished} = 1;
        $started ||= @{$t->{emerg_ranges}} || $t->{running};
        eval { $t->stop; 1 } or push @{$t->{problems}}, "stop: $@";
        eval { $t->stop_redis; 1 };
        my @p = eval { $t->_problems };
        push @p, "log check failed: $@" if $@;
        push @problems, [$t, @p] if @p;
    }

    # report
    my ($hub) = eval { test2_stack()->all };
    my $plan = $hub ? $hub->plan : undef;
    my $can_test = $hub && !$hub->ended
        && !(defined $plan && $plan eq 'SKIP')
        && !(defined $hub->skip_reason)
        && !$hub->bailed_out;

    for my $pr (@problems) {
        my ($t, @p) = @$pr;
        my @show = @p > 80 ? (@p[0 .. 79], '... (' . (@p - 80) . ' more)') : @p;
        Test::More::diag("nginx log problems in $t->{prefix}:\n"
            . join("\n", map { "  $_" } @show));
    }

    if ($can_test && @problems) {
        Test::More::ok(0, 'no alerts, crashes or sanitizer reports in logs');
    } elsif ($can_test && $started && !(defined $plan && $plan =~ /^\d+$/)) {
        # with a fixed plan an extra passing test would break the count
        Test::More::ok(1, 'no alerts, crashes or sanitizer reports in logs');
    }

    my $late_failure = 0;
    if (@problems && !$can_test) {
        # too late to add a test: make the file fail through the exit code
        $late_failure = 1;
        Test::More::diag('log problems found after testing had finished');
    }

    for my $t (@todo) {
        if ($ENV{MESHGATE_KEEP} || (@problems && $ENV{MESHGATE_KEEP_ON_FAIL})) {
            Test::More::diag("kept prefix: $t->{prefix}");
            next;
        }
        remove_tree($t->{prefix}, { safe => 1 });
    }
    return $late_failure;
}

1;
