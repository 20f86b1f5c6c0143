"""Transcription end to end: outbox relay -> RabbitMQ -> Celery worker (real CLI) -> Postgres.

Reuses the messaging tests' harness (real ``bookmarkai-ml relay`` and ``worker``
subprocesses, settings as environment variables) with the production handler
registry: no test plugins, the real model and the real budget ledger.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bookmarkai_ml.config import MediaSettings
from bookmarkai_ml.contracts import TranscribeOptions, TranscribeTask
from bookmarkai_ml.db.engine import SessionFactory, transaction
from bookmarkai_ml.domain.pricing import audio_cost
from bookmarkai_ml.media.audio import AudioProcessor
from bookmarkai_ml.services import jobs
from bookmarkai_ml.services.transcription import ESTIMATE_MARGIN_S
from support.harness import Stack, declare_url, make_stack, purge
from support.openai_stub import OpenAIStub
from support.transcription import Sampler

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def tx_vhost(vhost_factory: Callable[[], AbstractContextManager[str]]) -> Iterator[str]:
    with vhost_factory() as url:
        declare_url(url)
        yield url


@pytest.fixture
def stack(
    clean_db: Engine, sessions: SessionFactory, pg_url: str, tx_vhost: str, tmp_path: Path
) -> Iterator[Stack]:
    extra = {
        "BOOKMARKAI_ML_WORKER__PLUGINS": "[]",
        "BOOKMARKAI_ML_WORKER__LEASE_S": "60",
        "BOOKMARKAI_ML_MEDIA__ALLOW_LOCAL_PATHS": "true",
    }
    s = make_stack(
        engine=clean_db,
        sessions=sessions,
        pg_url=pg_url,
        broker_url=tx_vhost,
        tmp=tmp_path,
        extra=extra,
    )
    purge(s.settings)
    yield s
    s.stop_all()


def submit(stack: Stack, media: Path) -> uuid.UUID:
    message = TranscribeTask(share_id=uuid.uuid4().hex, media_url=str(media))
    with transaction(stack.sessions) as session:
        return jobs.submit(session, message).job.id


def test_transcription_jobs_end_in_their_states_through_the_broker(
    stack: Stack, speech_wav: Path, silent_wav: Path, corrupt_file: Path, long_tone: Path
) -> None:
    stack.start_relay()
    stack.start_worker("ml.transcribe", concurrency=1)
    speech, silent = submit(stack, speech_wav), submit(stack, silent_wav)
    corrupt, long = submit(stack, corrupt_file), submit(stack, long_tone)
    final = stack.wait_status([speech, silent, corrupt, long], ("done", "failed"), timeout=180)
    assert final == {speech: "done", silent: "done", corrupt: "failed", long: "failed"}
    assert stack.scalar("SELECT error_code FROM ml_jobs WHERE id = :i", i=corrupt) == (
        "corrupt_media"
    )
    assert stack.scalar("SELECT error_code FROM ml_jobs WHERE id = :i", i=long) == "too_long"
    text = stack.scalar("SELECT result->>'text' FROM ml_results WHERE job_id = :i", i=speech)
    assert "lazy dog" in text.lower()
    assert stack.scalar(
        "SELECT (result->>'silent')::bool FROM ml_results WHERE job_id = :i", i=silent
    )
    assert stack.scalar("SELECT count(*) FROM ml_costs") == 2
    assert stack.scalar("SELECT count(*) FROM ml_budget_reservations WHERE status = 'held'") == 0


def test_thirty_api_priced_jobs_through_the_broker_with_a_budget_for_five(
    clean_db: Engine,
    sessions: SessionFactory,
    pg_url: str,
    tx_vhost: str,
    tmp_path: Path,
    speech_wav: Path,
) -> None:
    media = MediaSettings(allow_local_paths=True)
    estimate = audio_cost(
        "openai",
        "whisper-1",
        AudioProcessor(media).probe(speech_wav).duration_s + ESTIMATE_MARGIN_S,
    )
    budget = estimate * 5 + estimate / 2
    with OpenAIStub(transcript="api words {n}", delay_s=0.3) as api:
        extra = {
            "BOOKMARKAI_ML_WORKER__PLUGINS": "[]",
            "BOOKMARKAI_ML_WORKER__LEASE_S": "60",
            "BOOKMARKAI_ML_MEDIA__ALLOW_LOCAL_PATHS": "true",
            "BOOKMARKAI_ML_MODELS__OPENAI_BASE_URL": api.base_url,
            "BOOKMARKAI_ML_TASKS__TRANSCRIBE__PER_HOUR_USD": str(budget),
            "BOOKMARKAI_ML_TASKS__TRANSCRIBE__PER_DAY_USD": str(budget),
        }
        stack = make_stack(
            engine=clean_db,
            sessions=sessions,
            pg_url=pg_url,
            broker_url=tx_vhost,
            tmp=tmp_path,
            extra=extra,
        )
        purge(stack.settings)
        sampler = Sampler(clean_db)
        sampler.start()
        try:
            ids = []
            with transaction(stack.sessions) as session:
                for _ in range(30):
                    message = TranscribeTask(
                        share_id=uuid.uuid4().hex,
                        media_url=str(speech_wav),
                        options=TranscribeOptions(provider="openai"),
                    )
                    ids.append(jobs.submit(session, message).job.id)
            stack.start_relay()
            stack.start_worker("ml.transcribe", concurrency=4)
            final = stack.wait_status(ids, ("done", "budget_exceeded"), timeout=180)
        finally:
            sampler.stop.set()
            sampler.join()
            stack.stop_all()
    assert list(final.values()).count("done") == 5
    assert list(final.values()).count("budget_exceeded") == 25
    assert len(api.requests) == 5
    assert stack.scalar("SELECT count(*) FROM ml_costs WHERE usd > 0") == 5
    assert stack.scalar("SELECT count(*) FROM ml_jobs WHERE retry_after IS NULL "
                        "AND status = 'budget_exceeded'") == 0  # fmt: skip
    assert sampler.samples > 10
    assert sampler.peak <= budget
