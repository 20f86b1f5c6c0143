#!/usr/bin/env bash
# Start the local services the integration tests use, if they are not running.
set -euo pipefail

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if ! port_open 5672; then
  echo "starting RabbitMQ"
  rabbitmq-server -detached
  for _ in $(seq 1 60); do port_open 5672 && break; sleep 1; done
fi
# rabbitmqctl talks to the node over Erlang distribution; wait until it answers too.
timeout 120 rabbitmqctl -q await_startup >/dev/null
port_open 5672 && echo "RabbitMQ: up on 5672"

if ! port_open 5432 && [ -d /etc/postgresql ]; then
  echo "starting the system PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start || true
fi
