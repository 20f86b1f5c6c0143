"""``broker.time_scale``: one test-only factor on every reliability interval, nothing else."""

from __future__ import annotations

from typing import Any

import pytest

from bookmarkai_ml.config import Settings
from bookmarkai_ml.errors import ConfigurationError


def _settings(**kwargs: Any) -> Settings:
    return Settings(_env_file=None, **kwargs)  # type: ignore[call-arg]


def test_scale_one_is_the_settings_themselves() -> None:
    s = _settings()
    assert s.broker.time_scale == 1
    assert s.on_test_clock() is s


def test_every_interval_is_scaled_by_the_one_factor() -> None:
    s = _settings(environment="test", broker={"time_scale": 0.05})
    clocked = s.on_test_clock()
    pairs = [
        (s.broker.reconnect_initial_s, clocked.broker.reconnect_initial_s),
        (s.broker.reconnect_max_s, clocked.broker.reconnect_max_s),
        (s.broker.breaker_cooldown_s, clocked.broker.breaker_cooldown_s),
        (s.broker.health_check_interval_s, clocked.broker.health_check_interval_s),
        (s.outbox.retry_initial_s, clocked.outbox.retry_initial_s),
        (s.outbox.retry_max_s, clocked.outbox.retry_max_s),
        (s.outbox.drain_deadline_s, clocked.outbox.drain_deadline_s),
    ]
    for configured, applied in pairs:
        assert applied == pytest.approx(configured * 0.05)
    # Counts and fractions are not intervals: they stay the configured ones.
    assert clocked.broker.reconnect_max_attempts == s.broker.reconnect_max_attempts
    assert clocked.broker.reconnect_jitter == s.broker.reconnect_jitter
    assert clocked.broker.breaker_threshold == s.broker.breaker_threshold
    assert clocked.broker.confirm_timeout_s == s.broker.confirm_timeout_s
    assert clocked.broker.time_scale == 1  # applied once, never twice
    # The configured numbers themselves are untouched.
    assert (s.broker.reconnect_initial_s, s.broker.reconnect_max_s) == (0.5, 32.0)


@pytest.mark.parametrize("environment", ["development", "production"])
def test_refused_outside_tests(environment: str) -> None:
    with pytest.raises(ConfigurationError, match="time_scale"):
        _settings(environment=environment, secret_key="s" * 32, broker={"time_scale": 0.5})


@pytest.mark.parametrize("scale", [0, -1, 2])
def test_a_factor_outside_0_1_is_refused(scale: float) -> None:
    with pytest.raises(ValueError, match="time_scale"):
        _settings(environment="test", broker={"time_scale": scale})
