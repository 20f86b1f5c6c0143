"""Every metric name is exported, and the hooks record what the producer and tasks report."""

from __future__ import annotations

from decimal import Decimal

import pytest
from prometheus_client import CollectorRegistry

from bookmarkai_ml.domain.breaker import BreakerState
from bookmarkai_ml.errors import BrokerUnavailableError, PublishRejectedError
from bookmarkai_ml.fakes import FakePublisher
from bookmarkai_ml.messaging import protocol
from bookmarkai_ml.messaging.hooks import ConnectionState
from bookmarkai_ml.observability import names
from bookmarkai_ml.observability.prometheus import (
    InstrumentedPublisher,
    Metrics,
    ProducerMetrics,
    record_task,
)


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


def _value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def test_every_name_in_the_names_module_is_exported(registry: CollectorRegistry) -> None:
    Metrics(registry)
    exported = {metric.name for metric in registry.collect()}
    declared = {v for k, v in vars(names).items() if k.isupper() and isinstance(v, str)}
    assert declared <= exported


async def test_instrumented_publisher_counts_outcomes(registry: CollectorRegistry) -> None:
    fake = FakePublisher()
    publisher = InstrumentedPublisher(fake, Metrics(registry))
    message = protocol.encode(task_name="t", kwargs={}, routing_key="ml.embed")
    await publisher.publish(message)
    fake.fail_with_outage()
    with pytest.raises(BrokerUnavailableError):
        await publisher.publish(message)
    fake.fail_with_rejection()
    with pytest.raises(PublishRejectedError):
        await publisher.publish(message)
    total = names.PRODUCER_PUBLISHES + "_total"
    for outcome in ("confirmed", "failed", "rejected"):
        assert _value(registry, total, queue="ml.embed", outcome=outcome) == 1
    assert _value(registry, names.PRODUCER_PUBLISH_LATENCY + "_count", queue="ml.embed") == 1


def test_producer_hooks_set_gauges_and_counters(registry: CollectorRegistry) -> None:
    hooks = ProducerMetrics(Metrics(registry))
    hooks.connection_state(ConnectionState.BLOCKED)
    hooks.breaker_state(BreakerState.OPEN)
    hooks.confirm_timeout()
    hooks.health_check_failed()
    hooks.reconnected()
    hooks.backlog(7, 12.5)
    hooks.queue_depths({"ml.summarize": 3})
    hooks.dead_letter("ml.summarize.dlq")
    assert _value(registry, names.PRODUCER_CONNECTION_STATE) == 2
    assert _value(registry, names.PRODUCER_BREAKER_STATE) == 2
    assert _value(registry, names.PRODUCER_CONFIRM_TIMEOUTS + "_total") == 1
    assert _value(registry, names.PRODUCER_HEALTH_CHECK_FAILURES + "_total") == 1
    assert _value(registry, names.PRODUCER_RECONNECTS + "_total") == 1
    assert _value(registry, names.OUTBOX_BACKLOG) == 7
    assert _value(registry, names.OUTBOX_OLDEST_AGE) == 12.5
    assert _value(registry, names.QUEUE_DEPTH, queue="ml.summarize") == 3
    assert _value(registry, names.DEAD_LETTERS + "_total", queue="ml.summarize.dlq") == 1


def test_task_reports_become_outcomes_costs_and_budget_rejections(
    registry: CollectorRegistry,
) -> None:
    m = Metrics(registry)
    done = {"outcome": "done", "cost_usd": str(Decimal("0.25")), "provider": "p", "model": "x"}
    record_task(done, "summarize_content", 0.5, m)
    record_task({"outcome": "budget_exceeded", "cost_usd": None}, "transcribe_media", 0.1, m)
    record_task(RuntimeError("rejected"), "embed_content", 0.1, m)  # a Reject: requeued
    tasks = names.TASKS + "_total"
    assert _value(registry, tasks, task="summarize_content", outcome="done") == 1
    assert _value(registry, tasks, task="embed_content", outcome="requeued") == 1
    assert (
        _value(registry, names.COST + "_total", task="summarize_content", provider="p", model="x")
        == 0.25
    )
    assert _value(registry, names.BUDGET_REJECTIONS + "_total", task="transcribe_media") == 1


def test_finished_jobs_count_audio_minutes_chunks_and_tokens(registry: CollectorRegistry) -> None:
    m = Metrics(registry)
    base = {"outcome": "done", "cost_usd": "0", "input_tokens": 0, "output_tokens": 0}
    spoken = {**base, "provider": "local", "model": "tiny.en", "audio_seconds": 90.0, "chunks": 2}
    record_task(spoken, "transcribe", 1.0, m)
    record_task({**base, "provider": "local", "model": "mini", "chunks": 5}, "embed", 0.2, m)
    chat = {**base, "provider": "openai", "model": "gpt-4o-mini", "input_tokens": 1200}
    record_task({**chat, "output_tokens": 80}, "summarize", 0.3, m)
    assert _value(registry, names.AUDIO_MINUTES + "_total", provider="local") == 1.5
    assert _value(registry, names.TRANSCRIBE_CHUNKS + "_total") == 2
    assert _value(registry, names.EMBED_CHUNKS + "_total", model="mini") == 5
    tokens = names.TOKENS + "_total"
    chat_labels = {"task": "summarize", "model": "gpt-4o-mini"}
    assert _value(registry, tokens, **chat_labels, direction="input") == 1200
    assert _value(registry, tokens, **chat_labels, direction="output") == 80
