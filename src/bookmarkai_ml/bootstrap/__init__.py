"""The composition root: every adapter built from ``Settings``, once per entry point.

The entry points (the API's ``create_app``, a worker process in ``workers.app``, the
relay and every CLI command) call these functions and hand what they build to the
services, which receive their ports through their constructors and never import
``providers``, ``media`` or the engine builders (docs/architecture.md). Which model
adapter serves a request, and the per-process model cache, is ``bootstrap.models``.

Nothing here connects or loads a model when it is called: an engine connects on its
first query, and each task's handler (with its model) is built by the
``HandlerRegistry`` the first time a job of that task runs in the process.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from bookmarkai_ml.bootstrap import models
from bookmarkai_ml.bootstrap.models import clear_cache
from bookmarkai_ml.config import Settings
from bookmarkai_ml.contracts import TaskType
from bookmarkai_ml.db.engine import SessionFactory, database_url, make_engine, make_session_factory
from bookmarkai_ml.domain.backoff import Backoff
from bookmarkai_ml.domain.chunking import ChunkPolicy
from bookmarkai_ml.domain.pricing import price_table
from bookmarkai_ml.domain.verdict import RetryPolicy
from bookmarkai_ml.observability.spans import traced
from bookmarkai_ml.ports import BudgetLedger, Embedder, MediaStore, Summarizer
from bookmarkai_ml.services.budgets import BudgetService
from bookmarkai_ml.services.embedding import EmbeddingService
from bookmarkai_ml.services.search import SearchService
from bookmarkai_ml.services.summarization import SummarizationService
from bookmarkai_ml.services.transcription import TranscriptionService
from bookmarkai_ml.workers import handlers as registry
from bookmarkai_ml.workers.handlers import HandlerRegistry

if TYPE_CHECKING:
    from bookmarkai_ml.workers.local import LocalBroker
    from bookmarkai_ml.workers.runtime import JobRuntime

__all__ = [
    "Database",
    "budget_ledger",
    "clear_cache",
    "database",
    "embedder",
    "embedding_handler",
    "handlers",
    "job_runtime",
    "local_broker",
    "media_store",
    "retry_policy",
    "search_service",
    "summarization_handler",
    "summarizer",
    "transcription_handler",
]

#: A worker process's pool: one task at a time per process (prefork) or a few threads.
WORKER_POOL_SIZE = 2


@dataclass(frozen=True, slots=True)
class Database:
    """One engine and its session factory, shared by everything an entry point builds."""

    engine: Engine
    sessions: SessionFactory

    @classmethod
    def on(cls, engine: Engine) -> Database:
        """The database behind an engine someone else built (tests, ``up``)."""
        return cls(engine, make_session_factory(engine))

    def close(self) -> None:
        """Close the pooled connections; the entry point that built it calls this."""
        self.engine.dispose()


def database(settings: Settings, *, pool_size: int = 5) -> Database:
    """The configured database, or the embedded one (started here if it is not running).

    The engine opens no connection until its first query.
    """
    return Database.on(make_engine(database_url(settings), pool_size=pool_size))


# -- model adapters ---------------------------------------------------------------------


def embedder(settings: Settings, *, model: str | None = None, content_chars: int = 0) -> Embedder:
    """The embedder for ``model`` (default: the configured one for short content), cached.

    Raises:
        ConfigurationError: an unknown embedder, or a model that cannot be loaded.
    """
    choice = models.choose(settings, content_chars=content_chars, model=model)
    return traced(models.build_embedder(settings, choice), "inference", ("embed",))


def summarizer(settings: Settings, name: str | None = None) -> Summarizer:
    """The summarizer called ``name`` (default ``settings.models.summarizer``), cached.

    Raises:
        ConfigurationError: an unknown name, or the llm extra is missing.
    """
    return traced(models.build_summarizer(settings, name), "inference", ("summarize",))


def media_store(settings: Settings) -> MediaStore:
    """Where fetched media is kept: S3 when an endpoint is set, else a local directory."""
    from bookmarkai_ml.media.storage import LocalMediaStore, S3MediaStore

    if settings.storage.s3_endpoint_url:
        return S3MediaStore(settings.storage, max_bytes=settings.media.max_download_bytes)
    return LocalMediaStore(settings.media_dir)


# -- services ---------------------------------------------------------------------------


def transcription_handler(settings: Settings) -> TranscriptionService:
    """The ``transcribe`` handler: downloader, ffmpeg, media store, Whisper (on first use)."""
    from bookmarkai_ml.media.audio import AudioProcessor
    from bookmarkai_ml.media.download import Downloader

    store = media_store(settings)
    prices = price_table(settings.budgets)
    return TranscriptionService(
        media=settings.media,
        # Each step in a span of its own (observability.tracing.traced).
        downloader=traced(Downloader(settings.media, store=store), "download", ("fetch",)),
        processor=traced(
            AudioProcessor(settings.media), "ffmpeg", ("probe", "extract", "write_chunk")
        ),
        transcribers={
            name: _traced_factory(factory)
            for name, factory in models.transcribers(settings, prices).items()
        },
        default_provider=settings.models.transcriber,
        store=store,
        prices=prices,
    )


def _traced_factory(factory: models.TranscriberFactory) -> models.TranscriberFactory:
    return lambda: traced(factory(), "inference", ("transcribe",))


def summarization_handler(settings: Settings) -> SummarizationService:
    """The ``summarize`` handler; each summarizer is built when a job first names it."""
    return SummarizationService(
        summarizer_for=lambda name: summarizer(settings, name),
        prices=price_table(settings.budgets),
    )


def embedding_handler(settings: Settings, sessions: SessionFactory) -> EmbeddingService:
    """The ``embed`` handler, writing vectors through the caller's ``sessions``.

    A worker passes its own session factory, so the handler shares the runtime's pool
    instead of opening a second engine.
    """
    m = settings.models

    def embedder_for(model: str | None, size: int) -> Embedder:
        return embedder(settings, model=model, content_chars=size)

    return EmbeddingService(
        sessions=sessions,
        embedder_for=embedder_for,
        prices=price_table(settings.budgets),
        policy=ChunkPolicy(m.chunk_max_tokens, m.chunk_overlap_tokens),
        batch_size=m.embedding_batch_size,
    )


def handlers(settings: Settings, db: Database) -> HandlerRegistry:
    """Every task type's handler factory, plus the plugins ``worker.plugins`` names.

    A plugin's registration wins over the default here. Nothing is built until a job
    of that task runs, so a process never loads a model it does not use.

    Raises:
        ConfigurationError: a plugin module cannot be imported.
    """
    registry.load_plugins(settings.worker.plugins)
    return HandlerRegistry(
        settings,
        {
            TaskType.TRANSCRIBE: transcription_handler,
            TaskType.SUMMARIZE: summarization_handler,
            TaskType.EMBED: lambda s: embedding_handler(s, db.sessions),
        },
    )


def _postgres_ledger(settings: Settings, sessions: SessionFactory) -> BudgetLedger:
    return BudgetService(sessions, settings.budgets, settings.tasks)


def budget_ledger(settings: Settings, sessions: SessionFactory) -> BudgetLedger:
    """The budget ledger: a plugin's when one is registered, else Postgres (``ml_costs``)."""
    return registry.build_ledger(settings, sessions, default=_postgres_ledger)


def search_service(settings: Settings) -> SearchService:
    """Similarity search; each stored model's query embedder is built on first use."""
    return SearchService(
        embedder_for_model=lambda model: embedder(settings, model=model),
        default_model=models.choose(settings, content_chars=0).model,
        ef_search=settings.models.search_ef_search,
    )


def retry_policy(settings: Settings) -> RetryPolicy:
    """The bounds every verdict keeps: retries, deliveries, the retry backoff."""
    return RetryPolicy(
        max_retries=settings.worker.max_retries,
        delivery_limit=settings.broker.delivery_limit,
        backoff=Backoff(initial=1.0, maximum=float(settings.worker.retry_backoff_max_s)),
    )


def job_runtime(
    settings: Settings,
    db: Database | None = None,
    *,
    time_limit_errors: tuple[type[BaseException], ...] = (),
) -> JobRuntime:
    """A worker process's job runtime: job repository, handlers and ledger on one database.

    Without ``db`` it opens a small pool of its own: a prefork child calls this after
    the fork, since a pool must not cross one.

    Raises:
        ConfigurationError: a plugin module cannot be imported.
    """
    from bookmarkai_ml.db.jobs import PostgresJobRepository
    from bookmarkai_ml.workers.runtime import JobRuntime

    db = db or database(settings, pool_size=WORKER_POOL_SIZE)
    lease_s = float(settings.worker.lease_s)
    return JobRuntime(
        jobs=PostgresJobRepository(db.sessions, lease_s=lease_s),
        handlers=handlers(settings, db),
        ledger=budget_ledger(settings, db.sessions),
        policy=retry_policy(settings),
        lease_s=lease_s,
        time_limit_errors=time_limit_errors,
    )


def local_broker(settings: Settings, db: Database, runtime: JobRuntime) -> LocalBroker:
    """The broker-less path of ``process``: the outbox relay hands each message to ``runtime``.

    The relay is bounded as the standalone one is (``max_retries`` + 1 runs per job),
    and a requeued delivery as a quorum queue would bound it (``broker.delivery_limit``).
    """
    from bookmarkai_ml.messaging.relay import OutboxRelay
    from bookmarkai_ml.workers.local import LocalBroker, LocalPublisher

    def relay(publisher: LocalPublisher) -> OutboxRelay:
        return OutboxRelay(
            engine=db.engine,
            publisher=publisher,
            jobs=runtime.jobs,
            settings=settings.outbox,
            max_attempts=settings.worker.max_retries + 1,
            listen=False,
        )

    return LocalBroker(runtime=runtime, relay=relay, delivery_limit=settings.broker.delivery_limit)
