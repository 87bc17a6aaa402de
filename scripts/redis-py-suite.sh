#!/usr/bin/env bash
# scripts/redis-py-suite.sh: runs redis-py's own test suite against redis-server 7.0 and
# against shardis, and lists the tests that fail on shardis only.
#
# A client's own tests exercise what its users rely on (error classes, reply shapes,
# connection handling) in ways our tests do not think of. Both servers run the same
# test files; tests that fail on both (features newer than Redis 7.0, modules) are not
# ours to fix. Exits 1 if a test fails on shardis only and is not listed in KNOWN.
#
# Usage: [SHARDIS_BIN=target/release/shardis-server] [SHARDS=2] [REDIS_PY=5.0.8]
#        [FILES="tests/test_commands.py ..."] scripts/redis-py-suite.sh
# Needs network access to PyPI (the redis-py source release and pytest) the first time;
# it caches them in ${CACHE:-$HOME/.cache/shardis-redis-py}.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SHARDIS_BIN=${SHARDIS_BIN:-$root/target/release/shardis-server}
SHARDS=${SHARDS:-2}
REDIS_PY=${REDIS_PY:-5.0.8}
CACHE=${CACHE:-$HOME/.cache/shardis-redis-py}
FILES=${FILES:-tests/test_commands.py tests/test_hash.py tests/test_pipeline.py tests/test_pubsub.py
tests/test_scripting.py tests/test_function.py tests/test_encoding.py tests/test_lock.py
tests/test_monitor.py tests/test_connection.py tests/test_connection_pool.py}
# Fails on shardis by design: a script touching a key it did not declare, on a key
# another shard owns (README, "Scripts and keys").
KNOWN=${KNOWN:-tests/test_monitor.py::TestMonitor::test_lua_script}

die() { echo "redis-py-suite: $*" >&2; exit 2; }
command -v redis-server >/dev/null || die "redis-server is required (apt-get install redis-server)"
[[ -x $SHARDIS_BIN ]] || die "no shardis at $SHARDIS_BIN (cargo build --release)"

src=$CACHE/redis-$REDIS_PY
if [[ ! -d $CACHE/venv ]]; then
    python3 -m venv "$CACHE/venv" || die "python3 -m venv failed (apt-get install python3-venv)"
    "$CACHE/venv/bin/pip" install -q pytest pytest-timeout mock packaging
fi
if [[ ! -d $src/tests ]]; then
    mkdir -p "$CACHE"
    (cd "$CACHE" && "$CACHE/venv/bin/pip" download -q --no-binary :all: --no-deps "redis==$REDIS_PY" \
        && tar xzf "redis-$REDIS_PY.tar.gz")
    "$CACHE/venv/bin/pip" install -q -e "$src"
fi

work=$(mktemp -d /tmp/redis-py-suite.XXXXXX)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_ping() {
    local i
    for ((i = 0; i < 200; i++)); do
        [[ $(redis-cli -p "$1" ping 2>/dev/null) == PONG ]] && return
        sleep 0.05
    done
    die "server on port $1 did not answer"
}

redis_port=$(free_port)
mkdir -p "$work/redis" "$work/shardis"
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work/redis" \
    --enable-debug-command yes --daemonize no --logfile "$work/redis/log" &
pids+=($!)
shardis_port=$(free_port)
(cd "$work/shardis" && exec "$SHARDIS_BIN" --port "$shardis_port" --bind 127.0.0.1 --shards "$SHARDS" \
    --save '' --appendonly no --dir "$work/shardis" --enable-debug-command yes) >"$work/shardis/log" 2>&1 &
pids+=($!)
wait_ping "$redis_port"
wait_ping "$shardis_port"

run() {
    # shellcheck disable=SC2086 # FILES is a list of paths
    (cd "$src" && "$CACHE/venv/bin/python" -m pytest $FILES -q -p no:cacheprovider -rfE \
        --timeout 60 --timeout-method=signal --redis-url="redis://127.0.0.1:$1/9") >"$work/$2.out" 2>&1 || true
    grep -E '^(FAILED|ERROR) ' "$work/$2.out" | sed 's/ - .*//; s/^[A-Z]* //' | sort -u >"$work/$2.failed"
    echo "$2: $(tail -1 "$work/$2.out")"
}
run "$redis_port" redis
run "$shardis_port" shardis

only=$(comm -13 "$work/redis.failed" "$work/shardis.failed")
unexpected=$(comm -23 <(echo "$only" | sed '/^$/d') <(tr ' ' '\n' <<<"$KNOWN" | sed '/^$/d' | sort))
[[ -n $only ]] && { echo "fail on shardis only:"; echo "$only" | sed 's/^/  /'; }
if [[ -n $unexpected ]]; then
    echo "not in KNOWN:"
    echo "$unexpected" | sed 's/^/  /'
    grep -A40 -E "^_+ .*($(echo "$unexpected" | sed 's/.*:://' | paste -sd'|')) _+$" "$work/shardis.out" \
        | grep -E '^E ' | head -40
    exit 1
fi
echo "no test fails on shardis only beyond KNOWN"
