#!/usr/bin/env python3
"""Multi-shard transactions: Tessera vs Redis, side by side in one run.

Three measurements, each with one client doing one request at a time (the lone-client case a
latency-sensitive cache cares about), against Tessera with --threads 4 and Redis, both pinned
to one core with the client on the other, interleaved over several rounds:

  multi4    MULTI, four SETs whose keys live on four different shards, EXEC (sent together,
            as client libraries send a transaction)
  mget4     MGET of four keys on four shards, next to `mget4-local`: four keys of one shard
  move10 / move1m
            RPOPLPUSH between two lists on different shards, back and forth, with lists of
            10 and of 1,000,000 elements: the cost of a move must not depend on the length
  mset80k / mget80k
            one MSET of 80,000 keys, one MGET of them (spread over every shard): locking
            must not be quadratic (run 20 times whatever --requests says)
  evalsha1  EVALSHA of a rate limiter's script (INCR, and EXPIRE on the first hit) on one key
  evalsha2  EVALSHA of a transfer: DECRBY and INCRBY on two keys on different shards
  fcall1    the rate limiter as a function, by FCALL

For each: the client's p50 and p99 round trip, and the server's CPU time per request, counted
as the busy time of the server's core (/proc/stat: user, nice, system, irq, softirq), so that
work done in the kernel on the server's behalf counts too. Ratios are Tessera/Redis.

Usage: bench/tx.py [--rounds 3] [--requests 20000] [--threads 4]
"""

import argparse
import hashlib
import os
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import core_busy_ticks as core_busy, free_port, redis_version, start  # noqa: E402
from resp import Client, encode  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TICKS = os.sysconf("SC_CLK_TCK")


def keys_on_shards(shards, n, prefix):
    """n keys on n different shards, by Tessera's placement (CRC16 slot, contiguous ranges);
    with fewer shards than keys, n keys."""
    if shards < n:
        return [f"{prefix}{i}" for i in range(n)]
    found, i = {}, 0
    while len(found) < n:
        k = f"{prefix}{i}"
        shard = slot(k.encode()) * shards // 16384
        found.setdefault(shard, k)
        i += 1
    return [found[s] for s in sorted(found)][:n]


def crc16(data):
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def slot(key):
    s = key.find(b"{")
    if s >= 0:
        e = key.find(b"}", s + 1)
        if e > s + 1:
            key = key[s + 1:e]
    return crc16(key) % 16384


def scenario(name, shards):
    """(setup, requests) for a scenario: setup(client) prepares data; each request is a list
    of commands sent together, whose replies are all read before the next."""
    if name == "multi4":
        k = keys_on_shards(shards, 4, "mk")
        req = encode("MULTI") + b"".join(encode("SET", x, "v") for x in k) + encode("EXEC")
        return None, [(req, 6)]
    if name in ("mget4", "mget4-local"):
        k = keys_on_shards(shards, 4, "gk") if name == "mget4" else [f"{{h}}g{i}" for i in range(4)]

        def setup(c):
            c.call("MSET", *[x for key in k for x in (key, "value")])
        return setup, [(encode("MGET", *k), 1)]
    if name in ("mset80k", "mget80k"):
        k = [f"big:{i}" for i in range(80_000)]
        mset = encode("MSET", *[x for key in k for x in (key, "v")])
        if name == "mset80k":
            return None, [(mset, 1)]

        def setup(c):
            c.sock.sendall(mset)
            c.reply()
        return setup, [(encode("MGET", *k), 1)]
    if name in ("evalsha1", "fcall1"):
        limiter = ("local n = redis.call('incr', KEYS[1]) "
                   "if n == 1 then redis.call('expire', KEYS[1], 60) end return n")
        if name == "fcall1":
            library = f"#!lua name=bench\nredis.register_function('limit', function(KEYS) {limiter} end)"

            def setup(c):
                c.call("FUNCTION", "LOAD", "REPLACE", library)
            return setup, [(encode("FCALL", "limit", 1, "hits"), 1)]
        sha = hashlib.sha1(limiter.encode()).hexdigest()
        return (lambda c: c.call("SCRIPT", "LOAD", limiter)), [(encode("EVALSHA", sha, 1, "hits"), 1)]
    if name == "evalsha2":
        transfer = "redis.call('decrby', KEYS[1], 1) return redis.call('incrby', KEYS[2], 1)"
        a, b = keys_on_shards(shards, 2, "acct")
        sha = hashlib.sha1(transfer.encode()).hexdigest()
        return (lambda c: c.call("SCRIPT", "LOAD", transfer)), [(encode("EVALSHA", sha, 2, a, b), 1)]
    if name.startswith("move"):
        length = 10 if name == "move10" else 1_000_000
        a, b = keys_on_shards(shards, 2, "list")

        def setup(c):
            c.call("DEL", a, b)
            for key in (a, b):
                for start in range(0, length, 10_000):
                    c.call("RPUSH", key, *range(start, min(length, start + 10_000)))
        return setup, [(encode("RPOPLPUSH", a, b), 1), (encode("RPOPLPUSH", b, a), 1)]
    sys.exit(f"unknown scenario {name}")


def measure(server, name, shards, requests, core):
    setup, reqs = scenario(name, shards)
    if name.endswith("80k"):
        requests = 20
    c = Client(server["port"])
    if setup:
        setup(c)
    for i in range(min(200, requests)):  # warm up
        req, n = reqs[i % len(reqs)]
        c.sock.sendall(req)
        for _ in range(n):
            c.reply()
    lat = []
    busy0 = core_busy(core)
    for i in range(requests):
        req, n = reqs[i % len(reqs)]
        t = time.perf_counter_ns()
        c.sock.sendall(req)
        for _ in range(n):
            c.reply()
        lat.append(time.perf_counter_ns() - t)
    busy = core_busy(core) - busy0
    c.sock.close()
    lat.sort()
    return {
        "p50": lat[len(lat) // 2] / 1000,
        "p99": lat[len(lat) * 99 // 100] / 1000,
        "cpu": busy / TICKS * 1e6 / requests,
    }


def ratio(a, b):
    return f"{a / b:.2f}" if b else "n/a"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--requests", type=int, default=20_000)
    ap.add_argument("--threads", type=int, default=4, help="Tessera shards")
    ap.add_argument("--scenarios", default="multi4,mget4,mget4-local,move10,move1m")
    ap.add_argument("--server-core", type=int, default=0)
    ap.add_argument("--client-core", type=int, default=1)
    ap.add_argument("--tessera", default=os.path.join(ROOT, "target", "release", "tessera-server"))
    args = ap.parse_args()
    if not shutil.which("redis-server"):
        sys.exit("redis-server not found: apt-get install -y redis-server")
    if not os.path.exists(args.tessera):
        sys.exit(f"{args.tessera} not found: cargo build --release")
    os.sched_setaffinity(0, {args.client_core})
    workdir = tempfile.mkdtemp(prefix="tessera-bench-tx-")
    rport, tport = free_port(), free_port()
    core = str(args.server_core)
    servers = [
        start("redis", ["taskset", "-c", core, "redis-server", "--port", str(rport), "--save", "",
                        "--appendonly", "no", "--dir", workdir], rport),
        start("tessera", ["taskset", "-c", core, args.tessera, "--port", str(tport),
                          "--threads", str(args.threads), "--save", "", "--appendonly", "no",
                          "--dir", workdir], tport),
    ]
    names = args.scenarios.split(",")
    results = {}
    try:
        for rnd in range(args.rounds):
            for name in names:
                order = servers if rnd % 2 == 0 else servers[::-1]
                for s in order:
                    # The same keys for both: those that land on different Tessera shards.
                    results.setdefault((name, s["name"]), []).append(
                        measure(s, name, args.threads, args.requests, args.server_core))
            print(f"round {rnd + 1}/{args.rounds} done", file=sys.stderr)
    finally:
        for s in servers:
            s["proc"].kill()
        shutil.rmtree(workdir, ignore_errors=True)

    def med(name, server, field):
        return statistics.median(x[field] for x in results[(name, server)])

    print(f"\nTessera (--threads {args.threads}) vs Redis {redis_version()}: one client, one request at "
          f"a time, {args.requests} requests, medians of {args.rounds} interleaved rounds; servers on "
          f"core {args.server_core}, client on core {args.client_core}\n")
    print("| scenario | Redis p50/p99 µs | Tessera p50/p99 µs | p50 ratio | p99 ratio "
          "| Redis CPU µs/req | Tessera CPU µs/req | CPU ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for name in names:
        r = {f: med(name, "redis", f) for f in ("p50", "p99", "cpu")}
        t = {f: med(name, "tessera", f) for f in ("p50", "p99", "cpu")}
        print(f"| {name} | {r['p50']:.1f}/{r['p99']:.1f} | {t['p50']:.1f}/{t['p99']:.1f} "
              f"| {t['p50'] / r['p50']:.2f} | {t['p99'] / r['p99']:.2f} "
              f"| {r['cpu']:.1f} | {t['cpu']:.1f} | {ratio(t['cpu'], r['cpu'])} |")


if __name__ == "__main__":
    main()
