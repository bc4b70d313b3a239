# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
package Meshgate::Prom;

# Helpers for tests that read the Prometheus text exposition of
# metrics_export.
#
#   my $m = prom_parse($text);
#   $m->{samples}{'meshgate_http_requests_total{route="/",method="GET",code="200"}'}
#   $m->{types}{meshgate_http_requests_total}          'counter'
#   $m->{help}{meshgate_http_requests_total}           'Client requests ...'
#   $m->{order}                                        sample keys, in order
#   $m->{errors}                                       lines that do not parse
#
#   prom_value($m, $key)         the sample's value, 0 when it is absent
#   prom_labels($key)            (name, { label => unescaped value })
#   prom_check($text)            (ok, output) of `promtool check metrics`,
#                                (undef, reason) without promtool
#   prom_histogram($m, $name, $labels)
#                                { buckets => [[le, n], ...], sum, count }
#                                for the series whose labels text is $labels
#
# Sample keys are the metric name and the label text exactly as the
# exposition writes them, so a test states the escaping it expects.

use strict;
use warnings;

use Exporter 'import';
use File::Temp qw(tempfile);

our @EXPORT = qw(prom_parse prom_value prom_labels prom_check prom_histogram
                 promtool);

sub prom_parse {
    my ($text) = @_;
    my %m = (samples => {}, types => {}, help => {}, order => [],
             errors => []);

    for my $line (split /\n/, $text) {
        if ($line =~ /^# HELP (\S+) (.*)$/) {
            $m{help}{$1} = $2;
        } elsif ($line =~ /^# TYPE (\S+) (\S+)$/) {
            $m{types}{$1} = $2;
        } elsif ($line =~ /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{(?:[^"}]|"(?:[^"\\]|\\.)*")*\})?) (\S+)$/) {
            push @{$m{errors}}, "duplicate: $line" if exists $m{samples}{$1};
            $m{samples}{$1} = $2;
            push @{$m{order}}, $1;
        } else {
            push @{$m{errors}}, $line;
        }
    }
    return \%m;
}

sub prom_value {
    my ($m, $key) = @_;
    return $m->{samples}{$key} // 0;
}

sub prom_labels {
    my ($key) = @_;
    my ($name, $text) = $key =~ /^([^{]+)(?:\{(.*)\})?$/;
    my %l;
    $text //= '';
    while ($text =~ /\G,?([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/gc) {
        my ($n, $v) = ($1, $2);
        $v =~ s/\\(.)/$1 eq 'n' ? "\n" : $1/ge;
        $l{$n} = $v;
    }
    return ($name, \%l);
}

sub promtool {
    for my $d (split(/:/, $ENV{PATH} // ''), '/usr/bin', '/usr/local/bin') {
        return "$d/promtool" if $d ne '' && -x "$d/promtool";
    }
    return undef;
}

sub prom_check {
    my ($text) = @_;
    my $tool = promtool() or return (undef, 'promtool is not installed');
    my ($fh, $file) = tempfile('meshgate-prom-XXXXXX', TMPDIR => 1,
                               UNLINK => 1);
    binmode $fh;
    print {$fh} $text;
    close $fh;
    my $out = qx{$tool check metrics < $file 2>&1};
    return ($? == 0 ? 1 : 0, $out);
}

sub prom_histogram {
    my ($m, $name, $labels) = @_;
    my %h = (buckets => []);
    my $prefix = "${name}_bucket{$labels,le=\"";
    for my $k (@{$m->{order}}) {
        if (index($k, $prefix) == 0 && $k =~ /le="([^"]+)"\}$/) {
            push @{$h{buckets}}, [$1, $m->{samples}{$k}];
        }
    }
    $h{sum} = $m->{samples}{"${name}_sum{$labels}"};
    $h{count} = $m->{samples}{"${name}_count{$labels}"};
    return \%h;
}

1;
