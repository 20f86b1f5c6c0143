"""HTTP request metrics (``ml_http_requests``, ``ml_http_request_duration_seconds``).

A pure ASGI middleware, so every response is counted, including the 413s and 500s
produced outside the routes. The ``route`` label is the route template
(``/api/ml/jobs/{job_id}``), never the raw path, to keep label cardinality bounded.
Metric objects come from ``observability.prometheus``, the one prometheus_client user.
"""

from __future__ import annotations

import math
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bookmarkai_ml.observability.prometheus import Metrics, metrics

UNMATCHED = "unmatched"


class HttpMetricsMiddleware:
    """Counts requests by route, method and status; times them by route and method."""

    def __init__(self, app: ASGIApp, *, registry: Metrics | None = None) -> None:
        self.app = app
        self._metrics = registry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            m = self._metrics or metrics()
            route = getattr(scope.get("route"), "path", UNMATCHED)
            method = str(scope.get("method", ""))
            m.http_requests.labels(route=route, method=method, status=str(status)).inc()
            m.http_latency.labels(route=route, method=method).observe(time.perf_counter() - started)


def snapshot(registry: Metrics | None = None) -> dict[str, Any]:
    """Every platform metric and its samples, JSON-ready (non-finite values as strings)."""
    out: dict[str, Any] = {}
    for collector in vars(registry or metrics()).values():
        for family in collector.collect():
            out[family.name] = {
                "type": family.type,
                "help": family.documentation,
                "samples": [
                    {
                        "name": s.name,
                        "labels": s.labels,
                        "value": s.value if math.isfinite(s.value) else str(s.value),
                    }
                    for s in family.samples
                ],
            }
    return out
