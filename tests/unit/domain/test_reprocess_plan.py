"""``domain.reprocess``: which input and options each re-run task takes."""

from __future__ import annotations

from typing import Any

import pytest

from bookmarkai_ml.contracts import (
    EmbedOptions,
    EmbedTask,
    SummarizeOptions,
    SummarizeTask,
    TaskType,
    TranscribeTask,
    TranscriptSegmentIn,
    encode_task,
)
from bookmarkai_ml.domain.reprocess import plan_reprocess
from bookmarkai_ml.errors import NoStoredInputError

SHARE = {"tenant_id": "t", "share_id": "s"}


def _latest(*messages: Any) -> dict[str, dict[str, Any]]:
    return {m.task: encode_task(m) for m in messages}


def test_a_video_share_reuses_its_transcript_and_keeps_unchanged_options() -> None:
    segments = [TranscriptSegmentIn(start=0, end=2, text="Hello there.")]
    latest = _latest(
        TranscribeTask(**SHARE, media_url="https://cdn.test/a.mp4"),
        SummarizeTask(**SHARE, content="Hello there.", options=SummarizeOptions(style="detailed")),
        EmbedTask(**SHARE, content="Hello there.", segments=segments),
    )
    new_model = EmbedOptions(model="text-embedding-3-large")
    planned = plan_reprocess(**SHARE, tasks=["summarize", "embed"], latest=latest, embed=new_model)
    summarize, embed = (p.message for p in planned)
    assert isinstance(summarize, SummarizeTask)
    assert summarize.content == "Hello there."
    assert summarize.options.style == "detailed"  # not given: kept
    assert isinstance(embed, EmbedTask)
    assert embed.segments == segments
    assert embed.options.model == "text-embedding-3-large"
    assert all(p.message.job_id is None for p in planned)


def test_enrich_of_a_transcribed_share_is_the_media_chain() -> None:
    latest = _latest(TranscribeTask(**SHARE, media_url="https://cdn.test/a.mp4"))
    tasks = ["summarize", "enrich", "summarize"]  # enrich covers the others
    (planned,) = plan_reprocess(**SHARE, tasks=tasks, latest=latest)
    assert isinstance(planned.message, TranscribeTask)
    assert planned.then == (TaskType.SUMMARIZE, TaskType.EMBED)


def test_given_text_wins_and_embed_falls_back_on_the_summary_input() -> None:
    latest = _latest(SummarizeTask(**SHARE, content="Stored text."))
    (embed,) = plan_reprocess(**SHARE, tasks=["embed"], latest=latest)
    assert isinstance(embed.message, EmbedTask)
    assert embed.message.content == "Stored text."
    (given,) = plan_reprocess(**SHARE, tasks=["summarize"], latest=latest, text="New text.")
    assert isinstance(given.message, SummarizeTask)
    assert given.message.content == "New text."


def test_a_task_with_no_input_anywhere_is_refused() -> None:
    latest = _latest(SummarizeTask(**SHARE, content="Stored text."))
    with pytest.raises(NoStoredInputError):
        plan_reprocess(**SHARE, tasks=["transcribe"], latest=latest)
    blanked = {"summarize": {**latest["summarize"], "content": ""}}
    with pytest.raises(NoStoredInputError):
        plan_reprocess(**SHARE, tasks=["summarize"], latest=blanked)
