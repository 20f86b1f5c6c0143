"""Prometheus metrics: the only module that imports ``prometheus_client``.

Metric objects exist for every name in ``observability.names``; code elsewhere never
touches them directly but reaches them through hooks:

- ``ProducerMetrics``: the producer's ``ProducerHooks`` and the relay's ``RelayHooks``;
- ``InstrumentedPublisher``: wraps any ``ports.Publisher`` (publishes by outcome, latency);
- ``WebhookMetrics``: the webhook deliverer's hooks (attempts, deliveries, disabled endpoints);
- ``connect_celery_signals``: task outcomes, durations, costs and queue lag from the
  ``task_prerun``/``task_postrun`` signals of the worker.

Prefork workers run tasks in child processes, so a worker sets
``PROMETHEUS_MULTIPROC_DIR`` (``enable_multiprocess``) before the metrics are first
built, and its HTTP endpoint aggregates every child
(https://prometheus.github.io/client_python/multiprocess/).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, multiprocess, values

from bookmarkai_ml.contracts import TASKS, TaskType
from bookmarkai_ml.domain.breaker import BreakerState
from bookmarkai_ml.domain.verdict import Disposition
from bookmarkai_ml.errors import BrokerUnavailableError, PublishRejectedError, UnknownTaskError
from bookmarkai_ml.messaging.topology import dlq_name
from bookmarkai_ml.observability import names
from bookmarkai_ml.ports import OutgoingMessage, Publisher

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_TASK_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1500)


def _gauge(name: str, doc: str, r: CollectorRegistry, labels: Sequence[str] = ()) -> Gauge:
    # livemax: in multiprocess mode, report the largest value among live processes.
    return Gauge(name, doc, labels, registry=r, multiprocess_mode="livemax")


class Metrics:
    """Every metric the platform exports (names from ``observability.names``)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = registry or prometheus_client.REGISTRY
        self.connection_state = _gauge(
            names.PRODUCER_CONNECTION_STATE, "0 down, 1 up, 2 blocked, 3 alert", r
        )
        self.publishes = Counter(
            names.PRODUCER_PUBLISHES, "Publishes by outcome", ["queue", "outcome"], registry=r
        )
        self.publish_latency = Histogram(
            names.PRODUCER_PUBLISH_LATENCY,
            "Publish-to-confirm latency",
            ["queue"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.breaker_state = _gauge(
            names.PRODUCER_BREAKER_STATE, "0 closed, 1 half-open, 2 open", r
        )
        self.confirm_timeouts = Counter(
            names.PRODUCER_CONFIRM_TIMEOUTS, "Confirms that timed out", registry=r
        )
        self.health_check_failures = Counter(
            names.PRODUCER_HEALTH_CHECK_FAILURES, "Failed health checks", registry=r
        )
        self.reconnects = Counter(names.PRODUCER_RECONNECTS, "Reconnects", registry=r)
        self.outbox_backlog = _gauge(names.OUTBOX_BACKLOG, "Unsent outbox rows", r)
        self.outbox_oldest_age = _gauge(names.OUTBOX_OLDEST_AGE, "Age of the oldest unsent row", r)
        self.tasks = Counter(
            names.TASKS, "Task deliveries by outcome", ["task", "outcome"], registry=r
        )
        self.task_duration = Histogram(
            names.TASK_DURATION, "Task run time", ["task"], buckets=_TASK_BUCKETS, registry=r
        )
        self.cost = Counter(names.COST, "Spend in USD", ["task", "provider", "model"], registry=r)
        self.queue_depth = _gauge(names.QUEUE_DEPTH, "Ready messages", r, ["queue"])
        self.queue_lag = Histogram(
            names.QUEUE_LAG, "Publish to task start", ["queue"], buckets=_TASK_BUCKETS, registry=r
        )
        self.audio_minutes = Counter(
            names.AUDIO_MINUTES, "Audio transcribed", ["provider"], registry=r
        )
        self.transcribe_chunks = Counter(names.TRANSCRIBE_CHUNKS, "Chunks transcribed", registry=r)
        self.embed_chunks = Counter(names.EMBED_CHUNKS, "Chunks embedded", ["model"], registry=r)
        self.tokens = Counter(names.TOKENS, "Tokens", ["task", "model", "direction"], registry=r)
        self.dead_letters = Counter(
            names.DEAD_LETTERS, "Dead letters archived", ["queue"], registry=r
        )
        self.budget_rejections = Counter(
            names.BUDGET_REJECTIONS, "Budget reservations refused", ["task"], registry=r
        )
        self.webhook_attempts = Counter(
            names.WEBHOOK_ATTEMPTS, "Webhook attempts by outcome", ["outcome"], registry=r
        )
        self.webhook_attempt_duration = Histogram(
            names.WEBHOOK_ATTEMPT_DURATION,
            "Webhook attempt time",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.webhook_deliveries = Counter(
            names.WEBHOOK_DELIVERIES, "Webhook deliveries ended", ["outcome"], registry=r
        )
        self.webhook_disabled = Counter(
            names.WEBHOOK_DISABLED, "Webhook endpoints disabled", registry=r
        )
        self.http_requests = Counter(
            names.HTTP_REQUESTS, "HTTP requests", ["route", "method", "status"], registry=r
        )
        self.http_latency = Histogram(
            names.HTTP_LATENCY, "HTTP latency", ["route", "method"], registry=r
        )


#: Every ``outcome`` of a publish (``InstrumentedPublisher``).
PUBLISH_OUTCOMES = ("confirmed", "rejected", "failed")
#: Every ``outcome`` of a delivery (``record_task``): a requeue raises, and is "requeued".
TASK_OUTCOMES = (*(d.value for d in Disposition if d is not Disposition.REQUEUE), "requeued")


def zero_worker_series(
    tasks: Iterable[TaskType], *, transcriber: str | None = None, m: Metrics | None = None
) -> None:
    """Export the labelled task series of a worker at 0 before their first event.

    A counter with labels has no series until ``labels()`` is first called, so a panel or
    alert on ``ml_budget_rejections_total`` shows "No data" (or never fires) until the
    first rejection; Prometheus advises initialising known label values
    (https://prometheus.io/docs/practices/instrumentation/#avoid-missing-metrics).
    ``transcriber``: the provider label of the audio minutes, for a transcribe worker.
    """
    m = m or metrics()
    for task in tasks:
        label = task.value
        for outcome in TASK_OUTCOMES:
            m.tasks.labels(task=label, outcome=outcome)
        m.budget_rejections.labels(task=label)
        m.task_duration.labels(task=label)
        m.queue_lag.labels(queue=TASKS[task].queue)
        if task is TaskType.TRANSCRIBE and transcriber:
            m.audio_minutes.labels(provider=transcriber)


def zero_relay_series(m: Metrics | None = None) -> None:
    """Export the relay's labelled series at 0: publishes by outcome and dead letters by DLQ."""
    m = m or metrics()
    for queue in TASKS.queues:
        for outcome in PUBLISH_OUTCOMES:
            m.publishes.labels(queue=queue, outcome=outcome)
        m.publish_latency.labels(queue=queue)
        m.dead_letters.labels(queue=dlq_name(queue))


@cache
def metrics() -> Metrics:
    """The process-wide metrics, built on first use (after any multiprocess set-up)."""
    return Metrics()


def enable_multiprocess(directory: Path) -> None:
    """Share metrics across prefork children; call before the first ``metrics()``."""
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]


def start_metrics_server(port: int, *, addr: str = "0.0.0.0") -> None:  # noqa: S104 - scraped
    """Serve ``/metrics`` on ``port`` (aggregating children in multiprocess mode)."""
    registry: CollectorRegistry | None = None
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    prometheus_client.start_http_server(
        port, addr=addr, registry=registry or prometheus_client.REGISTRY
    )


def exposition() -> tuple[bytes, str]:
    """The current metrics in text format, and its content type (for the API route)."""
    return prometheus_client.generate_latest(), prometheus_client.CONTENT_TYPE_LATEST


class ProducerMetrics:
    """``ProducerHooks`` and ``RelayHooks`` that record into ``metrics()``."""

    def __init__(self, m: Metrics | None = None) -> None:
        self._m = m or metrics()

    def connection_state(self, state: Any) -> None:
        self._m.connection_state.set(int(state))

    def breaker_state(self, state: BreakerState) -> None:
        self._m.breaker_state.set(int(state))

    def confirm_timeout(self) -> None:
        self._m.confirm_timeouts.inc()

    def health_check_failed(self) -> None:
        self._m.health_check_failures.inc()

    def reconnected(self) -> None:
        self._m.reconnects.inc()

    def backlog(self, rows: int, oldest_age_s: float) -> None:
        self._m.outbox_backlog.set(rows)
        self._m.outbox_oldest_age.set(oldest_age_s)

    def dead_letter(self, dlq: str) -> None:
        self._m.dead_letters.labels(queue=dlq).inc()

    def queue_depths(self, depths: dict[str, int]) -> None:
        for queue, depth in depths.items():
            self._m.queue_depth.labels(queue=queue).set(depth)


class WebhookMetrics:
    """The webhook deliverer's ``WebhookHooks``; its labelled series start at 0."""

    def __init__(self, m: Metrics | None = None) -> None:
        self._m = m or metrics()
        for outcome in ("success", "failure"):
            self._m.webhook_attempts.labels(outcome=outcome)
        for outcome in ("delivered", "failed"):
            self._m.webhook_deliveries.labels(outcome=outcome)

    def attempted(self, *, ok: bool, duration_s: float) -> None:
        self._m.webhook_attempts.labels(outcome="success" if ok else "failure").inc()
        self._m.webhook_attempt_duration.observe(duration_s)

    def finished(self, status: str) -> None:
        self._m.webhook_deliveries.labels(outcome=status).inc()

    def disabled(self) -> None:
        self._m.webhook_disabled.inc()


class InstrumentedPublisher:
    """A ``ports.Publisher`` that counts outcomes and times confirms of another one."""

    def __init__(self, inner: Publisher, m: Metrics | None = None) -> None:
        self._inner = inner
        self._m = m or metrics()

    async def publish(self, message: OutgoingMessage) -> None:
        queue = message.routing_key
        started = time.perf_counter()
        outcome = "confirmed"
        try:
            await self._inner.publish(message)
        except PublishRejectedError:
            outcome = "rejected"
            raise
        except BrokerUnavailableError:
            outcome = "failed"
            raise
        finally:
            self._m.publishes.labels(queue=queue, outcome=outcome).inc()
            if outcome == "confirmed":
                self._m.publish_latency.labels(queue=queue).observe(time.perf_counter() - started)


def _task_label(celery_name: str) -> str:
    """The task type of a Celery task name (``transcribe_media`` -> ``transcribe``)."""
    try:
        return TASKS.by_celery_name(celery_name).type.value
    except UnknownTaskError:  # not one of ours: label it by its own name
        return celery_name


def record_task(report: Any, task: str, duration_s: float, m: Metrics | None = None) -> None:
    """Record one finished delivery from the dict a task returns (or a rejection)."""
    m = m or metrics()
    outcome = report.get("outcome", "error") if isinstance(report, dict) else "requeued"
    m.tasks.labels(task=task, outcome=outcome).inc()
    m.task_duration.labels(task=task).observe(duration_s)
    if outcome == "budget_exceeded":
        m.budget_rejections.labels(task=task).inc()
    if isinstance(report, dict) and report.get("cost_usd") is not None:
        m.cost.labels(task=task, provider=report["provider"], model=report["model"]).inc(
            float(Decimal(report["cost_usd"]))
        )
        _record_volume(report, task, m)


def _record_volume(report: dict[str, Any], task: str, m: Metrics) -> None:
    """Audio minutes, chunks and tokens of a finished job."""
    model = report["model"]
    if report.get("audio_seconds"):
        m.audio_minutes.labels(provider=report["provider"]).inc(report["audio_seconds"] / 60)
    chunks = report.get("chunks")
    if chunks and task == "transcribe":
        m.transcribe_chunks.inc(chunks)
    elif chunks and task == "embed":
        m.embed_chunks.labels(model=model).inc(chunks)
    for direction in ("input", "output"):
        if report.get(f"{direction}_tokens"):
            m.tokens.labels(task=task, model=model, direction=direction).inc(
                report[f"{direction}_tokens"]
            )


def connect_celery_signals() -> None:
    """Hook the worker's task signals to the metrics (idempotent)."""
    from celery import signals

    started: dict[str, float] = {}

    def prerun(task_id: str | None = None, task: Any = None, **_: Any) -> None:
        started[str(task_id)] = time.perf_counter()
        published = getattr(getattr(task, "request", None), "published_at", None)
        queue = (getattr(task.request, "delivery_info", None) or {}).get("routing_key", "")
        if isinstance(published, int | float):
            metrics().queue_lag.labels(queue=queue).observe(max(0.0, time.time() - published))

    def postrun(task_id: str | None = None, task: Any = None, retval: Any = None, **_: Any) -> None:
        began = started.pop(str(task_id), None)
        duration = time.perf_counter() - began if began is not None else 0.0
        name = getattr(task, "name", "unknown")
        # Label by task type (summarize/transcribe/embed), as ml_costs and the alerts do.
        record_task(retval, _task_label(name), duration)

    signals.task_prerun.connect(prerun, weak=False, dispatch_uid="bookmarkai_ml_prerun")
    signals.task_postrun.connect(postrun, weak=False, dispatch_uid="bookmarkai_ml_postrun")
