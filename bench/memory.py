#!/usr/bin/env python3
"""Memory per key and per element, Tessera next to Redis, for one workload:

- strings: N string keys with 16-byte values (`DEBUG POPULATE N key 16`);
- hashes: N hashes `hash:<i>` of 10 fields `field:<j>` = `value:<j>` (compact encoding);
- sets: N sets `set:<i>` of 10 small integers (intset);
- zset: one sorted set of N members `member:<i>`, score i (skiplist);
- list: one list of N elements `element:<i>` (quicklist).

Starts both servers on free ports, fills each with the same data (redis-cli --pipe), and prints
`INFO memory` used_memory and the process RSS (from /proc/PID/statm), each net of the empty
server's figure, per key and per element, with the Tessera/Redis ratio.

Usage: bench/memory.py [--workload strings] [--keys 1000000] [--threads 1]
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


def resp(*args):
    out = [f"*{len(args)}\r\n"]
    for a in args:
        a = str(a)
        out.append(f"${len(a.encode())}\r\n{a}\r\n")
    return "".join(out)


def workload_commands(name, n):
    """The commands that build the workload, and its (keys, elements)."""
    if name == "hashes":
        fields = [x for j in range(10) for x in (f"field:{j}", f"value:{j}")]
        return (resp("HSET", f"hash:{i}", *fields) for i in range(n)), (n, 10 * n)
    if name == "sets":
        return (resp("SADD", f"set:{i}", *[(i % 1000) + 10 * j for j in range(10)]) for i in range(n)), (n, 10 * n)
    if name == "zset":
        def zadds():
            for start in range(0, n, 1000):
                pairs = [x for i in range(start, min(start + 1000, n)) for x in (i, f"member:{i}")]
                yield resp("ZADD", "zset", *pairs)
        return zadds(), (1, n)
    if name == "list":
        def rpushes():
            for start in range(0, n, 1000):
                yield resp("RPUSH", "list", *[f"element:{i}" for i in range(start, min(start + 1000, n))])
        return rpushes(), (1, n)
    raise SystemExit(f"unknown workload {name}")


def fill(server, workload, n):
    """Builds the workload on `server`; returns (keys, elements)."""
    if workload == "strings":
        command(server["port"], "DEBUG", "POPULATE", str(n), "key", "16")
        return n, n
    commands, counts = workload_commands(workload, n)
    pipe = subprocess.Popen(["redis-cli", "-p", str(server["port"]), "--pipe"], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, text=True)
    for c in commands:
        pipe.stdin.write(c)
    pipe.stdin.close()
    assert pipe.wait() == 0, "redis-cli --pipe failed"
    return counts


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workload", default="strings", choices=["strings", "hashes", "sets", "zset", "list"])
    ap.add_argument("--keys", type=int, default=1_000_000, help="keys, or elements for zset and list")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tessera", default=os.path.join(ROOT, "target", "release", "tessera-server"))
    args = ap.parse_args()
    workdir = tempfile.mkdtemp(prefix="tessera-mem-")
    rport, tport = free_port(), free_port()
    servers = [
        start("redis", ["redis-server", "--port", str(rport), "--save", "", "--appendonly", "no",
                        "--enable-debug-command", "yes", "--dir", workdir], rport),
        start("tessera", [args.tessera, "--port", str(tport), "--threads", str(args.threads),
                          "--save", "", "--dir", workdir, "--enable-debug-command", "yes"], tport),
    ]
    rows = {}
    try:
        for s in servers:
            base_used, base_rss = figures(s)
            keys, elements = fill(s, args.workload, args.keys)
            assert int(command(s["port"], "DBSIZE")) == keys
            used, rss = figures(s)
            encoding = command(s["port"], "OBJECT", "ENCODING", command(s["port"], "RANDOMKEY").strip()).strip()
            rows[s["name"]] = (used - base_used, rss - base_rss, encoding)
    finally:
        for s in servers:
            s["proc"].kill()
        shutil.rmtree(workdir, ignore_errors=True)
    r, t = rows["redis"], rows["tessera"]
    print(f"workload {args.workload}: {keys} keys, {elements} elements, encoding Redis {r[2]} / Tessera {t[2]}, "
          f"Tessera --threads {args.threads}\n")
    print("| figure | Redis bytes/key | Tessera bytes/key | Redis bytes/element | Tessera bytes/element | ratio |")
    print("|---|---|---|---|---|---|")
    for name, i in (("used_memory", 0), ("RSS", 1)):
        print(f"| {name} | {r[i] / keys:.1f} | {t[i] / keys:.1f} | {r[i] / elements:.1f} | {t[i] / elements:.1f} "
              f"| {t[i] / r[i]:.2f} |")


if __name__ == "__main__":
    main()
