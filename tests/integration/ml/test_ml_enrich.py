"""Enrich end to end, in process: media -> transcript -> summary + embeddings -> search.

Each step is its own job chained through the outbox (``then``), run by the local
broker path with the real job runtime, Whisper base, ffmpeg, the embedding model
and Postgres with pgvector.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from bookmarkai_ml import bootstrap
from bookmarkai_ml.config import Settings
from bookmarkai_ml.db.engine import SessionFactory, transaction
from bookmarkai_ml.domain import enrich
from bookmarkai_ml.services import jobs
from support.runtime import worker_runtime

pytestmark = [pytest.mark.integration, pytest.mark.slow]

VIDEO = Path(__file__).parents[3] / "src" / "bookmarkai_ml" / "samples" / "briefing.mp4"


def test_spoken_video_ends_summarised_and_searchable_with_timestamps(
    clean_db: Engine, sessions: SessionFactory, ml_settings: Settings
) -> None:
    if shutil.which("ffmpeg") is None:
        pytest.fail("ffmpeg is not installed (apt-get install ffmpeg)")
    media = ml_settings.media.model_copy(update={"allow_local_paths": True})
    settings = ml_settings.model_copy(update={"media": media})
    with transaction(sessions) as session:
        planned = enrich.plan_enrich(share_id="video-1", tenant_id="default", media_url=str(VIDEO))
        roots = [jobs.submit(session, p.message, then=p.then).job.id for p in planned]
    runtime = worker_runtime(settings, clean_db)
    broker = bootstrap.local_broker(settings, bootstrap.Database.on(clean_db), runtime)

    async def run() -> None:
        try:
            await broker.run_until_done(roots)
        finally:
            await broker.close()

    asyncio.run(run())

    with sessions() as session:
        views = {v.task: v for v in jobs.family(session, roots)}
    assert set(views) == {"transcribe", "summarize", "embed"}
    assert all(v.status == "done" for v in views.values()), {
        t: (v.status, v.error_code, v.error_message) for t, v in views.items()
    }
    transcript = views["transcribe"].result or {}
    assert "briefing" in transcript["text"].lower()
    summary = views["summarize"].result or {}
    assert summary["summary"]
    assert summary["provider"] == "extractive"
    assert (views["embed"].result or {})["chunks"] >= 1

    with transaction(sessions) as session:
        hits = bootstrap.search_service(settings).search(
            session, "a worker dies in the middle of a task", k=1
        )
    assert hits[0].share_id == "video-1"
    assert hits[0].content_kind == "transcript"
    assert hits[0].start_s is not None
    assert hits[0].end_s is not None
    assert 0 <= hits[0].start_s < hits[0].end_s <= transcript["duration_s"] + 1
    with clean_db.connect() as conn:
        costs = conn.execute(text("SELECT count(*), count(DISTINCT job_id) FROM ml_costs")).one()
    assert tuple(costs) == (3, 3)
