"""OpenTelemetry tracing: one provider per process, the instrumentations, W3C context in AMQP.

One enrich is one trace (docs/operations.md, "Tracing"):

- the API's SERVER span (``opentelemetry-instrumentation-fastapi``) and its SQL spans; the
  job row and its outbox row keep the request's ``traceparent``;
- the relay's PRODUCER span (:func:`producer_span`), parented by the ``traceparent`` the
  outbox row carries, not by the relay's loop, and injected into the message;
- the worker's CONSUMER span (``opentelemetry-instrumentation-celery``, which reads
  ``traceparent`` from the delivery), the handler's steps (:func:`traced`: download,
  ffmpeg, model inference) and its SQL spans (``opentelemetry-instrumentation-sqlalchemy``);
- the follow-up jobs, whose rows keep the same ``traceparent``.

The AMQP propagation is pinned to W3C Trace Context (https://www.w3.org/TR/trace-context/)
rather than read from ``OTEL_PROPAGATORS``, so that a Node.js producer and these workers
agree on the header names whatever the environment says.

Export follows the OpenTelemetry SDK environment variables
(https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/):
``OTEL_TRACES_EXPORTER``, ``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``..._TRACES_ENDPOINT``,
``OTEL_SERVICE_NAME``, ``OTEL_BSP_*``, ``OTEL_TRACES_SAMPLER``. Where one of them and a
``telemetry`` setting say different things, the environment variable wins.

Nothing connects or reads the environment at import time: :func:`configure_tracing`
builds the provider when an entry point asks for it.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter, Setter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.trace import Span, SpanKind, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from bookmarkai_ml.config import TelemetrySettings
from bookmarkai_ml.errors import ConfigurationError

__all__ = [
    "TRACEPARENT",
    "TRACESTATE",
    "configure_tracing",
    "consumer_span",
    "current_traceparent",
    "exporting",
    "extract",
    "get_tracer",
    "inject",
    "instrument_celery",
    "instrument_fastapi",
    "otlp_traces_url",
    "producer_span",
    "shutdown_tracing",
    "traced",
    "untraced",
]

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
_INSTRUMENTATION = "bookmarkai_ml"
_PROPAGATOR = TraceContextTextMapPropagator()
_ENDPOINT_VARS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")

AmqpHeaders = MutableMapping[str, object]
T = TypeVar("T")

#: This process's provider and the pid that built it: a forked child builds its own.
_process: tuple[int, TracerProvider] | None = None


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


def _exporter_names(telemetry: TelemetrySettings, env: Mapping[str, str]) -> list[str]:
    names = env.get("OTEL_TRACES_EXPORTER") or telemetry.traces_exporter
    if names is None:
        endpoint = telemetry.otlp_endpoint or any(env.get(name) for name in _ENDPOINT_VARS)
        names = "otlp" if endpoint else "none"
    return [n for n in (n.strip().lower() for n in names.split(",")) if n not in ("", "none")]


def exporting(telemetry: TelemetrySettings) -> bool:
    """Whether the settings or the ``OTEL_*`` variables name an exporter for this process."""
    return bool(_exporter_names(telemetry, os.environ))


def _exporters(telemetry: TelemetrySettings, env: Mapping[str, str]) -> list[SpanExporter]:
    """The exporters ``OTEL_TRACES_EXPORTER`` (else ``telemetry.traces_exporter``) names.

    With neither set, OTLP when an endpoint is configured anywhere, else none: spans are
    recorded (so code paths stay the same) but exported nowhere.

    Raises:
        ConfigurationError: an exporter this package does not ship.
    """
    env_endpoint = any(env.get(name) for name in _ENDPOINT_VARS)
    exporters: list[SpanExporter] = []
    for name in _exporter_names(telemetry, env):
        if name == "console":
            exporters.append(ConsoleSpanExporter())
        elif name == "otlp":
            # Imported here: the exporter pulls in requests/protobuf, which processes
            # without tracing should not pay for. Constructing it opens no connection.
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            # No endpoint argument when the environment names one: the exporter then
            # reads OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT itself, as the spec says.
            endpoint = None
            if not env_endpoint and telemetry.otlp_endpoint:
                endpoint = otlp_traces_url(telemetry.otlp_endpoint)
            exporters.append(OTLPSpanExporter(endpoint=endpoint))
        else:
            raise ConfigurationError(
                f"traces exporter {name!r} is not supported (otlp, console or none)"
            )
    return exporters


def _resource(telemetry: TelemetrySettings, component: str | None) -> Resource:
    # Resource.create reads OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME, but lets the
    # attributes passed here win; the spec wants the variable to win, so pass none then.
    attributes: dict[str, str] = {}
    if not os.environ.get("OTEL_SERVICE_NAME"):
        name = telemetry.service_name
        attributes[SERVICE_NAME] = f"{name}-{component}" if component else name
    if component:
        attributes["service.namespace"] = telemetry.service_name
    return Resource.create(attributes)


def configure_tracing(
    telemetry: TelemetrySettings,
    *,
    component: str | None = None,
    exporter: SpanExporter | None = None,
    set_global: bool = True,
) -> TracerProvider:
    """Build this process's tracer provider and, by default, install it with the instrumentations.

    ``component`` (``api``, ``relay``, ``worker``, ``cli``) is appended to the service
    name, so a trace shows which process each span comes from. ``exporter`` wins when
    given (tests pass an ``InMemorySpanExporter``; spans are exported synchronously);
    otherwise :func:`_exporters` decides, in batches (``OTEL_BSP_SCHEDULE_DELAY``...).

    With ``set_global`` the provider becomes the process's global one, and SQLAlchemy
    engines created from then on are traced. That happens once per process: a second
    call returns the first provider. A prefork child calls this after the fork
    (``workers.app``), as the OpenTelemetry docs for pre-forking servers require, since a
    batch processor's thread does not survive a fork.

    Raises:
        ConfigurationError: ``OTEL_TRACES_EXPORTER`` names an exporter we do not ship.
    """
    global _process
    if set_global and _process is not None and _process[0] == os.getpid():
        return _process[1]
    provider = TracerProvider(resource=_resource(telemetry, component))
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        for each in _exporters(telemetry, os.environ):
            provider.add_span_processor(BatchSpanProcessor(each))
    if set_global:
        trace.set_tracer_provider(provider)
        _instrument_sqlalchemy(provider)
        _process = (os.getpid(), provider)
    return provider


def shutdown_tracing() -> None:
    """Flush and stop this process's provider (a worker child calls it before it exits)."""
    global _process
    if _process is not None and _process[0] == os.getpid():
        _process[1].shutdown()
        _process = None


def _instrument_sqlalchemy(provider: TracerProvider) -> None:
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    instrumentor = SQLAlchemyInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        # Wraps sqlalchemy.create_engine: engines built from now on emit a span per
        # statement (db.engine calls it through the module for this reason); it wraps
        # create_async_engine too, hence sqlalchemy[asyncio] (greenlet). The package
        # declares SQLAlchemy < 2.1 and would silently do nothing on our 2.1; the engine
        # events it uses are unchanged in 2.1, and tests/integration/tracing checks the spans.
        instrumentor.instrument(tracer_provider=provider, skip_dep_check=True)


def instrument_celery(provider: TracerProvider | None = None) -> None:
    """Give every task a CONSUMER span continuing the delivery's ``traceparent``."""
    from opentelemetry.instrumentation.celery import CeleryInstrumentor

    instrumentor = CeleryInstrumentor()  # type: ignore[no-untyped-call]
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument(tracer_provider=provider)


def instrument_fastapi(app: Any, provider: TracerProvider | None = None) -> None:
    """A SERVER span per request, named ``METHOD /route/{template}``, continuing the caller."""
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    # No receive/send child spans: one span per request is what a trace reader wants.
    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=provider, exclude_spans=["receive", "send"]
    )


@contextmanager
def untraced() -> Iterator[None]:
    """Run a block without instrumentation spans: background polling, which would
    otherwise make a root trace of every statement."""
    from opentelemetry.instrumentation.utils import suppress_instrumentation

    with suppress_instrumentation():
        yield


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


def current_traceparent() -> str | None:
    """The ``traceparent`` of the current span, to store with a job; None outside a trace."""
    carrier: dict[str, object] = {}
    inject(carrier)
    value = carrier.get(TRACEPARENT)
    return value if isinstance(value, str) else None


def _messaging_attributes(destination: str | None, operation: str) -> dict[str, str]:
    # Messaging semantic conventions: https://opentelemetry.io/docs/specs/semconv/messaging/
    attributes = {
        "messaging.system": "rabbitmq",
        "messaging.operation.type": operation,
        "messaging.operation.name": operation,
    }
    if destination:
        attributes["messaging.destination.name"] = destination
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

    For consumers that Celery's instrumentation does not see (the broker-less local
    path). Exceptions are recorded on the span and re-raised.
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
    routing_key: str | None = None,
    message_id: str | None = None,
    tracer: Tracer | None = None,
) -> Iterator[Span]:
    """Run a publish in a PRODUCER span and inject it into ``headers``.

    The parent is the ``traceparent`` already in ``headers`` (the job's, kept by its
    outbox row) when there is one, else the current span. ``headers`` get the new
    span's ``traceparent`` before the block runs, so the block publishes them as
    they are and the consumer becomes the producer's child.
    """
    tracer = tracer or get_tracer()
    parent = extract(headers) if TRACEPARENT in headers else None
    attributes = _messaging_attributes(queue, "send")
    if routing_key is not None:
        attributes["messaging.rabbitmq.destination.routing_key"] = routing_key
    if message_id is not None:
        attributes["messaging.message.id"] = message_id
    with tracer.start_as_current_span(
        name, context=parent, kind=SpanKind.PRODUCER, attributes=attributes
    ) as span:
        inject(headers)
        yield span


def traced(target: T, step: str, methods: tuple[str, ...], **attributes: str) -> T:
    """``target`` with each of ``methods`` run in an INTERNAL span named ``step.method``.

    The composition root wraps the adapters a handler's steps go through (download,
    ffmpeg, model inference), so the services carry no tracing code. Other attributes
    pass through untouched.
    """
    return cast("T", _Traced(target, step, methods, attributes))


class _Traced:
    """The proxy :func:`traced` returns."""

    def __init__(
        self, target: object, step: str, methods: tuple[str, ...], attributes: dict[str, str]
    ) -> None:
        self._target = target
        self._step = step
        self._methods = methods
        self._attributes = attributes

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if name not in self._methods or not callable(value):
            return value
        return _spanned(value, f"{self._step}.{name}", self._attributes)

    @property  # type: ignore[misc]
    def __class__(self) -> type:  # isinstance() sees the adapter's class
        return type(self._target)

    def __repr__(self) -> str:
        return f"traced({self._target!r})"


def _spanned(fn: Callable[..., T], name: str, attributes: dict[str, str]) -> Callable[..., T]:
    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> T:
        with get_tracer().start_as_current_span(name, attributes=attributes):
            return fn(*args, **kwargs)

    return call
