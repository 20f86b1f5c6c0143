"""The surface apps integrate with: completion events, webhooks, erasure tombstones,
per-tenant budgets, admin keys, keyset listing and retention indexes (issue 10).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

UPGRADE = """
-- Outbox rows are task messages (ml.tasks) or completion events (ml.events, CloudEvents).
ALTER TABLE ml_outbox ADD COLUMN kind varchar(10) NOT NULL DEFAULT 'task'
    CHECK (kind IN ('task', 'event'));
-- A relay leases the rows it publishes (committed at once) instead of holding a
-- transaction open across the publish and any reconnect.
ALTER TABLE ml_outbox ADD COLUMN claimed_until timestamptz;
-- Retention prunes sent rows oldest first.
CREATE INDEX ix_ml_outbox_sent ON ml_outbox (sent_at) WHERE sent_at IS NOT NULL;

-- Keyset listing per tenant, newest first: (created_at, id) never changes for a job.
CREATE INDEX ix_ml_jobs_tenant_created ON ml_jobs (tenant_id, created_at DESC, id DESC);
CREATE INDEX ix_ml_jobs_tenant_share ON ml_jobs (tenant_id, share_id);
-- Retention blanks the payloads of terminal jobs by age; blanked ones leave the index, so
-- each round reads only what is still to do.
CREATE INDEX ix_ml_jobs_finished ON ml_jobs (finished_at)
    WHERE finished_at IS NOT NULL AND NOT (payload ? 'redacted');
CREATE INDEX ix_ml_dead_letters_dead_at ON ml_dead_letters (dead_at);

-- Erasure: one tombstone per erased share; a worker finishing a job of an erased share
-- writes nothing, and a later redelivery is dropped.
CREATE TABLE ml_erasures (
    tenant_id  varchar(100) NOT NULL,
    share_id   varchar(200) NOT NULL,
    erased_at  timestamptz  NOT NULL DEFAULT now(),
    removed    jsonb        NOT NULL DEFAULT '{}'::jsonb,
    PRIMARY KEY (tenant_id, share_id)
);

-- Standard Webhooks endpoints per tenant, their deliveries and every attempt.
CREATE TABLE ml_webhooks (
    id              uuid PRIMARY KEY,
    tenant_id       varchar(100) NOT NULL,
    url             text         NOT NULL,
    event_types     jsonb        NOT NULL DEFAULT '[]'::jsonb,
    secret          varchar(100) NOT NULL,
    description     varchar(200),
    enabled         boolean      NOT NULL DEFAULT true,
    disabled_reason text,
    disabled_at     timestamptz,
    created_at      timestamptz  NOT NULL DEFAULT now()
);
CREATE INDEX ix_ml_webhooks_tenant_id ON ml_webhooks (tenant_id);

CREATE TABLE ml_webhook_deliveries (
    id               bigserial PRIMARY KEY,
    webhook_id       uuid         NOT NULL REFERENCES ml_webhooks(id) ON DELETE CASCADE,
    tenant_id        varchar(100) NOT NULL,
    share_id         varchar(200),
    event_id         varchar(100) NOT NULL,
    event_type       varchar(100) NOT NULL,
    body             jsonb        NOT NULL,
    status           varchar(12)  NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         integer      NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz  NOT NULL DEFAULT now(),
    last_status_code integer,
    last_error       text,
    created_at       timestamptz  NOT NULL DEFAULT now(),
    delivered_at     timestamptz,
    UNIQUE (webhook_id, event_id)
);
CREATE INDEX ix_ml_webhook_deliveries_due ON ml_webhook_deliveries (next_attempt_at, id)
    WHERE status = 'pending';
CREATE INDEX ix_ml_webhook_deliveries_share ON ml_webhook_deliveries (tenant_id, share_id);

CREATE TABLE ml_webhook_attempts (
    id           bigserial PRIMARY KEY,
    delivery_id  bigint      NOT NULL REFERENCES ml_webhook_deliveries(id) ON DELETE CASCADE,
    attempted_at timestamptz NOT NULL DEFAULT now(),
    status_code  integer,
    error        text,
    duration_ms  integer
);
CREATE INDEX ix_ml_webhook_attempts_delivery ON ml_webhook_attempts (delivery_id);

-- Budget windows per tenant and task, next to the global ones from the settings.
CREATE TABLE ml_budget_limits (
    tenant_id  varchar(100)   NOT NULL,
    task       varchar(20)    NOT NULL,
    window_s   integer        NOT NULL CHECK (window_s > 0),
    usd        numeric(14, 8) NOT NULL CHECK (usd >= 0),
    created_at timestamptz    NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, task, window_s)
);
ALTER TABLE ml_budget_reservations ADD COLUMN tenant_id varchar(100);
UPDATE ml_budget_reservations r SET tenant_id = j.tenant_id FROM ml_jobs j WHERE j.id = r.job_id;
UPDATE ml_budget_reservations SET tenant_id = '' WHERE tenant_id IS NULL;
ALTER TABLE ml_budget_reservations ALTER COLUMN tenant_id SET NOT NULL;
CREATE INDEX ix_ml_budget_reservations_tenant_held
    ON ml_budget_reservations (tenant_id, task, created_at) WHERE status = 'held';
CREATE INDEX ix_ml_costs_tenant_task_created ON ml_costs (tenant_id, task, created_at);

-- API key scopes: 'admin' sees the whole platform.
ALTER TABLE ml_api_keys ADD COLUMN scopes jsonb NOT NULL DEFAULT '[]'::jsonb;

-- Analytics per tenant: each view holds one row per tenant and one for the whole platform
-- (tenant_id '', a tenant no key can have), so a tenant's answer and the platform's come
-- from the same query on the same refresh; percentiles cannot be summed across tenants.
DROP MATERIALIZED VIEW ml_cost_by_day;
CREATE MATERIALIZED VIEW ml_cost_by_day AS
SELECT CASE WHEN grouping(tenant_id) = 1 THEN '' ELSE tenant_id END AS tenant_id,
       date_trunc('day', created_at) AS day,
       task, provider, model,
       count(*)              AS jobs,
       sum(usd)              AS usd,
       sum(input_tokens)     AS input_tokens,
       sum(output_tokens)    AS output_tokens,
       sum(audio_seconds)    AS audio_seconds
FROM ml_costs
GROUP BY GROUPING SETS ((tenant_id, 2, task, provider, model), (2, task, provider, model))
WITH DATA;
CREATE UNIQUE INDEX ux_ml_cost_by_day ON ml_cost_by_day (tenant_id, day, task, provider, model);

DROP MATERIALIZED VIEW ml_task_performance;
CREATE MATERIALIZED VIEW ml_task_performance AS
SELECT CASE WHEN grouping(tenant_id) = 1 THEN '' ELSE tenant_id END AS tenant_id,
       task,
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
GROUP BY GROUPING SETS ((tenant_id, task), (task))
WITH DATA;
CREATE UNIQUE INDEX ux_ml_task_performance ON ml_task_performance (tenant_id, task);
"""

DOWNGRADE = """
-- Back to 0001's platform-wide views (no tenant column).
DROP MATERIALIZED VIEW IF EXISTS ml_task_performance;
DROP MATERIALIZED VIEW IF EXISTS ml_cost_by_day;
CREATE MATERIALIZED VIEW ml_cost_by_day AS
SELECT day, task, provider, model, jobs, usd, input_tokens, output_tokens, audio_seconds
FROM (SELECT date_trunc('day', created_at) AS day, task, provider, model,
             count(*) AS jobs, sum(usd) AS usd, sum(input_tokens) AS input_tokens,
             sum(output_tokens) AS output_tokens, sum(audio_seconds) AS audio_seconds
      FROM ml_costs GROUP BY 1, 2, 3, 4) AS d
WITH DATA;
CREATE UNIQUE INDEX ux_ml_cost_by_day ON ml_cost_by_day (day, task, provider, model);
CREATE MATERIALIZED VIEW ml_task_performance AS
SELECT task, count(*) AS jobs,
       count(*) FILTER (WHERE status = 'done') AS done,
       count(*) FILTER (WHERE status = 'failed') AS failed,
       count(*) FILTER (WHERE status = 'cancelled') AS cancelled,
       count(*) FILTER (WHERE status = 'budget_exceeded') AS budget_exceeded,
       CASE WHEN count(*) FILTER (WHERE status IN ('done','failed')) = 0 THEN NULL
            ELSE (count(*) FILTER (WHERE status = 'done'))::float8
                 / count(*) FILTER (WHERE status IN ('done','failed')) END AS success_rate,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - started_at))
           FILTER (WHERE status = 'done' AND started_at IS NOT NULL) AS p50_duration_s,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - started_at))
           FILTER (WHERE status = 'done' AND started_at IS NOT NULL) AS p95_duration_s
FROM ml_jobs GROUP BY task
WITH DATA;
CREATE UNIQUE INDEX ux_ml_task_performance ON ml_task_performance (task);
ALTER TABLE ml_api_keys DROP COLUMN IF EXISTS scopes;
DROP INDEX IF EXISTS ix_ml_costs_tenant_task_created;
DROP INDEX IF EXISTS ix_ml_budget_reservations_tenant_held;
ALTER TABLE ml_budget_reservations DROP COLUMN IF EXISTS tenant_id;
DROP TABLE IF EXISTS ml_budget_limits;
DROP TABLE IF EXISTS ml_webhook_attempts;
DROP TABLE IF EXISTS ml_webhook_deliveries;
DROP TABLE IF EXISTS ml_webhooks;
DROP TABLE IF EXISTS ml_erasures;
DROP INDEX IF EXISTS ix_ml_dead_letters_dead_at;
DROP INDEX IF EXISTS ix_ml_jobs_finished;
DROP INDEX IF EXISTS ix_ml_jobs_tenant_share;
DROP INDEX IF EXISTS ix_ml_jobs_tenant_created;
DROP INDEX IF EXISTS ix_ml_outbox_sent;
ALTER TABLE ml_outbox DROP COLUMN IF EXISTS claimed_until;
ALTER TABLE ml_outbox DROP COLUMN IF EXISTS kind;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
