"""The per-share view after a real enrich run: ``GET /api/ml/shares/{id}`` and ``show``.

The enrich runs on the real job runtime and local broker path with scripted models
(``support.enrich``), so jobs, results, costs and ``ml_embeddings`` rows are the ones a
worker commits.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any
from uuid import UUID

import httpx
import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from bookmarkai_ml.cli.main import app as cli
from bookmarkai_ml.config import Settings
from bookmarkai_ml.db.engine import SessionFactory, transaction
from bookmarkai_ml.db.jobs import PostgresJobRepository
from bookmarkai_ml.services import jobs
from support.api import MakeKey, bearer
from support.enrich import SEGMENTS, enrich_media

pytestmark = pytest.mark.integration

SHARE = "video-7"


@pytest.fixture
async def enriched(api_settings: Settings, clean_db: Engine) -> Engine:
    """``video-7`` of tenant-a enriched (transcribe, then summarize and embed), all done."""
    await enrich_media(api_settings, clean_db, share_id=SHARE, tenant_id="tenant-a")
    return clean_db


async def _share(
    client: httpx.AsyncClient, key: str, share_id: str = SHARE, status: int = 200
) -> dict[str, Any]:
    resp = await client.get(f"/api/ml/shares/{share_id}", headers=bearer(key))
    assert resp.status_code == status, resp.text
    body: dict[str, Any] = resp.json()
    return body


async def test_the_view_shows_every_result_job_and_cost(
    client: httpx.AsyncClient, make_key: MakeKey, enriched: Engine
) -> None:
    view = await _share(client, make_key("tenant-a"))
    assert view["share_id"] == SHARE

    transcript = view["transcript"]
    assert [s["text"] for s in transcript["segments"]] == [s.text for s in SEGMENTS]
    assert transcript["segments"][0]["start"] == 0.0
    assert transcript["language"] == "en"
    assert transcript["language_probability"] == pytest.approx(0.97)
    assert transcript["duration_s"] == pytest.approx(6.0)
    assert transcript["silent"] is False
    assert transcript["text"].startswith("Welcome to the queue briefing.")

    summary = view["summary"]
    assert summary["summary"] == "Welcome to the queue briefing."
    assert summary["tags"]
    assert summary["method"] == "extractive"

    with enriched.connect() as conn:
        stored = conn.execute(
            text(
                "SELECT model, dimension, count(*) FROM ml_embeddings "
                "WHERE share_id = :s GROUP BY model, dimension"
            ),
            {"s": SHARE},
        ).one()
        cost = conn.execute(text("SELECT sum(usd) FROM ml_costs")).scalar_one()
        ids = {str(r.task): str(r.id) for r in conn.execute(text("SELECT id, task FROM ml_jobs"))}
    (embeddings,) = view["embeddings"]
    assert (embeddings["model"], embeddings["dimension"], embeddings["chunks"]) == tuple(stored)
    assert embeddings["model"] == "hash-embed-16"
    assert embeddings["chunks"] >= 1

    # Oldest first: the follow-ups were created together, after the transcription.
    assert view["jobs"][0]["task"] == "transcribe"
    assert {j["task"]: j["id"] for j in view["jobs"]} == ids
    assert all(j["status"] == "done" and j["finished_at"] for j in view["jobs"])
    assert all("result" not in j for j in view["jobs"])
    assert transcript["job_id"] == ids["transcribe"]
    assert summary["job_id"] == ids["summarize"]
    assert cost > 0
    assert Decimal(view["total_usd"]) == cost


async def test_another_tenants_share_and_an_unknown_share_are_404(
    client: httpx.AsyncClient, make_key: MakeKey, enriched: Engine
) -> None:
    other = make_key("tenant-b")
    for share_id in (SHARE, "no-such-share"):
        resp = await client.get(f"/api/ml/shares/{share_id}", headers=bearer(other))
        assert resp.status_code == 404
        assert resp.headers["content-type"].startswith("application/problem+json")
        assert resp.json()["code"] == "not_found"
    unauthenticated = await client.get(f"/api/ml/shares/{SHARE}")
    assert unauthenticated.status_code == 401


async def test_failed_and_newer_jobs_show_in_the_view(
    client: httpx.AsyncClient,
    make_key: MakeKey,
    enriched: Engine,
    sessions: SessionFactory,
    api_settings: Settings,
) -> None:
    """A job that failed after the enrich shows its error; the results stay the done ones."""
    key = make_key("tenant-a")
    body = {"share_id": SHARE, "task": "summarize", "input": {"text": "Other words here."}}
    resp = await client.post("/api/ml/jobs", json=body, headers=bearer(key))
    assert resp.status_code == 202, resp.text
    failed_id = resp.json()["jobs"][0]["id"]
    repository = PostgresJobRepository(sessions, lease_s=float(api_settings.worker.lease_s))
    repository.fail(UUID(failed_id), code="provider_rejected", message="the provider said no")

    view = await _share(client, key)
    last = view["jobs"][-1]
    assert last["id"] == failed_id
    assert last["status"] == "failed"
    assert last["error"] == {"code": "provider_rejected", "message": "the provider said no"}
    assert view["summary"]["summary"] == "Welcome to the queue briefing."
    with sessions() as session:
        done_summary = [
            j
            for j in jobs.page(session, tenant_id="tenant-a").jobs
            if j.task == "summarize" and j.status == "done"
        ]
    assert view["summary"]["job_id"] == str(done_summary[0].id)


async def test_show_prints_the_api_document_and_a_readable_view(
    client: httpx.AsyncClient,
    make_key: MakeKey,
    enriched: Engine,
    api_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    view = await _share(client, make_key("tenant-a"))
    monkeypatch.setenv("BOOKMARKAI_ML_DATABASE_URL", str(api_settings.database_url))
    monkeypatch.setenv("BOOKMARKAI_ML_DATA_DIR", str(api_settings.data_dir))
    monkeypatch.setenv("COLUMNS", "200")  # rich wraps at 80 columns without a terminal
    runner = CliRunner()

    as_json = runner.invoke(cli, ["show", SHARE, "--tenant", "tenant-a", "--json"])
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.stdout) == view

    human = runner.invoke(cli, ["show", SHARE, "--tenant", "tenant-a"])
    assert human.exit_code == 0, human.output
    for expected in (
        f"share {SHARE}",
        f"total cost ${view['total_usd']}",
        "transcript en (p=0.97), 6.0 s, 3 segments",
        "Workers acknowledge messages late.",
        "Welcome to the queue briefing.",
        "tags: " + ", ".join(view["summary"]["tags"]),
        f"hash-embed-16 (16-d): {view['embeddings'][0]['chunks']} chunks",
        "transcribe",
        "done",
    ):
        assert expected in human.stdout, (expected, human.stdout)

    elsewhere = runner.invoke(cli, ["show", SHARE, "--tenant", "tenant-b"])
    assert elsewhere.exit_code == 4
    assert "not found" in elsewhere.stderr


async def test_a_share_in_the_middle_of_its_work_shows_its_queued_jobs(
    client: httpx.AsyncClient, make_key: MakeKey, clean_db: Engine, sessions: SessionFactory
) -> None:
    key = make_key("tenant-a")
    body = {"share_id": "s-new", "task": "enrich", "input": {"text": "Fresh words to read."}}
    assert (await client.post("/api/ml/jobs", json=body, headers=bearer(key))).status_code == 202
    view = await _share(client, key, "s-new")
    assert view["transcript"] is None
    assert view["summary"] is None
    assert view["embeddings"] == []
    assert sorted(j["task"] for j in view["jobs"]) == ["embed", "summarize"]
    assert {j["status"] for j in view["jobs"]} == {"queued"}
    assert Decimal(view["total_usd"]) == 0
    with transaction(sessions) as session:
        assert len(jobs.page(session, tenant_id="tenant-a", limit=10).jobs) == 2


async def test_an_erased_share_shows_its_jobs_and_cost_without_content(
    client: httpx.AsyncClient, make_key: MakeKey, enriched: Engine
) -> None:
    key = make_key("tenant-a")
    before = await _share(client, key)
    assert before["erased_at"] is None
    erased = await client.delete(f"/api/ml/shares/{SHARE}", headers=bearer(key))
    assert erased.status_code == 200, erased.text

    after = await _share(client, key)
    assert after["erased_at"] is not None
    assert after["transcript"] is None
    assert after["summary"] is None
    assert after["embeddings"] == []
    assert [j["id"] for j in after["jobs"]] == [j["id"] for j in before["jobs"]]
    assert after["total_usd"] == before["total_usd"]  # cost rows are kept for accounting
