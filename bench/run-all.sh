#!/usr/bin/env bash
# The whole benchmark set of issue 5, each figure the median of 3 runs
# (reports in bench/results/). Takes about 13 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
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
