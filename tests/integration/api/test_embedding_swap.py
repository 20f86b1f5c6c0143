"""A reprocess swaps a share's vectors atomically: concurrent searches (real pgvector,
another thread) see exactly the old set or exactly the new one, never a mix or none.

Each generation's text carries its marker (``genN``) in every sentence and has its own
chunk count, so a mix shows as two markers or two job ids, and a half-written set as a
count that matches neither. The vectors are written by the embed job's finish
(``db/jobs/runs.py``), in the transaction that marks the job done.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text

from bookmarkai_ml.config import Settings
from bookmarkai_ml.contracts import TaskType, decode_task
from bookmarkai_ml.db.embeddings import SearchFilters
from bookmarkai_ml.db.engine import SessionFactory, transaction
from bookmarkai_ml.domain.chunking import ChunkPolicy
from bookmarkai_ml.domain.pricing import price_table
from bookmarkai_ml.fakes import FakeEmbedder
from bookmarkai_ml.ports import Embedder
from bookmarkai_ml.services.embedding import EmbeddingService
from bookmarkai_ml.services.search import SearchService
from bookmarkai_ml.workers.runtime import Disposition, JobRuntime
from support.api import HashEmbedder, MakeKey, bearer
from support.runtime import runtime_with

pytestmark = pytest.mark.integration

TENANT = "tenant-a"
SHARE = "swap"
ROUNDS = 10
REPROCESS = f"/api/ml/shares/{SHARE}/reprocess"
MARKER = re.compile(r"\bgen(\d+)\b")
_SETS = text(
    "SELECT job_id::text, model, count(*) FROM ml_embeddings "
    "WHERE tenant_id = :t AND share_id = :s GROUP BY job_id, model"
)


def generation_text(gen: int) -> str:
    """3 to 7 sentences, each tagged gen<gen>; a chunk policy of 12 tokens splits them."""
    return " ".join(
        f"Sentence {i} of gen{gen} talks about marker topics." for i in range(3 + gen % 5)
    )


@dataclass
class Watch:
    """What the search thread saw: violations, the job ids seen, and how many searches."""

    searches: int = 0
    violations: list[str] = field(default_factory=list)
    seen_jobs: set[str] = field(default_factory=set)
    expected: dict[str, int] = field(default_factory=dict)  # job id -> its chunk count
    cond: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, searches: int) -> None:
        with self.cond:
            ok = self.cond.wait_for(lambda: self.searches >= searches or self.violations, 60)
        assert ok, "the search thread stopped making progress"


def _watch(watch: Watch, stop: threading.Event, sessions: SessionFactory, engine: Engine) -> None:
    embedder = HashEmbedder()
    search = SearchService(embedder_for_model=lambda _m: embedder, default_model=embedder.model)
    only = SearchFilters(share_ids=[SHARE])
    while not stop.is_set():
        with transaction(sessions) as session:
            hits = search.search(
                session, "marker topics", tenant_id=TENANT, k=100, per_share=False, filters=only
            )
        gens = {m for h in hits for m in MARKER.findall(h.text)}
        with engine.connect() as conn:
            sets = conn.execute(_SETS, {"t": TENANT, "s": SHARE}).all()
        problems = []
        if len(gens) != 1:
            problems.append(f"search saw generations {sorted(gens)}")
        if len(sets) != 1:
            problems.append(f"stored sets {sets}")
        else:
            job_id, _model, n = sets[0]
            if n != watch.expected.get(job_id):
                problems.append(f"job {job_id}: {n} rows, expected {watch.expected.get(job_id)}")
        with watch.cond:
            watch.violations.extend(problems)
            if len(sets) == 1:
                watch.seen_jobs.add(sets[0][0])
            watch.searches += 1
            watch.cond.notify_all()


@pytest.fixture
def runtime(api_settings: Settings, sessions: SessionFactory) -> JobRuntime:
    hash16, other = HashEmbedder(), FakeEmbedder(dimension=24)

    def embedder_for(model: str | None, _size: int) -> Embedder:
        return other if model == other.model else hash16

    service = EmbeddingService(
        sessions=sessions,
        embedder_for=embedder_for,
        prices=price_table(api_settings.budgets),
        policy=ChunkPolicy(12, 0),
    )
    return runtime_with(api_settings, sessions, service, task=TaskType.EMBED)


def _payload(engine: Engine, job_id: str) -> dict[str, Any]:
    with engine.connect() as conn:
        row = conn.execute(text("SELECT payload FROM ml_jobs WHERE id = :id"), {"id": job_id})
        payload: dict[str, Any] = row.scalar_one()
    return payload


def _chunks(runtime: JobRuntime, payload: dict[str, Any]) -> int:
    """How many chunks the handler will store for this job's message."""
    service: EmbeddingService = runtime.handlers.get(TaskType.EMBED)  # type: ignore[assignment]
    message = decode_task(TaskType.EMBED, payload)
    return len(service.chunks(message, HashEmbedder()))  # type: ignore[arg-type]


async def test_searches_see_the_old_or_the_new_set_never_a_mix(
    client: httpx.AsyncClient,
    make_key: MakeKey,
    clean_db: Engine,
    sessions: SessionFactory,
    runtime: JobRuntime,
) -> None:
    headers = bearer(make_key(TENANT))
    for other in ("bread", "keys"):  # neighbours in the index
        body = {"share_id": other, "task": "embed", "input": {"text": f"{other} marker topics"}}
        job = (await client.post("/api/ml/jobs", json=body, headers=headers)).json()["jobs"][0]
        assert runtime.run(TaskType.EMBED, _payload(clean_db, job["id"])).disposition is (
            Disposition.DONE
        )
    watch, stop = Watch(), threading.Event()

    async def run_job(job_id: str) -> None:
        payload = _payload(clean_db, job_id)
        watch.expected[job_id] = _chunks(runtime, payload)
        report = runtime.run(TaskType.EMBED, payload)
        assert report.disposition is Disposition.DONE, report

    body = {"share_id": SHARE, "task": "embed", "input": {"text": generation_text(0)}}
    first = (await client.post("/api/ml/jobs", json=body, headers=headers)).json()["jobs"][0]
    await run_job(first["id"])
    thread = threading.Thread(target=_watch, args=(watch, stop, sessions, clean_db), daemon=True)
    thread.start()
    try:
        for gen in range(1, ROUNDS + 1):
            again = {"tasks": ["embed"], "input": {"text": generation_text(gen)}}
            resp = await client.post(REPROCESS, json=again, headers=headers)
            assert resp.status_code == 202, resp.text
            await run_job(resp.json()["jobs"][0]["id"])
            watch.wait_for(watch.searches + 2)  # searches ran after this swap too
    finally:
        stop.set()
        thread.join(timeout=60)
    assert watch.violations == []
    assert watch.searches >= 2 * ROUNDS
    assert len(watch.seen_jobs) >= ROUNDS  # the thread watched the swaps happen
    with clean_db.connect() as conn:
        (final,) = conn.execute(_SETS, {"t": TENANT, "s": SHARE}).all()
    assert final[2] == len(generation_text(ROUNDS).split(". "))

    # Another model replaces every model's vectors of the share, not only its own.
    new_model = {"tasks": ["embed"], "options": {"embed": {"model": "hashed-bow-24"}}}
    resp = await client.post(REPROCESS, json=new_model, headers=headers)
    await run_job(resp.json()["jobs"][0]["id"])
    with clean_db.connect() as conn:
        sets = conn.execute(_SETS, {"t": TENANT, "s": SHARE}).all()
    assert [(s[0], s[1]) for s in sets] == [(resp.json()["jobs"][0]["id"], "hashed-bow-24")]


async def test_an_older_job_finishing_late_does_not_undo_a_reprocess(
    client: httpx.AsyncClient, make_key: MakeKey, clean_db: Engine, runtime: JobRuntime
) -> None:
    headers = bearer(make_key(TENANT))
    body = {"share_id": SHARE, "task": "embed", "input": {"text": generation_text(1)}}
    old = (await client.post("/api/ml/jobs", json=body, headers=headers)).json()["jobs"][0]
    again = {"tasks": ["embed"], "input": {"text": generation_text(2)}}
    resp = await client.post(REPROCESS, json=again, headers=headers)
    new = resp.json()["jobs"][0]
    assert (
        runtime.run(TaskType.EMBED, _payload(clean_db, new["id"])).disposition is Disposition.DONE
    )
    assert (
        runtime.run(TaskType.EMBED, _payload(clean_db, old["id"])).disposition is Disposition.DONE
    )
    with clean_db.connect() as conn:
        sets = conn.execute(_SETS, {"t": TENANT, "s": SHARE}).all()
    assert [s[0] for s in sets] == [new["id"]]
