"""OpenTelemetry tracing: one provider per process, its exporters and the instrumentations.

One enrich is one trace (docs/operations.md, "Tracing"):

- the API's SERVER span (``opentelemetry-instrumentation-fastapi``) and its SQL spans; the
  job row and its outbox row keep the request's ``traceparent``;
- the relay's PRODUCER span (:func:`producer_span`), parented by the ``traceparent`` the
  outbox row carries, not by the relay's loop, and injected into the message;
- the worker's CONSUMER span (``opentelemetry-instrumentation-celery``, which reads
  ``traceparent`` from the delivery), the handler's steps (:func:`traced`: download,
  ffmpeg, model inference) and its SQL spans (``opentelemetry-instrumentation-sqlalchemy``);
- the follow-up jobs, whose rows keep the same ``traceparent``.

The spans of our own and the AMQP propagation live in ``observability.spans``.

Export follows the OpenTelemetry SDK environment variables
(https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/):
``OTEL_TRACES_EXPORTER``, ``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``..._TRACES_ENDPOINT``,
``OTEL_SERVICE_NAME``, ``OTEL_BSP_*``, ``OTEL_TRACES_SAMPLER``. Where one of them and a
``telemetry`` setting say different things, the environment variable wins.

Nothing connects or reads the environment at import time: :func:`configure_tracing`
builds the provider when an entry point asks for it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)

from bookmarkai_ml.config import TelemetrySettings
from bookmarkai_ml.errors import ConfigurationError

# Our own spans and the AMQP propagation, re-exported: callers import them from here.
from bookmarkai_ml.observability.spans import (
    TRACEPARENT,
    TRACESTATE,
    consumer_span,
    current_traceparent,
    extract,
    get_tracer,
    inject,
    producer_span,
    traced,
    untraced,
)

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

_ENDPOINT_VARS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")


#: This process's provider and the pid that built it: a forked child builds its own.
_process: tuple[int, TracerProvider] | None = None


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
