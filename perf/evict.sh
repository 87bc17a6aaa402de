#!/usr/bin/env bash
# perf/evict.sh: SET -P 16 while evicting, shardis against redis-server with the same
# maxmemory and policy. Reports ops/s and server CPU µs per op (utime+stime from
# /proc/PID/stat around the run) and their ratios.
#
# Knobs: MAXMEMORY (64mb), POLICY (allkeys-lru), N (2000000), DATA (100), SHARDS (1),
# SERVER_CPU (0), CLIENT_CPU (1), NO_BUILD, SHARDIS_BIN.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/perf/lib.sh"
KNOBS="MAXMEMORY POLICY N DATA SHARDS SERVER_CPU CLIENT_CPU NO_BUILD SHARDIS_BIN"
remember_knobs
MAXMEMORY=${MAXMEMORY:-64mb} POLICY=${POLICY:-allkeys-lru} N=${N:-2000000} DATA=${DATA:-100}
SHARDS=${SHARDS:-1} SERVER_CPU=${SERVER_CPU:-0} CLIENT_CPU=${CLIENT_CPU:-1}
need_cpus
shardis_bin
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
wait_port() { for _ in $(seq 200); do redis-cli -p "$1" ping >/dev/null 2>&1 && return 0; sleep 0.05; done; die "no server on $1"; }

run() { # name port pid
    local t0 t1 out ops evicted
    t0=$(cpu_ticks "$3")
    out=$(taskset -c "$CLIENT_CPU" redis-benchmark -p "$2" -c 50 -P 16 -n "$N" -r 100000000 -d "$DATA" -t set --csv | tail -1)
    t1=$(cpu_ticks "$3")
    ops=$(echo "$out" | cut -d, -f2 | tr -d '"')
    evicted=$(redis-cli -p "$2" info stats | tr -d '\r' | awk -F: '/^evicted_keys:/{print $2}')
    used=$(redis-cli -p "$2" info memory | tr -d '\r' | awk -F: '/^used_memory:/{print $2}')
    us=$(awk -v t=$((t1 - t0)) -v n="$N" 'BEGIN{printf "%.3f", t*10000/n}')
    printf '%s %s %s %s %s\n' "$1" "$ops" "$us" "$evicted" "$used"
}

note_run_start
p1=$(free_port)
taskset -c "$SERVER_CPU" "$SHARDIS_BIN" --port "$p1" --save '' --shards "$SHARDS" --dir "$work" \
    --maxmemory "$MAXMEMORY" --maxmemory-policy "$POLICY" >"$work/shardis.log" 2>&1 &
pids+=($!); sp=$!
wait_port "$p1"
a=$(run shardis "$p1" "$sp")
p2=$(free_port)
taskset -c "$SERVER_CPU" redis-server --port "$p2" --save '' --appendonly no --dir "$work" \
    --maxmemory "$MAXMEMORY" --maxmemory-policy "$POLICY" >"$work/redis.log" 2>&1 &
pids+=($!); rp=$!
wait_port "$p2"
b=$(run redis "$p2" "$rp")
read -r _ sops sus sev sused <<<"$a"
read -r _ rops rus rev rused <<<"$b"
echo "command: $(command_line)"
echo "load average before: $loadavg_before; shardis $(shardis_revision), --shards $SHARDS; maxmemory $MAXMEMORY, $POLICY; SET -c 50 -P 16 -n $N -d $DATA -r 100000000"
echo "| server | ops/s | CPU µs/op | evicted_keys | used_memory after |"
echo "|---|---|---|---|---|"
echo "| shardis | $sops | $sus | $sev | $sused |"
echo "| redis | $rops | $rus | $rev | $rused |"
awk -v a="$sops" -v b="$rops" -v c="$sus" -v d="$rus" 'BEGIN{printf "ops/s ratio (shardis/redis): %.2f; CPU per op ratio: %.2f\n", a/b, c/d}'
