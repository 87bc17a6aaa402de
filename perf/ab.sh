#!/usr/bin/env bash
# perf/ab.sh: two shardis binaries (A = old, B = new) and redis-server side by side.
#
# The method of RESULTS.md section 3: all three servers run at once on SERVER_CPU,
# redis-benchmark on CLIENT_CPU, and every test runs ROUNDS times against each server
# in turn (A, B, R, A, B, R, ...), so that other load on the box hits all three alike.
# Prints server CPU µs per request (utime+stime from /proc/PID/stat) per run and the
# medians, plus the load average before and after.
#
# Usage: A=/tmp/shardis-old B=/tmp/shardis-new perf/ab.sh
# Knobs: TESTS ("get incr spop zadd"), PIPE (16), N (1000000), ROUNDS (3), CLIENTS (50),
#   KEYSPACE (100000), SERVER_CPU (0), CLIENT_CPU (1), NO_REDIS=1, SERVER_ARGS (extra
#   arguments for all three servers, e.g. "--list-compress-depth 1").
# SET runs unmeasured first so GET and INCR hit; SADD fills myset before SPOP.
set -euo pipefail

# shellcheck source=perf/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

A=${A:?A=path of the old shardis-server}
B=${B:?B=path of the new shardis-server}
TESTS=${TESTS:-get incr spop zadd}
PIPE=${PIPE:-16}
N=${N:-1000000}
ROUNDS=${ROUNDS:-3}
CLIENTS=${CLIENTS:-50}
KEYSPACE=${KEYSPACE:-100000}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
tick=$(getconf CLK_TCK)

work=$(mktemp -d)
cleanup_on_exit

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_shardis() { # bin port
    # A data dir of its own: a shardis server locks its dir (dir/shardis.lock).
    mkdir -p "$work/$2"
    (cd "$work" && exec taskset -c "$SERVER_CPU" "$1" --port "$2" --bind 127.0.0.1 \
        --shards 1 --cpus "$SERVER_CPU" --save "" --appendonly no --dir "$work/$2" ${SERVER_ARGS:-}) >"$work/$2.log" 2>&1 &
    pids+=($!)
}

names=(A B)
ports=()
p=$(free_port); start_shardis "$A" "$p"; ports+=("$p")
p=$(free_port); start_shardis "$B" "$p"; ports+=("$p")
if [[ ${NO_REDIS:-0} != 1 ]]; then
    p=$(free_port)
    taskset -c "$SERVER_CPU" redis-server --port "$p" --bind 127.0.0.1 --save "" --appendonly no \
        --daemonize no --dir "$work" --logfile "$work/redis.log" ${SERVER_ARGS:-} >/dev/null 2>&1 &
    pids+=($!)
    ports+=("$p")
    names+=(R)
fi
for port in "${ports[@]}"; do
    for _ in $(seq 200); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
done
srv_pids=("${pids[@]}")

bench() { # index test -> prints µs/op
    local i=$1 t=$2 before after
    before=$(cpu_ticks "${srv_pids[$i]}")
    taskset -c "$CLIENT_CPU" redis-benchmark -p "${ports[$i]}" -c "$CLIENTS" -P "$PIPE" -n "$N" \
        -r "$KEYSPACE" -t "$t" -q >/dev/null 2>&1
    after=$(cpu_ticks "${srv_pids[$i]}")
    awk -v b="$before" -v a="$after" -v hz="$tick" -v n="$N" 'BEGIN { printf "%.3f", (a - b) / hz * 1e6 / n }'
}

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for i in "${!ports[@]}"; do
    taskset -c "$CLIENT_CPU" redis-benchmark -p "${ports[$i]}" -c "$CLIENTS" -P 16 -n 300000 \
        -r "$KEYSPACE" -t set -q >/dev/null 2>&1
done
# Not lib.sh's median: of an even count, the lower middle one.
median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
printf '%-6s' test; for n in "${names[@]}"; do printf ' | %-24s' "$n runs"; done; printf ' | medians %s\n' "${names[*]}"
for t in $TESTS; do
    declare -A runs=()
    for _ in $(seq "$ROUNDS"); do
        for i in "${!ports[@]}"; do runs[$i]+="$(bench "$i" "$t") "; done
    done
    printf '%-6s' "$t"
    meds=()
    for i in "${!ports[@]}"; do printf ' | %-24s' "${runs[$i]}"; meds+=("$(median <<<"${runs[$i]}")"); done
    printf ' | %s' "${meds[*]}"
    if [[ ${#meds[@]} == 3 ]]; then
        awk -v a="${meds[0]}" -v b="${meds[1]}" -v r="${meds[2]}" 'BEGIN { printf "  (A/R %.2f, B/R %.2f)", a / r, b / r }'
    fi
    echo
    unset runs
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
