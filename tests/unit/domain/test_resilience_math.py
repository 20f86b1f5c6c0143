"""Pure logic of the messaging core: backoff, circuit breaker, idempotency keys."""

from __future__ import annotations

import pytest

from bookmarkai_ml.config import BrokerSettings, OutboxSettings
from bookmarkai_ml.domain.backoff import Backoff
from bookmarkai_ml.domain.breaker import BreakerState, CircuitBreaker
from bookmarkai_ml.domain.idempotency import idempotency_key, input_hash


def test_reconnect_backoff_follows_the_seed_numbers() -> None:
    """The producer's reconnect schedule, built from the broker defaults as it builds it."""
    broker = BrokerSettings()
    seed = Backoff(
        initial=broker.reconnect_initial_s,
        maximum=broker.reconnect_max_s,
        jitter=broker.reconnect_jitter,
    )
    assert [seed.nominal(n) for n in range(1, 9)] == [0.5, 1, 2, 4, 8, 16, 32, 32]
    assert seed.delay(3, rand=lambda: 0.0) == pytest.approx(2 * 0.7)
    assert seed.delay(3, rand=lambda: 1.0) == pytest.approx(2 * 1.3)
    assert seed.delay(3, rand=lambda: 0.5) == pytest.approx(2.0)
    assert seed.nominal(0) == 0.0
    assert seed.nominal(10_000) == 32.0  # no overflow


def test_the_relays_message_retry_keeps_the_seeds_numbers() -> None:
    """The seed's message-level retry (1 s -> 10 s, 3 attempts) is the outbox relay's:
    its defaults, read the way the relay reads them, give that schedule."""
    outbox = OutboxSettings()
    retry = Backoff(initial=outbox.retry_initial_s, maximum=outbox.retry_max_s)
    assert [retry.delay(n) for n in (1, 2, 3, 4, 5)] == [1, 2, 4, 8, 10]
    assert outbox.max_permanent_attempts == 3


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_after_threshold_and_probes_after_cooldown() -> None:
    clock = Clock()
    breaker = CircuitBreaker(threshold=10, cooldown_s=30, clock=clock)
    for _ in range(9):
        breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow()
    assert breaker.retry_after_s() == 30
    clock.now = 30
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow()
    breaker.record_failure()  # the probe failed: open again, for a full cooldown
    assert breaker.state is BreakerState.OPEN
    clock.now = 60
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.consecutive_failures == 0


def test_breaker_rejects_a_zero_threshold() -> None:
    with pytest.raises(ValueError, match="threshold"):
        CircuitBreaker(threshold=0, cooldown_s=1)


def _key(**payload: object) -> str:
    return idempotency_key(tenant_id="t", share_id="s", task="summarize", payload=payload)


def test_idempotency_key_ignores_envelope_and_key_order() -> None:
    a = _key(content="hello", options={"style": "brief", "target_words": 120})
    b = _key(options={"target_words": 120, "style": "brief"}, content="hello", job_id="x")
    assert a == b
    assert len(a) == 64


def test_idempotency_key_changes_with_input_options_share_and_task() -> None:
    base = _key(content="hello", options={"style": "brief"})
    assert base != _key(content="hello!", options={"style": "brief"})
    assert base != _key(content="hello", options={"style": "bullets"})
    other_share = idempotency_key(
        tenant_id="t",
        share_id="s2",
        task="summarize",
        payload={"content": "hello", "options": {"style": "brief"}},
    )
    other_task = idempotency_key(
        tenant_id="t",
        share_id="s",
        task="embed",
        payload={"content": "hello", "options": {"style": "brief"}},
    )
    assert len({base, other_share, other_task}) == 3
    assert input_hash({"content": "x", "share_id": "a"}) == input_hash({"content": "x"})
