"""observability.logging: plain or JSON lines, with the trace and the job they belong to."""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider

from bookmarkai_ml.config import TelemetrySettings
from bookmarkai_ml.observability.logging import JobLogContext, configure_logging, job_context

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE}-00f067aa0ba902b7-01"
JOB = JobLogContext(job_id="j-1", share_id="s-1", task="summarize", traceparent=TRACEPARENT)


@pytest.fixture(autouse=True)
def _restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(False)


def _lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line]


def test_json_lines_carry_the_job_and_its_trace(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(TelemetrySettings(log_json=True))
    log = logging.getLogger("test.worker")
    with job_context(JOB):
        log.info("summarized %d units", 3)
    log.info("after the job")
    inside, after = (json.loads(line) for line in _lines(capsys))
    assert inside["message"] == "summarized 3 units"
    assert inside["level"] == "INFO"
    assert inside["logger"] == "test.worker"
    assert (inside["job_id"], inside["share_id"], inside["task"]) == ("j-1", "s-1", "summarize")
    assert inside["trace_id"] == TRACE  # from the job's traceparent: no span is recording
    assert "span_id" not in inside
    assert not {"job_id", "trace_id"} & set(after)


def test_a_recording_span_wins_over_the_traceparent(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(TelemetrySettings(log_json=True))
    tracer = TracerProvider().get_tracer("test")
    with job_context(JOB), tracer.start_as_current_span("handler") as span:
        logging.getLogger("test").warning("inside a span")
    line = json.loads(_lines(capsys)[0])
    context = span.get_span_context()
    assert line["trace_id"] == format(context.trace_id, "032x")
    assert line["span_id"] == format(context.span_id, "016x")
    assert line["job_id"] == "j-1"


def test_a_traceback_stays_inside_one_json_line(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(TelemetrySettings(log_json=True))
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("test").exception("failed")
    (line,) = _lines(capsys)
    record = json.loads(line)
    assert record["level"] == "ERROR"
    assert "ValueError: boom" in record["exc_info"]


def test_warnings_become_json_lines(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(TelemetrySettings(log_json=True))
    warnings.showwarning(UserWarning("careful"), UserWarning, "lib.py", 7)
    (line,) = _lines(capsys)
    record = json.loads(line)
    assert (record["level"], record["logger"]) == ("WARNING", "py.warnings")
    assert "UserWarning: careful" in record["message"]


def test_plain_lines_are_the_default_and_name_the_job(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(TelemetrySettings())
    log = logging.getLogger("test.plain")
    log.info("outside")
    with job_context(JOB):
        log.info("inside")
    outside, inside = _lines(capsys)
    assert outside.endswith("INFO test.plain [MainProcess]: outside")
    assert inside.endswith(f"inside [task=summarize job_id=j-1 share_id=s-1 trace_id={TRACE}]")
    with pytest.raises(json.JSONDecodeError):
        json.loads(outside)


def test_configuring_again_replaces_the_handler(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(TelemetrySettings())
    configure_logging(TelemetrySettings(log_json=True, log_level="WARNING"))
    log = logging.getLogger("test.again")
    log.info("hidden")
    log.warning("shown")
    (line,) = _lines(capsys)
    assert json.loads(line)["message"] == "shown"


def test_uvicorns_colour_copy_is_left_out(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(TelemetrySettings(log_json=True))
    logging.getLogger("uvicorn.error").info("started", extra={"color_message": "\x1b[36mstarted"})
    (line,) = _lines(capsys)
    assert json.loads(line) == {**json.loads(line), "message": "started"}
    assert "color_message" not in json.loads(line)


def test_levels_a_uvicorn_left_behind_do_not_silence_its_records(
    capsys: pytest.CaptureFixture[str],
) -> None:
    uvicorn_error = logging.getLogger("uvicorn.error")
    uvicorn_error.setLevel(logging.WARNING)  # what uvicorn.Config(log_level="warning") leaves
    try:
        configure_logging(TelemetrySettings(log_json=True))
        uvicorn_error.info("started")
        (line,) = _lines(capsys)
        assert json.loads(line)["message"] == "started"
    finally:
        uvicorn_error.setLevel(logging.NOTSET)
