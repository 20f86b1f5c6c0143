"""Labelled series the dashboards and alerts read exist at 0 before their first event."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from bookmarkai_ml.contracts import TASKS, TaskType
from bookmarkai_ml.observability.prometheus import (
    Metrics,
    zero_relay_series,
    zero_worker_series,
)


def _exposition(registry: CollectorRegistry) -> str:
    return generate_latest(registry).decode()


def test_a_worker_exports_its_tasks_outcomes_and_rejections_at_zero() -> None:
    registry = CollectorRegistry()
    m = Metrics(registry)
    assert "ml_budget_rejections_total{" not in _exposition(registry)
    zero_worker_series([TaskType.TRANSCRIBE], transcriber="local", m=m)
    text = _exposition(registry)
    assert 'ml_budget_rejections_total{task="transcribe"} 0.0' in text
    assert 'ml_tasks_total{outcome="done",task="transcribe"} 0.0' in text
    assert 'ml_tasks_total{outcome="failed",task="transcribe"} 0.0' in text
    assert 'ml_transcription_audio_minutes_total{provider="local"} 0.0' in text
    assert 'ml_task_duration_seconds_count{task="transcribe"} 0.0' in text
    assert f'ml_queue_lag_seconds_count{{queue="{TASKS[TaskType.TRANSCRIBE].queue}"}} 0.0' in text
    assert 'task="summarize"' not in text  # only the worker's own tasks


def test_the_relay_exports_dead_letters_and_refusals_at_zero() -> None:
    registry = CollectorRegistry()
    m = Metrics(registry)
    zero_relay_series(m)
    text = _exposition(registry)
    for queue in TASKS.queues:
        assert f'ml_dead_letters_total{{queue="{queue}.dlq"}} 0.0' in text
        assert f'ml_producer_publishes_total{{outcome="rejected",queue="{queue}"}} 0.0' in text
        assert f'ml_producer_publish_latency_seconds_count{{queue="{queue}"}} 0.0' in text
