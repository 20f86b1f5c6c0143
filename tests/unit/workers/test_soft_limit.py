"""The threads/solo pools' soft time limit: an asynchronous exception in the task's thread."""

from __future__ import annotations

import threading
import time

import pytest
from celery.exceptions import SoftTimeLimitExceeded

from bookmarkai_ml.workers.softlimits import soft_limit_in_thread


def _spin(seconds: float) -> None:
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        time.sleep(0.01)


def test_a_run_past_the_soft_limit_is_interrupted() -> None:
    with pytest.raises(SoftTimeLimitExceeded), soft_limit_in_thread(0.05):
        _spin(30)


def test_a_run_within_the_limit_is_left_alone_afterwards() -> None:
    with soft_limit_in_thread(0.2):
        pass
    _spin(0.5)  # the timer was cancelled: nothing arrives later


def test_only_the_task_thread_is_interrupted() -> None:
    other_raised: list[BaseException] = []

    def bystander() -> None:
        try:
            _spin(0.3)
        except BaseException as exc:
            other_raised.append(exc)

    thread = threading.Thread(target=bystander)
    thread.start()
    with pytest.raises(SoftTimeLimitExceeded), soft_limit_in_thread(0.05):
        _spin(30)
    thread.join()
    assert other_raised == []
