#!/usr/bin/env python3
"""RDB snapshots, Tessera next to Redis in the same run: BGSAVE under a write load, then loading.

For each size (--keys, e.g. 1000000,5000000) and each round, for Redis then Tessera (one shard,
server pinned to core 0, load generator to core 1):

1. fill the server with N string keys `key:<i>` of --value-size bytes (redis-cli --pipe);
2. start a write load (redis-benchmark SET on random keys of the same key space, -P 16), let it
   run a second, then BGSAVE;
3. while the child runs, sample the RSS of the server and of its child every 10 ms
   (/proc/PID/statm, children from /proc/PID/task/*/children): the peak of their sum;
4. read `latest_fork_usec` (how long the server stood still: for Tessera, freezing every shard,
   forking and letting go) and time the BGSAVE from start to rdb_bgsave_in_progress:0;
5. stop the load, SAVE once more (same data for both loads), restart the server on the file
   and time from exec to the first PONG: keys/s and MB/s; then once more on every core (Tessera
   with one shard per core, Redis unpinned).

With --child aof both servers run with `appendonly yes` and step 2 is BGREWRITEAOF instead:
the pause, duration and peak RSS are the AOF rewrite's, and step 5 loads the rewritten AOF
(base plus what the load logged after it) instead of a SAVE.

Prints medians over rounds, per GiB of used_memory for the pause, and the Tessera/Redis ratios.

Usage: bench/persist.py [--keys 1000000,5000000] [--rounds 3] [--value-size 100] [--child rdb|aof]
"""

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import free_port, ROOT  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE")


def cli(port, *args):
    return subprocess.run(["redis-cli", "-p", str(port), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def info(port, section):
    out = {}
    for line in cli(port, "INFO", section).splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            out[k] = v.strip()
    return out


def rss(pid):
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE
    except OSError:
        return 0


def children(pid):
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return out


def ping(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def launch(kind, port, workdir, tessera, threads=1, cores="0", aof=False):
    # No automatic rewrite: the one measured is the one asked for.
    appendonly = ["--appendonly", "yes", "--auto-aof-rewrite-percentage", "0"] if aof else \
        ["--appendonly", "no"]
    if kind == "redis":
        cmd = ["redis-server", "--port", str(port), "--save", "", *appendonly, "--dir", workdir]
    else:
        cmd = [tessera, "--port", str(port), "--threads", str(threads), "--save", "", *appendonly,
               "--dir", workdir]
    log = open(os.path.join(workdir, f"{kind}.log"), "a")
    started = time.monotonic()
    proc = subprocess.Popen(["taskset", "-c", cores, *cmd], stdout=log, stderr=subprocess.STDOUT)
    while not ping(port):
        if proc.poll() is not None:
            sys.exit(f"{kind} exited; see {workdir}/{kind}.log")
        time.sleep(0.002)
    return proc, time.monotonic() - started


def fill(port, n, size):
    pipe = subprocess.Popen(["redis-cli", "-p", str(port), "--pipe"], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL)
    value = b"v" * size
    chunk = []
    for i in range(n):
        key = b"key:%d" % i
        chunk.append(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(key), key, size, value))
        if len(chunk) == 10000:
            pipe.stdin.write(b"".join(chunk))
            chunk = []
    pipe.stdin.write(b"".join(chunk))
    pipe.stdin.close()
    assert pipe.wait() == 0


def one(kind, n, args):
    workdir = tempfile.mkdtemp(prefix=f"tessera-persist-{kind}-")
    port = free_port()
    aof = args.child == "aof"
    proc, _ = launch(kind, port, workdir, args.tessera, aof=aof)
    try:
        fill(port, n, args.value_size)
        used = int(info(port, "memory")["used_memory"])
        load = subprocess.Popen(["taskset", "-c", "1", "redis-benchmark", "-p", str(port), "-t", "set",
                                 "-r", str(n), "-n", "100000000", "-P", "16", "-c", "20", "-d",
                                 str(args.value_size), "-q"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(1)
        base = rss(proc.pid)
        t0 = time.monotonic()
        if aof:
            started, running, status_field = ("BGREWRITEAOF", "aof_rewrite_in_progress",
                                              "aof_last_bgrewrite_status")
            assert cli(port, started) == "Background append only file rewriting started"
        else:
            started, running, status_field = ("BGSAVE", "rdb_bgsave_in_progress",
                                              "rdb_last_bgsave_status")
            assert cli(port, started) == "Background saving started"
        peak = base
        while True:
            kids = children(proc.pid)
            peak = max(peak, rss(proc.pid) + sum(rss(k) for k in kids))
            if info(port, "persistence")[running] == "0":
                break
            time.sleep(0.01)
        took = time.monotonic() - t0
        status = info(port, "persistence")[status_field]
        fork_us = int(info(port, "stats")["latest_fork_usec"])
        load.terminate()
        load.wait()
        assert status == "ok", f"{kind} {started} failed"
        if aof:
            aof_dir = os.path.join(workdir, "appendonlydir")
            size = sum(os.path.getsize(os.path.join(aof_dir, f)) for f in os.listdir(aof_dir))
        else:
            assert cli(port, "SAVE") == "OK"
            size = os.path.getsize(os.path.join(workdir, "dump.rdb"))
        keys = int(cli(port, "DBSIZE"))
        proc.terminate()
        proc.wait()
        proc, load_s = launch(kind, port, workdir, args.tessera, aof=aof)
        assert int(cli(port, "DBSIZE")) == keys
        # Every core: Tessera with one shard per core decodes in parallel; Redis loads on one
        # thread wherever it runs.
        proc.terminate()
        proc.wait()
        cores = os.cpu_count() or 1
        proc, load_all_s = launch(kind, port, workdir, args.tessera, threads=cores,
                                  cores=f"0-{cores - 1}", aof=aof)
        assert int(cli(port, "DBSIZE")) == keys
        result = {
            "pause_ms": fork_us / 1000,
            "pause_ms_per_gib": fork_us / 1000 / (used / 2**30),
            "child_s": took,
            "peak_rss_mib": peak / 2**20,
            "base_rss_mib": base / 2**20,
            "load_s": load_s,
            "load_s_all_cores": load_all_s,
            "load_keys_per_s": keys / load_s,
            "load_keys_per_s_all_cores": keys / load_all_s,
            "load_mb_per_s": size / 1e6 / load_s,
            "file_mb": size / 1e6,
            "used_mib": used / 2**20,
        }
    except BaseException:
        proc.terminate()
        proc.wait()
        print(f"{kind} failed; its files and log are kept in {workdir}", file=sys.stderr)
        raise
    proc.terminate()
    proc.wait()
    shutil.rmtree(workdir, ignore_errors=True)
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keys", default="1000000")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--value-size", type=int, default=100)
    ap.add_argument("--child", choices=["rdb", "aof"], default="rdb",
                    help="what the child writes: BGSAVE's snapshot or BGREWRITEAOF's base")
    ap.add_argument("--tessera", default=os.path.join(ROOT, "target", "release", "tessera-server"))
    args = ap.parse_args()
    for tool in ("redis-server", "redis-benchmark", "redis-cli", "taskset"):
        if not shutil.which(tool):
            sys.exit(f"{tool} not found: apt-get install -y redis-server redis-tools util-linux")
    fields = ["used_mib", "file_mb", "pause_ms", "pause_ms_per_gib", "child_s", "base_rss_mib",
              "peak_rss_mib", "load_s", "load_keys_per_s", "load_mb_per_s", "load_s_all_cores",
              "load_keys_per_s_all_cores"]
    for n in [int(k) for k in args.keys.split(",")]:
        samples = {"redis": [], "tessera": []}
        for _ in range(args.rounds):
            for kind in ("redis", "tessera"):
                samples[kind].append(one(kind, n, args))
        what = "BGREWRITEAOF" if args.child == "aof" else "BGSAVE"
        print(f"\n{n} keys, {args.value_size}-byte values, {what}, medians of {args.rounds} "
              "interleaved rounds")
        print(f"{'figure':<27}{'redis':>12}{'tessera':>12}{'ratio':>8}")
        for f in fields:
            r = statistics.median(s[f] for s in samples["redis"])
            t = statistics.median(s[f] for s in samples["tessera"])
            print(f"{f:<27}{r:>12.2f}{t:>12.2f}{(t / r if r else float('nan')):>8.2f}")


if __name__ == "__main__":
    main()
