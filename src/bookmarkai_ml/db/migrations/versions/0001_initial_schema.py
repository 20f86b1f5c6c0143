"""Initial schema: jobs, results, outbox, costs, budgets, embeddings, keys, dead letters, views.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

from alembic import op

from bookmarkai_ml.db.vector_index import create_index_sql, index_name

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

DEFAULT_MODEL = ("all-MiniLM-L6-v2", 384)

TABLES = """
CREATE TABLE ml_jobs (
    id               uuid PRIMARY KEY,
    tenant_id        varchar(100) NOT NULL,
    share_id         varchar(200) NOT NULL,
    task             varchar(20)  NOT NULL,
    status           varchar(20)  NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued','running','done','failed','cancelled','budget_exceeded')),
    idempotency_key  varchar(64)  NOT NULL UNIQUE,
    payload          jsonb        NOT NULL,
    parent_id        uuid REFERENCES ml_jobs(id) ON DELETE SET NULL,
    "then"           jsonb        NOT NULL DEFAULT '[]'::jsonb,
    attempts         integer      NOT NULL DEFAULT 0,
    error_code       varchar(60),
    error_message    text,
    lease_owner      varchar(200),
    lease_expires_at timestamptz,
    retry_after      timestamptz,
    traceparent      varchar(100),
    created_at       timestamptz  NOT NULL DEFAULT now(),
    updated_at       timestamptz  NOT NULL DEFAULT now(),
    started_at       timestamptz,
    finished_at      timestamptz
);
CREATE INDEX ix_ml_jobs_tenant_id ON ml_jobs (tenant_id);
CREATE INDEX ix_ml_jobs_share_id ON ml_jobs (share_id);
CREATE INDEX ix_ml_jobs_parent_id ON ml_jobs (parent_id);
CREATE INDEX ix_ml_jobs_status_task ON ml_jobs (status, task);

CREATE TABLE ml_results (
    id         bigserial PRIMARY KEY,
    job_id     uuid NOT NULL UNIQUE REFERENCES ml_jobs(id) ON DELETE CASCADE,
    share_id   varchar(200) NOT NULL,
    task       varchar(20)  NOT NULL,
    result     jsonb        NOT NULL,
    created_at timestamptz  NOT NULL DEFAULT now()
);
CREATE INDEX ix_ml_results_share_id ON ml_results (share_id);

CREATE TABLE ml_outbox (
    id              bigserial PRIMARY KEY,
    job_id          uuid REFERENCES ml_jobs(id) ON DELETE CASCADE,
    routing_key     varchar(100) NOT NULL,
    task_name       varchar(100) NOT NULL,
    kwargs          jsonb        NOT NULL,
    headers         jsonb        NOT NULL DEFAULT '{}'::jsonb,
    attempts        integer      NOT NULL DEFAULT 0,
    next_attempt_at timestamptz  NOT NULL DEFAULT now(),
    last_error      text,
    created_at      timestamptz  NOT NULL DEFAULT now(),
    sent_at         timestamptz
);
CREATE INDEX ix_ml_outbox_job_id ON ml_outbox (job_id);
-- The relay only ever scans unsent rows; keep that index small.
CREATE INDEX ix_ml_outbox_pending ON ml_outbox (next_attempt_at, id) WHERE sent_at IS NULL;

CREATE TABLE ml_costs (
    id            bigserial PRIMARY KEY,
    job_id        uuid NOT NULL UNIQUE REFERENCES ml_jobs(id) ON DELETE CASCADE,
    tenant_id     varchar(100) NOT NULL,
    task          varchar(20)  NOT NULL,
    provider      varchar(40)  NOT NULL,
    model         varchar(100) NOT NULL,
    usd           numeric(14, 8) NOT NULL,
    input_tokens  integer NOT NULL DEFAULT 0,
    output_tokens integer NOT NULL DEFAULT 0,
    audio_seconds numeric(12, 3) NOT NULL DEFAULT 0,
    duration_ms   integer,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ix_ml_costs_task_created ON ml_costs (task, created_at);

CREATE TABLE ml_budget_reservations (
    id         bigserial PRIMARY KEY,
    job_id     uuid NOT NULL REFERENCES ml_jobs(id) ON DELETE CASCADE,
    task       varchar(20) NOT NULL,
    usd        numeric(14, 8) NOT NULL,
    status     varchar(12) NOT NULL DEFAULT 'held'
        CHECK (status IN ('held', 'settled', 'released')),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX ix_ml_budget_reservations_job_id ON ml_budget_reservations (job_id);
CREATE INDEX ix_ml_budget_reservations_held ON ml_budget_reservations (task, created_at)
    WHERE status = 'held';

CREATE TABLE ml_embeddings (
    id           bigserial PRIMARY KEY,
    tenant_id    varchar(100) NOT NULL,
    share_id     varchar(200) NOT NULL,
    job_id       uuid REFERENCES ml_jobs(id) ON DELETE SET NULL,
    model        varchar(100) NOT NULL,
    dimension    integer NOT NULL,
    chunk_index  integer NOT NULL,
    content      text NOT NULL,
    content_kind varchar(20) NOT NULL DEFAULT 'text',
    source_kind  varchar(40),
    start_s      numeric(10, 3),
    end_s        numeric(10, 3),
    tokens       integer NOT NULL DEFAULT 0,
    embedding    vector NOT NULL,
    tsv          tsvector GENERATED ALWAYS AS (to_tsvector('english', content)) STORED,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CHECK (vector_dims(embedding) = dimension)
);
CREATE INDEX ix_ml_embeddings_share_id ON ml_embeddings (share_id);
CREATE INDEX ix_ml_embeddings_model ON ml_embeddings (model, dimension);
CREATE INDEX ix_ml_embeddings_tsv ON ml_embeddings USING gin (tsv);

CREATE TABLE ml_api_keys (
    id                    uuid PRIMARY KEY,
    tenant_id             varchar(100) NOT NULL,
    name                  varchar(100) NOT NULL,
    prefix                varchar(16)  NOT NULL,
    key_hash              varchar(64)  NOT NULL UNIQUE,
    rate_limit_per_minute integer,
    created_at            timestamptz NOT NULL DEFAULT now(),
    last_used_at          timestamptz,
    revoked_at            timestamptz
);
CREATE INDEX ix_ml_api_keys_tenant_id ON ml_api_keys (tenant_id);

CREATE TABLE ml_dead_letters (
    id          bigserial PRIMARY KEY,
    queue       varchar(100) NOT NULL,
    reason      text NOT NULL,
    job_id      uuid,
    task_name   varchar(100),
    message_id  varchar(100) UNIQUE,
    body        text NOT NULL,
    headers     jsonb NOT NULL DEFAULT '{}'::jsonb,
    dead_at     timestamptz NOT NULL DEFAULT now(),
    replayed_at timestamptz
);
CREATE INDEX ix_ml_dead_letters_queue ON ml_dead_letters (queue);
CREATE INDEX ix_ml_dead_letters_job_id ON ml_dead_letters (job_id);
"""

# The relay LISTENs on this channel; the trigger makes the happy path poll-free.
OUTBOX_NOTIFY = """
CREATE FUNCTION ml_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('ml_outbox', NEW.id::text);
    RETURN NEW;
END $$;
CREATE TRIGGER ml_outbox_notify AFTER INSERT ON ml_outbox
    FOR EACH ROW EXECUTE FUNCTION ml_outbox_notify();
"""

# Unique indexes let REFRESH ... CONCURRENTLY run without blocking readers.
VIEWS = """
CREATE MATERIALIZED VIEW ml_cost_by_day AS
SELECT date_trunc('day', created_at) AS day,
       task, provider, model,
       count(*)              AS jobs,
       sum(usd)              AS usd,
       sum(input_tokens)     AS input_tokens,
       sum(output_tokens)    AS output_tokens,
       sum(audio_seconds)    AS audio_seconds
FROM ml_costs
GROUP BY 1, 2, 3, 4
WITH DATA;
CREATE UNIQUE INDEX ux_ml_cost_by_day ON ml_cost_by_day (day, task, provider, model);

CREATE MATERIALIZED VIEW ml_task_performance AS
SELECT task,
       count(*)                                        AS jobs,
       count(*) FILTER (WHERE status = 'done')         AS done,
       count(*) FILTER (WHERE status = 'failed')       AS failed,
       count(*) FILTER (WHERE status = 'cancelled')    AS cancelled,
       count(*) FILTER (WHERE status = 'budget_exceeded') AS budget_exceeded,
       CASE WHEN count(*) FILTER (WHERE status IN ('done','failed')) = 0 THEN NULL
            ELSE (count(*) FILTER (WHERE status = 'done'))::float8
                 / count(*) FILTER (WHERE status IN ('done','failed')) END AS success_rate,
       percentile_cont(0.5) WITHIN GROUP (
           ORDER BY extract(epoch FROM finished_at - started_at))
           FILTER (WHERE status = 'done' AND started_at IS NOT NULL) AS p50_duration_s,
       percentile_cont(0.95) WITHIN GROUP (
           ORDER BY extract(epoch FROM finished_at - started_at))
           FILTER (WHERE status = 'done' AND started_at IS NOT NULL) AS p95_duration_s
FROM ml_jobs
GROUP BY task
WITH DATA;
CREATE UNIQUE INDEX ux_ml_task_performance ON ml_task_performance (task);

CREATE FUNCTION ml_refresh_analytics() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    REFRESH MATERIALIZED VIEW CONCURRENTLY ml_cost_by_day;
    REFRESH MATERIALIZED VIEW CONCURRENTLY ml_task_performance;
END $$;
"""


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    op.execute(TABLES)
    op.execute(OUTBOX_NOTIFY)
    op.execute(create_index_sql(*DEFAULT_MODEL))
    op.execute(VIEWS)


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS ml_refresh_analytics()")
    op.execute("DROP MATERIALIZED VIEW IF EXISTS ml_task_performance")
    op.execute("DROP MATERIALIZED VIEW IF EXISTS ml_cost_by_day")
    op.execute(f"DROP INDEX IF EXISTS {index_name(*DEFAULT_MODEL)}")
    op.execute("DROP TRIGGER IF EXISTS ml_outbox_notify ON ml_outbox")
    op.execute("DROP FUNCTION IF EXISTS ml_outbox_notify()")
    for table in (
        "ml_dead_letters",
        "ml_api_keys",
        "ml_embeddings",
        "ml_budget_reservations",
        "ml_costs",
        "ml_outbox",
        "ml_results",
        "ml_jobs",
    ):
        op.execute(f"DROP TABLE IF EXISTS {table}")
