#!/usr/bin/env bash
# Where tessera-server's CPU time goes under a load: starts it pinned to one core, drives it
# with redis-benchmark pinned to the other, records the server with `perf record -e cpu-clock`
# (which works on virtual machines without hardware counters), and writes a flat profile.
#
#   perf/profile.sh [--test get] [--pipeline 1] [--threads 1] [--clients 50] [--seconds 10]
#                   [--out perf/profiles/NAME.txt]
#
# Needs linux-perf and redis-tools (apt-get install -y linux-perf redis-tools) and a release
# build (cargo build --release). The profile lists the symbols taking the most samples, with
# the kernel's share; perf/profiles/ keeps the ones docs/benchmarks.md refers to.
set -euo pipefail
cd "$(dirname "$0")/.."
test=get pipeline=1 threads=1 clients=50 seconds=10 out=""
while [ $# -gt 0 ]; do
  case $1 in
    --test) test=$2; shift 2 ;;
    --pipeline) pipeline=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --clients) clients=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
out=${out:-perf/profiles/$test-P$pipeline-threads$threads.txt}
for tool in perf redis-benchmark taskset; do
  command -v $tool >/dev/null || { echo "$tool is missing" >&2; exit 2; }
done
port=$((20000 + RANDOM % 20000))
work=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
taskset -c 0 target/release/tessera-server --port $port --threads "$threads" --save '' \
  --appendonly no --dir "$work" >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 100); do redis-cli -p $port ping >/dev/null 2>&1 && break; sleep 0.05; done
redis-cli -p $port set key:__rand_int__ x >/dev/null
# Load first, then record a window in the middle of it.
taskset -c 1 redis-benchmark -p $port -t "$test" -P "$pipeline" -c "$clients" \
  -n 100000000 -r 100000 -q >/dev/null 2>&1 &
bench=$!
sleep 1
perf record -e cpu-clock -F 4000 -g -p $server -o "$work/perf.data" -- sleep "$seconds" \
  >/dev/null 2>&1
kill $bench 2>/dev/null || true
mkdir -p "$(dirname "$out")"
report() {
  perf report -i "$work/perf.data" --no-children --stdio -g none "$@" >"$work/report" 2>/dev/null
  grep -v '^#' "$work/report" | grep '%' | sed -e 's/[[:space:]-]*$//' | head -"$LINES"
}
{
  echo "# tessera-server --threads $threads, redis-benchmark -t $test -P $pipeline -c $clients,"
  echo "# server on CPU 0, load on CPU 1; perf record -e cpu-clock over ${seconds}s"
  echo "# $(git rev-parse --short HEAD) $(date -u +%Y-%m-%d)"
  echo
  echo "## By binary (kernel vs Tessera vs libc)"
  LINES=10 report --sort dso
  echo
  echo "## Top symbols"
  LINES=40 report --sort dso,symbol
} >"$out"
echo "wrote $out"
