"""Completion events end to end: ``bookmarkai-ml up`` on a RabbitMQ node of the test's own,
a consumer written with plain aio-pika from docs/messages.md alone ("Completion events
on the wire"), and an ``enrich`` of the sample video over HTTP.

- The consumer binds its own durable queue to ``ml.events`` with ``job.#`` and receives
  exactly one ``done`` event for each of the three jobs (transcribe, then summarize and
  embed of the transcript), each a valid CloudEvent whose ``data.id`` is the job's id.
- Then the broker is stopped, a job is cancelled over HTTP (the terminal transition and
  its event commit while nothing can be published), and the broker is started again:
  the event arrives, with the id the database recorded at the commit.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import pytest
from cloudevents.v1.http import from_json
from sqlalchemy import Engine, text

from bookmarkai_ml.config import Settings
from bookmarkai_ml.db.engine import make_session_factory, transaction
from bookmarkai_ml.services import apikeys
from support import up
from support.harness import PrivateBroker

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]

DOC = Path(__file__).resolve().parents[3] / "docs" / "messages.md"
QUEUE = "gateway.ml-events"  # the consumer's own queue, as in the documented consumer
REQUIRED = ("specversion", "id", "source", "type")


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"required service unavailable in CI: {reason}")
    pytest.skip(reason)


def _doc_example(name: str) -> dict[str, Any]:
    match = re.search(rf"<!-- example:{name} -->\s*```json\n(.*?)\n```", DOC.read_text(), re.S)
    assert match, f"docs/messages.md has no example:{name}"
    example: dict[str, Any] = json.loads(match.group(1))
    return example


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateBroker]:
    """A RabbitMQ node only this module stops and starts (never the shared one)."""
    node = PrivateBroker(tmp_path_factory.mktemp("rabbit"))
    try:
        node.start()
    except (OSError, subprocess.SubprocessError) as exc:
        _unavailable(f"cannot start a private RabbitMQ node: {exc}")
    yield node
    node.stop()


@pytest.fixture
def stack(
    tmp_path: Path, pg_url: str, broker: PrivateBroker, clean_db: Engine, media_server: str
) -> Iterator[dict[str, Any]]:
    ports = up.stack_ports()
    env = {
        **os.environ,
        "BOOKMARKAI_ML_DATABASE_URL": pg_url,
        "BOOKMARKAI_ML_BROKER_URL": broker.url,
        # Back off at most 2 s while the broker is down, so its return is noticed soon.
        "BOOKMARKAI_ML_OUTBOX__RETRY_MAX_S": "2",
        "BOOKMARKAI_ML_BROKER__RECONNECT_MAX_S": "2",
        "BOOKMARKAI_ML_BROKER__BREAKER_COOLDOWN_S": "2",
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
            up.wait_ready(proc, base, log, 300)
            yield {"client": client, "proc": proc, "media": media_server, "log": log}
    finally:
        up.stop_up(proc)


# -- the consumer: plain aio-pika, from docs/messages.md only ---------------------------------


async def _bind_consumer_queue(url: str) -> None:
    """Declare the exchange as documented, our own durable quorum queue, bind ``job.#``."""
    binding = _doc_example("event-binding")
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(
            binding["exchange"], binding["exchange_type"], durable=binding["durable"]
        )
        queue = await channel.declare_queue(
            QUEUE, durable=True, arguments={"x-queue-type": "quorum"}
        )
        await queue.bind(exchange, routing_key=binding["binding_key_for_everything"])


async def _take_all(url: str) -> list[tuple[str | None, dict[str, Any], Any]]:
    """Every event waiting in our queue: (routing key, properties, parsed CloudEvent)."""
    taken: list[tuple[str | None, dict[str, Any], Any]] = []
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.get_queue(QUEUE, ensure=False)
        while (message := await queue.get(no_ack=False, fail=False)) is not None:
            props = {
                "content_type": message.content_type,
                "message_id": message.message_id,
                "delivery_mode": message.delivery_mode,
            }
            event = from_json(message.body)  # raises on anything that is not a CloudEvent
            taken.append((message.routing_key, props, event))
            await message.ack()
    return taken


def _check_cloudevent(props: dict[str, Any], event: Any) -> None:
    attributes = event.get_attributes()
    for name in REQUIRED:
        assert attributes.get(name), f"missing CloudEvents attribute {name}"
    assert attributes["specversion"] == "1.0"
    assert attributes["source"] == "/bookmarkai-ml"
    assert attributes["subject"] == event.data["share_id"]
    assert attributes["time"]
    assert attributes["datacontenttype"] == "application/json"
    assert props["content_type"] == "application/cloudevents+json"
    assert props["message_id"] == attributes["id"]
    assert props["delivery_mode"] == 2


# -- helpers -----------------------------------------------------------------------------------


def _wait(predicate: Any, *, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def _scalar(engine: Engine, sql: str, **params: Any) -> Any:
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()


def _jobs(client: httpx.Client, ids: list[str]) -> dict[str, dict[str, Any]]:
    return {j: client.get(f"/api/ml/jobs/{j}").json() for j in ids}


def _family(engine: Engine, root: str) -> list[str]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id FROM ml_jobs WHERE parent_id = :p"), {"p": root})
        return [root, *(str(r[0]) for r in rows)]


def _events_unsent(engine: Engine) -> int:
    sql = "SELECT count(*) FROM ml_outbox WHERE kind = 'event' AND sent_at IS NULL"
    return int(_scalar(engine, sql))


# -- the test ----------------------------------------------------------------------------------


def test_a_docs_only_consumer_gets_one_done_event_per_job_and_rides_out_a_broker_stop(
    stack: dict[str, Any], broker: PrivateBroker, clean_db: Engine
) -> None:
    client: httpx.Client = stack["client"]
    asyncio.run(_bind_consumer_queue(broker.url))

    enrich = client.post(
        "/api/ml/jobs",
        json={
            "share_id": "video-1",
            "task": "enrich",
            "input": {"media_url": f"http://{stack['media']}/briefing.mp4"},
        },
    )
    assert enrich.status_code == 202, enrich.text
    root = enrich.json()["jobs"][0]["id"]

    def family_ended() -> bool:
        ids = _family(clean_db, root)
        return len(ids) == 3 and all(
            j["status"] in up.TERMINAL for j in _jobs(client, ids).values()
        )

    _wait(family_ended, timeout_s=600, what="the enrich's three jobs to end")
    ids = _family(clean_db, root)
    jobs = _jobs(client, ids)
    assert {j["status"] for j in jobs.values()} == {"done"}, jobs
    # Every event row is confirmed by the broker, so all of them are in our queue now.
    _wait(lambda: _events_unsent(clean_db) == 0, timeout_s=120, what="the events published")

    events = asyncio.run(_take_all(broker.url))
    assert len(events) == 3, [(key, e["type"], e.data["id"]) for key, _, e in events]
    for _key, props, event in events:
        _check_cloudevent(props, event)
        assert event["type"] == "ai.bookmarkai.ml.job.done"
        assert event["subject"] == "video-1"
        assert event["tenantid"] == "e2e"
        assert event.data == jobs[event.data["id"]]  # the job as GET returns it
    assert sorted(e.data["id"] for _, _, e in events) == sorted(ids)
    assert len({e["id"] for _, _, e in events}) == 3
    tasks = {e.data["id"]: e.data["task"] for _, _, e in events}
    assert sorted(key or "" for key, _, _ in events) == sorted(
        f"job.{task}.done" for task in tasks.values()
    )
    assert sorted(tasks.values()) == ["embed", "summarize", "transcribe"]

    # The broker stops; a terminal transition commits with its event; nothing can publish.
    broker.stop_app()
    try:
        made = client.post(
            "/api/ml/jobs",
            json={"share_id": "note-1", "task": "summarize", "input": {"text": "Cancel me."}},
        )
        assert made.status_code == 202, made.text
        job_id = made.json()["jobs"][0]["id"]
        cancelled = client.post(f"/api/ml/jobs/{job_id}/cancel")
        assert cancelled.status_code == 200, cancelled.text
        committed_id = _scalar(
            clean_db,
            "SELECT kwargs->>'id' FROM ml_outbox WHERE kind = 'event' AND job_id = :id "
            "AND sent_at IS NULL",
            id=job_id,
        )
        assert committed_id, "the event was not committed with the cancel"
    finally:
        broker.start_app()

    _wait(lambda: _events_unsent(clean_db) == 0, timeout_s=180, what="the event after restart")
    after = asyncio.run(_take_all(broker.url))
    assert len(after) == 1, [(key, e["type"]) for key, _, e in after]
    key, props, event = after[0]
    _check_cloudevent(props, event)
    assert key == "job.summarize.cancelled"
    assert event["id"] == committed_id
    assert event["type"] == "ai.bookmarkai.ml.job.cancelled"
    assert event.data["id"] == job_id
    assert event.data["status"] == "cancelled"
    assert stack["proc"].poll() is None, stack["log"].read_text()[-3000:]
