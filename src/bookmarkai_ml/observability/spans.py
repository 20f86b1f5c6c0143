"""Spans and W3C trace context of our own: AMQP headers, the publish, the handler's steps.

The propagation in AMQP headers is pinned to W3C Trace Context
(https://www.w3.org/TR/trace-context/) rather than read from ``OTEL_PROPAGATORS``, so that a
Node.js producer and these workers agree on the header names whatever the environment says.
The producer calls :func:`producer_span` on the headers of every message it publishes; a
consumer that Celery's instrumentation does not see uses :func:`consumer_span`. The composition
root wraps the adapters of a handler's steps in :func:`traced`. ``observability.tracing``
configures the provider these spans go to (the global one).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any, TypeVar, cast

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter, Setter
from opentelemetry.trace import Span, SpanKind, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

__all__ = [
    "TRACEPARENT",
    "TRACESTATE",
    "consumer_span",
    "current_traceparent",
    "extract",
    "get_tracer",
    "inject",
    "producer_span",
    "traced",
    "untraced",
]

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
_INSTRUMENTATION = "bookmarkai_ml"
_PROPAGATOR = TraceContextTextMapPropagator()

AmqpHeaders = MutableMapping[str, object]
T = TypeVar("T")


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


@contextmanager
def untraced() -> Iterator[None]:
    """Run a block without instrumentation spans: background polling, which would
    otherwise make a root trace of every statement."""
    from opentelemetry.instrumentation.utils import suppress_instrumentation

    with suppress_instrumentation():
        yield


_tracer: tuple[trace.TracerProvider, Tracer] | None = None


def get_tracer(provider: trace.TracerProvider | None = None) -> Tracer:
    """Return this package's tracer from ``provider``, or from the global provider.

    The tracer is kept for as long as the provider stays the same: a provider builds a
    new tracer on every call, which cost the producer ~30 us a publish.
    """
    global _tracer
    provider = provider or trace.get_tracer_provider()
    cached = _tracer
    if cached is not None and cached[0] is provider:
        return cached[1]
    tracer = provider.get_tracer(_INSTRUMENTATION)
    _tracer = (provider, tracer)
    return tracer


def _configured_provider() -> trace.TracerProvider | None:
    """The process's tracer provider, or None while none is set: then every span is a
    no-op, and what a span would add to a message is its parent's ``traceparent``."""
    provider = trace.get_tracer_provider()
    if isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider):
        return None
    return provider


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
    if tracer is None:
        provider = _configured_provider()
        if provider is None:
            # The no-op path, ~70 us a publish cheaper: the headers get what a no-op span
            # would inject, the traceparent they carry or else the current one.
            if TRACEPARENT not in headers:
                inject(headers)
            yield trace.INVALID_SPAN
            return
        tracer = get_tracer(provider)
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
