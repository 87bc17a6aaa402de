#!/usr/bin/env bash
# perf/floor.sh: shardis and redis-server against the floor of the request path.
#
# The floor is examples/floor_server.rs: a data-less io_uring server that only frames
# RESP (multishot receive from a buffer ring, one send per receive, one enter per
# turn) and answers GET with a fixed bulk and SET with +OK. With one hot key
# (redis-benchmark's default, no -r) nothing is left for a real server to pay but its
# request path, so shardis's CPU per op over the floor's is what issue 14's
# "Request path" goal bounds (≤ 1.05×).
#
# The three servers run in one run, each pinned to SERVER_CPU (0), persistence off
# (shardis `--shards 1`); redis-benchmark is pinned to CLIENT_CPU (1). Server CPU per
# op is utime+stime of the server process (/proc/PID/stat) around each benchmark run,
# over the request count. Each cell runs RUNS times, the servers' order rotating per
# run, and the minimum is kept (the box is shared: interference only adds).
#
# Usage:  perf/floor.sh             appends to perf/RESULTS.md
#         QUICK=1 perf/floor.sh     N=300000, RUNS=3
# Knobs (env): TESTS ("get set"), PIPE (16), N (2000000), RUNS (3), CLIENTS (50),
#   KEYSPACE (empty: one key; a number adds `-r KEYSPACE`), DATA_SIZE (3),
#   SERVER_CPU (0), CLIENT_CPU (1), SHARDIS_BIN, FLOOR_BIN, NO_BUILD=1,
#   SERVERS ("floor shardis redis"; add "base" for an A/B against another shardis
#   binary, BASE_BIN), RESULTS (perf/RESULTS.md; /dev/null to skip).
set -euo pipefail
shopt -s inherit_errexit

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=perf/lib.sh
source "$here/lib.sh"

KNOBS="QUICK TESTS PIPE N RUNS CLIENTS KEYSPACE DATA_SIZE SERVER_CPU CLIENT_CPU SHARDIS_BIN FLOOR_BIN BASE_BIN NO_BUILD SERVERS"
remember_knobs

QUICK=${QUICK:-0}
if [[ $QUICK == 1 ]]; then N=${N:-300000}; else N=${N:-2000000}; fi
TESTS=${TESTS:-get set}
PIPE=${PIPE:-16}
RUNS=${RUNS:-3}
CLIENTS=${CLIENTS:-50}
KEYSPACE=${KEYSPACE:-}
DATA_SIZE=${DATA_SIZE:-3}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
SERVERS=${SERVERS:-floor shardis redis}
RESULTS=${RESULTS:-$here/RESULTS.md}
TARGET_FLOOR=1.05

command -v redis-server >/dev/null || die "redis-server is required"
command -v redis-benchmark >/dev/null || die "redis-benchmark is required"
command -v taskset >/dev/null || die "taskset (util-linux) is required"
need_cpus
shardis_bin
if [[ -z ${FLOOR_BIN:-} ]]; then
    FLOOR_BIN=${CARGO_TARGET_DIR:-$root/target}/release/examples/floor_server
    if [[ ${NO_BUILD:-0} != 1 ]]; then
        log "building the floor server (release example)"
        (cd "$root" && cargo build --release --quiet --example floor_server)
    fi
fi
[[ -x $FLOOR_BIN ]] || die "no floor server at $FLOOR_BIN"
tick=$(getconf CLK_TCK)

work=$(mktemp -d /tmp/shardis-floor.XXXXXX)
cleanup_on_exit

declare -A port_of=() pid_of=()
for who in $SERVERS; do
    pick_port
    port_of[$who]=$port
    case $who in
        floor)
            bin=$FLOOR_BIN
            taskset -c "$SERVER_CPU" "$FLOOR_BIN" "$port" >"$work/floor.log" 2>&1 &
            ;;
        shardis | base)
            bin=$SHARDIS_BIN
            if [[ $who == base ]]; then bin=${BASE_BIN:?"base needs BASE_BIN"}; fi
            mkdir -p "$work/$who"
            (cd "$work/$who" && exec taskset -c "$SERVER_CPU" "$bin" --port "$port" --bind 127.0.0.1 \
                --shards 1 --cpus "$SERVER_CPU" --save "" --appendonly no --dir "$work/$who") >"$work/$who.log" 2>&1 &
            ;;
        redis)
            bin=redis-server
            taskset -c "$SERVER_CPU" redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
                --daemonize no --dir "$work" --logfile "$work/redis.log" >/dev/null 2>&1 &
            ;;
        *) die "unknown server $who (floor, shardis, base, redis)" ;;
    esac
    pid_of[$who]=$!
    pids+=("$!")
    wait_ready "$port" "$!" "$work/$who.log"
    check_comm "${pid_of[$who]}" "$bin"
done

# One redis-benchmark run of test $2 against server $1; prints CPU µs per op.
bench_once() {
    local who=$1 test=$2 before after range=()
    [[ -n $KEYSPACE ]] && range=(-r "$KEYSPACE")
    before=$(cpu_ticks "${pid_of[$who]}")
    taskset -c "$CLIENT_CPU" redis-benchmark -p "${port_of[$who]}" -c "$CLIENTS" -P "$PIPE" -n "$N" \
        "${range[@]}" -d "$DATA_SIZE" -t "$test" --csv >/dev/null 2>"$work/bench.err" \
        || { cat "$work/bench.err" >&2; die "redis-benchmark failed ($test, $who)"; }
    after=$(cpu_ticks "${pid_of[$who]}")
    kill -0 "${pid_of[$who]}" 2>/dev/null || die "$who died during $test"
    awk -v b="$before" -v a="$after" -v hz="$tick" -v n="$N" 'BEGIN { printf "%.3f\n", (a - b) / hz * 1e6 / n }'
}

note_run_start
read -ra order <<<"$SERVERS"
declare -A best=()
for test in $TESTS; do
    for ((run = 0; run < RUNS; run++)); do
        # Rotate the order so drifts in the machine's load hit every server alike.
        for ((i = 0; i < ${#order[@]}; i++)); do
            who=${order[(i + run) % ${#order[@]}]}
            us=$(bench_once "$who" "$test")
            log "$(printf '%-4s P%-2s %-8s run %d: %s µs/op' "${test^^}" "$PIPE" "$who" "$run" "$us")"
            key=$who:$test
            if [[ -z ${best[$key]:-} ]] || awk -v a="$us" -v b="${best[$key]}" 'BEGIN { exit !(a < b) }'; then
                best[$key]=$us
            fi
        done
    done
done
loadavg_after=$(cut -d' ' -f1-3 /proc/loadavg)

# --- report -------------------------------------------------------------------------
has() { [[ " $SERVERS " == *" $1 "* ]]; }
header="| test |"
sep="|---|"
for who in $SERVERS; do header+=" $who µs/op |"; sep+="---|"; done
if has floor && has shardis; then header+=" shardis/floor | target |"; sep+="---|---|"; fi
if has floor && has redis; then header+=" redis/floor |"; sep+="---|"; fi
if has shardis && has redis; then header+=" shardis/redis |"; sep+="---|"; fi
if has shardis && has base; then header+=" shardis/base |"; sep+="---|"; fi
ratio() { awk -v a="${best[$1]}" -v b="${best[$2]}" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
rows=()
misses=0
for test in $TESTS; do
    row="| ${test^^} -P $PIPE |"
    for who in $SERVERS; do row+=" ${best[$who:$test]} |"; done
    if has floor && has shardis; then
        q=$(ratio "shardis:$test" "floor:$test")
        if awk -v q="$q" -v t="$TARGET_FLOOR" 'BEGIN { exit !(q <= t) }'; then v=met; else v=MISSED; misses=$((misses + 1)); fi
        row+=" $q | ≤ $TARGET_FLOOR $v |"
    fi
    if has floor && has redis; then row+=" $(ratio "redis:$test" "floor:$test") |"; fi
    if has shardis && has redis; then row+=" $(ratio "shardis:$test" "redis:$test") |"; fi
    if has shardis && has base; then row+=" $(ratio "shardis:$test" "base:$test") |"; fi
    rows+=("$row")
done
keys="one key"
[[ -n $KEYSPACE ]] && keys="$KEYSPACE random keys"
report=$(
    echo "## Request path against the floor (perf/floor.sh), $started"
    echo
    echo "- machine: $ncpu CPUs, $cpu_model, kernel $(uname -r)"
    echo "- load average (1/5/15 min) before: $loadavg_before; after: $loadavg_after"
    echo "- servers: floor (examples/floor_server.rs), shardis $shardis_rev (\`--shards 1\`)${BASE_BIN:+, base $BASE_BIN}," \
        "$(redis-server --version | awk '{ print $1, $3 }'); on CPU $SERVER_CPU; redis-benchmark on CPU $CLIENT_CPU"
    echo "- $keys, $CLIENTS clients, -d $DATA_SIZE, $N requests per run; server CPU per op (utime+stime), minimum of $RUNS runs"
    echo "- command: \`$(command_line)\`"
    echo
    printf '%s\n' "$header" "$sep" "${rows[@]}"
    echo
)
publish_report
((misses == 0)) || log "$misses target(s) missed"
