#!/usr/bin/env python3
"""perf/hop.py: the CPU cost of a cross-shard hop, on a running 2-shard shardis.

One connection (so it stays on one shard thread) sends BATCHES batches of PIPE GETs
(or SETs), first on keys of hash tag {b} (shard 0 of 2), then {a} (shard 1); one of
the two is the connection's own shard, the other a hop away. For each, the CPU time
of every shard thread (/proc/PID/task/TID/schedstat, nanoseconds) is read around the
run. Prints one
line per tag: "tag cmd ops cpu_us_per_op own_thread_us other_thread_us", where the
thread that did the parsing (the connection's) is the busier one when keys are local.

Usage: perf/hop.py PORT PID [BATCHES] [PIPE] [KEYS]
"""
import os
import socket
import sys
import time

port, pid = int(sys.argv[1]), int(sys.argv[2])
batches = int(sys.argv[3]) if len(sys.argv) > 3 else 20000
pipe = int(sys.argv[4]) if len(sys.argv) > 4 else 16
nkeys = int(sys.argv[5]) if len(sys.argv) > 5 else 10000


def shard_threads():
    """{name: ns on CPU} for the shard-N threads of the server (schedstat: exact,
    where the stat file's clock ticks are 10 ms samples)."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            name = open(f"/proc/{pid}/task/{tid}/comm").read().strip()
            ns = int(open(f"/proc/{pid}/task/{tid}/schedstat").read().split()[0])
        except OSError:
            continue
        if name.startswith("shard-"):
            out[name] = ns
    return out


def enc(*args):
    b = b"*%d\r\n" % len(args)
    for a in args:
        b += b"$%d\r\n%s\r\n" % (len(a), a)
    return b


s = socket.create_connection(("127.0.0.1", port))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def read_exact(n):
    got = bytearray()
    while len(got) < n:
        chunk = s.recv(max(n - len(got), 65536))
        if not chunk:
            sys.exit("server closed the connection")
        got += chunk
    return bytes(got)


VALUE = b"vvvvvvvv"
for tag in (b"b", b"a"):
    keys = [b"k:{%s}:%d" % (tag, i) for i in range(nkeys)]
    # Preload (unmeasured) so GETs hit: replies are "+OK\r\n".
    for i in range(0, nkeys, 256):
        chunk = keys[i:i + 256]
        s.sendall(b"".join(enc(b"SET", k, VALUE) for k in chunk))
        read_exact(5 * len(chunk))
    for cmd in (b"GET", b"SET"):
        # Pre-built batches, cycling over the keys; fixed-size replies.
        pre = []
        for j in range(64):
            ks = [keys[(j * pipe + i) % nkeys] for i in range(pipe)]
            if cmd == b"GET":
                pre.append(b"".join(enc(b"GET", k) for k in ks))
            else:
                pre.append(b"".join(enc(b"SET", k, VALUE) for k in ks))
        reply = (len(b"$8\r\n") + len(VALUE) + 2) if cmd == b"GET" else 5
        before = shard_threads()
        t0 = time.monotonic()
        for n in range(batches):
            s.sendall(pre[n % 64])
            read_exact(reply * pipe)
        wall = time.monotonic() - t0
        after = shard_threads()
        used = {k: (after[k] - before.get(k, 0)) / 1e3 for k in after}
        ops = batches * pipe
        total = sum(used.values())
        per = " ".join(f"{k}={v / ops:.3f}" for k, v in sorted(used.items()))
        print(f"{{{tag.decode()}}} {cmd.decode()} ops={ops} ops_per_s={ops / wall:.0f} cpu_us_per_op={total / ops:.3f} {per}")
