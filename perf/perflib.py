"""Helpers the Python perf scripts share (they run as `python3 perf/NAME.py`, so this
directory is on their import path)."""

import socket


def free_port():
    """A TCP port nobody listens on right now, for a server this script starts."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p
