#!/usr/bin/env bash
# The whole benchmark set of issue 5, each figure the median of 3 runs
# (reports in bench/results/), then the set's own report
# (bench/results/<time>-set.{md,json}): every figure, its share of the broker
# limit measured here, and the targets met or not. About 16 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
marker="$(mktemp)"
trap 'rm -f "$marker"' EXIT
run() { echo "== $*"; bench/run.sh "$@" | tail -n 1; }
run jitter --duration=10s
run broker --events=200000
run broker_latency --rate=200 --duration=10s
run throughput --events=200000 --clients=256
run throughput --events=100000 --clients=32
run throughput --events=200000 --clients=4 --batch=100
run throughput --events=20000 --clients=4 --batch=100 --fanout=10
run latency --rate=200 --duration=10s
run latency --rate=2000 --duration=10s
run lateness --tasks=10000
run lateness --tasks=10000 --queue_type=classic
run throughput --events=200000 --clients=4 --batch=100 --queue_type=classic
run latency --rate=200 --duration=10s --queue_type=classic
run broker_latency --rate=200 --duration=10s --queue_type=classic

# The reports this run wrote, in run order (their names start with the time).
reports="$(find bench/results -name '*.json' -newer "$marker" ! -name '*-set.json' | sort | paste -sd, -)"
out="bench/results/$(date +%Y%m%d-%H%M%S)-set"
build/bench/ebats-bench --scenario=set_report --reports="$reports" --out="$out" >/dev/null
echo "== set report: $out.md"
