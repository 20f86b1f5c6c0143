"""Faults that must cost nothing, on a private RabbitMQ node this module may restart."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bookmarkai_ml.config import Settings
from bookmarkai_ml.contracts import SummarizeTask
from bookmarkai_ml.db.engine import SessionFactory, transaction
from bookmarkai_ml.errors import BrokerUnavailableError, QueueNotFoundError
from bookmarkai_ml.messaging import protocol, topology
from bookmarkai_ml.messaging.admin import BrokerAdmin
from bookmarkai_ml.messaging.hooks import ConnectionState, NullHooks
from bookmarkai_ml.messaging.producer import Producer
from bookmarkai_ml.services import jobs
from support.harness import PrivateBroker, Stack, make_stack, purge

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def private_stack(
    clean_db: Engine,
    sessions: SessionFactory,
    pg_url: str,
    private_broker: PrivateBroker,
    tmp_path: Path,
) -> Iterator[Stack]:
    s = make_stack(
        engine=clean_db,
        sessions=sessions,
        pg_url=pg_url,
        broker_url=private_broker.url,
        tmp=tmp_path,
        # Long leases: under this load a 4 s lease could expire mid-task. Children are
        # recycled less often than the default 50 so the 5000 jobs fit the time budget.
        extra={
            "BOOKMARKAI_ML_WORKER__LEASE_S": "30",
            "BOOKMARKAI_ML_WORKER__MAX_TASKS_PER_CHILD": "1000",
        },
    )
    purge(s.settings)
    yield s
    s.stop_all()


def _submit_batches(stack: Stack, total: int, batch: int, *, pause_at: int, hook: object) -> None:
    done = 0
    while done < total:
        with transaction(stack.sessions) as session:
            for i in range(done, min(total, done + batch)):
                jobs.submit(session, SummarizeTask(share_id=f"s{i}", content=f"ok {i}"))
        done = min(total, done + batch)
        if done == pause_at:
            hook()  # type: ignore[operator]


def test_5000_jobs_survive_a_broker_restart_mid_stream(
    private_stack: Stack, private_broker: PrivateBroker
) -> None:
    stack = private_stack
    stack.start_relay()
    stack.start_worker(concurrency=2)
    restarted = threading.Event()

    def restart_broker() -> None:
        # Stop while jobs keep being submitted; the relay and workers must ride it out.
        private_broker.stop_app()

        def later() -> None:
            time.sleep(4)
            private_broker.start_app()
            restarted.set()

        threading.Thread(target=later, daemon=True).start()

    _submit_batches(stack, 5000, 250, pause_at=1500, hook=restart_broker)
    assert restarted.wait(120)
    stack.wait_for(
        lambda: stack.scalar("SELECT count(*) FROM ml_jobs WHERE status = 'done'") == 5000,
        timeout=400,
        what="5000 jobs done",
    )
    assert stack.scalar("SELECT count(*) FROM ml_jobs") == 5000
    assert stack.scalar("SELECT count(*) FROM ml_results") == 5000
    assert stack.scalar("SELECT count(*) FROM ml_costs") == 5000
    assert stack.scalar("SELECT count(*) FROM ml_outbox WHERE sent_at IS NULL") == 0
    # Each handler run is for a distinct job or a re-run after a lost ack; never two results.
    assert len(set(stack.runs())) == 5000


def test_relay_killed_between_commit_and_publish(
    private_stack: Stack, private_broker: PrivateBroker
) -> None:
    stack = private_stack
    env = {**stack.env, "BOOKMARKAI_ML_OUTBOX__BATCH_SIZE": "10"}
    _submit_batches(stack, 400, 100, pause_at=-1, hook=None)  # committed, nothing published
    # The queue takes 100 messages and refuses the rest (x-overflow reject-publish), so
    # the relay is stopped mid-stream, rows sent and rows not, whatever its speed.
    cap = '{"max-length": 100}'
    private_broker.ctl("set_policy", "cap", r"^ml\.summarize$", cap, "--apply-to", "queues")
    try:
        relay = stack.start_relay(env=env)
        sent = "SELECT count(*) FROM ml_outbox WHERE sent_at IS NOT NULL"
        stack.wait_for(
            lambda: stack.scalar(sent) >= 100,
            timeout=60,
            what="the relay to fill the capped queue",
        )
        stack.stop(relay, signal.SIGKILL)
    finally:
        private_broker.ctl("clear_policy", "cap")
    assert stack.scalar("SELECT count(*) FROM ml_outbox WHERE sent_at IS NULL") > 0
    stack.start_worker(concurrency=2)
    stack.start_relay(env=env)
    stack.wait_for(
        lambda: stack.scalar("SELECT count(*) FROM ml_jobs WHERE status = 'done'") == 400,
        timeout=180,
        what="400 jobs done",
    )
    assert stack.scalar("SELECT count(*) FROM ml_results") == 400
    assert stack.scalar("SELECT count(*) FROM ml_costs") == 400


class _Recorder(NullHooks):
    def __init__(self) -> None:
        self.states: list[ConnectionState] = []
        self.reconnects = 0
        self.timeouts = 0
        self.health_failures = 0

    def connection_state(self, state: ConnectionState) -> None:
        self.states.append(state)

    def reconnected(self) -> None:
        self.reconnects += 1

    def confirm_timeout(self) -> None:
        self.timeouts += 1

    def health_check_failed(self) -> None:
        self.health_failures += 1


def _message(i: int) -> protocol.OutgoingMessage:
    return protocol.encode(
        task_name="summarize_content",
        kwargs={"share_id": f"p{i}", "content": "x"},
        routing_key="ml.summarize",
        exchange=topology.TASK_EXCHANGE,
    )


async def test_producer_reconnects_after_restart_and_fails_fast_when_blocked(
    private_broker: PrivateBroker, private_stack: Stack
) -> None:
    hooks = _Recorder()
    broker = private_stack.settings.broker.model_copy(
        update={
            "reconnect_initial_s": 0.1,
            "reconnect_max_s": 0.5,
            "reconnect_max_attempts": 3,
            "confirm_timeout_s": 1.0,
            "breaker_threshold": 100,
        }
    )
    producer = Producer(url=private_broker.url, broker=broker, hooks=hooks)
    await producer.start(health_check=False)
    try:
        await producer.publish(_message(1))
        await producer.health_check()  # passive declare on a healthy broker
        await asyncio.to_thread(private_broker.stop_app)
        with pytest.raises(BrokerUnavailableError, match="health check"):
            await producer.health_check()
        assert hooks.health_failures == 1
        with pytest.raises(BrokerUnavailableError):
            await producer.publish(_message(2))
        with pytest.raises(BrokerUnavailableError):  # reconnect attempts run out: ALERT
            await producer.publish(_message(3))
        assert producer.state is ConnectionState.ALERT
        await asyncio.to_thread(private_broker.start_app)
        await producer.publish(_message(4))  # a new round of reconnects succeeds
        assert hooks.reconnects >= 1
        assert producer.state is ConnectionState.UP

        # A memory alarm makes RabbitMQ block publishers (connection.blocked).
        await asyncio.to_thread(private_broker.ctl, "set_vm_memory_high_watermark", "absolute", "1")
        try:
            with pytest.raises(BrokerUnavailableError):
                await producer.publish(_message(5))  # blocked mid-publish: confirm timeout
            timeouts = hooks.timeouts
            with pytest.raises(BrokerUnavailableError, match="blocked"):
                await producer.publish(_message(6))  # detected: fails at once
            assert hooks.timeouts == timeouts  # without waiting for a confirm
            assert ConnectionState.BLOCKED in hooks.states
            # Flow control is not a failing broker: fast failures, however many, do not
            # feed the breaker, so publishing resumes as soon as the alarm clears.
            failures = producer.breaker.consecutive_failures
            for n in range(12):
                with pytest.raises(BrokerUnavailableError, match="blocked"):
                    await producer.publish(_message(100 + n))
            assert producer.breaker.consecutive_failures == failures
        finally:
            await asyncio.to_thread(private_broker.ctl, "set_vm_memory_high_watermark", "0.6")
        await asyncio.sleep(1)
        await producer.publish(_message(7))
    finally:
        await producer.close()


async def test_a_failed_inspection_leaves_publishing_alone(
    settings: Settings, empty_vhost_url: str
) -> None:
    """A passive declare of a missing queue fails on the admin's channel, mid-publish."""
    hooks = _Recorder()
    settings = settings.model_copy(update={"broker_url": empty_vhost_url})
    async with (
        Producer.from_settings(settings, hooks=hooks) as producer,
        BrokerAdmin.from_settings(settings) as admin,
    ):
        await admin.declare_topology()
        results = await asyncio.gather(
            admin.queue_depths(["ml.no-such-queue"]),
            *(producer.publish(_message(i)) for i in range(20)),
            return_exceptions=True,
        )
        assert isinstance(results[0], QueueNotFoundError)
        assert results[1:] == [None] * 20
        assert hooks.reconnects == 0
        assert await admin.queue_depths(["ml.summarize"]) == {"ml.summarize": 20}
