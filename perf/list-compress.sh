#!/usr/bin/env bash
# perf/list-compress.sh: memory per element of long lists at list-compress-depth 0 and
# 1, shardis (1 shard) and redis-server 7.0 side by side in one run.
#
# Each (server, depth) gets a fresh server pinned to SERVER_CPU; LISTS lists of LEN
# JSON-like log lines (~75 bytes, as a queue or log of events holds) are loaded with
# `redis-cli --pipe`; reported: growth of VmRSS and of used_memory per element, and
# MEMORY USAGE of one list per element.
# Usage: SHARDIS_BIN=target/release/shardis-server perf/list-compress.sh
# Knobs: LISTS (100), LEN (10000), SERVER_CPU (0), DEPTHS ("0 1").
set -euo pipefail
BIN=${SHARDIS_BIN:-target/release/shardis-server}
LISTS=${LISTS:-100}
LEN=${LEN:-10000}
SERVER_CPU=${SERVER_CPU:-0}
DEPTHS=${DEPTHS:-0 1}
work=$(mktemp -d)
trap 'for p in ${pid:-}; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
python3 - "$LISTS" "$LEN" >"$work/load.resp" <<'PY'
import sys
lists, n = int(sys.argv[1]), int(sys.argv[2])
out = sys.stdout.buffer
levels = ["info", "warn", "debug", "error"]
paths = ["/api/v1/items", "/api/v1/users", "/health", "/api/v2/orders"]
def cmd(*a):
    b = [x if isinstance(x, bytes) else str(x).encode() for x in a]
    out.write(b"*%d\r\n" % len(b) + b"".join(b"$%d\r\n%s\r\n" % (len(x), x) for x in b))
for l in range(lists):
    batch = []
    for i in range(n):
        batch.append('{"ts":%d,"level":"%s","msg":"GET %s %d","id":%d}' % (1700000000000 + i * 37, levels[i % 4], paths[(i * 7) % 4], 200 if i % 13 else 404, i))
        if len(batch) == 100:
            cmd("RPUSH", "log:%d" % l, *batch); batch = []
    if batch:
        cmd("RPUSH", "log:%d" % l, *batch)
PY
rss() { awk '/VmRSS/ {print $2 * 1024}' "/proc/$1/status"; }
used() { redis-cli -p "$1" info memory | awk -F: '/^used_memory:/ {print $2+0}'; }
printf "%-8s %-6s %14s %16s %18s\n" server depth "RSS B/elem" "used_memory B/e" "MEMORY USAGE B/e"
for depth in $DEPTHS; do
    for srv in shardis redis; do
        port=$(free_port)
        mkdir -p "$work/$srv$depth"
        if [[ $srv == shardis ]]; then
            taskset -c "$SERVER_CPU" "$BIN" --port "$port" --bind 127.0.0.1 --shards 1 --cpus "$SERVER_CPU" \
                --save "" --appendonly no --dir "$work/$srv$depth" --list-compress-depth "$depth" >"$work/$srv$depth.log" 2>&1 &
        else
            taskset -c "$SERVER_CPU" redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
                --dir "$work/$srv$depth" --list-compress-depth "$depth" --daemonize no >"$work/$srv$depth.log" 2>&1 &
        fi
        pid=$!
        for _ in $(seq 200); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
        r0=$(rss "$pid"); u0=$(used "$port")
        redis-cli -p "$port" --pipe <"$work/load.resp" >/dev/null
        r1=$(rss "$pid"); u1=$(used "$port")
        mu=$(redis-cli -p "$port" memory usage log:0 samples 0)
        total=$((LISTS * LEN))
        printf "%-8s %-6s %14.1f %16.1f %18.1f\n" "$srv" "$depth" "$(echo "($r1-$r0)/$total" | bc -l)" \
            "$(echo "($u1-$u0)/$total" | bc -l)" "$(echo "$mu/$LEN" | bc -l)"
        kill "$pid"; wait "$pid" 2>/dev/null || true
        pid=
    done
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
