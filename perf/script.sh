#!/usr/bin/env bash
# perf/script.sh: EVALSHA of a rate-limiter script (INCR + EXPIRE) on shardis (1 shard)
# against Debian's redis-server (and, with BASE_BIN, an older shardis), at P1 and P16,
# server CPU per call.
#
# Same method as perf/compare.sh: the servers pinned to SERVER_CPU with persistence
# off, redis-benchmark pinned to CLIENT_CPU; server CPU time (utime+stime from
# /proc/PID/stat) read around each run, divided by the call count. The script is
# loaded with SCRIPT LOAD first, so every call is an EVALSHA of a cached script (on
# shardis: a pre-built Lua state per shard, the function compiled once). Each cell
# runs RUNS times on every server, interleaved (the first server rotates), and keeps
# each server's lowest CPU per call (the run least disturbed by other load).
#
# Usage:  perf/script.sh           appends to perf/RESULTS.md
#         QUICK=1 perf/script.sh   smoke run
# Knobs (env): N_P1 (100000), N_P16 (1000000), RUNS (3), CLIENTS (50), KEYSPACE (100000),
#   SERVER_CPU (0), CLIENT_CPU (1), SHARDIS_BIN, BASE_BIN (an older shardis-server: a
#   third column), RESULTS (perf/RESULTS.md), NO_BUILD=1.
set -euo pipefail
shopt -s inherit_errexit

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=perf/lib.sh
source "$here/lib.sh"

KNOBS="QUICK N_P1 N_P16 RUNS CLIENTS KEYSPACE SERVER_CPU CLIENT_CPU SHARDIS_BIN BASE_BIN NO_BUILD"
remember_knobs

request_counts 100000 1000000
RUNS=${RUNS:-3}
CLIENTS=${CLIENTS:-50}
KEYSPACE=${KEYSPACE:-100000}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
RESULTS=${RESULTS:-$here/RESULTS.md}
# The issue's target: shardis CPU per call over Redis's, at P16.
TARGET_P16=0.8
SCRIPT="local n = redis.call('INCR', KEYS[1]) if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end return n"

command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null || die "redis-server and redis-benchmark are required"
command -v taskset >/dev/null || die "taskset (util-linux) is required"
need_cpus
shardis_bin
[[ -z ${BASE_BIN:-} || -x $BASE_BIN ]] || die "BASE_BIN is not an executable: $BASE_BIN"

work=$(mktemp -d /tmp/shardis-script.XXXXXX)
cleanup_on_exit
start_peer redis redis-server
start_shardis shardis
servers="shardis redis"
if [[ -n ${BASE_BIN:-} ]]; then
    mkdir -p "$work/base"
    work=$work/base SHARDIS_BIN=$BASE_BIN start_shardis base
    servers+=" base"
fi
port_of() { local v=${1}_port; printf '%s' "${!v}"; }
pid_of() { local v=${1}_pid; printf '%s' "${!v}"; }

# One run on server $1 at pipeline $pipe with $n calls: "ops_per_sec cpu_us_per_call".
bench_once() {
    local port pid sha
    port=$(port_of "$1")
    pid=$(pid_of "$1")
    sha=$(redis-cli -p "$port" script load "$SCRIPT")
    [[ ${#sha} == 40 ]] || die "SCRIPT LOAD failed on port $port: $sha"
    bench_cpu "$port" "$pid" "$n" "" -c "$CLIENTS" -P "$pipe" -r "$KEYSPACE" EVALSHA "$sha" 1 rl:__rand_int__ 60
}

note_run_start
rows=()
misses=0
for pipe in 1 16; do
    n=$N_P1
    [[ $pipe == 16 ]] && n=$N_P16
    log "P$pipe, $RUNS run(s) of $n calls per server"
    measure_cell bench_once "$servers"
    s_cpu=${CELL_US[shardis]}
    r_cpu=${CELL_US[redis]}
    ratio=$(awk -v s="$s_cpu" -v r="$r_cpu" 'BEGIN { printf "%.2f", (r > 0) ? s / r : 0 }')
    target="-"
    if [[ $pipe == 16 ]]; then
        target="≤ $TARGET_P16"
        if awk -v x="$ratio" -v t="$TARGET_P16" 'BEGIN { exit !(x > t) }'; then
            target+=" (missed)"
            misses=$((misses + 1))
        fi
    fi
    base_cols=""
    if [[ -n ${BASE_BIN:-} ]]; then
        b_cpu=${CELL_US[base]}
        base_cols=" ${CELL_RPS[base]} | $b_cpu | $(awk -v s="$s_cpu" -v b="$b_cpu" 'BEGIN { printf "%.2f", (b > 0) ? s / b : 0 }') |"
    fi
    rows+=("| EVALSHA rate limiter | $pipe | ${CELL_RPS[shardis]} | ${CELL_RPS[redis]} | $s_cpu | $r_cpu | $ratio | $target |$base_cols")
done
loadavg_after=$(cut -d' ' -f1-3 /proc/loadavg)

report=$(
    echo "## $started: scripting (perf/script.sh)"
    echo
    echo "- machine: $ncpu CPUs, $cpu_model, kernel $(uname -r)"
    echo "- load average (1/5/15 min) before: $loadavg_before; after: $loadavg_after"
    echo "- shardis $shardis_rev (\`--shards 1\`), $(redis-server --version | awk '{ print $1, $3 }')${BASE_BIN:+; base: $BASE_BIN}"
    echo "- servers on CPU $SERVER_CPU, redis-benchmark on CPU $CLIENT_CPU; \`-c $CLIENTS -r $KEYSPACE\`, \`-n $N_P1\` at P1, \`-n $N_P16\` at P16; $RUNS interleaved runs per server, the lowest CPU per call kept"
    echo "- command: \`$(command_line)\`; each run: \`redis-benchmark ... EVALSHA <sha> 1 rl:__rand_int__ 60\` of \`$SCRIPT\`"
    echo
    if [[ -n ${BASE_BIN:-} ]]; then
        echo "| test | pipeline | shardis ops/s | redis ops/s | shardis µs/call | redis µs/call | CPU ratio (shardis/redis) | target | base ops/s | base µs/call | shardis/base |"
        echo "|---|---|---|---|---|---|---|---|---|---|---|"
    else
        echo "| test | pipeline | shardis ops/s | redis ops/s | shardis µs/call | redis µs/call | CPU ratio (shardis/redis) | target |"
        echo "|---|---|---|---|---|---|---|---|"
    fi
    printf '%s\n' "${rows[@]}"
    echo
)
publish_report
((misses == 0)) || log "$misses cell(s) missed the CPU-per-call target"
