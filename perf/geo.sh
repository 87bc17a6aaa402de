#!/usr/bin/env bash
# perf/geo.sh: GEOADD and GEOSEARCH, shardis (1 shard) against Debian's redis-server,
# same load, same core, as perf/compare.sh does for the string and data-type tests.
#
# Both servers run pinned to SERVER_CPU (default 0) with persistence off;
# redis-benchmark runs pinned to CLIENT_CPU (default 1). Reported per test and
# pipeline: throughput and server CPU time per request (utime+stime from
# /proc/PID/stat around the run, divided by the request count).
#
# GEOADD adds random points of a 1x1 degree square (13..14 E, 45..46 N) to one key
# (`-r KEYSPACE` random members); GEOSEARCH then runs on that key, from a fixed point
# in the square, BYRADIUS RADIUS_KM with COUNT 10 ASC (with the default 100000
# members, about 100 points lie within 2 km).
#
# Usage:  perf/geo.sh            full run, appends to perf/RESULTS.md
#         QUICK=1 perf/geo.sh    smoke run with small request counts
# Knobs (env): N_P1 (100000), N_P16 (1000000), CLIENTS (50), KEYSPACE (100000),
#   RADIUS_KM (2), RUNS (1; each side keeps its lowest CPU per op), SERVER_CPU (0), CLIENT_CPU (1),
#   TARGET_P16 (0.8), SHARDIS_BIN, RESULTS (perf/RESULTS.md; /dev/null to skip), NO_BUILD=1.
set -euo pipefail
shopt -s inherit_errexit

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=perf/lib.sh
source "$here/lib.sh"

KNOBS="QUICK N_P1 N_P16 CLIENTS KEYSPACE RADIUS_KM RUNS SERVER_CPU CLIENT_CPU TARGET_P16 SHARDIS_BIN NO_BUILD"
remember_knobs

QUICK=${QUICK:-0}
request_counts 100000 1000000
CLIENTS=${CLIENTS:-50}
KEYSPACE=${KEYSPACE:-100000}
RADIUS_KM=${RADIUS_KM:-2}
RUNS=${RUNS:-1}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
RESULTS=${RESULTS:-$here/RESULTS.md}
# Issue 12's target: CPU per op at P16 at most 0.8x Redis's.
TARGET_P16=${TARGET_P16:-0.8}

command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null \
    || die "redis-server and redis-benchmark are required (apt-get install redis-server redis-tools)"
command -v taskset >/dev/null || die "taskset (util-linux) is required"
need_cpus
shardis_bin

work=$(mktemp -d /tmp/shardis-geo.XXXXXX)
cleanup_on_exit
start_peer redis redis-server
start_shardis shardis

# The command of test $1 (redis-benchmark replaces each __rand_int__ with a random
# 12-digit number below KEYSPACE, so "13.__rand_int__" is a longitude in 13..14).
command_of() {
    case $1 in
        geoadd) echo "GEOADD geo 13.__rand_int__ 45.__rand_int__ m:__rand_int__" ;;
        geosearch) echo "GEOSEARCH geo FROMLONLAT 13.5 45.5 BYRADIUS $RADIUS_KM km COUNT 10 ASC" ;;
    esac
}

# One run of test $geo_test against server $1 at pipeline $geo_pipe: "ops_per_sec cpu_us_per_op".
geo_who() {
    local port pid
    local -a what
    port=${1}_port pid=${1}_pid
    read -ra what <<<"$(command_of "$geo_test")"
    bench_cpu "${!port}" "${!pid}" "$geo_n" "" -c "$CLIENTS" -P "$geo_pipe" -r "$KEYSPACE" "${what[@]}"
}

note_run_start
rows=()
for geo_pipe in 1 16; do
    if ((geo_pipe == 1)); then geo_n=$N_P1; else geo_n=$N_P16; fi
    for geo_test in geoadd geosearch; do
        log "${geo_test^^} P$geo_pipe"
        measure_cell geo_who "shardis redis"
        sr=${CELL_RPS[shardis]} su=${CELL_US[shardis]} rr=${CELL_RPS[redis]} ru=${CELL_US[redis]}
        if ((geo_pipe == 16)); then target="≤ $TARGET_P16"; else target="-"; fi
        read -r ratio verdict < <(awk -v s="$su" -v r="$ru" -v t="$TARGET_P16" -v p="$geo_pipe" 'BEGIN {
            if (r <= 0) { print "n/a ?"; exit }
            q = s / r; printf "%.2f %s\n", q, (p == 1 ? "" : (q <= t ? "met" : "MISSED")) }')
        rows+=("$(printf '| %s | %s | %.0f | %.0f | %.3f | %.3f | %s | %s %s |' \
            "${geo_test^^}" "$geo_pipe" "$sr" "$rr" "$su" "$ru" "$ratio" "$target" "${verdict:-}")")
    done
done
loadavg_after=$(cut -d' ' -f1-3 /proc/loadavg)
members=$(redis-cli -p "$shardis_port" zcard geo)

report=$(
    echo "## $started: geo (perf/geo.sh)"
    echo
    echo "- machine: $ncpu CPUs, $cpu_model, kernel $(uname -r)"
    echo "- load average (1/5/15 min) before: $loadavg_before; after: $loadavg_after"
    echo "- shardis $shardis_rev (\`--shards 1\`), $(redis-server --version | awk '{ print $1, $3 }')"
    echo "- servers on CPU $SERVER_CPU, redis-benchmark on CPU $CLIENT_CPU; \`-c $CLIENTS -r $KEYSPACE\`," \
        "\`-n $N_P1\` at P1, \`-n $N_P16\` at P16; best of $RUNS run(s) per side; the key held $members members at the end"
    echo "- command: \`$(command_line)\`"
    echo "- GEOADD: \`$(command_of geoadd)\`; GEOSEARCH: \`$(command_of geosearch)\`"
    echo
    echo "| test | pipeline | shardis ops/s | redis ops/s | shardis µs/op | redis µs/op | CPU ratio (shardis/redis, lower is better) | target |"
    echo "|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${rows[@]}"
    echo
)
publish_report
