#!/usr/bin/env bash
# perf/compare.sh: shardis (1 shard) against Debian's redis-server and the Valkey peer,
# same load, same core: server CPU per request, then latency at fixed load.
#
# All servers run pinned to one CPU (SERVER_CPU, default 0) with persistence off; the
# load generators run pinned to another (CLIENT_CPU, default 1). Two parts:
#
# 1. redis-benchmark ("bench"): for every test, throughput and *server CPU time per
#    request*: utime+stime of the server process (all its threads, /proc/PID/stat
#    fields 14 and 15) read right before and after the run, divided by the request
#    count. The string tests run with random keys (`-r KEYSPACE`) and with one key
#    (redis-benchmark's default, where only the request path is left to pay).
# 2. memtier_benchmark ("memtier"): 1:10 SET:GET over KEYSPACE preloaded keys, CLIENTS
#    connections, at pipelines 1 and 16: first at saturation (no rate limit), then at
#    a fixed offered load of 50% and 80% of *Redis's* saturation throughput
#    (`--rate-limiting`, per connection). Reports throughput, p99 and p99.9 latency
#    and server CPU per op.
#
# Every cell runs RUNS times per server, rotating which goes first; each side keeps its
# best run (lowest CPU per op and latency, highest throughput): on a shared box the
# least disturbed run is the truest.
#
# Usage:  perf/compare.sh            full run, appends to perf/RESULTS.md
#         QUICK=1 perf/compare.sh    smoke run: small counts, string tests, 3 s memtier runs
# Knobs (env): PARTS ("bench memtier"), N_P1 (200000), N_P16 (2000000), CLIENTS (50),
#   KEYSPACE (100000), DATA_SIZE (3, redis-benchmark's default), RUNS (2), KEYS_MODES
#   ("random one": the string tests' key modes), TESTS (the string tests, then the
#   data-type tests: "set get incr mset lpush lpop sadd hset spop zadd lrange_100";
#   STRING_ONLY=1 keeps the first four), TARGET_P16_TYPES (0.7), MT_TIME (10 s per
#   memtier run), MT_PIPES ("1 16"), MT_LOADS ("50 80": % of Redis's saturation),
#   MT_DATA_SIZE (32), PEERS ("redis valkey"; add "base" with BASE_BIN=an older
#   shardis-server for before/after in one run), VALKEY_BIN (../shared/tools/valkey-server),
#   MEMTIER_BIN (../shared/tools/memtier_benchmark), SERVER_CPU (0), CLIENT_CPU (1),
#   SHARDIS_BIN (default: release build under $CARGO_TARGET_DIR or ./target),
#   RESULTS (perf/RESULTS.md; set to /dev/null to skip recording), NO_BUILD=1,
#   APPENDONLY (no; yes runs every server with its AOF on), APPENDFSYNC (everysec).
set -euo pipefail
# Failures inside $(...) stop the script too.
shopt -s inherit_errexit

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=perf/lib.sh
source "$here/lib.sh"

KNOBS="QUICK APPENDONLY APPENDFSYNC BASE_BIN PARTS N_P1 N_P16 CLIENTS KEYSPACE DATA_SIZE RUNS KEYS_MODES TESTS STRING_ONLY MT_TIME MT_PIPES MT_LOADS MT_DATA_SIZE PEERS SERVER_CPU CLIENT_CPU SHARDIS_BIN NO_BUILD"
# Remember which knobs the caller set (before defaults are filled in below).
remember_knobs

QUICK=${QUICK:-0}
STRING_TESTS="set get incr mset"
TYPE_TESTS="lpush lpop sadd hset spop zadd lrange_100"
if [[ $QUICK == 1 ]]; then
    N_P1=${N_P1:-20000}
    N_P16=${N_P16:-200000}
    MT_TIME=${MT_TIME:-3}
    STRING_ONLY=${STRING_ONLY:-1}
else
    N_P1=${N_P1:-200000}
    N_P16=${N_P16:-2000000}
    MT_TIME=${MT_TIME:-10}
fi
PARTS=${PARTS:-bench memtier}
CLIENTS=${CLIENTS:-50}
KEYSPACE=${KEYSPACE:-100000}
DATA_SIZE=${DATA_SIZE:-3}
RUNS=${RUNS:-2}
KEYS_MODES=${KEYS_MODES:-random one}
# SET runs first so that GET mostly hits; LPUSH fills the list LPOP drains, SADD the
# set SPOP pops from (redis-benchmark's data-type tests each use one key: mylist,
# myset, myhash, myzset).
if [[ ${STRING_ONLY:-0} == 1 ]]; then
    TESTS=${TESTS:-$STRING_TESTS}
else
    TESTS=${TESTS:-$STRING_TESTS $TYPE_TESTS}
fi
MT_PIPES=${MT_PIPES:-1 16}
MT_LOADS=${MT_LOADS:-50 80}
MT_DATA_SIZE=${MT_DATA_SIZE:-32}
PEERS=${PEERS:-redis valkey}
VALKEY_BIN=${VALKEY_BIN:-$root/../shared/tools/valkey-server}
MEMTIER_BIN=${MEMTIER_BIN:-$root/../shared/tools/memtier_benchmark}
# The worktrees sit one level deeper than the main checkout.
[[ -x $VALKEY_BIN ]] || VALKEY_BIN=/work/shared/tools/valkey-server
[[ -x $MEMTIER_BIN ]] || MEMTIER_BIN=/work/shared/tools/memtier_benchmark
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
RESULTS=${RESULTS:-$here/RESULTS.md}
# Targets from the issues: shardis CPU/op over Redis's CPU/op.
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

# A peer that cannot run here is left out with a line saying why.
peers=()
for p in $PEERS; do
    case $p in
        redis) peers+=(redis) ;;
        valkey)
            if [[ -x $VALKEY_BIN ]] && "$VALKEY_BIN" --version >/dev/null 2>&1; then
                peers+=(valkey)
            else
                log "skipping valkey: no runnable valkey-server at $VALKEY_BIN"
            fi ;;
        # An older shardis binary (BASE_BIN), for before/after in the same run.
        base)
            [[ -x ${BASE_BIN:-} ]] || die "peer base needs BASE_BIN, a shardis-server binary"
            peers+=(base) ;;
        *) die "unknown peer $p (redis, valkey, base)" ;;
    esac
done
[[ ${peers[0]:-} == redis ]] || die "PEERS must start with redis (the reference)"
memtier=0
if [[ " $PARTS " == *" memtier "* ]]; then
    if [[ -x $MEMTIER_BIN ]] && "$MEMTIER_BIN" --version >/dev/null 2>&1; then
        memtier=1
    else
        log "skipping memtier: no runnable memtier_benchmark at $MEMTIER_BIN" \
            "(it needs libevent-2.1-7 libevent-openssl-2.1-7 libssl3 zlib1g)"
    fi
fi
servers="shardis ${peers[*]}"

# --- servers --------------------------------------------------------------------------
work=$(mktemp -d /tmp/shardis-compare.XXXXXX)
cleanup_on_exit
start_peer redis redis-server
[[ " ${peers[*]} " == *" valkey "* ]] && start_peer valkey "$VALKEY_BIN"
if [[ " ${peers[*]} " == *" base "* ]]; then
    mkdir -p "$work/base"
    work=$work/base SHARDIS_BIN=$BASE_BIN start_shardis base
fi
start_shardis shardis
port_of() { local v=${1}_port; printf '%s' "${!v}"; }
pid_of() { local v=${1}_pid; printf '%s' "${!v}"; }

# --- part 1: redis-benchmark ------------------------------------------------------------

# The redis-benchmark arguments of test $1 in key mode $2, preloading what it needs on
# port $3. LRANGE_N: `-t lrange_100` would first run N LPUSHes inside the measured
# window; instead a small unmeasured LPUSH run makes sure mylist holds N elements and
# the measured run issues exactly `LRANGE mylist 0 N-1`.
bench_args() {
    local test=$1 mode=$2 port=$3
    local -a keys=()
    [[ $mode == random ]] && keys=(-r "$KEYSPACE")
    if [[ $test =~ ^lrange_([0-9]+)$ ]]; then
        local len=${BASH_REMATCH[1]}
        taskset -c "$CLIENT_CPU" redis-benchmark -p "$port" -c "$CLIENTS" -P 16 -n $((len * 10)) \
            -d "$DATA_SIZE" -t lpush --csv >/dev/null 2>"$work/bench.err" \
            || { cat "$work/bench.err" >&2; die "redis-benchmark failed (lrange preload, port $port)"; }
        # A custom command must come after every option.
        printf '%s\n' "${keys[@]}" -d "$DATA_SIZE" LRANGE mylist 0 $((len - 1))
    else
        printf '%s\n' "${keys[@]}" -d "$DATA_SIZE" -t "$test"
    fi
}
row_of() {
    if [[ $1 =~ ^lrange_([0-9]+)$ ]]; then echo ""; else echo "${1^^}"; fi
}
bench_who() {
    local who=$1 port
    port=$(port_of "$who")
    local -a args
    mapfile -t args < <(bench_args "$b_test" "$b_mode" "$port")
    bench_cpu "$port" "$(pid_of "$who")" "$b_n" "$(row_of "$b_test")" -c "$CLIENTS" -P "$b_pipe" "${args[@]}"
}

bench_rows=()
misses=0
run_bench() {
    local pipe mode target ratios r
    for pipe in 1 16; do
        if ((pipe == 1)); then b_n=$N_P1; else b_n=$N_P16; fi
        b_pipe=$pipe
        for mode in $KEYS_MODES; do
            for b_test in $TESTS; do
                # The data-type tests work on one key whatever -r says: run them once.
                if [[ " $STRING_TESTS " != *" $b_test "* ]]; then
                    [[ $mode == "${KEYS_MODES%% *}" ]] || continue
                    label="one (fixed)"
                elif [[ $mode == random ]]; then label="$KEYSPACE random"; else label="one"; fi
                b_mode=$mode
                if ((pipe == 1)); then
                    target=$TARGET_P1
                elif [[ " $STRING_TESTS " == *" $b_test "* ]]; then
                    target=$TARGET_P16
                else
                    target=$TARGET_P16_TYPES
                fi
                log "${b_test^^} P$pipe keys: $label"
                measure_cell bench_who "$servers"
                ratios=""
                for r in "${peers[@]}"; do
                    ratios+=$(awk -v s="${CELL_US[shardis]}" -v r="${CELL_US[$r]}" \
                        'BEGIN { printf " %s |", (r > 0) ? sprintf("%.2f", s / r) : "n/a" }')
                done
                read -r verdict < <(awk -v s="${CELL_US[shardis]}" -v r="${CELL_US[redis]}" -v t="$target" \
                    'BEGIN { print (r > 0 && s / r <= t) ? "met" : "MISSED" }')
                # The target applies to random keys; one key is for comparison.
                if [[ $label == one ]]; then verdict="-"; fi
                [[ $verdict != MISSED ]] || misses=$((misses + 1))
                local cols_rps="" cols_us="" w
                for w in $servers; do
                    cols_rps+=" ${CELL_RPS[$w]} |"
                    cols_us+=" ${CELL_US[$w]} |"
                done
                bench_rows+=("| ${b_test^^} | $label | $pipe |$cols_rps$cols_us$ratios ≤ $target $verdict |")
            done
        done
    done
}

# --- part 2: memtier_benchmark ----------------------------------------------------------

# One memtier run against server $1 at pipeline $mt_pipe, per-connection rate $mt_rate
# (0: unlimited), for MT_TIME seconds. Prints "ops_per_sec cpu_us_per_op p99_ms p999_ms".
memtier_who() {
    local who=$1 port pid before after rate=()
    port=$(port_of "$who")
    pid=$(pid_of "$who")
    ((mt_rate > 0)) && rate=(--rate-limiting "$mt_rate")
    before=$(cpu_ticks "$pid")
    taskset -c "$CLIENT_CPU" "$MEMTIER_BIN" -s 127.0.0.1 -p "$port" -t 1 -c "$CLIENTS" \
        --ratio 1:10 --pipeline "$mt_pipe" "${rate[@]}" --test-time "$MT_TIME" \
        --key-maximum "$KEYSPACE" -d "$MT_DATA_SIZE" --hide-histogram \
        --json-out-file "$work/mt.json" >"$work/mt.out" 2>&1 \
        || { tail -n 20 "$work/mt.out" >&2; die "memtier_benchmark failed (port $port)"; }
    after=$(cpu_ticks "$pid")
    kill -0 "$pid" 2>/dev/null || { tail -n 20 "$work"/*.log >&2; die "$who died during memtier"; }
    python3 - "$work/mt.json" "$before" "$after" "$tick" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))["ALL STATS"]["Totals"]
before, after, hz = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
p = t["Percentile Latencies"]
print("%.0f %.3f %.3f %.3f" % (t["Ops/sec"], (after - before) / hz * 1e6 / max(t["Count"], 1),
                               p["p99.00"], p["p99.90"]))
PY
}

# Like measure_cell, for memtier: keeps per server the best throughput and the lowest
# CPU per op, p99 and p99.9 over RUNS runs (MT_OPS, MT_US, MT_P99, MT_P999).
declare -A MT_OPS=() MT_US=() MT_P99=() MT_P999=()
memtier_cell() {
    local who i run res ops us p99 p999
    local -a order
    read -ra order <<<"$servers"
    local -A a_ops=() a_us=() a_99=() a_999=()
    for ((run = 0; run < RUNS; run++)); do
        for ((i = 0; i < ${#order[@]}; i++)); do
            who=${order[(i + run) % ${#order[@]}]}
            res=$(memtier_who "$who")
            read -r ops us p99 p999 <<<"$res"
            a_ops[$who]+="$ops " a_us[$who]+="$us " a_99[$who]+="$p99 " a_999[$who]+="$p999 "
            log "$(printf '  %-8s %10s ops/s %8s us/op  p99 %7s ms  p99.9 %7s ms' "$who" "$ops" "$us" "$p99" "$p999")"
        done
    done
    for who in "${order[@]}"; do
        MT_OPS[$who]=$(tr ' ' '\n' <<<"${a_ops[$who]}" | grep . | maximum)
        MT_US[$who]=$(tr ' ' '\n' <<<"${a_us[$who]}" | grep . | minimum)
        MT_P99[$who]=$(tr ' ' '\n' <<<"${a_99[$who]}" | grep . | minimum)
        MT_P999[$who]=$(tr ' ' '\n' <<<"${a_999[$who]}" | grep . | minimum)
    done
}

mt_rows=()
run_memtier() {
    local who sat load offered cols verdict
    # Every GET should hit: preload KEYSPACE keys of MT_DATA_SIZE bytes on each server.
    for who in $servers; do
        taskset -c "$CLIENT_CPU" "$MEMTIER_BIN" -s 127.0.0.1 -p "$(port_of "$who")" -t 1 -c 10 \
            --pipeline 64 --ratio 1:0 --key-pattern P:P --key-maximum "$KEYSPACE" -n allkeys \
            -d "$MT_DATA_SIZE" --hide-histogram >"$work/mt.out" 2>&1 \
            || { tail -n 20 "$work/mt.out" >&2; die "memtier preload failed ($who)"; }
    done
    for mt_pipe in $MT_PIPES; do
        mt_rate=0
        log "memtier P$mt_pipe saturation"
        memtier_cell
        sat=${MT_OPS[redis]}
        mt_row "saturation" "-"
        for load in $MT_LOADS; do
            # --rate-limiting is per connection.
            mt_rate=$(awk -v s="$sat" -v l="$load" -v c="$CLIENTS" 'BEGIN { r = int(s * l / 100 / c); print (r < 1) ? 1 : r }')
            offered=$((mt_rate * CLIENTS))
            log "memtier P$mt_pipe at $load% of redis's $sat ops/s: $mt_rate/s per connection"
            memtier_cell
            mt_row "$load% ($offered/s)" "$offered"
        done
    done
}
# Appends a table row for load $1.
mt_row() {
    local cols="" w ratios="" r
    for w in $servers; do
        cols+=" ${MT_OPS[$w]} | ${MT_P99[$w]} | ${MT_P999[$w]} | ${MT_US[$w]} |"
    done
    for r in "${peers[@]}"; do
        ratios+=$(awk -v s99="${MT_P99[shardis]}" -v r99="${MT_P99[$r]}" -v s="${MT_P999[shardis]}" -v q="${MT_P999[$r]}" \
            'BEGIN { printf " %.2f / %.2f |", (r99 > 0) ? s99 / r99 : 0, (q > 0) ? s / q : 0 }')
    done
    verdict=$(awk -v s99="${MT_P99[shardis]}" -v r99="${MT_P99[redis]}" -v s="${MT_P999[shardis]}" -v q="${MT_P999[redis]}" \
        'BEGIN { print (s99 <= r99 && s <= q) ? "met" : "MISSED" }')
    mt_rows+=("| $mt_pipe | $1 |$cols$ratios $verdict |")
}

note_run_start
[[ " $PARTS " == *" bench "* ]] && run_bench
((memtier)) && run_memtier
loadavg_after=$(cut -d' ' -f1-3 /proc/loadavg)

versions="$(redis-server --version | awk '{ print $1, $3 }')"
[[ " ${peers[*]} " == *" valkey "* ]] && versions+=", $("$VALKEY_BIN" --version | awk '{ print $1, $3 }')"
report=$(
    echo "## $started (perf/compare.sh)"
    echo
    echo "- machine: $ncpu CPUs, $cpu_model, kernel $(uname -r)"
    echo "- load average (1/5/15 min) before: $loadavg_before; after: $loadavg_after"
    echo "- shardis $shardis_rev (\`--shards 1\`), $versions${BASE_BIN:+; base: $BASE_BIN}"
    echo "- servers on CPU $SERVER_CPU, load generators on CPU $CLIENT_CPU; best of $RUNS run(s) per side; CPU from /proc/PID/stat at $tick ticks/s"
    echo "- persistence: appendonly ${APPENDONLY:-no} (appendfsync ${APPENDFSYNC:-everysec}), no RDB saves"
    echo "- command: \`$(command_line)\`"
    if ((${#bench_rows[@]})); then
        echo "- each bench cell: \`taskset -c $CLIENT_CPU redis-benchmark -p PORT -c $CLIENTS -P {1,16} -n {$N_P1,$N_P16} [-r $KEYSPACE] -d $DATA_SIZE -t TEST --csv\`" \
            "(LRANGE_100: \`... LRANGE mylist 0 99\` after an unmeasured 1000-element LPUSH preload)"
        echo
        hdr="| test | keys | pipeline |" sep="|---|---|---|"
        for w in $servers; do hdr+=" $w ops/s |"; sep+="---|"; done
        for w in $servers; do hdr+=" $w µs/op |"; sep+="---|"; done
        for r in "${peers[@]}"; do hdr+=" CPU shardis/$r |"; sep+="---|"; done
        echo "$hdr target (vs redis) |"
        echo "$sep---|"
        printf '%s\n' "${bench_rows[@]}"
    fi
    if ((${#mt_rows[@]})); then
        echo
        echo "- each memtier cell: \`taskset -c $CLIENT_CPU memtier_benchmark -t 1 -c $CLIENTS --ratio 1:10 --pipeline P [--rate-limiting R] --test-time $MT_TIME --key-maximum $KEYSPACE -d $MT_DATA_SIZE\`" \
            "after a preload of every key; R = load × Redis's saturation ops/s / $CLIENTS; latencies in ms"
        echo
        hdr="| pipeline | offered load |" sep="|---|---|"
        for w in $servers; do hdr+=" $w ops/s | $w p99 | $w p99.9 | $w µs/op |"; sep+="---|---|---|---|"; done
        for r in "${peers[@]}"; do hdr+=" p99 / p99.9 shardis/$r |"; sep+="---|"; done
        echo "$hdr ≤ redis's p99 and p99.9 |"
        echo "$sep---|"
        printf '%s\n' "${mt_rows[@]}"
    fi
    echo
)
if [[ $RESULTS != /dev/null && ! -s $RESULTS ]]; then
    printf '# shardis vs Redis: server CPU per request\n\nAppended by `perf/compare.sh`; newest last.\n\n' >"$RESULTS"
fi
publish_report
if ((misses > 0)); then
    log "$misses cell(s) missed the CPU-per-op target"
fi
