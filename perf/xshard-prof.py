#!/usr/bin/env python3
"""Where a cross-shard MSET's extra CPU goes, symbol by symbol (perf/xshard-prof.py).

usage: perf/xshard-prof.py BIN [OUT]

Starts BIN with 2 shards as `perf/xshard.py` does, fills the keyspace with its
`msetsym` warm-up (cross-shard MSETs, ~98% of the keys present), then runs the
`msetsym` -P 16 load twice, same-shard and then cross-shard (the same number of MSETs,
N, default 200000), each under `perf record -F 2000 -e cpu-clock` of the server
(OUT.same.data, OUT.cross.data; OUT defaults to /tmp/xshard-prof). It prints each
case's server CPU per MSET and the symbols whose sample counts differ most between
the two (cross minus same): with equal request counts, the difference is the cross
case's extra work. A sample is 0.5 ms of CPU, so over N MSETs `samples * 0.5 ms / N`
is the symbol's cost per MSET. The environment passes to the server (knobs of a
candidate binary can be compared in one go). Keep the .data files for `perf
annotate -i OUT.cross.data -s SYMBOL`.

To compare two binaries, diff their files: `perf/xshard-prof.py --diff A.data B.data`.
"""
import importlib.util, os, re, subprocess, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))


def samples(path):
    """Sample counts per symbol of a perf.data file (flat: no call graphs needed)."""
    out = subprocess.run(["perf", "report", "-i", path, "--no-children", "--sort", "sym", "-q", "-F", "sample,sym",
                          "--stdio"], capture_output=True, text=True).stdout
    counts = {}
    for line in out.splitlines():
        m = re.match(r"\s*(\d+)\s+\[.\]\s+(.*)", line)
        if m:
            sym = m.group(2).strip()[:100]
            counts[sym] = counts.get(sym, 0) + int(m.group(1))
    return counts


def diff(a_path, b_path, top=40):
    a, b = samples(a_path), samples(b_path)
    print(f"samples: {sum(a.values())} ({a_path}) -> {sum(b.values())} ({b_path})")
    keys = sorted(set(a) | set(b), key=lambda k: -(b.get(k, 0) - a.get(k, 0)))
    for k in keys[:top]:
        print(f"{a.get(k, 0):6d} {b.get(k, 0):6d} {b.get(k, 0) - a.get(k, 0):+6d}  {k}")
    print("...")
    for k in keys[-10:]:
        print(f"{a.get(k, 0):6d} {b.get(k, 0):6d} {b.get(k, 0) - a.get(k, 0):+6d}  {k}")


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--diff":
        diff(sys.argv[2], sys.argv[3])
        return
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    binary = sys.argv[1]
    out = sys.argv[2] if len(sys.argv) > 2 else "/tmp/xshard-prof"
    n = int(os.environ.get("N", "200000"))
    spec = importlib.util.spec_from_file_location("xshard", os.path.join(HERE, "xshard.py"))
    x = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(x)
    srv = x.Server(binary)
    try:
        t0, t1 = x.tag_on(0), x.tag_on(1)
        cases = [("same", [[t0] * 10, [t1] * 10]), ("cross", [[t0, t1] * 5, [t1, t0] * 5])]
        x.msetsym_run(srv, cases[1][1], 4 * x.MSET_N, ["-P", "16", "-c", "8"])
        for where, tags in cases:
            rec = subprocess.Popen(["perf", "record", "-F", "2000", "-e", "cpu-clock", "-p", str(srv.p.pid), "-o",
                                    f"{out}.{where}.data"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.5)
            cpu = x.msetsym_run(srv, tags, n, ["-P", "16", "-c", "8"])
            rec.send_signal(2)
            rec.wait()
            print(f"{where}: {cpu:.2f} us server CPU per MSET")
    finally:
        srv.stop()
    diff(f"{out}.same.data", f"{out}.cross.data")


if __name__ == "__main__":
    main()
