"""``/healthz`` (the process answers) and ``/readyz`` (database and broker reachable, the
in-process relay's producer not in ALERT, and the embedding model loaded when the process
preloads it)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from bookmarkai_ml.api.deps import ContextDep
from bookmarkai_ml.api.problems import problem, responses
from bookmarkai_ml.api.readiness import check_database
from bookmarkai_ml.api.schemas.health import Liveness, Readiness
from bookmarkai_ml.errors import BookmarkAIError
from bookmarkai_ml.messaging.hooks import ConnectionState

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Liveness, summary="Liveness")
async def healthz() -> Liveness:
    """Always 200 while the process serves requests; touches no dependency."""
    return Liveness()


@router.get(
    "/readyz",
    response_model=Readiness,
    responses=responses(503),
    summary="Readiness",
)
async def readyz(ctx: ContextDep) -> Readiness | JSONResponse:
    """200 when the database (and the broker, if one is configured) answer and the embedder
    the lifespan preloads is loaded; else 503, so no request waits for a model to load."""
    checks: dict[str, str] = {}
    try:
        await asyncio.to_thread(check_database, ctx.engine)
        checks["database"] = "ok"
    except BookmarkAIError as exc:
        checks["database"] = exc.code
    if ctx.broker_probe is None:
        checks["broker"] = "local" if not ctx.settings.broker_url else "unchecked"
    else:
        try:
            await ctx.broker_probe()
            checks["broker"] = "ok"
        except BookmarkAIError as exc:
            checks["broker"] = exc.code
    if ctx.publisher_state is not None:
        # ALERT: the relay's producer used up a whole reconnect schedule (it keeps
        # retrying; accepted jobs wait in the outbox). Other states are the broker check's.
        alert = ctx.publisher_state() is ConnectionState.ALERT
        checks["publisher"] = "alert" if alert else "ok"
    embedder = ctx.embedder.readiness()
    if embedder is not None:
        checks["embedder"] = embedder
    if any(v not in ("ok", "local") for v in checks.values()):
        return problem(503, "not_ready", detail="a dependency is unreachable", checks=checks)
    return Readiness(checks=checks)
