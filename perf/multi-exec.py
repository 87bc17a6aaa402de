#!/usr/bin/env python3
"""EXEC of a MULTI of K single-key commands on random keys (perf/multi-exec.py).

For each binary in BINS (space-separated, interleaved run by run), starts
shardis-server with SHARDS shards on SERVER_CPUS and measures, from Python clients
on CLIENT_CPUS:
- throughput: CONNS connections each keep DEPTH transactions (MULTI, K commands on
  random keys out of 100k, EXEC) pipelined for SECS seconds; the server's CPU
  (utime + stime of all its threads, /proc) per EXEC;
- latency: one connection, one transaction at a time, LAT_N times; median and p99
  of the round trip (the Python client's own time is in it, alike for every binary).
Each case runs RUNS times; per binary the minimum CPU per EXEC and the minimum of the
medians are reported. CMD is `set` or `get` (GETs read keys the SETs wrote first).

Knobs: BINS, SHARDS (2), K (10), CMD ("set get"), CONNS (4), DEPTH (16), SECS (3),
LAT_N (2000), RUNS (3), SERVER_CPUS ("0"), CLIENT_CPUS ("1").
"""
import os, random, socket, subprocess, sys, tempfile, threading, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from perflib import free_port

BINS = os.environ.get("BINS", "target/release/shardis-server").split()
SHARDS = int(os.environ.get("SHARDS", "2"))
K = int(os.environ.get("K", "10"))
CMDS = os.environ.get("CMD", "set get").split()
CONNS = int(os.environ.get("CONNS", "4"))
DEPTH = int(os.environ.get("DEPTH", "16"))
SECS = float(os.environ.get("SECS", "3"))
LAT_N = int(os.environ.get("LAT_N", "2000"))
RUNS = int(os.environ.get("RUNS", "3"))
SERVER_CPUS = os.environ.get("SERVER_CPUS", "0")
CLIENT_CPUS = os.environ.get("CLIENT_CPUS", "1")
TICK = os.sysconf("SC_CLK_TCK")


def resp(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def transaction(cmd, rng):
    parts = [resp("MULTI")]
    for _ in range(K):
        key = "key:%d" % rng.randrange(100000)
        parts.append(resp("SET", key, "v" * 16) if cmd == "set" else resp("GET", key))
    parts.append(resp("EXEC"))
    return b"".join(parts)


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def read_execs(self, n):
        """Reads until `n` EXEC replies (arrays at top level) have arrived."""
        seen = 0
        while True:
            # Count top-level '*' lines: each transaction answers +OK, K x +QUEUED,
            # then one array; nothing else at the top level starts with '*'.
            i = 0
            while True:
                j = self.buf.find(b"\r\n", i)
                if j < 0:
                    break
                line = self.buf[i:j]
                if line[:1] == b"*":
                    # Skip the array's items (simple or bulk, never nested here).
                    items = int(line[1:])
                    k, ok = j + 2, True
                    for _ in range(max(items, 0)):
                        e = self.buf.find(b"\r\n", k)
                        if e < 0:
                            ok = False
                            break
                        if self.buf[k:k + 1] == b"$" and int(self.buf[k + 1:e]) >= 0:
                            e = e + 2 + int(self.buf[k + 1:e])
                            if len(self.buf) < e + 2:
                                ok = False
                                break
                        k = e + 2
                    if not ok:
                        break
                    seen += 1
                    i = k
                    if seen == n:
                        self.buf = self.buf[i:]
                        return
                    continue
                i = j + 2
            self.buf = self.buf[i:]
            data = self.s.recv(1 << 20)
            if not data:
                raise RuntimeError("connection closed")
            self.buf += data


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def start(binary):
    port = free_port()
    d = tempfile.mkdtemp(prefix="shardis-multiexec.")
    p = subprocess.Popen(["taskset", "-c", SERVER_CPUS, binary, "--shards", str(SHARDS), "--port", str(port),
                          "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", d],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port)).close()
            break
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.05)
    return p, port, d


def throughput(port, pid, cmd):
    stop = time.time() + SECS
    counts = [0] * CONNS

    def worker(i):
        rng = random.Random(i)
        c = Conn(port)
        batch = b"".join(transaction(cmd, rng) for _ in range(DEPTH))
        while time.time() < stop:
            c.s.sendall(batch)
            c.read_execs(DEPTH)
            counts[i] += DEPTH

    c0 = cpu_ticks(pid)
    ts = [threading.Thread(target=worker, args=(i,)) for i in range(CONNS)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    c1 = cpu_ticks(pid)
    n = sum(counts)
    return (c1 - c0) * 1e6 / TICK / n, n / SECS


def latency(port, cmd):
    rng = random.Random(99)
    c = Conn(port)
    lat = []
    for _ in range(LAT_N):
        t = transaction(cmd, rng)
        t0 = time.perf_counter()
        c.s.sendall(t)
        c.read_execs(1)
        lat.append((time.perf_counter() - t0) * 1e6)
    lat.sort()
    return lat[len(lat) // 2], lat[len(lat) * 99 // 100]


def main():
    os.sched_setaffinity(0, {int(x) for x in CLIENT_CPUS.split(",")})
    res = {}
    for r in range(RUNS):
        for b in BINS:
            p, port, d = start(b)
            try:
                # Fill the keys first so GETs read values.
                fill = Conn(port)
                for i in range(0, 100000, 1000):
                    fill.s.sendall(resp("MSET", *sum((["key:%d" % j, "v" * 16] for j in range(i, i + 1000)), [])))
                    fill.buf = b""
                    while not fill.buf.endswith(b"\r\n"):
                        fill.buf += fill.s.recv(1 << 16)
                for cmd in CMDS:
                    cpu, rate = throughput(port, p.pid, cmd)
                    med, p99 = latency(port, cmd)
                    load = open("/proc/loadavg").read().split()[0]
                    print(f"run={r} bin={b} cmd={cmd} K={K} shards={SHARDS} cpu_us_per_exec={cpu:.1f} "
                          f"exec_per_s={rate:.0f} lat_med_us={med:.0f} lat_p99_us={p99:.0f} load={load}", flush=True)
                    res.setdefault((b, cmd), []).append((cpu, med, p99))
            finally:
                p.kill()
                p.wait()
                subprocess.run(["rm", "-rf", d])
    for (b, cmd), v in sorted(res.items(), key=lambda x: (x[0][1], x[0][0])):
        print(f"min {cmd} {b}: cpu_us_per_exec={min(x[0] for x in v):.1f} lat_med_us={min(x[1] for x in v):.0f} "
              f"lat_p99_us={min(x[2] for x in v):.0f}")


if __name__ == "__main__":
    main()
