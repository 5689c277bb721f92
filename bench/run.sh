#!/usr/bin/env bash
# Runs a benchmark against a private local stack (release build, RabbitMQ on
# 127.0.0.1:36672, services on 7411/7412, scheduler metrics on 7413) and writes its report to
# bench/results/.
#
#   bench/run.sh lateness [--pending=1000000] [--tasks=10000] [--queue_type=classic]
#
# Extra flags go to ebats-bench. Everything it starts is stopped on exit.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

scenario="${1:?usage: bench/run.sh lateness [ebats-bench flags]}"
shift
queue_type=quorum
for arg in "$@"; do
  case "$arg" in --queue_type=*) queue_type="${arg#*=}" ;; esac
done

build="$EBATS_ROOT/build"
ebats_install_deps
ebats_build "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo

port=36672
work="$build/bench/$scenario-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$work" "$EBATS_ROOT/bench/results"
export EBATS_AMQP_URL="amqp://guest:guest@127.0.0.1:$port/"
export EBATS_QUEUE_TYPE="$queue_type"
pids=()
cleanup() {
  trap - EXIT INT TERM
  if ((${#pids[@]})); then
    kill -TERM "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
  fi
  "$EBATS_ROOT/scripts/rabbitmq-local.sh" stop "$work/rabbitmq" "$port" || true
}
# A signal exits, and the exit cleans up (a handler that only cleaned up would
# let the script go on).
trap cleanup EXIT
trap 'exit 130' INT TERM

"$EBATS_ROOT/scripts/rabbitmq-local.sh" start "$work/rabbitmq" "$port"
# EBATS_BENCH_SCHEDULER_FLAGS: extra scheduler flags, for trying tunables.
# shellcheck disable=SC2086
"$build/services/scheduler/ebats-scheduler" --listen=127.0.0.1:7412 \
  --metrics_addr=127.0.0.1:7413 --data_dir="$work/data" ${EBATS_BENCH_SCHEDULER_FLAGS:-} \
  >"$work/scheduler.log" 2>&1 &
pids+=($!)
"$build/services/gateway/ebats-gateway" --listen=127.0.0.1:7411 \
  --metrics_addr=127.0.0.1:0 >"$work/gateway.log" 2>&1 &
pids+=($!)
ctl=("$build/services/ebatsctl/ebatsctl" --gateway=127.0.0.1:7411 --scheduler=127.0.0.1:7412)
for ((try = 0; try < 100; try++)); do "${ctl[@]}" health >/dev/null 2>&1 && break; sleep 0.2; done

# EBATS_BENCH_BIN: the load generator from another build (e.g. build-asan).
result="$("${EBATS_BENCH_BIN:-$build/bench/ebats-bench}" --scenario="$scenario" --gateway=127.0.0.1:7411 \
  --scheduler=127.0.0.1:7412 --amqp_url="$EBATS_AMQP_URL" "$@" 2>"$work/bench.log" | tail -n 1)"
echo "$result"
# How late the scheduler's due stage released delayed tasks (release - due;
# the rest of a task's lateness is the hop to the worker): shares of its
# histogram, cumulative over the runs. Empty when nothing was delayed.
release="$(curl -s -m 5 "http://127.0.0.1:7413/metrics" | awk '
    /^ebats_due_release_lateness_seconds_bucket/ {
      match($0, /le="[^"]*"/); le = substr($0, RSTART + 4, RLENGTH - 5); n[le] = $2 }
    /^ebats_due_release_lateness_seconds_count/ { count = $2 }
    END {
      if (count > 0)
        printf "{\"released\":%d,\"within_1ms\":%.4f,\"within_2ms\":%.4f,\"within_5ms\":%.4f,\"within_10ms\":%.4f}",
          count, n["0.001"] / count, n["0.002"] / count, n["0.005"] / count, n["0.01"] / count
    }')" || true
stamp="$(date +%Y%m%d-%H%M%S)"
machine="$(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -r)"
versions="rabbitmq-server $(dpkg-query -W -f='${Version}' rabbitmq-server), gRPC $(dpkg-query -W -f='${Version}' libgrpc++1.51 2>/dev/null || echo 1.51), $(git -C "$EBATS_ROOT" rev-parse --short HEAD)"
printf '{"machine":"%s","versions":"%s","settings":"%s","result":%s,"due_stage_release":%s}\n' \
  "$machine" "$versions" "queue_type=$queue_type $*" "$result" "${release:-null}" \
  >"$EBATS_ROOT/bench/results/$stamp-$scenario.json"
{
  echo "# $scenario benchmark, $stamp"
  echo
  echo "- machine: $machine"
  echo "- versions: $versions"
  echo "- settings: queue_type=$queue_type $*"
  echo "- command: bench/run.sh $scenario $*"
  echo
  echo '```json'
  echo "$result"
  echo '```'
  if [[ -n $release ]]; then
    echo
    echo "Due stage (scheduler metric ebats_due_release_lateness_seconds, all runs): share of"
    echo "delayed tasks released within 1 / 2 / 5 / 10 ms of their due time:"
    echo
    echo '```json'
    echo "$release"
    echo '```'
  fi
} >"$EBATS_ROOT/bench/results/$stamp-$scenario.md"
