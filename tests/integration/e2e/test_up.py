"""End to end: ``bookmarkai-ml up`` on the real RabbitMQ and Postgres, driven over HTTP.

An ``enrich`` of a spoken video served by a local (allow-listed) HTTP server, a
``summarize`` of text and an ``embed``: every job reaches ``done``, and the
transcript, summary, tags, a search hit, the cost rows, the analytics and the
Prometheus counters all reflect them. Ctrl-C (SIGINT) then stops every process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from sqlalchemy import Engine, text

from bookmarkai_ml.config import Settings
from bookmarkai_ml.db.engine import make_session_factory, transaction
from bookmarkai_ml.services import apikeys
from support import up

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]

ARTICLE = (up.SAMPLES / "article.txt").read_text()


@pytest.fixture
def stack(
    tmp_path: Path, pg_url: str, own_amqp_url: str, clean_db: Engine, media_server: str
) -> Iterator[dict[str, Any]]:
    ports = up.stack_ports()
    env = {
        **os.environ,
        "BOOKMARKAI_ML_DATABASE_URL": pg_url,
        "BOOKMARKAI_ML_BROKER_URL": own_amqp_url,
        **up.stack_env(ports, tmp_path / "data", media_server),
    }
    log = tmp_path / "up.log"
    proc = up.start_up(env, log)
    try:
        settings = Settings(database_url=pg_url, _env_file=None)  # type: ignore[call-arg]
        with transaction(make_session_factory(clean_db)) as session:
            key = apikeys.create(session, tenant_id="e2e", name="e2e", pepper=settings.secret_key)
        base = f"http://127.0.0.1:{ports['api']}"
        headers = {"Authorization": f"Bearer {key.key}"}
        with httpx.Client(base_url=base, headers=headers, timeout=120) as client:
            up.wait_ready(proc, base, log, 120)
            yield {
                "client": client,
                "proc": proc,
                "ports": ports,
                "media": media_server,
                "log": log,
            }
    finally:
        up.stop_up(proc)


def _wait_done(client: httpx.Client, job_ids: list[str], timeout_s: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        jobs = {j: client.get(f"/api/ml/jobs/{j}").json() for j in job_ids}
        if all(j["status"] in up.TERMINAL for j in jobs.values()):
            return jobs
        assert time.monotonic() < deadline, jobs
        time.sleep(1)


def _children(engine: Engine, parent: str) -> list[str]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id FROM ml_jobs WHERE parent_id = :p"), {"p": parent})
        return [str(r[0]) for r in rows]


def test_up_enriches_over_http(stack: dict[str, Any], clean_db: Engine) -> None:
    client: httpx.Client = stack["client"]
    video = f"http://{stack['media']}/briefing.mp4"

    enrich = client.post(
        "/api/ml/jobs",
        json={"share_id": "video-1", "task": "enrich", "input": {"media_url": video}},
    )
    assert enrich.status_code == 202, enrich.text
    summarize = client.post(
        "/api/ml/jobs",
        json={"share_id": "article-1", "task": "summarize", "input": {"text": ARTICLE}},
    )
    embed = client.post(
        "/api/ml/jobs",
        json={"share_id": "article-1", "task": "embed", "input": {"text": ARTICLE}},
    )
    assert summarize.status_code == embed.status_code == 202
    transcribe_id = enrich.json()["jobs"][0]["id"]
    ids = [transcribe_id, summarize.json()["jobs"][0]["id"], embed.json()["jobs"][0]["id"]]
    jobs = _wait_done(client, ids)
    assert all(j["status"] == "done" for j in jobs.values()), jobs

    transcript = jobs[transcribe_id]["result"]
    assert "briefing" in transcript["text"].lower()
    assert transcript["segments"][-1]["end"] <= transcript["duration_s"] + 1

    children = _children(clean_db, transcribe_id)
    assert len(children) == 2  # summary + embeddings of the transcript
    follow = _wait_done(client, children)
    assert {j["task"] for j in follow.values()} == {"summarize", "embed"}
    assert all(j["status"] == "done" for j in follow.values()), follow
    video_summary = next(j for j in follow.values() if j["task"] == "summarize")["result"]
    assert video_summary["summary"]
    assert video_summary["tags"]
    article = jobs[ids[1]]["result"]
    assert "Copenhagen" in article["summary"]

    hits = client.get("/api/ml/search", params={"q": "cycling infrastructure in Denmark", "k": 3})
    assert hits.status_code == 200, hits.text
    assert hits.json()["hits"][0]["share_id"] == "article-1"
    spoken = client.get("/api/ml/search", params={"q": "worker dies in the middle of a task"})
    top = spoken.json()["hits"][0]
    assert top["share_id"] == "video-1"
    assert top["start_s"] is not None  # points into the audio

    with clean_db.connect() as conn:
        costs = conn.execute(
            text(
                "SELECT j.task, j.share_id, j.status "
                "FROM ml_costs c JOIN ml_jobs j ON j.id = c.job_id"
            )
        ).all()
        all_jobs = conn.execute(text("SELECT task, share_id, status FROM ml_jobs")).all()
    # One cost row per job: transcribe, then summarize + embed of the video and of the article.
    assert sorted(costs) == sorted(all_jobs), (costs, all_jobs)
    assert len(all_jobs) == 5, all_jobs

    analytics = client.get("/api/ml/analytics/costs", params={"refresh": "true"}).json()
    assert {row["task"] for row in analytics["performance"]} >= {"transcribe", "summarize", "embed"}

    prom = client.get("/api/ml/metrics/prometheus").text
    assert "ml_producer_publishes_total{" in prom
    worker = httpx.get(f"http://127.0.0.1:{stack['ports']['transcribe']}/metrics").text
    assert 'ml_tasks_total{outcome="done",task="transcribe"} 1.0' in worker

    proc: subprocess.Popen[bytes] = stack["proc"]
    children = psutil.Process(proc.pid).children(recursive=True)
    proc.send_signal(signal.SIGINT)  # Ctrl-C
    assert proc.wait(timeout=60) == 0, stack["log"].read_text()[-3000:]
    _gone, alive = psutil.wait_procs(children, timeout=10)
    assert not alive, f"left running: {alive}"
