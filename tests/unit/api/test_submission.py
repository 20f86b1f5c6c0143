"""Request bodies to task messages: media URL schemes, and the chain each task makes."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter

from bookmarkai_ml.api.schemas.jobs import (
    EmbedJob,
    EnrichJob,
    JobCreate,
    SummarizeJob,
    TranscribeJob,
)
from bookmarkai_ml.api.submission import check_media_url, plan
from bookmarkai_ml.contracts import EmbedTask, SummarizeTask, TaskType, TranscribeTask
from bookmarkai_ml.errors import UnsafeURLError

JOB: TypeAdapter[SummarizeJob | TranscribeJob | EmbedJob | EnrichJob] = TypeAdapter(JobCreate)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "url",
    ["https://cdn.example/v.mp4", "HTTP://host:8080/a?b=c", "s3://bucket/key.m4a", " http://h/x "],
)
def test_allowed_media_urls(url: str) -> None:
    assert check_media_url(url) == url.strip()


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://host/x",
        "gopher://host/1",
        "javascript:alert(1)",
        "/local/path.mp4",
        "http://",
        "http://ho st/x",
        "http://[::1/x",
        "http://exa\uff0fmple.com/x",  # fullwidth solidus: NFKC-normalises into a '/'
    ],
)
def test_refused_media_urls(url: str) -> None:
    with pytest.raises(UnsafeURLError):
        check_media_url(url)


def test_single_tasks() -> None:
    (p,) = plan(
        JOB.validate_python(
            {
                "share_id": "s",
                "task": "summarize",
                "input": {"text": "t"},
                "options": {"style": "bullets"},
            }
        ),
        tenant_id="acme",
    )
    assert isinstance(p.message, SummarizeTask)
    assert p.message.tenant_id == "acme"
    assert p.message.options.style == "bullets"
    assert p.then == ()
    (p,) = plan(
        JOB.validate_python(
            {"share_id": "s", "task": "transcribe", "input": {"media_url": "https://h/a.mp3"}}
        ),
        tenant_id="t",
    )
    assert isinstance(p.message, TranscribeTask)


def test_enrich_media_chains_summarize_and_embed() -> None:
    body = JOB.validate_python(
        {
            "share_id": "s",
            "task": "enrich",
            "input": {"media_url": "https://h/a.mp4"},
            "options": {"transcribe": {"language": "en"}},
        }
    )
    (p,) = plan(body, tenant_id="t")
    assert isinstance(p.message, TranscribeTask)
    assert p.message.options.language == "en"
    assert p.then == (TaskType.SUMMARIZE, TaskType.EMBED)


def test_enrich_text_is_two_jobs() -> None:
    body = JOB.validate_python({"share_id": "s", "task": "enrich", "input": {"text": "words"}})
    kinds = [type(p.message) for p in plan(body, tenant_id="t")]
    assert kinds == [SummarizeTask, EmbedTask]


def test_enrich_media_with_a_bad_scheme_plans_nothing() -> None:
    body = JOB.validate_python(
        {"share_id": "s", "task": "enrich", "input": {"media_url": "file:///x"}}
    )
    with pytest.raises(UnsafeURLError):
        plan(body, tenant_id="t")
