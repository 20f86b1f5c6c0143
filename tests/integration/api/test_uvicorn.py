"""The app under a real uvicorn on 127.0.0.1: lifespan starts and stops its background work."""

from __future__ import annotations

import asyncio
import socket
import uuid

import httpx
import pytest
import uvicorn
from sqlalchemy import Engine, text

from bookmarkai_ml.api import create_app
from bookmarkai_ml.config import Settings

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def test_served_by_uvicorn_with_the_analytics_refresh(
    api_settings: Settings, clean_db: Engine
) -> None:
    job_id = uuid.uuid4()
    with clean_db.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO ml_jobs (id, tenant_id, share_id, task, status, idempotency_key, "
                "payload) VALUES (:id, 't', 's', 'embed', 'done', :key, '{}')"
            ),
            {"id": job_id, "key": job_id.hex},
        )
        conn.execute(
            text(
                "INSERT INTO ml_costs (job_id, tenant_id, task, provider, model, usd) "
                "VALUES (:id, 't', 'embed', 'local', 'all-MiniLM-L6-v2', 0)"
            ),
            {"id": job_id},
        )
    port = _free_port()
    app = create_app(api_settings, engine=clean_db)  # default background: analytics refresh
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            for _ in range(100):
                if server.started:
                    break
                await asyncio.sleep(0.05)
            assert (await client.get("/healthz")).json() == {"status": "ok"}
            for _ in range(1200):  # ready once the lifespan has loaded the embedder
                ready = await client.get("/readyz")
                if ready.status_code == 200:
                    break
                assert ready.json()["checks"]["embedder"] == "loading", ready.text
                await asyncio.sleep(0.1)
            assert ready.json()["checks"]["embedder"] == "ok", ready.text
            assert app.state.ctx.embedder.readiness() == "ok"
            docs = await client.get("/docs")
            assert docs.status_code == 200
            assert "swagger" in docs.text.lower()
            assert (await client.get("/openapi.json")).json()["info"]["title"]
            for _ in range(100):  # the refresher runs once at start-up
                with clean_db.connect() as conn:
                    jobs = conn.execute(
                        text(
                            "SELECT coalesce(sum(jobs), 0) FROM ml_cost_by_day "
                            "WHERE tenant_id = ''"  # the platform's rows (one set per tenant too)
                        )
                    )
                    if jobs.scalar_one() == 1:
                        break
                await asyncio.sleep(0.05)
            else:
                pytest.fail("the analytics views were not refreshed at start-up")
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, timeout=10)
