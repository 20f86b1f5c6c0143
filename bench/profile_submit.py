"""Where a submission's time goes: each step of ``POST /api/ml/jobs`` timed alone, and a
cProfile of the whole request, in one process on an embedded Postgres.

    python bench/profile_submit.py [--requests 400] [--top 25]

Steps, each run ``--requests`` times one after the other (no concurrency, so each figure
is that step's own latency): a pooled connection's checkout (``pool_pre_ping``), the API
key check (``services.apikeys.verify`` in its own transaction, as ``api.auth`` runs it),
the submission transaction (``api.submission.submit``: planning, idempotency key, job and
outbox rows, the NOTIFY trigger, commit), the bare endpoint's two inserts, and the whole
request through the ASGI app in process (``httpx.ASGITransport``: middleware, auth, rate
limit, validation, route, problem mapping; no uvicorn, no relay). The profile is of
the whole request, sorted by cumulative time. Last line: one JSON object (milliseconds).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import json
import pstats
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio.to_thread
import httpx
import numpy as np
from _machine import machine, summary
from sqlalchemy import text

from bookmarkai_ml import bootstrap
from bookmarkai_ml.api.app import create_app
from bookmarkai_ml.api.schemas.jobs import JobCreate
from bookmarkai_ml.api.submission import JOB_CREATE, submit
from bookmarkai_ml.config import Settings
from bookmarkai_ml.contracts import TASKS
from bookmarkai_ml.db import migrate
from bookmarkai_ml.db.embedded import stop_embedded
from bookmarkai_ml.db.engine import transaction
from bookmarkai_ml.db.models import Job, JobStatus, OutboxRow
from bookmarkai_ml.services import apikeys

TEXT = " ".join(["The council approved the plan for the new tram line after a long debate."] * 12)


@contextlib.contextmanager
def inline_threadpool() -> Iterator[None]:
    """Run what FastAPI sends to its thread pool in the event loop's thread instead, so one
    cProfile sees a whole request (profiling only: it serialises requests)."""
    real = anyio.to_thread.run_sync

    async def inline(func: Callable[..., object], *args: object, **_: object) -> object:
        return func(*args)

    anyio.to_thread.run_sync = inline  # type: ignore[assignment]
    try:
        yield
    finally:
        anyio.to_thread.run_sync = real


def timed(fn: Callable[[int], object], count: int) -> list[float]:
    out = []
    for i in range(count):
        t0 = time.perf_counter()
        fn(i)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-submit-") as tmp:
        settings = Settings(data_dir=Path(tmp) / "data", environment="test", _env_file=None)  # type: ignore[call-arg]
        try:
            run(settings, args.requests, args.top)
        finally:
            stop_embedded(settings.data_dir)


def run(settings: Settings, count: int, top: int) -> None:
    db = bootstrap.database(settings)
    migrate.upgrade(db.engine)
    with transaction(db.sessions) as session:
        key = apikeys.create(
            session, tenant_id="t", name="bench", pepper=settings.secret_key,
            rate_limit_per_minute=10_000_000,
        ).key  # fmt: skip
    spec = TASKS.spec("summarize")

    def body(tag: str, i: int) -> dict[str, object]:
        return {"share_id": f"{tag}-{i}", "task": "summarize", "input": {"text": TEXT}}

    def checkout(_i: int) -> None:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def verify(_i: int) -> None:
        with transaction(db.sessions) as session:
            apikeys.verify(session, key, pepper=settings.secret_key)

    def ours(i: int) -> None:
        parsed: JobCreate = JOB_CREATE.validate_python(body("ours", i))
        with transaction(db.sessions) as session:
            submit(session, parsed, tenant_id="t", traceparent=None)

    def bare(i: int) -> None:
        job_id = uuid.uuid4()
        payload = {"share_id": f"bare-{i}", "content": TEXT}
        with db.sessions.begin() as session:
            session.add(Job(id=job_id, tenant_id="bare", share_id=f"bare-{i}", task="summarize",
                            status=JobStatus.QUEUED, idempotency_key=uuid.uuid4().hex,
                            payload=payload, then=[]))  # fmt: skip
            session.flush()
            row = OutboxRow(job_id=job_id, routing_key=spec.queue, task_name=spec.celery_name,
                            kwargs=payload, headers={})  # fmt: skip
            session.add(row)

    app = create_app(settings, engine=db.engine, background=[])

    async def requests(tag: str, n: int, profile: cProfile.Profile | None) -> list[float]:
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {key}"}
        out = []
        async with httpx.AsyncClient(
            transport=transport, base_url="http://t", headers=headers
        ) as c:
            for i in range(n):
                t0 = time.perf_counter()
                if profile:
                    profile.enable()
                resp = await c.post("/api/ml/jobs", json=body(tag, i))
                if profile:
                    profile.disable()
                out.append((time.perf_counter() - t0) * 1000)
                assert resp.status_code == 202, resp.text
        return out

    for fn in (checkout, verify, ours, bare):  # warm every path once
        fn(-1)
    asyncio.run(requests("warm", 5, None))
    steps = {
        "checkout_ping": timed(checkout, count),
        "api_key_verify": timed(verify, count),
        "submit_transaction": timed(ours, count),
        "bare_two_inserts": timed(bare, count),
        "asgi_request": asyncio.run(requests("asgi", count, None)),
    }
    profile = cProfile.Profile()
    with inline_threadpool():  # so the profile sees the sync dependencies and the route
        asyncio.run(requests("prof", count, profile))
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats(order).print_stats(top)
        print(out.getvalue(), file=sys.stderr)
    report = {
        "bench": "profile_submit",
        "ms": {
            k: summary(v, best="min", digits=3) | {"p50": round(float(np.median(v)), 3)}
            for k, v in steps.items()
        },
        "requests": count,
        **machine(),
    }
    db.close()
    print(json.dumps(report))


if __name__ == "__main__":
    main()
