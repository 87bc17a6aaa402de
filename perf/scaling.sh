#!/usr/bin/env bash
# perf/scaling.sh: server CPU per op of shardis with 2 shards on 2 cores against 1
# shard on 1 core, for random keys, and the CPU cost of a cross-shard hop.
#
# 1. redis-benchmark GET and SET, `-c CLIENTS -P PIPE -r KEYSPACE` (random keys, so
#    with 2 shards about half the requests hop to the other shard), against
#    `--shards 1` on SERVER_CPU and `--shards 2` on SERVER_CPU,CLIENT_CPU. The load
#    generator runs on CLIENT_CPU either way: with 2 shards it shares that core with
#    shard 1 (there are only 2), which costs wall time but not server CPU per op.
# 2. perf/hop.py on each server: one connection (so it stays on one shard thread)
#    pipelining GET/SET batches on keys of one hash tag, then of another; with 2 shards
#    one tag is local, the other one hop away. Reported per shard thread.
# Each cell keeps the best of RUNS runs per side (lowest CPU per op).
#
# Usage:  perf/scaling.sh            appends to perf/RESULTS.md
#         QUICK=1 perf/scaling.sh    smoke run
# Knobs (env): N (2000000; QUICK 200000), CLIENTS (50), PIPE (16), KEYSPACE (100000),
#   RUNS (2), HOP_BATCHES (20000; QUICK 3000), SERVER_CPU (0), CLIENT_CPU (1),
#   SHARDIS_BIN, RESULTS (perf/RESULTS.md; /dev/null to skip), NO_BUILD=1.
set -euo pipefail
shopt -s inherit_errexit

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=perf/lib.sh
source "$here/lib.sh"

KNOBS="QUICK N CLIENTS PIPE KEYSPACE RUNS HOP_BATCHES SERVER_CPU CLIENT_CPU SHARDIS_BIN NO_BUILD"
remember_knobs
if [[ ${QUICK:-0} == 1 ]]; then
    N=${N:-200000}
    HOP_BATCHES=${HOP_BATCHES:-3000}
else
    N=${N:-2000000}
    HOP_BATCHES=${HOP_BATCHES:-20000}
fi
CLIENTS=${CLIENTS:-50}
PIPE=${PIPE:-16}
KEYSPACE=${KEYSPACE:-100000}
RUNS=${RUNS:-2}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
RESULTS=${RESULTS:-$here/RESULTS.md}
TARGET=1.15

for t in redis-benchmark redis-cli taskset python3; do
    command -v "$t" >/dev/null || die "$t is required"
done
need_cpus
shardis_bin

work=$(mktemp -d /tmp/shardis-scaling.XXXXXX)
cleanup_on_exit
mkdir -p "$work/one" "$work/two"
work_root=$work
# Each server needs its own data directory (a lock guards it).
work=$work_root/one start_shardis one 1 "$SERVER_CPU"
work=$work_root/two start_shardis two 2 "$SERVER_CPU,$CLIENT_CPU"
work=$work_root

scale_who() {
    local port=${1}_port pid=${1}_pid
    bench_cpu "${!port}" "${!pid}" "$N" "${sc_test^^}" -c "$CLIENTS" -P "$PIPE" -r "$KEYSPACE" -d 8 -t "$sc_test"
}

note_run_start
rows=()
for sc_test in set get; do
    log "${sc_test^^} -P $PIPE, random keys"
    measure_cell scale_who "one two"
    ratio=$(awk -v a="${CELL_US[two]}" -v b="${CELL_US[one]}" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }')
    verdict=$(awk -v r="$ratio" -v t="$TARGET" 'BEGIN { print (r <= t) ? "met" : "MISSED" }')
    rows+=("| ${sc_test^^} | ${CELL_RPS[one]} | ${CELL_RPS[two]} | ${CELL_US[one]} | ${CELL_US[two]} | $ratio | ≤ $TARGET $verdict |")
done

hops=()
for who in one two; do
    port=${who}_port pid=${who}_pid
    best=""
    for ((run = 0; run < RUNS; run++)); do
        out=$(taskset -c "$CLIENT_CPU" python3 "$here/hop.py" "${!port}" "${!pid}" "$HOP_BATCHES" "$PIPE")
        log "$(sed "s/^/  $who /" <<<"$out")"
        # Keep, per line (tag and command), the run with the lowest CPU per op.
        best=$(printf '%s\n%s\n' "$best" "$out" | awk 'NF {
            split($5, c, "="); key = $1 " " $2
            if (!(key in v) || c[2] < v[key]) { v[key] = c[2]; line[key] = $0 }
            if (!(key in order)) { order[key] = ++n; keys[n] = key } }
            END { for (i = 1; i <= n; i++) print line[keys[i]] }')
    done
    while read -r tag cmd ops rate cpu rest; do
        hops+=("| $who | $tag | $cmd | ${rate#ops_per_s=} | ${cpu#cpu_us_per_op=} | $rest |")
    done <<<"$best"
done
loadavg_after=$(cut -d' ' -f1-3 /proc/loadavg)

report=$(
    echo "## Scaling: $started (perf/scaling.sh)"
    echo
    echo "- machine: $ncpu CPUs, $cpu_model, kernel $(uname -r)"
    echo "- load average (1/5/15 min) before: $loadavg_before; after: $loadavg_after"
    echo "- shardis $shardis_rev: \`--shards 1\` on CPU $SERVER_CPU (\"one\"), \`--shards 2\` on CPUs $SERVER_CPU,$CLIENT_CPU (\"two\"); load generators on CPU $CLIENT_CPU; best of $RUNS runs"
    echo "- command: \`$(command_line)\`; each cell \`redis-benchmark -c $CLIENTS -P $PIPE -n $N -r $KEYSPACE -d 8 -t TEST\`"
    echo
    echo "| test | one ops/s | two ops/s | one µs/op | two µs/op | two / one | target |"
    echo "|---|---|---|---|---|---|---|"
    printf '%s\n' "${rows[@]}"
    echo
    echo "Cross-shard hop (\`perf/hop.py PORT PID $HOP_BATCHES $PIPE\`: one connection, batches of $PIPE; on \"two\", {b} lives on shard 0 and {a} on shard 1):"
    echo
    echo "| server | keys | command | ops/s | server µs/op | µs/op per shard thread |"
    echo "|---|---|---|---|---|---|"
    printf '%s\n' "${hops[@]}"
    echo
)
publish_report
