#!/usr/bin/env python3
"""Peak memory of big replies, Tessera next to Redis (issue 17's probes).

Each probe runs on a fresh server (so that memory freed by one probe cannot hide the next
one's): LRANGE 0 -1 of a 10M-element list (elements "0".."9999999"), SRANDMEMBER -10000000 of
a 1M-member set, and a SET of a 500 MB argument; each reply is read whole. Prints the growth
of peak RSS (VmHWM) over the RSS just before the probe, and the probe's wall time, for both
servers and their ratio.

Usage: bench/big_reply.py [--tessera target/release/tessera-server] [--threads 2]
"""
import argparse, os, socket, subprocess, sys, time

from resp import encode


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def status(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(field)


def reset_peak(pid):
    # Writing 5 to clear_refs resets VmHWM to the current RSS.
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")


def read_reply(f):
    """Reads one reply, counting its bytes without keeping them."""
    line = f.readline()
    kind, rest = line[:1], line[1:-2]
    if kind in (b"+", b"-", b":"):
        return len(line)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return len(line)
        left = n + 2
        while left:
            left -= len(f.read(min(left, 1 << 20)))
        return len(line) + n + 2
    if kind == b"*":
        total = len(line)
        for _ in range(max(int(rest), 0)):
            total += read_reply(f)
        return total
    raise ValueError(line)


def command(sock, f, *args):
    sock.sendall(encode(*args))
    return read_reply(f)


def fill(sock, f, command, key, n):
    batch = 10000
    for start in range(0, n, batch):
        sock.sendall(encode(command, key, *range(start, start + batch)))
        read_reply(f)


PROBES = [
    ("LRANGE 0 -1 (10M)", ("RPUSH", "list", 10_000_000), ("LRANGE", "list", 0, -1)),
    ("SRANDMEMBER -10M", ("SADD", "set", 1_000_000), ("SRANDMEMBER", "set", -10_000_000)),
    ("SET 500 MB", None, ("SET", "big", b"x" * (500 << 20))),
]


def probe(pid, port, setup, args):
    sock = socket.create_connection(("127.0.0.1", port))
    f = sock.makefile("rb", buffering=1 << 20)
    if setup:
        fill(sock, f, *setup)
    time.sleep(0.5)
    before = status(pid, "VmRSS")
    reset_peak(pid)
    started = time.monotonic()
    command(sock, f, *args)
    elapsed = time.monotonic() - started
    return status(pid, "VmHWM") - before, elapsed


def run(cmd):
    return {name: run_one(cmd, setup, args) for name, setup, args in PROBES}


def run_one(cmd, setup, args):
    port = free_port()
    proc = subprocess.Popen(cmd + ["--port", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, cwd="/tmp")
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port)).close()
                break
            except OSError:
                time.sleep(0.05)
        return probe(proc.pid, port, setup, args)
    finally:
        proc.kill()
        proc.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tessera", default="target/release/tessera-server")
    ap.add_argument("--threads", default="2")
    a = ap.parse_args()
    common = ["--save", "", "--appendonly", "no", "--proto-max-bulk-len", "1gb"]
    redis = run(["redis-server"] + common)
    tessera = run([os.path.abspath(a.tessera), "--threads", a.threads] + common)
    print("| probe | Redis peak growth MB | Tessera peak growth MB | ratio | Redis s | Tessera s |")
    print("|---|---|---|---|---|---|")
    for name in redis:
        (rm, rt), (tm, tt) = redis[name], tessera[name]
        ratio = tm / rm if rm > 0 else float("inf")
        print(f"| {name} | {rm / 2**20:.0f} | {tm / 2**20:.0f} | {ratio:.2f} | {rt:.2f} | {tt:.2f} |")


if __name__ == "__main__":
    sys.exit(main())
