#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)

# A real Prometheus server (Debian's prometheus package) scrapes the export
# location: the scrape succeeds (up is 1), and the counters it stored,
# queried through its HTTP API, are those of the requests sent, escaped
# label values read back as they were.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use JSON::PP;
use POSIX qw(WNOHANG);
use Test::More;
use Time::HiRes qw(sleep time);
use Meshgate::Test;

my $t = Meshgate::Test->new(workers => 2);
$t->need_module_or_skip;
$t->need('prometheus');

$t->start(<<'EOF');
    metrics_zone main 1m;
    metrics main;

    server {
        listen 127.0.0.1:%%PORT_main%%;

        location /a {
            return 200 "a\n";
        }

        location /esc/ {
            metrics_route $uri;
            return 200 "esc\n";
        }

        location = /metrics {
            metrics off;
            metrics_export main;
        }
    }
EOF

$t->get('/a') for 1 .. 5;
$t->request('POST', '/a', body => 'x') for 1 .. 2;
$t->get('/missing') for 1 .. 3;
$t->get('/esc/say%20%22hi%22%5C');

my $pport = $t->port('prometheus');
my $dir = $t->path('prometheus');
mkdir $dir;

$t->write_file('prometheus/prometheus.yml', <<"EOF");
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: meshgate
    scrape_interval: 1s
    scrape_timeout: 1s
    metrics_path: /metrics
    static_configs:
      - targets: ['127.0.0.1:${\ $t->port('main')}']
EOF

my $pid = fork // die "fork: $!\n";
if ($pid == 0) {
    open STDIN, '<', '/dev/null';
    open STDOUT, '>', "$dir/prometheus.log" or POSIX::_exit(126);
    open STDERR, '>&', \*STDOUT or POSIX::_exit(126);
    { exec 'prometheus', "--config.file=$dir/prometheus.yml",
          "--storage.tsdb.path=$dir/data",
          "--web.listen-address=127.0.0.1:$pport", '--log.level=warn'; }
    POSIX::_exit(127);
}

END {
    if ($pid && $$ != 0) {
        kill 'TERM', $pid;
        waitpid($pid, 0);
    }
}

sub api {
    my ($query) = @_;
    (my $q = $query) =~ s/([^A-Za-z0-9_.~-])/sprintf('%%%02X', ord $1)/ge;
    my $r = $t->request('GET', "/api/v1/query?query=$q", port => $pport);
    return undef unless ($r->{status} // 0) == 200;
    my $j = eval { decode_json($r->{body}) } or return undef;
    return $j->{status} eq 'success' ? $j->{data}{result} : undef;
}

# wait for a scrape that Prometheus stored
my $started = time;
my $result;
my $deadline = time + 20;
while (time < $deadline) {
    die "prometheus exited\n" if waitpid($pid, WNOHANG) == $pid && ($pid = 0, 1);
    $result = api('meshgate_http_requests_total');
    last if $result && @$result;
    sleep 0.2;
}

note(sprintf 'first result after %.1f s', time - $started);
ok($result && @$result, 'Prometheus scraped and stored the counters')
    or diag($t->read_file('prometheus/prometheus.log'));

my $up = api('up{job="meshgate"}');
is($up && $up->[0]{value}[1], '1', 'up is 1: the exposition parsed');

my %got;
for my $s (@{$result || []}) {
    my $l = $s->{metric};
    is($l->{job}, 'meshgate', 'job label');
    # Prometheus drops empty labels: route="" comes back without route
    $got{($l->{route} // '') . " $l->{method} $l->{code}"} = $s->{value}[1];
}

is_deeply(\%got, {
    '/a GET 200' => '5',
    '/a POST 200' => '2',
    ' GET 404' => '3',
    '/esc/say "hi"\\ GET 200' => '1',
}, 'meshgate_http_requests_total through the query API')
    or diag(explain(\%got));

my $sum = api('sum(meshgate_http_request_duration_seconds_count)');
is($sum && $sum->[0]{value}[1], '11', 'histogram counts: every request');

my $series = api('meshgate_metrics_series{zone="main"}');
is($series && $series->[0]{value}[1], '13', 'the zone\'s series gauge');

done_testing;
