#!/usr/bin/env bash
# perf/xshard-allocs.sh BIN: allocations per MSET (uprobes on mimalloc's entry points, `perf stat`), perf/xshard.py's msetsym -P 16 load, same-shard then cross-shard.
# Counts, not time: a steady load's allocations per MSET barely depend on the machine's load. Knobs: N (50000), R (100000), WARM (200000). Needs root (perf probe); deletes its probes at the end.
# R=1000 keeps every key present after the warm-up, so no count is a key's first insert (the counts are then per-command work only).
# RECORD=DIR: also `perf record --call-graph dwarf` on the probes per case (DIR/allocs.same.data, DIR/allocs.cross.data) for their callers:
#   perf report -i DIR/allocs.cross.data --no-children --stdio -G
set -euo pipefail
BIN=$1; N=${N:-50000}; R=${R:-100000}; WARM=${WARM:-200000}
NAME=$(basename $BIN | tr -c 'a-zA-Z0-9\n' '_')
EV=()
for f in mi_malloc_aligned mi_zalloc_aligned mi_realloc_aligned mi_free; do
  perf probe -q -x $BIN -a "probe_$NAME:${NAME}_$f=$f" 2>/dev/null || true
  EV+=(-e "probe_$NAME:${NAME}_$f")
done
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
D=$(mktemp -d)
$BIN --port $PORT --shards 2 --cpus 0-1 --save "" --appendonly no --dir $D >/dev/null 2>&1 &
SP=$!
for i in $(seq 1 100); do redis-cli -p $PORT ping >/dev/null 2>&1 && break; sleep 0.1; done
mk() { local a=() i=0; for t in "$@"; do a+=("$t""k$i:__rand_int__" "v$i"); i=$((i+1)); done; echo "${a[@]}"; }
T0='{t0}'; T1='{t1}'
SAME0=$(mk $T0 $T0 $T0 $T0 $T0 $T0 $T0 $T0 $T0 $T0); SAME1=$(mk $T1 $T1 $T1 $T1 $T1 $T1 $T1 $T1 $T1 $T1)
X0=$(mk $T0 $T1 $T0 $T1 $T0 $T1 $T0 $T1 $T0 $T1); X1=$(mk $T1 $T0 $T1 $T0 $T1 $T0 $T1 $T0 $T1 $T0)
load() { n=$1; shift
  taskset -c 1 redis-benchmark -p $PORT -n $((n/2)) -r $R -q -P 16 -c 8 MSET $1 >/dev/null & a=$!
  taskset -c 1 redis-benchmark -p $PORT -n $((n/2)) -r $R -q -P 16 -c 8 MSET $2 >/dev/null & b=$!
  wait $a $b; }
load $WARM "$X0" "$X1"
for c in same cross; do
  if [ $c = same ]; then A="$SAME0"; B="$SAME1"; else A="$X0"; B="$X1"; fi
  perf stat -x, "${EV[@]}" -p $SP -o $D/allocs.$c.txt & PS=$!
  if [ -n "${RECORD:-}" ]; then mkdir -p $RECORD; perf record -q --call-graph dwarf,16384 "${EV[@]}" -p $SP -o $RECORD/allocs.$c.data 2>/dev/null & PR=$!; fi
  sleep 0.3
  load $N "$A" "$B"
  kill -INT $PS; wait $PS || true
  if [ -n "${RECORD:-}" ]; then kill -INT $PR; wait $PR || true; fi
  echo "$c: $(grep probe $D/allocs.$c.txt | awk -F, -v n=$N '{printf "%s %.2f  ", $3, $1/n}')"
done
kill $SP; wait $SP 2>/dev/null || true; rm -rf $D
perf probe -q -d "probe_$NAME:*" || true
