"""Erasure during a running transcription, on the real stack (``bookmarkai-ml up``: real
RabbitMQ, Postgres, API, relay, workers, ffmpeg and Whisper).

A share holds an enrich of text that carries a marker string (summary, tags, vectors and
completion events all quote it) and a transcription of a spoken clip whose URL carries
it. While Whisper runs, the share is erased over HTTP. Afterwards the running job ended
``cancelled`` and wrote nothing, a full ``pg_dump`` of the database holds no occurrence of
the marker, the media store holds no object of the share, and the task message replayed
(with its job id, and as a producer without jobs would send it) is dropped by the worker.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import pytest
from sqlalchemy import Engine, text

from bookmarkai_ml.config import Settings
from bookmarkai_ml.db.engine import make_session_factory, transaction
from bookmarkai_ml.domain.media_keys import key_part
from bookmarkai_ml.messaging import protocol, topology
from bookmarkai_ml.services import apikeys
from support import up
from support.transcription import SENTENCES

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]

MARKER = "quokkazest7731"
TENANT, SHARE = "erase-e2e", "talk-42"
#: The embedded server's own pg_dump (same major version), found without importing pgserver.
PG_DUMP = Path(str(find_spec("pgserver").origin)).parent / "pginstall" / "bin" / "pg_dump"  # type: ignore[union-attr]
ARTICLE = (up.SAMPLES / "article.txt").read_text()


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About two minutes of espeak-ng speech, named after the marker."""
    folder = tmp_path_factory.mktemp("erase-media")
    speech = " ".join(SENTENCES * 5)
    wav = folder / f"talk-{MARKER}.wav"
    subprocess.run(
        ["espeak-ng", "-v", "en-us", "-s", "140", "-w", str(wav), speech],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return folder


@pytest.fixture
def stack(
    tmp_path: Path, pg_url: str, own_amqp_url: str, clean_db: Engine, clip_dir: Path
) -> Iterator[dict[str, Any]]:
    ports = up.stack_ports()
    data_dir = tmp_path / "data"
    with up.media_server(clip_dir) as media:
        env = {
            **os.environ,
            "BOOKMARKAI_ML_DATABASE_URL": pg_url,
            "BOOKMARKAI_ML_BROKER_URL": own_amqp_url,
            **up.stack_env(ports, data_dir, media),
        }
        log = tmp_path / "up.log"
        proc = up.start_up(env, log)
        try:
            settings = Settings(database_url=pg_url, _env_file=None)  # type: ignore[call-arg]
            with transaction(make_session_factory(clean_db)) as session:
                key = apikeys.create(
                    session, tenant_id=TENANT, name="erase", pepper=settings.secret_key
                )
            base = f"http://127.0.0.1:{ports['api']}"
            headers = {"Authorization": f"Bearer {key.key}"}
            with httpx.Client(base_url=base, headers=headers, timeout=120) as client:
                up.wait_ready(proc, base, log, 180)
                yield {
                    "client": client,
                    "media": media,
                    "share_dir": data_dir / "media" / key_part(TENANT) / key_part(SHARE),
                    "metrics": f"http://127.0.0.1:{ports['transcribe']}/metrics",
                    "amqp": own_amqp_url,
                    "pg_url": pg_url,
                    "log": log,
                }
        finally:
            up.stop_up(proc)


def _until(what: str, check: Callable[[], bool], log: Path, timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"{what}; up.log tail:\n{log.read_text()[-3000:]}"
        time.sleep(0.5)


def _objects(folder: Path) -> list[Path]:
    """The media objects (files) stored under ``folder``."""
    return [p for p in folder.rglob("*") if p.is_file()]


def _job(client: httpx.Client, job_id: str) -> dict[str, Any]:
    answer: dict[str, Any] = client.get(f"/api/ml/jobs/{job_id}").json()
    return answer


def _skipped(metrics_url: str) -> float:
    """The transcribe worker's count of deliveries it dropped (done, cancelled, erased)."""
    total = 0.0
    for line in httpx.get(metrics_url, timeout=30).text.splitlines():
        found = re.match(r"^ml_tasks_total\{(.*)\} (\S+)$", line)
        if found and {'outcome="skipped"', 'task="transcribe"'} <= set(found[1].split(",")):
            total += float(found[2])
    return total


def _dump(pg_url: str) -> str:
    """A full plain-text ``pg_dump`` of the test database (every table, every row)."""
    libpq = pg_url.replace("postgresql+psycopg://", "postgresql://", 1)
    dumped = subprocess.run(
        [str(PG_DUMP), "--dbname", libpq, "--no-owner"],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "CREATE TABLE public.ml_jobs" in dumped.stdout  # it really is the whole database
    return dumped.stdout


def _publish(amqp_url: str, kwargs: dict[str, Any]) -> None:
    """Publish a transcribe task message as a producer would (Celery protocol v2)."""

    async def main() -> None:
        message = protocol.encode(
            task_name="transcribe_media",
            kwargs=kwargs,
            routing_key="ml.transcribe",
            exchange=topology.TASK_EXCHANGE,
        )
        async with await aio_pika.connect(amqp_url) as connection:
            channel = await connection.channel()
            exchange = await channel.get_exchange(topology.TASK_EXCHANGE)
            await exchange.publish(
                aio_pika.Message(
                    message.body,
                    headers=dict(message.headers),
                    content_type="application/json",
                    content_encoding="utf-8",
                ),
                routing_key="ml.transcribe",
            )

    asyncio.run(main())


def _share_rows(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        one = lambda sql: int(conn.execute(text(sql), {"s": SHARE}).scalar_one())  # noqa: E731
        return {
            "jobs": one("SELECT count(*) FROM ml_jobs WHERE share_id = :s"),
            "results": one("SELECT count(*) FROM ml_results WHERE share_id = :s"),
            "embeddings": one("SELECT count(*) FROM ml_embeddings WHERE share_id = :s"),
            "costs": one(
                "SELECT count(*) FROM ml_costs c JOIN ml_jobs j ON j.id = c.job_id "
                "WHERE j.share_id = :s"
            ),
        }


def test_erasure_during_a_running_transcription(stack: dict[str, Any], clean_db: Engine) -> None:
    client: httpx.Client = stack["client"]
    log: Path = stack["log"]
    text_in = f"{ARTICLE}\n\nThe project's code word is {MARKER}; {MARKER} opens every door."
    enrich = client.post(
        "/api/ml/jobs", json={"share_id": SHARE, "task": "enrich", "input": {"text": text_in}}
    )
    assert enrich.status_code == 202, enrich.text
    text_jobs = [j["id"] for j in enrich.json()["jobs"]]
    _until(
        "the enrich of the text never finished",
        lambda: all(_job(client, j)["status"] == "done" for j in text_jobs),
        log,
    )
    url = f"http://{stack['media']}/talk-{MARKER}.wav"
    submitted = client.post(
        "/api/ml/jobs", json={"share_id": SHARE, "task": "transcribe", "input": {"media_url": url}}
    )
    assert submitted.status_code == 202, submitted.text
    transcribe_id = submitted.json()["jobs"][0]["id"]
    share_dir: Path = stack["share_dir"]
    # Running, past the download: its copy is in the media store; Whisper is at work.
    _until(
        "the transcription never kept its media",
        lambda: bool(_objects(share_dir)),
        log,
    )
    assert _job(client, transcribe_id)["status"] == "running"
    assert MARKER in _dump(stack["pg_url"])
    with clean_db.connect() as conn:
        original = conn.execute(
            text("SELECT kwargs FROM ml_outbox WHERE job_id = :j AND kind = 'task'"),
            {"j": transcribe_id},
        ).scalar_one()
    assert MARKER in original["media_url"]
    skipped_before = _skipped(stack["metrics"])

    erased = client.delete(f"/api/ml/shares/{SHARE}")

    assert erased.status_code == 200, erased.text
    removed = erased.json()["removed"]
    assert removed["jobs_cancelled"] == 1, removed  # the running transcription
    assert removed["results"] == 2, removed  # summary and embed results
    assert removed["embeddings"] >= 1, removed
    assert removed["media_objects"] >= 1, removed
    # The worker ends its run and drops it: the finish is refused (the job is cancelled).
    _until(
        "the transcribe worker never ended the erased run",
        lambda: _skipped(stack["metrics"]) >= skipped_before + 1,
        log,
    )
    job = _job(client, transcribe_id)
    assert job["status"] == "cancelled"
    assert job["result"] is None
    assert _share_rows(clean_db) == {"jobs": 3, "results": 0, "embeddings": 0, "costs": 2}
    assert not _objects(share_dir)
    assert MARKER not in _dump(stack["pg_url"])

    # A replay of its message, and the same message without a job id (a producer that
    # publishes straight to the queue): the worker drops both, and adopts no job.
    _publish(stack["amqp"], original)
    _publish(stack["amqp"], {k: v for k, v in original.items() if k != "job_id"})
    _until(
        "the replayed messages were never dropped",
        lambda: _skipped(stack["metrics"]) >= skipped_before + 3,
        log,
    )
    assert _job(client, transcribe_id)["status"] == "cancelled"
    assert _share_rows(clean_db) == {"jobs": 3, "results": 0, "embeddings": 0, "costs": 2}
    assert not _objects(share_dir)
    assert MARKER not in _dump(stack["pg_url"])
