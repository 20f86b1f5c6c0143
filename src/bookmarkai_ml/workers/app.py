"""The worker entry point: a configured Celery app with the tasks registered on it.

``messaging.celery_app`` is configuration only; this module wires the worker side to it:
the job runtime (built by the composition root once per process, after the prefork fork),
the dead-letter publisher, the time limits, the prefork warm-up and the heap release.
"""

from __future__ import annotations

from typing import Any

from celery import Celery, signals
from celery.exceptions import SoftTimeLimitExceeded

from bookmarkai_ml import bootstrap
from bookmarkai_ml.config import Settings
from bookmarkai_ml.messaging.celery_app import (
    make_celery_app,
    publish_dead_letter,
    time_limits,
    warm_prefork_children,
)
from bookmarkai_ml.observability import tracing
from bookmarkai_ml.workers import handlers, memory, warmup
from bookmarkai_ml.workers.runtime import JobRuntime
from bookmarkai_ml.workers.tasks import RuntimeHolder, register_tasks


def make_worker_app(settings: Settings, *, queues: list[str] | None = None) -> Celery:
    """The Celery app a worker runs: configuration, tasks, dead-lettering.

    Raises:
        ConfigurationError: the settings are unsafe (e.g. a time limit past the consumer
            timeout) or a handler plugin cannot be imported.
    """
    handlers.load_plugins(settings.worker.plugins)  # a bad plugin fails here, not in a child
    app = make_celery_app(settings, queues=queues)

    def build_runtime() -> JobRuntime:
        return bootstrap.job_runtime(settings, time_limit_errors=(SoftTimeLimitExceeded,))

    def dead_letter(queue: str, body: bytes, headers: dict[str, Any], message_id: str) -> None:
        publish_dead_letter(app, queue=queue, body=body, headers=headers, message_id=message_id)

    prefork = settings.worker.pool == "prefork"
    register_tasks(
        app,
        runtime=RuntimeHolder(build_runtime),
        dead_letter=dead_letter,
        time_limits=time_limits(settings),
        pool_kills=prefork,
    )
    if prefork:
        warm_prefork_children()
    warmup.connect(settings, queues)  # a process takes jobs once its models are loaded
    memory.connect()  # what a task freed goes back to the kernel, not to the next peak
    _trace_tasks(settings, prefork=prefork)
    return app


def _trace_tasks(settings: Settings, *, prefork: bool) -> None:
    """Configure tracing where the tasks run: in each prefork child after its fork (the
    OpenTelemetry docs for pre-forking servers: a batch exporter's thread does not survive
    a fork), else in the worker process; flush when that process ends."""

    def start(**_: Any) -> None:
        if not tracing.exporting(settings.telemetry):
            return
        tracing.configure_tracing(settings.telemetry, component="worker")
        tracing.instrument_celery()

    def stop(**_: Any) -> None:
        tracing.shutdown_tracing()  # a prefork child exits with os._exit: no atexit flush

    init, shutdown = (
        (signals.worker_process_init, signals.worker_process_shutdown)
        if prefork
        else (signals.worker_init, signals.worker_shutdown)
    )
    init.connect(start, weak=False, dispatch_uid="bookmarkai_ml_tracing_start")
    shutdown.connect(stop, weak=False, dispatch_uid="bookmarkai_ml_tracing_stop")
