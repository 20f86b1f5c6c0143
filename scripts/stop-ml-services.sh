#!/usr/bin/env bash
# Stop the BookmarkAI ML stack started by scripts/start-ml-services.sh.
#
# Usage: scripts/stop-ml-services.sh [--cluster] [--purge]
#   --cluster  stop the 3-node RabbitMQ cluster instead of the main stack
#   --purge    also delete the volumes: queues, database, media, metrics, dashboards state
set -euo pipefail
self=$(readlink -f "$0")
cd "$(dirname "$self")/.."

cluster=false down=(down --remove-orphans)
for arg in "$@"; do
  case "$arg" in
    --cluster) cluster=true ;;
    --purge) down+=(--volumes) ;;
    -h|--help) sed -n '2,6p' "$self"; exit 0 ;;
    *) echo "unknown option: $arg" >&2; exit 2 ;;
  esac
done

if $cluster; then
  docker compose -f deploy/cluster/docker-compose.yml "${down[@]}"
else
  # Naming the TLS overlay too is harmless when it was not used, and stops its extras.
  docker compose -f deploy/docker-compose.yml -f deploy/docker-compose.tls.yml "${down[@]}"
fi
