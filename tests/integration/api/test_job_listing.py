"""``GET /api/ml/jobs``: keyset pages, filters, tenant scope and cursors (real Postgres).

The walk under concurrent inserts is the issue's Must-show item: every job that existed
when the walk began is returned exactly once, and no job twice, while another thread
submits 500 jobs through the same submission service. An ``OFFSET`` listing fails it
(each insert pushes a seen job onto the next page).
"""

from __future__ import annotations

import asyncio
import base64
import threading
from collections import Counter
from datetime import datetime
from typing import Any
from uuid import UUID

import httpx
import pytest
from pydantic import TypeAdapter
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from bookmarkai_ml.api.schemas.jobs import JobCreate
from bookmarkai_ml.api.submission import submit
from bookmarkai_ml.db.engine import SessionFactory, transaction
from bookmarkai_ml.db.jobs import listing
from bookmarkai_ml.domain.keyset import Cursor
from support.api import MakeKey, bearer

pytestmark = pytest.mark.integration

JOBS = "/api/ml/jobs"
_BODY: TypeAdapter[Any] = TypeAdapter(JobCreate)


def _submit(session: Session, n: int, *, tenant: str = "tenant-a", tag: str = "pre") -> list[str]:
    """Submit ``n`` summarize jobs in the caller's transaction; their ids."""
    ids = []
    for i in range(n):
        body = _BODY.validate_python(
            {"share_id": f"{tag}-{i}", "task": "summarize", "input": {"text": f"{tag} {i}."}}
        )
        (done,) = submit(session, body, tenant_id=tenant, traceparent=None)
        ids.append(str(done.job.id))
    return ids


def _seed(
    sessions: SessionFactory, n: int, *, per_tx: int, tenant: str = "tenant-a", tag: str = "pre"
) -> list[str]:
    """``n`` jobs committed ``per_tx`` to a transaction (so they share ``created_at``)."""
    ids: list[str] = []
    for start in range(0, n, per_tx):
        with transaction(sessions) as session:
            ids += _submit(session, min(per_tx, n - start), tenant=tenant, tag=f"{tag}{start}")
    return ids


def _token(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


async def _page(
    client: httpx.AsyncClient, headers: dict[str, str], **params: Any
) -> dict[str, Any]:
    resp = await client.get(JOBS, params=params, headers=headers)
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


async def _walk(
    client: httpx.AsyncClient, headers: dict[str, str], **params: Any
) -> list[dict[str, Any]]:
    """Every page of a listing, concatenated."""
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = await _page(client, headers, **params, **({"cursor": cursor} if cursor else {}))
        seen += page["jobs"]
        cursor = page["next_cursor"]
        if cursor is None:
            return seen


def _key(job: dict[str, Any]) -> tuple[datetime, str]:
    return datetime.fromisoformat(job["created_at"]), job["id"]


async def test_every_job_that_existed_is_listed_once_while_500_are_inserted(
    client: httpx.AsyncClient, make_key: MakeKey, clean_db: Engine, sessions: SessionFactory
) -> None:
    headers = bearer(make_key("tenant-a"))
    existing = _seed(sessions, 300, per_tx=50)  # 50 per created_at: the id breaks the ties
    _seed(sessions, 20, per_tx=20, tenant="tenant-b", tag="other")
    inserted = 0
    new_ids: list[str] = []
    progress = threading.Condition()
    failures: list[BaseException] = []

    def produce() -> None:
        nonlocal inserted
        try:
            for i in range(500):
                with transaction(sessions) as session:
                    new_ids.extend(_submit(session, 1, tag=f"new{i}"))
                with progress:
                    inserted += 1
                    progress.notify_all()
        except BaseException as exc:  # surfaced by the assertion below
            failures.append(exc)
            with progress:
                inserted = 500
                progress.notify_all()

    def wait_for(count: int) -> None:
        with progress:
            progress.wait_for(lambda: inserted >= count, timeout=120)

    producer = threading.Thread(target=produce, name="submitter")
    producer.start()
    seen: list[dict[str, Any]] = []
    inserted_between_pages: list[int] = []
    cursor: str | None = None
    try:
        while True:
            params: dict[str, Any] = {"limit": 25}
            if cursor is not None:
                params["cursor"] = cursor
            before = inserted
            page = await _page(client, headers, **params)
            seen += page["jobs"]
            cursor = page["next_cursor"]
            if cursor is None:
                break
            # Let the submitter get well ahead before the next page: about 45 per page.
            await asyncio.to_thread(wait_for, min(500, before + 45))
            inserted_between_pages.append(inserted - before)
    finally:
        producer.join(timeout=120)
    assert not failures, failures
    assert inserted == 500
    assert sum(inserted_between_pages) >= 300  # the walk really ran under inserts

    counts = Counter(job["id"] for job in seen)
    assert [i for i, n in counts.items() if n > 1] == []
    assert all(counts[i] == 1 for i in existing)
    assert set(counts) <= set(existing) | set(new_ids)  # tenant-a's only
    keys = [_key(job) for job in seen]
    assert keys == sorted(keys, reverse=True)
    assert len(set(keys)) == len(keys)


async def test_a_late_commit_is_returned_once_or_not_at_all(
    client: httpx.AsyncClient, make_key: MakeKey, clean_db: Engine, sessions: SessionFactory
) -> None:
    """``created_at`` is the inserting transaction's start: a job committed mid-walk can sort
    below the cursor (returned once) or above it (not returned), never twice."""
    headers = bearer(make_key("tenant-a"))
    older = _seed(sessions, 10, per_tx=10, tag="old")
    outcomes = {}
    for commit_after_pages in (1, 3):
        with transaction(sessions) as late_tx:
            (late,) = _submit(late_tx, 1, tag=f"late{commit_after_pages}")
            newer = _seed(sessions, 20, per_tx=1, tag=f"newer{commit_after_pages}")
            seen: list[str] = []
            cursor = None
            for _ in range(commit_after_pages):
                params = {"limit": 10, **({"cursor": cursor} if cursor else {})}
                page = await _page(client, headers, **params)
                seen += [j["id"] for j in page["jobs"]]
                cursor = page["next_cursor"]
        # late_tx committed here; the walk goes on
        while cursor is not None:
            page = await _page(client, headers, limit=10, cursor=cursor)
            seen += [j["id"] for j in page["jobs"]]
            cursor = page["next_cursor"]
        counts = Counter(seen)
        assert max(counts.values()) == 1
        assert all(counts[i] == 1 for i in older + newer)
        outcomes[commit_after_pages] = counts[late]
    # After one page the cursor is still above the late job: it is listed. After three
    # pages the walk has passed its created_at: it is not.
    assert outcomes == {1: 1, 3: 0}


async def test_filters_and_pages_of_one_share(
    client: httpx.AsyncClient, make_key: MakeKey, clean_db: Engine, sessions: SessionFactory
) -> None:
    headers = bearer(make_key("tenant-a"))
    other = bearer(make_key("tenant-b"))
    text_body = {"share_id": "a1", "task": "enrich", "input": {"text": "Words to read."}}
    media = {"media_url": "https://m.example/v.mp4"}
    media_body = {"share_id": "v1", "task": "enrich", "input": media}
    for body in (text_body, media_body):
        assert (await client.post(JOBS, json=body, headers=headers)).status_code == 202
    cutoff = datetime.fromisoformat((await _page(client, headers))["jobs"][0]["created_at"])
    later = {"share_id": "a1", "task": "summarize", "input": {"text": "More words."}}
    created = (await client.post(JOBS, json=later, headers=headers)).json()["jobs"][0]
    cancelled = await client.post(f"{JOBS}/{created['id']}/cancel", headers=headers)
    assert cancelled.status_code == 200

    everything = await _walk(client, headers, limit=1)
    assert len(everything) == 4
    assert all("result" not in job for job in everything)

    share = await _walk(client, headers, share_id="a1", limit=2)
    assert sorted(j["task"] for j in share) == ["embed", "summarize", "summarize"]
    summaries = await _walk(client, headers, task="summarize")
    assert [j["share_id"] for j in summaries] == ["a1", "a1"]
    (transcribe,) = await _walk(client, headers, task="transcribe")
    assert transcribe["share_id"] == "v1"
    (stopped,) = await _walk(client, headers, status="cancelled")
    assert stopped["id"] == created["id"]
    assert len(await _walk(client, headers, status="queued")) == 3
    since = await _walk(client, headers, since=cutoff.isoformat())
    assert {j["id"] for j in since} == {created["id"], transcribe["id"]}
    assert await _walk(client, headers, share_id="a1", status="done") == []

    assert (await _page(client, other))["jobs"] == []
    assert await _walk(client, other, share_id="a1") == []


@pytest.mark.parametrize(
    "cursor",
    [
        "not a cursor",
        _token(f"v2|2026-01-01T00:00:00+00:00|{UUID(int=1)}"),
        Cursor(datetime(2026, 1, 1), UUID(int=1)).encode(),  # no UTC offset
        _token("v1|2026-01-01T00:00:00+00:00|not-a-uuid"),
        _token(f"v1|0001-01-01T00:00:00+01:00|{UUID(int=1)}"),  # before year 1 in UTC
        _token("v1|2026-01-01T00:00:00+00:00"),
    ],
)
async def test_a_cursor_this_server_did_not_make_is_a_422(
    client: httpx.AsyncClient, make_key: MakeKey, clean_db: Engine, cursor: str
) -> None:
    resp = await client.get(JOBS, params={"cursor": cursor}, headers=bearer(make_key()))
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.json()["code"] == "invalid_cursor"


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 201},
        {"status": "sleeping"},
        {"task": "enrich"},
        {"cursor": "x" * 201},
        {"since": "yesterday"},
        {"since": "1764460800"},  # a Unix time is not an ISO 8601 date-time
    ],
)
async def test_bad_parameters_are_a_422(
    client: httpx.AsyncClient, make_key: MakeKey, clean_db: Engine, params: dict[str, Any]
) -> None:
    resp = await client.get(JOBS, params=params, headers=bearer(make_key()))
    assert resp.status_code == 422, resp.text
    assert resp.json()["code"] == "validation_error"


async def test_the_page_is_an_index_range_scan(clean_db: Engine, sessions: SessionFactory) -> None:
    """The statement the listing runs starts at the cursor in ``ix_ml_jobs_tenant_created``
    and needs no sort (seq scans off: a near-empty table would not use any index)."""
    _seed(sessions, 5, per_tx=5)
    with transaction(sessions) as session:
        session.execute(text("SET LOCAL enable_seqscan = off"))
        first = listing.page(session, tenant_id="tenant-a", limit=2)
        assert first.next_cursor is not None
        stmt = listing.statement(
            tenant_id="tenant-a", filters=listing.JobFilter(), limit=2, after=first.next_cursor
        )
        compiled = stmt.compile(dialect=session.get_bind().dialect)
        with session.connection().connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN {compiled}", compiled.params)
            plan = "\n".join(str(row[0]) for row in cursor.fetchall())
    assert "ix_ml_jobs_tenant_created" in plan, plan
    assert "Sort" not in plan, plan
