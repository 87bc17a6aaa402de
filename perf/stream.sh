#!/usr/bin/env bash
# perf/stream.sh: streams, shardis (1 shard) against Debian's redis-server, same load,
# same core, as perf/compare.sh does it: both servers pinned to SERVER_CPU (default 0),
# redis-benchmark pinned to CLIENT_CPU (default 1), persistence off, and for each test
# the *server CPU time per request* (utime+stime from /proc/PID/stat before and after
# the run, divided by the request count) next to the throughput.
#
# Tests, at pipeline 1 and 16:
#   XADD        `XADD bench-add MAXLEN ~ 1000000 * f v`
#   XREADGROUP  `XREADGROUP GROUP g c COUNT 1 STREAMS bench-read >` on a stream
#               preloaded (unmeasured) with N entries of IDs 1-0 .. N-0, so that each
#               request delivers one new entry into the group's PEL
#   XACK        `XACK bench-read g __rand_int__-0` with -r N: acknowledges the entries
#               delivered above (random IDs; an ID already acknowledged counts 0)
#   XREADGROUP+XACK, the pair: the sum of the two CPU-per-op figures.
#
# Usage:  perf/stream.sh            full run, appends to perf/RESULTS.md
#         QUICK=1 perf/stream.sh    smoke run with small request counts
# Knobs (env): N_P1 (100000), N_P16 (500000), CLIENTS (50), SERVER_CPU (0),
#   CLIENT_CPU (1), SHARDIS_BIN, RESULTS (perf/RESULTS.md; /dev/null to skip), NO_BUILD=1.
set -euo pipefail
shopt -s inherit_errexit

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=perf/lib.sh
source "$here/lib.sh"

KNOBS="QUICK N_P1 N_P16 CLIENTS SERVER_CPU CLIENT_CPU SHARDIS_BIN NO_BUILD"
remember_knobs

QUICK=${QUICK:-0}
request_counts 100000 500000
CLIENTS=${CLIENTS:-50}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
RESULTS=${RESULTS:-$here/RESULTS.md}
# The issue's target: shardis CPU per op at most 0.8x Redis's at P16.
TARGET_P16=0.8

for t in redis-server redis-benchmark redis-cli taskset; do
    command -v "$t" >/dev/null || die "$t is required"
done
need_cpus
shardis_bin

work=$(mktemp -d /tmp/shardis-stream.XXXXXX)
cleanup_on_exit
start_peer redis redis-server
start_shardis shardis

# Fresh `bench-read` stream of $2 entries (IDs 1-0 .. N-0) with group g, on port $1.
preload() {
    local port=$1 n=$2
    redis-cli -p "$port" del bench-read >/dev/null
    awk -v n="$n" 'BEGIN { for (i = 1; i <= n; i++) {
        id = i "-0"; printf "*5\r\n$4\r\nXADD\r\n$10\r\nbench-read\r\n$%d\r\n%s\r\n$1\r\nf\r\n$1\r\nv\r\n", length(id), id } }' \
        | redis-cli -p "$port" --pipe >/dev/null
    redis-cli -p "$port" xgroup create bench-read g 0 >/dev/null
}

# One measured redis-benchmark run on port $1 / pid $2 at pipeline $3, $4 requests, the
# rest being redis-benchmark arguments. Prints "ops_per_sec cpu_us_per_op".
bench_once() {
    local port=$1 pid=$2 pipe=$3 n=$4
    shift 4
    bench_cpu "$port" "$pid" "$n" "" -c "$CLIENTS" -P "$pipe" "$@"
}

note_run_start
rows=()
misses=0
for pipe in 1 16; do
    if ((pipe == 1)); then n=$N_P1; else n=$N_P16; fi
    declare -A us=() rps=()
    for who in shardis redis; do
        if [[ $who == shardis ]]; then p=$shardis_port pid=$shardis_pid; else p=$redis_port pid=$redis_pid; fi
        read -r rps[$who.xadd] us[$who.xadd] < <(bench_once "$p" "$pid" "$pipe" "$n" \
            XADD bench-add MAXLEN '~' 1000000 '*' f v)
        preload "$p" "$n"
        read -r rps[$who.read] us[$who.read] < <(bench_once "$p" "$pid" "$pipe" "$n" \
            XREADGROUP GROUP g c COUNT 1 STREAMS bench-read '>')
        read -r rps[$who.ack] us[$who.ack] < <(bench_once "$p" "$pid" "$pipe" "$n" -r "$n" \
            XACK bench-read g __rand_int__-0)
        log "P$pipe $who: XADD ${rps[$who.xadd]}/s ${us[$who.xadd]} us; XREADGROUP ${rps[$who.read]}/s ${us[$who.read]} us; XACK ${rps[$who.ack]}/s ${us[$who.ack]} us"
    done
    for t in xadd read ack pair; do
        case $t in
            xadd) name=XADD ;;
            read) name=XREADGROUP ;;
            ack) name=XACK ;;
            pair) name="XREADGROUP+XACK"
                us[shardis.pair]=$(awk -v a="${us[shardis.read]}" -v b="${us[shardis.ack]}" 'BEGIN { printf "%.3f", a + b }')
                us[redis.pair]=$(awk -v a="${us[redis.read]}" -v b="${us[redis.ack]}" 'BEGIN { printf "%.3f", a + b }')
                rps[shardis.pair]="-" rps[redis.pair]="-" ;;
        esac
        read -r ratio verdict < <(awk -v s="${us[shardis.$t]}" -v r="${us[redis.$t]}" -v t="$TARGET_P16" -v p="$pipe" 'BEGIN {
            if (r <= 0) { print "n/a ?"; exit }
            q = s / r; printf "%.2f %s\n", q, (p == 1 ? "(P1: no target)" : (q <= t ? "met" : "MISSED")) }')
        [[ $verdict != MISSED ]] || misses=$((misses + 1))
        rows+=("| $name | $pipe | ${rps[shardis.$t]} | ${rps[redis.$t]} | ${us[shardis.$t]} | ${us[redis.$t]} | $ratio | ≤ $TARGET_P16 at P16: $verdict |")
    done
done
loadavg_after=$(cut -d' ' -f1-3 /proc/loadavg)

report=$(
    echo "## $started (streams)"
    echo
    echo "- machine: $ncpu CPUs, $cpu_model, kernel $(uname -r)"
    echo "- load average (1/5/15 min) before: $loadavg_before; after: $loadavg_after"
    echo "- shardis $shardis_rev (\`--shards 1\`), $(redis-server --version | awk '{ print $1, $3 }')"
    echo "- servers on CPU $SERVER_CPU, redis-benchmark on CPU $CLIENT_CPU; \`-c $CLIENTS\`, \`-n $N_P1\` at P1, \`-n $N_P16\` at P16; CPU from /proc/PID/stat at $tick ticks/s"
    echo "- command: \`$(command_line)\`; tests as described in perf/stream.sh"
    echo
    echo "| test | pipeline | shardis ops/s | redis ops/s | shardis µs/op | redis µs/op | CPU ratio (shardis/redis) | target |"
    echo "|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${rows[@]}"
    echo
)
publish_report
((misses == 0)) || log "$misses cell(s) missed the CPU-per-op target"
