"""Thin Celery tasks: decode the delivery, hand it to the job runtime, ack or reject.

One task per row of the task table (``contracts.TASKS``), under its Celery name. The
body's kwargs are the task's contract; positional args are accepted in the row's order
(``summarize_content(share_id, content, options)``) for producers that send them
(docs/messages.md). The worker entry point (``workers.app``) registers the tasks and
hands them the runtime and a dead-letter publisher.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Mapping
from typing import Any

from celery import Celery, Task
from celery.exceptions import Reject

from bookmarkai_ml.contracts import TASKS, TaskType
from bookmarkai_ml.messaging import protocol
from bookmarkai_ml.workers.runtime import Delivery, Disposition, JobRuntime, Report
from bookmarkai_ml.workers.softlimits import soft_limit_in_thread

log = logging.getLogger(__name__)

#: Soft limit this long before the hard one, so a handler can clean up.
SOFT_LIMIT_MARGIN_S = 30

#: ``(queue, body, headers, message_id)``: publishes a dead message's copy to the DLX.
DeadLetterPublisher = Callable[[str, bytes, dict[str, Any], str], None]


class RuntimeHolder:
    """One ``JobRuntime`` per worker process, built lazily after the prefork fork."""

    def __init__(self, build: Callable[[], JobRuntime]) -> None:
        self._build = build
        self._pid: int | None = None
        self._runtime: JobRuntime | None = None
        self._lock = threading.Lock()

    def get(self) -> JobRuntime:
        with self._lock:
            if self._runtime is None or self._pid != os.getpid():
                self._runtime = self._build()
                self._pid = os.getpid()
            return self._runtime


def as_kwargs(task: TaskType, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Merge positional args (the original design's form) into kwargs; extras fail the contract."""
    names = TASKS[task].positional
    merged = dict(zip(names, args, strict=False))
    if len(args) > len(names):
        merged["_unexpected_positional_args"] = list(args[len(names) :])
    merged.update(kwargs)
    return merged


def _dead_letter(
    task: Task,
    task_type: TaskType,
    kwargs: dict[str, Any],
    report: Report,
    publish: DeadLetterPublisher,
) -> None:
    row = TASKS[task_type]
    task_id = str(task.request.id)
    headers = protocol.task_headers(
        task_name=row.celery_name,
        task_id=task_id,
        kwargs=kwargs,
        extra={
            protocol.REASON_HEADER: (report.reason or "unknown")[:2000],
            protocol.SOURCE_QUEUE_HEADER: row.queue,
            protocol.TRACEPARENT: getattr(task.request, "traceparent", None)
            or protocol.new_traceparent(),
        },
    )
    try:
        publish(row.queue, protocol.encode_body(kwargs), headers, task_id)
    except Exception as exc:  # the broker's own dead-lettering still keeps the message
        log.warning("dead-letter copy failed (%s); rejecting to the DLX instead", exc)
        raise Reject(report.reason, requeue=False) from exc


def execute(
    task: Task,
    task_type: TaskType,
    runtime: JobRuntime,
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    *,
    dead_letter: DeadLetterPublisher,
    time_limit_s: float | None = None,
) -> dict[str, Any]:
    """Run one delivery; returns the report that the metrics hooks read.

    Raises:
        Reject: requeue (crash, database down) or, as a last resort, dead-letter.
    """
    request = task.request
    merged = as_kwargs(task_type, args, kwargs)
    traceparent = getattr(request, "traceparent", None)
    delivery = Delivery(
        delivery_count=int(getattr(request, "x-delivery-count", 0) or 0),
        traceparent=traceparent if isinstance(traceparent, str) else None,
        time_limit_s=time_limit_s,
    )
    # The CONSUMER span around this is the Celery instrumentation's (workers.app).
    try:
        report = runtime.run(task_type, merged, delivery)
    except Exception as exc:  # a bug or outage in the runtime itself: never ack
        log.exception("job runtime failed; requeueing the message")
        raise Reject(f"runtime error: {exc!r}", requeue=True) from exc
    if report.disposition is Disposition.REQUEUE:
        raise Reject(report.reason, requeue=True)
    if report.disposition is Disposition.DEAD_LETTER:
        _dead_letter(task, task_type, merged, report, dead_letter)
    cost = report.cost
    return {
        "outcome": report.disposition.value,
        "job_id": str(report.job_id) if report.job_id else None,
        "reason": report.reason,
        "cost_usd": str(cost.usd) if cost else None,
        "provider": cost.provider if cost else None,
        "model": cost.model if cost else None,
        "audio_seconds": cost.audio_seconds if cost else 0.0,
        "input_tokens": cost.input_tokens if cost else 0,
        "output_tokens": cost.output_tokens if cost else 0,
        "chunks": report.chunks,
    }


def register_tasks(
    app: Celery,
    *,
    runtime: RuntimeHolder,
    dead_letter: DeadLetterPublisher,
    time_limits: Mapping[TaskType, int],
    pool_kills: bool,
) -> None:
    """Register one task per task type on ``app``.

    ``pool_kills``: the pool enforces time limits itself (prefork); the other pools get
    the soft limit from ``workers.softlimits``.
    """
    for task_type in TASKS:
        limit = time_limits[task_type]
        soft = max(1, limit - SOFT_LIMIT_MARGIN_S)
        app.task(
            _task_body(task_type, runtime, dead_letter, limit, soft, pool_kills=pool_kills),
            name=TASKS[task_type].celery_name,
            # Not shared: a shared task would be added to every Celery app created later
            # in this process (tests make several), colliding with that app's own.
            shared=False,
            bind=True,
            typing=False,  # the contract, not Python's signature check, judges the kwargs
            acks_late=True,
            reject_on_worker_lost=True,
            time_limit=limit,
            soft_time_limit=soft,
        )


def _task_body(
    task_type: TaskType,
    holder: RuntimeHolder,
    dead_letter: DeadLetterPublisher,
    limit: int,
    soft: int,
    *,
    pool_kills: bool,
) -> Callable[..., dict[str, Any]]:
    def run(self: Task, *args: Any, **kwargs: Any) -> dict[str, Any]:
        with contextlib.nullcontext() if pool_kills else soft_limit_in_thread(soft):
            return execute(
                self,
                task_type,
                holder.get(),
                args,
                kwargs,
                dead_letter=dead_letter,
                time_limit_s=limit,
            )

    return run
