"""The schema on a real Postgres with pgvector: migrations round-trip, HNSW is used."""

from __future__ import annotations

import uuid

import numpy as np
import pytest
from sqlalchemy import Engine, text

from bookmarkai_ml.db import migrate
from bookmarkai_ml.db.vector_index import create_index_sql, distance_sql, index_name

pytestmark = pytest.mark.integration


def _tables(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT relname FROM pg_class WHERE relname LIKE 'ml\\_%' AND relkind IN ('r','m')"
            )
        )
        return {r[0] for r in rows}


def test_upgrade_downgrade_upgrade_round_trips(pg_url: str) -> None:
    from bookmarkai_ml.db.engine import make_engine

    engine = make_engine(pg_url)
    try:
        assert migrate.current_revision(engine) == migrate.head_revision()
        full = _tables(engine)
        assert {"ml_jobs", "ml_results", "ml_outbox", "ml_costs", "ml_cost_by_day"} <= full
        migrate.downgrade(engine, "base")
        assert migrate.current_revision(engine) is None
        assert _tables(engine) == set()
        migrate.upgrade(engine)
        assert _tables(engine) == full
    finally:
        engine.dispose()


def _vec(v: np.ndarray) -> str:
    return "[" + ",".join(f"{x:.6f}" for x in v) + "]"


def test_nearest_neighbour_uses_hnsw_per_model(clean_db: Engine) -> None:
    rng = np.random.default_rng(7)
    models = {"all-MiniLM-L6-v2": 384, "text-embedding-3-small": 1536}
    with clean_db.begin() as conn:
        conn.execute(text(create_index_sql("text-embedding-3-small", 1536)))
        for model, dim in models.items():
            vectors = rng.normal(size=(300, dim)).astype(np.float32)
            conn.execute(
                text(
                    "INSERT INTO ml_embeddings (tenant_id, share_id, model, dimension, "
                    "chunk_index, content, embedding) VALUES "
                    "('t', :share, :model, :dim, 0, :content, CAST(:emb AS vector))"
                ),
                [
                    {
                        "share": f"{model}-{i}",
                        "model": model,
                        "dim": dim,
                        "content": f"doc {i}",
                        "emb": _vec(v),
                    }
                    for i, v in enumerate(vectors)
                ],
            )
            target = vectors[42]
            query = (
                f"SELECT share_id FROM ml_embeddings WHERE model = :model AND dimension = {dim} "
                f"ORDER BY {distance_sql(dim)} LIMIT 5"
            )
            params = {"model": model, "query": _vec(target)}
            conn.execute(text("SET LOCAL enable_seqscan = off"))
            plan = "\n".join(r[0] for r in conn.execute(text("EXPLAIN " + query), params))
            assert index_name(model, dim) in plan, plan
            found = [r[0] for r in conn.execute(text(query), params)]
            assert found[0] == f"{model}-42"


def test_dimension_must_match_vector(clean_db: Engine) -> None:
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError), clean_db.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO ml_embeddings (tenant_id, share_id, model, dimension, chunk_index, "
                "content, embedding) VALUES ('t', 's', 'm', 3, 0, 'c', '[1,2]')"
            )
        )


def test_analytics_views_refresh(clean_db: Engine) -> None:
    job = uuid.uuid4()
    with clean_db.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO ml_jobs (id, tenant_id, share_id, task, status, idempotency_key, "
                "payload, started_at, finished_at) VALUES (:id, 't', 's', 'summarize', 'done', "
                ":key, '{}', now() - interval '2 seconds', now())"
            ),
            {"id": job, "key": job.hex},
        )
        conn.execute(
            text(
                "INSERT INTO ml_costs (job_id, tenant_id, task, provider, model, usd) "
                "VALUES (:id, 't', 'summarize', 'openai', 'gpt-4o-mini', 0.0125)"
            ),
            {"id": job},
        )
        conn.execute(text("SELECT ml_refresh_analytics()"))
        cost = conn.execute(text("SELECT jobs, usd FROM ml_cost_by_day WHERE tenant_id = ''")).one()
        perf = conn.execute(
            text(
                "SELECT jobs, success_rate, p50_duration_s FROM ml_task_performance "
                "WHERE tenant_id = ''"
            )
        ).one()
    assert (cost.jobs, float(cost.usd)) == (1, 0.0125)
    assert perf.jobs == 1
    assert perf.success_rate == 1.0
    assert 1.5 < perf.p50_duration_s < 3.0
