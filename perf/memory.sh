#!/usr/bin/env bash
# perf/memory.sh: memory per key and per element, shardis (1 shard) against Debian's
# redis-server 7.0 and valkey-server 8, in one run.
#
# Loads the same data into each server with `redis-cli --pipe` and reports, per
# dataset, the growth of each server's memory divided by the number of keys and of
# elements. Two measures, because they mean different things:
#   - VmRSS from /proc/PID/status: what the process really holds, comparable across
#     servers (it includes allocator slack, fragmentation and buffers). The headline.
#   - used_memory from INFO memory. Redis's and Valkey's is their allocator's count.
#     shardis's may be an estimate (see src/cmd/info.rs), not an allocator figure.
# Each dataset gets freshly started servers, all pinned to SERVER_CPU (the loader
# runs on CLIENT_CPU); memory is read before loading and after. The load runs through
# one connection per server.
#
# Datasets (all under Redis 7.0's default listpack/intset thresholds, so every server
# uses its compact encoding where it has one):
#   str32:  N strings "key:<i>" of 32 bytes (SET): the issue's bytes-per-key workload
#   hash10: N hashes "h:<i>", 10 fields each, field "f0".."f9" (2 bytes),
#           value "v<i>" padded to 8 bytes: hash-max-listpack-entries 128 / value 64
#   set5:   N sets "s:<i>" of 5 members "member:<i>:<j>" (strings, ~15 bytes). Redis
#           7.0 has no listpack sets (7.2 added them): its sets of strings are hash tables
#   iset5:  N sets "i:<i>" of 5 integer members: intset in both
#
# Usage:  perf/memory.sh             N=1000000, appends to perf/RESULTS.md
#         N=100000 perf/memory.sh    smaller
#         DATASETS=str32 perf/memory.sh   only the bytes-per-key workload
# Knobs: N (1000000), DATASETS ("str32 hash10 set5 iset5"), SHARDIS_BIN, NO_BUILD=1,
#        SHARDIS_ARGS (extra server arguments, e.g. "--disable-thp yes", Redis's default),
#        VALKEY_BIN (/work/shared/tools/valkey-server; VALKEY_BIN=none leaves Valkey out),
#        SERVER_CPU (0), CLIENT_CPU (1), RESULTS (perf/RESULTS.md; /dev/null to skip).
set -euo pipefail
shopt -s inherit_errexit

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=perf/lib.sh
source "$here/lib.sh"
cmdline="$(for v in N DATASETS SHARDIS_BIN SHARDIS_ARGS NO_BUILD VALKEY_BIN; do if [[ -n ${!v:-} ]]; then printf '%s=%q ' "$v" "${!v}"; fi; done)perf/memory.sh"
N=${N:-1000000}
DATASETS=${DATASETS:-str32 hash10 set5 iset5}
RESULTS=${RESULTS:-$here/RESULTS.md}
VALKEY_BIN=${VALKEY_BIN:-/work/shared/tools/valkey-server}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}

command -v redis-server >/dev/null && command -v redis-cli >/dev/null \
    || die "needs redis-server and redis-cli (see scripts/test.sh for the install)"
shardis_bin --quiet
servers=(shardis redis)
if [[ $VALKEY_BIN != none ]]; then
    [[ -x $VALKEY_BIN ]] || die "no valkey-server at $VALKEY_BIN (VALKEY_BIN=none to leave it out)"
    servers+=(valkey)
fi

work=$(mktemp -d /tmp/shardis-memory.XXXXXX)
cleanup_on_exit

# Not lib.sh's wait_ready: this one neither needs nor shows a log file.
wait_ready() {
    local i
    for ((i = 0; i < 200; i++)); do
        [[ $(redis-cli -p "$1" ping 2>/dev/null) == PONG ]] && kill -0 "$2" && return 0
        kill -0 "$2" 2>/dev/null || die "server on port $1 exited"
        sleep 0.05
    done
    die "server on port $1 did not answer"
}

# Fresh servers for every dataset: freed memory stays in the allocators (and in RSS),
# so a second dataset loaded after FLUSHALL would partly reuse the first one's pages.
start_servers() {
    stop_servers
    pick_port
    redis_port=$port
    taskset -c "$SERVER_CPU" redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
        --daemonize no --dir "$work" --logfile "$work/redis.log" >/dev/null 2>&1 &
    redis_pid=$!
    pids+=("$redis_pid")
    pick_port
    shardis_port=$port
    # shellcheck disable=SC2086 # SHARDIS_ARGS is meant to split into words
    (cd "$work" && exec taskset -c "$SERVER_CPU" "$SHARDIS_BIN" --port "$shardis_port" --bind 127.0.0.1 \
        --shards 1 --save "" --appendonly no --dir "$work" ${SHARDIS_ARGS:-}) >"$work/shardis.log" 2>&1 &
    shardis_pid=$!
    pids+=("$shardis_pid")
    wait_ready "$redis_port" "$redis_pid"
    wait_ready "$shardis_port" "$shardis_pid"
    if [[ $VALKEY_BIN != none ]]; then
        pick_port
        valkey_port=$port
        taskset -c "$SERVER_CPU" "$VALKEY_BIN" --port "$valkey_port" --bind 127.0.0.1 --save "" --appendonly no \
            --daemonize no --dir "$work" --logfile "$work/valkey.log" >/dev/null 2>&1 &
        valkey_pid=$!
        pids+=("$valkey_pid")
        wait_ready "$valkey_port" "$valkey_pid"
    fi
}

# RESP for one dataset, generated once and piped into both servers.
gen() {
    awk -v n="$N" -v what="$1" 'BEGIN {
        for (i = 0; i < n; i++) {
            if (what == "str32") {
                k = "key:" i
                v = sprintf("%032d", i)
                printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$32\r\n%s\r\n", length(k), k, v
            } else if (what == "hash10") {
                k = "h:" i
                printf "*22\r\n$4\r\nHSET\r\n$%d\r\n%s\r\n", length(k), k
                for (j = 0; j < 10; j++) { v = sprintf("v%07d", i % 10000000); printf "$2\r\nf%d\r\n$8\r\n%s\r\n", j, v }
            } else if (what == "set5") {
                k = "s:" i
                printf "*7\r\n$4\r\nSADD\r\n$%d\r\n%s\r\n", length(k), k
                for (j = 0; j < 5; j++) { m = "member:" i ":" j; printf "$%d\r\n%s\r\n", length(m), m }
            } else {
                k = "i:" i
                printf "*7\r\n$4\r\nSADD\r\n$%d\r\n%s\r\n", length(k), k
                for (j = 0; j < 5; j++) { m = "" (i * 5 + j); printf "$%d\r\n%s\r\n", length(m), m }
            }
        }
    }'
}
elements_per_key() { case $1 in str32) echo 1 ;; hash10) echo 10 ;; *) echo 5 ;; esac; }
desc() {
    case $1 in
        str32) echo "string, 32 B value" ;;
        hash10) echo "hash, 10 fields (2 B) of 8 B values" ;;
        set5) echo "set, 5 string members (~17 B)" ;;
        iset5) echo "set, 5 integer members" ;;
    esac
}

used_memory() { redis-cli -p "$1" info memory | tr -d '\r' | awk -F: '$1 == "used_memory" { print $2 }'; }
rss_bytes() { awk '/^VmRSS:/ { print $2 * 1024 }' "/proc/$1/status"; }
encoding() { redis-cli -p "$1" object encoding "$2" | tr -d '\r'; }

loadavg_before=$(cut -d' ' -f1-3 /proc/loadavg)
rows=()
for ds in $DATASETS; do
    gen "$ds" >"$work/$ds.resp"
    start_servers
    per=$(elements_per_key "$ds")
    case $ds in str32) probe=key:0 ;; hash10) probe=h:0 ;; set5) probe=s:0 ;; *) probe=i:0 ;; esac
    row="| $ds ($(desc "$ds")) |"
    for who in "${servers[@]}"; do
        p_var=${who}_port pid_var=${who}_pid
        p=${!p_var} pid=${!pid_var}
        sleep 0.2
        u0=$(used_memory "$p") r0=$(rss_bytes "$pid")
        taskset -c "$CLIENT_CPU" redis-cli -p "$p" --pipe <"$work/$ds.resp" >"$work/pipe.out" 2>&1 \
            || { cat "$work/pipe.out" >&2; die "load failed ($ds, $who)"; }
        grep -q 'errors: 0,' "$work/pipe.out" || { cat "$work/pipe.out" >&2; die "errors while loading $ds into $who"; }
        # Let the allocators settle before reading: mimalloc returns freed blocks only on
        # a later allocator call (delayed purge), so some traffic and a moment pass
        # first (every server gets the same).
        redis-benchmark -p "$p" -q -n 20000 -t ping >/dev/null 2>&1 || true
        sleep 1
        keys=$(redis-cli -p "$p" dbsize | tr -d '\r')
        ((keys == N)) || die "$who holds $keys keys after loading $ds, expected $N"
        u1=$(used_memory "$p") r1=$(rss_bytes "$pid")
        enc=$(encoding "$p" "$probe")
        eval "${who}_u=\$((u1 - u0)) ${who}_r=\$((r1 - r0)) ${who}_enc=\$enc"
        log "$ds $who: used_memory +$((u1 - u0)) B, VmRSS +$((r1 - r0)) B, encoding $enc"
    done
    rm -f "$work/$ds.resp"
    encs=$(for who in "${servers[@]}"; do e=${who}_enc; printf '%s / ' "${!e}"; done)
    row+=" ${encs% / } |"
    for who in "${servers[@]}"; do r=${who}_r; row+=$(awk -v r="${!r}" -v e="$((N * per))" 'BEGIN { printf " %.1f |", r / e }'); done
    for who in "${servers[@]}"; do u=${who}_u; row+=$(awk -v u="${!u}" -v e="$((N * per))" 'BEGIN { printf " %.1f |", u / e }'); done
    row+=$(awk -v s="$shardis_r" -v r="$redis_r" 'BEGIN { printf " %.2f |", s / r }')
    if [[ $VALKEY_BIN != none ]]; then
        row+=$(awk -v s="$shardis_r" -v v="$valkey_r" 'BEGIN { printf " %.2f |", s / v }')
    fi
    rows+=("$row")
done
loadavg_after=$(cut -d' ' -f1-3 /proc/loadavg)

names="${servers[*]}"
valkey_version=""
[[ $VALKEY_BIN != none ]] && valkey_version=", $("$VALKEY_BIN" --version | awk '{ print $1, $3 }')"
report=$(
    echo "## Memory per element, $(date -u '+%Y-%m-%d %H:%M:%SZ')"
    echo
    echo "- shardis $(shardis_revision) (\`--shards 1\`), $(redis-server --version | awk '{ print $1, $3 }')$valkey_version"
    echo "- $N keys per dataset, loaded with \`redis-cli --pipe\` into freshly started servers pinned to CPU $SERVER_CPU;"
    echo "  growth of VmRSS and of INFO \`used_memory\` divided by keys × elements per key."
    echo "- load average before: $loadavg_before; after: $loadavg_after"
    echo "- command: \`$cmdline\`"
    echo
    hdr="| dataset | encoding (${names// / / }) |"
    sep="|---|---|"
    for who in "${servers[@]}"; do hdr+=" $who RSS B/elem |"; sep+="---|"; done
    for who in "${servers[@]}"; do hdr+=" $who used_memory B/elem |"; sep+="---|"; done
    hdr+=" RSS shardis/redis |"; sep+="---|"
    if [[ $VALKEY_BIN != none ]]; then hdr+=" RSS shardis/valkey |"; sep+="---|"; fi
    echo "$hdr"
    echo "$sep"
    printf '%s\n' "${rows[@]}"
    echo
)
publish_report
