"""The Celery configuration agrees with the topology and the broker's consumer timeout."""

from __future__ import annotations

from bookmarkai_ml.config import Settings, TaskSettings
from bookmarkai_ml.contracts import TASKS, TaskType
from bookmarkai_ml.messaging import topology
from bookmarkai_ml.messaging.celery_app import (
    celery_config,
    per_queue,
)
from support.settings import broker_settings


def test_celery_declares_exactly_the_topology_queue_arguments() -> None:
    settings = broker_settings()
    conf = celery_config(settings)
    by_name = {q.name: q for q in conf["task_queues"]}
    for spec in topology.task_queues(settings.broker):
        queue = by_name[spec.name]
        assert queue.queue_arguments == spec.arguments
        assert queue.exchange.name == topology.TASK_EXCHANGE
        assert queue.exchange.type == "topic"  # native delayed delivery needs it
        assert queue.routing_key == spec.routing_key
    assert spec.arguments["x-queue-type"] == "quorum"
    assert spec.arguments["x-dead-letter-strategy"] == "at-least-once"
    assert spec.arguments["x-overflow"] == "reject-publish"
    assert spec.arguments["x-delivery-limit"] == settings.broker.delivery_limit


def test_reliability_settings_and_seed_numbers() -> None:
    conf = celery_config(broker_settings())
    assert conf["task_acks_late"] is True
    assert conf["task_reject_on_worker_lost"] is True
    assert conf["broker_transport_options"]["confirm_publish"] is True
    assert conf["worker_prefetch_multiplier"] == 8
    assert conf["worker_max_tasks_per_child"] == 50
    assert conf["worker_detect_quorum_queues"] is True
    for row in TASKS.values():
        assert conf["task_routes"][row.celery_name]["queue"] == row.queue


def test_transcription_workers_prefetch_one() -> None:
    settings = broker_settings()
    prefetch = "prefetch_multiplier"
    assert per_queue(settings, ["ml.transcribe"], prefetch) == 1
    assert per_queue(settings, ["ml.summarize", "ml.embed"], prefetch) == 8
    assert per_queue(settings, ["ml.summarize", "ml.transcribe"], prefetch) == 1  # the smallest


def test_prefetch_and_recycling_are_set_per_queue() -> None:
    settings = broker_settings(
        {TaskType.EMBED: {"prefetch_multiplier": 32, "max_tasks_per_child": 500}}
    )
    embed = celery_config(settings, queues=["ml.embed"])
    assert (embed["worker_prefetch_multiplier"], embed["worker_max_tasks_per_child"]) == (32, 500)
    summarize = celery_config(settings, queues=["ml.summarize"])
    assert summarize["worker_prefetch_multiplier"] == 8
    assert summarize["worker_max_tasks_per_child"] == 50
    both = celery_config(settings, queues=["ml.embed", "ml.summarize"])
    assert (both["worker_prefetch_multiplier"], both["worker_max_tasks_per_child"]) == (8, 50)


def test_a_task_may_set_its_knobs_from_python() -> None:
    own = TaskSettings.defaults(TaskType.EMBED).model_copy(update={"prefetch_multiplier": 4})
    settings = Settings(tasks={TaskType.EMBED: own}, _env_file=None)  # type: ignore[call-arg]
    assert per_queue(settings, ["ml.embed"], "prefetch_multiplier") == 4
    assert settings.tasks[TaskType.TRANSCRIBE].prefetch_multiplier == 1  # others keep theirs
