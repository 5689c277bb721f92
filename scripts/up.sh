#!/usr/bin/env bash
# Brings the whole ebats stack up on this machine and shows tasks running:
# installs missing Debian packages, builds (build/), starts a private
# RabbitMQ node (data in build/local/rabbitmq, 127.0.0.1:35672), the
# scheduler, gateway and a worker with the demo handlers, registers the demo
# tasks and publishes a demo event. Stays up until Ctrl-C, then stops
# everything it started, the worker first.
#
# For tests (tests/e2e/up_test.cc runs it this way): EBATS_BUILD_DIR uses
# that build as it is (no install, no build); EBATS_LOCAL_DIR moves the data
# and logs; EBATS_LOCAL_AMQP_PORT (+1, +2) and the services' usual address
# variables (EBATS_GATEWAY_ADDR, EBATS_SCHEDULER_ADDR, EBATS_WORKER_ADDR,
# EBATS_*_METRICS_ADDR) move the ports.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

amqp_port="${EBATS_LOCAL_AMQP_PORT:-35672}"
if [[ -n ${EBATS_BUILD_DIR:-} ]]; then
  build="$EBATS_BUILD_DIR"
else
  build="$EBATS_ROOT/build"
  ebats_install_deps
  ebats_build "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo
fi
local_dir="${EBATS_LOCAL_DIR:-$build/local}"
# Exported so that everything started here carries it (tests find strays).
export EBATS_LOCAL_DIR="$local_dir"
logs="$local_dir/logs"
gateway_addr="${EBATS_GATEWAY_ADDR:-127.0.0.1:7401}"
scheduler_addr="${EBATS_SCHEDULER_ADDR:-127.0.0.1:7402}"
worker_addr="${EBATS_WORKER_ADDR:-127.0.0.1:7403}"

mkdir -p "$logs"
export EBATS_AMQP_URL="amqp://guest:guest@127.0.0.1:$amqp_port/"
export EBATS_DATA_DIR="$local_dir/data"
ctl="$build/services/ebatsctl/ebatsctl"
worker_pid=

stop_all() {
  trap - EXIT INT TERM HUP
  echo
  echo "stopping ebats..."
  # The worker first: it drains its tasks and unregisters from the scheduler.
  if [[ -n $worker_pid ]]; then
    kill -TERM "$worker_pid" 2>/dev/null || true
    wait "$worker_pid" 2>/dev/null || true
  fi
  # Every background job, not only the recorded ones: a signal right after a
  # service started, before the line that records its pid, left it running.
  local -a jobs_left
  mapfile -t jobs_left < <(jobs -p)
  if ((${#jobs_left[@]})); then
    kill -TERM "${jobs_left[@]}" 2>/dev/null || true
    wait "${jobs_left[@]}" 2>/dev/null || true
  fi
  "$EBATS_ROOT/scripts/rabbitmq-local.sh" stop "$local_dir/rabbitmq" "$amqp_port"
  echo "stopped."
}
# A signal exits, and the exit stops everything: a handler that only stopped
# would let the script go on (a Ctrl-C just before the log tail started left
# that tail running).
trap stop_all EXIT
trap 'exit 130' INT TERM HUP
# No command substitution from here on (loops count with (( ))): bash 5.2
# can lose a Ctrl-C that arrives while it expands one, or fail to parse the
# INT trap then ("interrupt trap: unexpected EOF", exit 2, seen in CI).
# tests/deploy/up_script_signals_test.sh checks this.

"$EBATS_ROOT/scripts/rabbitmq-local.sh" start "$local_dir/rabbitmq" "$amqp_port"
# Services in sessions of their own: Ctrl-C reaches this script only, which
# stops them in order (worker first).
setsid "$build/services/scheduler/ebats-scheduler" >"$logs/scheduler.log" 2>&1 &
scheduler_pid=$!
setsid "$build/services/gateway/ebats-gateway" >"$logs/gateway.log" 2>&1 &
setsid "$build/services/worker/ebats-worker" --topics=demo >"$logs/worker.log" 2>&1 &
worker_pid=$!

for ((try = 0; try < 100; try++)); do
  "$ctl" health >/dev/null 2>&1 && break
  sleep 0.2
done
"$ctl" health
# The worker registers with the scheduler by itself; `register` below checks
# that a live worker handles each task, so let it appear first.
for ((try = 0; try < 100; try++)); do
  "$ctl" workers 2>/dev/null | grep -q "topics=demo" && break
  sleep 0.2
done

echo
echo "== demo registrations"
"$ctl" register order_created closeOrder --topic demo --delay 10s
"$ctl" register order_paid virtualShipping --topic demo
echo
echo "== publish order_paid and follow its task"
"$ctl" publish order_paid --params '{"order_id": "FB138020392193312"}' --wait
echo
echo "== publish order_created: closeOrder is registered 10 s after it"
"$ctl" publish order_created --params '{"order_id": "FB138020392193312"}' --wait
echo
echo "== workers"
"$ctl" workers
cat <<TXT

ebats is up:
  gateway   $gateway_addr   metrics http://${EBATS_GATEWAY_METRICS_ADDR:-127.0.0.1:9401}/metrics
  scheduler $scheduler_addr   metrics http://${EBATS_SCHEDULER_METRICS_ADDR:-127.0.0.1:9402}/metrics
  worker    $worker_addr   metrics http://${EBATS_WORKER_METRICS_ADDR:-127.0.0.1:9403}/metrics
  RabbitMQ  $EBATS_AMQP_URL
  logs      $logs
Try: $ctl publish order_paid --params '{"order_id": "42"}' --wait
Worker results follow; Ctrl-C stops everything.

TXT
tail -n 0 -f "$logs/worker.log" &
wait "$scheduler_pid"
