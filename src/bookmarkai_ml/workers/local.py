"""The local broker path: outbox -> relay -> job runtime in one process, no RabbitMQ.

``bookmarkai-ml process`` uses it when no broker URL is configured. It runs the same
code as production: ``services.jobs.submit`` writes job + outbox rows, the
``OutboxRelay`` claims and "publishes" them, ``JobRuntime`` claims the job, runs the
handler and finishes it (with follow-up jobs for the enrich flow); but "publishing"
hands the encoded message to an in-memory queue that this process then executes.

What differs from production (docs/architecture.md, "The local path"): no redelivery by a
broker if this process dies (the job stays ``queued``/``running`` and the outbox row or
the expired lease brings it back on the next run), one job at a time, no queue metrics.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Iterable
from uuid import UUID

from bookmarkai_ml.contracts import TASKS
from bookmarkai_ml.messaging import protocol, topology
from bookmarkai_ml.messaging.relay import OutboxRelay
from bookmarkai_ml.observability.logging import JobLogContext, job_context
from bookmarkai_ml.observability.spans import consumer_span
from bookmarkai_ml.ports import OutgoingMessage
from bookmarkai_ml.workers.runtime import Delivery, Disposition, JobRuntime, Report

log = logging.getLogger(__name__)


class LocalPublisher:
    """A ``ports.Publisher`` whose "broker" is an in-memory FIFO; publishing never fails."""

    def __init__(self) -> None:
        self.pending: deque[OutgoingMessage] = deque()

    async def publish(self, message: OutgoingMessage) -> None:
        if message.exchange == topology.EVENTS_EXCHANGE:
            return  # a completion event: no broker, no consumer here (webhooks still get it)
        self.pending.append(message)


class LocalBroker:
    """Drive jobs to a terminal state in this process."""

    def __init__(
        self,
        *,
        runtime: JobRuntime,
        relay: Callable[[LocalPublisher], OutboxRelay],
        delivery_limit: int,
    ) -> None:
        """``relay`` builds the outbox relay (with ``listen=False``) around the publisher."""
        self._runtime = runtime
        self._jobs = runtime.jobs
        self._publisher = LocalPublisher()
        self._relay = relay(self._publisher)
        self._delivery_limit = delivery_limit

    def _execute(self, message: OutgoingMessage) -> Report:
        task = TASKS.by_queue(message.routing_key).type
        body = protocol.decode_body(message.body)
        traceparent = message.headers.get("traceparent")
        job = JobLogContext(
            job_id=str(body.kwargs.get("job_id") or "") or None,
            share_id=str(body.kwargs.get("share_id") or "") or None,
            task=task.value,
            traceparent=traceparent if isinstance(traceparent, str) else None,
        )
        delivery_count = 0
        while True:
            # No Celery here to open the CONSUMER span: open it, continuing the job's trace;
            # its log lines name the job, as a worker's do.
            with (
                consumer_span(f"run/{task}", message.headers, queue=message.routing_key),
                job_context(job),
            ):
                report = self._runtime.run(
                    task,
                    body.kwargs,
                    Delivery(delivery_count=delivery_count, traceparent=job.traceparent),
                )
            # A broker would redeliver a rejected message; bounded like x-delivery-limit.
            if report.disposition is not Disposition.REQUEUE:
                return report
            delivery_count += 1
            if delivery_count >= self._delivery_limit:
                log.error("job %s: gave up after %d deliveries", report.job_id, delivery_count)
                return report

    async def run_until_done(
        self,
        roots: Iterable[UUID],
        *,
        on_report: Callable[[Report], None] | None = None,
        idle_wait_s: float = 0.2,
    ) -> None:
        """Publish and execute until every job in the trees under ``roots`` is terminal."""
        root_ids = list(roots)
        await asyncio.to_thread(self._jobs.revive_orphans, root_ids)
        while True:
            await self._relay.drain()
            while self._publisher.pending:
                message = self._publisher.pending.popleft()
                report = await asyncio.to_thread(self._execute, message)
                if on_report is not None:
                    on_report(report)
                await self._relay.drain()  # follow-up jobs committed by the finish
            if await asyncio.to_thread(self._jobs.unfinished, root_ids) == 0:
                return
            # A retry with backoff waits in the outbox until it is due; a job left
            # running by a dead earlier run comes back when its lease expires.
            await self._relay.maintain()
            await asyncio.sleep(idle_wait_s)

    async def close(self) -> None:
        await self._relay.stop()
