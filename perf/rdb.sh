#!/usr/bin/env bash
# perf/rdb.sh: RDB snapshots, shardis vs Debian's redis-server, same data, same load.
#
# For each server (redis-server; shardis with disable-thp yes and no):
#   1. fill KEYS string keys of VALUE_SIZE bytes (one redis-cli --pipe stream, the
#      same bytes for both servers) and note the RSS;
#   2. BGSAVE while idle: wall time until rdb_bgsave_in_progress:0, latest_fork_usec,
#      fork µs per GB of RSS, dump size;
#   3. BGSAVE under a write load (redis-benchmark SET -P 16 over the same keyspace):
#      the child's peak Private_Dirty (sampled from /proc/<child>/smaps_rollup every
#      20 ms: the copy-on-write cost), the parent's peak RSS growth, rdb_last_cow_size
#      and the BGSAVE wall time;
#   4. restart on the dump: the server's own "DB loaded from disk" time and the time
#      until PING answers.
# Prints one markdown table per server set; RESULTS=perf/RESULTS.md appends it.
#
# Knobs (env): KEYS (1000000), VALUE_SIZE (100), SHARDS (2), LOAD_CLIENTS (20),
#   SHARDIS_BIN (release build under $CARGO_TARGET_DIR or ./target), NO_BUILD=1,
#   RESULTS (/dev/stdout only by default).
set -euo pipefail
shopt -s inherit_errexit

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=perf/lib.sh
source "$here/lib.sh"
KEYS=${KEYS:-1000000}
VALUE_SIZE=${VALUE_SIZE:-100}
SHARDS=${SHARDS:-2}
LOAD_CLIENTS=${LOAD_CLIENTS:-20}
RESULTS=${RESULTS:-}
target=${CARGO_TARGET_DIR:-$root/target}
SHARDIS_BIN=${SHARDIS_BIN:-$target/release/shardis-server}

command -v redis-server >/dev/null || { apt-get update -qq && apt-get install -y -qq redis-server redis-tools; }
if [[ ${NO_BUILD:-0} != 1 ]]; then
    (cd "$root" && cargo build --release --bin shardis-server >&2)
fi
[[ -x $SHARDIS_BIN ]] || die "no $SHARDIS_BIN"

work=$(mktemp -d /tmp/rdb-perf.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The fill stream: SET key:<i> <VALUE_SIZE bytes>, as RESP, generated once.
fill="$work/fill.resp"
python3 - "$KEYS" "$VALUE_SIZE" >"$fill" <<'EOF'
import sys, random
n, size = int(sys.argv[1]), int(sys.argv[2])
rnd = random.Random(1)
# Values are slices of a random printable pool: little for LZF to compress.
pool = bytes(rnd.choice(b"abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(1 << 20)) * 2
out = sys.stdout.buffer
for i in range(n):
    # redis-benchmark's key format, so the write load overwrites these keys.
    k = b"key:%012d" % i
    off = rnd.randrange(1 << 20)
    v = pool[off:off + size]
    out.write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(k), k, len(v), v))
EOF

info() { redis-cli -p "$1" info "${3:-persistence}" | tr -d '\r' | sed -n "s/^$2://p"; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
now_ms() { date +%s%3N; }

# start <name> <dir> <args...>: starts a server, echoes "pid port".
start() {
    local name=$1 dir=$2; shift 2
    local port; port=$(free_port)
    mkdir -p "$dir"
    if [[ $name == redis ]]; then
        redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir" \
            --logfile "$dir/log" "$@" &
    else
        "$SHARDIS_BIN" --port "$port" --bind 127.0.0.1 --save "" --shards "$SHARDS" --dir "$dir" \
            --logfile "$dir/log" "$@" &
    fi
    local pid=$!
    pids+=("$pid")
    local t0; t0=$(now_ms)
    until redis-cli -p "$port" ping 2>/dev/null | grep -q PONG; do
        kill -0 "$pid" 2>/dev/null || die "$name did not start: $(tail -3 "$dir/log")"
        sleep 0.01
    done
    echo "$pid $port $(( $(now_ms) - t0 ))"
}

# wait_bgsave <port> <server pid>: polls until done; echoes "ms peak_child_kb peak_parent_growth_kb".
wait_bgsave() {
    local port=$1 pid=$2 t0 peak_child=0 base peak_parent=0 child c r
    base=$(rss_kb "$pid")
    t0=$(now_ms)
    while [[ $(info "$port" rdb_bgsave_in_progress) == 1 ]]; do
        child=$(pgrep -P "$pid" | head -1 || true)
        if [[ -n $child ]]; then
            c=$(awk '/^Private_Dirty:/ {s+=$2} END {print s+0}' "/proc/$child/smaps_rollup" 2>/dev/null || echo 0)
            (( c > peak_child )) && peak_child=$c
        fi
        r=$(rss_kb "$pid")
        (( r - base > peak_parent )) && peak_parent=$(( r - base ))
        sleep 0.02
    done
    echo "$(( $(now_ms) - t0 )) $peak_child $peak_parent"
}

row() { printf '| %s ' "$@"; printf '|\n'; }

measure() {
    local name=$1; shift
    local dir="$work/$name"
    read -r pid port _ < <(start "$name" "$dir" "$@")
    redis-cli -p "$port" --pipe <"$fill" >/dev/null
    local rss; rss=$(rss_kb "$pid")
    # Idle BGSAVE.
    redis-cli -p "$port" bgsave >/dev/null
    read -r idle_ms _ _ < <(wait_bgsave "$port" "$pid")
    local fork_us; fork_us=$(info "$port" latest_fork_usec stats)
    local size; size=$(stat -c %s "$dir/dump.rdb")
    # BGSAVE under a write load.
    redis-benchmark -p "$port" -t set -r "$KEYS" -d "$VALUE_SIZE" -n 100000000 -P 16 -c "$LOAD_CLIENTS" -q \
        >/dev/null 2>&1 &
    local bench=$!
    pids+=("$bench")
    sleep 1
    redis-cli -p "$port" bgsave >/dev/null
    read -r load_ms peak_child peak_parent < <(wait_bgsave "$port" "$pid")
    local fork_load_us; fork_load_us=$(info "$port" latest_fork_usec stats)
    local cow; cow=$(info "$port" rdb_last_cow_size)
    local cut=""; [[ $name != redis ]] && cut=$(info "$port" shardis_latest_cut_usec stats)
    kill "$bench" 2>/dev/null || true
    wait "$bench" 2>/dev/null || true
    redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
    wait "$pid" 2>/dev/null || true
    # Restart on the dump.
    read -r pid2 port2 ready_ms < <(start "$name" "$dir" "$@")
    local loaded; loaded=$(grep -o 'DB loaded from disk: [0-9.]* seconds' "$dir/log" | tail -1 | awk '{print $5}')
    local keys; keys=$(redis-cli -p "$port2" dbsize)
    redis-cli -p "$port2" shutdown nosave >/dev/null 2>&1 || true
    wait "$pid2" 2>/dev/null || true
    local gb; gb=$(awk -v k="$rss" 'BEGIN {printf "%.3f", k/1048576}')
    row "$name" "$keys" "$(( rss / 1024 ))" "$(( size / 1048576 ))" "$idle_ms" "$fork_us" \
        "$(awk -v f="$fork_us" -v g="$gb" 'BEGIN {printf "%.0f", f/g}')" "$load_ms" "$fork_load_us" "${cut:--}" \
        "$(( peak_child / 1024 ))" "$(( peak_parent / 1024 ))" "$(( cow / 1048576 ))" "$loaded" "$ready_ms"
}

{
    echo
    echo "### $(date -u +%F) KEYS=$KEYS VALUE_SIZE=$VALUE_SIZE SHARDS=$SHARDS (load before: $(cut -d' ' -f1-3 /proc/loadavg))"
    echo
    echo "THP: $(cat /sys/kernel/mm/transparent_hugepage/enabled); $(nproc) CPUs; $(redis-server --version | cut -d' ' -f3)"
    echo
    row server keys "RSS MB" "dump MB" "idle BGSAVE ms" "fork µs" "fork µs/GB" "BGSAVE under load ms" \
        "fork µs (load)" "cut µs (load)" "child Private_Dirty peak MB" "parent RSS growth MB" \
        "rdb_last_cow_size MB" "load s (log)" "restart to PING ms"
    row --- --- --- --- --- --- --- --- --- --- --- --- --- --- ---
    measure redis
    measure shardis --disable-thp yes
    measure shardis-thp --disable-thp no
    echo
    echo "Command: \`KEYS=$KEYS VALUE_SIZE=$VALUE_SIZE SHARDS=$SHARDS perf/rdb.sh\`; load after: $(cut -d' ' -f1-3 /proc/loadavg)"
} | if [[ -n $RESULTS ]]; then tee -a "$RESULTS"; else cat; fi
