"""The one Celery configuration (SPEC §1 Celery config), built from ``Settings``.

Why each setting:

- ``task_acks_late`` + ``task_reject_on_worker_lost``: a message is acked only after
  its job is finished or parked, and a worker killed mid-task puts it back
  (https://docs.celeryq.dev/en/stable/userguide/configuration.html#task-acks-late).
- ``broker_transport_options.confirm_publish``: Celery's own publishes (``send_task``,
  dead-letter copies) wait for publisher confirms.
- ``worker_prefetch_multiplier`` (seed 8; transcription 1) and
  ``worker_max_tasks_per_child`` (seed 50), each settable per queue. Quorum queues do
  not support global QoS, so ``worker_detect_quorum_queues`` makes Celery use per-consumer
  prefetch
  (https://www.rabbitmq.com/docs/quorum-queues#global-qos).
- Hard time limits per task type must stay below RabbitMQ's ``consumer_timeout``,
  or the broker closes the channel of a slow task and redelivers it
  (https://www.rabbitmq.com/docs/consumers#acknowledgement-timeout).
- A topic task exchange, so Celery's native delayed delivery (countdown/ETA on quorum
  queues) can route; our own retries go through the outbox (``workers.runtime``).
"""

from __future__ import annotations

import gc
import sys
from typing import Any

import billiard.pool  # type: ignore[import-untyped]
from celery import Celery, signals
from kombu import Exchange, Queue  # type: ignore[attr-defined]

from bookmarkai_ml.config import Settings
from bookmarkai_ml.contracts import QUEUES, TASK_NAMES, TaskType
from bookmarkai_ml.errors import ConfigurationError
from bookmarkai_ml.messaging import topology
from bookmarkai_ml.messaging.tls import celery_broker_options

#: How often a child at its task limit checks that the parent has its last result.
RECYCLE_POLL_S = 0.002


def time_limits(settings: Settings) -> dict[TaskType, int]:
    """Hard time limit (seconds) per task type.

    Raises:
        ConfigurationError: a limit would let one task outlive the consumer timeout.
    """
    w = settings.worker
    limits = {
        TaskType.SUMMARIZE: w.summarize_time_limit_s,
        TaskType.TRANSCRIBE: w.transcribe_time_limit_s,
        TaskType.EMBED: w.embed_time_limit_s,
    }
    for task, limit in limits.items():
        if limit >= w.consumer_timeout_s:
            raise ConfigurationError(
                f"{task.value} time limit {limit}s must stay below the broker's "
                f"consumer_timeout {w.consumer_timeout_s}s"
            )
    return limits


def per_queue(settings: Settings, queues: list[str] | None, knob: str) -> int:
    """``worker.<knob>`` for a worker consuming ``queues``: each queue's own value
    (``worker.<task>_<knob>``, else the default), the smallest when it consumes several.
    ``None`` (an app that is not a worker of given queues) gets the default."""
    w = settings.worker
    default = int(getattr(w, knob))
    if not queues:
        return default
    tasks = [task for task, queue in QUEUES.items() if queue in queues]
    return min((getattr(w, f"{task.value}_{knob}") or default for task in tasks), default=default)


def kombu_queues(settings: Settings) -> list[Queue]:
    """The task queues as kombu objects, with exactly the topology's arguments."""
    exchange = Exchange(topology.TASK_EXCHANGE, type="topic", durable=True)  # type: ignore[no-untyped-call]
    return [
        Queue(  # type: ignore[no-untyped-call]
            spec.name,
            exchange,
            routing_key=spec.routing_key,
            queue_arguments=spec.arguments,
            durable=True,
        )
        for spec in topology.task_queues(settings.broker)
    ]


def celery_config(settings: Settings, *, queues: list[str] | None = None) -> dict[str, Any]:
    w = settings.worker
    routes = {
        TASK_NAMES[t]: {
            "queue": QUEUES[t],
            "exchange": topology.TASK_EXCHANGE,
            "routing_key": QUEUES[t],
        }
        for t in TaskType
    }
    return {
        **celery_broker_options(settings),
        "broker_transport_options": {"confirm_publish": True},
        "broker_connection_retry_on_startup": True,
        "task_queues": kombu_queues(settings),
        "task_routes": routes,
        "task_default_queue": QUEUES[TaskType.SUMMARIZE],
        "task_default_exchange": topology.TASK_EXCHANGE,
        "task_default_exchange_type": "topic",
        "task_create_missing_queues": False,
        "task_serializer": "json",
        "accept_content": ["json"],
        "task_ignore_result": True,
        "result_backend": None,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_acks_on_failure_or_timeout": True,
        "worker_prefetch_multiplier": per_queue(settings, queues, "prefetch_multiplier"),
        "worker_max_tasks_per_child": per_queue(settings, queues, "max_tasks_per_child"),
        "worker_concurrency": w.concurrency,
        "worker_pool": w.pool,
        "worker_detect_quorum_queues": True,
        # Remote control needs fanout pidbox queues per worker; nothing here uses it.
        "worker_enable_remote_control": False,
        "worker_send_task_events": False,
        # A task still running when the connection drops cannot ack anyway; its
        # message comes back and the job runtime absorbs the duplicate.
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "worker_hijack_root_logger": False,
    }


def _freeze_parent_heap(**_: Any) -> None:
    # Celery runs a full gc.collect() in the parent before every fork (celery#2927);
    # with our imports that is ~0.3 s per recycled child. Frozen objects are skipped
    # by the collector and stay shared copy-on-write with the children, which is what
    # the docs advise for pre-fork servers: https://docs.python.org/3/library/gc.html#gc.freeze
    gc.freeze()


def warm_prefork_children() -> None:
    """Make starting a prefork child cheap; children are recycled every 50 tasks (seed).

    - billiard sets each child's parent-death signal through cffi when cffi is loaded
      (psycopg and cryptography load it); the first ``cdef`` in a process imports
      pycparser and builds its parser (~0.2 s). Done once here, children inherit it.
    - the parent's heap is frozen before each fork (see ``_freeze_parent_heap``);
    - a child at its task limit waits, before exiting, until the parent has counted its
      last result, polling every 0.1 s (``billiard.pool.Worker._ensure_messages_consumed``).
      The parent counts it within a millisecond or two, so nearly every recycle slept the
      whole 0.1 s: half the throughput of a queue of short tasks. Poll every 2 ms, for
      the same 30 s at most.
    """
    if hasattr(billiard.pool, "GUARANTEE_MESSAGE_CONSUMPTION_RETRY_INTERVAL"):
        billiard.pool.GUARANTEE_MESSAGE_CONSUMPTION_RETRY_INTERVAL = RECYCLE_POLL_S
        billiard.pool.GUARANTEE_MESSAGE_CONSUMPTION_RETRY_LIMIT = int(30 / RECYCLE_POLL_S)
    if "cffi" in sys.modules:
        import cffi  # type: ignore[import-untyped]

        cffi.FFI().cdef("int prctl (int __option, ...);")
    signals.worker_before_create_process.connect(
        _freeze_parent_heap, weak=False, dispatch_uid="bookmarkai_ml_gc_freeze"
    )


def make_celery_app(settings: Settings, *, queues: list[str] | None = None) -> Celery:
    """The Celery app with every task registered (tasks are thin; see ``workers.tasks``)."""
    from bookmarkai_ml.workers.tasks import register_tasks  # entry point builds inward deps

    app = Celery("bookmarkai_ml", set_as_current=False)
    app.conf.update(celery_config(settings, queues=queues))
    register_tasks(app, settings, time_limits(settings))
    if settings.worker.pool == "prefork":
        warm_prefork_children()
    return app


def publish_dead_letter(
    app: Celery, *, queue: str, body: bytes, headers: dict[str, Any], message_id: str
) -> None:
    """Publish a copy of a dead message, with its reason, to the DLX (confirmed).

    Used instead of a bare reject so that the DLQ keeps *why* the message died, not
    just RabbitMQ's ``x-death`` reason ``rejected``.
    """
    with app.producer_or_acquire() as producer:
        producer.publish(
            body,
            exchange=topology.DEAD_LETTER_EXCHANGE,
            routing_key=queue,
            headers=headers,
            content_type="application/json",
            content_encoding="utf-8",
            delivery_mode=2,
            message_id=message_id,
            correlation_id=message_id,
            retry=True,
            retry_policy={"max_retries": 3, "interval_start": 0.5, "interval_step": 1},
        )
