#!/usr/bin/env python3
"""Bytes per key, Tessera next to Redis: 1M string keys with 16-byte values.

Starts both servers on free ports, fills each with `DEBUG POPULATE <n> key 16` (the same keys
and value sizes on both), and prints `INFO memory` used_memory and the process RSS (from
/proc/PID/statm) per key, each net of the empty server's figure, with the Tessera/Redis ratio.

Usage: bench/memory.py [--keys 1000000] [--threads 1]
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import free_port, start, ROOT  # noqa: E402


def command(port, *args):
    return subprocess.run(["redis-cli", "-p", str(port), *args], check=True, capture_output=True, text=True).stdout


def figures(server):
    info = command(server["port"], "INFO", "memory")
    used = int(next(l.split(":")[1] for l in info.splitlines() if l.startswith("used_memory:")))
    with open(f"/proc/{server['proc'].pid}/statm") as f:
        rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    return used, rss


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keys", type=int, default=1_000_000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tessera", default=os.path.join(ROOT, "target", "release", "tessera-server"))
    args = ap.parse_args()
    workdir = tempfile.mkdtemp(prefix="tessera-mem-")
    rport, tport = free_port(), free_port()
    servers = [
        start("redis", ["redis-server", "--port", str(rport), "--save", "", "--appendonly", "no",
                        "--enable-debug-command", "yes", "--dir", workdir], rport),
        start("tessera", [args.tessera, "--port", str(tport), "--threads", str(args.threads),
                          "--dir", workdir, "--enable-debug-command", "yes"], tport),
    ]
    rows = {}
    try:
        for s in servers:
            base_used, base_rss = figures(s)
            command(s["port"], "DEBUG", "POPULATE", str(args.keys), "key", "16")
            assert int(command(s["port"], "DBSIZE")) == args.keys
            used, rss = figures(s)
            rows[s["name"]] = ((used - base_used) / args.keys, (rss - base_rss) / args.keys)
    finally:
        for s in servers:
            s["proc"].kill()
        shutil.rmtree(workdir, ignore_errors=True)
    r, t = rows["redis"], rows["tessera"]
    print(f"{args.keys} keys, 16-byte values, Tessera --threads {args.threads}\n")
    print("| figure | Redis bytes/key | Tessera bytes/key | ratio |")
    print("|---|---|---|---|")
    print(f"| used_memory | {r[0]:.1f} | {t[0]:.1f} | {t[0] / r[0]:.2f} |")
    print(f"| RSS | {r[1]:.1f} | {t[1]:.1f} | {t[1] / r[1]:.2f} |")


if __name__ == "__main__":
    main()
