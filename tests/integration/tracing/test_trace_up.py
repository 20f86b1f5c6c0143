"""One enrich through ``bookmarkai-ml up`` is one trace, collected by a real OTLP/HTTP receiver.

``up`` runs the API (with the relay) and the three workers as separate processes, with the
exporter configured by the standard ``OTEL_*`` variables only. After the enrich of the
sample video (transcribe, then summarize and embed of the transcript) and a clean stop,
the receiver (``tests/support/otlp_receiver.py``) holds one trace that covers the HTTP
request, the relay's publishes, all three workers and the follow-up jobs, in which every
span's parent is in the trace, and each task has database spans and a model-inference span.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, text

from bookmarkai_ml.config import Settings
from bookmarkai_ml.contracts import TASKS
from bookmarkai_ml.db.engine import make_session_factory, transaction
from bookmarkai_ml.services import apikeys
from support import up
from support.otlp_receiver import OtlpReceiver, ReceivedSpan

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as running:
        yield running


def _enrich_through_up(
    tmp_path: Path,
    pg_url: str,
    amqp_url: str,
    engine: Engine,
    media: str,
    receiver: OtlpReceiver,
) -> tuple[list[dict[str, object]], str]:
    """Run ``up``, enrich the sample video, wait for all its jobs, stop ``up``; the jobs
    and ``up``'s log."""
    ports = up.stack_ports()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("OTEL_")},
        "BOOKMARKAI_ML_DATABASE_URL": pg_url,
        "BOOKMARKAI_ML_BROKER_URL": amqp_url,
        **up.stack_env(ports, tmp_path / "data", media),
        # Only the standard variables: no telemetry setting names an exporter.
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "200",  # ms: spans leave within the test's patience
    }
    settings = Settings(database_url=pg_url, _env_file=None)  # type: ignore[call-arg]
    with transaction(make_session_factory(engine)) as session:
        key = apikeys.create(session, tenant_id="t", name="trace", pepper=settings.secret_key).key
    log_path = tmp_path / "up.log"
    proc = up.start_up(env, log_path)
    try:
        jobs = _enrich(proc, ports["api"], key, media, log_path, engine)
    finally:
        up.stop_up(proc)
    return jobs, log_path.read_text()


def _enrich(
    proc: subprocess.Popen[bytes],
    port: int,
    key: str,
    media: str,
    log_path: Path,
    engine: Engine,
) -> list[dict[str, object]]:
    base = f"http://127.0.0.1:{port}"
    up.wait_ready(proc, base, log_path, 180)
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
        video = f"http://{media}/briefing.mp4"
        created = client.post(
            "/api/ml/jobs",
            json={"share_id": "traced-video", "task": "enrich", "input": {"media_url": video}},
        )
        assert created.status_code == 202, created.text
        deadline = time.monotonic() + 420
        while True:
            with engine.connect() as conn:
                rows = conn.execute(
                    text("SELECT task, status FROM ml_jobs WHERE share_id = 'traced-video'")
                ).all()
            items: list[dict[str, object]] = [{"task": t, "status": st} for t, st in rows]
            if len(items) == 3 and all(j["status"] in up.TERMINAL for j in items):
                return items
            assert proc.poll() is None, log_path.read_text()[-3000:]
            assert time.monotonic() < deadline, items
            time.sleep(1)


def _descendants(root: ReceivedSpan, spans: list[ReceivedSpan]) -> list[ReceivedSpan]:
    children: dict[str, list[ReceivedSpan]] = {}
    for span in spans:
        children.setdefault(span.parent_id, []).append(span)
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop().span_id, []):
            found.append(child)
            todo.append(child)
    return found


def _is_db(span: ReceivedSpan) -> bool:
    return "postgresql" in (span.attributes.get("db.system"), span.attributes.get("db.system.name"))


def test_one_enrich_is_one_trace_from_http_to_the_database(
    tmp_path: Path,
    pg_url: str,
    own_amqp_url: str,
    clean_db: Engine,
    media_server: str,
    receiver: OtlpReceiver,
) -> None:
    jobs, log = _enrich_through_up(tmp_path, pg_url, own_amqp_url, clean_db, media_server, receiver)
    # Every process exported without an error, the pool children's last batch included.
    assert "Traceback" not in log
    assert "export" not in log.lower(), [line for line in log.splitlines() if "xport" in line]
    assert {j["task"] for j in jobs} == {"transcribe", "summarize", "embed"}
    assert all(j["status"] == "done" for j in jobs), jobs

    spans = receiver.spans()
    (request,) = [s for s in spans if s.kind == "SERVER" and s.name == "POST /api/ml/jobs"]
    assert request.service == "bookmarkai-ml-api"
    trace = [s for s in spans if s.trace_id == request.trace_id]
    ids = {s.span_id for s in trace}
    assert len(ids) == len(trace)

    # Every span's parent is in the trace; the request is its only root.
    orphans = [s for s in trace if s.parent_id and s.parent_id not in ids]
    assert not orphans, orphans
    assert [s for s in trace if not s.parent_id] == [request]

    # The outbox insert is the request's (a SQL span under it, in the API process).
    for span in trace:  # shown when the test fails
        print(span.service, span.kind, span.name, span.span_id, span.parent_id, span.attributes)
    in_api = _descendants(request, trace)
    assert any(_is_db(s) and "ml_outbox" in str(s.attributes) for s in in_api)

    # The relay publishes each job, the follow-ups included, in a PRODUCER span.
    publishes = {
        s.attributes.get("messaging.rabbitmq.destination.routing_key"): s
        for s in trace
        if s.kind == "PRODUCER" and s.service == "bookmarkai-ml-api"
    }
    assert set(publishes) >= set(TASKS.queues), publishes.keys()
    for queue, publish in publishes.items():
        assert publish.attributes["messaging.system"] == "rabbitmq", queue

    # Each worker consumes in a CONSUMER span, child of the publish of its queue, with
    # database spans and a model-inference span beneath it.
    consumers = [s for s in trace if s.kind == "CONSUMER" and s.service == "bookmarkai-ml-worker"]
    assert len(consumers) == 3, [s.name for s in consumers]
    by_id = {s.span_id: s for s in trace}
    for task in ("transcribe", "summarize", "embed"):
        row = TASKS.spec(task)
        (consume,) = [s for s in consumers if s.name == f"run/{row.celery_name}"]
        assert by_id[consume.parent_id] is publishes[row.queue]
        below = _descendants(consume, trace)
        assert any(_is_db(s) for s in below), (task, [s.name for s in below])
        assert any(s.name == f"inference.{task}" for s in below), (task, [s.name for s in below])
    transcribe = next(
        s for s in consumers if s.name == f"run/{TASKS.spec('transcribe').celery_name}"
    )
    below_transcribe = _descendants(transcribe, trace)
    steps = {s.name for s in below_transcribe}
    assert {"download.fetch", "ffmpeg.probe", "ffmpeg.extract"} <= steps, steps
    # The follow-up jobs carry the trace on from the transcribe task that submitted them.
    assert publishes["ml.summarize"] in below_transcribe
    assert publishes["ml.embed"] in below_transcribe
