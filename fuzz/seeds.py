#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/corpus/<target>/ (committed; rerun to refresh).

RDB files and DUMP payloads come from a real redis-server (7.0) and from shardis, each on
a free port, and the AOF seeds from their appendonly files; the config seeds include the
packaged redis.conf.
Usage: python3 fuzz/seeds.py  (needs redis-server and redis-cli on PATH, and a built
shardis-server: target/release/shardis-server or $SHARDIS_SERVER)
"""
import os, shutil, socket, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(ROOT, "corpus")


# aof_load input: byte 0 bit 0 = two shard files, bytes 1-2 = where the second starts.
ONE = b"\x00\x00\x00"


def two(first, second):
    return b"\x01" + len(first).to_bytes(2, "little") + first + second


def put(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def resp(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


# --- the data set written to redis-server, one command list per seed group ---
DATA = [
    ("set", "s:small", "v"), ("set", "s:int", "12345"), ("set", "s:long", "x" * 100),
    ("set", "s:comp", "ab" * 200), ("rpush", "l:small", "a", "b", "1", "2"),
    ("rpush", "l:big", *["item%d" % i for i in range(200)]), ("sadd", "set:int", 1, 2, 3, -40000),
    ("sadd", "set:str", "a", "b", "c"), ("sadd", "set:big", *["m%d" % i for i in range(200)]),
    ("hset", "h:small", "f1", "v1", "f2", "2"), ("hset", "h:big", *sum((["f%d" % i, "v%d" % i] for i in range(200)), [])),
    ("zadd", "z:small", 1, "a", 2.5, "b", "-inf", "c"), ("zadd", "z:big", *sum(([i, "z%d" % i] for i in range(200)), [])),
    ("set", "s:ttl", "t"), ("pexpireat", "s:ttl", 4102444800000), ("pfadd", "hll", "a", "b", "c"),
    ("setbit", "bits", 100, 1), ("select", 3), ("set", "db3", "x"), ("select", 0),
]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def redis_seeds():
    tmp = tempfile.mkdtemp()
    port = free_port()
    srv = subprocess.Popen(["redis-server", "--port", str(port), "--dir", tmp, "--save", "", "--appendonly", "yes",
                            "--aof-use-rdb-preamble", "no", "--daemonize", "no", "--logfile", ""],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cli = ["redis-cli", "-p", str(port)]
    try:
        wait_ping(cli)
        pipe = b"".join(resp(*c) for c in DATA)
        subprocess.run(cli + ["--pipe"], input=pipe, capture_output=True, check=True)
        # The AOF seeds must fit the aof_load target's 4 KiB inputs: a fresh log with the
        # small keys and one collection just past the listpack limits.
        subprocess.run(cli + ["bgrewriteaof"], capture_output=True, check=True)
        time.sleep(1)
        subprocess.run(cli + ["flushall"], capture_output=True, check=True)
        small = [c for c in DATA if not (len(c) > 1 and str(c[1]).endswith(":big"))]
        small.append(("sadd", "set:130", *["m%d" % i for i in range(130)]))
        subprocess.run(cli + ["--pipe"], input=b"".join(resp(*c) for c in small), capture_output=True, check=True)
        subprocess.run(cli + ["flushall"], capture_output=True, check=True)
        subprocess.run(cli + ["--pipe"], input=b"".join(resp(*c) for c in DATA), capture_output=True, check=True)
        # DUMP payloads: the rdb_load target appends version and CRC itself.
        keys = [c[1] for c in DATA if c[0] not in ("select", "pexpireat")]
        for k in dict.fromkeys(keys):
            payload = subprocess.run(cli + ["dump", k], capture_output=True).stdout
            # redis-cli prints raw bytes plus a newline for a bulk reply.
            if payload.endswith(b"\n"):
                payload = payload[:-1]
            if len(payload) > 10:
                put("rdb_load", "payload-" + k.replace(":", "_"), payload[:-10])
        subprocess.run(cli + ["save"], capture_output=True, check=True)
        rdb = open(os.path.join(tmp, "dump.rdb"), "rb").read()
        put("rdb_load", "redis-7.0-dump", rdb[9:])
        aofdir = os.path.join(tmp, "appendonlydir")
        for f in sorted(os.listdir(aofdir)):
            if ".incr." in f:
                body = open(os.path.join(aofdir, f), "rb").read()
                # Between the two FLUSHALLs: the small data set only.
                fl = resp("flushall")
                start = body.index(fl) + len(fl)
                body = body[start:body.index(fl, start)]
                put("aof_load", "redis-7.0-incr.aof", ONE + body)
                put("aof_load", "redis-7.0-incr-torn.aof", ONE + body[:-7])
                put("aof_load", "redis-7.0-incr-padded.aof", ONE + body + b"\x00" * 64)
                put("aof_load", "two-shards.aof", two(body[:len(body) // 2], body[len(body) // 2:]))
    finally:
        srv.terminate()
        srv.wait()
        shutil.rmtree(tmp)


def shardis_seeds():
    """An RDB file and a two-shard AOF (with cross-shard transaction parts) written by
    shardis itself ($SHARDIS_SERVER, else target/release/shardis-server)."""
    exe = os.environ.get("SHARDIS_SERVER") or os.path.join(ROOT, "..", "target", "release", "shardis-server")
    if not os.path.exists(exe):
        print("no shardis-server binary: skipping its seeds (build it, or set SHARDIS_SERVER)")
        return
    tmp = tempfile.mkdtemp()
    port = free_port()
    srv = subprocess.Popen([exe, "--port", str(port), "--dir", tmp, "--shards", "2", "--save", "", "--appendonly", "yes",
                            "--appendfsync", "always", "--aof-use-rdb-preamble", "no"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cli = ["redis-cli", "-p", str(port)]
    try:
        wait_ping(cli)
        # The AOF seed (small keys, cross-shard transactions) fits the target's 4 KiB.
        pipe = b"".join(resp(*c) for c in DATA if not (len(c) > 1 and str(c[1]).endswith(":big")))
        pipe += resp("MSET", "a", 1, "b", 2, "c", 3, "d", 4) + resp("DEL", "a", "b", "c") + resp("RENAME", "d", "e")
        subprocess.run(cli + ["--pipe"], input=pipe, capture_output=True, check=True)
        aofdir = os.path.join(tmp, "appendonlydir")
        # appendfsync always: every acknowledged command is in the files already.
        # (Trailing NULs are O_DIRECT preallocation: dropped.)
        incr = [open(os.path.join(aofdir, f), "rb").read().rstrip(b"\0")
                for f in sorted(os.listdir(aofdir)) if ".incr." in f]
        if len(incr) == 2:
            put("aof_load", "shardis-2-shards.aof", two(incr[0], incr[1]))
        subprocess.run(cli + ["--pipe"], input=b"".join(resp(*c) for c in DATA), capture_output=True, check=True)
        subprocess.run(cli + ["save"], capture_output=True, check=True)
        put("rdb_load", "shardis-dump", open(os.path.join(tmp, "dump.rdb"), "rb").read()[9:])
        subprocess.run(cli + ["shutdown", "nosave"], capture_output=True)
        srv.wait(timeout=10)
    finally:
        if srv.poll() is None:
            srv.terminate()
            srv.wait()
        shutil.rmtree(tmp)


def wait_ping(cli):
    for _ in range(200):
        if subprocess.run(cli + ["ping"], capture_output=True).stdout.strip() == b"PONG":
            return
        time.sleep(0.05)
    sys.exit("server did not answer PING")


def resp_seeds():
    # Byte 0: bit 0 unauthenticated limits, bits 1-3 number of split points.
    put("resp_parse", "set", b"\x00" + resp("SET", "key", "value"))
    put("resp_parse", "pipeline-split", b"\x06\x10\x80\xf0" + resp("SET", "a", "1") + resp("GET", "a") + resp("DEL", "a"))
    put("resp_parse", "inline", b"\x00PING\r\nset k \"a\\x41\\n\" 'b c'\r\n\r\nget k\n")
    put("resp_parse", "empty-and-null", b"\x02\x40*0\r\n*-1\r\n\r\n" + resp("PING"))
    put("resp_parse", "unauth", b"\x01" + resp(*["a"] * 11))
    put("resp_parse", "bad-bulk", b"\x00*1\r\n$-5\r\n")
    put("resp_parse", "expected-dollar", b"\x00*2\r\n$3\r\nGET\r\n:1\r\n")
    put("resp_parse", "big-bulk", b"\x04\x20\xa0" + resp("SET", "k", "v" * 1000))


def aof_seeds():
    put("aof_load", "set-multi", ONE + resp("SELECT", 0) + resp("SET", "k", "v") + resp("MULTI")
        + resp("INCR", "n") + resp("LPUSH", "l", "a", "b") + resp("EXEC") + resp("PEXPIREAT", "k", 4102444800000))
    tx = lambda n: resp("MULTI") + resp("ECHO", "shardis-tx:run1:7:2") + resp("SET", n, "1") + resp("EXEC")
    put("aof_load", "shardis-tx-2-shards", two(tx("a"), tx("b")))
    put("aof_load", "shardis-tx-missing-part", two(tx("a"), resp("SET", "c", "3")))
    put("aof_load", "unfinished-multi", ONE + resp("SET", "k", "v") + resp("MULTI") + resp("SET", "k", "w"))
    put("aof_load", "flush-swap", ONE + resp("SET", "a", "1") + resp("SWAPDB", 0, 1) + resp("FLUSHDB")
        + resp("SELECT", 1) + resp("FLUSHALL"))


def config_seeds():
    for path in ("/etc/redis/redis.conf",):
        if os.path.exists(path):
            text = open(path, "rb").read()
            # Only the directives: the packaged file is mostly comments, and the
            # target's inputs are capped at 2 KiB.
            lines = [l for l in text.split(b"\n") if l.strip() and not l.startswith(b"#") and b"include" not in l]
            put("config_text", "redis.conf-directives", b"\n".join(lines) + b"\n")
    put("config_text", "small", b"port 7000\nmaxmemory 1mb\nsave 900 1\nsave 300 10\nappendonly yes\n"
        b"notify-keyspace-events KEA\nclient-output-buffer-limit pubsub 32mb 8mb 60\n")
    put("config_text", "quoting", b"requirepass \"p a\\x41ss\\n\"\ndir '/tmp/it''s'\nsave \"\"\nbind 127.0.0.1 ::1\n")
    put("config_text", "bad", b"hz 0\nnosuch yes\n\"unbalanced\n")
    put("config_text", "compat", b"hash-max-ziplist-entries 64\nlazyfree-lazy-eviction yes\nshards 2\ncpus 0-1\n")


def cmd_seeds():
    # Byte 0: shard count (bit 0); then one operation byte and its argument bytes.
    put("cmd_model", "strings", bytes([0, 0, 0, 1, 1, 0, 3, 0, 2, 2, 0, 1, 26]))
    put("cmd_model", "collections-4-shards", bytes([1, 7, 0, 1, 0, 1, 12, 1, 2, 0, 1, 2, 17, 2, 2, 1, 2, 3,
                                                     21, 2, 3, 6, 10, 0, 14, 1, 24, 0, 3, 26, 27, 5, 2, 0, 4, 28, 0, 3]))
    put("cmd_model", "bulk-encodings", bytes([0, 25, 0, 0, 40, 25, 1, 1, 40, 25, 2, 2, 40, 28, 0, 0, 28, 0, 1, 26]))
    put("cmd_model", "free", bytes([1, 29, 5, 3, 1, 2, 3, 29, 60, 4, 0, 1, 2, 3, 27, 9, 2, 0, 1, 26]))


if __name__ == "__main__":
    if os.path.isdir(CORPUS):
        shutil.rmtree(CORPUS)
    resp_seeds()
    aof_seeds()
    config_seeds()
    cmd_seeds()
    redis_seeds()
    shardis_seeds()
    for t in sorted(os.listdir(CORPUS)):
        print(t, len(os.listdir(os.path.join(CORPUS, t))), "files")
