#!/usr/bin/python3
"""perf/repl-chain-lag.py MID_BIN [SHARDS] [N]: how long a write takes to reach a
chained sub-replica. A 1-shard shardis master (the same binary), MID_BIN as its replica
(SHARDS shards) and MID_BIN as that replica's own replica; N writes, one at a time, each
followed by polling the sub-replica until it has the value (no load otherwise, so the
replication threads park between writes). Prints the median, p90 and max in ms.
Servers on CPU 0, this client on CPU 1."""
import os, shutil, subprocess, sys, tempfile, time

import redis
from perflib import free_port

BIN = sys.argv[1]
SHARDS = sys.argv[2] if len(sys.argv) > 2 else "2"
N = int(sys.argv[3]) if len(sys.argv) > 3 else 200
os.sched_setaffinity(0, {1})


work = tempfile.mkdtemp(prefix="shardis-chainlag.")
procs = []


def start(shards, *extra):
    port = free_port()
    d = os.path.join(work, str(port))
    os.makedirs(d)
    args = ["taskset", "-c", "0", BIN, "--shards", shards, "--port", str(port), "--bind", "127.0.0.1",
            "--dir", d, "--save", "", "--repl-diskless-sync-delay", "0", *extra]
    procs.append(subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    c = redis.Redis(port=port)
    for _ in range(200):
        try:
            c.ping()
            return port, c
        except redis.ConnectionError:
            time.sleep(0.05)
    raise SystemExit(f"{BIN} on {port} did not start")


def linked(c):
    return c.info("replication").get("master_link_status") == "up"


try:
    mp, m = start("1")
    ap, a = start(SHARDS, "--replicaof", "127.0.0.1", str(mp))
    bp, b = start(SHARDS, "--replicaof", "127.0.0.1", str(ap))
    deadline = time.time() + 60
    while not (linked(a) and linked(b)):
        if time.time() > deadline:
            raise SystemExit("the chain did not link up")
        time.sleep(0.05)
    lags = []
    for i in range(N):
        v = str(i)
        t0 = time.perf_counter()
        m.set("chainlag", v)
        while b.get("chainlag") != v.encode():
            pass
        lags.append((time.perf_counter() - t0) * 1000)
        time.sleep(0.005)
    lags.sort()
    load = open("/proc/loadavg").read().split()[0]
    print(f"bin={BIN} shards={SHARDS} n={N} median_ms={lags[len(lags) // 2]:.2f} "
          f"p90_ms={lags[len(lags) * 9 // 10]:.2f} max_ms={lags[-1]:.2f} load={load}")
finally:
    for p in procs:
        p.kill()
        p.wait()
    shutil.rmtree(work, ignore_errors=True)
