#!/usr/bin/env bash
# perf/memory.sh: memory per element, shardis (1 shard) against Debian's redis-server.
#
# Loads the same data into both servers with `redis-cli --pipe` and reports, per
# dataset, the growth of each server's memory divided by the number of keys and of
# elements. Two measures, because they mean different things:
#   - used_memory from INFO memory. Redis's is its allocator's count. shardis's is an
#     *estimate* built from each value's heap_bytes() over a sample of keys (see
#     src/cmd/info.rs), not an allocator figure;
#   - VmRSS from /proc/PID/status: what the process really holds, comparable across
#     both (it includes allocator slack and fragmentation).
# Each dataset gets freshly started servers; memory is read before loading and after.
# The load itself runs through one connection, whose input buffer may hold a few MB
# at the end: noise at small N, negligible at the default 1M keys.
#
# Datasets (all under Redis 7.0's default listpack/intset thresholds, so both servers
# use their compact encodings where they have one):
#   hash10: N hashes "h:<i>", 10 fields each, field "f0".."f9" (2 bytes),
#           value "v<i>" padded to 8 bytes: hash-max-listpack-entries 128 / value 64
#   set5:   N sets "s:<i>" of 5 members "member:<i>:<j>" (strings, ~15 bytes). Redis
#           7.0 has no listpack sets (7.2 added them): its sets of strings are hash tables
#   iset5:  N sets "i:<i>" of 5 integer members: intset in both
#
# Usage:  perf/memory.sh             N=1000000, appends to perf/RESULTS.md
#         N=100000 perf/memory.sh    smaller
# Knobs: N (1000000), DATASETS ("hash10 set5 iset5"), SHARDIS_BIN, NO_BUILD=1,
#        RESULTS (perf/RESULTS.md; /dev/null to skip recording).
set -euo pipefail
shopt -s inherit_errexit

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=perf/lib.sh
source "$here/lib.sh"
cmdline="$(for v in N DATASETS SHARDIS_BIN NO_BUILD; do [[ -n ${!v:-} ]] && printf '%s=%q ' "$v" "${!v}"; done)perf/memory.sh"
N=${N:-1000000}
DATASETS=${DATASETS:-hash10 set5 iset5}
RESULTS=${RESULTS:-$here/RESULTS.md}

command -v redis-server >/dev/null && command -v redis-cli >/dev/null \
    || die "needs redis-server and redis-cli (see scripts/test.sh for the install)"
shardis_bin --quiet

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
    redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --daemonize no \
        --dir "$work" --logfile "$work/redis.log" >/dev/null 2>&1 &
    redis_pid=$!
    pids+=("$redis_pid")
    pick_port
    shardis_port=$port
    (cd "$work" && exec "$SHARDIS_BIN" --port "$shardis_port" --bind 127.0.0.1 --shards 1 --save "" \
        --appendonly no --dir "$work") >"$work/shardis.log" 2>&1 &
    shardis_pid=$!
    pids+=("$shardis_pid")
    wait_ready "$redis_port" "$redis_pid"
    wait_ready "$shardis_port" "$shardis_pid"
}

# RESP for one dataset, generated once and piped into both servers.
gen() {
    awk -v n="$N" -v what="$1" 'BEGIN {
        for (i = 0; i < n; i++) {
            if (what == "hash10") {
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
elements_per_key() { case $1 in hash10) echo 10 ;; *) echo 5 ;; esac; }
desc() {
    case $1 in
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
    case $ds in hash10) probe=h:0 ;; set5) probe=s:0 ;; *) probe=i:0 ;; esac
    for who in shardis redis; do
        if [[ $who == shardis ]]; then p=$shardis_port pid=$shardis_pid; else p=$redis_port pid=$redis_pid; fi
        sleep 0.2
        u0=$(used_memory "$p") r0=$(rss_bytes "$pid")
        redis-cli -p "$p" --pipe <"$work/$ds.resp" >"$work/pipe.out" 2>&1 || { cat "$work/pipe.out" >&2; die "load failed ($ds, $who)"; }
        grep -q 'errors: 0,' "$work/pipe.out" || { cat "$work/pipe.out" >&2; die "errors while loading $ds into $who"; }
        # Let the allocators settle before reading: mimalloc returns the blocks freed
        # when the key map doubled only on a later allocator call (delayed purge), so
        # some traffic and a moment pass first (both servers get the same).
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
    rows+=("$(awk -v ds="$ds" -v d="$(desc "$ds")" -v n="$N" -v per="$per" \
        -v su="$shardis_u" -v ru="$redis_u" -v sr="$shardis_r" -v rr="$redis_r" \
        -v se="$shardis_enc" -v re="$redis_enc" 'BEGIN {
        e = n * per
        printf "| %s (%s) | %s / %s | %.1f | %.1f | %.1f | %.1f | %.2f | %.2f |", ds, d, se, re,
            sr / e, rr / e, su / e, ru / e, sr / rr, su / ru }')")
done
loadavg_after=$(cut -d' ' -f1-3 /proc/loadavg)

report=$(
    echo "## Memory per element, $(date -u '+%Y-%m-%d %H:%M:%SZ')"
    echo
    echo "- shardis $(shardis_revision) (\`--shards 1\`), $(redis-server --version | awk '{ print $1, $3 }')"
    echo "- $N keys per dataset, loaded with \`redis-cli --pipe\` into freshly started servers; growth of VmRSS and of INFO \`used_memory\`"
    echo "  divided by keys × elements per key. shardis's used_memory is an estimate from heap_bytes(), not an allocator count."
    echo "- load average before: $loadavg_before; after: $loadavg_after"
    echo "- command: \`$cmdline\`"
    echo
    echo "| dataset | encoding (shardis / redis) | shardis RSS B/elem | redis RSS B/elem | shardis used_memory B/elem | redis used_memory B/elem | RSS ratio | used_memory ratio |"
    echo "|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${rows[@]}"
    echo
)
publish_report
