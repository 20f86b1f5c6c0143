"""Many concurrent submissions through a real uvicorn: every one answered, none lost.

With more requests in flight than the database pool has connections, the API used to
deadlock: every worker thread waited in another request's authentication for a
connection, while the requests holding the connections waited for a thread to
serialize their answers; nothing moved until the pool timeout, then 500s. The in-flight
limit (``api.max_in_flight``) admits no more requests than the pool serves.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from sqlalchemy import Engine

from bookmarkai_ml.api import create_app
from bookmarkai_ml.config import Settings
from support.api import MakeKey, bearer, counts
from support.harness import free_port

pytestmark = pytest.mark.integration

REQUESTS = 300


def _serve(settings: Settings, engine: Engine) -> Iterator[str]:
    app = create_app(settings, engine=engine, background=[])
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="uvicorn-in-flight", daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture
def served(api_settings: Settings, clean_db: Engine) -> Iterator[str]:
    roomy = api_settings.api.model_copy(update={"rate_limit_burst": 100_000})
    yield from _serve(api_settings.model_copy(update={"api": roomy}), clean_db)


async def _burst(base: str, headers: dict[str, str], n: int) -> list[int]:
    limits = httpx.Limits(max_connections=n)
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as client:

        async def one(i: int) -> int:
            body = {"share_id": f"s{i}", "task": "summarize", "input": {"text": f"text {i}"}}
            return (await client.post("/api/ml/jobs", json=body, headers=headers)).status_code

        return list(await asyncio.gather(*(one(i) for i in range(n))))


def test_many_concurrent_submissions_are_all_accepted(
    served: str, make_key: MakeKey, clean_db: Engine
) -> None:
    codes = asyncio.run(_burst(served, bearer(make_key()), REQUESTS))
    assert Counter(codes) == {202: REQUESTS}
    assert counts(clean_db) == (REQUESTS, REQUESTS)  # one job and one task row each


def test_a_request_that_waits_too_long_for_a_slot_is_told_to_retry(
    api_settings: Settings, clean_db: Engine, make_key: MakeKey
) -> None:
    api = api_settings.api.model_copy(
        update={"rate_limit_burst": 100_000, "max_in_flight": 1, "in_flight_wait_s": 0.001}
    )
    for base in _serve(api_settings.model_copy(update={"api": api}), clean_db):
        codes = asyncio.run(_burst(base, bearer(make_key()), 40))
        assert set(codes) <= {202, 503}
        assert codes.count(202) >= 1
        assert codes.count(503) >= 1  # 40 at once through one slot with no time to wait
        health = httpx.get(f"{base}/healthz")  # never held back
        assert health.status_code == 200
