#!/usr/bin/env python3
"""What watching commands costs Tessera: the same server with the slow log on and off.

The slow log (on by default, `slowlog-log-slower-than 10000`) needs every command's arguments
after the command ran, which a command that hands them to another shard would have to copy.
This runs one Tessera pinned to core 0 and redis-benchmark pinned to core 1, and alternates
rounds with the slow log on and off in the same server (CONFIG SET between rounds), reporting
the server core's busy time per request (/proc/stat: user, nice, system, irq, softirq) and the
on/off ratio of the medians. Redis is not involved: the question is Tessera against itself.

Usage: bench/observer_cost.py [--rounds 7] [--requests 2000000] [--test get] [--threads 1]
"""

import argparse
import os
import socket
import statistics
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def core_busy(cpu):
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith(f"cpu{cpu} "):
                v = [int(x) for x in line.split()[1:]]
                return v[0] + v[1] + v[2] + v[5] + v[6]
    raise SystemExit(f"no cpu{cpu} in /proc/stat")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--requests", type=int, default=2_000_000)
    ap.add_argument("--test", default="get")
    ap.add_argument("--threads", default="1")
    ap.add_argument("--tessera", default=os.path.join(ROOT, "target", "release", "tessera-server"))
    args = ap.parse_args()
    port = free_port()
    server = subprocess.Popen(
        ["taskset", "-c", "0", args.tessera, "--port", str(port), "--threads", args.threads,
         "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        tick = os.sysconf("SC_CLK_TCK")
        ns = {"on": [], "off": []}
        for _ in range(args.rounds):
            for mode, value in (("on", "10000"), ("off", "-1")):
                subprocess.run(["redis-cli", "-p", str(port), "config", "set",
                                "slowlog-log-slower-than", value], stdout=subprocess.DEVNULL,
                               check=True)
                before = core_busy(0)
                subprocess.run(["taskset", "-c", "1", "redis-benchmark", "-p", str(port),
                                "-t", args.test, "-P", "16", "-c", "50", "-n",
                                str(args.requests), "-q"], stdout=subprocess.DEVNULL, check=True)
                ns[mode].append((core_busy(0) - before) / tick / args.requests * 1e9)
        for mode in ("on", "off"):
            print(f"slow log {mode:3}: {statistics.median(ns[mode]):7.0f} ns of core 0 per request "
                  f"(rounds: {', '.join(f'{v:.0f}' for v in ns[mode])})")
        print(f"on/off: {statistics.median(ns['on']) / statistics.median(ns['off']):.3f}")
    finally:
        server.kill()


if __name__ == "__main__":
    main()
