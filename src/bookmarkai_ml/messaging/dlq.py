"""Dead letters: archive them from the DLQs into ``ml_dead_letters``, list them, replay them.

A message reaches a DLQ in two ways: a worker publishes a copy with an
``x-bookmarkai-reason`` header (broken contract, crash on its last allowed delivery),
or RabbitMQ dead-letters it itself (``x-death`` reason ``delivery_limit`` after a crash
loop, or ``rejected``). The archiver moves each one into the table (ack only after
the commit, unique ``message_id``: at-least-once, no duplicates) and fails its job
with the reason, so nothing dead is invisible to the API. Replay puts the job (or,
without a job, the original kwargs) back through the outbox.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from bookmarkai_ml.contracts import TASKS, TaskType
from bookmarkai_ml.db import jobs, tombstones
from bookmarkai_ml.db.engine import SessionFactory, transaction
from bookmarkai_ml.db.models import DeadLetter, Job
from bookmarkai_ml.errors import ConflictError, ContractError, UnknownTaskError
from bookmarkai_ml.messaging import protocol, topology
from bookmarkai_ml.messaging.admin import BrokerAdmin, ReceivedMessage

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DeadLetterView:
    id: int
    queue: str
    reason: str
    job_id: UUID | None
    task_name: str | None
    message_id: str | None
    dead_at: datetime
    replayed_at: datetime | None


def _text(value: Any) -> str | None:
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    return None if value is None else str(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    return _text(value)


def reason_of(headers: Mapping[str, Any]) -> str:
    """Our reason header, else RabbitMQ's ``x-death`` reason (``delivery_limit``, ...)."""
    ours = _text(headers.get(protocol.REASON_HEADER))
    if ours:
        return ours
    deaths = headers.get("x-death")
    if isinstance(deaths, list) and deaths and isinstance(deaths[0], Mapping):
        first = deaths[0]
        return f"{_text(first.get('reason'))} (queue {_text(first.get('queue'))})"
    return "unknown"


def _job_id(body: bytes) -> UUID | None:
    try:
        value = protocol.decode_body(body).kwargs.get("job_id")
        return UUID(str(value)) if value else None
    except (ContractError, ValueError):
        return None


def store(session: Session, queue: str, message: ReceivedMessage) -> bool:
    """Insert one dead message and fail its job; False if it was archived before."""
    headers = dict(message.headers)
    reason = reason_of(headers)
    job_id = _job_id(message.body)
    message_id = _text(headers.get("id")) or message.message_id
    inserted = session.execute(
        insert(DeadLetter)
        .values(
            queue=_text(headers.get(protocol.SOURCE_QUEUE_HEADER)) or queue,
            reason=reason,
            job_id=job_id,
            task_name=_text(headers.get("task")),
            message_id=message_id,
            body=message.body.decode("utf-8", "replace"),
            headers=_jsonable(headers),
        )
        .on_conflict_do_nothing(index_elements=["message_id"])
        .returning(DeadLetter.id)
    ).scalar_one_or_none()
    if job_id is not None:
        jobs.fail_unfinished(session, job_id, code="dead_lettered", message=reason)
    return inserted is not None


def _store(sessions: SessionFactory, dlq_name: str, message: ReceivedMessage) -> bool:
    with transaction(sessions) as session:
        return store(session, dlq_name.removesuffix(topology.DLQ_SUFFIX), message)


async def archive(
    admin: BrokerAdmin,
    sessions: SessionFactory,
    *,
    limit: int = 10_000,
    on_archived: Callable[[str], None] | None = None,
) -> int:
    """Move every message waiting in the DLQs into ``ml_dead_letters``; returns how many.

    ``on_archived(dlq_name)`` is called per message (the ``ml_dead_letters`` counter).

    Raises:
        BrokerUnavailableError: the broker went away (unacked messages are redelivered).
        QueueNotFoundError: a DLQ is not declared yet.
        DatabaseUnavailableError: a message could not be stored (unacked, it goes back
            to its DLQ when the admin's connection closes).
    """
    import asyncio

    moved = 0
    for spec in topology.dead_letter_queues():
        while moved < limit:
            message = await admin.get(spec.name)
            if message is None:
                break

            await asyncio.to_thread(_store, sessions, spec.name, message)
            await message.ack()
            moved += 1
            if on_archived is not None:
                on_archived(spec.name)
    if moved:
        log.warning("archived %d dead letters", moved)
    return moved


def list_dead(
    session: Session,
    *,
    queue: str | None = None,
    include_replayed: bool = False,
    limit: int = 100,
) -> list[DeadLetterView]:
    """Dead letters, newest first."""
    stmt = select(DeadLetter).order_by(DeadLetter.id.desc()).limit(limit)
    if queue:
        stmt = stmt.where(DeadLetter.queue == queue)
    if not include_replayed:
        stmt = stmt.where(DeadLetter.replayed_at.is_(None))
    return [
        DeadLetterView(
            id=d.id,
            queue=d.queue,
            reason=d.reason,
            job_id=d.job_id,
            task_name=d.task_name,
            message_id=d.message_id,
            dead_at=d.dead_at,
            replayed_at=d.replayed_at,
        )
        for d in session.execute(stmt).scalars()
    ]


def _task_of(celery_name: str | None) -> TaskType | None:
    """The task type registered as ``celery_name``; ``None`` for a name not in the table."""
    try:
        return TASKS.by_celery_name(celery_name or "").type
    except UnknownTaskError:
        return None


def replay(session: Session, ids: Sequence[int]) -> dict[int, str]:
    """Queue the selected dead letters again; returns ``{id: outcome}``.

    A dead letter whose job exists requeues that job (fresh attempts); one without a
    job republishes its original kwargs, and the worker adopts it on delivery.
    """
    outcomes: dict[int, str] = {}
    rows = session.execute(
        select(DeadLetter).where(DeadLetter.id.in_(list(ids))).with_for_update()
    ).scalars()
    for dead in rows:
        if dead.replayed_at is not None:
            outcomes[dead.id] = "already replayed"
            continue
        job = session.get(Job, dead.job_id) if dead.job_id else None
        task = _task_of(dead.task_name)
        if job is not None:
            try:
                jobs.requeue(session, job.id)
            except ConflictError as exc:  # its share was erased, or its input pruned
                outcomes[dead.id] = f"dropped: {exc}"
                continue
        elif task is not None:
            try:
                kwargs = protocol.decode_body(dead.body.encode()).kwargs
            except ContractError as exc:
                outcomes[dead.id] = f"not replayable: {exc}"
                continue
            if _erased(session, kwargs):
                outcomes[dead.id] = "dropped: its share was erased"
                continue
            jobs.enqueue(
                session,
                job_id=None,
                task=task,
                kwargs=kwargs,
                traceparent=_text(dead.headers.get("traceparent")),
            )
        else:
            outcomes[dead.id] = f"not replayable: unknown task {dead.task_name!r}"
            continue
        dead.replayed_at = session.execute(select(func.now())).scalar_one()
        outcomes[dead.id] = "replayed"
    for missing in set(ids) - set(outcomes):
        outcomes[missing] = "not found"
    return outcomes


def _erased(session: Session, kwargs: Mapping[str, Any]) -> bool:
    """Whether a job-less message names an erased share (``db/tombstones.py``)."""
    tenant, share = kwargs.get("tenant_id", "default"), kwargs.get("share_id")
    if not isinstance(tenant, str) or not isinstance(share, str):
        return False
    return tombstones.share_erased(session, tenant_id=tenant, share_id=share)


def all_ids(session: Session, *, queue: str | None = None) -> list[int]:
    """Ids of every dead letter not yet replayed (for ``dlq replay --all``)."""
    stmt = text(
        "SELECT id FROM ml_dead_letters WHERE replayed_at IS NULL"
        + (" AND queue = :q" if queue else "")
        + " ORDER BY id"
    )
    ids: list[int] = list(session.execute(stmt, {"q": queue} if queue else {}).scalars())
    return ids
