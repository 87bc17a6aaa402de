#!/bin/bash
# Server CPU, context switches and loop turns per MSET of 10 random keys, all on one
# shard (`same`) or 5 on each of 2 shards (`cross`), one server per call.
#
# usage: perf/xshard-probe.sh BIN PIPE same|cross [perf]
#   C (8), N (200000): redis-benchmark's clients and MSETs (after a 50k warm-up).
#   With a fourth argument, `perf record -g` samples the server into
#   /tmp/xshard-probe.<same|cross>.data (delete it after use).
set -e
BIN=$1; P=$2; WHERE=$3; PERF=$4
here=$(cd "$(dirname "$0")" && pwd)
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
d=$(mktemp -d /tmp/xshard-probe.XXXX)
"$BIN" --port "$port" --shards 2 --cpus 0-1 --save '' --appendonly no --dir "$d" --enable-debug-command yes \
    >/dev/null 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$d"' EXIT
for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
read -r A B < <(python3 - "$here/xshard.py" <<'PY'
import importlib.util, sys
spec = importlib.util.spec_from_file_location("x", sys.argv[1]); m = importlib.util.module_from_spec(spec)
spec.loader.exec_module(m)
print(m.tag_on(0).decode(), m.tag_on(1).decode())
PY
)
[ "$WHERE" = same ] && B=$A
C=${C:-8}; N=${N:-200000}
args=()
for i in 0 1 2 3 4; do args+=("${A}k$((2*i)):__rand_int__" v "${B}k$((2*i+1)):__rand_int__" v); done
redis-benchmark -p "$port" -n 50000 -r 100000 -q -P "$P" -c "$C" MSET "${args[@]}" >/dev/null
redis-cli -p "$port" debug turns reset >/dev/null
if [ -n "$PERF" ]; then
    perf record ${PERFOPT:--F 2000 -g} -p $pid -o "/tmp/xshard-probe.$WHERE.data" >/dev/null 2>&1 & ppid=$!
    sleep 0.5
fi
ticks() { awk '{print $14+$15}' /proc/$pid/stat; }
switches() { grep -h ctxt_switches /proc/$pid/task/*/status | awk '{s+=$2} END {print s}'; }
t0=$(ticks); cs0=$(switches)
redis-benchmark -p "$port" -n "$N" -r 100000 -q -P "$P" -c "$C" MSET "${args[@]}" >/dev/null
t1=$(ticks); cs1=$(switches)
if [ -n "$PERF" ]; then kill -INT $ppid; wait $ppid || true; fi
hz=$(getconf CLK_TCK)
turns=$(redis-cli -p "$port" debug turns | tr '\n' ' ' | grep -o 'turns:[0-9]*' | tr '\n' ' ')
python3 -c "print(f'$BIN P$P $WHERE cpu_us_per_op={($t1-$t0)/$hz*1e6/$N:.2f} ctxsw_per_op={($cs1-$cs0)/$N:.4f} $turns')"
