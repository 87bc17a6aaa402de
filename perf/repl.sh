#!/usr/bin/env bash
# perf/repl.sh: replication, shardis → shardis against redis-server → redis-server on
# the same machine, in one run, side by side.
#
#   1. Full sync time: a master filled with KEYS string keys (one `redis-cli --pipe`
#      stream, the same bytes for both servers), then a fresh replica gets REPLICAOF;
#      the time from REPLICAOF until the replica reports `master_link_status:up` with
#      the master's offset. Once per key count in KEYS_LIST.
#   2. Master throughput, `redis-benchmark -t set -P 16 -c 50`, with 0, 1 and 2
#      replicas attached (in sync before the run), and the ratio to 0 replicas.
#   3. Replication lag under that load, sampled every LAG_EVERY seconds: the master's
#      `master_repl_offset` minus each replica's acknowledged offset (`slaveN:
#      ...offset=` on the master: replicas ack once a second, so this includes up to a
#      second of stream), and minus each replica's own applied offset (its
#      `master_repl_offset`, read just before the master's); p50 and p99 in bytes.
#   4. (shardis only) CPU of the master's replication thread per streamed MB, zero-copy
#      (SEND_ZC, the default) against plain sends (`SHARDIS_REPL_ZC=off`), with 1 and
#      4 redis-server replicas, ZC_MB MB of stream written by redis-benchmark (1 KiB
#      values): "live" with the replicas running, and "catch-up" with the replicas
#      stopped (SIGSTOP) during the load and resumed after it, so they are served
#      whole backlog blocks (where SEND_ZC applies). The thread's utime+stime comes
#      from /proc/<pid>/task/<tid>/stat; the send counters from INFO stats.
#
# Both kinds get `repl-diskless-sync-delay 0` (Redis's default waits 5 s for more
# replicas) and keep their other defaults (diskless sync on). No CPU pinning: with 2
# cores, master, replicas and benchmark share them; the load average is recorded.
#
# Issue targets: full sync time ≤ Redis's; with 2 replicas ≥ 0.8× the throughput of
# none, and a better ratio than Redis's own.
#
# Usage:  perf/repl.sh                 full run, appends to perf/RESULTS.md
#         QUICK=1 perf/repl.sh         100k keys, 300k requests
#         ALL_REDIS=1 perf/repl.sh     redis-server in the shardis column too (proves
#                                      the script; the report says so)
# Knobs (env): KEYS_LIST ("1000000 10000000"), VALUE_SIZE (16), SHARDS (2),
#   BENCH_N (3000000), CLIENTS (50), PIPELINE (16), KEYSPACE (1000000), LAG_EVERY (0.05),
#   KINDS ("redis shardis"), STEPS ("sync bench zc": which of parts 1, 2+3 and 4 run),
#   SHARDIS_BIN, NO_BUILD=1, ALL_REDIS=1,
#   RESULTS (perf/RESULTS.md; /dev/null to skip recording).
set -euo pipefail
shopt -s inherit_errexit

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=perf/lib.sh
source "$here/lib.sh"

KNOBS="QUICK ZC_MB KEYS_LIST VALUE_SIZE SHARDS BENCH_N CLIENTS PIPELINE KEYSPACE LAG_EVERY KINDS STEPS SHARDIS_BIN NO_BUILD ALL_REDIS"
remember_knobs

QUICK=${QUICK:-0}
if [[ $QUICK == 1 ]]; then
    KEYS_LIST=${KEYS_LIST:-100000}
    BENCH_N=${BENCH_N:-300000}
    ZC_MB=${ZC_MB:-20}
fi
ZC_MB=${ZC_MB:-100}
KEYS_LIST=${KEYS_LIST:-1000000 10000000}
VALUE_SIZE=${VALUE_SIZE:-16}
SHARDS=${SHARDS:-2}
BENCH_N=${BENCH_N:-3000000}
CLIENTS=${CLIENTS:-50}
PIPELINE=${PIPELINE:-16}
KEYSPACE=${KEYSPACE:-1000000}
LAG_EVERY=${LAG_EVERY:-0.05}
KINDS=${KINDS:-redis shardis}
STEPS=${STEPS:-sync bench zc}
step() { [[ " $STEPS " == *" $1 "* ]]; }
ALL_REDIS=${ALL_REDIS:-0}
RESULTS=${RESULTS:-$here/RESULTS.md}

command -v redis-server >/dev/null && command -v redis-cli >/dev/null && command -v redis-benchmark >/dev/null \
    || die "needs redis-server, redis-cli and redis-benchmark (see scripts/test.sh for the install)"
[[ $ALL_REDIS == 1 ]] || shardis_bin

work=$(mktemp -d /tmp/shardis-repl.XXXXXX)
cleanup_on_exit

# Starts a server of kind $1 (redis|shardis) in $work/$2; sets $port and $pid. Extra
# environment for shardis: $node_env (e.g. "SHARDIS_REPL_ZC=off").
node_env=
start_node() {
    local kind=$1 name=$2 dir="$work/$2"
    mkdir -p "$dir"
    pick_port
    if [[ $kind == redis || $ALL_REDIS == 1 ]]; then
        redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --daemonize no \
            --dir "$dir" --logfile "$dir/log" --repl-diskless-sync-delay 0 >/dev/null 2>&1 &
    else
        # shellcheck disable=SC2086 # node_env is a list of VAR=value words
        (cd "$dir" && exec env $node_env "$SHARDIS_BIN" --port "$port" --bind 127.0.0.1 --shards "$SHARDS" --save "" \
            --appendonly no --dir "$dir" --repl-diskless-sync-delay 0) >"$dir/log" 2>&1 &
    fi
    pid=$!
    pids+=("$pid")
    wait_ready "$port" "$pid" "$dir/log"
}

field() { redis-cli -p "$1" info "$2" | tr -d '\r' | awk -F: -v f="$3" '$1 == f { print $2 }'; }
now_ms() { date +%s%3N; }

# Fills the server on port $1 with $2 keys of VALUE_SIZE bytes.
fill() {
    awk -v n="$2" -v size="$VALUE_SIZE" 'BEGIN {
        v = sprintf("%0" size "d", 0)
        for (i = 0; i < n; i++) { k = "key:" i; printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", length(k), k, size, v }
    }' | redis-cli -p "$1" --pipe >"$work/pipe.out" 2>&1 || { cat "$work/pipe.out" >&2; die "fill failed"; }
    grep -q 'errors: 0,' "$work/pipe.out" || { cat "$work/pipe.out" >&2; die "errors while filling port $1"; }
    local n
    n=$(redis-cli -p "$1" dbsize | tr -d '\r')
    ((n == $2)) || die "port $1 holds $n keys after the fill, expected $2"
}

# Waits (bounded by $3 seconds) until the replica on port $2 is in sync with the master
# on port $1.
wait_sync() {
    local m=$1 r=$2 limit=$3 start
    start=$(now_ms)
    while :; do
        if [[ $(field "$r" replication master_link_status) == up &&
            $(field "$r" replication master_repl_offset) == $(field "$m" replication master_repl_offset) ]]; then
            return 0
        fi
        (($(now_ms) - start < limit * 1000)) || die "replica on port $r not in sync with $m after ${limit}s"
        sleep 0.01
    done
}

# p50 and p99 of the numbers on standard input, as "p50 / p99".
pcts() {
    sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) { print "-"; exit }
        i50 = int(NR * 0.50); if (i50 < 1) i50 = 1; i99 = int(NR * 0.99); if (i99 < 1) i99 = 1
        printf "%d / %d", v[i50], v[i99] }'
}

# Samples lag on master port $1 with replicas on the ports after it, until the file
# $work/stop-lag exists; appends acked lags to $work/lag-ack, applied lags to $work/lag-applied.
sample_lag() {
    local m=$1
    shift
    local r info mo ro
    while [[ ! -e $work/stop-lag ]]; do
        local applied=()
        for r in "$@"; do applied+=("$(field "$r" replication master_repl_offset)"); done
        info=$(redis-cli -p "$m" info replication | tr -d '\r')
        mo=$(awk -F: '$1 == "master_repl_offset" { print $2 }' <<<"$info")
        awk -F'offset=' -v mo="$mo" '/^slave[0-9]+:/ { split($2, a, ","); print mo - a[1] }' <<<"$info" >>"$work/lag-ack"
        for ro in "${applied[@]}"; do echo $((mo - ro)) >>"$work/lag-applied"; done
        sleep "$LAG_EVERY"
    done
}

note_run_start
sync_rows=()
bench_rows=()
for kind in $KINDS; do
    # 1. Full sync.
    step sync || KEYS_LIST=
    for keys in $KEYS_LIST; do
        start_node "$kind" "$kind-m-$keys"
        mport=$port
        fill "$mport" "$keys"
        start_node "$kind" "$kind-r-$keys"
        rport=$port
        t0=$(now_ms)
        redis-cli -p "$rport" replicaof 127.0.0.1 "$mport" >/dev/null
        wait_sync "$mport" "$rport" 600
        t1=$(now_ms)
        rk=$(redis-cli -p "$rport" dbsize | tr -d '\r')
        ((rk == keys)) || die "$kind replica holds $rk keys after the sync, expected $keys"
        log "$kind full sync, $keys keys: $((t1 - t0)) ms"
        sync_rows+=("$kind $keys $((t1 - t0))")
        stop_servers
        rm -rf "${work:?}/$kind-m-$keys" "${work:?}/$kind-r-$keys"
    done
    # 2 and 3. Throughput and lag with 0, 1 and 2 replicas.
    step bench || continue
    for nrep in 0 1 2; do
        start_node "$kind" "$kind-bm-$nrep"
        mport=$port
        rports=()
        for ((i = 0; i < nrep; i++)); do
            start_node "$kind" "$kind-br-$nrep-$i"
            rports+=("$port")
            redis-cli -p "$port" replicaof 127.0.0.1 "$mport" >/dev/null
        done
        for r in "${rports[@]}"; do wait_sync "$mport" "$r" 120; done
        rm -f "$work/lag-ack" "$work/lag-applied" "$work/stop-lag"
        touch "$work/lag-ack" "$work/lag-applied"
        lagger=
        if ((nrep > 0)); then
            sample_lag "$mport" "${rports[@]}" &
            lagger=$!
        fi
        out=$(redis-benchmark -p "$mport" -t set -P "$PIPELINE" -c "$CLIENTS" -n "$BENCH_N" -r "$KEYSPACE" \
            -d "$VALUE_SIZE" --csv 2>/dev/null)
        touch "$work/stop-lag"
        [[ -n $lagger ]] && wait "$lagger"
        rps=$(awk -F'","' '/^"SET"/ { print int($2) }' <<<"$out")
        [[ -n $rps ]] || die "no SET line in redis-benchmark output: $out"
        for r in "${rports[@]}"; do wait_sync "$mport" "$r" 120; done
        ack=$(pcts <"$work/lag-ack")
        applied=$(pcts <"$work/lag-applied")
        log "$kind, $nrep replicas: $rps SET/s; lag acked $ack, applied $applied (p50 / p99 bytes)"
        bench_rows+=("$kind|$nrep|$rps|$ack|$applied")
        stop_servers
        rm -rf "${work:?}/$kind-b"*
    done
done

# CPU ticks (utime + stime) of the thread named $2 in process $1.
thread_ticks() {
    local t
    for t in /proc/"$1"/task/*; do
        if [[ $(cat "$t/comm" 2>/dev/null) == "$2" ]]; then
            awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "$t/stat"
            return
        fi
    done
    echo 0
}

# 4. CPU per streamed MB, SEND_ZC against plain sends.
zc_rows=()
if step zc && [[ " $KINDS " == *" shardis "* && $ALL_REDIS != 1 ]]; then
    hz=$(getconf CLK_TCK)
    zc_n=$((ZC_MB * 1024))
    for mode in zc plain; do
        for nrep in 1 4; do
            for phase in live catch-up; do
                if [[ $mode == plain ]]; then node_env="SHARDIS_REPL_ZC=off"; else node_env=; fi
                start_node shardis "zc-m-$mode-$nrep"
                mport=$port
                mpid=$pid
                node_env=
                rports=()
                rpids=()
                for ((i = 0; i < nrep; i++)); do
                    start_node redis "zc-r-$mode-$nrep-$i"
                    rports+=("$port")
                    rpids+=("$pid")
                    redis-cli -p "$port" replicaof 127.0.0.1 "$mport" >/dev/null
                done
                for r in "${rports[@]}"; do wait_sync "$mport" "$r" 120; done
                off0=$(field "$mport" replication master_repl_offset)
                t0=$(thread_ticks "$mpid" repl-master)
                [[ $phase == catch-up ]] && kill -STOP "${rpids[@]}"
                redis-benchmark -p "$mport" -t set -P 16 -c 20 -n "$zc_n" -r 100000 -d 1024 -q >/dev/null 2>&1
                [[ $phase == catch-up ]] && kill -CONT "${rpids[@]}"
                for r in "${rports[@]}"; do wait_sync "$mport" "$r" 300; done
                t1=$(thread_ticks "$mpid" repl-master)
                off1=$(field "$mport" replication master_repl_offset)
                zc=$(field "$mport" stats repl_zc_sends)
                kc=$(field "$mport" stats repl_zc_sends_kernel_copied)
                plain=$(field "$mport" stats repl_copied_sends)
                mb=$(awk -v a="$off0" -v b="$off1" 'BEGIN { printf "%.1f", (b - a) / 1048576 }')
                cpu_ms=$(((t1 - t0) * 1000 / hz))
                per=$(awk -v c="$cpu_ms" -v m="$mb" -v n="$nrep" 'BEGIN { printf "%.2f / %.2f", c / m, c / (m * n) }')
                log "send $mode, $nrep replicas, $phase: $mb MB of stream, repl thread $cpu_ms ms CPU ($per ms per MB of stream / per MB sent); zc $zc (kernel copied $kc), plain $plain"
                zc_rows+=("$mode|$nrep|$phase|$mb|$cpu_ms|$per|$zc|$kc|$plain")
                stop_servers
                rm -rf "${work:?}/zc-"*
            done
        done
    done
fi
loadavg_after=$(cut -d' ' -f1-3 /proc/loadavg)

label_of() {
    if [[ $1 == shardis && $ALL_REDIS == 1 ]]; then echo "shardis (ALL_REDIS=1: redis-server)"; else echo "$1"; fi
}

report=$(
    echo "## Replication, $started"
    echo
    echo "- shardis $shardis_rev (\`--shards $SHARDS\`), $(redis-server --version | awk '{ print $1, $3 }'); $cpu_model, $(nproc) CPUs, no pinning"
    echo "- values of $VALUE_SIZE B; benchmark \`redis-benchmark -t set -P $PIPELINE -c $CLIENTS -n $BENCH_N -r $KEYSPACE -d $VALUE_SIZE\` on the master"
    echo "- lag sampled every ${LAG_EVERY}s during the benchmark: master offset minus each replica's ack (acks come once a second) / minus its applied offset"
    echo "- load average before: $loadavg_before; after: $loadavg_after"
    echo "- command: \`$(command_line)\`"
    [[ $ALL_REDIS == 1 ]] && echo "- **ALL_REDIS=1: every column is redis-server; this run only proves the script.**"
    echo
    if ((${#sync_rows[@]} > 0)); then
        echo "| full sync | keys | time (ms) |"
        echo "|---|---|---|"
        for row in "${sync_rows[@]}"; do
            read -r k n t <<<"$row"
            echo "| $(label_of "$k") → $(label_of "$k") | $n | $t |"
        done
        echo
    fi
    if ((${#bench_rows[@]} > 0)); then
        echo "| master | replicas | SET/s | × of 0 replicas | lag acked p50 / p99 (B) | lag applied p50 / p99 (B) |"
        echo "|---|---|---|---|---|---|"
        for row in "${bench_rows[@]}"; do
            IFS='|' read -r k n rps ack applied <<<"$row"
            [[ $n == 0 ]] && base=$rps
            echo "| $(label_of "$k") | $n | $rps | $(awk -v a="$rps" -v b="$base" 'BEGIN { printf "%.2f", a / b }') | $ack | $applied |"
        done
        echo
    fi
    if ((${#zc_rows[@]} > 0)); then
        echo "Replication thread CPU per streamed MB (\`redis-benchmark -t set -P 16 -c 20 -d 1024 -n $((ZC_MB * 1024))\`, redis-server replicas; catch-up: replicas SIGSTOPped during the load). Plain = \`SHARDIS_REPL_ZC=off\`."
        echo
        echo "| sends | replicas | phase | stream (MB) | thread CPU (ms) | ms per MB of stream / per MB sent | SEND_ZC sends (kernel copied) | plain sends |"
        echo "|---|---|---|---|---|---|---|---|"
        for row in "${zc_rows[@]}"; do
            IFS='|' read -r mode n phase mb cpu per zc kc plain <<<"$row"
            echo "| $mode | $n | $phase | $mb | $cpu | $per | $zc ($kc) | $plain |"
        done
        echo
    fi
)
publish_report
