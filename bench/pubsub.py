#!/usr/bin/env python3
"""Pub/Sub and keyspace notifications, Tessera next to Redis in one run (issue 14).

Both servers are pinned to the server cores; the load (redis-benchmark and this script's
subscribers, which only count the bytes they receive) runs on the bench cores. Rounds run
Redis and Tessera alternately; the medians and Tessera/Redis ratios are printed.

  fanout: SUBSCRIBERS connections subscribe to one channel (Tessera's kernel spreads them over
          its shards); redis-benchmark PUBLISHes MESSAGES messages of 16 bytes to it from one
          connection with a pipeline of 16. Reported: messages delivered per second (from the
          first publish until every subscriber has every message) and the server cores' busy
          time per delivered message (/proc/stat: user, nice, system, irq, softirq).
  (`--server-cpus 0-1 --bench-cpus 0-1 --threads 2` runs everything unpinned, as a user runs
  it on two cores: the core figure then counts the load too, and the process's own CPU time,
  printed beside it, is the one to read.)
  notify: redis-benchmark SET on random keys (-r 100000, 50 clients, -P 16), with
          notify-keyspace-events off and then KEA while one client PSUBSCRIBEs `*` and reads
          everything: requests per second and server core time per SET, both ways.

Usage: bench/pubsub.py [--rounds 3] [--subscribers 1000] [--messages 20000] [--threads 2]
                       [--server-cpus 0] [--bench-cpus 1]
"""

import argparse
import os
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import ROOT, TICKS, core_busy_ticks, cpu_ticks, free_port, start  # noqa: E402

PAYLOAD = "x" * 16


def command(sock, *args):
    out = f"*{len(args)}\r\n"
    for a in args:
        out += f"${len(a)}\r\n{a}\r\n"
    sock.sendall(out.encode())


def subscribers(port, n, channel):
    """`n` connections subscribed to `channel`, with their confirmations read."""
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        command(s, "SUBSCRIBE", channel)
        socks.append(s)
    confirmation = len(f"*3\r\n$9\r\nsubscribe\r\n${len(channel)}\r\n{channel}\r\n:1\r\n")
    for s in socks:
        got = 0
        while got < confirmation:
            got += len(s.recv(confirmation - got))
        s.setblocking(False)
    return socks


def read_until(socks, want_each, deadline):
    """Reads every socket until each has received `want_each` bytes; the time it finished."""
    sel = selectors.DefaultSelector()
    left = {}
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
        left[s] = want_each
    while left and time.time() < deadline:
        for key, _ in sel.select(timeout=1):
            s = key.fileobj
            try:
                data = s.recv(1 << 20)
            except BlockingIOError:
                continue
            if not data:
                sys.exit("a subscriber was disconnected")
            left[s] -= len(data)
            if left[s] <= 0:
                sel.unregister(s)
                del left[s]
    if left:
        sys.exit(f"{len(left)} subscribers never got every message")
    return time.time()


def fanout(server, args):
    channel = "news"
    socks = subscribers(server["port"], args.subscribers, channel)
    message = len(f"*3\r\n$7\r\nmessage\r\n${len(channel)}\r\n{channel}\r\n${len(PAYLOAD)}\r\n{PAYLOAD}\r\n")
    finished = {}
    reader = threading.Thread(target=lambda: finished.setdefault(
        "at", read_until(socks, message * args.messages, time.time() + 300)))
    core_before = core_busy_ticks(args.server_cpus)
    proc_before = cpu_ticks(server["proc"].pid)
    started = time.time()
    reader.start()
    subprocess.run(["taskset", "-c", args.bench_cpus, "redis-benchmark", "-p", str(server["port"]),
                    "-c", "1", "-P", "16", "-n", str(args.messages), "-q",
                    "PUBLISH", channel, PAYLOAD], check=True, capture_output=True)
    reader.join()
    core_ticks = core_busy_ticks(args.server_cpus) - core_before
    proc_ticks = cpu_ticks(server["proc"].pid) - proc_before
    for s in socks:
        s.close()
    delivered = args.subscribers * args.messages
    return {"rate": delivered / (finished["at"] - started),
            "cpu_ns": core_ticks / TICKS * 1e9 / delivered,
            "proc_ns": proc_ticks / TICKS * 1e9 / delivered}


def set_load(server, args, events):
    with socket.create_connection(("127.0.0.1", server["port"])) as admin:
        command(admin, "CONFIG", "SET", "notify-keyspace-events", "KEA" if events else "")
        admin.recv(64)
    listener = socket.create_connection(("127.0.0.1", server["port"]))
    command(listener, "PSUBSCRIBE", "*")
    listener.recv(64)
    stop = threading.Event()

    def drain():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                if not listener.recv(1 << 20):
                    return
            except socket.timeout:
                pass

    reader = threading.Thread(target=drain)
    reader.start()
    core_before = core_busy_ticks(args.server_cpus)
    proc_before = cpu_ticks(server["proc"].pid)
    out = subprocess.run(["taskset", "-c", args.bench_cpus, "redis-benchmark",
                          "-p", str(server["port"]), "-c", "50", "-P", "16", "-r", "100000",
                          "-n", str(args.sets), "-t", "set", "--csv", "-q"],
                         check=True, capture_output=True, text=True).stdout
    core_ticks = core_busy_ticks(args.server_cpus) - core_before
    proc_ticks = cpu_ticks(server["proc"].pid) - proc_before
    stop.set()
    reader.join()
    listener.close()
    rps = float(out.strip().splitlines()[-1].split(",")[1].strip('"'))
    return {"rate": rps, "cpu_ns": core_ticks / TICKS * 1e9 / args.sets,
            "proc_ns": proc_ticks / TICKS * 1e9 / args.sets}


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--subscribers", type=int, default=1000)
    ap.add_argument("--messages", type=int, default=20_000)
    ap.add_argument("--sets", type=int, default=2_000_000)
    ap.add_argument("--threads", default="2")
    ap.add_argument("--server-cpus", default="0")
    ap.add_argument("--bench-cpus", default="1")
    ap.add_argument("--tessera", default=os.path.join(ROOT, "target", "release", "tessera-server"))
    args = ap.parse_args()

    workdir = tempfile.mkdtemp(prefix="tessera-pubsub-")
    common = ["--save", "", "--appendonly", "no", "--maxclients", "10000",
              "--client-output-buffer-limit", "pubsub 0 0 0"]
    rport, tport = free_port(), free_port()
    servers = [
        start("redis", ["taskset", "-c", args.server_cpus, "redis-server", "--port", str(rport),
                        *common, "--dir", workdir], rport),
        start("tessera", ["taskset", "-c", args.server_cpus, args.tessera, "--port", str(tport),
                          "--threads", args.threads, *common, "--dir", workdir], tport),
    ]
    tests = [("fanout", lambda s: fanout(s, args)),
             ("set, no events", lambda s: set_load(s, args, False)),
             ("set, KEA + psubscriber", lambda s: set_load(s, args, True))]
    results = {}
    try:
        for _ in range(args.rounds):
            for name, run in tests:
                for server in servers:
                    results.setdefault((name, server["name"]), []).append(run(server))
    finally:
        for server in servers:
            server["proc"].terminate()
    print(f"{'test':26} {'server':8} {'per second':>12} {'core ns each':>13} {'process ns':>11}")
    for name, _ in tests:
        medians = {}
        for server in servers:
            samples = results[(name, server["name"])]
            medians[server["name"]] = {k: statistics.median(s[k] for s in samples)
                                       for k in ("rate", "cpu_ns", "proc_ns")}
            m = medians[server["name"]]
            print(f"{name:26} {server['name']:8} {m['rate']:12.0f} {m['cpu_ns']:13.0f}"
                  f" {m['proc_ns']:11.0f}")
        r, t = medians["redis"], medians["tessera"]
        print(f"{name:26} {'ratio':8} {t['rate'] / r['rate']:12.2f} {t['cpu_ns'] / r['cpu_ns']:13.2f}"
              f" {t['proc_ns'] / r['proc_ns']:11.2f}")


if __name__ == "__main__":
    main()
