"""The local broker path: outbox → relay → job runtime in one process, no RabbitMQ.

``bookmarkai-ml process`` uses it when no broker URL is configured. It runs the same
code as production — ``services.jobs.submit`` writes job + outbox rows, the
``OutboxRelay`` claims and "publishes" them, ``JobRuntime`` claims the job, runs the
handler and finishes it (with follow-up jobs for the enrich flow) — but "publishing"
hands the encoded message to an in-memory queue that this process then executes.

What differs from production (docs/architecture.md): no redelivery by a broker if
this process dies (the job stays ``queued``/``running`` and the outbox row or the
expired lease brings it back on the next run), one job at a time, no queue metrics.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Iterable
from uuid import UUID

from sqlalchemy import Engine, text

from bookmarkai_ml.config import Settings
from bookmarkai_ml.contracts import QUEUES, TaskType
from bookmarkai_ml.db.engine import make_session_factory, transaction
from bookmarkai_ml.db.models import Job, JobStatus
from bookmarkai_ml.messaging import protocol
from bookmarkai_ml.messaging.relay import OutboxRelay
from bookmarkai_ml.ports import OutgoingMessage
from bookmarkai_ml.services import jobs
from bookmarkai_ml.workers.runtime import Delivery, Disposition, JobRuntime, Report

log = logging.getLogger(__name__)

_TASK_BY_QUEUE = {queue: task for task, queue in QUEUES.items()}

_TREE = """
    WITH RECURSIVE tree AS (
        SELECT id, status FROM ml_jobs WHERE id = ANY(:roots)
        UNION ALL
        SELECT j.id, j.status FROM ml_jobs j JOIN tree t ON j.parent_id = t.id
    )
"""
_PENDING = text(_TREE + "SELECT count(*) FROM tree WHERE NOT (status = ANY(:terminal))")
# Queued jobs with nothing left to publish: an earlier local run died after its
# in-memory "publish"; with no broker to redeliver, queue them again.
_ORPHANS = text(
    _TREE + "SELECT tree.id FROM tree WHERE status = 'queued' AND NOT EXISTS "
    "(SELECT 1 FROM ml_outbox o WHERE o.job_id = tree.id AND o.sent_at IS NULL)"
)


class LocalPublisher:
    """A ``ports.Publisher`` whose "broker" is an in-memory FIFO; publishing never fails."""

    def __init__(self) -> None:
        self.pending: deque[OutgoingMessage] = deque()

    async def publish(self, message: OutgoingMessage) -> None:
        self.pending.append(message)


class LocalBroker:
    """Drive jobs to a terminal state in this process."""

    def __init__(self, *, settings: Settings, engine: Engine, runtime: JobRuntime) -> None:
        self._engine = engine
        self._sessions = make_session_factory(engine)
        self._runtime = runtime
        self._publisher = LocalPublisher()
        self._relay = OutboxRelay(
            engine=engine,
            publisher=self._publisher,
            settings=settings.outbox,
            max_attempts=settings.worker.max_retries + 1,
            listen=False,
        )
        self._delivery_limit = settings.broker.delivery_limit

    def _execute(self, message: OutgoingMessage) -> Report:
        task = TaskType(_TASK_BY_QUEUE[message.routing_key])
        body = protocol.decode_body(message.body)
        traceparent = message.headers.get("traceparent")
        delivery_count = 0
        while True:
            report = self._runtime.run(
                task,
                body.kwargs,
                Delivery(
                    delivery_count=delivery_count,
                    traceparent=traceparent if isinstance(traceparent, str) else None,
                ),
            )
            # A broker would redeliver a rejected message; bounded like x-delivery-limit.
            if report.disposition is not Disposition.REQUEUE:
                return report
            delivery_count += 1
            if delivery_count >= self._delivery_limit:
                log.error("job %s: gave up after %d deliveries", report.job_id, delivery_count)
                return report

    def _pending(self, roots: list[UUID]) -> int:
        params = {"roots": roots, "terminal": sorted(JobStatus.TERMINAL)}
        with self._engine.connect() as conn:
            return int(conn.execute(_PENDING, params).scalar_one())

    def _revive_orphans(self, roots: list[UUID]) -> None:
        with transaction(self._sessions) as session:
            orphans: list[UUID] = list(session.execute(_ORPHANS, {"roots": roots}).scalars())
            for job_id in orphans:
                jobs.requeue(session, session.get_one(Job, job_id), reset_attempts=False)

    async def run_until_done(
        self,
        roots: Iterable[UUID],
        *,
        on_report: Callable[[Report], None] | None = None,
        idle_wait_s: float = 0.2,
    ) -> None:
        """Publish and execute until every job in the trees under ``roots`` is terminal."""
        root_ids = list(roots)
        await asyncio.to_thread(self._revive_orphans, root_ids)
        while True:
            await self._relay.drain()
            while self._publisher.pending:
                message = self._publisher.pending.popleft()
                report = await asyncio.to_thread(self._execute, message)
                if on_report is not None:
                    on_report(report)
                await self._relay.drain()  # follow-up jobs committed by the finish
            if await asyncio.to_thread(self._pending, root_ids) == 0:
                return
            # A retry with backoff waits in the outbox until it is due; a job left
            # running by a dead earlier run comes back when its lease expires.
            await self._relay.maintain()
            await asyncio.sleep(idle_wait_s)

    async def close(self) -> None:
        await self._relay.stop()
