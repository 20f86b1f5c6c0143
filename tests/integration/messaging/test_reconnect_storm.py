"""200 publishes waiting on one broker outage share one reconnect round (issue 11).

The relay publishes a batch of 200 rows while the broker, behind a TCP proxy this test
takes down for 20 s, refuses every connection. The producer runs on the design's
defaults (reconnect 500 ms -> 32 s, 30 % jitter, 10 attempts; breaker at 10 and 30 s)
and the relay on its own (drain deadline 30 s). Before the fix every waiting publish ran
its own round, one after another: hundreds of connection attempts while the claiming
transaction stayed open and housekeeping stopped. Now:

- the proxy sees no more connection attempts than one reconnect schedule;
- every row is published once the broker is back;
- during the outage the backlog gauge keeps being reported and the lease sweeper keeps
  requeueing a job whose worker died;
- no transaction of the relay is open for longer than its drain deadline (it holds none:
  a claim is a lease committed at once).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from urllib.parse import urlsplit, urlunsplit

import pytest
from sqlalchemy import text

from bookmarkai_ml.config import BrokerSettings, OutboxSettings
from bookmarkai_ml.contracts import SummarizeTask
from bookmarkai_ml.db.engine import transaction
from bookmarkai_ml.db.jobs import PostgresJobRepository
from bookmarkai_ml.errors import BrokerUnavailableError
from bookmarkai_ml.messaging import protocol
from bookmarkai_ml.messaging.producer import Producer
from bookmarkai_ml.messaging.relay import OutboxRelay
from bookmarkai_ml.ports import OutgoingMessage
from bookmarkai_ml.services import jobs
from support.harness import Stack
from support.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROWS = 200
OUTAGE_S = 20.0

#: The oldest open transaction of any other session on this database, in seconds.
_OLDEST_XACT = text(
    """
    SELECT coalesce(max(extract(epoch FROM now() - xact_start)), 0) FROM pg_stat_activity
    WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start IS NOT NULL
    """
)


class Backlog:
    """``RelayHooks`` that records when the backlog was reported, and what."""

    def __init__(self) -> None:
        self.reports: list[tuple[float, int]] = []

    def backlog(self, rows: int, oldest_age_s: float) -> None:
        self.reports.append((time.monotonic(), rows))


def _through(proxy_port: int, url: str) -> str:
    parts = urlsplit(url)
    credentials = parts.netloc.rpartition("@")[0]
    return urlunsplit(parts._replace(netloc=f"{credentials}@127.0.0.1:{proxy_port}"))


def _submit(stack: Stack, n: int) -> None:
    with transaction(stack.sessions) as session:
        for i in range(n):
            jobs.submit(session, SummarizeTask(share_id=f"storm-{i}", content=f"storm {i}"))


def _dead_worker_job(stack: Stack) -> uuid.UUID:
    """A running job whose lease ran out: its worker died after acking."""
    with transaction(stack.sessions) as session:
        job = jobs.submit(session, SummarizeTask(share_id="orphan", content="orphaned")).job
    stack.execute(
        "UPDATE ml_jobs SET status = 'running', lease_owner = 'dead', attempts = 1, "
        "lease_expires_at = now() - interval '1 second' WHERE id = :id",
        id=job.id,
    )
    stack.execute("UPDATE ml_outbox SET sent_at = now() WHERE job_id = :id", id=job.id)
    return job.id


async def test_one_reconnect_round_serves_every_waiting_publish(stack: Stack) -> None:
    broker = BrokerSettings()  # every reconnect and breaker number at its design default
    assert (broker.reconnect_initial_s, broker.reconnect_max_s) == (0.5, 32.0)
    assert (broker.reconnect_max_attempts, broker.breaker_threshold) == (10, 10)
    settings = OutboxSettings(batch_size=ROWS, maintenance_interval_s=1.0)
    backlog = Backlog()
    target = urlsplit(stack.settings.broker_url or "")
    with TcpProxy(target.hostname or "127.0.0.1", target.port or 5672) as proxy:
        producer = Producer(
            url=_through(proxy.port, stack.settings.broker_url or ""), broker=broker
        )
        await producer.start(health_check=True)
        relay = OutboxRelay(
            engine=stack.engine,
            publisher=producer,
            jobs=PostgresJobRepository(stack.sessions, lease_s=stack.settings.worker.lease_s),
            settings=settings,
            hooks=backlog,
        )
        relay.start()
        try:
            proxy.down()
            down_at = time.monotonic()
            await asyncio.to_thread(_submit, stack, ROWS)
            oldest_xact = 0.0
            orphan: uuid.UUID | None = None
            orphan_requeued = False
            while time.monotonic() - down_at < OUTAGE_S:
                oldest_xact = max(oldest_xact, float(stack.scalar(str(_OLDEST_XACT))))
                if orphan is None and time.monotonic() - down_at > 5:
                    orphan = await asyncio.to_thread(_dead_worker_job, stack)
                if orphan is not None and not orphan_requeued:
                    status = stack.scalar("SELECT status FROM ml_jobs WHERE id = :id", id=orphan)
                    orphan_requeued = status == "queued"
                await asyncio.sleep(0.25)
            up_at = time.monotonic()
            attempts_during_outage = proxy.refused
            proxy.up()
            while stack.scalar("SELECT count(*) FROM ml_outbox WHERE sent_at IS NULL"):
                assert time.monotonic() - up_at < 120, "rows still unsent after the broker returned"
                await asyncio.sleep(0.25)
        finally:
            await relay.stop()
            await producer.close()

    assert 1 <= attempts_during_outage <= broker.reconnect_max_attempts
    during = [rows for at, rows in backlog.reports if down_at + 1 < at < up_at]
    assert len(during) >= OUTAGE_S / 2  # reported about every second, not stalled
    assert max(during) >= ROWS
    assert orphan_requeued, "the lease sweeper stopped during the outage"
    assert oldest_xact < settings.drain_deadline_s
    sent = stack.scalar("SELECT count(*) FROM ml_outbox WHERE sent_at IS NOT NULL")
    assert sent == ROWS + 2  # the 200, the orphan's first row, and its requeue


def _message(i: int) -> OutgoingMessage:
    return protocol.encode(
        task_name="bookmarkai_ml.summarize",
        kwargs={"n": i},
        routing_key="ml.summarize",
        exchange="ml.tasks",
        task_id=f"storm-{i}",
    )


async def _outage(
    stack: Stack, broker: BrokerSettings, publishes: int, *, breaker_opens: bool
) -> tuple[int, list[str]]:
    """``publishes`` concurrent publishes against a broker that refuses every connection;
    returns the connection attempts they made and each publish's error."""
    target = urlsplit(stack.settings.broker_url or "")
    with TcpProxy(target.hostname or "127.0.0.1", target.port or 5672) as proxy:
        proxy.down()
        url = _through(proxy.port, stack.settings.broker_url or "")
        producer = Producer(url=url, broker=broker)
        try:
            results = await asyncio.gather(
                *(producer.publish(_message(i)) for i in range(publishes)),
                return_exceptions=True,
            )
            assert all(isinstance(r, BrokerUnavailableError) for r in results), results
            refused = proxy.refused
            if breaker_opens:  # a new publish fails at once, with no connection attempt
                with pytest.raises(BrokerUnavailableError, match="breaker open"):
                    await producer.publish(_message(publishes))
                assert proxy.refused == refused
        finally:
            await producer.close()
    return refused, [str(r) for r in results]


async def test_concurrent_publishes_make_one_schedule_of_attempts(stack: Stack) -> None:
    """The defect as found: 5 publishes, 3 attempts each, made 15 attempts; now 3."""
    broker = stack.settings.broker.model_copy(
        update={"reconnect_initial_s": 0.05, "reconnect_max_attempts": 3}
    )
    refused, errors = await _outage(stack, broker, publishes=5, breaker_opens=False)
    assert refused == broker.reconnect_max_attempts
    assert all("after 3 attempts" in e for e in errors), errors


async def test_an_open_breaker_stops_the_round_and_fails_its_waiters_fast(stack: Stack) -> None:
    broker = stack.settings.broker.model_copy(
        update={"reconnect_initial_s": 0.05, "reconnect_max_attempts": 10, "breaker_threshold": 2}
    )
    refused, errors = await _outage(stack, broker, publishes=50, breaker_opens=True)
    assert refused == broker.breaker_threshold  # the round stopped when the breaker opened
    assert all("circuit breaker open" in e for e in errors), errors[:3]
