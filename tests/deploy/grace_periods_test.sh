#!/usr/bin/env bash
# The deployment files give a worker time to drain before the SIGKILL: its
# --grace_seconds (the flag's default where not given) plus the broker
# connection's shutdown grace (SessionOptions::shutdown_grace) must fit in
# docker-compose's stop_grace_period and in Kubernetes'
# terminationGracePeriodSeconds. Otherwise a stop kills it mid-drain and its
# tasks run again.
set -euo pipefail
root="${1:?usage: grace_periods_test.sh SOURCE_DIR}"
cd "$root"

number() { grep -oE '[0-9]+' <<<"$1" | head -n 1; }
default_grace="$(number "$(grep -A0 'ABSL_FLAG(int, grace_seconds' services/worker/main.cc)")"
session_grace="$(number "$(grep 'shutdown_grace = absl::Seconds' libs/amqp/session.h)")"
status=0
check() {  # where, worker grace, allowed
  local need=$(($2 + session_grace))
  if (($3 <= need)); then
    echo "$1: $3 s to stop, but the worker needs more than $need s ($2 s grace + $session_grace s)" >&2
    status=1
  fi
}

compose_stop="$(number "$(sed -n '/^  worker:/,/^  [a-z]/p' docker-compose.yml | grep stop_grace_period || echo 10s)")"
compose_grace="$(sed -n '/^  worker:/,/^  [a-z]/p' docker-compose.yml | grep -oE 'grace_seconds=[0-9]+' | cut -d= -f2 || true)"
check docker-compose.yml "${compose_grace:-$default_grace}" "$compose_stop"

k8s_worker="$(sed -n '/name: ebats-worker}/,/^---/p' deploy/k8s/ebats.yaml)"
k8s_stop="$(number "$(grep terminationGracePeriodSeconds <<<"$k8s_worker" || echo 30)")"
k8s_grace="$(grep -oE 'grace_seconds=[0-9]+' <<<"$k8s_worker" | cut -d= -f2 || true)"
check deploy/k8s/ebats.yaml "${k8s_grace:-$default_grace}" "$k8s_stop"

((status == 0)) && echo "grace periods: compose ${compose_stop} s, k8s ${k8s_stop} s; worker ${default_grace} s default + ${session_grace} s"
exit "$status"
