"""Celery end-to-end no-op throughput vs a bare aio-pika consume-and-ack loop.

Both sides consume the same protocol-v2 messages, queued beforehand by our producer,
from the same quorum queue with the same prefetch. Ours is a Celery worker built from our one
Celery configuration (acks late, prefork, prefetch 8 x concurrency 2, max-tasks-per-child
50) running a no-op task; the baseline is aio-pika with
``prefetch_count = 16`` acking each message. Throughput = messages / (first message
handled -> last message handled). ``ratio`` uses the shipped defaults (prefork x2,
max-tasks-per-child 50); ``ratio_threads_pool`` the same settings on the threads pool. Each
side runs ``ROUNDS`` times, interleaved, and its best round counts: on a shared machine other
work only ever slows a round (single rounds of this length varied by 1.7x). Last line: one
JSON object with ``ratio`` (informational: for tasks that run for seconds, the pipeline
bench's ratios are what count), the median and spread of each side next to its best, and
``cpu_ratio``: the bare loop's CPU per message ÷ the Celery worker tree's (parent and
pool children, sampled when the first and the last task mark appear).
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import tempfile
import time
from pathlib import Path

import aio_pika
from _broker import fresh_vhost
from _machine import (
    column,
    cpu_seconds,
    interleaved,
    machine,
    passive_threads,
    summary,
    tree_cpu_seconds,
)

from bookmarkai_ml.config import Settings
from bookmarkai_ml.messaging import protocol, topology
from bookmarkai_ml.messaging.admin import BrokerAdmin
from bookmarkai_ml.messaging.celery_app import make_celery_app
from bookmarkai_ml.messaging.producer import Producer

MESSAGES = 4_000
ROUNDS = 3
QUEUE = "ml.summarize"
MARKS = Path(tempfile.mkdtemp(prefix="bench-celery-"))
PASSIVE = passive_threads()


def _settings(url: str, pool: str | None = None) -> Settings:
    settings = Settings(broker_url=url, environment="test", _env_file=None)  # type: ignore[call-arg]
    if pool is not None:
        worker = settings.worker.model_copy(update={"pool": pool})
        settings = settings.model_copy(update={"worker": worker})
    return settings


def _run_worker(url: str, pool: str | None) -> None:
    settings = _settings(url, pool)
    app = make_celery_app(settings, queues=[QUEUE])

    @app.task(name="bench.noop", acks_late=True, typing=False)
    def noop(i: int) -> None:
        if i in (0, MESSAGES - 1):
            (MARKS / str(i)).write_text(repr(time.time()))

    app.worker_main(
        [
            "worker",
            "--queues",
            QUEUE,
            "--loglevel",
            "WARNING",
            "--concurrency",
            str(settings.worker.concurrency),
            "--pool",
            settings.worker.pool,
            "--without-mingle",
            "--without-gossip",
            "--without-heartbeat",
        ]
    )


async def _fill(url: str) -> None:
    """Queue every message before the consumer starts, so only consuming is timed."""
    async with BrokerAdmin.from_settings(_settings(url)) as admin:
        await admin.purge([QUEUE])
    async with Producer.from_settings(_settings(url)) as producer:
        await asyncio.gather(
            *(
                producer.publish(
                    protocol.encode(
                        task_name="bench.noop",
                        kwargs={"i": i},
                        routing_key=QUEUE,
                        exchange=topology.TASK_EXCHANGE,
                    )
                )
                for i in range(MESSAGES)
            )
        )


def celery_rate(url: str, pool: str | None = None) -> dict[str, float]:
    """First task started -> last task run, in a worker of our configuration; CPU of the
    worker and its pool between the two marks, per message (sampled as each mark appears)."""
    asyncio.run(_fill(url))
    for mark in MARKS.iterdir():
        mark.unlink()
    worker = multiprocessing.get_context("fork").Process(target=_run_worker, args=(url, pool))
    worker.start()
    first_mark, last = MARKS / "0", MARKS / str(MESSAGES - 1)
    deadline = time.monotonic() + 240
    cpu_first = None
    while not last.exists() and time.monotonic() < deadline:
        if cpu_first is None and first_mark.exists() and worker.pid:
            cpu_first = tree_cpu_seconds([worker.pid])
        time.sleep(0.02)
    cpu = tree_cpu_seconds([worker.pid]) - (cpu_first or 0.0) if worker.pid else 0.0
    if worker.pid:
        os.kill(worker.pid, 15)
    worker.join(30)
    first = float(first_mark.read_text())
    rate = (MESSAGES - 1) / (float(last.read_text()) - first)
    return {"msgs_per_s": rate, "cpu_ms_per_msg": cpu * 1000 / (MESSAGES - 1)}


def bare_side(url: str) -> dict[str, float]:
    asyncio.run(_fill(url))
    cpu = cpu_seconds()
    rate = asyncio.run(bare_rate(url, fill=False))
    return {"msgs_per_s": rate, "cpu_ms_per_msg": (cpu_seconds() - cpu) * 1000 / MESSAGES}


async def bare_rate(url: str, *, fill: bool = True) -> float:
    """First message received -> last message acked, aio-pika with the same prefetch."""
    if fill:
        await _fill(url)
    settings = _settings(url)
    prefetch = settings.worker.prefetch_multiplier * settings.worker.concurrency
    handled = 0
    first = 0.0
    finished = asyncio.Event()
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=prefetch)
        queue = await channel.get_queue(QUEUE, ensure=False)

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            nonlocal handled, first
            if handled == 0:
                first = time.time()
            json.loads(message.body)  # decode like a worker would
            await message.ack()
            handled += 1
            if handled == MESSAGES:
                finished.set()

        await queue.consume(on_message)
        await finished.wait()
        return (MESSAGES - 1) / (time.time() - first)


async def setup(url: str) -> None:
    async with BrokerAdmin.from_settings(_settings(url)) as admin:
        await admin.declare_topology()


def main(url: str, rounds: int = ROUNDS) -> dict[str, object]:
    asyncio.run(setup(url))
    # Interleaved, the first side alternating; the best of each, as other load only slows.
    # "threads": the same configuration on Celery's threads pool: what prefork's per-task
    # IPC (parent -> child pipe -> parent, then the ack) costs a no-op task here.
    runs = interleaved(rounds, {
        "base": lambda _r: bare_side(url),
        "prefork": lambda _r: celery_rate(url),
        "threads": lambda _r: celery_rate(url, pool="threads"),
    })  # fmt: skip
    rates = {side: column(rows, "msgs_per_s") for side, rows in runs.items()}
    cpu = {side: min(column(rows, "cpu_ms_per_msg")) for side, rows in runs.items()}
    best = {side: max(values) for side, values in rates.items()}
    settings = _settings(url)
    return {
        "bench": "celery_roundtrip",
        "ratio": round(best["prefork"] / best["base"], 3),
        "ours_msgs_per_s": round(best["prefork"]),
        "baseline_msgs_per_s": round(best["base"]),
        "ratio_threads_pool": round(best["threads"] / best["base"], 3),
        "max_tasks_per_child": settings.worker.max_tasks_per_child,
        "messages": MESSAGES,
        "rounds": rounds,
        "prefetch": settings.worker.prefetch_multiplier * settings.worker.concurrency,
        "pool": f"{settings.worker.pool}x{settings.worker.concurrency}",
        "msgs_per_s_spread": {side: summary(values, digits=0) for side, values in rates.items()},
        "cpu_ratio": round(cpu["base"] / cpu["prefork"], 3),  # like ratio: > 1 is cheaper
        "cpu_ratio_threads_pool": round(cpu["base"] / cpu["threads"], 3),
        "cpu_ms_per_msg": {side: round(v, 4) for side, v in cpu.items()},
        "informational": True,  # SPEC §3: the pipeline ratios are what count
        "passive_threads": PASSIVE,
        **machine(),
    }


if __name__ == "__main__":
    with fresh_vhost() as vhost_url:
        result = main(vhost_url)
    print(json.dumps(result))
