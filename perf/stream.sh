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
if [[ $QUICK == 1 ]]; then
    N_P1=${N_P1:-10000}
    N_P16=${N_P16:-50000}
else
    N_P1=${N_P1:-100000}
    N_P16=${N_P16:-500000}
fi
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
tick=$(getconf CLK_TCK)

work=$(mktemp -d /tmp/shardis-stream.XXXXXX)
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
(cd "$work" && exec taskset -c "$SERVER_CPU" "$SHARDIS_BIN" --port "$shardis_port" --bind 127.0.0.1 \
    --shards 1 --cpus "$SERVER_CPU" --save "" --appendonly no --dir "$work") \
    >"$work/shardis.log" 2>&1 &
shardis_pid=$!
pids+=("$shardis_pid")
wait_ready "$redis_port" "$redis_pid" "$work/redis.log"
wait_ready "$shardis_port" "$shardis_pid" "$work/shardis.log"
[[ $(</proc/$redis_pid/comm) == redis-server* ]] || die "pid $redis_pid is not redis-server"
[[ $(</proc/$shardis_pid/comm) == shardis* ]] || die "pid $shardis_pid is not shardis-server"

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
    local port=$1 pid=$2 pipe=$3 n=$4 before after out rps
    shift 4
    before=$(cpu_ticks "$pid")
    out=$(taskset -c "$CLIENT_CPU" redis-benchmark -p "$port" -c "$CLIENTS" -P "$pipe" -n "$n" --csv "$@" 2>"$work/bench.err") \
        || { cat "$work/bench.err" >&2; die "redis-benchmark failed (port $port: $*)"; }
    after=$(cpu_ticks "$pid")
    kill -0 "$pid" 2>/dev/null || die "server on port $port died during: $*"
    rps=$(awk -F'","' 'NR == 2 { print $2 }' <<<"$out")
    [[ -n $rps ]] || { printf '%s\n' "$out" >&2; die "no CSV row in redis-benchmark output"; }
    awk -v r="$rps" -v b="$before" -v a="$after" -v hz="$tick" -v n="$n" \
        'BEGIN { printf "%.0f %.3f\n", r, (a - b) / hz * 1e6 / n }'
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
