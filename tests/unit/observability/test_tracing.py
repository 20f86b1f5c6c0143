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
