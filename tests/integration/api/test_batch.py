"""``POST /api/ml/jobs/batch`` on the real app and Postgres: per-item answers, one transaction."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text

from bookmarkai_ml.api.submission import JOB_CREATE, submit
from bookmarkai_ml.db.engine import SessionFactory
from support.api import MakeKey, bearer, counts

pytestmark = pytest.mark.integration

BATCH = "/api/ml/jobs/batch"
JOBS = "/api/ml/jobs"


def _summarize(share: str, text_: str = "An article.") -> dict[str, Any]:
    return {"share_id": share, "task": "summarize", "input": {"text": text_}}


@pytest.fixture
def headers(make_key: MakeKey) -> dict[str, str]:
    return bearer(make_key())


async def test_mixed_batch_is_answered_per_item(
    client: httpx.AsyncClient, headers: dict[str, str], clean_db: Engine
) -> None:
    single = await client.post(JOBS, json=_summarize("old"), headers=headers)
    assert single.status_code == 202, single.text
    old_job = single.json()["jobs"][0]
    items = [
        _summarize("new"),
        _summarize("old"),  # identical to the single submission above
        {"share_id": "v", "task": "transcribe", "input": {"media_url": "file:///etc/passwd"}},
        {"share_id": "x", "task": "bogus", "input": {"text": "t"}},
        {"share_id": "e", "task": "enrich", "input": {"text": "Some text to enrich."}},
        _summarize("new"),  # a duplicate of item 0, inside the same batch
        [1, 2, 3],  # not even an object
    ]
    resp = await client.post(BATCH, json={"items": items}, headers=headers)
    assert resp.status_code == 422, resp.text  # items must be JSON objects
    resp = await client.post(BATCH, json={"items": items[:-1]}, headers=headers)
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert [i["index"] for i in out["items"]] == list(range(6))
    assert [i["status"] for i in out["items"]] == [
        "accepted",
        "duplicate",
        "rejected",
        "rejected",
        "accepted",
        "duplicate",
    ]
    assert (out["accepted"], out["duplicates"], out["rejected"]) == (2, 2, 2)
    new, dup, unsafe, bogus, enrich, dup_new = out["items"]
    assert new["jobs"][0]["created"] is True
    assert new["jobs"][0]["status"] == "queued"
    assert dup["jobs"][0]["id"] == old_job["id"]
    assert dup["jobs"][0]["created"] is False
    assert dup_new["jobs"][0]["id"] == new["jobs"][0]["id"]
    assert unsafe["problem"]["status"] == 422
    assert unsafe["problem"]["code"] == "unsafe_url"
    assert bogus["problem"]["code"] == "validation_error"
    assert bogus["problem"]["errors"][0]["loc"][-1] == "task"
    assert {j["task"] for j in enrich["jobs"]} == {"summarize", "embed"}
    assert counts(clean_db) == (4, 4)  # old + new + enrich's two; one outbox row each

    # The same batch again: nothing new, every valid item a duplicate of its job.
    again = (await client.post(BATCH, json={"items": items[:-1]}, headers=headers)).json()
    assert [i["status"] for i in again["items"]] == [
        "duplicate",
        "duplicate",
        "rejected",
        "rejected",
        "duplicate",
        "duplicate",
    ]
    again_enrich = again["items"][4]["jobs"]
    assert [j["id"] for j in again_enrich] == [j["id"] for j in enrich["jobs"]]
    assert not any(j["created"] for j in again_enrich)
    assert counts(clean_db) == (4, 4)


@pytest.mark.parametrize("size", [0, 101])
async def test_empty_or_oversized_batch_is_refused(
    client: httpx.AsyncClient, headers: dict[str, str], clean_db: Engine, size: int
) -> None:
    items = [_summarize(f"s{i}") for i in range(size)]
    resp = await client.post(BATCH, json={"items": items}, headers=headers)
    assert resp.status_code == 422, resp.text
    problem = resp.json()
    assert problem["code"] == "validation_error"
    assert problem["errors"][0]["loc"] == ["body", "items"]
    assert counts(clean_db) == (0, 0)


async def test_batch_of_100_is_accepted(
    client: httpx.AsyncClient, headers: dict[str, str], clean_db: Engine
) -> None:
    items = [_summarize(f"s{i}") for i in range(100)]
    resp = await client.post(BATCH, json={"items": items}, headers=headers)
    assert resp.status_code == 200, resp.text
    assert resp.json()["accepted"] == 100
    assert counts(clean_db) == (100, 100)


def _visible(engine: Engine) -> tuple[int, int]:
    """(jobs, outbox rows) of the batch's shares, as another connection sees them."""
    with engine.connect() as conn:
        jobs = conn.execute(text("SELECT count(*) FROM ml_jobs WHERE share_id LIKE 'b%'"))
        outbox = conn.execute(
            text(
                "SELECT count(*) FROM ml_outbox o JOIN ml_jobs j ON j.id = o.job_id "
                "WHERE j.share_id LIKE 'b%'"
            )
        )
        return int(jobs.scalar_one()), int(outbox.scalar_one())


async def _wait_for_lock_wait(engine: Engine) -> None:
    """Until some backend waits on a lock (the batch, behind the open transaction)."""
    for _ in range(500):
        with engine.connect() as conn:
            waiting = conn.execute(text("SELECT count(*) FROM pg_locks WHERE NOT granted"))
            if waiting.scalar_one():
                return
        await asyncio.sleep(0.02)
    raise AssertionError("the batch never waited on the open transaction")


async def test_accepted_items_and_their_outbox_rows_commit_together(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    clean_db: Engine,
    sessions: SessionFactory,
) -> None:
    """Item 2's key is held by an open transaction: the batch waits there with items 0
    and 1 written. Nothing of it is visible then; all of it (3 jobs, 3 rows) after."""
    items = [_summarize("b0"), _summarize("b1"), _summarize("b2"), _summarize("b3")]
    blocker = sessions()
    try:
        submit(
            blocker, JOB_CREATE.validate_python(items[2]), tenant_id="tenant-a", traceparent=None
        )
        request = asyncio.create_task(client.post(BATCH, json={"items": items}, headers=headers))
        await _wait_for_lock_wait(clean_db)
        assert _visible(clean_db) == (0, 0)
        assert not request.done()
    finally:
        blocker.rollback()  # the held key goes away: the batch creates item 2 itself
        blocker.close()
    resp = await request
    assert resp.status_code == 200, resp.text
    assert [i["status"] for i in resp.json()["items"]] == ["accepted"] * 4
    assert _visible(clean_db) == (4, 4)
