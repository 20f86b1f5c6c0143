"""Thin Celery tasks: decode the delivery, hand it to the job runtime, ack or reject.

One task per ``TaskType`` under its seed name (``contracts.TASK_NAMES``). The body's
kwargs are the task's contract; positional args are accepted in the seed's order
(``summarize_content(share_id, content, options)``) for producers that send them.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import logging
import os
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

from celery import Celery, Task
from celery.exceptions import Reject, SoftTimeLimitExceeded

from bookmarkai_ml.config import Settings
from bookmarkai_ml.contracts import QUEUES, TASK_NAMES, TaskType
from bookmarkai_ml.db.engine import database_url, make_engine, make_session_factory
from bookmarkai_ml.messaging import protocol
from bookmarkai_ml.messaging.celery_app import publish_dead_letter
from bookmarkai_ml.observability.tracing import consumer_span
from bookmarkai_ml.workers import handlers
from bookmarkai_ml.workers.runtime import Delivery, Disposition, JobRuntime, Report

log = logging.getLogger(__name__)

#: The seed's positional signatures, for producers that send ``args``.
POSITIONAL: dict[TaskType, tuple[str, ...]] = {
    TaskType.SUMMARIZE: ("share_id", "content", "options"),
    TaskType.TRANSCRIBE: ("share_id", "media_url", "options"),
    TaskType.EMBED: ("share_id", "content", "options"),
}
#: Soft limit this long before the hard one, so a handler can clean up.
SOFT_LIMIT_MARGIN_S = 30


class RuntimeHolder:
    """One ``JobRuntime`` per worker process, built lazily after the prefork fork."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._pid: int | None = None
        self._runtime: JobRuntime | None = None
        self._lock = threading.Lock()

    def get(self) -> JobRuntime:
        with self._lock:
            if self._runtime is None or self._pid != os.getpid():
                engine = make_engine(database_url(self._settings), pool_size=2)
                sessions = make_session_factory(engine)
                self._runtime = JobRuntime(
                    settings=self._settings,
                    sessions=sessions,
                    handlers=handlers.HandlerRegistry(self._settings),
                    ledger=handlers.build_ledger(self._settings, sessions),
                    time_limit_errors=(SoftTimeLimitExceeded,),
                )
                self._pid = os.getpid()
            return self._runtime


def as_kwargs(task: TaskType, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Merge seed-style positional args into kwargs; extra args fail the contract."""
    names = POSITIONAL[task]
    merged = dict(zip(names, args, strict=False))
    if len(args) > len(names):
        merged["_unexpected_positional_args"] = list(args[len(names) :])
    merged.update(kwargs)
    return merged


def _dead_letter(task: Task, task_type: TaskType, kwargs: dict[str, Any], report: Report) -> None:
    queue = QUEUES[task_type]
    task_id = str(task.request.id)
    headers = protocol.task_headers(
        task_name=TASK_NAMES[task_type],
        task_id=task_id,
        kwargs=kwargs,
        extra={
            protocol.REASON_HEADER: (report.reason or "unknown")[:2000],
            protocol.SOURCE_QUEUE_HEADER: queue,
            protocol.TRACEPARENT: getattr(task.request, "traceparent", None)
            or protocol.new_traceparent(),
        },
    )
    try:
        publish_dead_letter(
            task.app,
            queue=queue,
            body=protocol.encode_body(kwargs),
            headers=headers,
            message_id=task_id,
        )
    except Exception as exc:  # the broker's own dead-lettering still keeps the message
        log.warning("dead-letter copy failed (%s); rejecting to the DLX instead", exc)
        raise Reject(report.reason, requeue=False) from exc


class _SoftLimits:
    """Soft time limits for the threads and solo pools: one watchdog thread per process.

    Celery enforces time limits only in the prefork pool (by signal). Here a task's thread
    gets ``SoftTimeLimitExceeded`` as an asynchronous exception, which it sees at its next
    Python bytecode (a native call finishes first, as with the signal). One thread serves
    every running task, so a task costs a dict entry, not a thread start.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._due: dict[int, tuple[float, int]] = {}  # token -> (deadline, thread id)
        self._tokens = itertools.count()
        self._pid = 0

    @contextlib.contextmanager
    def limit(self, seconds: float) -> Iterator[None]:
        token, target = next(self._tokens), threading.get_ident()
        with self._cond:
            if self._pid != os.getpid():  # first use in this process
                self._pid = os.getpid()
                threading.Thread(target=self._watch, name="soft-limits", daemon=True).start()
            self._due[token] = (time.monotonic() + seconds, target)
            self._cond.notify()
        try:
            yield
        finally:
            with self._cond:
                if self._due.pop(token, None) is None:  # it fired: drop it if still pending
                    _set_async_exc(target, None)

    def _watch(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                for token, (deadline, target) in list(self._due.items()):
                    if deadline <= now:
                        del self._due[token]
                        _set_async_exc(target, SoftTimeLimitExceeded)
                next_due = min((deadline for deadline, _ in self._due.values()), default=None)
                self._cond.wait(None if next_due is None else max(0.0, next_due - now))


#: ``with soft_limit_in_thread(seconds): ...`` raises in this thread past ``seconds``.
soft_limit_in_thread = _SoftLimits().limit


def _set_async_exc(thread_id: int, exc: type[BaseException] | None) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exc) if exc else None
    )


def execute(
    task: Task,
    task_type: TaskType,
    runtime: JobRuntime,
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    *,
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
    with consumer_span(
        TASK_NAMES[task_type], {"traceparent": delivery.traceparent}, queue=QUEUES[task_type]
    ):
        try:
            report = runtime.run(task_type, merged, delivery)
        except Exception as exc:  # a bug or outage in the runtime itself: never ack
            log.exception("job runtime failed; requeueing the message")
            raise Reject(f"runtime error: {exc!r}", requeue=True) from exc
    if report.disposition is Disposition.REQUEUE:
        raise Reject(report.reason, requeue=True)
    if report.disposition is Disposition.DEAD_LETTER:
        _dead_letter(task, task_type, merged, report)
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


def register_tasks(app: Celery, settings: Settings, time_limits: Mapping[TaskType, int]) -> None:
    """Register one task per task type on ``app``."""
    holder = RuntimeHolder(settings)
    pool_kills = settings.worker.pool == "prefork"
    for task_type in TaskType:
        limit = time_limits[task_type]
        _register(app, task_type, holder, limit, pool_kills=pool_kills)


def _register(
    app: Celery, task_type: TaskType, holder: RuntimeHolder, limit: int, *, pool_kills: bool
) -> None:
    soft = max(1, limit - SOFT_LIMIT_MARGIN_S)

    def run(self: Task, *args: Any, **kwargs: Any) -> dict[str, Any]:
        # prefork enforces both limits itself; the other pools get the soft one here
        with contextlib.nullcontext() if pool_kills else soft_limit_in_thread(soft):
            return execute(self, task_type, holder.get(), args, kwargs, time_limit_s=limit)

    app.task(
        run,
        name=TASK_NAMES[task_type],
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
