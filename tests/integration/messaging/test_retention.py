"""Retention in the relay's housekeeping: only rows past their age go, a batch at a time.

Rows are aged by setting their timestamps; the relay service (real Postgres and
RabbitMQ) runs its housekeeping round, which prunes ``retention.batch_size`` rows per
statement and at most ``max_batches`` statements per kind per round.
"""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import text

from bookmarkai_ml.config import RetentionSettings
from bookmarkai_ml.messaging.service import RelayService
from support.harness import Stack

pytestmark = pytest.mark.integration

_OUTBOX = text(
    "INSERT INTO ml_outbox (routing_key, task_name, kwargs, headers, created_at, sent_at) "
    "VALUES ('ml.summarize', 'summarize_content', CAST(:kw AS jsonb), '{}', "
    "now() - make_interval(days => :age), "
    "CASE WHEN :sent THEN now() - make_interval(days => :age) END)"
)
_JOB = text(
    """
    INSERT INTO ml_jobs (id, tenant_id, share_id, task, status, idempotency_key, payload,
        "then", attempts, created_at, finished_at)
    VALUES (:id, 't', :share, 'summarize', CAST(:status AS varchar), :key,
        CAST(:payload AS jsonb), '[]', 1, now() - make_interval(days => :age),
        CASE WHEN CAST(:status AS varchar) = 'queued' THEN NULL
             ELSE now() - make_interval(days => :age) END)
    """
)
_DEAD = text(
    "INSERT INTO ml_dead_letters (queue, reason, body, headers, message_id, dead_at) "
    "VALUES ('ml.summarize', 'x', '[]', '{}', :mid, now() - make_interval(days => :age))"
)


def _age(stack: Stack) -> None:
    """Old and young rows of every kind, and rows retention must never touch."""
    with stack.engine.begin() as conn:
        kw = json.dumps({"share_id": "s", "content": "old words"})
        for age, sent, n in ((8, True, 5), (1, True, 2), (30, False, 2)):
            for _ in range(n):
                conn.execute(_OUTBOX, {"kw": kw, "age": age, "sent": sent})
        for age, status, n in (
            (31, "done", 3),
            (31, "failed", 2),
            (1, "done", 1),
            (40, "queued", 1),
        ):
            for _ in range(n):
                job = uuid.uuid4()
                payload = {"job_id": str(job), "share_id": f"s-{age}", "content": "kept words"}
                conn.execute(
                    _JOB,
                    {
                        "id": job,
                        "share": f"s-{age}",
                        "status": status,
                        "key": job.hex,
                        "payload": json.dumps(payload),
                        "age": age,
                    },
                )
        for age, n in ((31, 3), (2, 1)):
            for _ in range(n):
                conn.execute(_DEAD, {"mid": uuid.uuid4().hex, "age": age})


def _left(stack: Stack) -> dict[str, int]:
    with stack.engine.connect() as conn:
        one = lambda sql: int(conn.execute(text(sql)).scalar_one())  # noqa: E731
        return {
            "outbox": one("SELECT count(*) FROM ml_outbox"),
            "outbox_unsent": one("SELECT count(*) FROM ml_outbox WHERE sent_at IS NULL"),
            "payloads_kept": one("SELECT count(*) FROM ml_jobs WHERE payload->>'content' <> ''"),
            "jobs": one("SELECT count(*) FROM ml_jobs"),
            "dead": one("SELECT count(*) FROM ml_dead_letters"),
        }


async def test_housekeeping_prunes_only_old_rows_in_batches(stack: Stack) -> None:
    retention = RetentionSettings(batch_size=2, max_batches=1)
    settings = stack.settings.model_copy(update={"retention": retention})
    _age(stack)
    assert _left(stack) == {
        "outbox": 9, "outbox_unsent": 2, "payloads_kept": 7, "jobs": 7, "dead": 4,
    }  # fmt: skip
    service = RelayService(settings, engine=stack.engine)
    try:
        await service.relay.maintain()  # one round: one batch of 2 per kind
        assert _left(stack) == {
            "outbox": 7, "outbox_unsent": 2, "payloads_kept": 5, "jobs": 7, "dead": 2,
        }  # fmt: skip
        await service.relay.maintain()
        await service.relay.maintain()
        await service.relay.maintain()
    finally:
        await service.stop()
    # 5 sent 8 days ago went; the 2 sent yesterday and the 2 never sent stay. The 5 jobs
    # that ended 31 days ago are blanked (rows kept); yesterday's and the queued one keep
    # their input. The 3 old dead letters went.
    assert _left(stack) == {
        "outbox": 4, "outbox_unsent": 2, "payloads_kept": 2, "jobs": 7, "dead": 1,
    }  # fmt: skip
    with stack.engine.connect() as conn:
        blanked = conn.execute(
            text("SELECT payload FROM ml_jobs WHERE payload ? 'redacted' ORDER BY id LIMIT 1")
        ).scalar_one()
    assert blanked["content"] == ""
    assert blanked["redacted"] == "retention"
    assert blanked["share_id"] == "s-31"


async def test_an_age_of_zero_keeps_that_kind_forever(stack: Stack) -> None:
    retention = RetentionSettings(outbox_sent_days=0, job_payload_days=0, dead_letter_days=0)
    settings = stack.settings.model_copy(update={"retention": retention})
    _age(stack)
    service = RelayService(settings, engine=stack.engine)
    try:
        await service.relay.maintain()
    finally:
        await service.stop()
    assert _left(stack) == {
        "outbox": 9, "outbox_unsent": 2, "payloads_kept": 7, "jobs": 7, "dead": 4,
    }  # fmt: skip
