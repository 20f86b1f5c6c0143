"""Faults answer with problems: a lost database is 503, a bug is a bare 500 without secrets."""

from __future__ import annotations

import logging

import httpx
import pytest
from sqlalchemy import Engine

from bookmarkai_ml.api import create_app
from bookmarkai_ml.config import Settings
from bookmarkai_ml.db.engine import make_engine
from support.api import MakeKey, bearer

pytestmark = pytest.mark.integration


async def test_database_down_is_503_not_500(api_settings: Settings) -> None:
    dead = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1")
    app = create_app(api_settings, engine=dead, background=[])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        resp = await client.get(
            "/api/ml/jobs/00000000-0000-0000-0000-000000000000", headers=bearer("bkml_x")
        )
        assert resp.status_code == 503
        assert resp.json()["code"] == "database_unavailable"
        assert "detail" not in resp.json()  # 5xx bodies name no hosts or drivers
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["database"] == "database_unavailable"
        assert (await client.get("/healthz")).status_code == 200
    dead.dispose()


async def test_a_bug_is_a_bare_500_and_logs_no_traceback(
    api_settings: Settings, clean_db: Engine, make_key: MakeKey, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(api_settings, engine=clean_db, background=[])

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("password=hunter2 at /srv/secret.py")

    transport = httpx.ASGITransport(app=app)
    with caplog.at_level(logging.INFO):
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
            resp = await client.get("/boom", headers=bearer(make_key()))
    assert resp.status_code == 500
    assert resp.headers["content-type"] == "application/problem+json"
    assert resp.json()["code"] == "internal_error"
    assert "hunter2" not in resp.text
    assert "Traceback" not in resp.text
    assert "hunter2" not in caplog.text
    assert all(r.exc_info is None for r in caplog.records)
    assert "RuntimeError" in caplog.text  # the log still says what broke, with an error id
