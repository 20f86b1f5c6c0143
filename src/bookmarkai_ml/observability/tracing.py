"""OpenTelemetry tracing: provider set-up and W3C trace context in AMQP headers.

Traces run API -> queue -> worker -> DB (docs/deployment.md, "Tracing (Jaeger)").  The
producer calls :func:`inject` (or :func:`producer_span`) on the headers of every message it
publishes; a worker wraps each delivery in :func:`consumer_span`, which continues
the trace from the message's ``traceparent``.  The propagator is pinned to W3C
Trace Context (https://www.w3.org/TR/trace-context/) rather than read from
``OTEL_PROPAGATORS``, so that a Node.js producer and these workers agree on the
header names whatever the environment says.

Nothing connects or reads the environment at import time: :func:`configure_tracing`
builds the provider from ``settings.telemetry`` when an entry point asks for it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from urllib.parse import urlsplit

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter, Setter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.trace import Span, SpanKind, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from bookmarkai_ml.config import TelemetrySettings

__all__ = [
    "TRACEPARENT",
    "TRACESTATE",
    "configure_tracing",
    "consumer_span",
    "extract",
    "get_tracer",
    "inject",
    "otlp_traces_url",
    "producer_span",
]

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
_INSTRUMENTATION = "bookmarkai_ml"
_PROPAGATOR = TraceContextTextMapPropagator()

AmqpHeaders = MutableMapping[str, object]


class _HeaderSetter(Setter[AmqpHeaders]):
    """Writes a propagation field as a plain AMQP long string."""

    def set(self, carrier: AmqpHeaders, key: str, value: str) -> None:
        carrier[key] = value


class _HeaderGetter(Getter[Mapping[str, object]]):
    """Reads a propagation field; AMQP clients may hand long strings back as bytes."""

    def get(self, carrier: Mapping[str, object], key: str) -> list[str] | None:
        value = carrier.get(key)
        if isinstance(value, bytes | bytearray):
            return [bytes(value).decode("utf-8", errors="replace")]
        if isinstance(value, str):
            return [value]
        return None

    def keys(self, carrier: Mapping[str, object]) -> list[str]:
        return list(carrier.keys())


_SETTER = _HeaderSetter()
_GETTER = _HeaderGetter()


def otlp_traces_url(endpoint: str) -> str:
    """Return the OTLP/HTTP traces URL; a bare ``http://jaeger:4318`` gets ``/v1/traces``."""
    if urlsplit(endpoint).path in ("", "/"):
        return endpoint.rstrip("/") + "/v1/traces"
    return endpoint


def configure_tracing(
    telemetry: TelemetrySettings,
    *,
    exporter: SpanExporter | None = None,
    set_global: bool = True,
) -> TracerProvider:
    """Build the tracer provider for this process and (by default) install it globally.

    ``exporter`` wins when given (tests pass an ``InMemorySpanExporter``; spans are
    exported synchronously).  Otherwise spans go to OTLP/HTTP in batches when
    ``telemetry.otlp_endpoint`` is set, and are recorded but exported nowhere when
    it is not, so code paths stay the same with tracing off.  The caller owns the
    returned provider and calls ``shutdown()`` on exit to flush the batch.
    """
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: telemetry.service_name}))
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    elif telemetry.otlp_endpoint:
        # Imported here: the exporter pulls in requests/protobuf, which processes
        # without tracing should not pay for.  Constructing it opens no connection.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        otlp = OTLPSpanExporter(endpoint=otlp_traces_url(telemetry.otlp_endpoint))
        provider.add_span_processor(BatchSpanProcessor(otlp))
    if set_global:
        trace.set_tracer_provider(provider)
    return provider


def get_tracer(provider: trace.TracerProvider | None = None) -> Tracer:
    """Return this package's tracer from ``provider``, or from the global provider."""
    if provider is not None:
        return provider.get_tracer(_INSTRUMENTATION)
    return trace.get_tracer(_INSTRUMENTATION)


def inject(headers: AmqpHeaders, context: Context | None = None) -> None:
    """Write ``traceparent`` (and ``tracestate``) of the current span into AMQP headers.

    Does nothing when there is no valid span: a message published outside any
    trace carries no stale or zero trace id.
    """
    _PROPAGATOR.inject(headers, context=context, setter=_SETTER)


def extract(headers: Mapping[str, object] | None) -> Context:
    """Return a context whose parent is the span named by the headers' ``traceparent``.

    Missing or malformed headers give an empty context, so the consumer starts a
    new trace rather than failing the delivery.
    """
    return _PROPAGATOR.extract(headers or {}, context=Context(), getter=_GETTER)


def _messaging_attributes(queue: str | None, operation: str) -> dict[str, str]:
    # OpenTelemetry messaging semantic conventions (messaging.*).
    attributes = {"messaging.system": "rabbitmq", "messaging.operation.type": operation}
    if queue:
        attributes["messaging.destination.name"] = queue
    return attributes


@contextmanager
def consumer_span(
    name: str,
    headers: Mapping[str, object] | None,
    *,
    queue: str | None = None,
    tracer: Tracer | None = None,
) -> Iterator[Span]:
    """Run a block in a CONSUMER span that continues the trace carried by ``headers``.

    The span is current inside the block, so database and HTTP spans started
    there are its children.  Exceptions are recorded on the span and re-raised.
    """
    tracer = tracer or get_tracer()
    with tracer.start_as_current_span(
        name,
        context=extract(headers),
        kind=SpanKind.CONSUMER,
        attributes=_messaging_attributes(queue, "process"),
    ) as span:
        yield span


@contextmanager
def producer_span(
    name: str,
    headers: AmqpHeaders,
    *,
    queue: str | None = None,
    tracer: Tracer | None = None,
) -> Iterator[Span]:
    """Run a publish in a PRODUCER span (child of the current one) and inject it.

    ``headers`` receive the new span's ``traceparent`` before the block runs, so
    the block publishes them as they are.
    """
    tracer = tracer or get_tracer()
    with tracer.start_as_current_span(
        name, kind=SpanKind.PRODUCER, attributes=_messaging_attributes(queue, "publish")
    ) as span:
        inject(headers)
        yield span
