#!/usr/bin/env python3
"""Prints the README's table of supported commands from a running shardis.

Usage: scripts/command-table.py [port]   (default 6379)

Asks the server for COMMAND DOCS, so the table is generated from the same command
table that routing and COMMAND INFO read; paste the output over the table in README.md.
tests/readme.rs checks that every command the server knows appears in README.md.
"""
import socket
import sys

GROUP_ORDER = ["connection", "server", "generic", "string", "bitmap", "hyperloglog", "list",
               "hash", "set", "sorted-set", "pubsub", "transactions"]


def send(sock, *args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a.encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    sock.sendall(out)


class Reader:
    def __init__(self, sock):
        self.f = sock.makefile("rb")

    def read(self):
        line = self.f.readline()[:-2]
        kind, rest = line[:1], line[1:]
        if kind in (b"+", b"-"):
            return rest.decode()
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.f.read(n + 2)[:-2]
            return data.decode()
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise ValueError(f"unexpected reply {line!r}")


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 6379
    sock = socket.create_connection(("127.0.0.1", port))
    send(sock, "COMMAND", "DOCS")
    flat = Reader(sock).read()
    rows = []
    for name, doc in zip(flat[0::2], flat[1::2]):
        d = dict(zip(doc[0::2], doc[1::2]))
        summary = d.get("summary", "")
        subs = d.get("subcommands")
        if subs:
            names = [s.split("|", 1)[1].upper() for s in subs[0::2]]
            summary += " Subcommands: " + ", ".join(names) + "."
        group = d.get("group", "server")
        rank = GROUP_ORDER.index(group) if group in GROUP_ORDER else len(GROUP_ORDER)
        rows.append((rank, group, name.upper(), summary))
    print("| Group | Command | Summary |")
    print("| --- | --- | --- |")
    for _, group, name, summary in sorted(rows):
        print(f"| {group} | `{name}` | {summary} |")


if __name__ == "__main__":
    main()
