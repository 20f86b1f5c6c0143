"""The broker topology as data: exchanges, quorum task queues, dead-letter queues.

Both the aio-pika broker admin (``BrokerAdmin.declare_topology``) and the Celery app
(``celery_app``) declare from these specs, so their arguments can never drift: a
queue re-declared with different arguments fails with PRECONDITION_FAILED.

Why each argument (https://www.rabbitmq.com/docs/quorum-queues):

- ``x-queue-type=quorum``: replicated, durable queues (design default), safe across
  broker restarts.
- ``x-delivery-limit``: a message returned (nack/requeue, consumer crash) more often
  than this is dead-lettered instead of looping forever (poison messages).
- ``x-dead-letter-strategy=at-least-once`` with ``x-overflow=reject-publish``:
  dead-lettering is confirmed by the target queue, so a dead letter is never lost
  (https://www.rabbitmq.com/docs/quorum-queues#dead-lettering); RabbitMQ requires
  reject-publish overflow for this strategy.
- The task exchange is a *topic* exchange: Celery's native delayed delivery (its only
  countdown/ETA mechanism on quorum queues) cannot route through direct exchanges
  (https://docs.celeryq.dev/en/stable/getting-started/backends-and-brokers/rabbitmq.html#using-quorum-queues).
- The events exchange ``ml.events`` is a durable *topic* exchange with no queue of ours:
  completion events (routing key ``job.<task>.<status>``) go to whatever queues consumers
  bind to it themselves (docs/messages.md, "Completion events").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bookmarkai_ml.config import BrokerSettings
from bookmarkai_ml.contracts import TASKS

TASK_EXCHANGE = "ml.tasks"
DEAD_LETTER_EXCHANGE = "ml.dlx"
EVENTS_EXCHANGE = "ml.events"
DLQ_SUFFIX = ".dlq"


@dataclass(frozen=True, slots=True)
class ExchangeSpec:
    name: str
    type: str


@dataclass(frozen=True, slots=True)
class QueueSpec:
    """One durable queue, bound to ``exchange`` with ``routing_key``."""

    name: str
    exchange: str
    routing_key: str
    arguments: dict[str, Any] = field(default_factory=dict)


EXCHANGES = (
    ExchangeSpec(TASK_EXCHANGE, "topic"),
    ExchangeSpec(DEAD_LETTER_EXCHANGE, "direct"),
    ExchangeSpec(EVENTS_EXCHANGE, "topic"),
)


def dlq_name(queue: str) -> str:
    return queue + DLQ_SUFFIX


def task_queue_arguments(queue: str, broker: BrokerSettings) -> dict[str, Any]:
    """Arguments of a task queue; Celery and aio-pika must declare exactly these."""
    return {
        "x-queue-type": "quorum",
        "x-delivery-limit": broker.delivery_limit,
        "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
        "x-dead-letter-routing-key": queue,
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }


def task_queues(broker: BrokerSettings) -> list[QueueSpec]:
    """The task queues (names from the original design), in task-table order."""
    return [QueueSpec(q, TASK_EXCHANGE, q, task_queue_arguments(q, broker)) for q in TASKS.queues]


def dead_letter_queues() -> list[QueueSpec]:
    """One quorum DLQ per task queue; it keeps messages until an operator acts."""
    return [
        QueueSpec(dlq_name(q), DEAD_LETTER_EXCHANGE, q, {"x-queue-type": "quorum"})
        for q in TASKS.queues
    ]


def all_queues(broker: BrokerSettings) -> list[QueueSpec]:
    return [*task_queues(broker), *dead_letter_queues()]
