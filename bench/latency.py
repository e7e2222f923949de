#!/usr/bin/env python3
"""A lone client's round trip: Tessera vs Redis, as a user runs them.

One connection, one request at a time, for GET, SET, INCR, LPUSH, ZADD, an MGET of four keys on
different shards and an LMOVE between two lists on different shards, against Redis and against
Tessera with each `--threads` given (unpinned: the way a user starts it on this machine),
interleaved over several rounds. Two clients: `redis-benchmark -c 1 -P 1`, whose percentiles
come in coarse buckets (31, 39, 47 µs...), and `tessera-latency` (tools/latency.rs, Rust),
which times each request to the nanosecond. Prints the medians of p50 and p99 and their ratios
to Redis's. The targets (issue 18): p50 at most Redis's, p99 at most 1.1x.

Usage: bench/latency.py [--rounds 3] [--requests 20000] [--threads 1,2,4] [--tests get,mget4]
                        [--clients redis-benchmark,tessera-latency]
"""

import argparse
import csv
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import ROOT, free_port, redis_version, start  # noqa: E402
from resp import Client  # noqa: E402

# Keys whose hash slots fall in different quarters of the slot space, so that with two or four
# shards they live on different shards (as in the measurement).
MGET_KEYS = ["{b}k", "{c}k", "{x}k", "{a}k"]
LMOVE = ["LMOVE", "{a}src", "{b}dst", "LEFT", "RIGHT"]

TESTS = {
    "get": ["GET", "key"],
    "set": ["SET", "key", "value"],
    "incr": ["INCR", "counter"],
    "lpush": ["LPUSH", "list", "element"],
    "zadd": ["ZADD", "zset", "1", "member"],
    "mget4": ["MGET", *MGET_KEYS],
    "lmove": LMOVE,
}


def prepare(port, test, requests):
    c = Client(port)
    c.call("SET", "key", "value")
    c.call("MSET", *[x for k in MGET_KEYS for x in (k, "value")])
    if test == "lmove":
        c.call("DEL", "{a}src", "{b}dst")
        for i in range(0, requests + 1000, 5000):
            c.call("RPUSH", "{a}src", *range(i, i + 5000))
    c.sock.close()


def run(port, test, requests, client):
    prepare(port, test, requests)
    if client == "tessera-latency":
        cmd = [os.path.join(ROOT, "target", "release", "tessera-latency"), "--port", str(port),
               "--requests", str(requests), *TESTS[test]]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.split()
        fields = dict(zip(out[::2], out[1::2]))
        return float(fields["p50"]), float(fields["p99"])
    cmd = ["redis-benchmark", "-p", str(port), "-c", "1", "-P", "1", "-n", str(requests),
           "--csv", "-q", *TESTS[test]]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    if not rows:
        sys.exit(f"redis-benchmark printed nothing for {test}: {out!r}")
    return float(rows[0]["p50_latency_ms"]) * 1000, float(rows[0]["p99_latency_ms"]) * 1000


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--requests", type=int, default=20_000)
    ap.add_argument("--threads", default="1,2,4")
    ap.add_argument("--tests", default=",".join(TESTS))
    ap.add_argument("--clients", default="redis-benchmark,tessera-latency")
    ap.add_argument("--tessera", default=os.path.join(ROOT, "target", "release", "tessera-server"))
    args = ap.parse_args()
    for tool in ("redis-server", "redis-benchmark"):
        if not shutil.which(tool):
            sys.exit(f"{tool} not found: apt-get install -y redis-server redis-tools")
    workdir = tempfile.mkdtemp(prefix="tessera-bench-latency-")
    servers = []
    port = free_port()
    servers.append(start("redis", ["redis-server", "--port", str(port), "--save", "",
                                   "--appendonly", "no", "--dir", workdir], port))
    for n in args.threads.split(","):
        port = free_port()
        servers.append(start(f"tessera-{n}", [args.tessera, "--port", str(port), "--threads", n,
                                              "--save", "", "--appendonly", "no",
                                              "--dir", workdir], port))
    tests = args.tests.split(",")
    clients = args.clients.split(",")
    samples = {}
    try:
        for rnd in range(args.rounds):
            for client in clients:
                for test in tests:
                    order = servers if rnd % 2 == 0 else servers[::-1]
                    for s in order:
                        samples.setdefault((client, test, s["name"]), []).append(
                            run(s["port"], test, args.requests, client))
            print(f"round {rnd + 1}/{args.rounds} done", file=sys.stderr)
    finally:
        for s in servers:
            s["proc"].kill()
        shutil.rmtree(workdir, ignore_errors=True)

    names = [s["name"] for s in servers[1:]]
    for client in clients:
        def med(test, name, i):
            return statistics.median(x[i] for x in samples[(client, test, name)])

        print(f"\nA lone client ({client}, one connection, one request at a time, "
              f"{args.requests} requests) against Redis {redis_version()} and Tessera, unpinned; "
              f"medians of {args.rounds} interleaved rounds, µs; ratio = Tessera/Redis\n")
        header = "| test | Redis p50/p99 | " + " | ".join(
            f"{n} p50/p99 | ratio" for n in names) + " |"
        print(header)
        print("|" + "---|" * (header.count("|") - 1))
        for test in tests:
            r50, r99 = med(test, "redis", 0), med(test, "redis", 1)
            cells = [f"{r50:.1f}/{r99:.1f}"]
            for n in names:
                t50, t99 = med(test, n, 0), med(test, n, 1)
                cells.append(f"{t50:.1f}/{t99:.1f}")
                cells.append(f"{t50 / r50:.2f}/{t99 / r99:.2f}")
            print(f"| {test} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
