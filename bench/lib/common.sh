# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
# shellcheck shell=bash
# Shared helpers for bench/*/run (sourced, not run).
#
# A benchmark starts its own nginx instances under build/bench/<name>/, each
# with its own prefix, pid file and free ports, drives them with wrk over
# 127.0.0.1 and stops them on exit, whatever happens.
#
#   bench_init NAME         sets $bench_dir (emptied) and the variables below
#   free_port               prints a TCP port nothing listens on
#   nginx_start DIR         starts nginx with DIR/nginx.conf, prefix DIR
#   wait_http URL [CURL ARGS...]   waits until URL answers
#   http_status URL [CURL ARGS...] prints the status code of one request
#   wrk_run SECONDS URL [WRK ARGS...]  prints req/s and requests, fails on errors
#   worker_pids DIR, cpu_ticks PID...  CPU time used by nginx workers
#   busy_check              warns when the machine is not idle
#   redis_start DIR PORT    starts a redis-server of its own, no persistence
#   redis_cli PORT ARGS...  one redis-cli command against it
#
# Environment: NGINX [/usr/sbin/nginx], MESHGATE_MODULE
# [build/modules/ngx_http_meshgate_module.so], BENCH_SECONDS [10] (measured
# per scenario), BENCH_WARMUP [2], BENCH_CONNECTIONS [32], BENCH_THREADS [1].

bench_top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

bench_nginx=${NGINX:-/usr/sbin/nginx}
# nginx reads NGINX from its environment as a list of inherited listening
# sockets (binary upgrade) and would then not daemonize: "make bench" sets
# NGINX=/usr/sbin/nginx, so it is kept under another name and unset.
unset NGINX
MESHGATE_MODULE=${MESHGATE_MODULE:-$bench_top/build/modules/ngx_http_meshgate_module.so}
BENCH_SECONDS=${BENCH_SECONDS:-10}
BENCH_WARMUP=${BENCH_WARMUP:-2}
BENCH_CONNECTIONS=${BENCH_CONNECTIONS:-32}
BENCH_THREADS=${BENCH_THREADS:-1}

bench_nginx_dirs=()
bench_redis_dirs=()

bench_die() { printf '%s: %s\n' "${bench_name:-bench}" "$*" >&2; exit 1; }

bench_init() {
    bench_name=$1
    bench_dir=$bench_top/build/bench/$1
    command -v wrk > /dev/null || bench_die "wrk is not installed (make deps)"
    command -v curl > /dev/null || bench_die "curl is not installed (make deps)"
    [ -x "$bench_nginx" ] || bench_die "no nginx at $bench_nginx"
    rm -rf "$bench_dir"
    mkdir -p "$bench_dir"
    trap bench_cleanup EXIT
    trap 'exit 130' INT TERM
}

bench_cleanup() {
    local d
    for d in "${bench_nginx_dirs[@]}"; do
        bench_stop "$d/nginx.pid" QUIT
    done
    for d in "${bench_redis_dirs[@]}"; do
        bench_stop "$d/redis.pid" TERM
    done
}

# bench_stop PIDFILE SIGNAL: asks the process to stop, kills it after 5 s
bench_stop() {
    local pid
    [ -s "$1" ] || return 0
    pid=$(cat "$1")
    kill -"$2" "$pid" 2>/dev/null || return 0
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
}

# Ports are taken from the kernel's ephemeral range, one at a time, and
# remembered so that two calls never return the same port.
bench_ports_used=" "
free_port() {
    local p
    while :; do
        p=$(perl -MIO::Socket::INET -e '
            my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1",
                LocalPort => 0, Listen => 1, ReuseAddr => 1) or die "$!\n";
            print $s->sockport, "\n";')
        case "$bench_ports_used" in *" $p "*) continue ;; esac
        bench_ports_used="$bench_ports_used$p "
        echo "$p"
        return 0
    done
}

# Everything an nginx instance writes goes under its DIR; the temp paths
# are set here so that nothing touches the system's /var/lib/nginx.
bench_nginx_common() {
    local dir=$1
    cat <<EOF
pid $dir/nginx.pid;
error_log $dir/error.log warn;
EOF
}

bench_http_common() {
    local dir=$1
    cat <<EOF
    access_log off;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
EOF
}

nginx_start() {
    local dir=$1
    mkdir -p "$dir/tmp"
    "$bench_nginx" -t -q -p "$dir/" -c "$dir/nginx.conf" \
        || bench_die "nginx -t failed for $dir/nginx.conf"
    bench_nginx_dirs+=("$dir")
    "$bench_nginx" -p "$dir/" -c "$dir/nginx.conf" \
        || bench_die "nginx did not start, see $dir/error.log"
}

http_status() {
    local url=$1
    shift
    curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@" "$url" || true
}

wait_http() {
    local url=$1
    shift
    for _ in $(seq 100); do
        [ "$(http_status "$url" "$@")" != 000 ] && return 0
        sleep 0.05
    done
    bench_die "$url does not answer"
}

# wrk_run SECONDS URL [WRK ARGS]: one wrk run; prints "REQ_PER_S REQUESTS".
# A run with socket errors or non-2xx answers is a failure, not a number:
# a fast stream of 401s must never pass for a fast gateway.
wrk_run() {
    local secs=$1 url=$2 out rps n
    shift 2
    out=$(wrk -t"$BENCH_THREADS" -c"$BENCH_CONNECTIONS" -d"${secs}s" \
              "$@" "$url" 2>&1) || bench_die "wrk failed: $out"
    if grep -qE 'Non-2xx or 3xx responses|Socket errors' <<< "$out"; then
        bench_die "errors during the run on $url:
$out"
    fi
    rps=$(awk '/^Requests\/sec:/ { print $2 }' <<< "$out")
    n=$(awk '/ requests in / { print $1 }' <<< "$out")
    if [ -z "$rps" ] || [ -z "$n" ]; then
        bench_die "no result from wrk:
$out"
    fi
    printf '%.0f %s\n' "$rps" "$n"
}

# worker_pids DIR: the worker processes of the nginx running from DIR
worker_pids() {
    pgrep -P "$(cat "$1/nginx.pid")" | tr '\n' ' '
}

# cpu_ticks PID...: user + system CPU time used so far, in clock ticks
cpu_ticks() {
    local pid sum=0 t
    for pid in "$@"; do
        # fields after the ")" of the command name: utime is the 12th
        t=$(sed 's/^.*) //' "/proc/$pid/stat" | awk '{ print $12 + $13 }')
        sum=$((sum + t))
    done
    echo "$sum"
}

# shellcheck disable=SC2034  # used by the benchmarks
clock_ticks=$(getconf CLK_TCK)

# busy_check: warns when something else keeps the CPUs busy, since every
# number measured then depends on that something as much as on nginx.
busy_check() {
    local a b busy
    a=$(awk '/^cpu / { print $2+$3+$4+$7+$8+$9, $5+$6 }' /proc/stat)
    sleep 1
    b=$(awk '/^cpu / { print $2+$3+$4+$7+$8+$9, $5+$6 }' /proc/stat)
    busy=$(awk -v a="$a" -v b="$b" 'BEGIN {
        split(a, x, " "); split(b, y, " ");
        u = y[1] - x[1]; i = y[2] - x[2];
        printf "%d", (u + i > 0) ? 100 * u / (u + i) : 0 }')
    if [ "$busy" -gt 15 ]; then
        printf 'WARNING: the machine is %s%% busy before the benchmark starts;\n' "$busy"
        printf '         req/s and their ratios will be unreliable, the CPU cost per\n'
        printf '         request less so.\n'
    fi
}

# redis_start DIR PORT: a redis-server of the benchmark's own on
# 127.0.0.1:PORT, its files under DIR.  Nothing is saved to disk: a
# snapshot or an append-only file would make Redis's timing depend on the
# disk.  Everything else is as Redis ships it.
redis_start() {
    local dir=$1 port=$2
    command -v redis-server > /dev/null \
        || bench_die "redis-server is not installed (make deps)"
    mkdir -p "$dir"
    bench_redis_dirs+=("$dir")
    redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
        --unixsocket "$dir/redis.sock" --unixsocketperm 777 \
        --daemonize yes --dir "$dir" --pidfile "$dir/redis.pid" \
        --logfile "$dir/redis.log" > /dev/null \
        || bench_die "redis-server did not start, see $dir/redis.log"
    for _ in $(seq 100); do
        [ "$(redis_cli "$port" PING 2>/dev/null)" = PONG ] && return 0
        sleep 0.05
    done
    bench_die "redis-server on port $port does not answer, see $dir/redis.log"
}

redis_cli() {
    local port=$1
    shift
    redis-cli -h 127.0.0.1 -p "$port" "$@"
}

# ratio A B: A/B with three decimals
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f\n", a / b; else print "nan" }'
}

# at_least VALUE BAR: exit status 0 when VALUE >= BAR
at_least() {
    awk -v v="$1" -v b="$2" 'BEGIN { exit !(v >= b) }'
}
