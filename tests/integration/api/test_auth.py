"""API keys: 401 for missing, wrong and revoked keys; tenants see only their own jobs; 429."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, text

from bookmarkai_ml.api import create_app
from bookmarkai_ml.config import Environment, Settings
from bookmarkai_ml.db.engine import SessionFactory, transaction
from bookmarkai_ml.errors import ConfigurationError
from bookmarkai_ml.services import apikeys
from support.api import MakeKey, bearer

pytestmark = pytest.mark.integration

JOBS = "/api/ml/jobs"
BODY = {"share_id": "share-1", "task": "summarize", "input": {"text": "Some text to summarize."}}


def _is_401(resp: httpx.Response) -> None:
    assert resp.status_code == 401
    assert resp.headers["content-type"] == "application/problem+json"
    assert resp.headers["www-authenticate"] == "Bearer"
    assert resp.json()["code"] == "unauthorized"


async def test_missing_key_is_401(client: httpx.AsyncClient) -> None:
    _is_401(await client.post(JOBS, json=BODY))
    _is_401(await client.get(f"{JOBS}/00000000-0000-0000-0000-000000000000"))


async def test_wrong_key_is_401(client: httpx.AsyncClient, make_key: MakeKey) -> None:
    make_key()
    _is_401(await client.post(JOBS, json=BODY, headers=bearer("bkml_not-a-real-key")))
    _is_401(await client.post(JOBS, json=BODY, headers={"Authorization": "Basic Zm9vOmJhcg=="}))


async def test_revoked_key_is_401(
    client: httpx.AsyncClient, make_key: MakeKey, sessions: SessionFactory
) -> None:
    key = make_key()
    assert (await client.post(JOBS, json=BODY, headers=bearer(key))).status_code == 202
    with transaction(sessions) as session:
        info = apikeys.list_keys(session)[0]
        apikeys.revoke(session, str(info.id))
    _is_401(await client.post(JOBS, json=BODY, headers=bearer(key)))


async def test_other_tenant_gets_404(
    client: httpx.AsyncClient, make_key: MakeKey, clean_db: Engine
) -> None:
    key_a, key_b = make_key("tenant-a"), make_key("tenant-b")
    job = (await client.post(JOBS, json=BODY, headers=bearer(key_a))).json()["jobs"][0]
    for method, path in (("GET", ""), ("POST", "/cancel"), ("POST", "/retry")):
        resp = await client.request(method, f"{JOBS}/{job['id']}{path}", headers=bearer(key_b))
        assert resp.status_code == 404, (method, path)
        assert resp.json()["code"] == "not_found"
    mine = await client.get(f"{JOBS}/{job['id']}", headers=bearer(key_a))
    assert mine.status_code == 200
    assert mine.json()["status"] == "queued"  # B's cancel did not touch it


async def test_burst_over_the_limit_is_429(
    api_settings: Settings, clean_db: Engine, make_key: MakeKey
) -> None:
    limited = api_settings.model_copy(
        update={
            "api": api_settings.api.model_copy(
                update={"rate_limit_burst": 5, "rate_limit_per_minute": 6}
            )
        }
    )
    app: FastAPI = create_app(limited, engine=clean_db, background=[])
    key, other = make_key("tenant-a"), make_key("tenant-b")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        statuses = [
            (
                await client.get(
                    f"{JOBS}/00000000-0000-0000-0000-000000000000", headers=bearer(key)
                )
            ).status_code
            for _ in range(8)
        ]
        assert statuses[:5] == [404] * 5
        assert statuses[5:] == [429] * 3
        limited_resp = await client.get(
            f"{JOBS}/00000000-0000-0000-0000-000000000000", headers=bearer(key)
        )
        assert limited_resp.headers["content-type"] == "application/problem+json"
        assert limited_resp.json()["code"] == "rate_limited"
        assert int(limited_resp.headers["retry-after"]) >= 1
        # Buckets are per key: another key is unaffected.
        other_resp = await client.get(
            f"{JOBS}/00000000-0000-0000-0000-000000000000", headers=bearer(other)
        )
        assert other_resp.status_code == 404


async def test_keys_off_in_development_means_the_default_tenant(
    api_settings: Settings, clean_db: Engine
) -> None:
    open_api = api_settings.model_copy(
        update={"api": api_settings.api.model_copy(update={"require_auth": False})}
    )
    app = create_app(open_api, engine=clean_db, background=[])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        job = (await client.post(JOBS, json=BODY)).json()["jobs"][0]
        assert (await client.get(f"{JOBS}/{job['id']}")).status_code == 200
    with clean_db.connect() as conn:
        assert conn.execute(text("SELECT tenant_id FROM ml_jobs")).scalar_one() == "default"


def test_keys_cannot_be_switched_off_in_production(
    api_settings: Settings, clean_db: Engine
) -> None:
    prod = api_settings.model_copy(
        update={
            "environment": Environment.PRODUCTION,
            "api": api_settings.api.model_copy(update={"require_auth": False}),
        }
    )
    with pytest.raises(ConfigurationError):
        create_app(prod, engine=clean_db, background=[])
