"""Cost analytics from the materialized views; liveness and readiness."""

from __future__ import annotations

import uuid
from decimal import Decimal

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, text

from bookmarkai_ml.api import create_app
from bookmarkai_ml.config import Settings
from bookmarkai_ml.db.engine import make_session_factory
from bookmarkai_ml.messaging.admin import BrokerAdmin
from bookmarkai_ml.services.analytics import Refresher
from support.api import MakeKey, bearer

pytestmark = pytest.mark.integration

COSTS = "/api/ml/analytics/costs"


def _finished_job(engine: Engine, *, task: str, status: str, usd: str, model: str) -> None:
    job_id = uuid.uuid4()
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO ml_jobs (id, tenant_id, share_id, task, status, idempotency_key, "
                "payload, started_at, finished_at) VALUES (:id, 't', 's', :task, :status, :key, "
                "'{}', now() - interval '2 seconds', now())"
            ),
            {"id": job_id, "task": task, "status": status, "key": job_id.hex},
        )
        if status == "done":
            conn.execute(
                text(
                    "INSERT INTO ml_costs (job_id, tenant_id, task, provider, model, usd, "
                    "input_tokens) VALUES (:id, 't', :task, 'openai', :model, :usd, 100)"
                ),
                {"id": job_id, "task": task, "model": model, "usd": Decimal(usd)},
            )


async def test_costs_by_day_task_model_and_performance(
    client: httpx.AsyncClient, make_key: MakeKey, clean_db: Engine
) -> None:
    with clean_db.begin() as conn:  # views outlive the table truncation: start empty
        conn.execute(text("SELECT ml_refresh_analytics()"))
    headers = bearer(make_key(scopes=["admin"]))  # the whole platform (tenant 't' here)
    _finished_job(clean_db, task="transcribe", status="done", usd="0.012", model="whisper-1")
    _finished_job(clean_db, task="transcribe", status="failed", usd="0", model="whisper-1")
    _finished_job(
        clean_db, task="embed", status="done", usd="0.0001", model="text-embedding-3-small"
    )

    stale = (await client.get(COSTS, headers=headers)).json()
    assert stale["by_day"] == []  # views show the last refresh, not live rows

    report = (await client.get(COSTS, params={"refresh": "true"}, headers=headers)).json()
    assert Decimal(report["total_usd"]) == Decimal("0.0121")
    assert {t["key"]: Decimal(t["usd"]) for t in report["by_task"]} == {
        "embed": Decimal("0.0001"),
        "transcribe": Decimal("0.012"),
    }
    assert {m["key"] for m in report["by_model"]} == {
        "openai/whisper-1",
        "openai/text-embedding-3-small",
    }
    perf = {p["task"]: p for p in report["performance"]}
    assert perf["transcribe"]["jobs"] == 2
    assert perf["transcribe"]["success_rate"] == 0.5
    assert perf["transcribe"]["p50_duration_s"] == pytest.approx(2.0, abs=0.5)

    only = (await client.get(COSTS, params={"task": "embed"}, headers=headers)).json()
    assert [r["task"] for r in only["by_day"]] == ["embed"]
    bad = await client.get(
        COSTS, params={"since": "2026-02-01", "until": "2026-01-01"}, headers=headers
    )
    assert bad.status_code == 422
    assert bad.json()["code"] == "invalid_input"


async def test_scheduled_refresh_takes_turns(clean_db: Engine) -> None:
    _finished_job(clean_db, task="summarize", status="done", usd="0.5", model="gpt-4o-mini")
    refresher = Refresher(make_session_factory(clean_db), interval_s=0)
    with clean_db.connect() as other:  # another replica is refreshing right now
        other.execute(text("SELECT pg_advisory_lock(hashtext('ml_refresh_analytics'))"))
        assert refresher.refresh_now() is False
        other.execute(text("SELECT pg_advisory_unlock(hashtext('ml_refresh_analytics'))"))
    assert refresher.refresh_now() is True
    with clean_db.connect() as conn:
        total: Decimal = conn.execute(
            text("SELECT sum(usd) FROM ml_cost_by_day WHERE tenant_id = ''")
        ).scalar_one()
    assert total == Decimal("0.5")


async def test_healthz_and_readyz_without_a_broker(client: httpx.AsyncClient) -> None:
    live = await client.get("/healthz")
    assert live.status_code == 200
    assert live.json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "broker": "local"}


async def _ready(app: FastAPI) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        try:
            return await client.get("/readyz")
        finally:
            await app.state.ctx.broker_probe.close()


async def test_readyz_checks_the_real_broker(
    api_settings: Settings, clean_db: Engine, amqp_url: str
) -> None:
    settings = api_settings.model_copy(update={"broker_url": amqp_url})
    async with BrokerAdmin.from_settings(settings) as admin:
        await admin.declare_topology()
    resp = await _ready(create_app(settings, engine=clean_db, background=[]))
    assert resp.status_code == 200, resp.text
    assert resp.json()["checks"] == {"database": "ok", "broker": "ok"}


async def test_readyz_is_503_when_the_broker_is_down(
    api_settings: Settings, clean_db: Engine
) -> None:
    down = api_settings.model_copy(update={"broker_url": "amqp://guest:guest@127.0.0.1:1/"})
    resp = await _ready(create_app(down, engine=clean_db, background=[]))
    assert resp.status_code == 503
    body = resp.json()
    assert resp.headers["content-type"] == "application/problem+json"
    assert body["code"] == "not_ready"
    assert body["checks"] == {"database": "ok", "broker": "broker_unavailable"}
