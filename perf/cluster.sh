#!/usr/bin/env bash
# perf/cluster.sh: one 2-shard instance against two 1-shard instances forming a
# cluster (shardis-pool, one per faked NUMA node: CPU 0 and CPU 1), both driven by
# memtier_benchmark --cluster-mode (the single instance is a one-node cluster owning
# all 16384 slots, so the client does the same work). Reports ops/s and server CPU µs
# per op (utime+stime of every server process from /proc/PID/stat around the run).
#
# On this 2-core machine memtier shares the cores with the servers, so the numbers
# compare the two layouts under the same squeeze; on a NUMA machine run it with
# TOPOLOGY unset (the real nodes) and THREADS/CLIENTS sized to a spare core.
#
# Knobs: SECONDS_PER_RUN (10), THREADS (1), CLIENTS (25), PIPELINE (1), RATIO (1:10),
# KEYS (100000), DATA (32), TOPOLOGY ("0:0;1:1"), NO_BUILD, APPEND (1: add to RESULTS.md).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/perf/lib.sh"
KNOBS="SECONDS_PER_RUN THREADS CLIENTS PIPELINE RATIO KEYS DATA TOPOLOGY NO_BUILD APPEND"
remember_knobs
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10} THREADS=${THREADS:-1} CLIENTS=${CLIENTS:-25} PIPELINE=${PIPELINE:-1}
RATIO=${RATIO:-1:10} KEYS=${KEYS:-100000} DATA=${DATA:-32} TOPOLOGY=${TOPOLOGY-0:0;1:1} APPEND=${APPEND:-1}
MEMTIER=${MEMTIER:-/work/shared/tools/memtier_benchmark}
[[ -x $MEMTIER ]] || die "no memtier_benchmark at $MEMTIER (see /work/shared/tools/README.md)"
"$MEMTIER" --version >/dev/null 2>&1 || die "memtier_benchmark does not run: install libevent-2.1-7 libevent-openssl-2.1-7 libssl3 zlib1g"
if [[ ${NO_BUILD:-0} != 1 ]]; then
    log "building shardis-server and shardis-pool (release)"
    (cd "$root" && cargo build --release --quiet --bin shardis-server --bin shardis-pool)
fi
bin=${CARGO_TARGET_DIR:-$root/target}/release
work=$(mktemp -d)
single_pid=
cleanup() {
    [[ -n $single_pid ]] && kill "$single_pid" 2>/dev/null || true
    "$bin/shardis-pool" down --dir "$work/pool" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

free_ports() { python3 -c '
import socket
for _ in range(100):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); b = s.getsockname()[1]; s.close()
    try:
        socks = []
        for k in range('"$1"'):
            t = socket.socket(); t.bind(("127.0.0.1", b + k)); socks.append(t)
        print(b); break
    except OSError:
        pass'; }
cpu_ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14+$15}' "/proc/$p/stat"))); done; echo "$t"; }
hz=$(getconf CLK_TCK)

# run NAME PORT PIDS...: prints "NAME ops/s us/op"
run() {
    local name=$1 port=$2; shift 2
    local t0 t1 out ops total
    "$MEMTIER" -s 127.0.0.1 -p "$port" --cluster-mode -t "$THREADS" -c "$CLIENTS" --pipeline "$PIPELINE" \
        --ratio "$RATIO" --key-maximum "$KEYS" --key-pattern R:R -d "$DATA" --test-time 2 --hide-histogram >/dev/null 2>&1
    t0=$(cpu_ticks "$@")
    out=$("$MEMTIER" -s 127.0.0.1 -p "$port" --cluster-mode -t "$THREADS" -c "$CLIENTS" --pipeline "$PIPELINE" \
        --ratio "$RATIO" --key-maximum "$KEYS" --key-pattern R:R -d "$DATA" --test-time "$SECONDS_PER_RUN" \
        --hide-histogram 2>&1)
    t1=$(cpu_ticks "$@")
    ops=$(awk '/^Totals/ {print $2; exit}' <<<"$out")
    [[ -n $ops ]] || die "$name: memtier printed no Totals line: $out"
    if grep -qi "error" <<<"$out"; then die "$name: memtier reported errors: $out"; fi
    total=$(awk -v o="$ops" -v s="$SECONDS_PER_RUN" 'BEGIN {printf "%d", o * s}')
    printf '%s %s %s\n' "$name" "$ops" "$(awk -v t=$((t1 - t0)) -v hz="$hz" -v n="$total" 'BEGIN {printf "%.2f", t / hz * 1e6 / n}')"
}

note_run_start
# A: one instance, 2 shards on CPUs 0-1, as a one-node cluster.
p1=$(free_ports 1)
mkdir -p "$work/single"
"$bin/shardis-server" --port "$p1" --dir "$work/single" --shards 2 --cpus 0-1 --save "" --cluster-enabled yes \
    >"$work/single.log" 2>&1 &
single_pid=$!
for _ in $(seq 200); do redis-cli -p "$p1" ping >/dev/null 2>&1 && break; sleep 0.05; done
redis-cli -p "$p1" cluster addslotsrange 0 16383 >/dev/null
for _ in $(seq 200); do redis-cli -p "$p1" cluster info | grep -q cluster_state:ok && break; sleep 0.05; done
a=$(run "one-2-shard-instance" "$p1" "$single_pid")
kill "$single_pid"; wait "$single_pid" 2>/dev/null || true; single_pid=

# B: two 1-shard instances, one per (faked) node, one keyspace.
p2=$(free_ports 2)
topo=()
[[ -n $TOPOLOGY ]] && topo=(--topology "$TOPOLOGY")
"$bin/shardis-pool" up --dir "$work/pool" --count 2 --base-port "$p2" --cluster "${topo[@]}" -- save "" shards 1 >/dev/null
b=$(run "two-1-shard-instances" "$p2" "$(cat "$work/pool/i0/shardis.pid")" "$(cat "$work/pool/i1/shardis.pid")")

report=$(
    printf '\n## Cluster pool vs one instance (`%s`), %s\n\n' "$(command_line)" "$(date -u '+%Y-%m-%d %H:%M:%SZ')"
    printf 'memtier_benchmark --cluster-mode -t %s -c %s --pipeline %s --ratio %s, %s keys of %s bytes, %ss per run;\n' \
        "$THREADS" "$CLIENTS" "$PIPELINE" "$RATIO" "$KEYS" "$DATA" "$SECONDS_PER_RUN"
    printf 'topology %s; shardis %s on %s (%s CPUs), load average before: %s; memtier shares the CPUs.\n\n' \
        "${TOPOLOGY:-real}" "$shardis_rev" "$cpu_model" "$(nproc)" "$loadavg_before"
    printf '| layout | ops/s | server CPU µs/op |\n| --- | ---: | ---: |\n'
    for r in "$a" "$b"; do read -r n o c <<<"$r"; printf '| %s | %s | %s |\n' "$n" "$o" "$c"; done
)
printf '%s\n' "$report"
if [[ $APPEND == 1 ]]; then printf '%s\n' "$report" >>"$root/perf/RESULTS.md"; fi
