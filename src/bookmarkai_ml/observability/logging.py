"""Logging for every process: one root handler, plain lines or JSON lines, with context.

Each entry point (``api``, ``relay``, ``worker``, ``up``, ``process``) calls
:func:`configure_logging` once; Celery's own loggers are routed here by
:func:`connect_celery_logging` (a ``setup_logging`` receiver stops Celery from
configuring logging itself, in the worker and in every prefork child:
https://docs.celeryq.dev/en/stable/userguide/signals.html#setup-logging).

Every record gets, when known:

- ``trace_id`` / ``span_id`` from the current OpenTelemetry span, so a log line joins
  its trace; with no recording span, ``trace_id`` comes from the job's ``traceparent``;
- ``job_id`` / ``share_id`` / ``task`` from the job a worker is running
  (:func:`job_context`, set by the Celery ``task_prerun`` hook).

``telemetry.log_json`` writes one JSON object per line (python-json-logger, a maintained
formatter); plain, readable lines stay the default.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace
from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from bookmarkai_ml.config import TelemetrySettings

__all__ = [
    "CONTEXT_FIELDS",
    "ContextFilter",
    "JobLogContext",
    "configure_logging",
    "connect_celery_logging",
    "job_context",
]

#: The record attributes :class:`ContextFilter` may add, in the order plain lines show them.
CONTEXT_FIELDS = ("task", "job_id", "share_id", "trace_id", "span_id")

_PLAIN = "%(asctime)s %(levelname)s %(name)s [%(processName)s]: %(message)s"
_JSON_FIELDS = ("asctime", "levelname", "name", "processName", "process", "message")
_RENAME = {"asctime": "time", "levelname": "level", "name": "logger"}

#: Libraries that log every request or connection step at INFO; their warnings still show.
_CHATTY = ("httpx", "httpcore", "aiormq", "aio_pika", "urllib3", "botocore", "boto3", "pgserver")


@dataclass(frozen=True, slots=True)
class JobLogContext:
    """The job a worker thread is running, as the log lines should name it."""

    job_id: str | None = None
    share_id: str | None = None
    task: str | None = None
    traceparent: str | None = None


_JOB: ContextVar[JobLogContext | None] = ContextVar("bookmarkai_ml_job_log", default=None)


@contextmanager
def job_context(job: JobLogContext) -> Iterator[None]:
    """Name ``job`` on every log line of this thread/task until the block ends."""
    token = _JOB.set(job)
    try:
        yield
    finally:
        _JOB.reset(token)


def _trace_id_of(traceparent: str | None) -> str | None:
    """The trace id of a W3C ``traceparent`` (``00-<trace>-<span>-<flags>``), if well formed."""
    parts = (traceparent or "").split("-")
    if len(parts) == 4 and len(parts[1]) == 32 and parts[1] != "0" * 32:
        return parts[1]
    return None


class ContextFilter(logging.Filter):
    """Adds trace and job fields to a record (only those that are known)."""

    def filter(self, record: logging.LogRecord) -> bool:
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            record.trace_id = format(span.trace_id, "032x")
            record.span_id = format(span.span_id, "016x")
        job = _JOB.get()
        if job is not None:
            for name in ("job_id", "share_id", "task"):
                value = getattr(job, name)
                if value is not None and not hasattr(record, name):
                    setattr(record, name, value)
            if not span.is_valid and (trace_id := _trace_id_of(job.traceparent)):
                record.trace_id = trace_id
        return True


class PlainFormatter(logging.Formatter):
    """The readable default: the classic line plus ``[task=... job_id=...]`` when known."""

    def __init__(self) -> None:
        super().__init__(_PLAIN)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        known = [f"{k}={getattr(record, k)}" for k in CONTEXT_FIELDS if hasattr(record, k)]
        if not known:
            return line
        first, newline, rest = line.partition("\n")  # keep a traceback below the context
        return f"{first} [{' '.join(known)}]{newline}{rest}"


def _formatter(json_lines: bool) -> logging.Formatter:
    if not json_lines:
        return PlainFormatter()
    # exc_info and stack_info stay inside the object, so a traceback is one line too.
    # uvicorn adds a ``color_message`` copy with ANSI codes to some records: not for JSON.
    reserved = [*RESERVED_ATTRS, "color_message"]
    return JsonFormatter(list(_JSON_FIELDS), rename_fields=dict(_RENAME), reserved_attrs=reserved)


class _OurHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handler this module installed, so configuring again replaces it."""


def configure_logging(telemetry: TelemetrySettings, *, level: str | None = None) -> None:
    """Send every logger of this process to one stderr handler (idempotent).

    ``level`` overrides ``telemetry.log_level`` (the worker's ``--loglevel``). Python
    warnings become log records too, so that in JSON mode they are JSON lines.
    """
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _OurHandler)]:
        root.removeHandler(old)
    handler = _OurHandler(sys.stderr)
    handler.addFilter(ContextFilter())
    handler.setFormatter(_formatter(telemetry.log_json))
    root.addHandler(handler)
    root.setLevel((level or telemetry.log_level).upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        # uvicorn runs with log_config=None (cli/api.py): its records reach our handler.
        # A uvicorn started earlier in this process (log_level=..., its dictConfig) leaves
        # its own levels behind: reset them, so the root's level decides here too.
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
        logger.setLevel(logging.NOTSET)
        logger.disabled = False
    for name in _CHATTY:
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.captureWarnings(True)


def _job_of(task_name: str, kwargs: Mapping[str, Any] | None, traceparent: object) -> JobLogContext:
    from bookmarkai_ml.contracts import TASKS
    from bookmarkai_ml.errors import UnknownTaskError

    kwargs = kwargs or {}
    try:
        task = TASKS.by_celery_name(task_name).type.value
    except UnknownTaskError:
        task = task_name
    job_id, share_id = kwargs.get("job_id"), kwargs.get("share_id")
    return JobLogContext(
        job_id=None if job_id is None else str(job_id),
        share_id=None if share_id is None else str(share_id),
        task=task,
        traceparent=traceparent if isinstance(traceparent, str) else None,
    )


def connect_celery_logging(telemetry: TelemetrySettings, *, level: str | None = None) -> None:
    """Route Celery's logging here and name the running job on each line (idempotent).

    The ``setup_logging`` receiver runs in the worker and again in each prefork child;
    ``task_prerun``/``task_postrun`` run in the thread that runs the task, around it.
    """
    from celery import signals

    tokens: dict[str, Any] = {}

    def setup(**_: Any) -> None:
        configure_logging(telemetry, level=level)

    def prerun(task_id: str | None = None, task: Any = None, **kw: Any) -> None:
        request = getattr(task, "request", None)
        job = _job_of(
            getattr(task, "name", "unknown"),
            kw.get("kwargs"),
            getattr(request, "traceparent", None),
        )
        tokens[str(task_id)] = _JOB.set(job)

    def postrun(task_id: str | None = None, **_: Any) -> None:
        token = tokens.pop(str(task_id), None)
        if token is not None:
            _JOB.reset(token)

    signals.setup_logging.connect(setup, weak=False, dispatch_uid="bookmarkai_ml_logging")
    signals.task_prerun.connect(prerun, weak=False, dispatch_uid="bookmarkai_ml_log_prerun")
    signals.task_postrun.connect(postrun, weak=False, dispatch_uid="bookmarkai_ml_log_postrun")
