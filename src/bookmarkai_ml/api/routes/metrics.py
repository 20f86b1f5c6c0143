"""``/api/ml/metrics``: the process's metrics for Prometheus (text) and for people (JSON).

Served without an API key, like the original design's gateway endpoints, so Prometheus
can scrape them (``deploy/prometheus/prometheus.yml``; docs/api.md, "Metrics"); they hold
counts, no content.
With the relay embedded, they include the producer and outbox metrics.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from bookmarkai_ml.api.httpmetrics import snapshot
from bookmarkai_ml.observability.prometheus import exposition

router = APIRouter(prefix="/api/ml/metrics", tags=["metrics"])


@router.get(
    "/prometheus",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    summary="Prometheus metrics",
)
def prometheus_metrics() -> Response:
    """The Prometheus text exposition format."""
    body, content_type = exposition()
    return Response(content=body, media_type=content_type)


@router.get("/json", summary="Metrics as JSON")
def json_metrics() -> dict[str, Any]:
    """Every platform metric with its samples: ``{name: {type, help, samples: [...]}}``."""
    return snapshot()
