"""Benchmark: the whole stack through ``up`` against the models' own floor, in one run.

    python bench/pipeline.py [--articles 500] [--clips 10] [--latency-items 100]
                             [--submissions 3000] [--concurrency 64] [--rounds 3]
                             [--parts a,b,c,e] [--quick]

``up`` runs on the real services with the shipped defaults (``bench/_stack.py``): its own
embedded Postgres, a fresh vhost on the local RabbitMQ, the clips served over HTTP.

- (a) text backfill: distinct articles of 200-1,500 words as ``enrich`` over HTTP, as fast
  as the API takes them; items fully done (summary and vectors stored) per second, from the
  first job's ``created_at`` to the last ``finished_at``. Floor: the same handlers called
  directly in this process (``_workload.Floor``), one item after the other.
- (b) media backfill: spoken clips of 30-90 s (espeak-ng in .mp4) as ``enrich``; audio
  seconds per wall second. Floor: faster-whisper on the file, then summarize and embed.
- (c) latency: one 300-word text at a time on the warm stack, submit -> its embed job done
  (the vectors commit with it: searchable), polled every 5 ms; minus the floor's embed call
  for the same text, measured next to it. Also submit -> summary and vectors both stored,
  minus both direct calls in turn, and where each job's time went (``stages_ms``: relay,
  pickup, run, from the database's timestamps).
- (d) memory: PSS of every process of the ``up`` tree after (a)-(c), and the growth of the
  total between the item that brings the count to 100 and the end.
- (e) submission: ``_submission``: ``api`` with its in-process relay vs a bare FastAPI +
  SQLAlchemy endpoint doing the same two inserts, same Postgres, same uvicorn, same client.

(a), (b) and (e) run in interleaved rounds (the side that goes first alternates); each
prints the best, median and spread of its rounds. ``cpu_ratio``s are floor CPU seconds ÷
platform CPU seconds for the same items (platform: the ``up`` tree and its Postgres;
RabbitMQ is shared and left out), with this process's thread pools set not to spin.
Last line: one JSON object with the issue's keys (each ratio is platform ÷ floor, best round).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import passive_threads

PASSIVE = passive_threads()  # before any model library loads in this process

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import signal  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Any  # noqa: E402

import _submission  # noqa: E402
import _workload as work  # noqa: E402
import httpx  # noqa: E402
import numpy as np  # noqa: E402
from _broker import fresh_vhost  # noqa: E402
from _machine import (  # noqa: E402
    column,
    cpu_seconds,
    interleaved,
    machine,
    summary,
    tree_cpu_seconds,
)
from _stack import Stack, pss_report, running_up, up  # noqa: E402

from bookmarkai_ml import bootstrap  # noqa: E402
from bookmarkai_ml.config import Settings  # noqa: E402
from bookmarkai_ml.db.embedded import stop_embedded  # noqa: E402

TERMINAL = "('done', 'failed', 'cancelled', 'budget_exceeded')"


@dataclass
class Memory:
    """PSS at the ``mark``-th finished item and at the end."""

    mark: int
    done: int = 0
    at_mark: dict[str, Any] | None = None
    samples: list[float] = field(default_factory=list)

    def count(self, stack: Stack, finished: int) -> None:
        self.done = finished
        if self.at_mark is None and finished >= self.mark:
            self.at_mark = pss_report(stack)


async def _post_all(stack: Stack, bodies: list[dict[str, Any]], concurrency: int) -> list[Any]:
    headers = {"Authorization": f"Bearer {stack.key}"}
    answers: list[Any] = [None] * len(bodies)
    todo = iter(range(len(bodies)))
    async with httpx.AsyncClient(base_url=stack.base, headers=headers, timeout=300) as client:

        async def worker() -> None:
            for i in todo:
                resp = await client.post("/api/ml/jobs", json=bodies[i])
                assert resp.status_code == 202, resp.text
                answers[i] = resp.json()["jobs"]

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return answers


def backfill(
    stack: Stack, memory: Memory, bodies: list[dict[str, Any]], tag: str, jobs_per_item: int
) -> dict[str, float]:
    """Submit ``bodies`` at once; wait until every item's jobs ended. Wall seconds (first
    ``created_at`` -> last ``finished_at``), platform CPU seconds, items not done."""
    cpu0 = tree_cpu_seconds(stack.pids())
    before = memory.done
    asyncio.run(_post_all(stack, bodies, concurrency=16))
    finished_sql = (
        "SELECT count(*) FROM (SELECT share_id FROM ml_jobs WHERE share_id LIKE :p "
        f"GROUP BY share_id HAVING bool_and(status IN {TERMINAL}) AND count(*) >= :n) s"
    )
    deadline = time.monotonic() + 3600
    while (done := int(stack.scalar(finished_sql, p=f"{tag}-%", n=jobs_per_item))) < len(bodies):  # type: ignore[arg-type]
        memory.count(stack, before + done)
        assert stack.proc.poll() is None, stack.log.read_text()[-3000:]
        assert time.monotonic() < deadline, f"{done}/{len(bodies)} items after an hour"
        time.sleep(0.25)
    memory.count(stack, before + done)
    cpu = tree_cpu_seconds(stack.pids()) - cpu0
    wall = stack.scalar(
        "SELECT extract(epoch FROM max(finished_at) - min(created_at)) FROM ml_jobs "
        "WHERE share_id LIKE :p", p=f"{tag}-%",
    )  # fmt: skip
    bad = stack.scalar(
        "SELECT count(*) FROM ml_jobs WHERE share_id LIKE :p AND status <> 'done'", p=f"{tag}-%"
    )
    return {"wall_s": float(wall), "cpu_s": cpu, "not_done": float(bad)}  # type: ignore[arg-type]


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of one call."""
    cpu0, t0 = cpu_seconds(), time.perf_counter()
    fn()
    return time.perf_counter() - t0, cpu_seconds() - cpu0


def text_part(
    stack: Stack, floor: work.Floor, memory: Memory, texts: list[str], rounds: int
) -> dict[str, Any]:
    groups = np.array_split(np.arange(len(texts)), rounds)

    def platform(r: int) -> dict[str, float]:
        bodies = [{"share_id": f"text{r}-{i}", "task": "enrich", "input": {"text": texts[i]}}
                  for i in groups[r]]  # fmt: skip
        got = backfill(stack, memory, bodies, f"text{r}", jobs_per_item=2)
        return {"items_per_s": len(bodies) / got["wall_s"], "cpu_s": got["cpu_s"],
                "not_done": got["not_done"]}  # fmt: skip

    def direct(r: int) -> dict[str, float]:
        wall, cpu = timed(lambda: [floor.text(texts[i]) for i in groups[r]])
        return {"items_per_s": len(groups[r]) / wall, "cpu_s": cpu}

    runs = interleaved(rounds, {"platform": platform, "floor": direct})
    return _compare(runs, "items_per_s", items=len(texts)) | {"stages_ms": stages(stack, "text%")}


def media_part(
    stack: Stack, floor: work.Floor, memory: Memory, clips: list[work.Clip], media: str, rounds: int
) -> dict[str, Any]:
    groups = np.array_split(np.arange(len(clips)), rounds)

    def platform(r: int) -> dict[str, float]:
        bodies = [{"share_id": f"clip{r}-{i}", "task": "enrich",
                   "input": {"media_url": f"http://{media}/{clips[i].path.name}"}}
                  for i in groups[r]]  # fmt: skip
        got = backfill(stack, memory, bodies, f"clip{r}", jobs_per_item=3)
        audio = sum(clips[i].seconds for i in groups[r])
        return {"audio_s_per_s": audio / got["wall_s"], "cpu_s": got["cpu_s"],
                "not_done": got["not_done"]}  # fmt: skip

    def direct(r: int) -> dict[str, float]:
        heard: list[float] = []
        wall, cpu = timed(lambda: heard.extend(floor.media(clips[i].path) for i in groups[r]))
        return {"audio_s_per_s": sum(heard) / wall, "cpu_s": cpu}

    runs = interleaved(rounds, {"platform": platform, "floor": direct})
    return _compare(runs, "audio_s_per_s", items=len(clips)) | {"stages_ms": stages(stack, "clip%")}


def _compare(runs: dict[str, list[dict[str, float]]], key: str, *, items: int) -> dict[str, Any]:
    ours, base = column(runs["platform"], key), column(runs["floor"], key)
    ratios = [o / b for o, b in zip(ours, base, strict=True)]
    cpu = [b["cpu_s"] / o["cpu_s"] for o, b in zip(runs["platform"], runs["floor"], strict=True)]
    return {
        "ratio": round(max(ours) / max(base), 3),  # best of each side: load only slows a round
        "ratio_per_round": summary(ratios),
        "cpu_ratio": round(max(cpu), 3),
        "cpu_ratio_per_round": summary(cpu),
        f"platform_{key}": summary(ours),
        f"floor_{key}": summary(base),
        "not_done": int(sum(column(runs["platform"], "not_done"))),
        "items": items,
    }


def latency_part(stack: Stack, floor: work.Floor, memory: Memory, items: int) -> dict[str, Any]:
    """Searchable = the embed job done (its vectors commit with it); its overhead is over
    the direct embed call. Fully done (summary too) is over both direct calls in turn."""
    (text,) = work.articles(1, seed=99, words=(300, 300))
    direct: list[dict[str, float]] = []
    searchable_ms, done_ms = [], []
    with stack.client(timeout=120) as client:
        for i in range(items):
            for side in ("floor", "platform") if i % 2 == 0 else ("platform", "floor"):
                if side == "floor":
                    direct.append(floor.text(text))
                    continue
                body = {"share_id": f"lat-{i}", "task": "enrich", "input": {"text": text}}
                t0 = time.perf_counter()
                resp = client.post("/api/ml/jobs", json=body)
                assert resp.status_code == 202, resp.text
                ids = {j["task"]: j["id"] for j in resp.json()["jobs"]}
                searchable = None
                while True:
                    with stack.engine.connect() as conn:
                        rows = dict(conn.execute(_STATUS, {"ids": list(ids.values())}).all())
                    now = time.perf_counter()
                    if searchable is None and rows.get(ids["embed"]) in _ENDED:
                        searchable = now
                    if all(s in _ENDED for s in rows.values()):
                        break
                    time.sleep(0.005)
                searchable_ms.append((searchable - t0) * 1000)  # type: ignore[operator]
                done_ms.append((now - t0) * 1000)
            memory.count(stack, memory.done + 1)
    embed_ms = np.asarray([d["embed"] for d in direct]) * 1000
    both_ms = embed_ms + np.asarray([d["summarize"] for d in direct]) * 1000
    overhead = np.asarray(searchable_ms) - embed_ms
    pct = lambda xs, q: round(float(np.percentile(xs, q)), 1)  # noqa: E731
    return {
        "overhead_p50_ms": pct(overhead, 50),
        "overhead_p99_ms": pct(overhead, 99),
        "fully_done_overhead_ms": {
            "p50": pct(np.asarray(done_ms) - both_ms, 50),
            "p99": pct(np.asarray(done_ms) - both_ms, 99),
        },
        "searchable_ms": {"p50": pct(searchable_ms, 50), "p99": pct(searchable_ms, 99)},
        "fully_done_ms": {"p50": pct(done_ms, 50), "p99": pct(done_ms, 99)},
        "floor_embed_ms": {"p50": pct(embed_ms, 50), "p99": pct(embed_ms, 99)},
        "floor_both_ms": {"p50": pct(both_ms, 50), "p99": pct(both_ms, 99)},
        "stages_ms": stages(stack, "lat-%"),
        "items": items,
    }


def stages(stack: Stack, pattern: str) -> dict[str, dict[str, float]]:
    """Where a job's time went, per task, from the database's timestamps (medians, ms):
    submit -> outbox row sent (relay), sent -> started (queue, prefetch, pool pipe, claim),
    started -> finished (handler and the finishing transaction)."""
    from sqlalchemy import text

    sql = text(
        "SELECT j.task,"
        " percentile_cont(0.5) WITHIN GROUP (ORDER BY o.sent_at - j.created_at),"
        " percentile_cont(0.5) WITHIN GROUP (ORDER BY j.started_at - o.sent_at),"
        " percentile_cont(0.5) WITHIN GROUP (ORDER BY j.finished_at - j.started_at)"
        " FROM ml_jobs j JOIN ml_outbox o ON o.job_id = j.id AND o.kind = 'task'"
        " WHERE j.share_id LIKE :p GROUP BY j.task"
    )
    with stack.engine.connect() as conn:
        rows = conn.execute(sql, {"p": pattern}).all()
    ms = lambda d: round(d.total_seconds() * 1000, 1) if d is not None else None  # noqa: E731
    return {
        str(task): {"relay_ms": ms(a), "pickup_ms": ms(b), "run_ms": ms(c)}
        for task, a, b, c in rows
    }


def _status_sql() -> Any:
    from sqlalchemy import bindparam, text

    return text("SELECT id::text, status FROM ml_jobs WHERE id::text IN :ids").bindparams(
        bindparam("ids", expanding=True)
    )


_STATUS = _status_sql()
_ENDED = {"done", "failed", "cancelled", "budget_exceeded"}


def submission_part(stack: Stack, count: int, concurrency: int, rounds: int) -> dict[str, Any]:
    runs = interleaved(rounds, {
        "api": lambda r: _submission.ours(stack, f"sub{r}", count, concurrency),
        "bare": lambda r: _submission.bare(stack, f"bare{r}", count, concurrency),
    })  # fmt: skip
    ours, base = column(runs["api"], "rps"), column(runs["bare"], "rps")
    return {
        "ratio": round(max(ours) / max(base), 3),
        "ratio_per_round": summary([o / b for o, b in zip(ours, base, strict=True)]),
        "api_rps": summary(ours, digits=1),
        "bare_rps": summary(base, digits=1),
        "api_p50_ms": summary(column(runs["api"], "p50_ms"), best="min", digits=1),
        "bare_p50_ms": summary(column(runs["bare"], "p50_ms"), best="min", digits=1),
        "api_p99_ms": summary(column(runs["api"], "p99_ms"), best="min", digits=1),
        "relay_drain_s": summary(column(runs["api"], "relay_drain_s"), best="min", digits=2),
        "errors": int(sum(column(runs["api"], "errors")) + sum(column(runs["bare"], "errors"))),
        "transport_errors": {k: [e for r in runs[k] for e in r["transport_errors"]] for k in runs},
        "submissions": count,
        "concurrency": concurrency,
    }


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=500)
    parser.add_argument("--clips", type=int, default=10)
    parser.add_argument("--latency-items", type=int, default=100)
    parser.add_argument("--submissions", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of (a) and (e)")
    parser.add_argument("--parts", default="a,b,c,e", help="which of a,b,c,e to run")
    parser.add_argument("--quick", action="store_true", help="small sizes for a trial run")
    parser.add_argument("--keep", type=Path, help="run in this directory and keep its logs")
    parser.add_argument(
        "--set", action="append", default=[], metavar="BOOKMARKAI_ML_X=V",
        help="experiments only: a setting for up (reported under 'overrides'; not the defaults)",
    )  # fmt: skip
    args = parser.parse_args()
    if args.quick:
        args.articles, args.clips, args.latency_items = 24, 2, 10
        args.submissions, args.rounds = 300, 2
    return args


def main() -> None:
    args = parse()
    # SIGTERM unwinds like Ctrl-C, so ``up``, Postgres and the vhost are stopped after it too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parts = set(args.parts.split(","))
    facts = machine()
    report: dict[str, Any] = {"bench": "pipeline"}
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp, fresh_vhost() as amqp:
        root = args.keep or Path(tmp)  # --keep: logs of up and of the two API servers stay
        root.mkdir(parents=True, exist_ok=True)
        (root / "media").mkdir()
        clips = work.clips(root / "media", args.clips) if "b" in parts else []
        texts = work.articles(args.articles)
        try:
            overrides = dict(kv.split("=", 1) for kv in args.set)
            report["overrides"] = overrides  # empty: the shipped defaults
            with (
                up.media_server(root / "media") as media,
                running_up(root, amqp, media, overrides=overrides) as stack,
            ):
                settings = _settings_of(stack.env)
                db = bootstrap.database(settings)
                floor = work.Floor(settings, db)
                memory = Memory(mark=min(100, max(1, (len(texts) + len(clips)) // 2)))
                _warm(stack, floor, memory, clips, media)
                if "a" in parts:
                    report["text"] = text_part(stack, floor, memory, texts, args.rounds)
                if "b" in parts and clips:
                    rounds = min(2, len(clips))
                    report["media"] = media_part(stack, floor, memory, clips, media, rounds)
                if "c" in parts:
                    report["latency"] = latency_part(stack, floor, memory, args.latency_items)
                report["memory"] = _memory(stack, memory)
                db.close()
            if "e" in parts:  # ``up`` stopped: no worker competes with the two servers
                report["submission"] = submission_part(
                    stack, args.submissions, args.concurrency, args.rounds
                )
                stack.engine.dispose()
        finally:
            stop_embedded(root / "data")
    report.update(_headline(report))
    report.update({**facts, "passive_threads": PASSIVE,
                   "load_avg_1m_end": machine()["load_avg_1m"]})  # fmt: skip
    print(json.dumps(report))


def _settings_of(env: dict[str, str]) -> Settings:
    """The floor's ``Settings``: ``up``'s own environment, so the same models, thread
    counts and database (the floor never writes to it)."""
    import os

    os.environ.update({k: v for k, v in env.items() if k.startswith("BOOKMARKAI_ML_")})
    return Settings(_env_file=None)  # type: ignore[call-arg]


def _warm(
    stack: Stack, floor: work.Floor, memory: Memory, clips: list[work.Clip], media: str
) -> None:
    """One item of each kind through both sides, untimed: loads every model."""
    (text,) = work.articles(1, seed=5)
    floor.text(text)
    body = {"share_id": "warmtext-0", "task": "enrich", "input": {"text": text}}
    backfill(stack, memory, [body], "warmtext", jobs_per_item=2)
    if clips:
        floor.media(clips[0].path)
        url = f"http://{media}/{clips[0].path.name}?warm"
        body = {"share_id": "warmclip-0", "task": "enrich", "input": {"media_url": url}}
        backfill(stack, memory, [body], "warmclip", jobs_per_item=3)
    memory.done = 0  # warm-up items do not count towards the 100th
    memory.at_mark = None


def _memory(stack: Stack, memory: Memory) -> dict[str, Any]:
    end, mark = pss_report(stack), memory.at_mark
    growth = None  # the run never reached the mark: no growth figure
    if mark is not None:
        before = float(mark["total_mb"])
        growth = round((float(end["total_mb"]) - before) / before * 100, 2)
    return {"end": end, "at_item": memory.mark, "growth_pct": growth, "items": memory.done,
            "at_mark": mark}  # fmt: skip


def _headline(report: dict[str, Any]) -> dict[str, Any]:
    get = lambda part, key: report.get(part, {}).get(key)  # noqa: E731
    mem = report.get("memory", {})
    return {
        "text_ratio": get("text", "ratio"),
        "media_ratio": get("media", "ratio"),
        "submit_ratio": get("submission", "ratio"),
        "latency_overhead_p50_ms": get("latency", "overhead_p50_ms"),
        "latency_overhead_p99_ms": get("latency", "overhead_p99_ms"),
        "pss_total_mb": mem.get("end", {}).get("total_mb"),
        "pss_max_process_mb": mem.get("end", {}).get("max_process_mb"),
        "pss_growth_pct": mem.get("growth_pct"),
        "text_cpu_ratio": get("text", "cpu_ratio"),
        "media_cpu_ratio": get("media", "cpu_ratio"),
    }


if __name__ == "__main__":
    main()
