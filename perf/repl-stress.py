#!/usr/bin/python3
"""Replication stress harness (issue 10): master -> replica -> sub-replica under the
shared mixed write load of tests/common/repl.rs (`Load`), many rounds, each ending
with `DEBUG DIGEST` and a full logical dump compared on every node.

Not a test: it runs until told to stop and keeps the evidence of the first
divergence. Each round picks a configuration (master 1 or 2 shards, replica 2-4,
sub-replica 1-4, load connections, expiry rate, link pauses) from the round's seed,
so a failing round can be rerun with --seed. Links go through pausable proxies:
while a pause holds the master's bytes, TTLs pass on the replica's clock before the
commands that read them arrive, and hops of the link pile up.

usage: perf/repl-stress.py BIN [--rounds N] [--minutes M] [--seed S] [--keep DIR]
                             [--mshards 1,2] [--rshards 4] [--sshards 2]
                             [--expiry low|high|mix] [--pauses on|off|mix] [--cuts on|off|mix]
                             [--redis-sub] [--ops N]
Prints one line per round; on a divergence the node logs, INFOs and the first
differing keys are written under --keep (default /tmp/repl-stress-fail) and it exits 1.
"""
import argparse
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

import redis
from perflib import free_port


class Node:
    """A shardis (shards > 0) or redis-server (shards == 0) process in a temp dir."""

    def __init__(self, binary, shards, extra=()):
        self.dir = tempfile.mkdtemp(prefix="repl-stress-")
        self.shards = shards
        self.port = free_port()
        if shards:
            cmd = [binary, "--shards", str(shards)]
        else:
            cmd = ["redis-server", "--appendonly", "no", "--dbfilename", "dump.rdb"]
        cmd += ["--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
                "--save", "", "--enable-debug-command", "yes", *extra]
        self.log = open(os.path.join(self.dir, "log"), "w")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while True:
            try:
                self.c = redis.Redis(port=self.port, socket_timeout=30)
                self.c.ping()
                break
            except redis.exceptions.BusyLoadingError:
                break
            except Exception:
                if time.time() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("node did not start: %s" % cmd)
                time.sleep(0.02)

    def info(self, section):
        return self.c.info(section)

    def stop(self, keep_to=None):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.log.close()
        if keep_to:
            shutil.copy(os.path.join(self.dir, "log"), keep_to)
        shutil.rmtree(self.dir, ignore_errors=True)


class Proxy:
    """A TCP proxy whose master-to-replica direction can be held (paused)."""

    def __init__(self, target):
        self.target = target
        self.held = threading.Event()
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen()
        self.port = self.ls.getsockname()[1]
        self.socks = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.ls.accept()
                u = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                return
            self.socks += [c, u]
            threading.Thread(target=self._pump, args=(c, u, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(u, c, True), daemon=True).start()

    def _pump(self, a, b, downstream):
        while True:
            try:
                d = a.recv(65536)
            except OSError:
                break
            if not d:
                break
            while downstream and self.held.is_set():
                time.sleep(0.002)
            try:
                b.sendall(d)
            except OSError:
                break
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        """Closes every connection through the proxy (the replica reconnects)."""
        socks, self.socks = self.socks, []
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self.held.clear()
        try:
            self.ls.close()
        except OSError:
            pass
        for s in self.socks:
            try:
                s.close()
            except OSError:
                pass


def add_random_op(p, rng, n, ttl_scale, flush_at):
    """One op of tests/common/repl.rs::add_random_op (same mix, same key space);
    `ttl_scale` multiplies the short expiries (lower = more keys expire mid-load)."""
    k = rng.randrange(300)
    v = "v%d-%d" % (n, rng.randrange(1_000_000))
    if n in flush_at:
        p.execute_command("FLUSHALL")
        return
    r = rng.randrange(22)
    short = lambda base, spread: max(1, int((base + rng.randrange(spread)) * ttl_scale))
    if r == 0:
        p.execute_command("SELECT", rng.randrange(4))
    elif r == 1:
        p.execute_command("SET", "s:%d" % k, v, "EX", 1000 + rng.randrange(1000))
    elif r == 2:
        p.execute_command("SET", "t:%d" % k, v, "PX", short(50, 1500))
    elif r == 3:
        p.execute_command("MSET", "m:%d" % k, v, "m:%d" % rng.randrange(300), v, "m:%d" % rng.randrange(300), v)
    elif r == 4:
        p.execute_command("MULTI")
        p.execute_command("INCR", "c:%d" % k)
        p.execute_command("HSET", "h:%d" % rng.randrange(300), "f", v)
        p.execute_command("LPUSH", "l:%d" % rng.randrange(300), v)
        p.execute_command("SET", "s:%d" % rng.randrange(300), v)
        p.execute_command("EXEC")
    elif r == 5:
        p.execute_command("INCR", "c:%d" % k)
    elif r == 6:
        p.execute_command("INCRBYFLOAT", "f:%d" % k, "1.5")
    elif r == 7:
        p.execute_command("HSET", "h:%d" % k, "f%d" % rng.randrange(20), v)
    elif r == 8:
        p.execute_command("LPUSH", "l:%d" % k, v)
        p.execute_command("LTRIM", "l:%d" % k, 0, 30)
    elif r == 9:
        p.execute_command("SADD", "S:%d" % k, rng.randrange(50))
    elif r == 10:
        p.execute_command("ZADD", "z:%d" % k, rng.randrange(1000) / 7.0, "m%d" % rng.randrange(40))
    elif r == 11:
        p.execute_command("SPOP", "S:%d" % k)
    elif r == 12:
        p.execute_command("PEXPIRE", "h:%d" % k, short(100, 1500))
    elif r == 13:
        p.execute_command("EXPIRE", "l:%d" % k, 5000)
    elif r == 14:
        p.execute_command("DEL", "s:%d" % k, "m:%d" % rng.randrange(300))
    elif r == 15 and rng.randrange(20) == 0:
        p.execute_command("SWAPDB", rng.randrange(4), rng.randrange(4))
    elif r == 16:
        p.execute_command("HINCRBY", "h:%d" % k, "n", 3)
    elif r == 17:
        p.execute_command("ZINCRBY", "z:%d" % k, 2, "m%d" % rng.randrange(40))
    elif r == 18:
        p.execute_command("SETEX", "x:%d" % k, 1 + rng.randrange(2), v)
    elif r == 19:
        p.execute_command("GETDEL", "s:%d" % k)
    elif r == 20:
        p.execute_command("APPEND", "a:%d" % k, "xy")
    else:
        p.execute_command("SET", "s:%d" % k, v)


def load(port, seed, ops, ttl_scale, flush_at, errors):
    rng = random.Random(seed)
    c = redis.Redis(port=port, socket_timeout=60)
    n = 0
    try:
        while n < ops:
            p = c.pipeline(transaction=False)
            for _ in range(16):
                add_random_op(p, rng, n, ttl_scale, flush_at)
                n += 1
            for r in p.execute(raise_on_error=False):
                if isinstance(r, Exception):
                    errors.append("op ~%d: %r" % (n, r))
                    return
    except Exception as e:  # noqa: BLE001 (reported by the round)
        errors.append("load connection: %r" % e)


def logical_dump(node):
    c = node.c
    out = {}
    for db in range(16):
        c.execute_command("SELECT", db)
        keys = set()
        cursor = 0
        while True:
            cursor, batch = c.execute_command("SCAN", cursor, "COUNT", 1000)
            keys.update(batch)
            if int(cursor) == 0:
                break
        for key in sorted(keys):
            p = c.pipeline(transaction=False)
            p.execute_command("TYPE", key)
            p.execute_command("PEXPIRETIME", key)
            ty, at = p.execute()
            ty = ty.decode() if isinstance(ty, bytes) else ty
            if ty == "none":
                continue
            if ty == "string":
                val = c.execute_command("GET", key)
            elif ty == "list":
                val = c.execute_command("LRANGE", key, 0, -1)
            elif ty == "set":
                val = sorted(c.execute_command("SMEMBERS", key))
            elif ty == "hash":
                h = c.execute_command("HGETALL", key)
                val = sorted(zip(h[0::2], h[1::2])) if isinstance(h, list) else sorted(h.items())
            elif ty == "zset":
                val = c.execute_command("ZRANGE", key, 0, -1, "WITHSCORES")
            else:
                val = "<%s>" % ty
            out[(db, key)] = "%s at=%s %r" % (ty, at, val)
    c.execute_command("SELECT", 0)
    return out


def in_sync(m, r):
    mi, ri = m.info("replication"), r.info("replication")
    return ri.get("master_link_status") == "up" and mi["master_repl_offset"] == ri.get("slave_repl_offset")


def wait(cond, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def digest(n):
    return n.c.execute_command("DEBUG", "DIGEST")


def round_config(seed, a):
    rng = random.Random(seed * 7919 + 1)
    pick = lambda opts: rng.choice(opts)
    expiry = a.expiry if a.expiry != "mix" else pick(["low", "high"])
    pauses = a.pauses if a.pauses != "mix" else pick(["on", "off"])
    return {
        "mshards": pick(a.mshards),
        "rshards": pick(a.rshards),
        "sshards": 0 if a.redis_sub else pick(a.sshards),
        "conns": pick([1, 2, 3]),
        "ttl_scale": 1.0 if expiry == "low" else 0.1,
        "pauses": pauses == "on",
        "attach_mid_load": rng.random() < 0.5,
        "cuts": (a.cuts if a.cuts != "mix" else pick(["on", "off"])) == "on",
    }


def run_round(a, seed):
    cfg = round_config(seed, a)
    nodes, proxies, threads, errors = [], [], [], []
    pausing = threading.Event()
    try:
        for shards in (cfg["mshards"], cfg["rshards"], cfg["sshards"]):
            nodes.append(Node(a.bin, shards))
        m, r, s = nodes
        pm, pr = Proxy(m.port), Proxy(r.port)
        proxies = [pm, pr]
        flush_at = {a.ops // 3, (2 * a.ops) // 3}
        if not cfg["attach_mid_load"]:
            r.c.replicaof("127.0.0.1", pm.port)
            s.c.replicaof("127.0.0.1", pr.port)
        for i in range(cfg["conns"]):
            t = threading.Thread(target=load, args=(m.port, seed * 100 + i, a.ops, cfg["ttl_scale"], flush_at, errors))
            t.start()
            threads.append(t)
        if cfg["attach_mid_load"]:
            time.sleep(0.3)
            r.c.replicaof("127.0.0.1", pm.port)
            s.c.replicaof("127.0.0.1", pr.port)
        if cfg["pauses"] or cfg["cuts"]:
            prng = random.Random(seed)

            def pauser():
                while pausing.is_set():
                    px = prng.choice(proxies)
                    if cfg["pauses"] and (not cfg["cuts"] or prng.random() < 0.6):
                        px.held.set()
                        time.sleep(prng.uniform(0.05, 1.2))
                        px.held.clear()
                    else:
                        # A killed link: the replica reconnects and resyncs (partially).
                        px.cut()
                    time.sleep(prng.uniform(0.05, 0.8))

            pausing.set()
            pt = threading.Thread(target=pauser, daemon=True)
            pt.start()
        for t in threads:
            t.join()
        pausing.clear()
        for px in proxies:
            px.held.clear()
        if errors:
            return cfg, "load error: %s" % errors[0], nodes
        if not wait(lambda: in_sync(m, r), 120):
            return cfg, "replica never reached the master's offset: m=%r r=%r" % (
                m.info("replication"), r.info("replication")), nodes
        if not wait(lambda: in_sync(r, s), 120):
            return cfg, "sub-replica never reached the replica's offset: r=%r s=%r" % (
                r.info("replication"), s.info("replication")), nodes
        # Keys still expiring: the master's DELs keep coming; converge within 20 s.
        ok = wait(lambda: digest(m) == digest(r) == digest(s) and in_sync(m, r) and in_sync(r, s), 20)
        if ok:
            dm = logical_dump(m)
            if dm == logical_dump(r) == logical_dump(s):
                return cfg, None, nodes
        dm, dr, ds = logical_dump(m), logical_dump(r), logical_dump(s)
        diff = []
        for name, d in (("replica", dr), ("sub", ds)):
            for k in sorted(set(dm) | set(d)):
                if dm.get(k) != d.get(k):
                    diff.append("%s %r: master=%r here=%r" % (name, k, dm.get(k), d.get(k)))
        return cfg, "diverged: digests %r\n%s" % ([digest(n) for n in nodes], "\n".join(diff[:40])), nodes
    except Exception as e:  # noqa: BLE001 (a crashed node or a refused command: evidence)
        return cfg, "exception: %r" % e, nodes
    finally:
        pausing.clear()
        for t in threads:
            t.join()
        for px in proxies:
            px.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bin")
    ap.add_argument("--rounds", type=int, default=1_000_000)
    ap.add_argument("--minutes", type=float, default=60)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--keep", default="/tmp/repl-stress-fail")
    ap.add_argument("--mshards", default="1,2")
    ap.add_argument("--rshards", default="4")
    ap.add_argument("--sshards", default="1,2,4")
    ap.add_argument("--expiry", default="mix")
    ap.add_argument("--pauses", default="mix")
    ap.add_argument("--cuts", default="mix")
    ap.add_argument("--redis-sub", action="store_true")
    ap.add_argument("--ops", type=int, default=12000)
    a = ap.parse_args()
    a.mshards = [int(x) for x in a.mshards.split(",")]
    a.rshards = [int(x) for x in a.rshards.split(",")]
    a.sshards = [int(x) for x in a.sshards.split(",")]
    end = time.time() + a.minutes * 60
    first = a.seed if a.seed is not None else random.randrange(1 << 30)
    for i in range(a.rounds):
        if time.time() > end:
            break
        seed = first + i
        t0 = time.time()
        cfg, failure, nodes = run_round(a, seed)
        print("round %d seed %d %s: %s (%.1fs)" % (i, seed, cfg, "FAIL" if failure else "ok", time.time() - t0),
              flush=True)
        if failure and not failure.startswith("load error"):
            os.makedirs(a.keep, exist_ok=True)
            with open(os.path.join(a.keep, "report.txt"), "w") as f:
                f.write("seed %d %r\n%s\n" % (seed, cfg, failure))
                if nodes:
                    for name, n in zip(("master", "replica", "sub"), nodes):
                        try:
                            f.write("%s INFO replication: %r\n" % (name, n.info("replication")))
                        except Exception as e:  # noqa: BLE001
                            f.write("%s INFO failed: %r\n" % (name, e))
            print(failure[:3000], flush=True)
            for name, n in zip(("master", "replica", "sub"), nodes or []):
                n.stop(keep_to=os.path.join(a.keep, name + ".log"))
            sys.exit(1)
        if failure:
            print(failure, flush=True)
        for n in nodes or []:
            n.stop()
    print("no divergence", flush=True)


if __name__ == "__main__":
    main()
