#!/usr/bin/env bash
# perf/bigreq.sh: what one big request that arrives over many reads costs the server.
#
# For each request size (SIZES, MiB) a client (perf/bigreq.py) sends one RPUSH of
# small 5-byte elements (11 bytes per argument on the wire), in CHUNK-byte writes
# (16 KiB) with PAUSE_US (500 µs) between them, so the server gets it in hundreds to
# thousands of reads, and waits for the reply. Small sizes are repeated so every cell
# sends at least MIN_MIB (64 MiB) and the 10 ms tick resolution does not matter. A
# last row sends one SET of a single SET_MIB (64 MiB) value the same way.
#
# Server CPU is utime+stime of the server process (all threads, /proc/PID/stat fields
# 14 and 15) from before the first byte to after the last reply, reported as CPU
# milliseconds per MiB received. Servers: shardis (`--shards 1`), Debian's
# redis-server 7.0 and, if present, ../shared/tools/valkey-server; each pinned to
# SERVER_CPU (0), the client to CLIENT_CPU (1), persistence off. A peer that is
# missing or does not start is skipped with a line saying so.
#
# Targets (issue 9): shardis's CPU per MiB flat from 1 to 256 MiB (largest/smallest
# ≤ 1.5 here) and within 1.5× of redis-server's at every size.
#
# Usage:  perf/bigreq.sh            full run (about 2 minutes), appends to perf/RESULTS.md
#         QUICK=1 perf/bigreq.sh    SIZES="1 4 16", MIN_MIB=16, SET_MIB=16
# Knobs (env): SIZES ("1 4 16 64 256"), MIN_MIB (64), SET_MIB (64; 0 skips the row),
#   CHUNK (16384), PAUSE_US (500), SERVER_CPU (0), CLIENT_CPU (1), SHARDIS_BIN,
#   VALKEY_BIN (default ../shared/tools/valkey-server), NO_BUILD=1, PEERS ("shardis redis valkey"), RESULTS (perf/RESULTS.md; /dev/null
#   to skip recording).
set -euo pipefail
shopt -s inherit_errexit

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=perf/lib.sh
source "$here/lib.sh"

KNOBS="QUICK SIZES MIN_MIB SET_MIB CHUNK PAUSE_US SERVER_CPU CLIENT_CPU SHARDIS_BIN VALKEY_BIN NO_BUILD PEERS"
remember_knobs

QUICK=${QUICK:-0}
if [[ $QUICK == 1 ]]; then
    SIZES=${SIZES:-1 4 16}
    MIN_MIB=${MIN_MIB:-16}
    SET_MIB=${SET_MIB:-16}
else
    SIZES=${SIZES:-1 4 16 64 256}
    MIN_MIB=${MIN_MIB:-64}
    SET_MIB=${SET_MIB:-64}
fi
CHUNK=${CHUNK:-16384}
PAUSE_US=${PAUSE_US:-500}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
PEERS=${PEERS:-shardis redis valkey}
RESULTS=${RESULTS:-$here/RESULTS.md}
TARGET_FLAT=1.5
TARGET_VS_REDIS=1.5

# --- prerequisites ------------------------------------------------------------------
command -v python3 >/dev/null || die "python3 is required (the client)"
command -v taskset >/dev/null || die "taskset (util-linux) is required"
command -v redis-cli >/dev/null || die "redis-cli is required (readiness checks)"
need_cpus
shardis_bin
# ../shared/tools beside the checkout (one more level up from a worktree under wt/).
if [[ -z ${VALKEY_BIN:-} ]]; then
    VALKEY_BIN=$(realpath -m "$root/../shared/tools/valkey-server")
    [[ -x $VALKEY_BIN ]] || VALKEY_BIN=$(realpath -m "$root/../../shared/tools/valkey-server")
fi
tick=$(getconf CLK_TCK)

work=$(mktemp -d /tmp/shardis-bigreq.XXXXXX)
cleanup_on_exit

# --- servers --------------------------------------------------------------------------
# Starts peer $1; sets srv_port and srv_pid, or returns 1 (with a line saying why).
start_peer() {
    local who=$1 dir=$work/$1
    mkdir -p "$dir"
    pick_port
    srv_port=$port
    case $who in
        shardis)
            (cd "$dir" && exec taskset -c "$SERVER_CPU" "$SHARDIS_BIN" --port "$srv_port" --bind 127.0.0.1 \
                --shards 1 --cpus "$SERVER_CPU" --save "" --appendonly no --dir "$dir") >"$dir/log" 2>&1 &
            ;;
        redis)
            command -v redis-server >/dev/null || { log "skipping redis-server: not installed"; return 1; }
            taskset -c "$SERVER_CPU" redis-server --port "$srv_port" --bind 127.0.0.1 --save "" \
                --appendonly no --daemonize no --dir "$dir" --logfile "$dir/log" >/dev/null 2>&1 &
            ;;
        valkey)
            [[ -x $VALKEY_BIN ]] || { log "skipping valkey-server: no $VALKEY_BIN"; return 1; }
            "$VALKEY_BIN" --version >/dev/null 2>&1 \
                || { log "skipping valkey-server: $VALKEY_BIN does not run here (missing library?)"; return 1; }
            taskset -c "$SERVER_CPU" "$VALKEY_BIN" --port "$srv_port" --bind 127.0.0.1 --save "" \
                --appendonly no --daemonize no --dir "$dir" --logfile "$dir/log" >/dev/null 2>&1 &
            ;;
    esac
    srv_pid=$!
    pids+=("$srv_pid")
    wait_ready "$srv_port" "$srv_pid" "$dir/log"
    case $who in
        shardis) check_comm "$srv_pid" "$SHARDIS_BIN" ;;
        redis) check_comm "$srv_pid" redis-server ;;
        valkey) check_comm "$srv_pid" "$VALKEY_BIN" ;;
    esac
}

# One measurement: mode $3, size $4 MiB, $5 repetitions against port $1 / pid $2.
# Prints CPU ms per MiB.
measure() {
    local out ticks bytes
    out=$(taskset -c "$CLIENT_CPU" python3 "$here/bigreq.py" "$1" "$2" "$3" "$4" "$5" "$CHUNK" "$PAUSE_US") \
        || die "client failed against port $1"
    kill -0 "$2" 2>/dev/null || die "server on port $1 died"
    read -r ticks bytes <<<"$out"
    awk -v t="$ticks" -v b="$bytes" -v hz="$tick" 'BEGIN { printf "%.2f\n", t / hz * 1000 / (b / 1048576) }'
}

note_run_start

rowkeys=()
for s in $SIZES; do rowkeys+=("rpush:$s"); done
((SET_MIB > 0)) && rowkeys+=("set:$SET_MIB")
declare -A cell=()
ran=()
versions=()
for who in $PEERS; do
    start_peer "$who" || continue
    ran+=("$who")
    case $who in
        shardis) versions+=("shardis $shardis_rev (\`--shards 1\`)") ;;
        redis) versions+=("$(redis-server --version | awk '{ print $1, $3 }')") ;;
        valkey) versions+=("$("$VALKEY_BIN" --version | awk '{ print $1, $3 }')") ;;
    esac
    for key in "${rowkeys[@]}"; do
        mode=${key%%:*} size=${key#*:}
        reps=$(( (MIN_MIB + size - 1) / size ))
        [[ $mode == set ]] && reps=1
        cell[$who:$key]=$(measure "$srv_port" "$srv_pid" "$mode" "$size" "$reps")
        log "$(printf '%-8s %-5s %4s MiB x%-3s %8s ms CPU/MiB' "$who" "$mode" "$size" "$reps" "${cell[$who:$key]}")"
    done
    kill "$srv_pid" 2>/dev/null || true
    wait "$srv_pid" 2>/dev/null || true
done
loadavg_after=$(cut -d' ' -f1-3 /proc/loadavg)
[[ " ${ran[*]} " == *" shardis "* ]] || die "shardis did not run"

# --- report -------------------------------------------------------------------------
misses=0
header="| request |"
sep="|---|"
for who in "${ran[@]}"; do header+=" $who ms/MiB |"; sep+="---|"; done
have_redis=0
[[ " ${ran[*]} " == *" redis "* ]] && have_redis=1
if ((have_redis)); then header+=" shardis/redis | target |"; sep+="---|---|"; fi
rows=()
for key in "${rowkeys[@]}"; do
    mode=${key%%:*} size=${key#*:}
    if [[ $mode == rpush ]]; then what="RPUSH, $size MiB of 5-byte elements"; else what="SET, one $size MiB value"; fi
    row="| $what |"
    for who in "${ran[@]}"; do row+=" ${cell[$who:$key]} |"; done
    if ((have_redis)); then
        read -r ratio verdict < <(awk -v s="${cell[shardis:$key]}" -v r="${cell[redis:$key]}" -v t="$TARGET_VS_REDIS" 'BEGIN {
            if (r <= 0) { print "n/a ?"; exit }
            q = s / r; printf "%.2f %s\n", q, (q <= t ? "met" : "MISSED") }')
        [[ $verdict == met ]] || misses=$((misses + 1))
        row+=" $ratio | ≤ $TARGET_VS_REDIS $verdict |"
    fi
    rows+=("$row")
done
# Flatness: largest over smallest shardis CPU/MiB across the RPUSH sizes.
flat=$(for s in $SIZES; do echo "${cell[shardis:rpush:$s]}"; done | sort -g \
    | awk -v t="$TARGET_FLAT" '{ v[NR] = $1 } END { q = v[1] > 0 ? v[NR] / v[1] : 0; printf "%.2f (%s)", q, (q <= t ? "met" : "MISSED") }')
[[ $flat == *MISSED* ]] && misses=$((misses + 1))

report=$(
    echo "## Big requests over many reads: $started"
    echo
    echo "- machine: $ncpu CPUs, $cpu_model, kernel $(uname -r)"
    echo "- load average (1/5/15 min) before: $loadavg_before; after: $loadavg_after"
    echo "- servers: $(IFS=';'; echo "${versions[*]}" | sed 's/;/, /g'); on CPU $SERVER_CPU, persistence off; client on CPU $CLIENT_CPU"
    echo "- each request in $CHUNK-byte writes, $PAUSE_US µs apart; sizes below $MIN_MIB MiB repeated to send $MIN_MIB MiB per cell;" \
        "server CPU (utime+stime, all threads, /proc/PID/stat at $tick ticks/s) from the first byte to the last reply"
    echo "- command: \`$(command_line)\`"
    echo
    printf '%s\n' "$header" "$sep" "${rows[@]}"
    echo
    echo "shardis largest/smallest RPUSH CPU per MiB: $flat; target ≤ $TARGET_FLAT"
    echo
)
publish_report
if ((misses > 0)); then
    log "$misses target(s) missed"
fi
