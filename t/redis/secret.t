#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# The password of redis_server never reaches a log: not in configuration
# errors (a bad parameter next to it, the password given twice, a
# misspelt "password="), not at run time when Redis refuses it (a wrong
# password; a Redis whose AUTH error repeats the password, as "unknown
# command" errors repeat their arguments), not in the debug log.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Test::More;
use Time::HiRes qw(time sleep);
use Meshgate::Test;

my $t = Meshgate::Test->new(workers => 1);
$t->need_module_or_skip;
$t->need('redis-server');

# --- configuration errors ----------------------------------------------------------

my @bad = (
    ['password=Conf1Secret db=x',                   qr/invalid value "db=x"/,
     'a bad value next to the password'],
    ['password=Conf2Secret timeout=0',              qr/invalid value "timeout=0"/,
     'a bad timeout next to the password'],
    ['password=Conf3Secret fast',                   qr/invalid parameter "fast"/,
     'an unknown flag next to the password'],
    ['password=Conf4Secret password=Conf4Other',    qr/duplicate parameter "password=\.\.\."/,
     'the password twice'],
    ['pasword=Conf5Secret',                         qr/invalid parameter "pasword=\.\.\."/,
     'a misspelt password='],
    ['passwd=Conf6Secret db=1',                     qr/invalid parameter "passwd=\.\.\."/,
     'another misspelling'],
    ['password=Conf7Secret connections=0',          qr/connections=0/,
     'bad connections= next to the password'],
);

for my $b (@bad) {
    my ($params, $re, $what) = @$b;
    my ($secret) = $params =~ /(Conf\d\w+)/;
    my ($ok, $out) = $t->test_config(
        "redis_server r 127.0.0.1:6379 $params;\n"
        . "    limit_redis_zone \$arg_k zone=z rate=1r/s redis=r;\n");
    ok(!$ok, "$what: nginx -t fails");
    like($out, $re, "$what: the message names the parameter");
    unlike($out, qr/Conf\d\w+/, "$what: the password is not shown")
        or diag($out);
    note($out =~ /(\[emerg\].*)/ ? $1 : $out);
}

# the log files of those runs, too
my @logs = glob($t->path('test_config.*'));
ok(@logs >= @bad, 'nginx -t wrote its logs');
ok(!(grep { $t->read_file($_) =~ /Conf\d\w+/ } map { s/^\Q${\ $t->prefix }\E\///r } @logs),
   'no password in any of them');

# --- run time ----------------------------------------------------------------------

# Redis that wants another password; Redis whose AUTH is unknown, so that
# its error repeats what was sent ("... with args beginning with: '...'")
my $redis = $t->start_redis(password => 'the right one');
my $noauth = $t->start_redis(name => 'noauth', args => ['--rename-command', 'AUTH', '']);

$t->write_file('html/ok.txt', "OK\n");

$t->start(<<'EOF', main => 'error_log %%PREFIX%%/debug.log debug;');
    redis_server wrong  127.0.0.1:%%PORT_redis%% password=Run1Secret;
    redis_server echo   127.0.0.1:%%PORT_noauth%% "password=Run2 Secret";
    redis_server good   127.0.0.1:%%PORT_redis%% "password=the right one";

    limit_redis_zone $arg_k zone=zw rate=1r/m redis=wrong;
    limit_redis_zone $arg_k zone=ze rate=1r/m redis=echo;
    limit_redis_zone $arg_k zone=zg rate=1r/m redis=good;

    server {
        listen 127.0.0.1:%%PORT_main%%;
        root %%PREFIX%%/html;
        add_header X-LR $limit_redis_status always;

        location /wrong { limit_redis zone=zw; try_files /ok.txt =404; }
        location /echo  { limit_redis zone=ze; try_files /ok.txt =404; }
        location /good  { limit_redis zone=zg; try_files /ok.txt =404; }
    }
EOF

sub rget {
    my ($uri) = @_;
    my $r = $t->get_lr($uri);
    return "$r->{status} $r->{lr}";
}

my $n = 0;
for my $where (qw(wrong echo)) {
    my %s;
    $s{rget("/$where?k=" . ++$n)}++ for 1 .. 5;
    is_deeply(\%s, { '200 ERROR' => 5 }, "$where password: the fail mode applies");
}

my $good;
for (1 .. 40) {
    last if ($good = rget('/good?k=' . ++$n)) eq '200 PASSED';
    sleep 0.05;
}
is($good, '200 PASSED', 'the right password works');

ok($t->wait_for_log(qr/redis AUTH failed: WRONGPASS .*redis server: "wrong"/, 3),
   'a wrong password is logged, with the error code');
ok($t->wait_for_log(qr/redis AUTH failed: ERR .*redis server: "echo"/, 3),
   'an AUTH that Redis does not know is logged, with the error code');

# what the Redis of "echo" answered does contain the password
my $echo = eval { $t->redis_command($noauth, 'AUTH', 'Run2 Secret') } // $@;
$echo =~ s/\s+$//;
like($echo, qr/Run2 Secret/, "(Redis's answer repeats the password: $echo)");

my $error = $t->error_log;
my $debug = $t->read_file('debug.log');
ok(length $debug > length $error, 'the debug log has more lines than the error log');
unlike($error, qr/Run\d ?Secret/, 'no password in the error log');
unlike($debug, qr/Run\d ?Secret/, 'no password in the debug log');
unlike($debug, qr/the right one/, 'not even the right one');

done_testing;
