#!/usr/bin/env bash
# One connection pipelining GETs of one key (redis-benchmark -c 1 -P 16), against Redis and
# against Tessera with two shards, for a key on each shard ({b}k on shard 0, {a}k on shard 1): whichever shard the connection
# lands on, one of the two keys lives on the other. Servers on CPU 0, redis-benchmark on CPU 1;
# prints requests/s and the server process's CPU time per GET, for each of 3 interleaved
# rounds. Read the Tessera lines in pairs: the dearer key is the remote one.
#
#   bench/remote_pipeline.sh [tessera-binary ...]   (default: target/release/tessera-server)
#
# Give an older build as a second binary to compare (the figures in docs/benchmarks.md did).
set -euo pipefail
cd "$(dirname "$0")/.."
bins=("$@")
[ ${#bins[@]} -gt 0 ] || bins=(target/release/tessera-server)
cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }
ticks=$(getconf CLK_TCK)
requests=400000
port=$((20000 + RANDOM % 20000))
for round in 1 2 3; do
  for bin in redis-server "${bins[@]}"; do
    if [ "$bin" = redis-server ]; then
      taskset -c 0 redis-server --port $port --save '' >/dev/null 2>&1 &
    else
      taskset -c 0 "$bin" --port $port --threads 2 --save '' >/dev/null 2>&1 &
    fi
    pid=$!
    for _ in $(seq 100); do redis-cli -p $port ping >/dev/null 2>&1 && break; sleep 0.05; done
    for key in '{b}k' '{a}k'; do
      redis-cli -p $port set "$key" value >/dev/null
      before=$(cpu $pid)
      rps=$(taskset -c 1 redis-benchmark -p $port -c 1 -P 16 -n $requests -q --csv GET "$key" |
        tail -1 | cut -d, -f2 | tr -d '"')
      after=$(cpu $pid)
      echo "round $round $bin $key: $rps GET/s, $(( (after - before) * 1000000000 / ticks / requests )) ns CPU per GET"
    done
    kill $pid; wait $pid 2>/dev/null || true
  done
done
