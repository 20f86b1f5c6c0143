"""Celery end-to-end no-op throughput vs a bare aio-pika consume-and-ack loop (SPEC §3).

Both sides consume the same protocol-v2 messages, published by our producer, from the
same quorum queue with the same prefetch. Ours is a Celery worker built from our one
Celery configuration (acks late, prefork, seed prefetch 8 x concurrency 2, seed
max-tasks-per-child 50) running a no-op task; the baseline is aio-pika with
``prefetch_count = 16`` acking each message. Throughput = messages / (first publish ->
last message handled). ``ratio`` uses the shipped defaults (seed max-tasks-per-child
50); ``ratio_without_child_recycling`` the same worker without recycling. Last line:
one JSON object with ``ratio``.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

import aio_pika

sys.path.insert(0, str(Path(__file__).parent))
from _broker import fresh_vhost

from bookmarkai_ml.config import Settings
from bookmarkai_ml.messaging import protocol, topology
from bookmarkai_ml.messaging.celery_app import make_celery_app
from bookmarkai_ml.messaging.producer import Producer

MESSAGES = 4_000
QUEUE = "ml.summarize"
DONE = Path(tempfile.mkdtemp(prefix="bench-celery-")) / "done"


def _settings(url: str, max_tasks_per_child: int | None = None) -> Settings:
    settings = Settings(broker_url=url, environment="test", _env_file=None)  # type: ignore[call-arg]
    if max_tasks_per_child is not None:
        worker = settings.worker.model_copy(update={"max_tasks_per_child": max_tasks_per_child})
        settings = settings.model_copy(update={"worker": worker})
    return settings


def _run_worker(url: str, max_tasks_per_child: int | None) -> None:
    settings = _settings(url, max_tasks_per_child)
    app = make_celery_app(settings, queues=[QUEUE])

    @app.task(name="bench.noop", acks_late=True, typing=False)
    def noop(i: int) -> None:
        if i == MESSAGES - 1:
            DONE.write_text("done")

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


async def _publish_all(producer: Producer, task_name: str) -> None:
    await asyncio.gather(
        *(
            producer.publish(
                protocol.encode(
                    task_name=task_name,
                    kwargs={"i": i},
                    routing_key=QUEUE,
                    exchange=topology.TASK_EXCHANGE,
                )
            )
            for i in range(MESSAGES)
        )
    )


async def _consumers(producer: Producer) -> int:
    channel = await producer._ensure_channel()
    queue = await channel.declare_queue(QUEUE, passive=True)
    return int(queue.declaration_result.consumer_count or 0)


async def celery_rate(url: str, max_tasks_per_child: int | None = None) -> float:
    DONE.unlink(missing_ok=True)
    worker = multiprocessing.get_context("fork").Process(
        target=_run_worker, args=(url, max_tasks_per_child)
    )
    worker.start()
    async with Producer.from_settings(_settings(url)) as producer:
        while await _consumers(producer) < 1:
            await asyncio.sleep(0.2)
        started = time.perf_counter()
        await _publish_all(producer, "bench.noop")
        while not DONE.exists():
            await asyncio.sleep(0.01)
        elapsed = time.perf_counter() - started
    if worker.pid:
        os.kill(worker.pid, 15)
    worker.join(30)
    return MESSAGES / elapsed


async def bare_rate(url: str) -> float:
    settings = _settings(url)
    prefetch = settings.worker.prefetch_multiplier * settings.worker.concurrency
    handled = 0
    finished = asyncio.Event()
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=prefetch)
        queue = await channel.get_queue(QUEUE, ensure=False)

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            nonlocal handled
            json.loads(message.body)  # decode like a worker would
            await message.ack()
            handled += 1
            if handled == MESSAGES:
                finished.set()

        await queue.consume(on_message)
        async with Producer.from_settings(settings) as producer:
            started = time.perf_counter()
            await _publish_all(producer, "bench.noop")
            await finished.wait()
            return MESSAGES / (time.perf_counter() - started)


async def setup(url: str) -> None:
    async with Producer.from_settings(_settings(url)) as producer:
        await producer.declare_topology()


def main(url: str) -> dict[str, object]:
    asyncio.run(setup(url))
    base = asyncio.run(bare_rate(url))
    mine = asyncio.run(celery_rate(url))
    # The seed's max_tasks_per_child=50 respawns each child every 50 no-op tasks; this
    # figure shows Celery's own overhead without that (ML tasks take seconds each,
    # so there a respawn per 50 tasks costs next to nothing).
    unrecycled = asyncio.run(celery_rate(url, max_tasks_per_child=1_000_000))
    settings = _settings(url)
    return {
        "bench": "celery_roundtrip",
        "ratio": round(mine / base, 3),
        "ours_msgs_per_s": round(mine),
        "baseline_msgs_per_s": round(base),
        "ratio_without_child_recycling": round(unrecycled / base, 3),
        "max_tasks_per_child": settings.worker.max_tasks_per_child,
        "messages": MESSAGES,
        "prefetch": settings.worker.prefetch_multiplier * settings.worker.concurrency,
        "pool": f"{settings.worker.pool}x{settings.worker.concurrency}",
    }


if __name__ == "__main__":
    with fresh_vhost() as vhost_url:
        result = main(vhost_url)
    print(json.dumps(result))
