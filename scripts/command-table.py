#!/usr/bin/env python3
"""Prints the README's table of supported commands from a running shardis.

Usage: scripts/command-table.py [port]   (default 6379)

Asks the server for COMMAND DOCS, so the table is generated from the same command
table that routing and COMMAND INFO read; paste the output over the table in README.md.
tests/readme.rs checks that every command the server knows appears in README.md.
"""
import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from resp_wire import Reader, send  # noqa: E402

GROUP_ORDER = ["connection", "server", "generic", "string", "bitmap", "hyperloglog", "list",
               "hash", "set", "sorted-set", "pubsub", "transactions"]


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
