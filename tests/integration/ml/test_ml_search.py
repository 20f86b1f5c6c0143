"""Embedding and search on the real Postgres with pgvector and the real model (ONNX path).

A module-scoped corpus of 200 generated documents (``support.corpus``) is embedded
through the embed job handler under its own tenant, then searched.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, text

from bookmarkai_ml import bootstrap
from bookmarkai_ml.config import Settings
from bookmarkai_ml.contracts import EmbedOptions, EmbedTask, TranscriptSegmentIn
from bookmarkai_ml.db import embeddings as repo
from bookmarkai_ml.db import vector_index
from bookmarkai_ml.db.embeddings import SearchFilters
from bookmarkai_ml.db.engine import SessionFactory, transaction
from bookmarkai_ml.domain.chunking import ChunkPolicy
from bookmarkai_ml.domain.pricing import DEFAULT_TABLE, token_cost
from bookmarkai_ml.fakes import FakeJobContext
from bookmarkai_ml.ports import Embedder
from bookmarkai_ml.providers.embed_onnx import OnnxEmbedder
from bookmarkai_ml.services.embedding import EmbeddingService
from bookmarkai_ml.services.search import SearchHit, SearchService
from support.corpus import corpus, queries
from support.ml import MLStub, on_stub

pytestmark = pytest.mark.integration

TENANT = "corpus"
MODEL = "all-MiniLM-L6-v2"


def service(sessions: SessionFactory, embedder: Embedder) -> EmbeddingService:
    return EmbeddingService(
        sessions=sessions,
        embedder_for=lambda _model, _size: embedder,
        prices=DEFAULT_TABLE,
        policy=ChunkPolicy(120, 20),
    )


class Search:
    """The search service over the test's sessions: one transaction per query, as a route."""

    def __init__(self, service: SearchService, sessions: SessionFactory) -> None:
        self.service = service
        self.sessions = sessions

    def search(self, query: str | None = None, **options: Any) -> list[SearchHit]:
        with transaction(self.sessions) as session:
            return self.service.search(session, query, **options)


def searcher(sessions: SessionFactory, embedder: Embedder) -> Search:
    service = SearchService(embedder_for_model=lambda _m: embedder, default_model=MODEL)
    return Search(service, sessions)


@pytest.fixture(scope="module")
def loaded(engine: Engine, sessions: SessionFactory, onnx_embedder: OnnxEmbedder) -> Search:
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM ml_embeddings WHERE tenant_id = :t"), {"t": TENANT})
    embed = service(sessions, onnx_embedder)
    for n, doc in enumerate(corpus()):
        kind = "video" if n % 2 else "web"
        message = EmbedTask(
            share_id=doc.share_id,
            tenant_id=TENANT,
            content=doc.text,
            options=EmbedOptions(source_kind=kind),
        )
        embed.embed_now(message, FakeJobContext(task="embed"))
    return searcher(sessions, onnx_embedder)


def test_twenty_queries_find_their_document_in_the_top_three(loaded: Search) -> None:
    misses = []
    for doc in queries(20):
        hits = loaded.search(doc.query, tenant_id=TENANT, k=3)
        if doc.share_id not in [h.share_id for h in hits]:
            misses.append((doc.query, [h.share_id for h in hits]))
    assert not misses


def test_explain_shows_the_partial_hnsw_index(
    loaded: Search, sessions: SessionFactory, onnx_embedder: OnnxEmbedder
) -> None:
    vector = onnx_embedder.embed(["volcano eruptions"])[0]
    with sessions() as session, session.begin():
        # 200 rows are few enough that a sequential scan is cheaper; forbid it to see
        # whether the query *can* use the index (bench/search.py shows it at 100k rows).
        session.execute(text("SET LOCAL enable_seqscan = off"))
        plan = session.execute(
            text("EXPLAIN " + repo.knn_sql(384, ["tenant_id = :tenant"])),
            {"model": MODEL, "tenant": TENANT, "query": repo.vector_literal(vector), "k": 5},
        )
        lines = "\n".join(str(p[0]) for p in plan)
    assert vector_index.index_name(MODEL, 384) in lines
    assert "Index Scan" in lines


def test_filters_by_share_source_kind_and_date(loaded: Search) -> None:
    only = loaded.search(
        "volcano", tenant_id=TENANT, k=5, filters=SearchFilters(share_ids=["doc-05-cost"])
    )
    assert [h.share_id for h in only] == ["doc-05-cost"]
    videos = loaded.search(
        "espresso coffee", tenant_id=TENANT, k=10, filters=SearchFilters(source_kinds=["video"])
    )
    assert videos
    assert {h.source_kind for h in videos} == {"video"}
    future = datetime.now(UTC) + timedelta(days=1)
    assert (
        loaded.search("espresso", tenant_id=TENANT, k=5, filters=SearchFilters(created_from=future))
        == []
    )
    hits = loaded.search(
        "espresso", tenant_id=TENANT, k=5, filters=SearchFilters(created_to=future)
    )
    assert len(hits) == 5
    assert len({h.share_id for h in hits}) == 5, "one hit per share"


def test_more_like_this_share_finds_its_subject_and_not_itself(loaded: Search) -> None:
    hits = loaded.search(like_share_id="doc-03-history", tenant_id=TENANT, k=4)
    ids = [h.share_id for h in hits]
    assert "doc-03-history" not in ids
    assert sum(i.startswith("doc-03-") for i in ids) >= 3  # beekeeping's other aspects


def test_hybrid_search_fuses_full_text_ranks(loaded: Search) -> None:
    hits = loaded.search("Sicilian defence", tenant_id=TENANT, k=3, hybrid=True)
    assert hits[0].share_id.startswith("doc-04-")  # chess openings
    assert hits[0].score > 0


def test_reembedding_replaces_vectors_and_transcripts_keep_times(
    clean_db: Engine, sessions: SessionFactory, onnx_embedder: OnnxEmbedder
) -> None:
    embed = service(sessions, onnx_embedder)
    long = " ".join(f"Paragraph {i} talks about glaciers melting in the Alps." for i in range(40))
    embed.embed_now(EmbedTask(share_id="s1", content=long), FakeJobContext(task="embed"))
    segments = [
        TranscriptSegmentIn(start=0.0, end=4.0, text="Welcome to the cooking show."),
        TranscriptSegmentIn(start=4.0, end=9.5, text="Today we make fresh pasta with eggs."),
        TranscriptSegmentIn(start=9.5, end=15.0, text="Knead the dough for ten minutes."),
    ]
    outcome = embed.embed_now(
        EmbedTask(share_id="s1", segments=segments), FakeJobContext(task="embed")
    )
    with clean_db.connect() as conn:
        rows = conn.execute(
            text("SELECT content_kind, start_s, end_s FROM ml_embeddings WHERE share_id = 's1'")
        ).all()
    assert len(rows) == outcome.result.chunks == 1  # type: ignore[attr-defined]
    assert rows[0].content_kind == "transcript"
    hit = searcher(sessions, onnx_embedder).search("how long to knead pasta dough", k=1)[0]
    assert (hit.start_s, hit.end_s) == (0.0, 15.0)


def test_openai_embeddings_are_priced_and_get_their_own_index(
    clean_db: Engine, sessions: SessionFactory, ml_settings: Settings, stub: MLStub
) -> None:
    handler = bootstrap.embedding_handler(on_stub(ml_settings, stub, embedder="openai"), sessions)
    ctx = FakeJobContext(task="embed")
    outcome = handler.embed_now(EmbedTask(share_id="s2", content="A saved thread about rust."), ctx)
    result = outcome.result
    assert (result.model, result.dimension, result.provider) == (  # type: ignore[attr-defined]
        "text-embedding-3-small",
        1536,
        "openai",
    )
    tokens = result.tokens  # type: ignore[attr-defined]
    assert outcome.cost.usd == token_cost("openai", "text-embedding-3-small", tokens)
    assert ctx.reserved == [outcome.cost.usd]
    with clean_db.connect() as conn:
        names = [str(n[0]) for n in conn.execute(text("SELECT indexname FROM pg_indexes"))]
    assert vector_index.index_name("text-embedding-3-small", 1536) in names
