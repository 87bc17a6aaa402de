#!/usr/bin/env bash
# perf/scaling-ab.sh: interleaved A/B of the hop's cost with perf/scaling-probe.sh.
# For each of ROUNDS rounds, for GET then SET, for each BIN in turn: 1 shard on CPU 0,
# 2 shards on CPUs 0,1, and 2 shards both on CPU 0 (SAMECPU=1, which keeps the load
# generator off the shards' cores and so isolates the hop). Prints one line per run
# (server CPU µs per op, ops/s, context switches, inbox batches and wake-ups per op);
# take the minimum per cell, and say the load average printed with each round.
#
# Usage: perf/scaling-ab.sh ROUNDS N BIN...
set -euo pipefail
[[ $# -ge 3 ]] || { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
rounds=$1 n=$2
shift 2
for ((r = 1; r <= rounds; r++)); do
    echo "# round $r, load $(cut -d' ' -f1-3 /proc/loadavg)"
    for t in get set; do
        for bin in "$@"; do
            "$here/scaling-probe.sh" "$bin" 1 "$t" "$n"
            "$here/scaling-probe.sh" "$bin" 2 "$t" "$n"
            SAMECPU=1 "$here/scaling-probe.sh" "$bin" 2 "$t" "$n"
        done
    done
done
