"""A first ``up`` on a fresh vhost and data directory: JSON logs, no warnings, every series.

One run serves every test here: ``bookmarkai-ml up`` with ``telemetry.log_json=true`` on a
new RabbitMQ vhost and a new data directory (so a new embedded Postgres), an ``enrich`` of
the sample article and one of the sample video over HTTP, spans exported to a real OTLP/HTTP
receiver, and a real Prometheus (the Debian package) scraping the API and the three workers
meanwhile. Everything started here is stopped at the end: Prometheus, ``up`` and its
children, the embedded Postgres, the receiver and the vhost.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import Engine, text

from bookmarkai_ml.db.embedded import stop_embedded
from bookmarkai_ml.db.engine import make_engine
from support import up
from support.otlp_receiver import OtlpReceiver

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
ARTICLE = (up.SAMPLES / "article.txt").read_text()
_NAME = re.compile(r"(?<![A-Za-z0-9_:])ml_[a-z_]+")
#: Printed by Celery on SIGTERM (celery/apps/worker.py, ``safe_say``), not logged.
CELERY_SHUTDOWN_PRINT = "worker: Warm shutdown (MainProcess)"
#: Celery warns when a worker runs as root; only this sandbox does (the images run as a user).
ROOT_WARNING = "SecurityWarning: You're running the worker with superuser privileges"


def _queried_names() -> set[str]:
    """Every metric name the Grafana dashboards and the alert rules query."""
    return {name for expr in _queried_exprs() for name in _NAME.findall(expr)}


@dataclass
class Run:
    log: list[str] = field(default_factory=list)
    jobs: dict[str, str | None] = field(default_factory=dict)  # job id -> its row's trace id
    series: set[str] = field(default_factory=set)
    evaluated: dict[str, str] = field(default_factory=dict)  # expression -> error, if any
    spans: set[tuple[str, str]] = field(default_factory=set)  # (trace id, span id) exported
    untouched: dict[str, float] = field(default_factory=dict)  # rejections, dead letters


def _prometheus(workdir: Path, targets: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("prometheus")
    if binary is None:
        reason = "prometheus is not installed (apt-get install -y prometheus)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [
            {
                "job_name": "api",
                "metrics_path": "/api/ml/metrics/prometheus",
                "static_configs": [{"targets": [targets["api"]]}],
            },
            {
                "job_name": "workers",
                "static_configs": [{"targets": [v for k, v in targets.items() if k != "api"]}],
            },
        ],
    }
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
    address = f"127.0.0.1:{up.free_port()}"
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'tsdb'}",
            f"--web.listen-address={address}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(workdir / "prometheus.log").open("wb"),
    )
    return proc, f"http://{address}"


def _query(prom: str, expr: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{prom}/api/v1/query", params={"query": expr}, timeout=10).json()
    assert answer["status"] == "success", (expr, answer)
    return list(answer["data"]["result"])


def _wait(what: str, ready: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        assert time.monotonic() < deadline, what
        time.sleep(0.5)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def _queried_exprs() -> list[str]:
    """Every dashboard and alert expression, with Grafana's interval macros filled in."""
    exprs: list[str] = []
    for path in sorted((DEPLOY / "grafana" / "dashboards").glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            for inner in [panel, *panel.get("panels", [])]:
                exprs += [t["expr"] for t in inner.get("targets", [])]
    alerts = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    exprs += [r["expr"] for g in alerts["groups"] for r in g["rules"]]
    return [re.sub(r"\$__(rate_)?interval", "1m", e) for e in exprs]


def _all_finished(engine: Engine, expected: int) -> Callable[[], bool]:
    def check() -> bool:
        with engine.connect() as conn:
            statuses = conn.execute(text("SELECT status FROM ml_jobs")).scalars().all()
        return len(statuses) >= expected and all(s in {"done", "failed"} for s in statuses)

    return check


def _enrich_and_scrape(env: dict[str, str], base: str, prom: str, media: str, run: Run) -> None:
    key = up.create_key(env, "t")
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as client:
        for share_id, given in (
            ("article", {"text": ARTICLE}),
            ("video", {"media_url": f"http://{media}/briefing.mp4"}),
        ):
            submitted = client.post(
                "/api/ml/jobs", json={"share_id": share_id, "task": "enrich", "input": given}
            )
            assert submitted.status_code == 202, submitted.text
    # text: summarize + embed; video: transcribe, then summarize + embed of the transcript
    engine = make_engine(env["BOOKMARKAI_ML_DATABASE_URL"])
    try:
        _wait("the enrich jobs never finished", _all_finished(engine, 5), 400)
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT id, traceparent FROM ml_jobs")).all()
    finally:
        engine.dispose()
    run.jobs = {str(job_id): tp.split("-")[1] if tp else None for job_id, tp in rows}
    wanted = _queried_names()

    def scraped() -> bool:
        done = _query(prom, 'sum(ml_tasks_total{outcome="done"})')
        run.series = {r["metric"]["__name__"] for r in _query(prom, '{__name__=~"ml_.+"}')}
        return bool(done) and float(done[0]["value"][1]) >= 5 and wanted <= run.series

    with contextlib.suppress(AssertionError):  # the test says which names are missing
        _wait("Prometheus never saw every name", scraped, 60)
    for expr in _queried_exprs():
        answer = httpx.get(f"{prom}/api/v1/query", params={"query": expr}, timeout=10).json()
        run.evaluated[expr] = answer.get("error", "")
    for name in ("ml_budget_rejections_total", "ml_dead_letters_total"):
        values = [float(r["value"][1]) for r in _query(prom, name)]
        run.untouched[name] = sum(values) if values else -1.0


@pytest.fixture(scope="module")
def run(
    tmp_path_factory: pytest.TempPathFactory,
    vhost_factory: Callable[[], AbstractContextManager[str]],
) -> Run:
    workdir = tmp_path_factory.mktemp("first-start")
    data = workdir / "data"  # fresh: up starts a new embedded Postgres here
    ports = up.stack_ports()
    result = Run()
    with contextlib.ExitStack() as stack:
        amqp_url = stack.enter_context(vhost_factory())
        receiver = stack.enter_context(OtlpReceiver())
        media = stack.enter_context(up.media_server())
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("BOOKMARKAI_ML_DATABASE", "OTEL_"))
        }
        env.update(
            {
                "BOOKMARKAI_ML_BROKER_URL": amqp_url,
                **up.stack_env(ports, data, media),
                "BOOKMARKAI_ML_TELEMETRY__LOG_JSON": "true",
                # Real spans, so a log line's trace_id/span_id can be found among them.
                "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
                "OTEL_BSP_SCHEDULE_DELAY": "200",
            }
        )
        proc = up.start_up(env, workdir / "up.log")
        prom: subprocess.Popen[bytes] | None = None
        try:
            base = f"http://127.0.0.1:{ports['api']}"
            up.wait_ready(proc, base, workdir / "up.log", 180)
            prom, prom_url = _prometheus(
                workdir, {name: f"127.0.0.1:{port}" for name, port in ports.items()}
            )
            _wait("Prometheus never became ready", lambda: _answers(f"{prom_url}/-/ready"), 60)
            from bookmarkai_ml.db.embedded import embedded_url

            env["BOOKMARKAI_ML_DATABASE_URL"] = embedded_url(data)  # the server up started
            _enrich_and_scrape(env, base, prom_url, media, result)
        finally:
            up.stop_up(proc)
            if prom is not None:
                prom.terminate()
                prom.wait(timeout=30)
            assert stop_embedded(data)
        result.spans = {(s.trace_id, s.span_id) for s in receiver.spans()}
    result.log = (workdir / "up.log").read_text().splitlines()
    return result


def _records(run: Run) -> list[dict[str, Any]]:
    return [json.loads(line) for line in run.log if line and line != CELERY_SHUTDOWN_PRINT]


def test_every_log_line_is_a_json_object(run: Run) -> None:
    others = [line for line in run.log if line and line != CELERY_SHUTDOWN_PRINT]
    bad = []
    for line in others:
        try:
            assert isinstance(json.loads(line), dict)
        except (ValueError, AssertionError):
            bad.append(line)
    assert not bad, bad[:10]
    assert len(others) > 20


def test_worker_lines_of_a_job_carry_its_job_id_and_trace_id(run: Run) -> None:
    records = _records(run)
    assert len(run.jobs) == 5, run.jobs  # text: summarize, embed; video: transcribe and both
    for job_id, trace_id in run.jobs.items():
        lines = [r for r in records if r.get("job_id") == job_id]
        assert lines, f"no log line names job {job_id}"
        # One trace per job: the job row's, when the API stored a traceparent with it.
        traces = {r.get("trace_id") for r in lines}
        assert len(traces) == 1, lines
        assert re.fullmatch(r"[0-9a-f]{32}", str(*traces)), lines
        assert trace_id is None or traces == {trace_id}, (trace_id, lines)
        assert len({r["share_id"] for r in lines}) == 1
        assert len({r["task"] for r in lines}) == 1
        assert any(r["processName"].startswith("ForkPoolWorker") for r in lines)
        # ...and the span a line names is one the worker exported: the line joins its trace.
        named = {(r["trace_id"], r["span_id"]) for r in lines if "span_id" in r}
        assert named, lines
        assert named <= run.spans, named - run.spans


def test_the_jobs_of_one_enrich_log_one_trace(run: Run) -> None:
    by_item: dict[str, set[str]] = {}
    for r in _records(run):
        if "job_id" in r:
            by_item.setdefault(r["share_id"], set()).add(r["trace_id"])
    # the article's summarize and embed; the video's transcribe and its two follow-up jobs
    assert sorted(by_item) == ["article", "video"]
    assert all(len(traces) == 1 for traces in by_item.values()), by_item


def test_a_first_start_logs_no_warning_and_no_traceback(run: Run) -> None:
    loud = [
        r
        for r in _records(run)
        if r["level"] in {"WARNING", "ERROR", "CRITICAL"}
        and not (os.geteuid() == 0 and ROOT_WARNING in r["message"])
    ]
    assert not loud, loud
    assert not any("Traceback" in line for line in run.log)


def test_prometheus_has_a_series_for_every_queried_name(run: Run) -> None:
    missing = sorted(_queried_names() - run.series)
    assert not missing, f"no series for {missing}"
    # ...before any rejection or dead letter: those counters exist and are still 0.
    assert run.untouched == {"ml_budget_rejections_total": 0.0, "ml_dead_letters_total": 0.0}


def test_every_dashboard_and_alert_expression_evaluates(run: Run) -> None:
    assert len(run.evaluated) > 40
    assert not {e: err for e, err in run.evaluated.items() if err}
