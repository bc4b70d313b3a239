#!/usr/bin/perl
# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
# Tracing in the example gateway (conf.d/gateway.conf + conf.d/backends.conf,
# run as shipped except for its port numbers): the sample services receive
# the gateway's traceparent, and the JSON access log has the ids.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use JSON::PP;
use Test::More;

use Meshgate::Test;

my $t = Meshgate::Test->new(workers => 1);
$t->need_module_or_skip;
$t->need('redis-server', 'Crypt::JWT', 'Crypt::PK::ECC');

require Meshgate::JWT;
Meshgate::JWT->import;

my $top = "$FindBin::Bin/../..";

my %port_of = (8080 => 'main', 9001 => 'users', 9002 => 'orders',
               9003 => 'products', 6380 => 'redis');

sub example {
    my ($name) = @_;
    open my $f, '<', "$top/conf.d/$name" or die "conf.d/$name: $!\n";
    my $text = do { local $/; <$f> };
    $text =~ s{127\.0\.0\.1:(\d+)\b}{
        $port_of{$1} ? "127.0.0.1:%%PORT_$port_of{$1}%%" : "127.0.0.1:$1"
    }ge;
    return $t->substitute($text);
}

my ($hs_key, $hs_jwk) = gen_key('HS256', kid => 'demo-hs256', alg => 'HS256');
$t->write_file('meshgate/gateway.conf', example('gateway.conf'));
$t->write_file('meshgate/backends.conf', example('backends.conf'));
$t->write_file('meshgate/keys/jwks.json', jwks($hs_jwk));

$t->start_redis;
$t->start(<<'EOF');
    include meshgate/gateway.conf;
    include meshgate/backends.conf;
EOF

my $json = JSON::PP->new;
my $TRACE = '0af7651916cd43dd8448eb211c80319c';
my $PARENT = 'b7ad6b7169203331';

sub call {
    my ($path, @headers) = @_;
    my $r = $t->get($path, @headers);
    $r->{json} = eval { $json->decode($r->{body}) } // {};
    return $r;
}

sub log_line {
    my ($uri) = @_;
    $t->wait_for_log(qr/"uri":"\Q$uri\E"/, 5, 'logs/gateway.access.log');
    my ($line) = grep { /"uri":"\Q$uri\E"/ }
                 split /\n/, $t->read_file('logs/gateway.access.log');
    return eval { $json->decode($line // '') } // {};
}

# a client's trace, continued: the service's parent is the gateway's span

my $r = call('/api/public/continued', traceparent => "00-$TRACE-$PARENT-01");
is($r->{status}, 200, 'public route with a traceparent: 200');
my ($trace, $span) = ($r->{json}{traceparent} // '')
    =~ /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/;
is($trace, $TRACE, 'the service gets the client\'s trace id');
ok(defined $span && $span ne $PARENT, '... and the gateway\'s span as parent');

my $line = log_line('/api/public/continued');
is($line->{trace_id}, $TRACE, 'access log: trace_id');
is($line->{span_id}, $span, 'access log: span_id, the service\'s parent');
is($line->{parent_span_id}, $PARENT, 'access log: parent_span_id, the client\'s');

# a trace that starts at the gateway

$r = call('/api/public/new');
($trace, $span) = ($r->{json}{traceparent} // '')
    =~ /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/;
ok(defined $trace, 'no traceparent: the service gets a new one')
    or diag($r->{body});
$line = log_line('/api/public/new');
is($line->{trace_id}, $trace, 'access log: its trace_id');
is($line->{span_id}, $span, 'access log: its span_id');
is($line->{parent_span_id}, '', 'access log: parent_span_id is empty');

# an invalid traceparent starts a new trace too

$r = call('/api/public/invalid', traceparent => "00-\U$TRACE\E-$PARENT-01");
($trace) = ($r->{json}{traceparent} // '') =~ /^00-([0-9a-f]{32})-/;
ok(defined $trace && $trace ne $TRACE,
   'an invalid traceparent: the service gets a new trace');
is(log_line('/api/public/invalid')->{parent_span_id}, '',
   'access log: no parent_span_id');

# answered by the gateway itself: the ids are logged all the same

call('/health', traceparent => "00-$TRACE-$PARENT-00");
$line = log_line('/health');
is($line->{trace_id}, $TRACE, '/health: trace_id logged');
like($line->{span_id} // '', qr/^[0-9a-f]{16}$/, '/health: span_id logged');
is($line->{parent_span_id}, $PARENT, '/health: parent_span_id logged');

# a rejected request (no token) is logged with its ids

call('/api/users/me', traceparent => "00-$TRACE-$PARENT-01");
$line = log_line('/api/users/me');
is($line->{status}, 401, 'a 401 is logged');
is($line->{trace_id}, $TRACE, '... with the trace_id');

my @bad = grep { !eval { $json->decode($_); 1 } }
          split /\n/, $t->read_file('logs/gateway.access.log');
is_deeply(\@bad, [], 'every access log line is JSON');

done_testing;
