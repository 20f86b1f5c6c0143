"""(e) of the pipeline bench: submissions per second, ``api`` (relay in process) vs bare.

Both servers run as their own process on the same embedded Postgres (the ``up`` run's data
dir, with ``up`` stopped, so no worker competes) and the same RabbitMQ vhost; one at a time,
each started fresh for its round and stopped after it. One async client (``httpx``, a pool
of ``concurrency`` connections) posts ``count`` distinct summarize jobs to each. Our round
ends when the last answer arrives; how long the in-process relay then needed to publish
the rest of the outbox is reported beside it (``relay_drain_s``). The bare server's outbox
rows are marked sent after its round, so no relay ever publishes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from _stack import Stack

from support import up

BENCH = Path(__file__).resolve().parent
MARK_BARE_SENT = text(
    "UPDATE ml_outbox SET sent_at = now() WHERE sent_at IS NULL"
    " AND job_id IN (SELECT id FROM ml_jobs WHERE tenant_id = 'bare')"
)
TEXT = " ".join(["The council approved the plan for the new tram line after a long debate."] * 12)


@contextlib.contextmanager
def server(
    argv: list[str], env: dict[str, str], port: int, log: Path, ready: str = "/openapi.json"
) -> Iterator[str]:
    """Start a server process, wait until ``ready`` answers 200, SIGTERM it after."""
    with log.open("ab") as out:
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            assert proc.poll() is None, log.read_text()[-2000:]
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{base}{ready}", timeout=10).status_code == 200:
                    break
            assert time.monotonic() < deadline, "server never answered"
            time.sleep(0.3)
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


async def drive(
    base: str, key: str | None, tag: str, count: int, concurrency: int
) -> dict[str, Any]:
    """``count`` POSTs, ``concurrency`` in flight; requests per second and latency p50/p99."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    # Idle connections expire on the client before uvicorn's keep-alive timeout (5 s) closes
    # them: at equal timeouts a request sent on a connection the server is closing failed
    # with ReadError (2 of 3,000 in one round), never reaching the server.
    limits = httpx.Limits(
        max_connections=concurrency, max_keepalive_connections=concurrency, keepalive_expiry=2.0
    )
    latencies: list[float] = []
    failures: list[str] = []  # transport errors: when, and what
    errors = 0
    todo = iter(range(count))
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=120) as c:

        async def worker() -> None:
            nonlocal errors
            for i in todo:
                body = {"share_id": f"{tag}-{i}", "task": "summarize", "input": {"text": TEXT}}
                t0 = time.perf_counter()
                try:
                    resp = await c.post("/api/ml/jobs", json=body)
                except httpx.TransportError as exc:  # counted, and the round goes on
                    errors += 1
                    failures.append(f"{time.perf_counter() - started:.1f}s {exc!r}")
                    continue
                latencies.append(time.perf_counter() - t0)
                errors += resp.status_code != 202

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    ms = np.asarray(latencies) * 1000
    return {"rps": count / elapsed, "p50_ms": float(np.percentile(ms, 50)),
            "p99_ms": float(np.percentile(ms, 99)), "errors": errors,
            "transport_errors": failures[:5]}  # fmt: skip


def ours(stack: Stack, tag: str, count: int, concurrency: int) -> dict[str, Any]:
    port = up.free_port()
    env = {**stack.env, "BOOKMARKAI_ML_API__PORT": str(port)}
    argv = [sys.executable, "-m", "bookmarkai_ml.cli", "api"]
    # Ours takes traffic once /readyz says so, as behind a load balancer: its relay's
    # producer may still be connecting when the routes already answer.
    with server(argv, env, port, stack.log.with_name("api-submit.log"), "/readyz") as base:
        figures = asyncio.run(drive(base, stack.key, tag, count, concurrency))
        done = time.perf_counter()
        while stack.scalar("SELECT count(*) FROM ml_outbox WHERE sent_at IS NULL") and (
            time.perf_counter() - done < 120
        ):
            time.sleep(0.1)
        figures["relay_drain_s"] = time.perf_counter() - done
    return figures


def bare(stack: Stack, tag: str, count: int, concurrency: int) -> dict[str, Any]:
    port = up.free_port()
    argv = [sys.executable, str(BENCH / "_bare_api.py"), str(port)]
    with server(argv, stack.env, port, stack.log.with_name("bare-submit.log")) as base:
        figures = asyncio.run(drive(base, None, tag, count, concurrency))
    with stack.engine.begin() as conn:
        conn.execute(MARK_BARE_SENT)
    return figures
