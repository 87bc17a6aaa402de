#!/usr/bin/env bash
# perf/repl-cpu.sh BIN NREP N: CPU time (utime+stime, /proc) of a 2-shard shardis master
# (and of its replication thread) and of its NREP shardis replicas for N
# `redis-benchmark -t set -P 16 -c 50 -d 16` requests, until the replicas applied all.
# BIN=redis runs redis-server for master and replicas instead. NREP may be 0. The last
# field, master µs per SET, is the throughput equivalent when the master is the
# bottleneck (2 shared cores cannot show throughput: every replica's CPU is the master's).
set -u
B=$1 nrep=$2 n=$3
w=$(mktemp -d /tmp/shardis-replcpu.XXXX)
free() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
if [[ $B == redis ]]; then run=(redis-server); else run=($B --shards 2); fi
start() { mkdir -p $w/$1; (cd $w/$1 && exec "${run[@]}" --port $1 --bind 127.0.0.1 --save "" --appendonly no --dir $w/$1 --repl-diskless-sync-delay 0 > log 2>&1) & echo $!; }
mp=$(free); mpid=$(start $mp); rp=(); rpid=()
for ((i=0;i<nrep;i++)); do p=$(free); rp+=($p); rpid+=($(start $p)); done
for p in $mp "${rp[@]}"; do until redis-cli -p $p ping 2>/dev/null | grep -q PONG; do sleep 0.1; done; done
for p in "${rp[@]}"; do redis-cli -p $p replicaof 127.0.0.1 $mp >/dev/null; done
for p in "${rp[@]}"; do until redis-cli -p $p info replication | grep -q master_link_status:up; do sleep 0.1; done; done
ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' /proc/$1/stat; }
tticks() { local s=0; for t in /proc/$1/task/*; do [[ $(cat $t/comm) == $2 ]] && s=$((s + $(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' $t/stat))); done; echo $s; }
m0=$(ticks $mpid); mr0=$(tticks $mpid repl-master); r0=0; for p in "${rpid[@]}"; do r0=$((r0 + $(ticks $p))); done
out=$(redis-benchmark -p $mp -t set -P 16 -c 50 -n $n -r 1000000 -d 16 --csv 2>/dev/null | awk -F'","' '/^"SET"/{print int($2)}')
# The master's offset is read again at every poll: INFO may show it a moment before
# the replication thread appended the last writes (and a PING may follow), so a
# replica compared with one early reading can pass it and never equal it.
offset() { redis-cli -p $1 info replication | tr -d '\r' | awk -F: '$1=="master_repl_offset"{print $2}'; }
for p in "${rp[@]}"; do
  t0=$SECONDS
  until [[ $(offset $p) == $(offset $mp) ]]; do
    if (( SECONDS - t0 > 60 )); then
      echo "replica $p did not reach the master's offset in 60 s" >&2
      redis-cli -p $mp info replication >&2; redis-cli -p $p info replication >&2; tail -20 $w/$p/log >&2; grep -iE "replica|lost|disconnect" $w/$mp/log | tail -20 >&2
      break
    fi
    sleep 0.05
  done
done
m1=$(ticks $mpid); mr1=$(tticks $mpid repl-master); r1=0; for p in "${rpid[@]}"; do r1=$((r1 + $(ticks $p))); done
hz=$(getconf CLK_TCK)
echo "bin=$B nrep=$nrep SET/s=$out master_cpu_ms=$(( (m1-m0)*1000/hz )) of_which_repl_thread_ms=$(( (mr1-mr0)*1000/hz )) replicas_cpu_ms=$(( (r1-r0)*1000/hz )) load=$(cut -d' ' -f1 /proc/loadavg) master_us_per_set=$(awk -v t=$((m1-m0)) -v hz=$hz -v n=$n 'BEGIN{printf "%.3f", t*1e6/hz/n}')"
kill $mpid "${rpid[@]}"; wait 2>/dev/null; rm -rf $w
