"""Decoding refuses messages that break their contract, naming the problem."""

from __future__ import annotations

import uuid

import pytest

from bookmarkai_ml.contracts import (
    EmbedTask,
    SummarizeTask,
    TaskType,
    TranscribeTask,
    decode_task,
    encode_task,
)
from bookmarkai_ml.errors import ContractError, PermanentError


def test_round_trip_keeps_every_field() -> None:
    job_id = uuid.uuid4()
    message = SummarizeTask(share_id="share-1", job_id=job_id, content="Hello world.")
    decoded = decode_task(TaskType.SUMMARIZE, encode_task(message))
    assert decoded == message
    assert decoded.job_id == job_id


@pytest.mark.parametrize(
    ("task", "kwargs", "needle"),
    [
        ("summarize", {"share_id": "s", "content": 42}, "content"),
        ("summarize", {"share_id": "s"}, "content: Field required"),
        ("transcribe", {"share_id": "s", "media_url": ["x"]}, "media_url"),
        ("embed", {"share_id": "s", "options": {"content_kind": "poem"}}, "options.content_kind"),
        ("summarize", {"share_id": "s", "content": "x", "surprise": 1}, "surprise"),
        ("summarize", {"share_id": "", "content": "x"}, "share_id"),
        ("summarize", {"share_id": "s", "content": "x", "job_id": "nope"}, "job_id"),
    ],
)
def test_broken_messages_name_the_field(task: str, kwargs: dict[str, object], needle: str) -> None:
    with pytest.raises(ContractError) as info:
        decode_task(task, kwargs)
    assert needle in str(info.value)
    assert isinstance(info.value, PermanentError)
    assert info.value.code == "contract_violation"


def test_unknown_schema_version_is_refused() -> None:
    with pytest.raises(ContractError, match=r"schema_version: unsupported version 2"):
        decode_task("summarize", {"schema_version": 2, "share_id": "s", "content": "x"})


def test_unknown_task_type_is_refused() -> None:
    with pytest.raises(ContractError, match="unknown task type 'paint'"):
        decode_task("paint", {"share_id": "s"})


def test_messages_are_frozen() -> None:
    message = TranscribeTask(share_id="s", media_url="https://example.com/a.mp3")
    with pytest.raises(Exception, match="frozen"):
        message.share_id = "other"  # type: ignore[misc]


def test_embed_accepts_transcript_segments() -> None:
    decoded = decode_task(
        "embed",
        {
            "share_id": "s",
            "segments": [{"start": 0.0, "end": 1.5, "text": "hi"}],
            "options": {"content_kind": "transcript"},
        },
    )
    assert isinstance(decoded, EmbedTask)
    assert decoded.segments is not None
    assert decoded.segments[0].end == 1.5
