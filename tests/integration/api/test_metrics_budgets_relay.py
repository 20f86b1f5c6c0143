"""Budget status, Prometheus/JSON metrics, and the relay embedded in the API's lifespan."""

from __future__ import annotations

import asyncio
from datetime import datetime
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import Engine, text

from bookmarkai_ml.api import create_app
from bookmarkai_ml.config import Settings
from bookmarkai_ml.observability import names
from support.api import MakeKey, bearer

pytestmark = pytest.mark.integration


async def test_budget_windows(client: httpx.AsyncClient, make_key: MakeKey) -> None:
    admin = bearer(make_key(scopes=["admin"]))  # the global windows are the platform's
    resp = await client.get("/api/ml/analytics/budgets", headers=admin)
    assert resp.status_code == 200
    windows = {(w["task"], w["window"]): w for w in resp.json()["windows"]}
    hour = windows[("transcribe", "hour")]
    assert Decimal(hour["limit_usd"]) == Decimal("1")
    assert Decimal(hour["remaining_usd"]) == Decimal("1")
    assert Decimal(hour["spent_usd"]) == 0
    assert hour["resets_at"]
    only = await client.get("/api/ml/analytics/budgets", params={"task": "embed"}, headers=admin)
    assert {w["task"] for w in only.json()["windows"]} == {"embed"}


async def test_metrics_count_http_requests(client: httpx.AsyncClient) -> None:
    await client.get("/healthz")
    await client.get("/api/ml/jobs/00000000-0000-0000-0000-000000000000")  # 401
    prom = await client.get("/api/ml/metrics/prometheus")
    assert prom.status_code == 200
    assert prom.headers["content-type"].startswith("text/plain")
    assert f'{names.HTTP_REQUESTS}_total{{method="GET",route="/healthz",status="200"}}' in prom.text
    assert 'route="/api/ml/jobs/{job_id}",status="401"' in prom.text
    assert names.PRODUCER_CONNECTION_STATE in prom.text

    data = (await client.get("/api/ml/metrics/json")).json()
    samples = data[names.HTTP_REQUESTS]["samples"]
    assert any(s["labels"].get("route") == "/healthz" and s["value"] >= 1 for s in samples)


async def test_relay_runs_inside_the_api(
    api_settings: Settings, clean_db: Engine, amqp_url: str, make_key: MakeKey
) -> None:
    settings = api_settings.model_copy(update={"broker_url": amqp_url})
    app = create_app(settings, engine=clean_db)
    body = {"share_id": "r1", "task": "summarize", "input": {"text": "relay me"}}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
            resp = await client.post("/api/ml/jobs", json=body, headers=bearer(make_key()))
            assert resp.status_code == 202
        for _ in range(100):
            with clean_db.connect() as conn:
                sent: datetime | None = conn.execute(
                    text("SELECT sent_at FROM ml_outbox")
                ).scalar_one()
            if sent is not None:
                break
            await asyncio.sleep(0.1)
    assert sent is not None, "the embedded relay did not publish the outbox row"
