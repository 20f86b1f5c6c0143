"""ASGI guards that run before any route: the request-body size limit and the in-flight
request limit.

Body size: oversized bodies get a 413 problem before any work is done.
A declared ``Content-Length`` over the limit is refused before the app runs (no
auth lookup, no parsing). A body without one (chunked) is counted as it arrives and
refused as soon as it crosses the limit. Starlette's own limiter answers in plain
text on some paths; this one always answers with a problem document.
"""

from __future__ import annotations

import asyncio

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bookmarkai_ml.api.problems import problem


class PayloadTooLarge(HTTPException):
    """The body crossed the limit while streaming in.

    An ``HTTPException`` on purpose: FastAPI re-raises those from body parsing
    (anything else there becomes a generic 400), so the problem handler maps it to 413.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=f"request body over {limit} bytes")


class BodyLimitMiddleware:
    """Pure ASGI middleware enforcing ``max_bytes`` on every HTTP request body."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            too_large = declared.isdigit()
            response = problem(
                413 if too_large else 400,
                "payload_too_large" if too_large else "bad_request",
                detail=f"request body over {self.max_bytes} bytes"
                if too_large
                else "invalid Content-Length",
                instance=scope.get("path"),
            )
            await response(scope, receive, send)
            return
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise PayloadTooLarge(self.max_bytes)
            return message

        await self.app(scope, counting_receive, send)


class InFlightLimitMiddleware:
    """At most ``limit`` requests run at once; the rest wait here, holding no thread and
    no database connection, and get a 503 problem after ``wait_s``.

    Why: a sync route holds its session's pooled connection until FastAPI has
    serialized the answer, which needs a worker thread; with more requests in flight
    than the pool has connections, every worker thread ended up in another request's
    authentication waiting for a connection, the answers waiting for a thread, and
    nothing moved until SQLAlchemy's pool timeout (30 s, then 500s). Admitting no more
    requests than the pool serves keeps both from running out. Paths starting with one
    of ``exempt`` (health, metrics) are never held back.
    """

    def __init__(self, app: ASGIApp, *, limit: int, wait_s: float, exempt: tuple[str, ...]) -> None:
        self.app = app
        self.wait_s = wait_s
        self.exempt = exempt
        self._slots = asyncio.Semaphore(limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or str(scope.get("path", "")).startswith(self.exempt):
            await self.app(scope, receive, send)
            return
        try:
            await asyncio.wait_for(self._slots.acquire(), timeout=self.wait_s)
        except TimeoutError:
            response = problem(
                503,
                "overloaded",
                detail=f"too many requests in flight here; waited {self.wait_s:g}s for a slot",
                instance=scope.get("path"),
                retry_after_s=1,
            )
            await response(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self._slots.release()
