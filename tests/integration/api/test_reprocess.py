"""``POST /api/ml/shares/{id}/reprocess`` on the real app, Postgres and job runtime."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import httpx
import pytest
from pydantic import BaseModel
from sqlalchemy import Engine, text

from bookmarkai_ml.config import Settings
from bookmarkai_ml.contracts import TaskType
from bookmarkai_ml.db.engine import SessionFactory
from bookmarkai_ml.ports import CostLine, JobContext, TaskOutcome
from bookmarkai_ml.workers.runtime import Disposition
from support.api import MakeKey, bearer, counts
from support.runtime import runtime_with

pytestmark = pytest.mark.integration

JOBS = "/api/ml/jobs"
ARTICLE = "A long article about sourdough starters and their feeding schedules."


def reprocess_url(share: str) -> str:
    return f"/api/ml/shares/{share}/reprocess"


@pytest.fixture
def headers(make_key: MakeKey) -> dict[str, str]:
    return bearer(make_key())


def _mark_done(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("UPDATE ml_jobs SET status = 'done', finished_at = now()"))


def _payload(engine: Engine, job_id: str) -> dict[str, Any]:
    with engine.connect() as conn:
        row = conn.execute(text("SELECT payload FROM ml_jobs WHERE id = :id"), {"id": job_id})
        payload: dict[str, Any] = row.scalar_one()
    return payload


async def test_reprocess_runs_a_done_task_again_with_new_options(
    client: httpx.AsyncClient, headers: dict[str, str], clean_db: Engine
) -> None:
    body = {"share_id": "r1", "task": "summarize", "input": {"text": ARTICLE}}
    first = (await client.post(JOBS, json=body, headers=headers)).json()["jobs"][0]
    _mark_done(clean_db)
    # An identical submission is a duplicate of the done job ...
    again = (await client.post(JOBS, json=body, headers=headers)).json()["jobs"][0]
    assert again["id"] == first["id"]
    # ... a reprocess is not.
    new_opts = {"tasks": ["summarize"], "options": {"summarize": {"style": "bullets"}}}
    resp = await client.post(reprocess_url("r1"), json=new_opts, headers=headers)
    assert resp.status_code == 202, resp.text
    (job,) = resp.json()["jobs"]
    assert job["created"] is True
    assert job["status"] == "queued"
    assert job["id"] != first["id"]
    payload = _payload(clean_db, job["id"])
    assert payload["content"] == ARTICLE  # the latest job's input, reused
    assert payload["options"]["style"] == "bullets"
    assert counts(clean_db) == (2, 2)  # a job and its outbox row
    # The same options again, without an Idempotency-Key: a new generation, a new job.
    plain = {"tasks": ["summarize"]}
    other = (await client.post(reprocess_url("r1"), json=plain, headers=headers)).json()
    assert other["jobs"][0]["id"] not in (first["id"], job["id"])
    assert _payload(clean_db, other["jobs"][0]["id"])["options"]["style"] == "bullets"
    assert counts(clean_db) == (3, 3)


async def test_idempotency_key_makes_a_reprocess_repeatable(
    client: httpx.AsyncClient, headers: dict[str, str], clean_db: Engine
) -> None:
    body = {"share_id": "r2", "task": "enrich", "input": {"text": ARTICLE}}
    await client.post(JOBS, json=body, headers=headers)
    _mark_done(clean_db)
    keyed = {**headers, "Idempotency-Key": "reprocess-r2-1"}
    again = {"tasks": ["enrich"], "options": {"embed": {"content_kind": "text"}}}
    one = (await client.post(reprocess_url("r2"), json=again, headers=keyed)).json()
    two = (await client.post(reprocess_url("r2"), json=again, headers=keyed)).json()
    assert {j["task"] for j in one["jobs"]} == {"summarize", "embed"}
    assert all(j["created"] for j in one["jobs"])
    assert [j["id"] for j in two["jobs"]] == [j["id"] for j in one["jobs"]]
    assert not any(j["created"] for j in two["jobs"])
    assert one["generation"] == two["generation"]
    assert counts(clean_db) == (4, 4)
    other_key = {**headers, "Idempotency-Key": "reprocess-r2-2"}
    three = (await client.post(reprocess_url("r2"), json=again, headers=other_key)).json()
    assert all(j["created"] for j in three["jobs"])
    assert counts(clean_db) == (6, 6)


async def test_unknown_or_foreign_share_is_404(
    client: httpx.AsyncClient, make_key: MakeKey, clean_db: Engine
) -> None:
    mine, theirs = bearer(make_key("tenant-a")), bearer(make_key("tenant-b"))
    body = {"share_id": "r3", "task": "summarize", "input": {"text": ARTICLE}}
    await client.post(JOBS, json=body, headers=theirs)
    for share in ("r3", "nothing-here"):
        resp = await client.post(reprocess_url(share), json={"tasks": ["summarize"]}, headers=mine)
        assert resp.status_code == 404, resp.text
        assert resp.json()["code"] == "not_found"
    assert counts(clean_db) == (1, 1)


async def test_missing_input_is_409_and_bad_bodies_are_422(
    client: httpx.AsyncClient, headers: dict[str, str], clean_db: Engine
) -> None:
    body = {"share_id": "r4", "task": "summarize", "input": {"text": ARTICLE}}
    await client.post(JOBS, json=body, headers=headers)
    no_media = await client.post(
        reprocess_url("r4"), json={"tasks": ["transcribe"]}, headers=headers
    )
    assert no_media.status_code == 409, no_media.text
    assert no_media.json()["code"] == "no_stored_input"
    nothing = await client.post(reprocess_url("r4"), json={"tasks": []}, headers=headers)
    assert nothing.status_code == 422
    assert nothing.json()["code"] == "validation_error"
    unsafe = {"tasks": ["transcribe"], "input": {"media_url": "ftp://x.example/a.mp3"}}
    refused = await client.post(reprocess_url("r4"), json=unsafe, headers=headers)
    assert refused.status_code == 422
    assert counts(clean_db) == (1, 1)


class _Transcript(BaseModel):
    text: str


def _transcriber(transcript: str) -> Any:
    def handle(_message: Any, _ctx: JobContext) -> TaskOutcome:
        cost = CostLine(provider="fake", model="fake")
        return TaskOutcome(_Transcript(text=transcript), cost, follow_up_text=transcript)

    return handle


async def test_reprocessed_media_chain_reruns_its_follow_ups(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    clean_db: Engine,
    api_settings: Settings,
    sessions: SessionFactory,
) -> None:
    """The transcript comes out the same, yet the reprocess gets its own summary and
    embeddings: its salted key is passed on to the follow-up jobs."""
    runtime = runtime_with(
        api_settings, sessions, _transcriber("The same words."), task=TaskType.TRANSCRIBE
    )
    body = {"share_id": "v1", "task": "enrich", "input": {"media_url": "https://cdn.test/a.mp4"}}
    (first,) = (await client.post(JOBS, json=body, headers=headers)).json()["jobs"]
    report = runtime.run(TaskType.TRANSCRIBE, _payload(clean_db, first["id"]))
    assert report.disposition is Disposition.DONE
    assert counts(clean_db)[0] == 3  # transcribe, summarize, embed
    resp = await client.post(reprocess_url("v1"), json={"tasks": ["enrich"]}, headers=headers)
    (again,) = resp.json()["jobs"]
    assert again["task"] == "transcribe"
    assert again["then"] == ["summarize", "embed"]
    assert _payload(clean_db, again["id"])["media_url"] == "https://cdn.test/a.mp4"
    report = runtime.run(TaskType.TRANSCRIBE, _payload(clean_db, again["id"]))
    assert report.disposition is Disposition.DONE
    with clean_db.connect() as conn:
        children = conn.execute(
            text("SELECT parent_id, task FROM ml_jobs WHERE parent_id IS NOT NULL")
        ).all()
    by_parent: dict[UUID, set[str]] = {}
    for parent, task in children:
        by_parent.setdefault(parent, set()).add(task)
    assert by_parent == {
        UUID(first["id"]): {"summarize", "embed"},
        UUID(again["id"]): {"summarize", "embed"},
    }
