"""``up``'s restart policy: doubling backoff, reset after a stable run, give up on a burst."""

from __future__ import annotations

from bookmarkai_ml.domain.backoff import Backoff
from bookmarkai_ml.domain.restarts import RestartPolicy


def test_delay_doubles_while_a_component_keeps_dying_and_is_capped() -> None:
    policy = RestartPolicy(backoff=Backoff(initial=1.0, maximum=8.0), quick_s=0.0)
    assert [policy.on_exit(ran_s=10) for _ in range(6)] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


def test_a_stable_run_resets_the_backoff() -> None:
    policy = RestartPolicy(stable_s=60.0, quick_s=0.0)
    assert policy.on_exit(ran_s=10) == 1.0
    assert policy.on_exit(ran_s=10) == 2.0
    assert policy.on_exit(ran_s=61) == 1.0


def test_gives_up_after_a_burst_of_deaths_right_after_start() -> None:
    policy = RestartPolicy(quick_s=5.0, burst=3)
    assert policy.on_exit(ran_s=1) is not None
    assert policy.on_exit(ran_s=1) is not None
    assert policy.on_exit(ran_s=1) is None


def test_a_run_past_the_quick_window_breaks_the_burst() -> None:
    policy = RestartPolicy(quick_s=5.0, burst=2)
    assert policy.on_exit(ran_s=1) is not None
    assert policy.on_exit(ran_s=30) is not None
    assert policy.on_exit(ran_s=1) is not None
