"""A SERVER span per HTTP request, continuing the caller's W3C ``traceparent``.

Jobs submitted inside the span carry its context into the outbox row, so one trace
runs API -> queue -> worker -> DB (docs/deployment.md, "Tracing (Jaeger)"). With no tracer
provider configured, OpenTelemetry's no-op tracer still passes an incoming ``traceparent``
through unchanged.
"""

from __future__ import annotations

from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bookmarkai_ml.observability import tracing


class TracingMiddleware:
    """Pure ASGI middleware; the span is named ``METHOD /route/{template}`` once routed."""

    def __init__(self, app: ASGIApp, *, tracer: Tracer | None = None) -> None:
        self.app = app
        self._tracer = tracer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        tracer = self._tracer or tracing.get_tracer()
        method = str(scope.get("method", ""))
        parent = tracing.extract(dict(Headers(scope=scope)))
        with tracer.start_as_current_span(
            method,
            context=parent,
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method, "url.path": str(scope.get("path", ""))},
        ) as span:

            async def traced_send(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_status(Status(StatusCode.ERROR))
                await send(message)

            try:
                await self.app(scope, receive, traced_send)
            finally:
                route = getattr(scope.get("route"), "path", None)
                if route:
                    span.set_attribute("http.route", route)
                    span.update_name(f"{method} {route}")


def current_traceparent() -> str | None:
    """The ``traceparent`` of the current span, to store with a job; None outside a trace."""
    carrier: dict[str, object] = {}
    tracing.inject(carrier)
    value = carrier.get(tracing.TRACEPARENT)
    return value if isinstance(value, str) else None
