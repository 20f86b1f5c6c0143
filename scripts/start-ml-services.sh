#!/usr/bin/env bash
# Start the BookmarkAI ML stack with Docker Compose (docs/deployment.md, "Docker Compose").
#
# Usage: scripts/start-ml-services.sh [--tls] [--cluster] [--no-build]
#   (default)   the whole stack: RabbitMQ, Postgres+pgvector, MinIO, Prometheus,
#               Grafana, Jaeger, API, relay, one worker per queue
#   --tls       also amqps with peer verification (makes dev certificates if missing)
#   --cluster   only the 3-node RabbitMQ cluster behind HAProxy (deploy/cluster)
#   --no-build  reuse the bookmarkai-ml:dev image instead of rebuilding it
# Waits until every service with a health check is healthy.  See docs/deployment.md.
set -euo pipefail
self=$(readlink -f "$0")
cd "$(dirname "$self")/.."

tls=false cluster=false build=(--build)
for arg in "$@"; do
  case "$arg" in
    --tls) tls=true ;;
    --cluster) cluster=true ;;
    --no-build) build=() ;;
    -h|--help) sed -n '2,10p' "$self"; exit 0 ;;
    *) echo "unknown option: $arg" >&2; exit 2 ;;
  esac
done

if ! docker compose version >/dev/null 2>&1; then
  echo "docker compose (v2) is required" >&2
  exit 1
fi

certs() {
  [ -f deploy/tls/certs/ca.pem ] || bash deploy/tls/gen-certs.sh deploy/tls/certs
}

if $cluster; then
  certs  # the cluster nodes always offer amqps as well
  docker compose -f deploy/cluster/docker-compose.yml up -d --wait
  echo "RabbitMQ cluster: amqp://localhost:5672 amqps://localhost:5671 (via HAProxy);"
  echo "management http://localhost:15672, HAProxy stats http://localhost:8404/stats"
  exit 0
fi

files=(-f deploy/docker-compose.yml)
if $tls; then
  certs
  files+=(-f deploy/docker-compose.tls.yml)
fi
docker compose "${files[@]}" up -d "${build[@]}" --wait

cat <<'INFO'
BookmarkAI ML stack is up:
  API         http://localhost:8000/docs   (metrics: /api/ml/metrics/prometheus)
  RabbitMQ    http://localhost:15672       (ml / ml_password)
  MinIO       http://localhost:9001/browser/bookmarkai-media-development
  Prometheus  http://localhost:9090/alerts
  Grafana     http://localhost:3000        (dashboards in the "BookmarkAI ML" folder)
  Jaeger      http://localhost:16686
Stop it with scripts/stop-ml-services.sh
INFO
