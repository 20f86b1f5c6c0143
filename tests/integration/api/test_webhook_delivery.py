"""Webhook delivery to real local receivers, each request verified with ``standardwebhooks``.

The deliverer (``webhooks.deliverer``, the loop the relay runs) sends what
``db.webhooks.fan_out`` queued; the delivery log is read back through the API. The
receivers listen on 127.0.0.1, so the settings put them on the media allow-list.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text

from bookmarkai_ml.api import create_app
from bookmarkai_ml.config import Settings
from bookmarkai_ml.db.engine import SessionFactory, transaction
from bookmarkai_ml.db.webhooks import fan_out
from bookmarkai_ml.webhooks.deliverer import Deliverer
from bookmarkai_ml.webhooks.sender import Sender
from support.api import MakeKey, bearer
from support.harness import free_port
from support.webhook_receiver import receiving

pytestmark = pytest.mark.integration

HOOKS = "/api/ml/webhooks"
DONE = "ai.bookmarkai.ml.job.done"


def cloud_event(event_type: str = DONE, share_id: str = "share-1") -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "/bookmarkai-ml",
        "type": event_type,
        "subject": share_id,
        "time": datetime.now(UTC).isoformat(),
        "datacontenttype": "application/json",
        "data": {"share_id": share_id, "status": "done", "result": {"summary": "Ünïcode ✓"}},
    }


def hook_settings(settings: Settings, port: int, **webhooks: Any) -> Settings:
    media = settings.media.model_copy(update={"allowed_hosts": [f"127.0.0.1:{port}"]})
    defaults: dict[str, Any] = {"retry_schedule_s": [0.0, 0.2, 0.4], "poll_interval_s": 0.05}
    group = settings.webhooks.model_copy(update={**defaults, **webhooks})
    return settings.model_copy(update={"media": media, "webhooks": group})


@pytest.fixture
async def api(clean_db: Engine) -> AsyncIterator[Callable[[Settings], httpx.AsyncClient]]:
    clients: list[httpx.AsyncClient] = []

    def make(settings: Settings) -> httpx.AsyncClient:
        app = create_app(settings, engine=clean_db, background=[])
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


def deliverer(settings: Settings, sessions: SessionFactory) -> Deliverer:
    sender = Sender(
        timeout_s=settings.webhooks.timeout_s, allowed_hosts=settings.media.allowed_hosts
    )
    return Deliverer(sessions=sessions, settings=settings.webhooks, sender=sender)


async def until(check: Callable[[], Awaitable[bool]], *, limit_s: float = 60.0) -> None:
    """Poll ``check`` (a guard against hanging, not a timing assertion)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    while not await check():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.05)


def queue(sessions: SessionFactory, event: dict[str, Any], tenant: str = "tenant-a") -> int:
    with transaction(sessions) as session:
        return fan_out(session, tenant_id=tenant, share_id=event["subject"], event=event)


async def register(client: httpx.AsyncClient, headers: dict[str, str], url: str) -> dict[str, Any]:
    resp = await client.post(HOOKS, json={"url": url}, headers=headers)
    assert resp.status_code == 201, resp.text
    hook: dict[str, Any] = resp.json()
    return hook


async def delivery_log(
    client: httpx.AsyncClient, headers: dict[str, str], hook_id: str
) -> list[dict[str, Any]]:
    resp = await client.get(f"{HOOKS}/{hook_id}/deliveries", headers=headers)
    assert resp.status_code == 200, resp.text
    deliveries: list[dict[str, Any]] = resp.json()["deliveries"]
    return deliveries


async def test_500_twice_then_200_is_the_same_event_three_times(
    settings: Settings, sessions: SessionFactory, api: Any, make_key: MakeKey
) -> None:
    headers = bearer(make_key())
    with receiving([500, 500]) as receiver:
        port = int(receiver.url.split(":")[2].split("/")[0])
        s = hook_settings(settings, port)
        client = api(s)
        hook = await register(client, headers, receiver.url)
        receiver.secret = hook["secret"]
        event = cloud_event()
        assert queue(sessions, event) == 1

        worker = deliverer(s, sessions)
        worker.start()
        try:

            async def delivered() -> bool:
                log = await delivery_log(client, headers, hook["id"])
                return log[0]["status"] == "delivered"

            await until(delivered)
        finally:
            await worker.stop()

    assert len(receiver.received) == 3
    assert all(r.verified for r in receiver.received), "every signature verifies"
    assert {r.headers["webhook-id"] for r in receiver.received} == {event["id"]}
    assert all(r.payload == event for r in receiver.received)
    assert {r.headers["content-type"] for r in receiver.received} == {"application/json"}
    (entry,) = await delivery_log(client, headers, hook["id"])
    assert entry["event_id"] == event["id"]
    assert entry["event_type"] == DONE
    assert entry["attempts"] == 3
    assert entry["last_status_code"] == 200
    assert entry["next_attempt_at"] is None
    assert entry["delivered_at"] is not None
    assert [a["status_code"] for a in entry["attempt_log"]] == [500, 500, 200]


async def test_an_endpoint_that_stays_down_is_retried_on_the_schedule_then_disabled(
    settings: Settings, sessions: SessionFactory, api: Any, make_key: MakeKey, clean_db: Engine
) -> None:
    headers = bearer(make_key())
    port = free_port()  # nothing listens: every attempt is refused
    s = hook_settings(settings, port, disable_after_failures=1)
    client = api(s)
    hook = await register(client, headers, f"http://127.0.0.1:{port}/hooks")
    assert queue(sessions, cloud_event()) == 1

    worker = deliverer(s, sessions)
    worker.start()
    try:

        async def disabled() -> bool:
            got = await client.get(f"{HOOKS}/{hook['id']}", headers=headers)
            return got.json()["enabled"] is False

        await until(disabled)
    finally:
        await worker.stop()

    endpoint = (await client.get(f"{HOOKS}/{hook['id']}", headers=headers)).json()
    assert "consecutive deliveries failed" in endpoint["disabled_reason"]
    assert endpoint["disabled_at"] is not None
    (entry,) = await delivery_log(client, headers, hook["id"])
    schedule = s.webhooks.retry_schedule_s
    assert entry["status"] == "failed"
    assert entry["attempts"] == len(schedule) == len(entry["attempt_log"])
    assert all(a["status_code"] is None and a["error"] for a in entry["attempt_log"])
    # Each retry waited at least its delay after the previous attempt (the schedule's order).
    times = [datetime.fromisoformat(a["attempted_at"]) for a in entry["attempt_log"]]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    assert all(gap >= delay for gap, delay in zip(gaps, schedule[1:], strict=True)), gaps
    # A disabled endpoint gets no new deliveries.
    assert queue(sessions, cloud_event()) == 0


async def test_an_endpoint_enabled_again_gets_new_events_and_a_fresh_count(
    settings: Settings, sessions: SessionFactory, api: Any, make_key: MakeKey
) -> None:
    headers = bearer(make_key())
    with receiving([500, 500, 500]) as receiver:  # the first event fails every attempt
        port = int(receiver.url.split(":")[2].split("/")[0])
        s = hook_settings(settings, port, disable_after_failures=2)
        client = api(s)
        hook = await register(client, headers, receiver.url)
        receiver.secret = hook["secret"]
        for _ in range(2):  # two deliveries that failed every attempt ...
            queue(sessions, cloud_event())
        with transaction(sessions) as session:  # ... and so it was disabled
            session.execute(
                text("UPDATE ml_webhook_deliveries SET status = 'failed' WHERE webhook_id = :id"),
                {"id": hook["id"]},
            )
            session.execute(
                text(
                    "UPDATE ml_webhooks SET enabled = false, disabled_at = now(), "
                    "disabled_reason = '2 consecutive deliveries failed every attempt' "
                    "WHERE id = :id"
                ),
                {"id": hook["id"]},
            )
        assert queue(sessions, cloud_event()) == 0
        other = bearer(make_key("tenant-b"))
        refused = await client.post(f"{HOOKS}/{hook['id']}/enable", headers=other)
        assert refused.status_code == 404
        enabled = await client.post(f"{HOOKS}/{hook['id']}/enable", headers=headers)
        assert enabled.status_code == 200, enabled.text
        assert enabled.json()["enabled"] is True
        assert enabled.json()["disabled_reason"] is None

        failing, delivered_event = cloud_event(), cloud_event()
        assert queue(sessions, failing) == 1
        worker = deliverer(s, sessions)
        worker.start()
        try:

            async def settled(event_id: str, status: str) -> bool:
                log = await delivery_log(client, headers, hook["id"])
                return any(d["event_id"] == event_id and d["status"] == status for d in log)

            await until(lambda: settled(failing["id"], "failed"))
            # One failure since it was enabled again: under the limit of 2, still enabled.
            got = await client.get(f"{HOOKS}/{hook['id']}", headers=headers)
            assert got.json()["enabled"] is True
            assert queue(sessions, delivered_event) == 1
            await until(lambda: settled(delivered_event["id"], "delivered"))
        finally:
            await worker.stop()
    ids = [r.headers["webhook-id"] for r in receiver.received]
    assert ids == [failing["id"]] * 3 + [delivered_event["id"]]
    assert all(r.verified for r in receiver.received)  # the same secret still signs


async def test_an_endpoint_failing_for_too_long_is_disabled_before_the_schedule_ends(
    settings: Settings, sessions: SessionFactory, api: Any, make_key: MakeKey
) -> None:
    headers = bearer(make_key())
    with receiving(then=503) as receiver:
        port = int(receiver.url.split(":")[2].split("/")[0])
        s = hook_settings(
            settings,
            port,
            retry_schedule_s=[0.0] + [0.1] * 50,
            disable_after_failures=0,
            disable_after_s=0.5,
        )
        client = api(s)
        hook = await register(client, headers, receiver.url)
        receiver.secret = hook["secret"]
        assert queue(sessions, cloud_event()) == 1
        worker = deliverer(s, sessions)
        worker.start()
        try:

            async def disabled() -> bool:
                got = await client.get(f"{HOOKS}/{hook['id']}", headers=headers)
                return got.json()["enabled"] is False

            await until(disabled)
        finally:
            await worker.stop()

    endpoint = (await client.get(f"{HOOKS}/{hook['id']}", headers=headers)).json()
    assert endpoint["disabled_reason"].startswith("every attempt failed for")
    (entry,) = await delivery_log(client, headers, hook["id"])
    assert entry["status"] == "failed"
    assert entry["last_error"].startswith("endpoint disabled")
    assert 1 < entry["attempts"] < 51
    assert all(a["status_code"] == 503 for a in entry["attempt_log"])
    assert all(r.verified for r in receiver.received)


async def test_the_guard_runs_again_at_delivery_time(
    settings: Settings, sessions: SessionFactory, api: Any, make_key: MakeKey
) -> None:
    """Registered while the allow-list let it through, refused by a deliverer without it."""
    headers = bearer(make_key())
    with receiving() as receiver:
        port = int(receiver.url.split(":")[2].split("/")[0])
        client = api(hook_settings(settings, port))
        hook = await register(client, headers, receiver.url)
        assert queue(sessions, cloud_event()) == 1
        strict = hook_settings(settings, port)
        strict = strict.model_copy(
            update={"media": strict.media.model_copy(update={"allowed_hosts": []})}
        )
        worker = deliverer(strict, sessions)
        assert await worker.deliver_due() == 1
        await worker.stop()

    assert receiver.received == []
    (entry,) = await delivery_log(client, headers, hook["id"])
    assert entry["status"] == "pending"
    assert entry["attempts"] == 1
    assert entry["attempt_log"][0]["error"].startswith("unsafe_url")


async def test_event_type_filter_and_tenants(
    settings: Settings, sessions: SessionFactory, api: Any, make_key: MakeKey, clean_db: Engine
) -> None:
    """fan_out queues for the event's tenant only, and only where the filter matches."""
    a, b = bearer(make_key("tenant-a")), bearer(make_key("tenant-b"))
    client = api(hook_settings(settings, 9))
    done_only = await client.post(
        HOOKS, json={"url": "http://127.0.0.1:9/a", "event_types": [DONE]}, headers=a
    )
    assert done_only.status_code == 201
    await register(client, a, "http://127.0.0.1:9/all")
    await register(client, b, "http://127.0.0.1:9/b")
    assert queue(sessions, cloud_event(DONE)) == 2
    assert queue(sessions, cloud_event("ai.bookmarkai.ml.job.failed")) == 1
    with clean_db.connect() as conn:
        tenants = conn.execute(text("SELECT DISTINCT tenant_id FROM ml_webhook_deliveries"))
        assert [t for (t,) in tenants] == ["tenant-a"]


async def test_two_deliverers_share_the_work_without_sending_twice(
    settings: Settings, sessions: SessionFactory, api: Any, make_key: MakeKey
) -> None:
    """Claims are SKIP LOCKED under a lease: with no crash, each event goes out once."""
    headers = bearer(make_key())
    with receiving() as receiver:
        port = int(receiver.url.split(":")[2].split("/")[0])
        s = hook_settings(settings, port, batch_size=3)
        client = api(s)
        hook = await register(client, headers, receiver.url)
        receiver.secret = hook["secret"]
        events = [cloud_event(share_id=f"s{i}") for i in range(30)]
        for event in events:
            assert queue(sessions, event) == 1
        workers = [deliverer(s, sessions), deliverer(s, sessions)]
        for worker in workers:
            worker.start()
        try:

            async def all_delivered() -> bool:
                log = await client.get(
                    f"{HOOKS}/{hook['id']}/deliveries", params={"limit": 50}, headers=headers
                )
                return all(d["status"] == "delivered" for d in log.json()["deliveries"])

            await until(all_delivered)
        finally:
            for worker in workers:
                await worker.stop()

    ids = sorted(r.headers["webhook-id"] for r in receiver.received)
    assert ids == sorted(e["id"] for e in events)
    assert all(r.verified for r in receiver.received)
