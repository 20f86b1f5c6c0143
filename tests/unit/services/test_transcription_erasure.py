"""TranscriptionService and erasure: a kept copy stored after the share was erased goes too.

The erasure deletes the share's media after it commits; a worker that stores its copy
later checks its lease right after the put, finds the job cancelled and deletes the copy.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bookmarkai_ml.config import MediaSettings
from bookmarkai_ml.contracts import TranscribeTask
from bookmarkai_ml.domain.verdict import LeaseLostError
from bookmarkai_ml.fakes import (
    FakeAudioProcessor,
    FakeJobContext,
    FakeMediaFetcher,
    FakeMediaStore,
)
from bookmarkai_ml.ports import Transcriber, Transcript
from bookmarkai_ml.services.transcription import TranscriptionService


class _CancelledAfter(FakeJobContext):
    """The job is cancelled (its share erased) after ``ok`` heartbeats."""

    def __init__(self, ok: int) -> None:
        super().__init__()
        self.ok = ok

    def heartbeat(self) -> None:
        super().heartbeat()
        if self.heartbeats > self.ok:
            raise LeaseLostError(f"job {self.job_id}: lease lost")


class _Never:
    """A ``Transcriber`` that must not be called: the job is cancelled before any model runs."""

    provider = "local"
    model = "whisper-base"
    price_per_minute_usd = Decimal(0)
    max_upload_bytes: int | None = None

    def transcribe(self, audio: Path, **_: Any) -> Transcript:
        raise AssertionError("no model may run for a cancelled job")


def _never() -> Transcriber:
    return _Never()  # type: ignore[return-value]


def _service(store: FakeMediaStore) -> TranscriptionService:
    return TranscriptionService(
        media=MediaSettings(),
        downloader=FakeMediaFetcher(),
        processor=FakeAudioProcessor(duration_s=30.0),
        transcribers={"local": _never},
        store=store,
    )


def test_a_copy_kept_after_the_erasure_is_deleted_and_the_run_ends() -> None:
    store = FakeMediaStore()
    message = TranscribeTask(tenant_id="t", share_id="s", media_url="https://x/a.mp4")
    with pytest.raises(LeaseLostError):
        _service(store)(message, _CancelledAfter(ok=1))  # alive after the download only
    assert store.objects == {}


def test_a_live_job_keeps_its_copy() -> None:
    store = FakeMediaStore()
    message = TranscribeTask(tenant_id="t", share_id="s", media_url="https://x/a.mp4")
    ctx = _CancelledAfter(ok=2)
    with pytest.raises(LeaseLostError):  # cancelled later, before any model runs
        _service(store)(message, ctx)
    assert list(store.objects) == [f"t/s/{ctx.job_id}/source"]
