#!/usr/bin/env bash
# perf/repl-sync-probe.sh KIND BIN KEYS [PROFILE]: one full sync of KEYS 16-byte string keys,
# KIND=redis (BIN ignored) or shardis (BIN = shardis-server, 2 shards); prints the time from
# REPLICAOF until the replica is up with the master's offset, and the replica's peak RSS. PROFILE=1 also records
# `perf record -g` of the replica and of the whole system (data kept in the printed dir).
# Interleave kinds yourself and take the minimum (see perf/RESULTS.md, repl2 section).
# REPLICA_FLAGS: extra flags for the replica only (e.g. "--repl-diskless-load swapdb").
set -u
kind=$1 bin=$2 keys=$3 prof=${4:-0}
w=$(mktemp -d /tmp/shardis-syncprobe.XXXX)
free() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
mp=$(free); rp=$(free); while [[ $rp == $mp ]]; do rp=$(free); done
start() { # port dir [extra flags]
  local port=$1 dir=$2; shift 2
  mkdir -p $dir
  if [[ $kind == redis ]]; then
    redis-server --port $port --bind 127.0.0.1 --save "" --appendonly no --dir $dir --logfile $dir/log --repl-diskless-sync-delay 0 "$@" >/dev/null 2>&1 &
  else
    (cd $dir && exec $bin --port $port --bind 127.0.0.1 --shards 2 --save "" --appendonly no --dir $dir --repl-diskless-sync-delay 0 "$@") > $dir/log 2>&1 &
  fi
  echo $!
}
mpid=$(start $mp $w/m); rpid=$(start $rp $w/r ${REPLICA_FLAGS:-})
for i in $(seq 100); do redis-cli -p $mp ping >/dev/null 2>&1 && redis-cli -p $rp ping >/dev/null 2>&1 && break; sleep 0.1; done
awk -v n="$keys" 'BEGIN { v = sprintf("%016d", 0); for (i = 0; i < n; i++) { k = "key:" i; printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$16\r\n%s\r\n", length(k), k, v } }' | redis-cli -p $mp --pipe > /dev/null
if [[ $prof == 1 ]]; then
  perf record -F 499 -g -o $w/perf.r.data -p $rpid 2>/dev/null & pr=$!
  perf record -F 499 -g -a -o $w/perf.all.data 2>/dev/null & pa=$!
  sleep 0.5
fi
t0=$(date +%s%3N)
redis-cli -p $rp replicaof 127.0.0.1 $mp >/dev/null
while :; do
  s=$(redis-cli -p $rp info replication | tr -d '\r')
  if grep -q master_link_status:up <<<"$s"; then
    mo=$(redis-cli -p $mp info replication | tr -d '\r' | awk -F: '$1=="master_repl_offset"{print $2}')
    ro=$(awk -F: '$1=="master_repl_offset"{print $2}' <<<"$s")
    [[ $mo == $ro ]] && break
  fi
  sleep 0.02
done
t1=$(date +%s%3N)
hwm=$(awk '$1=="VmHWM:"{print $2}' /proc/$rpid/status)
echo "$kind $keys keys: $((t1 - t0)) ms, replica peak RSS $((hwm / 1024)) MiB (load $(cut -d' ' -f1 /proc/loadavg))"
if [[ $prof == 1 ]]; then kill -INT $pr $pa; wait $pr $pa 2>/dev/null; echo "perf data in $w"; fi
grep -E "sync|RDB|Loading|loading|Finished|Done" $w/r/log | tail -12
kill $mpid $rpid; wait 2>/dev/null
[[ $prof == 1 ]] || rm -rf $w
