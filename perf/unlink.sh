#!/usr/bin/env bash
# perf/unlink.sh: p99 of other clients of a shard while it deletes a big set, DEL vs
# UNLINK (lazy freeing, `shard::lazyfree`). N members (default 10M). Prints a table.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ -n ${NO_BUILD:-} ]] || cargo build --release --bin shardis-server >&2
exec python3 perf/unlink.py
