"""Registering, reading and deleting webhook endpoints through the API (real Postgres).

The URL passes the media SSRF guard at registration: loopback, private, link-local and
metadata addresses are refused (422 ``unsafe_url``) unless the media allow-list names them.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import Engine, text

from bookmarkai_ml.api import create_app
from bookmarkai_ml.config import Settings
from support.api import MakeKey, bearer

pytestmark = pytest.mark.integration

HOOKS = "/api/ml/webhooks"
PUBLIC_URL = "http://93.184.215.14/hooks"  # a public literal: nothing is resolved or called


async def test_register_shows_the_secret_once(client: httpx.AsyncClient, make_key: MakeKey) -> None:
    headers = bearer(make_key())
    body = {
        "url": PUBLIC_URL,
        "event_types": ["ai.bookmarkai.ml.job.done", "ai.bookmarkai.ml.job.failed"],
        "description": "prod",
    }
    created = await client.post(HOOKS, json=body, headers=headers)
    assert created.status_code == 201, created.text
    hook = created.json()
    assert created.headers["location"] == f"{HOOKS}/{hook['id']}"
    assert hook["enabled"] is True
    assert hook["event_types"] == body["event_types"]
    prefix, raw = hook["secret"].split("_", 1)
    assert prefix == "whsec"
    assert len(base64.b64decode(raw)) >= 24

    listed = (await client.get(HOOKS, headers=headers)).json()["webhooks"]
    assert [h["id"] for h in listed] == [hook["id"]]
    one = (await client.get(f"{HOOKS}/{hook['id']}", headers=headers)).json()
    assert "secret" not in one
    assert "secret" not in listed[0]
    assert one["url"] == PUBLIC_URL

    log = await client.get(f"{HOOKS}/{hook['id']}/deliveries", headers=headers)
    assert log.status_code == 200
    assert log.json() == {"deliveries": [], "next_before": None}


async def test_another_tenants_endpoint_is_404(
    client: httpx.AsyncClient, make_key: MakeKey, clean_db: Engine
) -> None:
    mine, theirs = bearer(make_key("tenant-a")), bearer(make_key("tenant-b"))
    hook = (await client.post(HOOKS, json={"url": PUBLIC_URL}, headers=mine)).json()
    for path in (f"{HOOKS}/{hook['id']}", f"{HOOKS}/{hook['id']}/deliveries"):
        resp = await client.get(path, headers=theirs)
        assert resp.status_code == 404
        assert resp.headers["content-type"] == "application/problem+json"
        assert resp.json()["code"] == "not_found"
    assert (await client.delete(f"{HOOKS}/{hook['id']}", headers=theirs)).status_code == 404
    assert (await client.get(HOOKS, headers=theirs)).json() == {"webhooks": []}

    assert (await client.delete(f"{HOOKS}/{hook['id']}", headers=mine)).status_code == 204
    assert (await client.get(f"{HOOKS}/{hook['id']}", headers=mine)).status_code == 404
    with clean_db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM ml_webhooks")).scalar_one() == 0


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hooks",
        "http://10.1.2.3/hooks",
        "http://192.168.0.10/hooks",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hooks",
        "http://[::ffff:127.0.0.1]/hooks",
        "http://localhost/hooks",
        "http://2130706433/hooks",  # 127.0.0.1 in decimal
        "ftp://example.com/hooks",
        "http://user:pw@93.184.215.14/hooks",
    ],
)
async def test_unsafe_urls_are_refused(
    client: httpx.AsyncClient, make_key: MakeKey, clean_db: Engine, url: str
) -> None:
    resp = await client.post(HOOKS, json={"url": url}, headers=bearer(make_key()))
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    assert resp.json()["code"] == "unsafe_url"
    with clean_db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM ml_webhooks")).scalar_one() == 0


async def test_unknown_event_type_is_a_validation_problem(
    client: httpx.AsyncClient, make_key: MakeKey
) -> None:
    body = {"url": PUBLIC_URL, "event_types": ["ai.bookmarkai.ml.job.exploded"]}
    resp = await client.post(HOOKS, json=body, headers=bearer(make_key()))
    assert resp.status_code == 422
    assert resp.json()["code"] == "validation_error"


@pytest.fixture
async def allowing_client(
    api_settings: Settings, clean_db: Engine
) -> AsyncIterator[httpx.AsyncClient]:
    """The API with 127.0.0.1:9 on the media allow-list."""
    media = api_settings.media.model_copy(update={"allowed_hosts": ["127.0.0.1:9"]})
    app = create_app(
        api_settings.model_copy(update={"media": media}), engine=clean_db, background=[]
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as c:
        yield c


async def test_the_media_allow_list_lets_a_loopback_endpoint_through(
    allowing_client: httpx.AsyncClient, make_key: MakeKey
) -> None:
    headers = bearer(make_key())
    ok = await allowing_client.post(HOOKS, json={"url": "http://127.0.0.1:9/h"}, headers=headers)
    assert ok.status_code == 201, ok.text
    other_port = await allowing_client.post(
        HOOKS, json={"url": "http://127.0.0.1:10/h"}, headers=headers
    )
    assert other_port.status_code == 422


async def test_405_names_every_method_of_the_path(
    client: httpx.AsyncClient, make_key: MakeKey
) -> None:
    """GET and DELETE of one path live in two routes; Allow lists both (RFC 9110 15.5.6)."""
    path = f"{HOOKS}/0b6a3f9e-3f0c-4d6e-9a51-7d2f4c1e8b20"
    resp = await client.request("PATCH", path, headers=bearer(make_key()))
    assert resp.status_code == 405
    assert resp.headers["allow"] == "GET, DELETE"
    assert resp.json()["code"] == "method_not_allowed"
