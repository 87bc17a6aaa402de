"""The few lines of RESP the generator scripts speak to a running server.

`send` writes one command; `Reader.read` decodes one reply. By default replies come back
as plain Python values (strings, ints, lists, None); `typed=True` tags each with its
RESP kind (`("bulk", "x")`, `("set", [...])`, `("map", [k, v, ...])`) and understands
RESP3, for scripts that must tell a set from an array.
"""


def send(sock, *args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a.encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    sock.sendall(out)


class Reader:
    def __init__(self, sock, typed=False):
        self.f = sock.makefile("rb")
        self.typed = typed

    def read(self):
        line = self.f.readline()[:-2]
        kind, rest = line[:1], line[1:]
        if not self.typed:
            return self._plain(kind, rest, line)
        if kind == b"+":
            return ("simple", rest.decode())
        if kind == b"-":
            raise ValueError(rest.decode())
        if kind == b":":
            return ("int", int(rest))
        if kind == b"_":
            return ("null", None)
        if kind in (b"$", b"="):
            data = self.f.read(int(rest) + 2)[:-2].decode()
            return ("bulk", data[4:] if kind == b"=" else data)
        if kind in (b"*", b"~"):
            n = int(rest)
            return ("arr" if kind == b"*" else "set", [self.read() for _ in range(n)])
        if kind == b"%":
            items = []
            for _ in range(int(rest)):
                items.append(self.read())
                items.append(self.read())
            return ("map", items)
        raise ValueError(f"unexpected reply {line!r}")

    def _plain(self, kind, rest, line):
        if kind in (b"+", b"-"):
            return rest.decode()
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self.f.read(n + 2)[:-2].decode()
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise ValueError(f"unexpected reply {line!r}")
