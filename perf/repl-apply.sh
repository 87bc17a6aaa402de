#!/usr/bin/env bash
# perf/repl-apply.sh REPLICA_BIN SHARDS N: how fast a replica applies its master's
# stream. A 1-shard shardis master ($MASTER_BIN, default REPLICA_BIN) gets N
# `redis-benchmark -t set -P 16 -r 100000` requests while its replica is stopped
# (SIGSTOP: the stream waits in the master's output buffer and the sockets); then the
# replica goes on (SIGCONT) and the script times it until its offset reaches the
# master's, and reads the replica's CPU time (utime+stime, /proc) meanwhile. So the
# numbers are the replica's alone: the master only sends while it catches up.
# REPLICA_BIN=redis runs redis-server as the replica (SHARDS is ignored);
# $REPLICA_ARGS go to a shardis replica (e.g. "--replica-apply-order strict"). Servers
# on CPU 0, redis-benchmark on CPU 1, as the other perf scripts.
# KEYS=tag: every key holds one hash tag, so all live on one shard of the replica (its
# batches are one-shard ones, `repl::batch`). DBS=2: two redis-benchmark processes
# (N/2 requests each) write db 0 and db 1 at once, so the stream alternates SELECTs.
# LIVE=1: the replica is not stopped; its CPU is counted from before the benchmark
# until it caught up (the stream arrives as the master takes it, in small batches),
# and apply_s is then the whole run's. P and C: redis-benchmark's -P and -c (16, 50).
set -u
B=$1 shards=$2 n=$3
M=${MASTER_BIN:-$B}
[[ $M == redis ]] && M=/tmp/shardis-main-s13
w=$(mktemp -d /tmp/shardis-replapply.XXXX)
free() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
common=(--bind 127.0.0.1 --save "" --appendonly no --repl-diskless-sync-delay 0 --repl-backlog-size 512mb
  --client-output-buffer-limit "replica 0 0 0")
mp=$(free) rp=$(free)
mkdir -p $w/m $w/r
(cd $w/m && exec taskset -c 0 $M --shards 1 --port $mp --dir $w/m "${common[@]}" > log 2>&1) & mpid=$!
if [[ $B == redis ]]; then
  (cd $w/r && exec taskset -c 0 redis-server --port $rp --dir $w/r "${common[@]}" > log 2>&1) & rpid=$!
else
  (cd $w/r && exec taskset -c 0 $B --shards $shards --port $rp --dir $w/r "${common[@]}" ${REPLICA_ARGS:-} > log 2>&1) & rpid=$!
fi
for p in $mp $rp; do until redis-cli -p $p ping 2>/dev/null | grep -q PONG; do sleep 0.1; done; done
redis-cli -p $rp replicaof 127.0.0.1 $mp >/dev/null
until redis-cli -p $rp info replication | grep -q master_link_status:up; do sleep 0.1; done
offset() { redis-cli -p $1 info replication | tr -d '\r' | awk -F: '$1=="master_repl_offset"{print $2}'; }
ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' /proc/$1/stat; }
if [[ ${LIVE:-0} == 1 ]]; then c0=$(ticks $rpid) t0=$(date +%s.%N); else kill -STOP $rpid; fi
bench() {
  if [[ ${KEYS:-} == tag ]]; then
    taskset -c 1 redis-benchmark -p $mp -P ${P:-16} -c ${C:-50} -n $1 -r 100000 -q --dbnum $2 set '{t}key:__rand_int__' 0123456789abcdef
  else
    taskset -c 1 redis-benchmark -p $mp -t set -P ${P:-16} -c ${C:-50} -n $1 -r 100000 -d 16 -q --dbnum $2
  fi > /dev/null 2>&1
}
if [[ ${DBS:-1} == 2 ]]; then
  bench $((n / 2)) 0 & bp=$!
  bench $((n / 2)) 1
  wait $bp
else
  bench $n 0
fi
target=$(offset $mp)
if [[ ${LIVE:-0} != 1 ]]; then c0=$(ticks $rpid) t0=$(date +%s.%N); kill -CONT $rpid; fi
status=ok
until [[ $(offset $rp) -ge $target ]]; do
  if (( $(date +%s) - ${t0%.*} > 300 )); then status=timeout; break; fi
  sleep 0.02
done
t1=$(date +%s.%N)
c1=$(ticks $rpid)
hz=$(getconf CLK_TCK)
awk -v b="$B${REPLICA_ARGS:+ $REPLICA_ARGS}" -v s="$shards" -v k="${KEYS:-random}" -v d="${DBS:-1}${LIVE:+,live}${P:+,P$P}${C:+,c$C}" -v n=$n -v t0=$t0 -v t1=$t1 -v c=$((c1 - c0)) -v hz=$hz -v st=$status \
  -v load="$(cut -d' ' -f1 /proc/loadavg)" 'BEGIN {
  t = t1 - t0; printf "replica=%s shards=%s keys=%s dbs=%s n=%d status=%s apply_s=%.2f applied_per_s=%.0f cpu_ms=%.0f cpu_us_per_cmd=%.2f load=%s\n",
    b, s, k, d, n, st, t, n / t, c * 1000 / hz, c * 1e6 / hz / n, load }'
kill $mpid $rpid 2>/dev/null; wait 2>/dev/null; rm -rf $w
