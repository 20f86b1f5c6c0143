"""The worker's Celery app: tasks registered with time limits, prefork children warmed."""

from __future__ import annotations

import pytest

from bookmarkai_ml.contracts import TaskType
from bookmarkai_ml.errors import ConfigurationError
from bookmarkai_ml.messaging.celery_app import RECYCLE_POLL_S, make_celery_app
from bookmarkai_ml.workers.app import make_worker_app
from support.settings import broker_settings


def test_recycled_children_do_not_sleep_a_tenth_of_a_second() -> None:
    import billiard.pool

    make_worker_app(broker_settings(pool="prefork"))
    assert billiard.pool.GUARANTEE_MESSAGE_CONSUMPTION_RETRY_INTERVAL == RECYCLE_POLL_S
    # still waits as long as billiard's own 300 x 0.1 s for the parent to catch up
    limit = billiard.pool.GUARANTEE_MESSAGE_CONSUMPTION_RETRY_LIMIT
    assert limit * RECYCLE_POLL_S == pytest.approx(30)


def test_tasks_get_time_limits_below_the_consumer_timeout() -> None:
    app = make_worker_app(broker_settings())
    task = app.tasks["transcribe_media"]
    assert task.time_limit == 1500
    assert task.soft_time_limit == 1470
    assert task.acks_late
    assert task.reject_on_worker_lost
    with pytest.raises(ConfigurationError, match="consumer_timeout"):
        make_celery_app(
            broker_settings({TaskType.TRANSCRIBE: {"time_limit_s": 1800}}, consumer_timeout_s=1800)
        )
