#!/usr/bin/env bash
# perf/p1count.sh: what a request costs the server at -P 1, counted rather than sampled.
#
# Servers named on the command line (NAME=PATH of a shardis-server, or NAME=redis) run
# at once on SERVER_CPU; redis-benchmark runs on CLIENT_CPU. First, one counting pass
# per server (`perf stat` of tracepoints over N requests): receives and sends
# (`sock:sock_recv_length`, `sock:sock_send_length`), completions and submissions
# (`io_uring:io_uring_complete`, `io_uring:io_uring_submit_req`), `io_uring_enter` and
# `epoll_wait` calls, local task-work runs, context switches, all per request. Then
# ROUNDS rounds of N requests against every server, in an order that rotates each
# round (so no server always follows the same one), each giving the server's CPU per
# request from the scheduler's own nanosecond count (`/proc/PID/task/*/schedstat`,
# every thread), its voluntary context switches per request and CPU 0's NET_RX
# softirqs per request. Prints every round and the medians and minima.
#
# Usage: perf/p1count.sh main=/tmp/shardis-main new=target/release/shardis-server R=redis
# Knobs: TEST (get), PIPE (1), N (200000), ROUNDS (7), CLIENTS (50), KEYSPACE (100000),
#   SERVER_CPU (0), CLIENT_CPU (1), COUNT=0 (skip the counting pass).
# SET runs unmeasured first (-P 16, 300k requests) so GET finds its keys.
set -euo pipefail

# shellcheck source=perf/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TEST=${TEST:-get}
PIPE=${PIPE:-1}
N=${N:-200000}
ROUNDS=${ROUNDS:-7}
CLIENTS=${CLIENTS:-50}
KEYSPACE=${KEYSPACE:-100000}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
(($# > 0)) || die "name servers: NAME=PATH or NAME=redis"

work=$(mktemp -d)
cleanup_on_exit
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

names=() ports=()
for spec in "$@"; do
    name=${spec%%=*} bin=${spec#*=} port=$(free_port)
    mkdir -p "$work/$port"
    if [[ $bin == redis ]]; then
        taskset -c "$SERVER_CPU" redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
            --daemonize no --dir "$work/$port" --logfile "$work/$port.log" >/dev/null 2>&1 &
    else
        (cd "$work" && exec taskset -c "$SERVER_CPU" "$bin" --port "$port" --bind 127.0.0.1 --shards 1 \
            --cpus "$SERVER_CPU" --save "" --appendonly no --dir "$work/$port") >"$work/$port.log" 2>&1 &
    fi
    pids+=($!) names+=("$name") ports+=("$port")
done
for port in "${ports[@]}"; do
    for _ in $(seq 200); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
    taskset -c "$CLIENT_CPU" redis-benchmark -p "$port" -c "$CLIENTS" -P 16 -n 300000 -r "$KEYSPACE" -t set -q >/dev/null 2>&1
done

bench_cmd() { # index
    echo taskset -c "$CLIENT_CPU" redis-benchmark -p "${ports[$1]}" -c "$CLIENTS" -P "$PIPE" -n "$N" \
        -r "$KEYSPACE" -t "$TEST" -q
}
bench() { $(bench_cmd "$1") >/dev/null 2>&1; }
# Scheduler nanoseconds and voluntary switches of every thread of process $1.
snap() {
    local t ns v sum_ns=0 sum_v=0
    for t in /proc/"$1"/task/*; do
        read -r ns _ <"$t/schedstat"
        v=$(awk '/^voluntary_ctxt_switches/ { print $2 }' "$t/status")
        sum_ns=$((sum_ns + ns)) sum_v=$((sum_v + v))
    done
    echo "$sum_ns $sum_v"
}
net_rx() { awk -v c=$((SERVER_CPU + 2)) '$1 == "NET_RX:" { print $c }' /proc/softirqs; }

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
if [[ ${COUNT:-1} == 1 ]]; then
    events=sock:sock_recv_length,sock:sock_send_length,io_uring:io_uring_complete,io_uring:io_uring_submit_req
    events+=,syscalls:sys_enter_io_uring_enter,syscalls:sys_enter_epoll_wait,io_uring:io_uring_local_work_run,context-switches
    echo "per request ($TEST -P $PIPE, $N requests): recv send cqe sqe enter epoll_wait local_work ctxsw"
    for i in "${!ports[@]}"; do
        # shellcheck disable=SC2046 # the command's words
        perf stat -x, -o "$work/stat" -e "$events" -p "${pids[$i]}" -- $(bench_cmd "$i") >/dev/null 2>&1
        printf '%-8s' "${names[$i]}"
        awk -F, -v n="$N" '/^[0-9]/ { printf " %.3f", $1 / n } END { print "" }' "$work/stat"
    done
fi

declare -A us=() vcs=() rx=()
for r in $(seq 0 $((ROUNDS - 1))); do
    for k in "${!ports[@]}"; do
        i=$(((k + r) % ${#ports[@]}))
        read -r ns0 v0 < <(snap "${pids[$i]}")
        rx0=$(net_rx)
        bench "$i"
        read -r ns1 v1 < <(snap "${pids[$i]}")
        rx1=$(net_rx)
        us[$i]+="$(awk -v a="$ns1" -v b="$ns0" -v n="$N" 'BEGIN { printf "%.3f", (a - b) / 1000 / n }') "
        vcs[$i]+="$(awk -v a="$v1" -v b="$v0" -v n="$N" 'BEGIN { printf "%.3f", (a - b) / n }') "
        rx[$i]+="$(awk -v a="$rx1" -v b="$rx0" -v n="$N" 'BEGIN { printf "%.3f", (a - b) / n }') "
    done
done
echo "server CPU µs per request, $TEST -P $PIPE, $ROUNDS rounds (order rotating):"
for i in "${!ports[@]}"; do
    read -r -a v <<<"${us[$i]}"
    med=$(printf '%s\n' "${v[@]}" | median)
    min=$(printf '%s\n' "${v[@]}" | sort -g | head -1)
    vmed=$(tr ' ' '\n' <<<"${vcs[$i]}" | grep . | median)
    rmed=$(tr ' ' '\n' <<<"${rx[$i]}" | grep . | median)
    printf '%-8s %s | median %s min %s | vol. switches/req %s, NET_RX/req %s\n' "${names[$i]}" "${us[$i]}" "$med" "$min" "$vmed" "$rmed"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
