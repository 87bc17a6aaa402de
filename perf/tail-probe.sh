#!/bin/bash
# The tail at a fixed load, with shardis's own view of its loop turns: memtier 1:10
# SET:GET, 50 connections, pipeline PIPE, RATE requests/s per connection
# (--rate-limiting), against shardis (1 shard) and redis-server, one after the other,
# ROUNDS times. For shardis it prints `DEBUG TURNS` over each run (how long its loop
# turns ran: a reply waits for the whole turn its request arrived in), so a p99.9 can
# be set against the longest turns, and for both servers' threads the time spent
# runnable but waiting for a CPU (`/proc/PID/task/*/schedstat`, run_delay): a thread
# preempted in a turn makes it look long, whoever's turn it was.
#
# usage: perf/tail-probe.sh BIN PIPE RATE [SECS (10)] [ROUNDS (2)]
#   e.g. perf/tail-probe.sh target/release/shardis-server 1 1405   (50% of 140k/s)
# Servers on CPU 0, memtier on CPU 1; extra shardis flags in SHARDIS_ARGS.
set -e
BIN=$1; P=$2; RATE=$3; SECS=${4:-10}; ROUNDS=${5:-2}
MEMTIER=${MEMTIER_BIN:-/work/shared/tools/memtier_benchmark}
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
d=$(mktemp -d /tmp/tail-probe.XXXX)
sp=$(free_port); rp=$(free_port)
taskset -c 0 "$BIN" --port "$sp" --shards 1 --cpus 0 --save '' --appendonly no --dir "$d" \
    --enable-debug-command yes $SHARDIS_ARGS >"$d/shardis.log" 2>&1 &
spid=$!
taskset -c 0 redis-server --port "$rp" --save '' --appendonly no --dir "$d" >"$d/redis.log" 2>&1 &
rpid=$!
trap 'kill $spid $rpid 2>/dev/null; wait $spid $rpid 2>/dev/null; rm -rf "$d"' EXIT
for port in $sp $rp; do
    for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
    taskset -c 1 "$MEMTIER" -s 127.0.0.1 -p "$port" -t 1 -c 10 --pipeline 64 --ratio 1:0 --key-pattern P:P \
        --key-maximum 100000 -n allkeys -d 32 --hide-histogram >/dev/null 2>&1
done
# Summed over a process's threads: "cpu_ns wait_ns slices".
sched() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{c+=$1; w+=$2; n+=$3} END {print c, w, n}'; }
delta() { awk -v a="$1" -v b="$2" -v who="$3" 'BEGIN { split(a, x, " "); split(b, y, " ");
    printf "%s cpu %.0f ms, waited for a CPU %.0f ms over %d slices\n", who, (y[1]-x[1])/1e6, (y[2]-x[2])/1e6, y[3]-x[3] }'; }
run() {
    local s0 s1
    s0=$(sched "$2")
    taskset -c 1 "$MEMTIER" -s 127.0.0.1 -p "$1" -t 1 -c 50 --ratio 1:10 --pipeline "$P" --rate-limiting "$RATE" \
        --test-time "$SECS" --key-maximum 100000 -d 32 --hide-histogram --json-out-file "$d/mt.json" >/dev/null 2>&1
    s1=$(sched "$2")
    delta "$s0" "$s1" "  server:"
    python3 - "$d/mt.json" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))["ALL STATS"]["Totals"]
p = t["Percentile Latencies"]
print("ops/s %.0f p50 %.3f p99 %.3f p99.9 %.3f ms" % (t["Ops/sec"], p["p50.00"], p["p99.00"], p["p99.90"]))
PY
}
echo "P$P rate $RATE/conn x 50, ${SECS}s, load $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$ROUNDS"); do
    redis-cli -p "$sp" debug turns reset >/dev/null
    echo "round $r shardis:"; run "$sp" "$spid"
    redis-cli -p "$sp" debug turns
    echo "round $r redis:"; run "$rp" "$rpid"
done
echo "load $(cut -d' ' -f1-3 /proc/loadavg)"
