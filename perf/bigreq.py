#!/usr/bin/env python3
"""perf/bigreq.py: the client of perf/bigreq.sh (see there).

Sends REPS big requests of SIZE_MIB each to the server on PORT, every request in
CHUNK-byte writes with PAUSE_US microseconds between them (so the server sees it over
many reads), waits for each reply, and prints the server's CPU ticks (utime+stime of
PID, all threads, /proc/PID/stat fields 14 and 15) spent from before the first byte to
after the last reply, then the bytes sent. The keys are deleted afterwards, outside
the measured window.

MODE rpush: one RPUSH of small 5-byte elements (11 bytes per argument on the wire).
MODE set:   one SET of a single SIZE_MIB value.

Usage: bigreq.py PORT PID MODE SIZE_MIB REPS CHUNK PAUSE_US
"""
import socket
import sys
import time


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])


def read_line(sock, buf):
    while b"\r\n" not in buf:
        data = sock.recv(65536)
        if not data:
            raise SystemExit("bigreq.py: server closed the connection")
        buf += data
    line, _, rest = buf.partition(b"\r\n")
    return line, rest


def rpush_request(key, size):
    n = size // 11
    block_len = 100_000
    block = b"".join(b"$5\r\n%05d\r\n" % i for i in range(block_len))
    body = block * (n // block_len) + block[: (n % block_len) * 11]
    head = b"*%d\r\n$5\r\nRPUSH\r\n$%d\r\n%s\r\n" % (n + 2, len(key), key)
    return head + body, b":%d" % n


def set_request(key, size):
    value = bytes(range(256)) * (size // 256)
    head = b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n" % (len(key), key, len(value))
    return head + value + b"\r\n", b"+OK"


def main():
    port, pid, mode, size_mib, reps, chunk, pause_us = sys.argv[1:8]
    pid, size, reps, chunk = int(pid), int(float(size_mib) * (1 << 20)), int(reps), int(chunk)
    pause = int(pause_us) / 1e6
    make = {"rpush": rpush_request, "set": set_request}[mode]
    keys = [b"bigreq:%d" % i for i in range(reps)]
    requests = [make(k, size) for k in keys]
    sock = socket.create_connection(("127.0.0.1", int(port)))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = b""
    sent = 0
    before = cpu_ticks(pid)
    for req, want in requests:
        view = memoryview(req)
        for off in range(0, len(view), chunk):
            sock.sendall(view[off:off + chunk])
            if pause:
                time.sleep(pause)
        sent += len(req)
        line, buf = read_line(sock, buf)
        if line != want:
            raise SystemExit(f"bigreq.py: expected {want!r}, got {line[:200]!r}")
    after = cpu_ticks(pid)
    sock.sendall(b"".join(b"*2\r\n$3\r\nDEL\r\n$%d\r\n%s\r\n" % (len(k), k) for k in keys))
    for _ in keys:
        line, buf = read_line(sock, buf)
    print(after - before, sent)


if __name__ == "__main__":
    main()
