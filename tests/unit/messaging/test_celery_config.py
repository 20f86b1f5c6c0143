"""The Celery configuration agrees with the topology and the broker's consumer timeout."""

from __future__ import annotations

import pytest

from bookmarkai_ml.config import Settings, WorkerSettings
from bookmarkai_ml.contracts import QUEUES, TASK_NAMES, TaskType
from bookmarkai_ml.errors import ConfigurationError
from bookmarkai_ml.messaging import topology
from bookmarkai_ml.messaging.celery_app import (
    RECYCLE_POLL_S,
    celery_config,
    make_celery_app,
    per_queue,
)


def _settings(**worker: object) -> Settings:
    return Settings(
        broker_url="amqp://guest:guest@127.0.0.1:5672/x",
        environment="test",
        worker=WorkerSettings(**worker),  # type: ignore[arg-type]
        _env_file=None,  # type: ignore[call-arg]
    )


def test_celery_declares_exactly_the_topology_queue_arguments() -> None:
    settings = _settings()
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
    conf = celery_config(_settings())
    assert conf["task_acks_late"] is True
    assert conf["task_reject_on_worker_lost"] is True
    assert conf["broker_transport_options"]["confirm_publish"] is True
    assert conf["worker_prefetch_multiplier"] == 8
    assert conf["worker_max_tasks_per_child"] == 50
    assert conf["worker_detect_quorum_queues"] is True
    for task in TaskType:
        assert conf["task_routes"][TASK_NAMES[task]]["queue"] == QUEUES[task]


def test_transcription_workers_prefetch_one() -> None:
    settings = _settings()
    prefetch = "prefetch_multiplier"
    assert per_queue(settings, ["ml.transcribe"], prefetch) == 1
    assert per_queue(settings, ["ml.summarize", "ml.embed"], prefetch) == 8
    assert per_queue(settings, ["ml.summarize", "ml.transcribe"], prefetch) == 1  # the smallest


def test_prefetch_and_recycling_are_set_per_queue() -> None:
    settings = _settings(embed_prefetch_multiplier=32, embed_max_tasks_per_child=500)
    embed = celery_config(settings, queues=["ml.embed"])
    assert (embed["worker_prefetch_multiplier"], embed["worker_max_tasks_per_child"]) == (32, 500)
    summarize = celery_config(settings, queues=["ml.summarize"])
    assert summarize["worker_prefetch_multiplier"] == 8
    assert summarize["worker_max_tasks_per_child"] == 50
    both = celery_config(settings, queues=["ml.embed", "ml.summarize"])
    assert (both["worker_prefetch_multiplier"], both["worker_max_tasks_per_child"]) == (8, 50)


def test_recycled_children_do_not_sleep_a_tenth_of_a_second() -> None:
    import billiard.pool

    make_celery_app(_settings(pool="prefork"))
    assert billiard.pool.GUARANTEE_MESSAGE_CONSUMPTION_RETRY_INTERVAL == RECYCLE_POLL_S
    # still waits as long as billiard's own 300 x 0.1 s for the parent to catch up
    limit = billiard.pool.GUARANTEE_MESSAGE_CONSUMPTION_RETRY_LIMIT
    assert limit * RECYCLE_POLL_S == pytest.approx(30)


def test_tasks_get_time_limits_below_the_consumer_timeout() -> None:
    app = make_celery_app(_settings())
    task = app.tasks["transcribe_media"]
    assert task.time_limit == 1500
    assert task.soft_time_limit == 1470
    assert task.acks_late
    assert task.reject_on_worker_lost
    with pytest.raises(ConfigurationError, match="consumer_timeout"):
        make_celery_app(_settings(transcribe_time_limit_s=1800, consumer_timeout_s=1800))
