"""Completion events in the caller's transaction: a job that reached a terminal state gets
one CloudEvent, written as an ``ml_outbox`` row of kind ``event`` (the relay publishes it
to ``ml.events``) and queued for the tenant's webhooks, so no event is lost and none is
sent for a rolled-back change (docs/messages.md, "Completion events").

Only the job repository (``db/jobs``) calls :func:`job_ended`, right after the UPDATE that
ended the job, and only when that UPDATE changed the status.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC
from typing import Any

from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from sqlalchemy.orm import Session

from bookmarkai_ml.contracts.jobs import JobPublic
from bookmarkai_ml.db.models import OutboxRow
from bookmarkai_ml.db.webhooks import fan_out
from bookmarkai_ml.ports import JobView

#: ``ml_outbox.kind`` of an event row (task rows are ``task``).
KIND = "event"
#: The CloudEvents ``source`` of every event we emit.
SOURCE = "/bookmarkai-ml"
#: ``type`` is this prefix and the job's terminal status (``ai.bookmarkai.ml.job.done``).
TYPE_PREFIX = "ai.bookmarkai.ml.job."
#: Extension attribute naming the job's tenant (CloudEvents extension names are [a-z0-9]).
TENANT_EXTENSION = "tenantid"
DATA_CONTENT_TYPE = "application/json"


def event_type(status: str) -> str:
    return TYPE_PREFIX + status


def routing_key(task: str, status: str) -> str:
    """The ``ml.events`` routing key: ``job.<task>.<status>``."""
    return f"job.{task}.{status}"


def build(job: JobView, *, event_id: str | None = None) -> dict[str, Any]:
    """The structured-mode CloudEvent (a JSON object) announcing ``job``'s current state.

    Built and validated by the CloudEvents SDK; ``data`` is the job exactly as
    ``GET /api/ml/jobs/{id}`` returns it, result included.
    """
    when = job.finished_at or job.updated_at
    attributes: dict[str, Any] = {
        "specversion": "1.0",
        "id": event_id or str(uuid.uuid4()),
        "source": SOURCE,
        "type": event_type(job.status),
        "subject": job.share_id,
        "time": when.astimezone(UTC),
        "datacontenttype": DATA_CONTENT_TYPE,
        TENANT_EXTENSION: job.tenant_id,
    }
    data = JobPublic.of(job).model_dump(mode="json")
    event = CloudEvent(attributes, data)
    parsed: dict[str, Any] = json.loads(JSONFormat().write(event))
    return parsed


def job_ended(session: Session, job: JobView, *, traceparent: str | None = None) -> dict[str, Any]:
    """Write ``job``'s completion event to the outbox and its webhooks; return the event.

    The event's id is generated here, once: the relay republishes the same row (and so
    the same id) after any failure, and webhooks use it as ``webhook-id``.
    """
    event = build(job)
    headers: dict[str, Any] = {"id": event["id"]}
    if traceparent:
        headers["traceparent"] = traceparent
    session.add(
        OutboxRow(
            job_id=job.id,
            kind=KIND,
            routing_key=routing_key(job.task, job.status),
            task_name=event["type"],
            kwargs=event,
            headers=headers,
        )
    )
    fan_out(session, tenant_id=job.tenant_id, share_id=job.share_id, event=event)
    return event
