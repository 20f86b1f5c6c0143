"""``/api/ml/search`` over vectors stored by the embed handler (real pgvector, test embedder)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import Engine

from bookmarkai_ml.api import create_app
from bookmarkai_ml.config import Settings
from bookmarkai_ml.contracts import EmbedOptions, EmbedTask
from bookmarkai_ml.db.engine import SessionFactory
from bookmarkai_ml.domain.pricing import price_table
from bookmarkai_ml.fakes import FakeJobContext
from bookmarkai_ml.services.embedding import EmbeddingService
from bookmarkai_ml.services.search import SearchService
from support.api import HashEmbedder, MakeKey, bearer

pytestmark = pytest.mark.integration

SEARCH = "/api/ml/search"
ITEMS = {
    "rust": "Rust ownership explained, with the borrow checker in practice.",
    "bread": "Sourdough starters: feeding schedules and hydration.",
    "keys": "Mechanical keyboards on a budget: switches and keycaps.",
}


def _store(settings: Settings, sessions: SessionFactory, tenant: str) -> None:
    embedder = HashEmbedder()
    service = EmbeddingService(
        sessions=sessions,
        embedder_for=lambda _m, _n: embedder,
        prices=price_table(settings.budgets),
    )
    for share, text in ITEMS.items():
        kind = "video" if share == "rust" else "post"
        task = EmbedTask(
            share_id=share, tenant_id=tenant, content=text, options=EmbedOptions(source_kind=kind)
        )
        service.embed_now(task, FakeJobContext(task="embed"))


@pytest.fixture
async def client(
    api_settings: Settings, clean_db: Engine, sessions: SessionFactory
) -> AsyncIterator[httpx.AsyncClient]:
    embedder = HashEmbedder()

    def search_factory() -> SearchService:
        return SearchService(embedder_for_model=lambda _m: embedder, default_model=embedder.model)

    app = create_app(api_settings, engine=clean_db, search_factory=search_factory, background=[])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as c:
        yield c


async def test_text_query_finds_the_item(
    client: httpx.AsyncClient, make_key: MakeKey, api_settings: Settings, sessions: SessionFactory
) -> None:
    _store(api_settings, sessions, "tenant-a")
    headers = bearer(make_key("tenant-a"))
    resp = await client.get(SEARCH, params={"q": ITEMS["bread"], "k": 2}, headers=headers)
    assert resp.status_code == 200, resp.text
    hits = resp.json()["hits"]
    assert len(hits) == 2
    assert hits[0]["share_id"] == "bread"
    assert hits[0]["similarity"] == pytest.approx(1.0, abs=1e-4)
    assert hits[0]["text"] == ITEMS["bread"]

    only_posts = await client.get(
        SEARCH, params={"q": ITEMS["rust"], "source_kind": "post"}, headers=headers
    )
    assert {h["share_id"] for h in only_posts.json()["hits"]} == {"bread", "keys"}
    like = await client.get(SEARCH, params={"like": "rust", "k": 5}, headers=headers)
    assert "rust" not in {h["share_id"] for h in like.json()["hits"]}


async def test_other_tenants_content_is_invisible(
    client: httpx.AsyncClient, make_key: MakeKey, api_settings: Settings, sessions: SessionFactory
) -> None:
    _store(api_settings, sessions, "tenant-a")
    resp = await client.get(SEARCH, params={"q": ITEMS["rust"]}, headers=bearer(make_key("b")))
    assert resp.status_code == 200
    assert resp.json()["hits"] == []
    like = await client.get(SEARCH, params={"like": "rust"}, headers=bearer(make_key("b")))
    assert like.status_code == 404


async def test_bad_search_requests(client: httpx.AsyncClient, make_key: MakeKey) -> None:
    headers = bearer(make_key())
    neither = await client.get(SEARCH, headers=headers)
    assert neither.status_code == 422
    assert neither.json()["code"] == "invalid_input"
    both = await client.get(SEARCH, params={"q": "x", "like": "y"}, headers=headers)
    assert both.status_code == 422
    too_many = await client.get(SEARCH, params={"q": "x", "k": 101}, headers=headers)
    assert too_many.json()["code"] == "validation_error"
    nul = await client.get(SEARCH, params={"q": "a\x00b", "hybrid": "true"}, headers=headers)
    assert nul.status_code == 422
    assert (await client.get(SEARCH, params={"q": "x"})).status_code == 401
