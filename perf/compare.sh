#!/usr/bin/env bash
# perf/compare.sh: shardis (1 shard) against Debian's redis-server, same load, same core.
#
# Both servers run pinned to one CPU (SERVER_CPU, default 0) with persistence off;
# redis-benchmark runs pinned to another (CLIENT_CPU, default 1). For every test we
# report throughput and *server CPU time per request*: utime+stime of the server
# process (all its threads, from /proc/PID/stat fields 14 and 15) read right before
# and right after that test's redis-benchmark run, divided by the request count.
# CPU per op is the number that matters on a shared box: throughput at P1 is bounded
# by the single-threaded load generator, and CPU time is far less disturbed by other
# processes than wall-clock rates are.
#
# Usage:  perf/compare.sh            full run, appends to perf/RESULTS.md
#         QUICK=1 perf/compare.sh    smoke run with small request counts
# Knobs (env): N_P1 (200000), N_P16 (2000000), CLIENTS (50), KEYSPACE (100000),
#   DATA_SIZE (3, redis-benchmark's default), RUNS (1; median of RUNS per cell),
#   TESTS (the string tests, then the data-type tests: "set get incr mset lpush lpop
#   sadd hset spop zadd lrange_100"; STRING_ONLY=1 keeps the first four),
#   TARGET_P16_TYPES (0.7: the P16 target of the data-type tests), SERVER_CPU (0), CLIENT_CPU (1),
#   SHARDIS_BIN (default: release build under $CARGO_TARGET_DIR or ./target),
#   RESULTS (perf/RESULTS.md; set to /dev/null to skip recording), NO_BUILD=1.
set -euo pipefail
# Failures inside $(...) stop the script too.
shopt -s inherit_errexit

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=perf/lib.sh
source "$here/lib.sh"

KNOBS="QUICK N_P1 N_P16 CLIENTS KEYSPACE DATA_SIZE RUNS TESTS STRING_ONLY SERVER_CPU CLIENT_CPU SHARDIS_BIN NO_BUILD"
# Remember which knobs the caller set (before defaults are filled in below).
remember_knobs

QUICK=${QUICK:-0}
if [[ $QUICK == 1 ]]; then
    N_P1=${N_P1:-20000}
    N_P16=${N_P16:-200000}
else
    N_P1=${N_P1:-200000}
    N_P16=${N_P16:-2000000}
fi
CLIENTS=${CLIENTS:-50}
KEYSPACE=${KEYSPACE:-100000}
DATA_SIZE=${DATA_SIZE:-3}
RUNS=${RUNS:-1}
# SET runs first so that GET mostly hits; LPUSH fills the list LPOP drains, SADD the
# set SPOP pops from (redis-benchmark's data-type tests each use one key: mylist,
# myset, myhash, myzset).
STRING_TESTS="set get incr mset"
TYPE_TESTS="lpush lpop sadd hset spop zadd lrange_100"
if [[ ${STRING_ONLY:-0} == 1 ]]; then
    TESTS=${TESTS:-$STRING_TESTS}
else
    TESTS=${TESTS:-$STRING_TESTS $TYPE_TESTS}
fi
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
RESULTS=${RESULTS:-$here/RESULTS.md}
# Targets from the issue: shardis CPU/op over Redis's CPU/op.
TARGET_P1=0.85
TARGET_P16=0.6
# The data-type tests (anything not in STRING_TESTS) have a looser P16 target.
TARGET_P16_TYPES=${TARGET_P16_TYPES:-0.7}

# --- prerequisites ------------------------------------------------------------------
if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null \
    || ! command -v redis-cli >/dev/null; then
    log "installing redis-server and redis-tools"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools >/dev/null
fi
command -v taskset >/dev/null || die "taskset (util-linux) is required"
need_cpus

shardis_bin

tick=$(getconf CLK_TCK)

# --- servers --------------------------------------------------------------------------
work=$(mktemp -d /tmp/shardis-compare.XXXXXX)
cleanup_on_exit

pick_port
redis_port=$port
taskset -c "$SERVER_CPU" redis-server --port "$redis_port" --bind 127.0.0.1 \
    --save "" --appendonly no --daemonize no --dir "$work" \
    --logfile "$work/redis.log" >/dev/null 2>&1 &
redis_pid=$!
pids+=("$redis_pid")

pick_port
shardis_port=$port
# shardis pins its shard thread itself; tell it the same CPU taskset allows.
(cd "$work" && exec taskset -c "$SERVER_CPU" "$SHARDIS_BIN" --port "$shardis_port" --bind 127.0.0.1 \
    --shards 1 --cpus "$SERVER_CPU" --save "" --appendonly no --dir "$work") \
    >"$work/shardis.log" 2>&1 &
shardis_pid=$!
pids+=("$shardis_pid")

wait_ready "$redis_port" "$redis_pid" "$work/redis.log"
wait_ready "$shardis_port" "$shardis_pid" "$work/shardis.log"
# The CPU numbers are read from these PIDs: make sure they are the servers themselves
# (taskset and the subshell exec into them) and not a wrapper process.
[[ $(</proc/$redis_pid/comm) == redis-server* ]] || die "pid $redis_pid is not redis-server"
[[ $(</proc/$shardis_pid/comm) == shardis* ]] || die "pid $shardis_pid is not shardis-server"


# One redis-benchmark run of test $3 (e.g. "get") against port $1 / pid $2 at pipeline
# $4 with $5 requests. Prints "ops_per_sec cpu_us_per_op".
#
# LRANGE_N: `-t lrange_100` would first run N LPUSHes ("LPUSH (needed to benchmark
# LRANGE)") inside the measured window. Instead, a small unmeasured LPUSH run makes
# sure mylist holds at least N elements, and the measured run issues exactly
# `LRANGE mylist 0 N-1` (the command redis-benchmark's lrange_N test sends).
bench_once() {
    local port=$1 pid=$2 test=$3 pipe=$4 n=$5 before after out rps row what
    what=(-t "$test")
    row=${test^^}
    if [[ $test =~ ^lrange_([0-9]+)$ ]]; then
        local len=${BASH_REMATCH[1]}
        taskset -c "$CLIENT_CPU" redis-benchmark -p "$port" -c "$CLIENTS" -P 16 -n $((len * 10)) \
            -d "$DATA_SIZE" -t lpush --csv >/dev/null 2>"$work/bench.err" \
            || { cat "$work/bench.err" >&2; die "redis-benchmark failed (lrange preload, port $port)"; }
        # A custom command must come after every option.
        what=(LRANGE mylist 0 $((len - 1)))
        row="LRANGE mylist 0 $((len - 1))"
    fi
    before=$(cpu_ticks "$pid")
    out=$(taskset -c "$CLIENT_CPU" redis-benchmark -p "$port" -c "$CLIENTS" -P "$pipe" -n "$n" \
        -r "$KEYSPACE" -d "$DATA_SIZE" --csv "${what[@]}" 2>"$work/bench.err") \
        || { cat "$work/bench.err" >&2; die "redis-benchmark failed ($test, port $port)"; }
    after=$(cpu_ticks "$pid")
    if ! kill -0 "$pid" 2>/dev/null; then
        tail -n 20 "$work"/*.log >&2
        die "server on port $port died during $test"
    fi
    # CSV: "test","rps","avg_latency_ms",... ; MSET's test column reads "MSET (10 keys)".
    rps=$(awk -F'","' -v t="$row" '
        { sub(/^"/, "", $1) }
        $1 == t || index($1, t " (") == 1 { print $2; found = 1 }
        END { if (!found) exit 1 }' <<<"$out") \
        || { printf '%s\n' "$out" >&2; die "no CSV row for $test in redis-benchmark output"; }
    awk -v r="$rps" -v b="$before" -v a="$after" -v hz="$tick" -v n="$n" \
        'BEGIN { printf "%.0f %.3f\n", r, (a - b) / hz * 1e6 / n }'
}


note_run_start

rows=()
misses=0
for pipe in 1 16; do
    if ((pipe == 1)); then n=$N_P1; else n=$N_P16; fi
    for test in $TESTS; do
        if ((pipe == 1)); then
            target=$TARGET_P1
        elif [[ " $STRING_TESTS " == *" $test "* ]]; then
            target=$TARGET_P16
        else
            target=$TARGET_P16_TYPES
        fi
        s_rps=() s_us=() r_rps=() r_us=()
        for ((run = 0; run < RUNS; run++)); do
            # Alternate which server goes first so slow drifts in machine load hit both.
            if ((run % 2 == 0)); then order="shardis redis"; else order="redis shardis"; fi
            for who in $order; do
                if [[ $who == shardis ]]; then
                    # $(...) rather than <(...) so that a failing run stops the script.
                    res=$(bench_once "$shardis_port" "$shardis_pid" "$test" "$pipe" "$n")
                    read -r rps us <<<"$res"
                    s_rps+=("$rps") s_us+=("$us")
                else
                    res=$(bench_once "$redis_port" "$redis_pid" "$test" "$pipe" "$n")
                    read -r rps us <<<"$res"
                    r_rps+=("$rps") r_us+=("$us")
                fi
                log "$(printf '%-5s P%-2s %-8s %10s ops/s %8s us/op' "${test^^}" "$pipe" "$who" "$rps" "$us")"
            done
        done
        sr=$(printf '%s\n' "${s_rps[@]}" | median)
        su=$(printf '%s\n' "${s_us[@]}" | median)
        rr=$(printf '%s\n' "${r_rps[@]}" | median)
        ru=$(printf '%s\n' "${r_us[@]}" | median)
        read -r ratio verdict < <(awk -v s="$su" -v r="$ru" -v t="$target" 'BEGIN {
            if (r <= 0) { print "n/a ?"; exit }
            q = s / r; printf "%.2f %s\n", q, (q <= t ? "met" : "MISSED") }')
        [[ $verdict == met ]] || misses=$((misses + 1))
        rows+=("$(printf '| %s | %s | %.0f | %.0f | %.3f | %.3f | %s | ≤ %s %s |' \
            "${test^^}" "$pipe" "$sr" "$rr" "$su" "$ru" "$ratio" "$target" "$verdict")")
    done
done
loadavg_after=$(cut -d' ' -f1-3 /proc/loadavg)

table=$(
    echo "| test | pipeline | shardis ops/s | redis ops/s | shardis µs/op | redis µs/op | CPU ratio (shardis/redis, lower is better) | target |"
    echo "|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${rows[@]}"
)
report=$(
    echo "## $started"
    echo
    echo "- machine: $ncpu CPUs, $cpu_model, kernel $(uname -r)"
    echo "- load average (1/5/15 min) before: $loadavg_before; after: $loadavg_after"
    echo "- shardis $shardis_rev (\`--shards 1\`), $(redis-server --version | awk '{ print $1, $3 }')"
    echo "- servers on CPU $SERVER_CPU, redis-benchmark on CPU $CLIENT_CPU; \`-c $CLIENTS -r $KEYSPACE -d $DATA_SIZE\`," \
        "\`-n $N_P1\` at P1, \`-n $N_P16\` at P16; median of $RUNS run(s); CPU from /proc/PID/stat at $tick ticks/s"
    echo "- command: \`$(command_line)\`"
    echo "- each test: \`taskset -c $CLIENT_CPU redis-benchmark -p PORT -c $CLIENTS -P {1,16} -n N -r $KEYSPACE -d $DATA_SIZE -t TEST --csv\`" \
        "(LRANGE_100: \`... LRANGE mylist 0 99\` after an unmeasured 1000-element LPUSH preload)"
    echo
    echo "$table"
    echo
)
if [[ $RESULTS != /dev/null && ! -s $RESULTS ]]; then
    printf '# shardis vs Redis: server CPU per request\n\nAppended by `perf/compare.sh`; newest last.\n\n' >"$RESULTS"
fi
publish_report
if ((misses > 0)); then
    log "$misses cell(s) missed the CPU-per-op target"
fi
