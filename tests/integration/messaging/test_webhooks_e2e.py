"""End to end: a job that ends sends a signed webhook, from the relay's process.

A real worker runs the job and a real ``bookmarkai-ml relay`` (a subprocess, as deployed)
delivers the completion event to a local receiver, which verifies it with
``standardwebhooks``; the API process is not involved in delivery. A cancelled job's
event goes out through the relay embedded in this test's event loop
(``RelayService``, as the API runs it).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from uuid import UUID

import pytest
from sqlalchemy import Engine

from bookmarkai_ml.config import Settings
from bookmarkai_ml.contracts import SummarizeTask
from bookmarkai_ml.db.engine import SessionFactory, transaction
from bookmarkai_ml.media.ssrf import check_url
from bookmarkai_ml.messaging.service import RelayService
from bookmarkai_ml.services import jobs, webhooks
from support.harness import Stack
from support.webhook_receiver import Receiver, receiving

pytestmark = pytest.mark.integration


def _register(sessions: SessionFactory, url: str, allowed: list[str], tenant: str) -> str:
    with transaction(sessions) as session:
        hook = webhooks.register(
            session,
            tenant_id=tenant,
            url=url,
            event_types=[],
            description="e2e",
            check_url=lambda u: check_url(u, allowed_hosts=allowed),
        )
        return hook.secret


def _allowed(receiver: Receiver) -> str:
    return receiver.url.split("/")[2]  # 127.0.0.1:port


def test_a_finished_job_is_delivered_by_the_standalone_relay(
    stack_with: Callable[[dict[str, str]], Stack], sessions: SessionFactory
) -> None:
    with receiving([503]) as receiver:
        host = _allowed(receiver)
        stack = stack_with(
            {
                "BOOKMARKAI_ML_MEDIA__ALLOWED_HOSTS": json.dumps([host]),
                "BOOKMARKAI_ML_WEBHOOKS__RETRY_SCHEDULE_S": "[0, 0.2, 0.2]",
                "BOOKMARKAI_ML_WEBHOOKS__POLL_INTERVAL_S": "0.1",
            }
        )
        receiver.secret = _register(sessions, receiver.url, [host], tenant="default")
        stack.start_relay()
        stack.start_worker(concurrency=1, pool="solo")
        job_id = stack.submit("ok a short text")
        stack.wait_status([job_id], ("done",))
        stack.wait_for(lambda: len(receiver.received) >= 2, timeout=60, what="the retried event")

    first, second = receiver.received[:2]
    assert first.verified
    assert second.verified
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    event = second.payload
    assert event["type"] == "ai.bookmarkai.ml.job.done"
    assert event["id"] == second.headers["webhook-id"]
    assert event["data"]["id"] == str(job_id)
    assert event["data"]["status"] == "done"


async def test_a_cancelled_job_is_delivered_by_the_embedded_relay(
    clean_db: Engine, sessions: SessionFactory, settings: Settings, own_amqp_url: str
) -> None:
    with receiving() as receiver:
        host = _allowed(receiver)
        media = settings.media.model_copy(update={"allowed_hosts": [host]})
        hooks = settings.webhooks.model_copy(update={"poll_interval_s": 0.1})
        configured = settings.model_copy(
            update={"broker_url": own_amqp_url, "media": media, "webhooks": hooks}
        )
        receiver.secret = _register(sessions, receiver.url, [host], tenant="tenant-c")
        service = RelayService(configured, engine=clean_db)
        await service.start()
        try:
            job_id = await asyncio.to_thread(_submit_and_cancel, sessions)
            for _ in range(600):
                if receiver.received:
                    break
                await asyncio.sleep(0.05)
        finally:
            await service.stop()

    (got,) = receiver.received
    assert got.verified
    assert got.payload["type"] == "ai.bookmarkai.ml.job.cancelled"
    assert got.payload["data"]["id"] == str(job_id)


def _submit_and_cancel(sessions: SessionFactory) -> UUID:
    message = SummarizeTask(share_id="s-cancel", content="to be cancelled", tenant_id="tenant-c")
    with transaction(sessions) as session:
        job = jobs.submit(session, message).job
    with transaction(sessions) as session:
        jobs.cancel(session, job.id, tenant_id="tenant-c")
    return job.id
