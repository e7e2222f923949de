#!/usr/bin/env python3
"""How long deleting a huge collection stalls the server, Tessera next to Redis.

For each server (both with one thread, pinned to core 0), and for each way of dropping a huge
value (DEL, UNLINK, overwriting it with SET), builds a list, set or hash of N elements, then sends the drop
while a second connection sends PING back to back, and reports the drop's own latency and the
longest PING round trip seen while it ran: the time the server could not serve anyone else.
Redis runs with its defaults (lazyfree-lazy-user-del no: DEL frees in place, UNLINK in the
background); Tessera frees big values in the background whatever the command.

Usage: bench/stall.py [--type list|set|hash] [--elements 1000000] [--rounds 3]
"""

import argparse
import os
import socket
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import free_port, start, ROOT  # noqa: E402
from resp import Client as Conn  # noqa: E402


def fill(conn, n, kind):
    """A collection of n elements of 30 bytes or so (longer than an inline string)."""
    for start_at in range(0, n, 1000):
        batch = [f"element-with-a-longer-name:{i}" for i in range(start_at, min(start_at + 1000, n))]
        if kind == "list":
            conn.call("RPUSH", "big", *batch)
        elif kind == "set":
            conn.call("SADD", "big", *batch)
        else:
            conn.call("HSET", "big", *[x for e in batch for x in (e, e)])


def measure(port, how, n, kind):
    main, pinger = Conn(port), Conn(port)
    main.call("DEL", "big")
    fill(main, n, kind)
    worst = [0.0]
    stop = threading.Event()

    def ping():
        while not stop.is_set():
            t = time.perf_counter()
            pinger.call("PING")
            worst[0] = max(worst[0], time.perf_counter() - t)

    t = threading.Thread(target=ping)
    t.start()
    time.sleep(0.2)
    worst[0] = 0.0
    began = time.perf_counter()
    if how == "SET":
        main.call("SET", "big", "x")
    else:
        main.call(how, "big")
    took = time.perf_counter() - began
    time.sleep(0.2)
    stop.set()
    t.join()
    main.call("DEL", "big")
    return took * 1000, worst[0] * 1000


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--elements", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--type", default="list", choices=["list", "set", "hash"])
    ap.add_argument("--tessera", default=os.path.join(ROOT, "target", "release", "tessera-server"))
    args = ap.parse_args()
    rport, tport = free_port(), free_port()
    servers = [
        start("redis", ["taskset", "-c", "0", "redis-server", "--port", str(rport), "--save", "",
                        "--appendonly", "no"], rport),
        start("tessera", ["taskset", "-c", "0", args.tessera, "--port", str(tport), "--threads", "1",
                          "--save", ""], tport),
    ]
    results = {}
    try:
        for _ in range(args.rounds):
            for s in servers:
                for how in ("DEL", "UNLINK", "SET"):
                    results.setdefault((s["name"], how), []).append(measure(s["port"], how, args.elements, args.type))
    finally:
        for s in servers:
            s["proc"].kill()
    print(f"{args.type} of {args.elements} elements, medians of {args.rounds} interleaved rounds (ms)\n")
    print("| drop | Redis command | Redis longest PING | Tessera command | Tessera longest PING |")
    print("|---|---|---|---|---|")
    for how in ("DEL", "UNLINK", "SET"):
        r = results[("redis", how)]
        t = results[("tessera", how)]
        med = lambda xs, i: statistics.median(x[i] for x in xs)  # noqa: E731
        print(f"| {how} | {med(r, 0):.1f} | {med(r, 1):.1f} | {med(t, 0):.1f} | {med(t, 1):.1f} |")


if __name__ == "__main__":
    main()
