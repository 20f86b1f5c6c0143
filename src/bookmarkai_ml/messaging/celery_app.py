"""The one Celery configuration, built from ``Settings`` (docs/operations.md, "Worker tuning").

Why each setting:

- ``task_acks_late`` + ``task_reject_on_worker_lost``: a message is acked only after
  its job is finished or parked, and a worker killed mid-task puts it back
  (https://docs.celeryq.dev/en/stable/userguide/configuration.html#task-acks-late).
- ``broker_transport_options.confirm_publish``: Celery's own publishes (``send_task``,
  dead-letter copies) wait for publisher confirms.
- ``worker_prefetch_multiplier`` (8, a design default; transcription 1) and
  ``worker_max_tasks_per_child`` (50, a design default), each settable per queue
  (docs/operations.md, "Defaults from the original design"). Quorum queues do not
  support global QoS, so ``worker_detect_quorum_queues`` makes Celery use per-consumer
  prefetch (https://www.rabbitmq.com/docs/quorum-queues#global-qos).
- Hard time limits per task type must stay below RabbitMQ's ``consumer_timeout``,
  or the broker closes the channel of a slow task and redelivers it
  (https://www.rabbitmq.com/docs/consumers#acknowledgement-timeout).
- A topic task exchange, so Celery's native delayed delivery (countdown/ETA on quorum
  queues) can route; our own retries go through the outbox (``domain.verdict``).
"""

from __future__ import annotations

import gc
import sys
from typing import Any, Literal

import billiard.pool  # type: ignore[import-untyped]
from celery import Celery, signals
from kombu import Exchange, Queue  # type: ignore[attr-defined]

from bookmarkai_ml.config import Settings
from bookmarkai_ml.contracts import TASKS, TaskType
from bookmarkai_ml.errors import ConfigurationError
from bookmarkai_ml.messaging import topology
from bookmarkai_ml.messaging.tls import celery_broker_options

#: How often a child at its task limit checks that the parent has its last result.
RECYCLE_POLL_S = 0.002

#: How long a new prefork child may take to say it is up. Celery's default is 4 s, but a
#: child loads its models before that (``workers.warmup``), and Whisper base alone takes
#: longer than 4 s on a busy CPU; past this the parent kills the child and starts another.
PROC_ALIVE_TIMEOUT_S = 120.0


#: The worker knobs a task may set for itself (``TaskSettings``, same name as ``WorkerSettings``).
Knob = Literal["prefetch_multiplier", "max_tasks_per_child"]


def time_limits(settings: Settings) -> dict[TaskType, int]:
    """Hard time limit (seconds) per task type (``settings.tasks[t].time_limit_s``).

    Raises:
        ConfigurationError: a limit would let one task outlive the consumer timeout.
    """
    timeout = settings.worker.consumer_timeout_s
    limits = {task: settings.tasks[task].time_limit_s for task in TASKS}
    for task, limit in limits.items():
        if limit >= timeout:
            raise ConfigurationError(
                f"{task.value} time limit {limit}s must stay below the broker's "
                f"consumer_timeout {timeout}s"
            )
    return limits


def per_queue(settings: Settings, queues: list[str] | None, knob: Knob) -> int:
    """``knob`` for a worker consuming ``queues``: each queue's task's own value
    (``settings.tasks[t].<knob>``, else ``settings.worker.<knob>``), the smallest when it
    consumes several. ``None`` (an app that is not a worker of given queues) gets the
    worker's value.

    Raises:
        UnknownTaskError: a queue that no task uses.
    """
    default: int = getattr(settings.worker, knob)
    own = (getattr(settings.tasks[TASKS.by_queue(q).type], knob) for q in queues or ())
    return min((value or default for value in own), default=default)


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
        row.celery_name: {
            "queue": row.queue,
            "exchange": topology.TASK_EXCHANGE,
            "routing_key": row.queue,
        }
        for row in TASKS.values()
    }
    return {
        **celery_broker_options(settings),
        "broker_transport_options": {"confirm_publish": True},
        "broker_connection_retry_on_startup": True,
        "task_queues": kombu_queues(settings),
        "task_routes": routes,
        "task_default_queue": TASKS[TaskType.SUMMARIZE].queue,
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
        "worker_proc_alive_timeout": PROC_ALIVE_TIMEOUT_S,
    }


def _freeze_parent_heap(**_: Any) -> None:
    # Celery runs a full gc.collect() in the parent before every fork (celery#2927);
    # with our imports that is ~0.3 s per recycled child. Frozen objects are skipped
    # by the collector and stay shared copy-on-write with the children, which is what
    # the docs advise for pre-fork servers: https://docs.python.org/3/library/gc.html#gc.freeze
    gc.freeze()


def warm_prefork_children() -> None:
    """Make starting a prefork child cheap; children are recycled every 50 tasks by default.

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
    """A configured Celery app with no tasks: enough to send tasks; a worker's entry point
    (``workers.app``) registers the tasks on it.

    Raises:
        ConfigurationError: a time limit would let one task outlive the consumer timeout.
    """
    time_limits(settings)  # refuse an unsafe configuration before anything connects
    app = Celery("bookmarkai_ml", set_as_current=False)
    app.conf.update(celery_config(settings, queues=queues))
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
