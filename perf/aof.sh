#!/usr/bin/env bash
# perf/aof.sh: what the AOF costs. SET throughput and server CPU per request for
# shardis (`--shards 1`) and Debian's redis-server, each with persistence off and with
# `appendonly yes` under `appendfsync no`, `everysec` and `always`, in one run; and
# shardis again with each policy on its O_DIRECT log (`appendonly-direct yes`, modes
# `POLICY-direct`; Redis has no such mode, so those rows compare with Redis's buffered
# row of the same policy).
#
# Method as in compare.sh: both servers pinned to SERVER_CPU (0), redis-benchmark to
# CLIENT_CPU (1); CPU per request is utime+stime of the server process (all threads,
# /proc/PID/stat fields 14 and 15) around each redis-benchmark run, over the request
# count. Every mode gets freshly started servers in fresh directories, so one mode's
# file size (or a pending fsync) never weighs on the next. The directories are under
# WORKDIR (default: a mktemp dir in /tmp) and must be on a real disk: on tmpfs an fsync
# costs nothing and `always` would measure nothing.
#
# Both servers have auto AOF rewrite off: a rewrite forked in the middle of a P16 run
# would measure the fork, not the log.
#
# Issue targets (shardis, ops/s relative to its own persistence-off run):
# `everysec` ≥ 0.9×; `always` ≥ 0.7× and more ops/s than Redis's `always`.
#
# Usage:  perf/aof.sh            full run, appends to perf/RESULTS.md
#         QUICK=1 perf/aof.sh    small request counts
# Knobs (env): N_P1 (200000), N_P16 (2000000), CLIENTS (50), KEYSPACE (100000),
#   DATA_SIZE (3), RUNS (1; median of RUNS per cell), MODES ("none no everysec always"),
#   SERVER_CPU (0), CLIENT_CPU (1), SHARDIS_BIN, WORKDIR, NO_BUILD=1,
#   RESULTS (perf/RESULTS.md; /dev/null to skip recording).
set -euo pipefail
shopt -s inherit_errexit

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=perf/lib.sh
source "$here/lib.sh"

KNOBS="QUICK N_P1 N_P16 CLIENTS KEYSPACE DATA_SIZE RUNS MODES SERVER_CPU CLIENT_CPU SHARDIS_BIN WORKDIR NO_BUILD"
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
MODES=${MODES:-none no everysec always no-direct everysec-direct always-direct}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
RESULTS=${RESULTS:-$here/RESULTS.md}
TARGET_EVERYSEC=0.9
TARGET_ALWAYS=0.7

# --- prerequisites ------------------------------------------------------------------
if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null \
    || ! command -v redis-cli >/dev/null; then
    # As scripts/test.sh does: a policy-rc.d answering 101 keeps the package from
    # starting a system redis-server on 6379 that nobody asked for.
    log "installing redis-server and redis-tools"
    policy=/usr/sbin/policy-rc.d placed=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && placed=1
    fi
    rc=0
    apt-get update -qq || rc=$?
    ((rc != 0)) || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        redis-server redis-tools >/dev/null || rc=$?
    if [[ $placed == 1 ]]; then rm -f "$policy"; fi
    ((rc == 0)) || die "apt-get failed ($rc)"
fi
command -v taskset >/dev/null || die "taskset (util-linux) is required"
need_cpus

shardis_bin

tick=$(getconf CLK_TCK)

work=${WORKDIR:-$(mktemp -d /tmp/shardis-aof.XXXXXX)}
mkdir -p "$work"
fstype=$(stat -f -c %T "$work")
[[ $fstype != tmpfs && $fstype != ramfs ]] || die "$work is on $fstype: fsync is free there; set WORKDIR to a disk"
cleanup_on_exit

# Starts the servers for mode $1 (none|no|everysec|always, or POLICY-direct: shardis
# only) in fresh directories; sets shardis_port/shardis_pid and, unless direct,
# redis_port/redis_pid.
start_servers() {
    local mode=$1 aof=() d policy=${1%-direct} direct=no
    [[ $mode == *-direct ]] && direct=yes
    if [[ $mode == none ]]; then
        aof=(--appendonly no)
    else
        aof=(--appendonly yes --appendfsync "$policy" --auto-aof-rewrite-percentage 0)
    fi
    d="$work/$mode"
    rm -rf "$d"
    mkdir -p "$d/redis" "$d/shardis"

    if [[ $direct == no ]]; then
        pick_port
        redis_port=$port
        taskset -c "$SERVER_CPU" redis-server --port "$redis_port" --bind 127.0.0.1 \
            --save "" "${aof[@]}" --daemonize no --dir "$d/redis" \
            --logfile "$d/redis.log" >/dev/null 2>&1 &
        redis_pid=$!
        pids+=("$redis_pid")
        wait_ready "$redis_port" "$redis_pid" "$d/redis.log"
        check_comm "$redis_pid" redis-server
    fi
    [[ $mode == none ]] || aof+=(--appendonly-direct "$direct")

    pick_port
    shardis_port=$port
    (cd "$d/shardis" && exec taskset -c "$SERVER_CPU" "$SHARDIS_BIN" --port "$shardis_port" --bind 127.0.0.1 \
        --shards 1 --cpus "$SERVER_CPU" --save "" "${aof[@]}" --dir "$d/shardis") \
        >"$d/shardis.log" 2>&1 &
    shardis_pid=$!
    pids+=("$shardis_pid")

    wait_ready "$shardis_port" "$shardis_pid" "$d/shardis.log"
    check_comm "$shardis_pid" "$SHARDIS_BIN"
    # The mode really is what we asked for (a silently ignored flag would make the
    # persistence rows measure nothing).
    local want=no ports=("$shardis_port")
    [[ $mode != none ]] && want=yes
    [[ $direct == yes ]] || ports+=("$redis_port")
    for p in "${ports[@]}"; do
        [[ $(redis-cli -p "$p" config get appendonly | tail -n1) == "$want" ]] || die "appendonly is not $want on port $p"
        if [[ $mode != none ]]; then
            [[ $(redis-cli -p "$p" config get appendfsync | tail -n1) == "$policy" ]] || die "appendfsync is not $policy on port $p"
        fi
    done
    if [[ $mode != none ]]; then
        [[ $(redis-cli -p "$shardis_port" config get appendonly-direct | tail -n1) == "$direct" ]] \
            || die "appendonly-direct is not $direct on port $shardis_port"
    fi
}

# One SET run against port $1 / pid $2 at pipeline $3 with $4 requests.
# Prints "ops_per_sec cpu_us_per_op".
bench_once() {
    local port=$1 pid=$2 pipe=$3 n=$4 before after out rps
    before=$(cpu_ticks "$pid")
    out=$(taskset -c "$CLIENT_CPU" redis-benchmark -p "$port" -c "$CLIENTS" -P "$pipe" -n "$n" \
        -r "$KEYSPACE" -d "$DATA_SIZE" --csv -t set 2>"$work/bench.err") \
        || { cat "$work/bench.err" >&2; die "redis-benchmark failed (port $port)"; }
    after=$(cpu_ticks "$pid")
    kill -0 "$pid" 2>/dev/null || die "server on port $port died during the run"
    rps=$(awk -F'","' '{ sub(/^"/, "", $1) } $1 == "SET" { print $2; found = 1 } END { if (!found) exit 1 }' <<<"$out") \
        || { printf '%s\n' "$out" >&2; die "no SET row in redis-benchmark output"; }
    awk -v r="$rps" -v b="$before" -v a="$after" -v hz="$tick" -v n="$n" \
        'BEGIN { printf "%.0f %.3f\n", r, (a - b) / hz * 1e6 / n }'
}


note_run_start

declare -A OPS=() US=() PORT=() PID=() SAMPLES=()
# Every mode's pair of servers runs for the whole measurement, and each run goes
# through all modes back to back: machine load on a shared box drifts over minutes,
# and interleaving makes it weigh on every mode alike instead of skewing the ratios
# to the persistence-off row. Idle servers cost next to nothing on SERVER_CPU, and
# each server's CPU time is read from its own PID.
for mode in $MODES; do
    start_servers "$mode"
    PORT[shardis,$mode]=$shardis_port PID[shardis,$mode]=$shardis_pid
    warm=("$shardis_port")
    if [[ $mode != *-direct ]]; then
        PORT[redis,$mode]=$redis_port PID[redis,$mode]=$redis_pid
        warm+=("$redis_port")
    fi
    # Unmeasured warm-up: fills the keyspace (3 SETs per key on average) so every
    # measured run, the first one included, overwrites existing keys in a table that no
    # longer grows, whatever mode it is in.
    for p in "${warm[@]}"; do
        taskset -c "$CLIENT_CPU" redis-benchmark -p "$p" -c "$CLIENTS" -P 16 -n $((KEYSPACE * 3)) \
            -r "$KEYSPACE" -d "$DATA_SIZE" -q -t set >/dev/null 2>"$work/bench.err" \
            || { cat "$work/bench.err" >&2; die "warm-up failed (port $p)"; }
    done
done
for ((run = 0; run < RUNS; run++)); do
    # Alternate which server goes first so slow drifts hit both.
    if ((run % 2 == 0)); then order="shardis redis"; else order="redis shardis"; fi
    for pipe in 1 16; do
        if ((pipe == 1)); then n=$N_P1; else n=$N_P16; fi
        for mode in $MODES; do
            for who in $order; do
                [[ -n ${PORT[$who,$mode]:-} ]] || continue
                res=$(bench_once "${PORT[$who,$mode]}" "${PID[$who,$mode]}" "$pipe" "$n")
                read -r rps us <<<"$res"
                SAMPLES[$who,$mode,$pipe,rps]+="$rps "
                SAMPLES[$who,$mode,$pipe,us]+="$us "
                log "$(printf 'run %d %-8s P%-2s %-8s %10s ops/s %8s us/op' "$run" "$mode" "$pipe" "$who" "$rps" "$us")"
            done
        done
    done
done
for key in "${!SAMPLES[@]}"; do
    # key = who,mode,pipe,{rps|us}
    v=$(tr ' ' '\n' <<<"${SAMPLES[$key]}" | grep . | median)
    if [[ $key == *,rps ]]; then OPS[${key%,rps}]=$v; else US[${key%,us}]=$v; fi
done
stop_servers
loadavg_after=$(cut -d' ' -f1-3 /proc/loadavg)

# ratio A B: A/B to 2 places, or n/a.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a != "") printf "%.2f", a / b; else printf "n/a" }'; }

rows=()
misses=0
for mode in $MODES; do
    for pipe in 1 16; do
        # A direct row compares with Redis's buffered row of the same policy.
        policy=${mode%-direct}
        so=${OPS[shardis,$mode,$pipe]} su=${US[shardis,$mode,$pipe]}
        ro=${OPS[redis,$policy,$pipe]:-0} ru=${US[redis,$policy,$pipe]:-0}
        s_rel=$(ratio "$so" "${OPS[shardis,none,$pipe]:-}")
        r_rel=$(ratio "$ro" "${OPS[redis,none,$pipe]:-}")
        verdict="—"
        case $policy in
            everysec)
                verdict=$(awk -v q="$s_rel" -v t="$TARGET_EVERYSEC" 'BEGIN { print (q != "n/a" && q >= t) ? "met" : "MISSED" }')
                verdict="≥ $TARGET_EVERYSEC× none: $verdict"
                ;;
            always)
                verdict=$(awk -v q="$s_rel" -v t="$TARGET_ALWAYS" -v s="$so" -v r="$ro" \
                    'BEGIN { print (q != "n/a" && q >= t && s > r) ? "met" : "MISSED" }')
                verdict="≥ $TARGET_ALWAYS× none and > redis: $verdict"
                ;;
        esac
        [[ $verdict == *MISSED* ]] && misses=$((misses + 1))
        rows+=("$(printf '| %s | %s | %.0f | %s | %.0f | %s | %s | %.3f | %.3f | %s | %s |' \
            "$mode" "$pipe" "$so" "$s_rel" "$ro" "$r_rel" "$(ratio "$so" "$ro")" "$su" "$ru" "$(ratio "$su" "$ru")" "$verdict")")
    done
done

table=$(
    echo "| appendfsync | pipeline | shardis ops/s | ×none | redis ops/s | ×none | ops shardis÷redis | shardis µs/op | redis µs/op | CPU shardis÷redis | target (shardis) |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${rows[@]}"
)
report=$(
    echo "## AOF: $started"
    echo
    echo "- machine: $ncpu CPUs, $cpu_model, kernel $(uname -r); AOF dirs on $fstype"
    echo "- load average (1/5/15 min) before: $loadavg_before; after: $loadavg_after"
    echo "- shardis $shardis_rev (\`--shards 1\`), $(redis-server --version | awk '{ print $1, $3 }')"
    echo "- servers on CPU $SERVER_CPU, redis-benchmark on CPU $CLIENT_CPU; SET \`-c $CLIENTS -r $KEYSPACE -d $DATA_SIZE\`," \
        "\`-n $N_P1\` at P1, \`-n $N_P16\` at P16; median of $RUNS run(s); CPU from /proc/PID/stat at $tick ticks/s"
    echo "- modes: \`none\` = \`--appendonly no\`; others \`--appendonly yes --appendfsync MODE --auto-aof-rewrite-percentage 0\`," \
        "fresh servers and directories per mode, all running at once with the modes interleaved in each run, each warmed up with an unmeasured \`-P 16 -n $((KEYSPACE * 3))\` SET run; \`POLICY-direct\` rows are shardis with \`--appendonly-direct yes\`, compared with Redis's \`POLICY\` row"
    echo "- command: \`$(command_line)\`"
    echo
    echo "$table"
    echo
)
publish_report
if ((misses > 0)); then
    log "$misses cell(s) missed a target"
fi
