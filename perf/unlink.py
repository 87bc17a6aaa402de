#!/usr/bin/env python3
"""p99 of other clients while a big set is deleted: DEL vs UNLINK (perf/unlink.sh).

Starts one shardis-server (1 shard, so the probe shares the deleting shard), builds
two identical sets of N members (40-byte members, one allocation each), then for DEL
and for UNLINK: a probe client sends GETs back to back from 0.3 s before the delete
until the freeing is over (lazyfree_pending_objects 0, +0.3 s), and we report the
delete's own reply time and the probe's p50/p99/max."""
import os, socket, subprocess, sys, threading, time

BIN = os.environ.get("SHARDIS_BIN", "target/release/shardis-server")
N = int(os.environ.get("N", "10000000"))
PORT = int(os.environ.get("PORT", "7419"))


def enc(*a):
    out = b"*%d\r\n" % len(a)
    for x in a:
        out += b"$%d\r\n%s\r\n" % (len(x), x)
    return out


class Conn:
    def __init__(self):
        self.s = socket.create_connection(("127.0.0.1", PORT))
        self.f = self.s.makefile("rb")

    def cmd(self, *a):
        self.s.sendall(enc(*a))
        return self.read()

    def read(self):
        line = self.f.readline()
        if line[:1] == b"$":
            n = int(line[1:])
            return None if n < 0 else self.f.read(n + 2)[:-2]
        return line.strip()


def build(c, key):
    for start in range(0, N, 10000):
        batch = b"".join(
            enc(b"SADD", key, *[b"member-%033d" % i for i in range(s, min(s + 1000, N))])
            for s in range(start, min(start + 10000, N), 1000))
        c.s.sendall(batch)
        for _ in range(0, min(10000, N - start), 1000):
            c.read()


def run(c, verb, key):
    lat, stop = [], threading.Event()

    def probe():
        p = Conn()
        while not stop.is_set():
            t = time.perf_counter()
            p.cmd(b"GET", b"probe")
            lat.append(time.perf_counter() - t)

    th = threading.Thread(target=probe)
    th.start()
    time.sleep(0.3)
    t = time.perf_counter()
    c.cmd(verb, key)
    took = time.perf_counter() - t
    while b"lazyfree_pending_objects:0" not in c.cmd(b"INFO", b"memory"):
        time.sleep(0.01)
    time.sleep(0.3)
    stop.set()
    th.join()
    lat.sort()
    q = lambda f: lat[min(len(lat) - 1, int(len(lat) * f))] * 1e3
    print(f"| {verb.decode()} | {N} | {took*1e3:.1f} | {len(lat)} | {q(0.5):.3f} | {q(0.99):.3f} | {lat[-1]*1e3:.1f} |")


srv = subprocess.Popen([BIN, "--port", str(PORT), "--shards", "1", "--save", ""], stdout=subprocess.DEVNULL)
try:
    for _ in range(100):
        try:
            c = Conn()
            break
        except OSError:
            time.sleep(0.05)
    build(c, b"a")
    build(c, b"b")
    print("| delete | members | reply ms | probe GETs | probe p50 ms | probe p99 ms | probe max ms |")
    print("|---|---|---|---|---|---|---|")
    run(c, b"DEL", b"a")
    run(c, b"UNLINK", b"b")
finally:
    srv.kill()
