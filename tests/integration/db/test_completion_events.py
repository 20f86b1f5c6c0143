"""Completion events: every transition into a terminal state writes exactly one event row
(``ml_outbox.kind = 'event'``) in its own transaction; a rolled-back change and a
non-transition write none (docs/messages.md, "Completion events")."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from cloudevents.v1.http import from_json
from sqlalchemy import Engine, text

from bookmarkai_ml.contracts import SummarizeTask, SummaryResult
from bookmarkai_ml.contracts.jobs import JobPublic
from bookmarkai_ml.db.engine import SessionFactory, transaction
from bookmarkai_ml.db.jobs import PostgresJobRepository, cancel, fail_unfinished, view
from bookmarkai_ml.domain.verdict import Ending
from bookmarkai_ml.errors import ConflictError
from bookmarkai_ml.ports import CostLine, TaskOutcome
from bookmarkai_ml.services import jobs as service

pytestmark = pytest.mark.integration

OWNER = "worker-1"


def _submit(sessions: SessionFactory, tenant: str = "t1") -> UUID:
    message = SummarizeTask(share_id="share-1", content=f"text {uuid.uuid4()}", tenant_id=tenant)
    with transaction(sessions) as session:
        return service.submit(session, message).job.id


def _claim(repo: PostgresJobRepository, sessions: SessionFactory, job_id: UUID) -> None:
    with transaction(sessions) as session:
        payload = view(session, job_id)
    message = SummarizeTask(
        share_id=payload.share_id, content="x", tenant_id=payload.tenant_id, job_id=job_id
    )
    _, attempts = repo.claim(message, owner=OWNER)
    assert attempts is not None


def _events(engine: Engine, job_id: UUID | None = None) -> list[dict[str, Any]]:
    sql = "SELECT routing_key, task_name, kwargs, headers FROM ml_outbox WHERE kind = 'event'"
    params: dict[str, Any] = {}
    if job_id is not None:
        sql += " AND job_id = :id"
        params["id"] = job_id
    with engine.connect() as conn:
        rows = conn.execute(text(sql + " ORDER BY id"), params).all()
    return [{"routing_key": r[0], "task_name": r[1], "event": r[2], "headers": r[3]} for r in rows]


def _one_event(engine: Engine, job_id: UUID, status: str) -> dict[str, Any]:
    events = _events(engine, job_id)
    assert len(events) == 1, events
    row = events[0]
    event = row["event"]
    assert row["routing_key"] == f"job.summarize.{status}"
    assert row["task_name"] == event["type"] == f"ai.bookmarkai.ml.job.{status}"
    assert row["headers"]["id"] == event["id"]
    # Valid for the CloudEvents SDK, with every attribute we promise.
    parsed = from_json(json.dumps(event).encode())
    assert parsed["specversion"] == "1.0"
    assert str(uuid.UUID(parsed["id"])) == parsed["id"]
    assert parsed["source"] == "/bookmarkai-ml"
    assert parsed["subject"] == "share-1"
    assert parsed["datacontenttype"] == "application/json"
    assert parsed["tenantid"] == "t1"
    assert parsed["time"]
    assert parsed.data["id"] == str(job_id)
    assert parsed.data["status"] == status
    return dict(event)


def _outcome() -> TaskOutcome:
    return TaskOutcome(
        result=SummaryResult(summary="the summary", model="m", provider="p"),
        cost=CostLine(provider="p", model="m", usd=Decimal("0.01")),
    )


def test_done_writes_one_event_with_the_job_view_as_get_returns_it(
    clean_db: Engine, sessions: SessionFactory
) -> None:
    repo = PostgresJobRepository(sessions, lease_s=30)
    job_id = _submit(sessions)
    _claim(repo, sessions, job_id)
    assert _events(clean_db) == []
    assert repo.finish(job_id, owner=OWNER, outcome=_outcome(), duration_ms=5)
    event = _one_event(clean_db, job_id, "done")
    with transaction(sessions) as session:
        public = JobPublic.of(view(session, job_id)).model_dump(mode="json")
    assert event["data"] == public
    assert event["data"]["result"]["summary"] == "the summary"
    # A second finish (a redelivery) is no transition: no second event.
    assert not repo.finish(job_id, owner=OWNER, outcome=_outcome(), duration_ms=5)
    assert len(_events(clean_db, job_id)) == 1


def test_a_failed_run_writes_one_event_and_a_retry_none(
    clean_db: Engine, sessions: SessionFactory
) -> None:
    repo = PostgresJobRepository(sessions, lease_s=30)
    job_id = _submit(sessions)
    _claim(repo, sessions, job_id)
    # A retry goes back to queued: not terminal, no event.
    repo.end(job_id, Ending("queued", "provider_error", "blip", requeue_after_s=0), owner=OWNER)
    assert _events(clean_db) == []
    _claim(repo, sessions, job_id)
    repo.end(job_id, Ending("failed", "provider_error", "gave up"), owner=OWNER)
    event = _one_event(clean_db, job_id, "failed")
    assert event["data"]["error"] == {"code": "provider_error", "message": "gave up"}
    # failed -> failed (owner '' ends regardless of the lease) is no transition.
    repo.end(job_id, Ending("failed", "contract_violation", "again"), owner="")
    assert len(_events(clean_db, job_id)) == 1


def test_budget_exceeded_writes_one_event(clean_db: Engine, sessions: SessionFactory) -> None:
    repo = PostgresJobRepository(sessions, lease_s=30)
    job_id = _submit(sessions)
    _claim(repo, sessions, job_id)
    later = datetime.now(UTC) + timedelta(hours=1)
    repo.end(
        job_id, Ending("budget_exceeded", "budget_exceeded", "over", retry_after=later), owner=OWNER
    )
    event = _one_event(clean_db, job_id, "budget_exceeded")
    assert event["data"]["retry_after"] is not None


def test_cancel_writes_one_event_and_a_second_cancel_none(
    clean_db: Engine, sessions: SessionFactory
) -> None:
    job_id = _submit(sessions)
    with transaction(sessions) as session:
        assert cancel(session, job_id).status == "cancelled"
    with transaction(sessions) as session:
        assert cancel(session, job_id).status == "cancelled"  # already: no transition
    _one_event(clean_db, job_id, "cancelled")


def test_fail_unfinished_writes_one_event_only_when_it_fails_the_job(
    clean_db: Engine, sessions: SessionFactory
) -> None:
    job_id = _submit(sessions)
    with transaction(sessions) as session:
        assert fail_unfinished(session, job_id, code="dead_lettered", message="poison")
    with transaction(sessions) as session:
        assert not fail_unfinished(session, job_id, code="dead_lettered", message="again")
    _one_event(clean_db, job_id, "failed")
    # An ended job cannot be cancelled, and that refusal writes nothing either.
    with transaction(sessions) as session, pytest.raises(ConflictError):
        cancel(session, job_id)
    assert len(_events(clean_db, job_id)) == 1


def test_the_lease_sweeper_writes_an_event_when_it_fails_a_job_not_when_it_requeues(
    clean_db: Engine, sessions: SessionFactory
) -> None:
    repo = PostgresJobRepository(sessions, lease_s=30)
    requeued, exhausted = _submit(sessions), _submit(sessions)
    for job_id in (requeued, exhausted):
        _claim(repo, sessions, job_id)
    with transaction(sessions) as session:
        session.execute(
            text(
                "UPDATE ml_jobs SET lease_expires_at = now() - interval '1 minute', "
                "attempts = CASE WHEN id = :ex THEN 3 ELSE 1 END"
            ),
            {"ex": exhausted},
        )
    assert repo.sweep_expired_leases(max_attempts=3) == (1, 1)
    assert _events(clean_db, requeued) == []
    event = _one_event(clean_db, exhausted, "failed")
    assert event["data"]["error"]["code"] == "attempts_exhausted"


def test_a_rolled_back_transition_writes_no_event(
    clean_db: Engine, sessions: SessionFactory
) -> None:
    job_id = _submit(sessions)

    seen: list[int] = []

    def cancel_then_fail() -> None:
        with transaction(sessions) as session:
            cancel(session, job_id)
            seen.append(len(_events_in(session, job_id)))  # written, not yet committed
            raise RuntimeError("abort")

    with pytest.raises(RuntimeError, match="abort"):
        cancel_then_fail()
    assert seen == [1]
    assert _events(clean_db) == []
    with transaction(sessions) as session:
        assert view(session, job_id).status == "queued"


def _events_in(session: Any, job_id: UUID) -> list[Any]:
    sql = text("SELECT id FROM ml_outbox WHERE kind = 'event' AND job_id = :id")
    return list(session.execute(sql, {"id": job_id}).scalars())


def test_the_event_is_queued_for_the_tenants_webhooks_with_its_id(
    clean_db: Engine, sessions: SessionFactory
) -> None:
    with clean_db.begin() as conn:
        for tenant, types in (("t1", "[]"), ("t1", '["ai.bookmarkai.ml.job.done"]'), ("t2", "[]")):
            conn.execute(
                text(
                    "INSERT INTO ml_webhooks (id, tenant_id, url, event_types, secret) "
                    "VALUES (:id, :t, 'https://example.com/hook', CAST(:types AS jsonb), 's')"
                ),
                {"id": uuid.uuid4(), "t": tenant, "types": types},
            )
    job_id = _submit(sessions)
    with transaction(sessions) as session:
        cancel(session, job_id)
    event = _one_event(clean_db, job_id, "cancelled")
    with clean_db.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT tenant_id, share_id, event_id, event_type, body FROM ml_webhook_deliveries"
            )
        ).all()
    # Only t1's endpoint without a filter matches a cancelled event.
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        ("t1", "share-1", event["id"], "ai.bookmarkai.ml.job.cancelled")
    ]
    assert rows[0][4] == event
