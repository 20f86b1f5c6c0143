"""One HNSW index per (model, dimension) over the untyped ``ml_embeddings.embedding``.

The column holds vectors of any dimension, so each index is a partial expression
index on ``embedding::vector(N)`` restricted to one model; a query uses the index
only when it repeats that expression and predicate, which ``distance_sql`` does.
pgvector's HNSW takes at most 2,000 dimensions for ``vector`` and 4,000 for
``halfvec`` (https://github.com/pgvector/pgvector#indexing), so larger models use
``halfvec``.
"""

from __future__ import annotations

import hashlib
import re

_MAX_VECTOR_DIMS = 2000
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 64


def vector_type(dimension: int) -> str:
    kind = "vector" if dimension <= _MAX_VECTOR_DIMS else "halfvec"
    return f"{kind}({int(dimension)})"


def _ops(dimension: int) -> str:
    return "vector_cosine_ops" if dimension <= _MAX_VECTOR_DIMS else "halfvec_cosine_ops"


def index_name(model: str, dimension: int) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", model.lower()).strip("_")[:30]
    digest = hashlib.sha1(model.encode(), usedforsecurity=False).hexdigest()[:6]
    return f"ix_emb_hnsw_{slug}_{digest}_{int(dimension)}"


def _literal(model: str) -> str:
    return "'" + model.replace("'", "''") + "'"


def create_index_sql(model: str, dimension: int) -> str:
    """DDL for the model's HNSW index (idempotent)."""
    return (
        f"CREATE INDEX IF NOT EXISTS {index_name(model, dimension)} ON ml_embeddings "
        f"USING hnsw ((embedding::{vector_type(dimension)}) {_ops(dimension)}) "
        f"WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION}) "
        f"WHERE model = {_literal(model)} AND dimension = {int(dimension)}"
    )


def distance_sql(dimension: int, param: str = "query") -> str:
    """Cosine distance that matches the index expression; bind ``:param`` as text."""
    vt = vector_type(dimension)
    return f"(embedding::{vt}) <=> CAST(:{param} AS {vt})"


def model_predicate_sql(model_param: str = "model", dimension: int = 0) -> str:
    """The WHERE clause every indexed search must repeat."""
    return f"model = :{model_param} AND dimension = {int(dimension)}"
