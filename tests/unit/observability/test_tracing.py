"""W3C trace context survives a trip through AMQP headers.

The propagation that docs/deployment.md, "Tracing (Jaeger)", describes.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Tracer

from bookmarkai_ml.config import TelemetrySettings
from bookmarkai_ml.errors import ConfigurationError
from bookmarkai_ml.observability import tracing


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    prov = tracing.configure_tracing(
        TelemetrySettings(service_name="test-svc"), exporter=exporter, set_global=False
    )
    yield prov
    prov.shutdown()


@pytest.fixture
def tracer(provider: TracerProvider) -> Tracer:
    return tracing.get_tracer(provider)


def _is_child(span: ReadableSpan, *, of: ReadableSpan) -> bool:
    return (
        span.parent is not None
        and of.context is not None
        and span.parent.span_id == of.context.span_id
    )


def test_trace_id_survives_inject_then_extract(tracer: Tracer) -> None:
    headers: dict[str, object] = {"x-other": 1}
    with tracer.start_as_current_span("api.submit") as parent:
        tracing.inject(headers)
    context = tracing.extract(headers)
    remote = trace.get_current_span(context).get_span_context()
    assert remote.is_remote
    assert remote.trace_id == parent.get_span_context().trace_id
    assert remote.span_id == parent.get_span_context().span_id
    assert isinstance(headers[tracing.TRACEPARENT], str)
    assert headers["x-other"] == 1


def test_consumer_span_continues_the_producer_trace(
    tracer: Tracer, exporter: InMemorySpanExporter
) -> None:
    headers: dict[str, object] = {}
    with (
        tracer.start_as_current_span("api.submit"),
        tracing.producer_span("ml.embed publish", headers, queue="ml.embed", tracer=tracer),
    ):
        pass
    # The worker runs later, in another process: no current span here.
    assert not trace.get_current_span().get_span_context().is_valid
    with (
        tracing.consumer_span("ml.embed process", headers, queue="ml.embed", tracer=tracer),
        tracer.start_as_current_span("db.write_result"),
    ):
        pass

    spans = {span.name: span for span in exporter.get_finished_spans()}
    api, pub = spans["api.submit"], spans["ml.embed publish"]
    con, db = spans["ml.embed process"], spans["db.write_result"]
    trace_ids = {s.context.trace_id for s in (api, pub, con, db) if s.context}
    assert len(trace_ids) == 1
    assert _is_child(pub, of=api)
    assert _is_child(con, of=pub)
    assert _is_child(db, of=con)
    assert con.kind is SpanKind.CONSUMER
    assert pub.kind is SpanKind.PRODUCER
    assert con.attributes is not None
    assert con.attributes["messaging.destination.name"] == "ml.embed"
    assert con.resource.attributes["service.name"] == "test-svc"


def test_tracestate_and_bytes_headers_are_read(tracer: Tracer) -> None:
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    headers: dict[str, object] = {
        "traceparent": traceparent.encode(),
        "tracestate": b"vendor=abc",
    }
    span_context = trace.get_current_span(tracing.extract(headers)).get_span_context()
    assert span_context.trace_id == 0x0AF7651916CD43DD8448EB211C80319C
    assert span_context.trace_state.get("vendor") == "abc"
    with tracing.consumer_span("c", headers, tracer=tracer):
        out: dict[str, object] = {}
        tracing.inject(out)
    assert out["tracestate"] == "vendor=abc"


def test_no_span_injects_nothing_and_garbage_extracts_empty() -> None:
    headers: dict[str, object] = {}
    tracing.inject(headers)
    assert headers == {}
    for bad in (None, {}, {"traceparent": "not-a-traceparent"}, {"traceparent": 42}):
        span_context = trace.get_current_span(tracing.extract(bad)).get_span_context()
        assert not span_context.is_valid


def test_consumer_span_records_and_reraises(tracer: Tracer, exporter: InMemorySpanExporter) -> None:
    with pytest.raises(RuntimeError), tracing.consumer_span("boom", {}, tracer=tracer):
        raise RuntimeError("task failed")
    (span,) = exporter.get_finished_spans()
    assert not span.status.is_ok
    assert any(event.name == "exception" for event in span.events)


def test_otlp_exporter_is_built_without_connecting() -> None:
    # An endpoint nobody listens on: building the provider must not touch it.
    prov = tracing.configure_tracing(
        TelemetrySettings(otlp_endpoint="http://127.0.0.1:9/"), set_global=False
    )
    processors = prov._active_span_processor._span_processors
    assert [type(p).__name__ for p in processors] == ["BatchSpanProcessor"]
    prov.shutdown()


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        ("http://jaeger:4318", "http://jaeger:4318/v1/traces"),
        ("http://jaeger:4318/", "http://jaeger:4318/v1/traces"),
        ("http://collector:4318/v1/traces", "http://collector:4318/v1/traces"),
    ],
)
def test_otlp_traces_url(endpoint: str, expected: str) -> None:
    assert tracing.otlp_traces_url(endpoint) == expected


def _exporters_of(prov: TracerProvider) -> list[object]:
    processors = prov._active_span_processor._span_processors
    return [getattr(p, "span_exporter", None) or p._batch_processor._exporter for p in processors]


def test_otel_variables_win_over_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = TelemetrySettings(otlp_endpoint="http://settings:4318", service_name="ours")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://env:4318")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "theirs")
    prov = tracing.configure_tracing(settings, component="api", set_global=False)
    (exporter,) = _exporters_of(prov)
    assert exporter._endpoint == "http://env:4318/v1/traces"  # type: ignore[attr-defined]
    assert prov.resource.attributes["service.name"] == "theirs"
    prov.shutdown()

    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    prov = tracing.configure_tracing(settings, set_global=False)
    assert _exporters_of(prov) == []
    assert not tracing.exporting(settings)
    prov.shutdown()


def test_settings_alone_configure_the_exporter(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_TRACES_EXPORTER", "OTEL_SERVICE_NAME"):
        monkeypatch.delenv(name, raising=False)
    settings = TelemetrySettings(otlp_endpoint="http://settings:4318", service_name="ours")
    assert tracing.exporting(settings)
    assert not tracing.exporting(TelemetrySettings())
    prov = tracing.configure_tracing(settings, component="worker", set_global=False)
    (exporter,) = _exporters_of(prov)
    assert exporter._endpoint == "http://settings:4318/v1/traces"  # type: ignore[attr-defined]
    assert prov.resource.attributes["service.name"] == "ours-worker"
    prov.shutdown()


def test_an_unknown_exporter_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "zipkin")
    with pytest.raises(ConfigurationError, match="zipkin"):
        tracing.configure_tracing(TelemetrySettings(), set_global=False)


def test_producer_span_is_parented_by_the_message_not_the_loop(
    tracer: Tracer, exporter: InMemorySpanExporter
) -> None:
    job = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    headers: dict[str, object] = {"traceparent": job}
    with (
        tracer.start_as_current_span("relay loop"),
        tracing.producer_span(
            "publish ml.embed", headers, queue="ml.tasks", routing_key="ml.embed", tracer=tracer
        ),
    ):
        pass
    pub = next(s for s in exporter.get_finished_spans() if s.name == "publish ml.embed")
    assert pub.kind is SpanKind.PRODUCER
    assert pub.parent is not None
    assert f"{pub.parent.span_id:016x}" == "b7ad6b7169203331"
    assert pub.context is not None
    assert headers["traceparent"] == f"00-{pub.context.trace_id:032x}-{pub.context.span_id:016x}-01"
    assert pub.attributes is not None
    assert pub.attributes["messaging.system"] == "rabbitmq"
    assert pub.attributes["messaging.rabbitmq.destination.routing_key"] == "ml.embed"


class _Model:
    size = 3

    def embed(self, texts: list[str]) -> int:
        return len(texts)

    def other(self) -> str:
        return "untraced"


def test_traced_runs_the_named_methods_in_spans(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    previous = trace._TRACER_PROVIDER
    trace._TRACER_PROVIDER = provider  # the proxy uses the global tracer, as in a process
    try:
        model = tracing.traced(_Model(), "inference", ("embed",))
        assert model.embed(["a", "b"]) == 2
        assert model.other() == "untraced"
        assert model.size == 3
    finally:
        trace._TRACER_PROVIDER = previous
    assert [s.name for s in exporter.get_finished_spans()] == ["inference.embed"]


@pytest.fixture
def as_global() -> Iterator[None]:
    """Let a test set the process's provider and put the previous one back."""
    previous = trace._TRACER_PROVIDER
    yield
    trace._TRACER_PROVIDER = previous


def test_the_tracer_follows_the_global_provider_when_it_changes(as_global: None) -> None:
    first, second = InMemorySpanExporter(), InMemorySpanExporter()
    for exporter in (first, second):
        trace._TRACER_PROVIDER = tracing.configure_tracing(
            TelemetrySettings(), exporter=exporter, set_global=False
        )
        assert tracing.get_tracer() is tracing.get_tracer()  # kept while the provider is
        with tracing.get_tracer().start_as_current_span("step"):
            pass
    assert [s.name for s in first.get_finished_spans()] == ["step"]
    assert [s.name for s in second.get_finished_spans()] == ["step"]


def test_a_publish_with_no_provider_carries_the_same_headers_as_a_no_op_span(
    as_global: None,
) -> None:
    trace._TRACER_PROVIDER = None  # no provider: what a process gets with tracing off
    job = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    headers: dict[str, object] = {tracing.TRACEPARENT: job, "id": "1"}
    with tracing.producer_span("publish ml.embed", headers, routing_key="ml.embed") as span:
        assert not span.is_recording()
    assert headers == {tracing.TRACEPARENT: job, "id": "1"}  # the job's own parent
    bare: dict[str, object] = {}
    with tracing.producer_span("publish ml.embed", bare):
        pass
    assert bare == {}  # outside any trace: no stale or zero trace id
    # inside a trace a remote parent made (a no-op provider still propagates it)
    with (
        trace.use_span(
            trace.NonRecordingSpan(
                trace.get_current_span(tracing.extract(headers)).get_span_context()
            )
        ),
        tracing.producer_span("publish ml.embed", bare),
    ):
        pass
    assert bare == {tracing.TRACEPARENT: job}


def test_a_publish_with_a_global_provider_records_its_producer_span(as_global: None) -> None:
    exporter = InMemorySpanExporter()
    trace._TRACER_PROVIDER = tracing.configure_tracing(
        TelemetrySettings(), exporter=exporter, set_global=False
    )
    headers: dict[str, object] = {}
    with tracing.producer_span("publish ml.embed", headers, routing_key="ml.embed"):
        pass
    (span,) = exporter.get_finished_spans()
    assert span.kind is SpanKind.PRODUCER
    assert span.context is not None
    ids = f"{span.context.trace_id:032x}-{span.context.span_id:016x}"
    assert str(headers[tracing.TRACEPARENT]).startswith(f"00-{ids}-")
