#!/usr/bin/env bash
# A private RabbitMQ node from Debian's rabbitmq-server: data under DIR, its
# own ports, AMQP, Erlang distribution and epmd bound to 127.0.0.1 only.
#
#   scripts/rabbitmq-local.sh start DIR [AMQP_PORT]   (default 35672)
#   scripts/rabbitmq-local.sh stop  DIR [AMQP_PORT]
#
# The distribution port is AMQP_PORT+1 and epmd listens on AMQP_PORT+2.
# The node accepts guest/guest from loopback only (RabbitMQ's default).
set -euo pipefail

cmd="${1:?usage: rabbitmq-local.sh start|stop DIR [AMQP_PORT]}"
dir="$(mkdir -p "${2:?DIR missing}" && cd "$2" && pwd)"
port="${3:-35672}"
bin=/usr/lib/rabbitmq/bin

export HOME="$dir"
export RABBITMQ_NODENAME="ebats-local-$port@localhost"
export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
export RABBITMQ_NODE_PORT="$port"
export RABBITMQ_DIST_PORT=$((port + 1))
export ERL_EPMD_ADDRESS=127.0.0.1
export ERL_EPMD_PORT=$((port + 2))
export RABBITMQ_MNESIA_BASE="$dir/mnesia"
export RABBITMQ_LOG_BASE="$dir/log"
export RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf"
export RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins"
export RABBITMQ_PID_FILE="$dir/rabbitmq.pid"
export ERL_CRASH_DUMP="$dir/erl_crash.dump"  # not in the caller's working directory
# EBATS_RABBITMQ_ERL_ARGS: extra Erlang VM flags, for trying broker tunables in benchmarks.
export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1} ${EBATS_RABBITMQ_ERL_ARGS:-}"

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# The live (not zombie) processes of session $1, from /proc (Debian's minimal
# images have no procps): the server runs in a session of its own, whose id
# is its start script's pid.
session_pids() {
  local stat line fields
  for stat in /proc/[0-9]*/stat; do
    # A process may be gone since the glob; the braces silence that error too.
    { read -r line <"$stat"; } 2>/dev/null || continue
    # After "pid (command) ": state ppid pgrp session ...
    read -ra fields <<<"${line##*) }"
    if [[ ${fields[3]} == "$1" && ${fields[0]} != Z ]]; then
      stat="${stat#/proc/}"
      echo "${stat%/stat}"
    fi
  done
}
# Stops the epmd `start` ran (an epmd from before these scripts kept its
# pid: ask it to go).
stop_epmd() {
  local epmd_pid
  epmd_pid="$(cat "$dir/epmd.pid" 2>/dev/null || true)"
  if [[ -n $epmd_pid ]]; then
    kill "$epmd_pid" 2>/dev/null || true
    rm -f "$dir/epmd.pid"
  else
    epmd -port "$ERL_EPMD_PORT" -kill >/dev/null 2>&1 || true
  fi
}

case "$cmd" in
  start)
    if port_open "$port"; then
      echo "rabbitmq-local: port $port is already in use" >&2
      exit 1
    fi
    cat >"$dir/rabbitmq.conf" <<CONF
listeners.tcp.1 = 127.0.0.1:$port
loopback_users.guest = true
log.console = false
log.file.level = warning
CONF
    echo "[]." >"$dir/enabled_plugins"
    # Our own epmd, whose pid we keep (as the test harness does): the one
    # the node would start is a daemon that `epmd -kill` refuses to stop
    # while any node is still registered with it.
    if ! port_open "$ERL_EPMD_PORT"; then
      setsid epmd -port "$ERL_EPMD_PORT" >"$dir/epmd.log" 2>&1 </dev/null &
      echo $! >"$dir/epmd.pid"
      for _ in $(seq 1 50); do port_open "$ERL_EPMD_PORT" && break; sleep 0.1; done
    fi
    setsid "$bin/rabbitmq-server" >"$dir/server.log" 2>&1 </dev/null &
    server=$!
    # For `stop`, which may come before the node has written its pid file.
    echo "$server" >"$dir/server.pid"
    for _ in $(seq 1 600); do
      # Ours only while the server lives: another process may hold the port
      # for a moment (the node then fails with eaddrinuse).
      if ! kill -0 "$server" 2>/dev/null; then
        echo "rabbitmq-local: node exited at start-up; $dir/server.log ends:" >&2
        tail -n 5 "$dir/server.log" >&2
        stop_epmd
        exit 1
      fi
      if port_open "$port" &&
        timeout 60 "$bin/rabbitmqctl" -n "$RABBITMQ_NODENAME" await_startup >/dev/null 2>&1; then
        echo "rabbitmq-local: node $RABBITMQ_NODENAME up on 127.0.0.1:$port (data in $dir)"
        exit 0
      fi
      sleep 0.1
    done
    echo "rabbitmq-local: node did not start; see $dir/server.log and $dir/log" >&2
    exit 1
    ;;
  stop)
    server="$(cat "$dir/server.pid" 2>/dev/null || true)"
    # A node that answers stops gracefully. One still booting (a Ctrl-C in
    # up.sh's first seconds) does not answer yet; its start script passes a
    # TERM on to the VM.
    if ! "$bin/rabbitmqctl" -n "$RABBITMQ_NODENAME" stop >/dev/null 2>&1 &&
      [[ -n $server ]]; then
      kill -TERM "$server" 2>/dev/null || true
    fi
    if [[ -n $server ]]; then
      # rabbitmqctl returns while the VM is still halting; wait for it.
      for _ in $(seq 1 300); do
        [[ -n $(session_pids "$server") ]] || break
        sleep 0.1
      done
      # shellcheck disable=SC2046  # one pid per word
      kill -KILL $(session_pids "$server") 2>/dev/null || true
      rm -f "$dir/server.pid"
    fi
    stop_epmd
    ;;
  *)
    echo "usage: rabbitmq-local.sh start|stop DIR [AMQP_PORT]" >&2
    exit 2
    ;;
esac
