#!/usr/bin/env bash
# scripts/redis-tcl-suite.sh: runs Redis 7.0.15's own Tcl test suite (tests/unit/**) in
# external mode against redis-server 7.0 and against shardis, unit by unit, and lists the
# tests that fail on shardis only.
#
# Redis's suite is the most thorough description of what Redis 7.0 does, edge cases and
# error messages included. External mode (`runtest --host --port`) runs it against a
# server we start ourselves; tests tagged external:skip (those that restart the server or
# read its log) are skipped by the suite itself. Both servers are restarted fresh for
# every unit so one unit's leftovers (config, keys, clients) cannot fail the next one.
# Tests that fail on both servers are not ours to fix; tests that fail on shardis only
# and are listed in KNOWN (below, each with its reason) are documented differences.
# Exits 1 if a test fails on shardis only and is not in KNOWN, or a unit aborted on
# shardis but not on redis (exception, timeout, crash).
#
# Usage: [SHARDIS_BIN=target/release/shardis-server] [SHARDS=1] [TAGS=-slow]
#        [UNITS="unit/type/incr unit/keyspace ..."] [TIMEOUT=300] [KEEP=dir] [BASEPORT=21111] scripts/redis-tcl-suite.sh
# Needs the Redis 7.0.15 source (Debian's source package, fetched with `apt-get source`;
# the first run adds a deb-src entry for bookworm if none is configured, as root) and
# tclsh (apt-get install tcl); caches the source in ${CACHE:-$HOME/.cache/shardis-redis-tcl}.
# Outside the CI suite (it downloads), like scripts/redis-py-suite.sh.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SHARDIS_BIN=${SHARDIS_BIN:-$root/target/release/shardis-server}
SHARDS=${SHARDS:-1}
TAGS=${TAGS:--slow}
TIMEOUT=${TIMEOUT:-300}
# The suite's own ports (its test server, servers it would start): the redis run's from
# BASEPORT, shardis's from BASEPORT+2000: a parallel run's BASEPORT must differ from both.
BASEPORT=${BASEPORT:-21111}
REDIS_VERSION=7.0.15
# Over several shards, a script may touch keys it did not declare only in lock-all mode
# (README, Scripting); Redis's tests do so freely, as one server allows it.
if ((SHARDS > 1)); then SHARDIS_ARGS=${SHARDIS_ARGS---lua-undeclared-keys lock-all}; fi
SHARDIS_ARGS=${SHARDIS_ARGS:-}
CACHE=${CACHE:-$HOME/.cache/shardis-redis-tcl}
UNITS=${UNITS:-unit/type/string unit/type/incr unit/type/list unit/type/list-2 unit/type/list-3
unit/type/set unit/type/zset unit/type/hash unit/type/stream unit/type/stream-cgroups
unit/keyspace unit/expire unit/scan unit/info-command unit/info unit/protocol unit/pubsub
unit/pubsubshard unit/multi unit/scripting unit/functions unit/bitops unit/bitfield unit/geo
unit/hyperloglog unit/sort unit/auth unit/acl unit/acl-v2 unit/latency-monitor unit/querybuf
unit/tracking unit/introspection unit/introspection-2 unit/dump unit/other unit/limits
unit/maxmemory unit/memefficiency unit/lazyfree unit/oom-score-adj unit/client-eviction
unit/replybufsize unit/networking unit/shutdown unit/obuf-limits unit/slowlog unit/quit
unit/pause}

# Tests that fail on shardis only by design: "unit|test name|reason". The reason points
# to README's "Not supported yet" or a documented difference.
KNOWN=$(
    cat <<'EOF'
unit/keyspace|COPY basic usage for skiplist sorted set|encoding thresholds (zset-max-ziplist-entries) are compatibility-only: README, Configuration (enc16 makes them act)
unit/type/zset|Check encoding - skiplist|encoding thresholds (zset-max-listpack-entries) are compatibility-only: README, Configuration (enc16)
unit/type/zset|ZRANGESTORE with zset-max-listpack-entries 1 dst key should use skiplist encoding|encoding thresholds are compatibility-only: README, Configuration (enc16)
unit/type/hash|HINCRBYFLOAT over hash-max-listpack-value encoded with a listpack|encoding thresholds (hash-max-listpack-value) are compatibility-only: README, Configuration (enc16)
unit/type/list|BRPOPLPUSH does not affect WATCH while still blocked|timing: EXEC (sent, unanswered) and another client's LPUSH overlap; shardis checks WATCH in a hop, so the LPUSH may go first (both orders are valid)
unit/scripting|EVAL does not leak in the Lua stack|LEFT, not by design: in its FCALL run (after the JSON smoke test, now run) used_memory_lua is over the test's 100 KB; not investigated yet (script22)
unit/latency-monitor|LATENCY of expire events are correctly collected|timing: the test needs an active-expire cycle that frees a 1M-member set to take 200 ms; shardis records expire-cycle (shard::turns) but frees it faster
EOF
)

# Tests skipped on both servers because they abort their whole unit on shardis (an
# error outside an assertion ends the unit, hiding the tests after it): "unit|test
# name|reason". A reason is a documented difference, another change under way, or
# "LEFT": a divergence not fixed yet, skipped so that the rest of its unit runs.
SKIP=$(
    cat <<'EOF'
unit/type/list|reg node check compression with lset|DEBUG QUICKLIST-PACKED-THRESHOLD: README, Not supported yet, DEBUG
unit/type/list|plain node check compression|DEBUG QUICKLIST-PACKED-THRESHOLD: README, Not supported yet, DEBUG
unit/type/list|plain node check compression with ltrim|DEBUG QUICKLIST-PACKED-THRESHOLD: README, Not supported yet, DEBUG
unit/type/list|plain node check compression using lset|DEBUG QUICKLIST-PACKED-THRESHOLD: README, Not supported yet, DEBUG
unit/type/list|Test LPUSH and LPOP on plain nodes|DEBUG QUICKLIST-PACKED-THRESHOLD: README, Not supported yet, DEBUG
unit/type/list|Test LINDEX and LINSERT on plain nodes|DEBUG QUICKLIST-PACKED-THRESHOLD: README, Not supported yet, DEBUG
unit/type/list|Test LTRIM on plain nodes|DEBUG QUICKLIST-PACKED-THRESHOLD: README, Not supported yet, DEBUG
unit/type/list|Test LREM on plain nodes|DEBUG QUICKLIST-PACKED-THRESHOLD: README, Not supported yet, DEBUG
unit/type/list|Test LPOS on plain nodes|DEBUG QUICKLIST-PACKED-THRESHOLD: README, Not supported yet, DEBUG
unit/type/list|Test LMOVE on plain nodes|DEBUG QUICKLIST-PACKED-THRESHOLD: README, Not supported yet, DEBUG
unit/type/list|Test LSET with packed / plain combinations|DEBUG QUICKLIST-PACKED-THRESHOLD: README, Not supported yet, DEBUG
unit/type/list|Test LSET with packed is split in the middle|DEBUG QUICKLIST-PACKED-THRESHOLD: README, Not supported yet, DEBUG
unit/type/list|Test LSET with packed consist only one item|DEBUG QUICKLIST-PACKED-THRESHOLD: README, Not supported yet, DEBUG
unit/type/list|Crash due to delete entry from a compress quicklist node|DEBUG QUICKLIST-PACKED-THRESHOLD: README, Not supported yet, DEBUG
unit/type/list|Crash due to split quicklist node wrongly|DEBUG QUICKLIST-PACKED-THRESHOLD: README, Not supported yet, DEBUG
unit/type/stream|XADD with MAXLEN > xlen can propagate correctly|DEBUG LOADAOF: README, Not supported yet, DEBUG
unit/type/stream|XADD with MINID > lastid can propagate correctly|DEBUG LOADAOF: README, Not supported yet, DEBUG
unit/type/stream|XADD with ~ MAXLEN can propagate correctly|DEBUG LOADAOF: README, Not supported yet, DEBUG
unit/type/stream|XADD with ~ MAXLEN and LIMIT can propagate correctly|DEBUG LOADAOF: README, Not supported yet, DEBUG
unit/type/stream|XADD with ~ MINID can propagate correctly|DEBUG LOADAOF: README, Not supported yet, DEBUG
unit/type/stream|XADD with ~ MINID and LIMIT can propagate correctly|DEBUG LOADAOF: README, Not supported yet, DEBUG
unit/type/stream|XTRIM with ~ MAXLEN can propagate correctly|DEBUG LOADAOF: README, Not supported yet, DEBUG
unit/type/stream|Empty stream can be rewrite into AOF correctly|DEBUG LOADAOF: README, Not supported yet, DEBUG
unit/type/stream|Stream can be rewrite into AOF correctly after XDEL lastid|DEBUG LOADAOF: README, Not supported yet, DEBUG
unit/type/stream-cgroups|XREADGROUP with NOACK creates consumer|DEBUG LOADAOF: README, Not supported yet, DEBUG
unit/type/stream-cgroups|Consumer without PEL is present in AOF after AOFRW|DEBUG LOADAOF: README, Not supported yet, DEBUG
unit/type/stream-cgroups|Empty stream with no lastid can be rewrite into AOF correctly|DEBUG LOADAOF: README, Not supported yet, DEBUG
unit/expire|All time-to-live(TTL) in commands are propagated as absolute timestamp in milliseconds in AOF|DEBUG LOADAOF: README, Not supported yet, DEBUG
unit/expire|SET - use KEEPTTL option, TTL should not be removed after loadaof|DEBUG LOADAOF: README, Not supported yet, DEBUG
unit/expire|GETEX use of PERSIST option should remove TTL after loadaof|DEBUG LOADAOF: README, Not supported yet, DEBUG
unit/other|Same dataset digest if saving/reloading as AOF?|DEBUG LOADAOF: README, Not supported yet, DEBUG
unit/other|EXPIRES after a reload (snapshot + append only file rewrite)|DEBUG LOADAOF: README, Not supported yet, DEBUG
unit/other|EXPIRES after AOF reload (without rewrite)|DEBUG LOADAOF: README, Not supported yet, DEBUG
unit/protocol|RESP3 attributes|DEBUG PROTOCOL: README, Not supported yet, DEBUG
unit/protocol|RESP3 attributes readraw|DEBUG PROTOCOL: README, Not supported yet, DEBUG
unit/protocol|RESP3 attributes on RESP2|DEBUG PROTOCOL: README, Not supported yet, DEBUG
unit/protocol|test big number parsing|DEBUG PROTOCOL: README, Not supported yet, DEBUG
unit/protocol|test bool parsing|DEBUG PROTOCOL: README, Not supported yet, DEBUG
unit/protocol|test verbatim str parsing|DEBUG PROTOCOL: README, Not supported yet, DEBUG
unit/scripting|Consistent eval error reporting|LEFT, not by design: a script's refused and failed calls now count in errorstats and commandstats as in Redis, but a later case of the test still differs (script22)
unit/introspection|CONFIG sanity|CONFIG GET * lists shardis's own immutable parameters (shards, ...: README, Configuration), which the test sets back
EOF
)

die() { echo "redis-tcl-suite: $*" >&2; exit 2; }
command -v redis-server >/dev/null || die "redis-server is required (apt-get install redis-server)"
[[ $(redis-server --version) == *v=7.0.* ]] || echo "redis-tcl-suite: warning: redis-server is not 7.0" >&2
[[ -x $SHARDIS_BIN ]] || die "no shardis at $SHARDIS_BIN (cargo build --release)"
if ! command -v tclsh >/dev/null; then
    [[ $(id -u) == 0 ]] || die "tclsh is required (apt-get install tcl)"
    apt-get update -qq && apt-get install -y -qq tcl >/dev/null
fi

src=$CACHE/redis-$REDIS_VERSION
if [[ ! -f $src/tests/test_helper.tcl ]]; then
    mkdir -p "$CACHE"
    tarball=$CACHE/redis_$REDIS_VERSION.orig.tar.gz
    if [[ ! -f $tarball ]]; then
        if ! apt-get source --print-uris redis 2>/dev/null | grep -q "redis_$REDIS_VERSION.orig"; then
            [[ $(id -u) == 0 ]] || die "no deb-src entry for Debian bookworm; add one and run apt-get update"
            cat >/etc/apt/sources.list.d/shardis-deb-src.sources <<'EOF'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
            apt-get update -qq
        fi
        (cd "$CACHE" && apt-get source --download-only -qq redis >/dev/null)
        [[ -f $tarball ]] || die "apt-get source did not fetch redis $REDIS_VERSION"
    fi
    tar xzf "$tarball" -C "$CACHE"
fi

work=$(mktemp -d /tmp/redis-tcl-suite.XXXXXX)
[[ -z ${KEEP:-} ]] || mkdir -p "$KEEP"
pids=()
stop_servers() {
    local p i
    ((${#pids[@]})) || return 0
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    # A server stuck in a script the unit left running may not stop on SIGTERM.
    for ((i = 0; i < 100; i++)); do
        for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && break; done
        kill -0 "$p" 2>/dev/null || break
        sleep 0.05
    done
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    pids=()
}
trap 'stop_servers; rm -rf "$work"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Waits until the server of pid $2 answers PING on port $1. Fails (status 1) if the server
# exited first: a port picked by free_port can be taken by another program's connection
# before the server binds it (other test runs on the machine open many), and the server
# then stops at once ("Address already in use", in its log).
wait_ping() {
    local i
    for ((i = 0; i < 600; i++)); do
        [[ $(redis-cli -p "$1" ping 2>/dev/null) == PONG ]] && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.05
    done
    die "server on port $1 (pid $2) did not answer within 30 s"
}

# One fresh server of each kind; sets redis_port, shardis_port, shardis_pid. A server that
# exits before answering is started again on another port (three tries), then its log is
# shown.
start_servers() {
    local try redis_pid
    rm -rf "$work/redis" "$work/shardis"
    mkdir -p "$work/redis" "$work/shardis"
    for ((try = 1; ; try++)); do
        redis_port=$(free_port)
        redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work/redis" \
            --enable-debug-command yes --daemonize no --logfile "$work/redis/log" &
        redis_pid=$!
        wait_ping "$redis_port" "$redis_pid" && break
        ((try < 3)) || die "redis-server exited at start: $(tail -3 "$work/redis/log")"
    done
    pids+=($redis_pid)
    for ((try = 1; ; try++)); do
        shardis_port=$(free_port)
        [[ $shardis_port == "$redis_port" ]] && continue
        (cd "$work/shardis" && exec "$SHARDIS_BIN" --port "$shardis_port" --bind 127.0.0.1 --shards "$SHARDS" \
            --save '' --appendonly no --dir "$work/shardis" --enable-debug-command yes $SHARDIS_ARGS) >"$work/shardis/log" 2>&1 &
        shardis_pid=$!
        wait_ping "$shardis_port" "$shardis_pid" && break
        ((try < 3)) || die "shardis exited at start: $(tail -3 "$work/shardis/log")"
    done
    pids+=($shardis_pid)
}

# Runs one unit against one server; leaves NAME.out (the log without colours),
# NAME.failed (names of failed tests) and NAME.summary ("ok err [aborted: why]").
run_unit() {
    local unit=$1 port=$2 name=$3 baseport=$4 rc=0 skips=() t
    while IFS= read -r t; do [[ -n $t ]] && skips+=(--skiptest "$t"); done < <(names_for "$unit" "$SKIP")
    (cd "$src" && timeout "$TIMEOUT" tclsh tests/test_helper.tcl --host 127.0.0.1 --port "$port" \
        --single "$unit" --tags "$TAGS" --timeout 120 --baseport "$baseport" --clients 1 "${skips[@]}") \
        2>&1 | sed 's/\x1b\[[0-9;]*m//g' >"$work/$name.out" || rc=$?
    grep -E '^\[err\]: ' "$work/$name.out" | sed 's/^\[err\]: //; s/ in tests\/[^ ]*\.tcl$//' \
        | sort -u >"$work/$name.failed" || true
    local ok err why=
    ok=$(grep -c '^\[ok\]: ' "$work/$name.out" || true)
    err=$(grep -c '^\[err\]: ' "$work/$name.out" || true)
    if grep -q '^\[exception\]' "$work/$name.out"; then
        why="exception: $(grep -A1 '^\[exception\]' "$work/$name.out" | sed -n 2p | cut -c1-100)"
    elif grep -q '^\[TIMEOUT\]' "$work/$name.out"; then
        why="timed out in: $(grep -A1 '^\[TIMEOUT\]' "$work/$name.out" | sed -n '2s/.*(IN PROGRESS) //p' | cut -c1-80)"
    elif ! grep -q '^\[[0-9]*/[0-9]* done\]' "$work/$name.out"; then
        why="did not finish (rc=$rc)"
    fi
    echo "$ok $err${why:+ [$why]}" >"$work/$name.summary"
}

names_for() { # unit, list -> the list's test names for that unit, one a line
    awk -F'|' -v u="$1" '$1 == u { print $2 }' <<<"$2" | sort -u
}

echo "redis $(redis-server --version | grep -o 'v=[0-9.]*') vs shardis $SHARDS shard(s), tags '$TAGS'"
printf '%-28s %-22s %s\n' unit "redis ok/err" "shardis ok/err"
status=0
report=$work/report
: >"$report"
for unit in $UNITS; do
    [[ -f $src/tests/$unit.tcl ]] || { printf '%-28s (no such unit in %s)\n' "$unit" "$REDIS_VERSION"; continue; }
    start_servers
    run_unit "$unit" "$redis_port" redis "$BASEPORT" &
    r=$!
    run_unit "$unit" "$shardis_port" shardis $((BASEPORT + 2000))
    wait "$r"
    alive=yes
    kill -0 "$shardis_pid" 2>/dev/null || alive=no
    stop_servers
    s_summary=$(cat "$work/shardis.summary")
    [[ $alive == no ]] && s_summary="$s_summary [shardis exited]"
    printf '%-28s %-22s %s\n' "$unit" "$(cat "$work/redis.summary")" "$s_summary"
    only=$(comm -13 "$work/redis.failed" "$work/shardis.failed")
    unexpected=$(comm -23 <(sed '/^$/d' <<<"$only") <(names_for "$unit" "$KNOWN"))
    if [[ -n $only ]]; then
        {
            echo "$unit: fail on shardis only:"
            while IFS= read -r t; do
                [[ -z $t ]] && continue
                if grep -qxF -- "$t" <<<"$unexpected"; then echo "  NEW   $t"; else echo "  known $t"; fi
            done <<<"$only"
        } >>"$report"
    fi
    if [[ -n $unexpected ]]; then
        status=1
        # the assertion behind each unexpected failure
        grep -A1 -E '^\[err\]: ' "$work/shardis.out" | grep -vE '^--$' | cut -c1-220 | head -40 \
            | sed 's/^/      /' >>"$report" || true
    fi
    if [[ $s_summary == *"["* && $(cat "$work/redis.summary") != *"["* ]]; then
        status=1
        echo "$unit: aborted on shardis only: $s_summary" >>"$report"
        grep -B2 -A8 '^\[exception\]' "$work/shardis.out" | head -14 | sed 's/^/      /' >>"$report" || true
    fi
    [[ -n ${KEEP:-} ]] && cp "$work/redis.out" "$KEEP/$(tr / _ <<<"$unit").redis.out" \
        && cp "$work/shardis.out" "$KEEP/$(tr / _ <<<"$unit").shardis.out"
done
echo
cat "$report"
[[ $status == 0 ]] && echo "no test fails on shardis only beyond KNOWN"
exit "$status"
