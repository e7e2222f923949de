#!/usr/bin/env python3
"""Records Redis's command metadata for Tessera's COMMAND INFO, DOCS and GETKEYS.

Tessera answers COMMAND INFO and COMMAND DOCS byte for byte as Redis 7.0 does: key specs,
tips, argument trees, history. Those are facts about Redis's commands, so rather than retype
them this script asks a real redis-server and writes its answers, in RESP3, to
src/cmd/redis-commands.resp, which Tessera embeds (src/cmd/meta.rs). Arity, flags, ACL
categories and key positions stay in Tessera's own command table, where dispatch reads them;
tests/command_table.rs checks them against a live redis-server.

Usage: tools/gen-redis-commands.py [path/to/redis-server]   (needs Python 3, nothing else)

The file holds one record per top-level command, sorted by name: a RESP3 array of the name,
its COMMAND INFO entry and its COMMAND DOCS entry. Subcommands are sorted by name too (Redis
lists them in hash order, which changes from run to run), so that regenerating the file with
the same Redis gives the same bytes.
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "cmd", "redis-commands.resp")


class Reader:
    """A RESP3 reader that keeps every value's type, so the bytes can be written back as read."""

    def __init__(self, sock):
        self.sock, self.buf = sock, b""

    def _fill(self):
        data = self.sock.recv(1 << 20)
        if not data:
            raise EOFError("redis-server closed the connection")
        self.buf += data

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind in (b"+", b"-", b":", b"_", b",", b"#"):
            return (kind, rest)
        if kind in (b"$", b"=", b"!"):
            n = int(rest)
            while len(self.buf) < n + 2:
                self._fill()
            body, self.buf = self.buf[:n], self.buf[n + 2:]
            return (kind, body)
        if kind in (b"*", b"~", b">"):
            return (kind, [self.read() for _ in range(int(rest))])
        if kind == b"%":
            return (kind, [(self.read(), self.read()) for _ in range(int(rest))])
        raise ValueError(f"unexpected reply type {line!r}")


def write(value, out):
    kind, body = value
    if kind in (b"$", b"=", b"!"):
        out += kind + str(len(body)).encode() + b"\r\n" + body + b"\r\n"
    elif kind in (b"*", b"~", b">"):
        out += kind + str(len(body)).encode() + b"\r\n"
        for item in body:
            write(item, out)
    elif kind == b"%":
        out += kind + str(len(body)).encode() + b"\r\n"
        for k, v in body:
            write(k, out)
            write(v, out)
    else:
        out += kind + body + b"\r\n"


def text(value):
    return value[1].decode()


def sorted_info(entry):
    """A COMMAND INFO entry with its subcommands (element 9) sorted by name."""
    kind, fields = entry
    fields = list(fields)
    sub_kind, subs = fields[9]
    fields[9] = (sub_kind, sorted((sorted_info(s) for s in subs), key=lambda s: text(s[1][0])))
    return (kind, fields)


def sorted_docs(doc):
    """A COMMAND DOCS entry with its `subcommands` map sorted by name."""
    kind, pairs = doc
    out = []
    for k, v in pairs:
        if text(k) == "subcommands":
            v = (v[0], sorted(((n, sorted_docs(d)) for n, d in v[1]), key=lambda p: text(p[0])))
        out.append((k, v))
    return (kind, out)


def command(sock, reader, *args):
    req = b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)
    sock.sendall(req)
    return reader.read()


def main():
    redis = sys.argv[1] if len(sys.argv) > 1 else shutil.which("redis-server")
    if not redis:
        sys.exit("redis-server not found; pass its path")
    with tempfile.TemporaryDirectory() as tmp:
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        server = subprocess.Popen(
            [redis, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", tmp],
            stdout=subprocess.DEVNULL,
        )
        try:
            for _ in range(100):
                try:
                    sock = socket.create_connection(("127.0.0.1", port))
                    break
                except OSError:
                    time.sleep(0.05)
            else:
                sys.exit("redis-server did not start")
            reader = Reader(sock)
            hello = command(sock, reader, b"HELLO", b"3")
            version = next(text(v) for k, v in hello[1] if text(k) == "version")
            infos = command(sock, reader, b"COMMAND", b"INFO")[1]
            docs = dict((text(k), v) for k, v in command(sock, reader, b"COMMAND", b"DOCS")[1])
        finally:
            server.terminate()
            server.wait()

    out = bytearray()
    out += b"# Redis %s's COMMAND INFO and COMMAND DOCS, one record per command.\n" % version.encode()
    out += b"# Generated by tools/gen-redis-commands.py; do not edit by hand.\n"
    for info in sorted(infos, key=lambda e: text(e[1][0])):
        name = info[1][0]
        record = (b"*", [name, sorted_info(info), sorted_docs(docs[text(name)])])
        write(record, out)
    with open(OUT, "wb") as f:
        f.write(out)
    print(f"wrote {len(infos)} commands from Redis {version} to {os.path.relpath(OUT)}")


if __name__ == "__main__":
    main()
