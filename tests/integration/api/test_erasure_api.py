"""``DELETE /api/ml/shares/{share_id}``: tenant-scoped, idempotent, and a new submission of
the same input after it is a new job (the user saved the item again)."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import Engine, text

from support.api import MakeKey, bearer

pytestmark = pytest.mark.integration

SHARE = "article-erase"
BODY = {"share_id": SHARE, "task": "summarize", "input": {"text": "Private words. " * 20}}


async def test_delete_erases_only_the_callers_share(
    client: httpx.AsyncClient, make_key: MakeKey, clean_db: Engine
) -> None:
    a, b = bearer(make_key("tenant-a")), bearer(make_key("tenant-b"))
    mine = (await client.post("/api/ml/jobs", json=BODY, headers=a)).json()["jobs"][0]
    theirs = (await client.post("/api/ml/jobs", json=BODY, headers=b)).json()["jobs"][0]

    answer = await client.delete(f"/api/ml/shares/{SHARE}", headers=a)

    assert answer.status_code == 200, answer.text
    erased = answer.json()
    assert erased["share_id"] == SHARE
    assert erased["removed"]["jobs_cancelled"] == 1
    assert erased["removed"]["jobs_blanked"] == 1
    assert erased["removed"]["media_objects"] == 0
    job = (await client.get(f"/api/ml/jobs/{mine['id']}", headers=a)).json()
    assert job["status"] == "cancelled"
    other = (await client.get(f"/api/ml/jobs/{theirs['id']}", headers=b)).json()
    assert other["status"] == "queued"
    with clean_db.connect() as conn:
        contents = conn.execute(
            text("SELECT tenant_id, payload->>'content' FROM ml_jobs ORDER BY tenant_id")
        ).all()
    assert contents == [("tenant-a", ""), ("tenant-b", BODY["input"]["text"])]

    # Retry of an erased job: its input is gone.
    retry = await client.post(f"/api/ml/jobs/{mine['id']}/retry", headers=a)
    assert retry.status_code == 409
    # The same input submitted again is a new job, not a duplicate of the blanked one.
    again = (await client.post("/api/ml/jobs", json=BODY, headers=a)).json()["jobs"][0]
    assert again["created"] is True
    assert again["id"] != mine["id"]
    # Erasing again is fine (idempotent) and erases the new job too.
    twice = await client.delete(f"/api/ml/shares/{SHARE}", headers=a)
    assert twice.status_code == 200
    assert twice.json()["removed"]["jobs_cancelled"] == 1


async def test_delete_needs_a_key(client: httpx.AsyncClient) -> None:
    answer = await client.delete(f"/api/ml/shares/{SHARE}")
    assert answer.status_code == 401
    assert answer.headers["content-type"].startswith("application/problem+json")
