"""An enrich run end to end in process, on the real job runtime with scripted models.

The submission service writes the jobs, the local broker path (outbox relay, job runtime,
``PostgresJobRepository``) runs them, and the real task services do the work: the
transcription service (scripted fetcher, ffmpeg and transcriber), the summarization
service (``FakeSummarizer``) and the embedding service (``HashEmbedder``), which writes
``ml_embeddings``. Results, costs and follow-up jobs are committed as in production; only
the models are scripted, so it runs in a second without weights. Imported as
``support.enrich``.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import Engine

from bookmarkai_ml import bootstrap
from bookmarkai_ml.config import Settings
from bookmarkai_ml.contracts import Segment, TaskType
from bookmarkai_ml.db.engine import transaction
from bookmarkai_ml.db.jobs import PostgresJobRepository
from bookmarkai_ml.domain import enrich
from bookmarkai_ml.domain.pricing import price_table
from bookmarkai_ml.fakes import (
    FakeAudioProcessor,
    FakeBudgetLedger,
    FakeMediaFetcher,
    FakeSummarizer,
    FakeTranscriber,
)
from bookmarkai_ml.services import jobs
from bookmarkai_ml.services.embedding import EmbeddingService
from bookmarkai_ml.services.summarization import SummarizationService
from bookmarkai_ml.services.transcription import TranscriptionService
from bookmarkai_ml.workers.handlers import HandlerRegistry
from bookmarkai_ml.workers.runtime import JobRuntime
from support.api import HashEmbedder

#: What the scripted transcriber "hears": three segments, two seconds each.
SEGMENTS = (
    Segment(start=0.0, end=2.0, text="Welcome to the queue briefing."),
    Segment(start=2.0, end=4.0, text="Workers acknowledge messages late."),
    Segment(start=4.0, end=6.0, text="The relay publishes the outbox."),
)


def runtime(settings: Settings, engine: Engine) -> JobRuntime:
    """The worker's runtime on ``engine`` with the three real task services, models scripted."""
    db = bootstrap.Database.on(engine)
    prices = price_table(settings.budgets)
    transcriber = FakeTranscriber(segments=SEGMENTS, language="en", language_probability=0.97)
    handlers = HandlerRegistry(
        settings,
        {
            TaskType.TRANSCRIBE: lambda s: TranscriptionService(
                media=s.media,
                downloader=FakeMediaFetcher(),
                processor=FakeAudioProcessor(duration_s=6.0),
                transcribers={"local": lambda: transcriber},
                default_provider="local",
                prices=prices,
            ),
            TaskType.SUMMARIZE: lambda s: SummarizationService(
                summarizer_for=lambda _name: FakeSummarizer(), prices=prices
            ),
            TaskType.EMBED: lambda s: EmbeddingService(
                sessions=db.sessions, embedder_for=lambda _m, _n: HashEmbedder(), prices=prices
            ),
        },
    )
    lease_s = float(settings.worker.lease_s)
    return JobRuntime(
        jobs=PostgresJobRepository(db.sessions, lease_s=lease_s),
        handlers=handlers,
        ledger=FakeBudgetLedger(),
        policy=bootstrap.retry_policy(settings),
        lease_s=lease_s,
    )


async def enrich_media(
    settings: Settings,
    engine: Engine,
    *,
    share_id: str,
    tenant_id: str,
    media_url: str = "https://media.example/briefing.mp4",
) -> Sequence[UUID]:
    """Submit an enrich of ``media_url`` and run it to the end; return the root job ids."""
    db = bootstrap.Database.on(engine)
    with transaction(db.sessions) as session:
        planned = enrich.plan_enrich(share_id=share_id, tenant_id=tenant_id, media_url=media_url)
        roots = [jobs.submit(session, p.message, then=p.then).job.id for p in planned]
    broker = bootstrap.local_broker(settings, db, runtime(settings, engine))
    try:
        await broker.run_until_done(roots)
    finally:
        await broker.close()
    return roots
