#!/usr/bin/env python3
"""Tessera vs Redis, side by side in one run.

Starts `tessera-server` and Debian's `redis-server` on free ports, each pinned to core 0,
and drives both with `redis-benchmark` pinned to core 1 (taskset). For every test and
pipeline depth it runs Redis and Tessera alternately for several rounds (interleaved, so
machine noise hits both alike) and prints medians of:

  - throughput (requests/s) and p50/p99 latency, as redis-benchmark reports them;
  - the server's CPU time per request, counted as the busy time of the server's core(s)
    (/proc/stat: user, nice, system, irq, softirq), so that work done in the kernel on the
    server's behalf (softirq network processing, kernel threads) counts too; and, beside it,
    the process's own user+system time (/proc/PID/stat). On a 2-core machine the load
    generator saturates first, so CPU per request is the steadier figure;

each with the Tessera/Redis ratio. Tests are redis-benchmark's (-t set, get, incr, lpush, hset,
zadd, mset...) plus `mix`: tessera-load's memtier-style 1:10 SET:GET load over 100,000 keys with
32-byte values, pinned like redis-benchmark (it reports no latencies); and `evalsha`: EVALSHA of
a rate limiter's script (INCR, and EXPIRE on the first hit) on one key.

`--threads 2,4` runs one Tessera per shard count, all against the same Redis. `--server-cpus
0-1 --bench-cpus 0-1` runs everything unpinned on a 2-core machine: the core figure then counts
the load generator too, and the process figure is the one to read.

Usage: bench/compare.py [--rounds 5] [--tests set,get,incr,mset,mix] [--pipelines 1,16]
                        [--clients 50] [--threads 1] [--requests-p1 200000] [--requests-p16 2000000]
                        [--server-cpus 0] [--bench-cpus 1]
"""

import argparse
import csv
import io
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TICKS = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(port, proc, name):
    deadline = time.time() + 15
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"{name} exited during start-up")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"{name} did not answer PING")


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 of stat(5); after the ')' split they are 11 and 12.
    return int(fields[11]) + int(fields[12])


def cpu_list(spec):
    """The CPUs of a taskset list such as "0", "0,1" or "0-3"."""
    cpus = []
    for part in str(spec).split(","):
        a, _, b = part.partition("-")
        cpus.extend(range(int(a), int(b or a) + 1))
    return cpus


def core_busy_ticks(cores):
    """Busy ticks of the CPUs `cores` (a taskset list) so far: user, nice, system, irq and
    softirq from /proc/stat."""
    wanted = {f"cpu{c}" for c in cpu_list(cores)}
    total = 0
    with open("/proc/stat") as f:
        for line in f:
            name, *values = line.split()
            if name in wanted:
                v = [int(x) for x in values]
                total += v[0] + v[1] + v[2] + v[5] + v[6]
                wanted.discard(name)
    if wanted:
        sys.exit(f"{sorted(wanted)} not in /proc/stat")
    return total


def run_mix(port, pipeline, clients, requests, core):
    cmd = ["taskset", "-c", str(core), os.path.join(ROOT, "target", "release", "tessera-load"),
           "--port", str(port), "--threads", "1", "--clients", str(clients),
           "--pipeline", str(pipeline), "--requests", str(requests // clients), "--ratio", "1:10"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    # "N requests in Ts (R ops/s) over ..."
    rps = float(out.split("(")[1].split()[0])
    return rps, float("nan"), float("nan")


RATE_LIMITER = ("local n = redis.call('incr', KEYS[1]) "
                "if n == 1 then redis.call('expire', KEYS[1], 60) end return n")


def load_script(port, body):
    """SCRIPT LOAD `body`; returns its SHA1."""
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(f"*3\r\n$6\r\nSCRIPT\r\n$4\r\nLOAD\r\n${len(body)}\r\n{body}\r\n".encode())
        reply = s.recv(128)
    if not reply.startswith(b"$40\r\n"):
        sys.exit(f"SCRIPT LOAD failed: {reply!r}")
    return reply[5:45].decode()


def run_benchmark(port, test, pipeline, clients, requests, core):
    if test == "mix":
        return run_mix(port, pipeline, clients, requests, core)
    if test == "evalsha":
        what = ["evalsha", load_script(port, RATE_LIMITER), "1", "hits"]
    else:
        what = ["-t", test]
    # A command to run (evalsha) must come after redis-benchmark's options.
    cmd = ["taskset", "-c", str(core), "redis-benchmark", "-p", str(port),
           "-P", str(pipeline), "-c", str(clients), "-n", str(requests), "--csv", "-q", *what]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    rows = [r for r in csv.DictReader(io.StringIO(out))]
    if not rows:
        sys.exit(f"redis-benchmark printed nothing for {test}: {out!r}")
    # MSET's row is named "MSET (10 keys)"; one row per -t test.
    row = rows[0]
    return float(row["rps"]), float(row["p50_latency_ms"]), float(row["p99_latency_ms"])


def measure(server, test, pipeline, args, bench_core):
    requests = args.requests_p1 if pipeline == 1 else args.requests_p16
    before, core_before = cpu_ticks(server["proc"].pid), core_busy_ticks(args.server_cpus)
    rps, p50, p99 = run_benchmark(server["port"], test, pipeline, args.clients, requests, bench_core)
    ticks = cpu_ticks(server["proc"].pid) - before
    core_ticks = core_busy_ticks(args.server_cpus) - core_before
    return {"rps": rps, "p50": p50, "p99": p99,
            "cpu_us": core_ticks / TICKS * 1e6 / requests,
            "proc_us": ticks / TICKS * 1e6 / requests}


def start(name, cmd, port):
    log = open(os.path.join(tempfile.gettempdir(), f"bench-{name}.log"), "w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    wait_ready(port, proc, name)
    return {"name": name, "proc": proc, "port": port}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--tests", default="set,get,incr,mset")
    ap.add_argument("--pipelines", default="1,16")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--threads", default="1", help="Tessera shards; a list runs one Tessera each")
    ap.add_argument("--requests-p1", type=int, default=200_000)
    ap.add_argument("--requests-p16", type=int, default=2_000_000)
    ap.add_argument("--server-cpus", "--server-core", default="0", help="taskset list")
    ap.add_argument("--bench-cpus", "--bench-core", default="1", help="taskset list")
    ap.add_argument("--tessera", default=os.path.join(ROOT, "target", "release", "tessera-server"))
    ap.add_argument("--appendfsync", choices=["always", "everysec", "no"],
                    help="run both servers with appendonly yes and this fsync policy")
    args = ap.parse_args()
    aof = ["--appendonly", "no"]
    if args.appendfsync:
        aof = ["--appendonly", "yes", "--appendfsync", args.appendfsync]

    for tool in ("redis-server", "redis-benchmark", "taskset"):
        if not shutil.which(tool):
            sys.exit(f"{tool} not found: apt-get install -y redis-server redis-tools util-linux")
    if not os.path.exists(args.tessera):
        sys.exit(f"{args.tessera} not found: cargo build --release")

    workdir = tempfile.mkdtemp(prefix="tessera-bench-")
    threads = args.threads.split(",")
    names = ["tessera"] if len(threads) == 1 else [f"tessera-{n}" for n in threads]
    for sub in ["redis", *names]:
        os.mkdir(os.path.join(workdir, sub))
    cpus = args.server_cpus
    rport = free_port()
    servers = [start("redis", ["taskset", "-c", cpus, "redis-server", "--port", str(rport),
                               "--save", "", *aof, "--dir", os.path.join(workdir, "redis")], rport)]
    for name, n in zip(names, threads):
        port = free_port()
        servers.append(start(name, ["taskset", "-c", cpus, args.tessera, "--port", str(port),
                                    "--threads", n, "--save", "", *aof,
                                    "--dir", os.path.join(workdir, name)], port))
    results = {}  # (test, pipeline, server) -> list of samples
    try:
        for rnd in range(args.rounds):
            for pipeline in [int(p) for p in args.pipelines.split(",")]:
                for test in args.tests.split(","):
                    # Alternate which server goes first so drift does not favour either.
                    order = servers if rnd % 2 == 0 else servers[::-1]
                    for s in order:
                        sample = measure(s, test, pipeline, args, args.bench_cpus)
                        results.setdefault((test, pipeline, s["name"]), []).append(sample)
            print(f"round {rnd + 1}/{args.rounds} done", file=sys.stderr)
    finally:
        for s in servers:
            s["proc"].kill()
        shutil.rmtree(workdir, ignore_errors=True)

    def med(test, pipeline, name, field):
        return statistics.median(x[field] for x in results[(test, pipeline, name)])

    persistence = f"appendfsync {args.appendfsync}" if args.appendfsync else "no AOF"
    print(f"\nTessera (--threads {args.threads}) vs Redis {redis_version()}, {persistence}: medians of {args.rounds} "
          f"interleaved rounds, {args.clients} clients, servers on CPUs {args.server_cpus}, "
          f"load generator on CPUs {args.bench_cpus}\n")
    header = ("| test | -P | server | Redis rps | Tessera rps | ratio | Redis p50/p99 ms | Tessera p50/p99 ms "
              "| Redis core µs/req | Tessera core µs/req | core ratio | process µs/req R/T | process ratio |")
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    fields = ("rps", "p50", "p99", "cpu_us", "proc_us")
    for pipeline in [int(p) for p in args.pipelines.split(",")]:
        for test, name in [(t, n) for t in args.tests.split(",") for n in names]:
            r = {f: med(test, pipeline, "redis", f) for f in fields}
            t = {f: med(test, pipeline, name, f) for f in fields}
            print(f"| {test} | {pipeline} | {name} | {r['rps']:.0f} | {t['rps']:.0f} | {t['rps'] / r['rps']:.2f} "
                  f"| {r['p50']:.3f}/{r['p99']:.3f} | {t['p50']:.3f}/{t['p99']:.3f} "
                  f"| {r['cpu_us']:.2f} | {t['cpu_us']:.2f} | {t['cpu_us'] / r['cpu_us']:.2f} "
                  f"| {r['proc_us']:.2f}/{t['proc_us']:.2f} | {t['proc_us'] / r['proc_us']:.2f} |")


def redis_version():
    out = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout
    for part in out.split():
        if part.startswith("v="):
            return part[2:]
    return "?"


if __name__ == "__main__":
    main()
