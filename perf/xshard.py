#!/usr/bin/env python3
"""Cross-shard vs same-shard cost of multi-key commands (perf/xshard.py).

Starts shardis-server with 2 shards (for each binary in SHARDIS_BIN, and
SHARDIS_BIN_B if set, interleaved run by run) and measures, side by side:
- LMOVE, SMOVE and RENAME of an N-element value (default 500k) to a key on the same
  shard and to a key on the other shard: the client's latency per command (median)
  and the server's CPU per command (utime + stime of all its threads);
- MSET of 10 small random keys, all on one shard vs 5 on each, with redis-benchmark
  (-c 50 -P 1 and -c 8 -P 16): server CPU per command (CASES `mset`);
- the same, symmetric (CASES `msetsym`): two redis-benchmarks at once, each with half
  the commands. Same-shard: one's keys all on shard 0, the other's all on shard 1;
  cross-shard: one alternates shard 0, 1, ..., the other 1, 0, .... Both cases then
  keep both shards equally busy, share the cores with the clients alike, and each
  connection's MSET is local or hopped (same) / coordinated (cross) the same way
  whichever shard it lands on. (`mset` puts all same-shard work on shard 0, so the
  clients get most of the other core there, and its minimum is the run whose
  connections happened to land mostly on shard 0.)
Each case runs RUNS times; the minimum per case is reported, with the
cross/same ratio. Keys are placed with hash tags whose slot (CRC16 % 16384) % 2
gives the shard, as the server routes them.

Knobs: SHARDIS_BIN, SHARDIS_BIN_B, N (500000), RUNS (3), MOVE_SECS (1.0, per case and
run), MSET_N (100000 commands per run), SERVER_CPUS ("0-1", the shards' CPUs), CASES
("move mset": which parts to run; also `msetsym`).
"""
import os, socket, subprocess, sys, tempfile, time

N = int(os.environ.get("N", "500000"))
RUNS = int(os.environ.get("RUNS", "3"))
MOVE_SECS = float(os.environ.get("MOVE_SECS", "1.0"))
MSET_N = int(os.environ.get("MSET_N", "100000"))
CASES = os.environ.get("CASES", "move mset").split()
TICK = os.sysconf("SC_CLK_TCK")


def crc16(data):
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def shard_of(key, shards=2):
    s, e = key.find(b"{"), -1
    if s >= 0:
        e = key.find(b"}", s + 1)
    if s >= 0 and e > s + 1:
        key = key[s + 1:e]
    return (crc16(key) % 16384) % shards


def tag_on(shard, start=0):
    """A hash tag whose keys live on `shard`."""
    i = start
    while shard_of(b"{t%d}" % i) != shard:
        i += 1
    return b"{t%d}" % i


def enc(*a):
    out = b"*%d\r\n" % len(a)
    for x in a:
        out += b"$%d\r\n%s\r\n" % (len(x), x)
    return out


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.f = self.s.makefile("rb")

    def cmd(self, *a):
        self.s.sendall(enc(*a))
        return self.read()

    def read(self):
        line = self.f.readline()
        if line[:1] == b"$":
            n = int(line[1:])
            return None if n < 0 else self.f.read(n + 2)[:-2]
        if line[:1] == b"-":
            raise RuntimeError(line.decode().strip())
        return line.strip()


def cpu_ticks(pid):
    stat = open(f"/proc/{pid}/stat").read()
    f = stat[stat.rindex(")") + 2:].split()
    return int(f[11]) + int(f[12])


class Server:
    def __init__(self, binary):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        self.dir = tempfile.mkdtemp(prefix="xshard.")
        cpus = os.environ.get("SERVER_CPUS", "0-1")
        self.p = subprocess.Popen(
            [binary, "--port", str(self.port), "--shards", "2", "--cpus", cpus, "--save", "",
             "--appendonly", "no", "--dir", self.dir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while True:
            try:
                self.c = Conn(self.port)
                if self.c.cmd(b"PING") == b"+PONG":
                    break
            except OSError:
                pass
            if time.time() > deadline or self.p.poll() is not None:
                sys.exit(f"{binary}: server did not start")
            time.sleep(0.05)

    def stop(self):
        self.p.terminate()
        self.p.wait()
        subprocess.run(["rm", "-rf", self.dir])


def fill(c, verb, key, n, member):
    """Builds an n-element list or set at key, 1000 elements a command."""
    c.cmd(b"DEL", key)
    for start in range(0, n, 20000):
        batch = b"".join(
            enc(verb, key, *[member(i) for i in range(s, min(s + 1000, n))])
            for s in range(start, min(start + 20000, n), 1000))
        c.s.sendall(batch)
        for _ in range(start, min(start + 20000, n), 1000):
            c.read()


def timed(srv, op):
    """Runs op(i) back to back for MOVE_SECS: (median latency us, server CPU us per op)."""
    lat = []
    t0, c0 = time.perf_counter(), cpu_ticks(srv.p.pid)
    i = 0
    while time.perf_counter() - t0 < MOVE_SECS or i < 50:
        t = time.perf_counter()
        op(i)
        lat.append(time.perf_counter() - t)
        i += 1
    cpu = (cpu_ticks(srv.p.pid) - c0) / TICK
    lat.sort()
    return lat[len(lat) // 2] * 1e6, cpu / i * 1e6


def home_shard(c):
    """The shard serving this connection: a key there answers without a hop."""
    med = []
    for s in (0, 1):
        k = tag_on(s) + b"probe"
        lat = []
        for _ in range(40):
            t = time.perf_counter()
            c.cmd(b"GET", k)
            lat.append(time.perf_counter() - t)
        lat.sort()
        med.append(lat[len(lat) // 2])
    return 0 if med[0] < med[1] else 1


def connect_home(port, shard):
    for _ in range(64):
        c = Conn(port)
        if home_shard(c) == shard and home_shard(c) == shard:
            return c
        c.s.close()
    sys.exit(f"no connection landed on shard {shard}")


def move_cases(srv):
    """Source keys on shard 0; the client's connection on shard `home`."""
    res = {}
    for home in (0, 1):
        res.update(move_cases_from(srv, home))
    return res


def move_cases_from(srv, home):
    c = connect_home(srv.port, home)
    here, there = tag_on(0), tag_on(1)
    res = {}
    for where, dtag in (("same", here), ("cross", there)):
        where = f"{where}/home{home}"
        src, dst = here + b"list", dtag + b"dst"
        fill(c, b"RPUSH", src, N, lambda i: b"element-%d" % i)
        c.cmd(b"DEL", dst)
        res[("lmove", where)] = timed(srv, lambda i: c.cmd(b"LMOVE", src, dst, b"LEFT", b"RIGHT"))
        c.cmd(b"DEL", src, dst)
        src, dst = here + b"set", dtag + b"sdst"
        fill(c, b"SADD", src, N, lambda i: b"member-%d" % i)
        c.cmd(b"DEL", dst)
        res[("smove", where)] = timed(srv, lambda i: c.cmd(b"SMOVE", src, dst, b"member-%d" % i))
        c.cmd(b"DEL", src, dst)
        a, b = here + b"big", dtag + b"big2"
        fill(c, b"RPUSH", a, N, lambda i: b"element-%d" % i)
        c.cmd(b"DEL", b)
        res[("rename", where)] = timed(srv, lambda i: c.cmd(b"RENAME", *((a, b) if i % 2 == 0 else (b, a))))
        c.cmd(b"DEL", a, b)
    c.s.close()
    return res


MSET_LOADS = {"-P 1 -c 50": ["-P", "1", "-c", "50"], "-P 16 -c 8": ["-P", "16", "-c", "8"]}


def mset_cases(srv, run):
    """Connections land on both shards (as clients do), so the same-shard MSET is
    forwarded from half of them. The case that runs second finds the keyspace bigger
    (new keys, fresh pages), so the order alternates from run to run."""
    here, there = tag_on(0), tag_on(1)
    res = {}
    cases = [("same", [here] * 10), ("cross", [here, there] * 5)]
    if run % 2 == 1:
        cases.reverse()
    for label, opts in MSET_LOADS.items():
        for where, tags in cases:
            args = []
            for i, t in enumerate(tags):
                # Random keys (redis-benchmark draws each __rand_int__ anew): fixed ones
                # would make every cross-shard MSET wait for the previous one's locks.
                args += [t + b"k%d:__rand_int__" % i, b"v%d" % i]
            c0 = cpu_ticks(srv.p.pid)
            subprocess.run(["redis-benchmark", "-p", str(srv.port), "-n", str(MSET_N), "-r", "100000", "-q"] + opts +
                           ["MSET"] + [a.decode() for a in args], stdout=subprocess.DEVNULL, check=True)
            res[(label, where)] = (0.0, (cpu_ticks(srv.p.pid) - c0) / TICK / MSET_N * 1e6)
    return res


MSETSYM_LOADS = {"-P 1 -c 2x25": ["-P", "1", "-c", "25"], "-P 16 -c 2x8": ["-P", "16", "-c", "8"]}


def msetsym_run(srv, tag_sets, n, opts):
    """Runs one redis-benchmark per tag set at once, n MSETs in all: server CPU µs/op."""
    procs = []
    c0 = cpu_ticks(srv.p.pid)
    for tags in tag_sets:
        args = []
        for i, t in enumerate(tags):
            args += [t + b"k%d:__rand_int__" % i, b"v%d" % i]
        procs.append(subprocess.Popen(
            ["redis-benchmark", "-p", str(srv.port), "-n", str(n // len(tag_sets)), "-r", "100000", "-q"] + opts +
            ["MSET"] + [a.decode() for a in args], stdout=subprocess.DEVNULL))
    for p in procs:
        if p.wait() != 0:
            sys.exit("redis-benchmark failed")
    return (cpu_ticks(srv.p.pid) - c0) / TICK / n * 1e6


def msetsym_cases(srv, run):
    """`mset_cases` made symmetric (see the module docs): two clients at once. Both
    cases write the same 20 key families (10 positions x 2 tags), which an unmeasured
    warm-up fills first (MSET_WARM commands, default 4 x MSET_N: ~98% of the keys), so
    both measure overwrites rather than whichever ran first paying the inserts."""
    t0, t1 = tag_on(0), tag_on(1)
    res = {}
    cases = [("same", [[t0] * 10, [t1] * 10]), ("cross", [[t0, t1] * 5, [t1, t0] * 5])]
    warm = int(os.environ.get("MSET_WARM", str(4 * MSET_N)))
    msetsym_run(srv, cases[1][1], warm, ["-P", "16", "-c", "8"])
    if run % 2 == 1:
        cases.reverse()
    for label, opts in MSETSYM_LOADS.items():
        for where, tag_sets in cases:
            res[(label, where)] = (0.0, msetsym_run(srv, tag_sets, MSET_N, opts))
    return res


def main():
    bins = [("A", os.environ.get("SHARDIS_BIN", "target/release/shardis-server"))]
    if os.environ.get("SHARDIS_BIN_B"):
        bins.append(("B", os.environ["SHARDIS_BIN_B"]))
    best = {}
    allruns = {}
    for run in range(RUNS):
        for name, binary in bins:
            srv = Server(binary)
            try:
                res = move_cases(srv) if "move" in CASES else {}
                if "mset" in CASES:
                    res.update(mset_cases(srv, run))
                if "msetsym" in CASES:
                    res.update(msetsym_cases(srv, run))
            finally:
                srv.stop()
            for k, (lat, cpu) in res.items():
                allruns.setdefault((name, k), []).append(cpu)
                cur = best.get((name, k))
                best[(name, k)] = (lat, cpu) if cur is None else (min(cur[0], lat), min(cur[1], cpu))
            print(f"run {run + 1}/{RUNS} {name} done", file=sys.stderr)
    load = open("/proc/loadavg").read().split()[:3]
    print(f"N={N} RUNS={RUNS} MOVE_SECS={MOVE_SECS} MSET_N={MSET_N} loadavg at end {' '.join(load)}")
    for name, binary in bins:
        print(f"\n{name}: {binary}")
        print("Latency (median) and server CPU per command, in µs. Source key on shard 0; `home`: the shard")
        print("of the client's connection (0: the source's; 1: the other shard, so a same-shard command is")
        print("forwarded there). Ratio: cross-shard over same-shard from the same home.\n")
        print("| command | home | same-shard latency | cross-shard latency | ratio | same-shard CPU | cross-shard CPU | ratio |")
        print("|---|---|---|---|---|---|---|---|")
        for cmd in ("lmove", "smove", "rename") if "move" in CASES else ():
            for home in (0, 1):
                s, x = best[(name, (cmd, f"same/home{home}"))], best[(name, (cmd, f"cross/home{home}"))]
                print(f"| {cmd} | {home} | {s[0]:.0f} | {x[0]:.0f} | {x[0] / s[0]:.2f} | {s[1]:.1f} | {x[1]:.1f} | {x[1] / s[1]:.2f} |")
        print("\n| MSET of 10 keys | same-shard CPU µs/op | cross-shard CPU µs/op | ratio | same runs | cross runs |")
        print("|---|---|---|---|---|---|")
        loads = (list(MSET_LOADS) if "mset" in CASES else []) + (list(MSETSYM_LOADS) if "msetsym" in CASES else [])
        for label in loads:
            s, x = best[(name, (label, "same"))], best[(name, (label, "cross"))]
            runs = [" ".join(f"{c:.2f}" for c in allruns[(name, (label, w))]) for w in ("same", "cross")]
            print(f"| {label} | {s[1]:.2f} | {x[1]:.2f} | {x[1] / s[1]:.2f} | {runs[0]} | {runs[1]} |")


if __name__ == "__main__":
    main()
