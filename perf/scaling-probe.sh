#!/usr/bin/env bash
# perf/scaling-probe.sh: one cell of perf/scaling.sh, for quick A/B probes of the hop.
# Starts BIN with SHARDS shards (1: CPU 0; 2: CPUs 0,1; with SAMECPU=1 both shards are
# held on CPU 0 by taskset, so the load generator on CPU 1 never shares a shard's core),
# warms it with 50k requests, then runs `redis-benchmark -c 50 -P 16 -r 100000 -d 8 -t TEST`
# for N requests on CPU 1 and prints the server's CPU per op (utime + stime from
# /proc/PID/stat), the client's ops/s, voluntary context switches per op, and the
# inbox batches and wake-ups per op (INFO `shardis_inbox_*`; "-" where absent).
#
# Usage: [SAMECPU=1] perf/scaling-probe.sh BIN SHARDS TEST [N]
set -euo pipefail
[[ $# -ge 3 ]] || { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
bin=$1 shards=$2 t=$3 n=${4:-400000}
dir=$(mktemp -d)
pid=
trap '[[ -n $pid ]] && kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
# Starts the server on a port nothing listens on (a ping answered by another engineer's
# server would measure that one); returns 1 if it exited, which is what a port taken
# between the check and the server's bind looks like.
start_server() {
    port=$((20000 + RANDOM % 20000))
    while ss -ltn | grep -q ":$port "; do port=$((20000 + RANDOM % 20000)); done
    if [[ -n ${SAMECPU:-} ]]; then
        taskset -c 0 "$bin" --port "$port" --shards "$shards" --save '' --appendonly no --dir "$dir" >/dev/null 2>&1 &
    else
        cpus=0
        [[ $shards == 2 ]] && cpus=0,1
        "$bin" --port "$port" --shards "$shards" --cpus "$cpus" --save '' --appendonly no --dir "$dir" >/dev/null 2>&1 &
    fi
    pid=$!
    local deadline=$((SECONDS + 10))
    # The server that answers must be ours (its INFO names our pid).
    until [[ $(redis-cli -p "$port" info server 2>/dev/null | tr -d '\r' | awk -F: '$1 == "process_id" { print $2 }') == "$pid" ]]; do
        ((SECONDS < deadline)) || { echo "server did not start" >&2; exit 1; }
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.05
    done
    kill -0 "$pid" 2>/dev/null
}
started=0
for attempt in 1 2 3 4 5; do
    if start_server; then started=1; break; fi
    wait "$pid" 2>/dev/null || true
    echo "server exited (port $port taken?), attempt $attempt of 5" >&2
done
((started)) || { echo "server did not start in 5 attempts" >&2; exit 1; }
timeout 60 taskset -c 1 redis-benchmark -p "$port" -n 50000 -c 50 -P 16 -r 100000 -d 8 -t "$t" -q >/dev/null 2>&1
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
switches() { cat /proc/"$pid"/task/*/status | awk '/^voluntary_ctxt/ {s += $2} END {print s}'; }
inbox() { redis-cli -p "$port" info stats | awk -F: -v f="shardis_inbox_$1" '$1 == f {v = $2} END {print (v == "") ? "-" : v + 0}'; }
b=$(ticks) c0=$(switches) b0=$(inbox batches) w0=$(inbox wakeups)
out=$(timeout 120 taskset -c 1 redis-benchmark -p "$port" -n "$n" -c 50 -P 16 -r 100000 -d 8 -t "$t" --csv 2>/dev/null | tail -1)
a=$(ticks) c1=$(switches) b1=$(inbox batches) w1=$(inbox wakeups)
rps=$(echo "$out" | awk -F'","' '{print $2}')
hz=$(getconf CLK_TCK)
awk -v a="$a" -v b="$b" -v n="$n" -v r="$rps" -v c=$((c1 - c0)) -v s="$shards" -v t="$t" -v hz="$hz" \
    -v bin="$(basename "$bin")" -v sc="${SAMECPU:-0}" -v b0="$b0" -v b1="$b1" -v w0="$w0" -v w1="$w1" \
    'function per(x, y) { return (x == "-" || y == "-") ? "-" : sprintf("%.4f", (y - x) / n) }
     BEGIN {printf "%s shards=%d samecpu=%s %s cpu_us=%.3f rps=%s ctxsw/op=%.4f batches/op=%s wakeups/op=%s\n",
            bin, s, sc, t, (a - b) * 1e6 / hz / n, r, c / n, per(b0, b1), per(w0, w1)}'
