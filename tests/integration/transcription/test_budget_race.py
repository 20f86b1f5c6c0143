"""Budget race: 30 API-priced transcriptions at once, a budget that fits 5 (real Postgres).

Each thread runs the real TranscriptionService against a loopback server speaking
the OpenAI transcription API, with a JobContext whose ``reserve`` is the real
``BudgetService``. On success the thread does what the job runtime's finishing
transaction does (``db/jobs/``): write the cost row and settle the
reservation, in one transaction. A sampler watches spent + held all along.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from bookmarkai_ml.config import BudgetSettings, MediaSettings, TaskSettings
from bookmarkai_ml.contracts import TaskType, TranscribeTask
from bookmarkai_ml.db.engine import SessionFactory
from bookmarkai_ml.domain.pricing import audio_cost
from bookmarkai_ml.errors import BudgetExceededError
from bookmarkai_ml.fakes import FakeJobContext
from bookmarkai_ml.media.audio import AudioProcessor
from bookmarkai_ml.media.download import Downloader
from bookmarkai_ml.ports import TaskOutcome
from bookmarkai_ml.providers.openai_http import OpenAIHTTP
from bookmarkai_ml.providers.whisper_openai import OpenAIWhisperTranscriber
from bookmarkai_ml.services.budgets import BudgetService
from bookmarkai_ml.services.transcription import ESTIMATE_MARGIN_S, TranscriptionService
from support.openai_stub import OpenAIStub
from support.transcription import TOTAL_SPENT_AND_HELD as _TOTAL
from support.transcription import Sampler

pytestmark = pytest.mark.integration

JOBS = 30
FITS = 5


def finish(engine: Engine, job_id: uuid.UUID, outcome: TaskOutcome) -> None:
    """The runtime's finishing transaction, reduced to the cost row and the settle."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO ml_costs (job_id, tenant_id, task, provider, model, usd, "
                "audio_seconds) VALUES (:id, 'default', 'transcribe', :p, :m, :usd, :s)"
            ),
            {
                "id": job_id,
                "p": outcome.cost.provider,
                "m": outcome.cost.model,
                "usd": outcome.cost.usd,
                "s": outcome.cost.audio_seconds,
            },
        )
        conn.execute(
            text(
                "UPDATE ml_budget_reservations SET status = 'settled' "
                "WHERE job_id = :id AND status = 'held'"
            ),
            {"id": job_id},
        )


@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    with OpenAIStub(transcript="the quick brown fox", delay_s=0.5) as server:
        yield server


def test_thirty_at_once_with_a_budget_for_five(
    clean_db: Engine, sessions: SessionFactory, stub: OpenAIStub, speech_wav: Path
) -> None:
    media = MediaSettings(allow_local_paths=True)
    processor = AudioProcessor(media)
    estimate = audio_cost(
        "openai", "whisper-1", processor.probe(speech_wav).duration_s + ESTIMATE_MARGIN_S
    )
    budget = estimate * FITS + estimate / 2  # room for 5, not for 6
    limits = TaskSettings.defaults(TaskType.TRANSCRIBE).model_copy(
        update={"per_hour_usd": budget, "per_day_usd": budget}
    )
    ledger = BudgetService(sessions, BudgetSettings(), {TaskType.TRANSCRIBE: limits})
    http = OpenAIHTTP(base_url=stub.base_url, api_key="sk-test")
    service = TranscriptionService(
        media=media,
        downloader=Downloader(media),
        processor=processor,
        transcribers={"openai": lambda: OpenAIWhisperTranscriber(http)},
        default_provider="openai",
    )
    job_ids = [uuid.uuid4() for _ in range(JOBS)]
    with clean_db.begin() as conn:
        for job_id in job_ids:
            conn.execute(
                text(
                    "INSERT INTO ml_jobs (id, tenant_id, share_id, task, idempotency_key, "
                    "payload) VALUES (:id, 'default', :s, 'transcribe', :k, '{}'::jsonb)"
                ),
                {"id": job_id, "s": f"share-{job_id.hex[:6]}", "k": job_id.hex},
            )
    start = threading.Barrier(JOBS)
    retry_afters: list[datetime] = []

    def run(job_id: uuid.UUID) -> str:
        message = TranscribeTask(share_id="s", job_id=job_id, media_url=str(speech_wav))
        ctx = FakeJobContext(job_id=job_id, ledger=ledger)
        start.wait()
        try:
            outcome = service(message, ctx)
        except BudgetExceededError as exc:
            retry_afters.append(exc.retry_after)
            return "budget_exceeded"
        finish(clean_db, job_id, outcome)
        return "done"

    sampler = Sampler(clean_db)
    sampler.start()
    try:
        with ThreadPoolExecutor(max_workers=JOBS) as pool:
            results = list(pool.map(run, job_ids))
    finally:
        sampler.stop.set()
        sampler.join()

    assert results.count("done") == FITS
    assert results.count("budget_exceeded") == JOBS - FITS
    assert len(stub.requests) == FITS  # the refused ones never reached the provider
    assert len(retry_afters) == JOBS - FITS
    assert all(r > datetime.now(UTC) + timedelta(minutes=50) for r in retry_afters)
    with clean_db.connect() as conn:
        spent = Decimal(conn.execute(_TOTAL).scalar_one())
        held = conn.execute(
            text("SELECT count(*) FROM ml_budget_reservations WHERE status = 'held'")
        ).scalar_one()
    assert held == 0
    assert spent <= budget
    assert sampler.samples > 10
    assert sampler.peak <= budget
    http.close()
