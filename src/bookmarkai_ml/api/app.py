"""``create_app(settings)``: the FastAPI application, assembled from settings at call time.

Nothing happens at import. ``create_app`` gets the database engine (no connection
yet) and the lazily built collaborators from the composition root (``bootstrap``),
builds the rate limiter, and wires routes, the problem handlers and the middleware.
The lifespan starts the background work of the API process: the analytics refresh
loop and, when configured, the outbox relay.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider
from sqlalchemy import Engine

from bookmarkai_ml import bootstrap
from bookmarkai_ml.api import problems
from bookmarkai_ml.api.context import (
    ApiContext,
    BrokerProbe,
    EmbedderFactory,
    Lazy,
    SearchFactory,
)
from bookmarkai_ml.api.httpmetrics import HttpMetricsMiddleware
from bookmarkai_ml.api.limits import BodyLimitMiddleware, InFlightLimitMiddleware
from bookmarkai_ml.api.ratelimit import RateLimiter
from bookmarkai_ml.api.readiness import BrokerProbe as AmqpProbe
from bookmarkai_ml.api.routes import analytics, embeddings, health, jobs, metrics, search
from bookmarkai_ml.api.routes import batch as batch_routes
from bookmarkai_ml.api.routes import erasure as erasure_routes
from bookmarkai_ml.api.routes import reprocess as reprocess_routes
from bookmarkai_ml.api.routes import shares as share_routes
from bookmarkai_ml.api.routes import webhooks as webhook_routes
from bookmarkai_ml.config import Environment, Settings
from bookmarkai_ml.domain.model_selection import LOCAL_MODEL
from bookmarkai_ml.errors import ConfigurationError
from bookmarkai_ml.messaging.service import RelayService
from bookmarkai_ml.observability import tracing
from bookmarkai_ml.services.analytics import Refresher

log = logging.getLogger(__name__)

#: A background job of the API process: started in the lifespan, cancelled at shutdown.
BackgroundJob = Callable[[ApiContext], Coroutine[Any, Any, None]]


def _analytics_loop(ctx: ApiContext) -> Coroutine[Any, Any, None]:
    refresher = Refresher(ctx.sessions, interval_s=ctx.settings.budgets.analytics_refresh_s)
    return refresher.run()


def _version() -> str:
    try:
        return version("bookmarkai-ml")
    except PackageNotFoundError:
        return "0.0.0"


async def _relay(ctx: ApiContext) -> None:
    """The outbox relay inside the API process (``outbox.run_in_api``)."""
    service = RelayService(ctx.settings, engine=ctx.engine)
    await service.start()
    ctx.publisher_state = lambda: service.producer.state  # /readyz reports its ALERT state
    try:
        await asyncio.Event().wait()
    finally:
        ctx.publisher_state = None
        await service.stop()


async def _preload_embedder(ctx: ApiContext) -> None:
    """Load the embedding model at start-up, so ``/readyz`` answers 200 only once
    ``/v1/embeddings`` can answer without loading it (a cold load took seconds)."""
    await asyncio.to_thread(ctx.embedder.preload)


def default_background(settings: Settings) -> list[BackgroundJob]:
    """The analytics refresher, the embedder's preload, and the relay when a broker is
    configured and wanted here."""
    jobs: list[BackgroundJob] = [_analytics_loop, _preload_embedder]
    if settings.broker_url and settings.outbox.run_in_api:
        jobs.append(_relay)
    return jobs


def _name(job: BackgroundJob) -> str:
    return str(getattr(job, "__name__", "job")).strip("_")


async def _supervised(job: BackgroundJob, ctx: ApiContext) -> None:
    """Run one background job; a crash is logged (type only) instead of vanishing."""
    try:
        await job(ctx)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.error("background job %s stopped: %s", _name(job), type(exc).__name__)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    ctx: ApiContext = app.state.ctx
    tasks = [
        asyncio.create_task(_supervised(job, ctx), name=f"api-{_name(job)}")
        for job in app.state.background
    ]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        closer = getattr(ctx.broker_probe, "close", None)
        if closer is not None:
            await closer()
        if app.state.owns_engine:
            ctx.engine.dispose()
        if app.state.owns_tracing:
            tracing.shutdown_tracing()  # flush the last batch of spans


def create_app(
    settings: Settings,
    *,
    engine: Engine | None = None,
    embedder_factory: EmbedderFactory | None = None,
    search_factory: SearchFactory | None = None,
    broker_probe: BrokerProbe | None = None,
    background: list[BackgroundJob] | None = None,
    tracer_provider: TracerProvider | None = None,
) -> FastAPI:
    """The API for ``settings``.

    Args:
        engine: share an engine (tests, ``up``); by default one is built from settings.
        embedder_factory: builds the embedder for ``/v1/embeddings``; by default the
            local all-MiniLM-L6-v2 the embed worker uses (torch or ONNX, per settings),
            through ``bootstrap.embedder``. The default background preloads it at start-up
            and ``/readyz`` waits for it; without that preload it loads on first use.
        search_factory: builds the search service on first use; by default
            ``bootstrap.search_service`` (query embedders per stored model).
        broker_probe: readiness check of the broker; by default an AMQP probe when
            ``broker_url`` is set.
        background: coroutines run for the app's lifetime; default: analytics refresh
            (and the outbox relay when ``outbox.run_in_api`` and a broker are configured).
        tracer_provider: where request spans go; by default the process's provider,
            configured here (before the engine, so its SQL is traced) when the settings
            or the ``OTEL_*`` variables name an exporter.

    Raises:
        ConfigurationError: API keys switched off in production.
    """
    if not settings.api.require_auth and settings.environment is Environment.PRODUCTION:
        raise ConfigurationError("api.require_auth=false is for development only")
    owns_engine = engine is None
    owns_tracing = tracer_provider is None and tracing.exporting(settings.telemetry)
    if owns_tracing:
        tracer_provider = tracing.configure_tracing(settings.telemetry, component="api")
    db = bootstrap.database(settings) if engine is None else bootstrap.Database.on(engine)
    if broker_probe is None and settings.broker_url:
        broker_probe = AmqpProbe(settings)
    local = functools.partial(bootstrap.embedder, settings, model=LOCAL_MODEL)
    ctx = ApiContext(
        settings=settings,
        engine=db.engine,
        sessions=db.sessions,
        limiter=RateLimiter(
            per_minute=settings.api.rate_limit_per_minute, burst=settings.api.rate_limit_burst
        ),
        embedder=Lazy("the embedding model", embedder_factory or local),
        search=Lazy(
            "search", search_factory or functools.partial(bootstrap.search_service, settings)
        ),
        broker_probe=broker_probe,
    )
    app = FastAPI(
        title="BookmarkAI ML API",
        version=_version(),
        description="Summarize, transcribe and embed saved content. Errors are "
        "application/problem+json with a stable `code`.",
        lifespan=_lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.ctx = ctx
    app.state.owns_engine = owns_engine
    app.state.background = default_background(settings) if background is None else background
    app.state.owns_tracing = owns_tracing
    problems.install(app)
    app.add_middleware(
        InFlightLimitMiddleware,
        limit=settings.api.max_in_flight,
        wait_s=settings.api.in_flight_wait_s,
        exempt=("/healthz", "/readyz", "/api/ml/metrics"),
    )
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.api.max_body_bytes)
    app.add_middleware(HttpMetricsMiddleware)  # outermost: counts 413s and 500s too
    app.include_router(batch_routes.router)  # before jobs: /batch is not a {job_id}
    app.include_router(reprocess_routes.router)
    app.include_router(erasure_routes.router)
    app.include_router(share_routes.router)
    for module in (health, jobs, search, analytics, metrics, embeddings):
        app.include_router(module.router)
    app.include_router(webhook_routes.router)
    tracing.instrument_fastapi(app, tracer_provider)  # outermost of all: the SERVER span
    _tidy_openapi_of(app)
    return app


def _tidy_openapi_of(app: FastAPI) -> None:
    """Generate the schema once, with error responses as problem+json only."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = problems.tidy_openapi(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
