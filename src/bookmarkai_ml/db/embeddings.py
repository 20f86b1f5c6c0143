"""The ``ml_embeddings`` repository: replace a share's vectors, k-NN and full-text search.

An embed job's vectors are stored by its finish (``db/jobs/runs.py``), in the transaction
that marks it done: readers see the share's old set or its new one, never both or none.

Every vector query repeats the partial index's expression and predicate
(``vector_index.distance_sql`` / ``model_predicate_sql``), or Postgres cannot use
the HNSW index and scans. With filters, pgvector 0.8's iterative index scan keeps
reading the graph until enough rows pass them
(https://github.com/pgvector/pgvector#iterative-index-scans).
The caller owns the transaction (``db.engine.transaction``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

from bookmarkai_ml.db import vector_index
from bookmarkai_ml.domain.chunking import Chunk
from bookmarkai_ml.ports import FloatArray, VectorSet

_ENSURED: set[tuple[str, str, int]] = set()


@dataclass(frozen=True, slots=True)
class SearchFilters:
    """Optional restrictions of a search; empty means everything of the tenant."""

    share_ids: Sequence[str] | None = None
    exclude_share_ids: Sequence[str] | None = None
    source_kinds: Sequence[str] | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None


@dataclass(frozen=True, slots=True)
class ChunkHit:
    """One stored chunk that matched, with its cosine distance or text rank."""

    id: int
    share_id: str
    chunk_index: int
    content: str
    content_kind: str
    source_kind: str | None
    start_s: float | None
    end_s: float | None
    created_at: datetime
    distance: float | None = None
    text_rank: float | None = None
    extra: dict[str, float] = field(default_factory=dict)


def vector_literal(vector: Sequence[float] | FloatArray) -> str:
    """pgvector's text form ``[x,y,...]``, bound as text and cast in SQL."""
    return "[" + ",".join(f"{float(x):.7g}" for x in np.asarray(vector).ravel()) + "]"


def ensure_index(session: Session, model: str, dimension: int) -> None:
    """Create the partial HNSW index of (model, dimension) if missing (once per process)."""
    key = (str(session.get_bind().engine.url), model, dimension)
    if key in _ENSURED:
        return
    # Two workers storing a new model's first vectors at once would race on the
    # catalog even with IF NOT EXISTS; a transaction-scoped lock serialises them.
    session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended('ml_emb_index', 0))"))
    session.execute(text(vector_index.create_index_sql(model, dimension)))
    _ENSURED.add(key)


def replace_share(
    session: Session,
    *,
    tenant_id: str,
    share_id: str,
    model: str,
    vectors: FloatArray,
    chunks: Sequence[Chunk],
    job_id: UUID | None = None,
    content_kind: str = "text",
    source_kind: str | None = None,
) -> int:
    """Swap ALL the share's vectors (every model) for new ones in the caller's transaction.

    A share's vectors are those of its latest embed job: a reprocess with another model
    replaces the old model's vectors rather than leaving a stale copy searchable under
    it. A job older (by submission) than the one whose vectors are stored writes
    nothing (returns 0), so an old job finishing late cannot undo a reprocess.

    A transaction-scoped advisory lock per (tenant, share) serialises two jobs
    re-embedding the same share, so readers see the old set or the new one.
    """
    if len(chunks) != len(vectors):
        raise ValueError("one vector per chunk")
    dimension = int(vectors.shape[1]) if len(vectors) else 0
    session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
        {"k": f"{tenant_id}\x1f{share_id}"},
    )
    if (
        job_id is not None
        and session.execute(_NEWER, {"t": tenant_id, "s": share_id, "job": job_id}).first()
    ):
        return 0
    session.execute(
        text("DELETE FROM ml_embeddings WHERE tenant_id = :t AND share_id = :s"),
        {"t": tenant_id, "s": share_id},
    )
    if not chunks:
        return 0
    ensure_index(session, model, dimension)
    rows = [
        {
            "tenant_id": tenant_id,
            "share_id": share_id,
            "job_id": job_id,
            "model": model,
            "dimension": dimension,
            "chunk_index": c.index,
            "content": c.text,
            "content_kind": content_kind,
            "source_kind": source_kind,
            "start_s": c.start_s,
            "end_s": c.end_s,
            "tokens": c.tokens,
            "embedding": vector_literal(v),
        }
        for c, v in zip(chunks, vectors, strict=True)
    ]
    session.execute(_INSERT, rows)
    return len(rows)


# Stored vectors of the share written by a job submitted after ``job``.
_NEWER = text(
    """
    SELECT 1 FROM ml_embeddings e
    JOIN ml_jobs w ON w.id = e.job_id
    JOIN ml_jobs me ON me.id = :job
    WHERE e.tenant_id = :t AND e.share_id = :s
      AND (w.created_at, w.id::text) > (me.created_at, me.id::text)
    LIMIT 1
    """
)
_INSERT = text(
    """
    INSERT INTO ml_embeddings (tenant_id, share_id, job_id, model, dimension, chunk_index,
        content, content_kind, source_kind, start_s, end_s, tokens, embedding)
    VALUES (:tenant_id, :share_id, :job_id, :model, :dimension, :chunk_index, :content,
        :content_kind, :source_kind, :start_s, :end_s, :tokens, CAST(:embedding AS vector))
    """
)

_COLUMNS = (
    "id, share_id, chunk_index, content, content_kind, source_kind, "
    "start_s::float8 AS start_s, end_s::float8 AS end_s, created_at"
)


def _where(filters: SearchFilters) -> tuple[list[str], dict[str, object]]:
    clauses = ["tenant_id = :tenant"]
    params: dict[str, object] = {}
    if filters.share_ids is not None:
        clauses.append("share_id = ANY(:share_ids)")
        params["share_ids"] = list(filters.share_ids)
    if filters.exclude_share_ids:
        clauses.append("share_id <> ALL(:exclude_ids)")
        params["exclude_ids"] = list(filters.exclude_share_ids)
    if filters.source_kinds is not None:
        clauses.append("source_kind = ANY(:source_kinds)")
        params["source_kinds"] = list(filters.source_kinds)
    if filters.created_from is not None:
        clauses.append("created_at >= :created_from")
        params["created_from"] = filters.created_from
    if filters.created_to is not None:
        clauses.append("created_at < :created_to")
        params["created_to"] = filters.created_to
    return clauses, params


def knn_sql(dimension: int, where: Sequence[str] = ()) -> str:
    """The k-NN statement that the partial HNSW index of ``dimension`` serves."""
    clauses = [vector_index.model_predicate_sql("model", dimension), *where]
    return (
        f"SELECT {_COLUMNS}, {vector_index.distance_sql(dimension)} AS distance "
        f"FROM ml_embeddings WHERE {' AND '.join(clauses)} "
        f"ORDER BY {vector_index.distance_sql(dimension)} LIMIT :k"
    )


def set_search_params(session: Session, *, ef_search: int, iterative: bool) -> None:
    """Per-transaction HNSW knobs: candidate list size, and iterative scans under filters."""
    session.execute(text(f"SET LOCAL hnsw.ef_search = {int(ef_search)}"))
    mode = "relaxed_order" if iterative else "off"
    session.execute(text(f"SET LOCAL hnsw.iterative_scan = {mode}"))


def knn(
    session: Session,
    *,
    tenant_id: str,
    model: str,
    query: FloatArray,
    k: int,
    filters: SearchFilters = SearchFilters(),
    ef_search: int = 100,
) -> list[ChunkHit]:
    """The ``k`` chunks of ``model`` nearest to ``query`` by cosine distance."""
    dimension = int(np.asarray(query).shape[-1])
    where, params = _where(filters)
    set_search_params(session, ef_search=max(ef_search, k), iterative=len(where) > 1)
    stmt = text(knn_sql(dimension, where))
    rows = session.execute(
        stmt,
        {**params, "tenant": tenant_id, "model": model, "query": vector_literal(query), "k": k},
    ).mappings()
    return [ChunkHit(**dict(r)) for r in rows]


def fulltext(
    session: Session,
    *,
    tenant_id: str,
    model: str,
    query: str,
    k: int,
    filters: SearchFilters = SearchFilters(),
) -> list[ChunkHit]:
    """The ``k`` chunks of ``model`` best matching ``query`` by Postgres full-text rank."""
    where, params = _where(filters)
    clauses = ["model = :model", "tsv @@ websearch_to_tsquery('english', :q)", *where]
    stmt = text(
        f"SELECT {_COLUMNS}, ts_rank_cd(tsv, websearch_to_tsquery('english', :q)) AS text_rank "
        f"FROM ml_embeddings WHERE {' AND '.join(clauses)} ORDER BY text_rank DESC, id LIMIT :k"
    )
    rows = session.execute(
        stmt, {**params, "tenant": tenant_id, "model": model, "q": query, "k": k}
    ).mappings()
    return [ChunkHit(**dict(r)) for r in rows]


def share_vectors(session: Session, *, tenant_id: str, share_id: str, model: str) -> FloatArray:
    """Every stored vector of one share and model (rows in chunk order)."""
    rows: list[str] = list(
        session.execute(
            text(
                "SELECT embedding::text FROM ml_embeddings "
                "WHERE tenant_id = :t AND share_id = :s AND model = :m ORDER BY chunk_index"
            ),
            {"t": tenant_id, "s": share_id, "m": model},
        ).scalars()
    )
    vectors = [np.array(r.strip("[]").split(","), dtype=np.float32) for r in rows]
    return np.stack(vectors) if vectors else np.zeros((0, 0), dtype=np.float32)


def stored_models(session: Session, *, tenant_id: str) -> list[tuple[str, int, int]]:
    """(model, dimension, chunks) stored for the tenant, most chunks first."""
    rows = session.execute(
        text(
            "SELECT model, dimension, count(*) FROM ml_embeddings WHERE tenant_id = :t "
            "GROUP BY model, dimension ORDER BY count(*) DESC"
        ),
        {"t": tenant_id},
    ).all()
    return [(str(r[0]), int(r[1]), int(r[2])) for r in rows]


def store(session: Session, vector_set: VectorSet, *, job_id: UUID | None) -> int:
    """:func:`replace_share` of an embed job's outcome (called by the job's finish)."""
    return replace_share(
        session,
        tenant_id=vector_set.tenant_id,
        share_id=vector_set.share_id,
        model=vector_set.model,
        vectors=vector_set.vectors,
        chunks=vector_set.chunks,
        job_id=job_id,
        content_kind=vector_set.content_kind,
        source_kind=vector_set.source_kind,
    )


def delete_share(session: Session, *, tenant_id: str, share_id: str) -> None:
    """Drop every vector of a share (all models)."""
    session.execute(
        text("DELETE FROM ml_embeddings WHERE tenant_id = :t AND share_id = :s"),
        {"t": tenant_id, "s": share_id},
    )
