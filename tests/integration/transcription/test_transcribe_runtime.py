"""Transcription jobs through the real job runtime (in process) and the real Postgres.

The worker's handler (``bootstrap.transcription_handler``) and ledger
(``BudgetService``) run under ``JobRuntime``, which writes the result, the one cost
row and settles the reservation in its finishing transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from bookmarkai_ml.config import Settings
from bookmarkai_ml.contracts import TaskType, TranscribeOptions, TranscribeTask
from bookmarkai_ml.db.engine import SessionFactory, transaction
from bookmarkai_ml.domain.pricing import audio_cost
from bookmarkai_ml.services import jobs
from bookmarkai_ml.workers.runtime import JobRuntime
from support.openai_stub import OpenAIStub
from support.runtime import worker_runtime

pytestmark = pytest.mark.integration


@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    with OpenAIStub(transcript="api words {n}") as server:
        yield server


def runtime_for(settings: Settings, engine: Engine) -> JobRuntime:
    return worker_runtime(settings, engine)


def submit_and_run(
    runtime: JobRuntime, sessions: SessionFactory, media: Path, provider: str | None = None
) -> uuid.UUID:
    message = TranscribeTask(
        share_id=uuid.uuid4().hex,
        media_url=str(media),
        options=TranscribeOptions(provider=provider),  # type: ignore[arg-type]
    )
    with transaction(sessions) as session:
        job_id = jobs.submit(session, message).job.id
    runtime.run(
        TaskType.TRANSCRIBE, message.model_copy(update={"job_id": job_id}).model_dump(mode="json")
    )
    return job_id


def row(engine: Engine, sql: str, job_id: uuid.UUID) -> Any:
    with engine.connect() as conn:
        return conn.execute(text(sql), {"id": job_id}).first()


@pytest.fixture
def local_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"media": settings.media.model_copy(update={"allow_local_paths": True})}
    )


def test_speech_finishes_done_with_a_result_and_a_free_cost_row(
    clean_db: Engine, sessions: SessionFactory, local_settings: Settings, speech_wav: Path
) -> None:
    runtime = runtime_for(local_settings, clean_db)
    job_id = submit_and_run(runtime, sessions, speech_wav)
    job = row(clean_db, "SELECT status, error_code FROM ml_jobs WHERE id = :id", job_id)
    assert job.status == "done", job.error_code
    result = row(clean_db, "SELECT result FROM ml_results WHERE job_id = :id", job_id).result
    assert "lazy dog" in result["text"].lower()
    assert result["provider"] == "local"
    cost = row(
        clean_db, "SELECT usd, provider, audio_seconds FROM ml_costs WHERE job_id = :id", job_id
    )
    assert cost.usd == 0
    assert cost.provider == "local"
    assert float(cost.audio_seconds) == pytest.approx(result["duration_s"], abs=0.01)
    stored = local_settings.media_dir / "default"
    assert any(stored.rglob("source"))


@pytest.mark.parametrize(
    ("fixture", "code"),
    [
        ("corrupt_file", "corrupt_media"),
        ("video_only_mp4", "no_audio_stream"),
        ("empty_file", "empty_media"),
        ("long_tone", "too_long"),
    ],
)
def test_bad_media_ends_failed_with_its_code_and_no_cost(
    clean_db: Engine,
    sessions: SessionFactory,
    local_settings: Settings,
    request: pytest.FixtureRequest,
    fixture: str,
    code: str,
) -> None:
    runtime = runtime_for(local_settings, clean_db)
    job_id = submit_and_run(runtime, sessions, request.getfixturevalue(fixture))
    job = row(clean_db, "SELECT status, error_code, attempts FROM ml_jobs WHERE id = :id", job_id)
    assert (job.status, job.error_code, job.attempts) == ("failed", code, 1)
    assert row(clean_db, "SELECT 1 FROM ml_costs WHERE job_id = :id", job_id) is None


def test_silent_media_is_done_silent_and_free(
    clean_db: Engine, sessions: SessionFactory, local_settings: Settings, silent_wav: Path
) -> None:
    runtime = runtime_for(local_settings, clean_db)
    job_id = submit_and_run(runtime, sessions, silent_wav)
    result = row(clean_db, "SELECT result FROM ml_results WHERE job_id = :id", job_id).result
    assert result["silent"] is True
    assert result["text"] == ""
    assert row(clean_db, "SELECT usd FROM ml_costs WHERE job_id = :id", job_id).usd == 0


def test_api_priced_jobs_settle_or_end_budget_exceeded(
    clean_db: Engine,
    sessions: SessionFactory,
    local_settings: Settings,
    stub: OpenAIStub,
    speech_wav: Path,
) -> None:
    one_job = audio_cost("openai", "whisper-1", 22)  # ~20.6 s of speech + margin
    settings = local_settings.model_copy(
        update={
            "models": local_settings.models.model_copy(update={"openai_base_url": stub.base_url}),
            "tasks": {
                **local_settings.tasks,
                TaskType.TRANSCRIBE: local_settings.tasks[TaskType.TRANSCRIBE].model_copy(
                    update={"per_hour_usd": one_job * Decimal("1.5")}
                ),
            },
        }
    )
    runtime = runtime_for(settings, clean_db)
    first = submit_and_run(runtime, sessions, speech_wav, provider="openai")
    second = submit_and_run(runtime, sessions, speech_wav, provider="openai")
    assert row(clean_db, "SELECT status FROM ml_jobs WHERE id = :id", first).status == "done"
    cost = row(clean_db, "SELECT usd, provider, model FROM ml_costs WHERE job_id = :id", first)
    assert (cost.provider, cost.model) == ("openai", "whisper-1")
    assert 0 < cost.usd <= one_job
    reservation = row(
        clean_db, "SELECT status, usd FROM ml_budget_reservations WHERE job_id = :id", first
    )
    assert reservation.status == "settled"
    assert reservation.usd >= cost.usd
    refused = row(clean_db, "SELECT status, retry_after FROM ml_jobs WHERE id = :id", second)
    assert refused.status == "budget_exceeded"
    assert refused.retry_after is not None
    assert len(stub.requests) == 1
