"""Handlers the messaging tests register in worker subprocesses (``worker.plugins``).

The harness names this module ``support.handlers`` in ``BOOKMARKAI_ML_WORKER__PLUGINS`` and puts
``tests/`` on the subprocesses' ``PYTHONPATH``, so the worker imports it by name.

The summarize handler treats its content as a tiny script, so one worker serves
every scenario:

- ``ok ...``: succeed at once;
- ``sleep:S ...``: write ``<markers>/<job_id>.started``, sleep S seconds, succeed;
- ``stubborn:S ...``: sleep S seconds swallowing the soft time limit, succeed;
- ``boom ...``: raise ``RuntimeError`` (a poison message) until ``<markers>/fixed`` exists;
- ``retry:N ...``: raise ``ProviderUnavailableError`` on the first N attempts;
- ``permanent ...``: raise ``MediaError``;
- ``budget ...``: raise ``BudgetExceededError``.

Every run appends the job id to ``<markers>/runs.log`` (to count handler executions).
"""

from __future__ import annotations

import contextlib
import os
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from bookmarkai_ml.config import Settings
from bookmarkai_ml.contracts import EmbedResult, SummaryResult, TaskType
from bookmarkai_ml.errors import BudgetExceededError, MediaError, ProviderUnavailableError
from bookmarkai_ml.fakes import FakeBudgetLedger
from bookmarkai_ml.ports import CostLine, JobContext, TaskOutcome
from bookmarkai_ml.workers import handlers

MARKERS = Path(os.environ.get("BKML_TEST_MARKERS", "/tmp/bkml-markers"))


def _log_run(job_id: Any) -> None:
    with (MARKERS / "runs.log").open("a") as fh:
        fh.write(f"{job_id}\n")


def _count(job_id: Any, what: str) -> int:
    path = MARKERS / f"{job_id}.{what}"
    n = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(n))
    return n


def _sleep(seconds: float) -> None:
    """Sleep in short slices, like a handler looping over chunks: an asynchronous exception
    (the threads pool's soft time limit) is seen between slices."""
    until = time.monotonic() + seconds
    while (left := until - time.monotonic()) > 0:
        time.sleep(min(0.1, left))


def summarize(message: Any, ctx: JobContext) -> TaskOutcome:
    _log_run(ctx.job_id)
    content: str = message.content
    head = content.split(" ", 1)[0]
    if head.startswith("sleep:"):
        (MARKERS / f"{ctx.job_id}.started").write_text(str(os.getpid()))
        _sleep(float(head.split(":", 1)[1]))
    elif head.startswith("stubborn:"):
        until = time.monotonic() + float(head.split(":", 1)[1])
        while time.monotonic() < until:
            # SoftTimeLimitExceeded is swallowed, as stuck native code would ignore it
            with contextlib.suppress(Exception):
                _sleep(until - time.monotonic())
    elif head == "boom" and not (MARKERS / "fixed").exists():
        raise RuntimeError("boom: this message always crashes its handler")
    elif head.startswith("retry:") and _count(ctx.job_id, "attempt") <= int(head.split(":")[1]):
        raise ProviderUnavailableError("provider overloaded", retry_after_s=0.2)
    elif head == "permanent":
        raise MediaError("corrupt media", code="corrupt_media")
    elif head == "budget":
        raise BudgetExceededError(
            "hourly budget full", retry_after=datetime.now(UTC) + timedelta(hours=1)
        )
    result = SummaryResult(summary=content[:50], model="noop", provider="test")
    return TaskOutcome(
        result=result,
        cost=CostLine(provider="test", model="noop", usd=Decimal("0.001")),
        follow_up_text=f"summary of {content[:20]}",
    )


def embed(message: Any, ctx: JobContext) -> TaskOutcome:
    _log_run(ctx.job_id)
    result = EmbedResult(model="noop", dimension=3, chunks=1, tokens=1, provider="test")
    return TaskOutcome(result=result, cost=CostLine(provider="test", model="noop"))


def _summarize_factory(settings: Settings) -> handlers.Handler:
    return summarize


def _embed_factory(settings: Settings) -> handlers.Handler:
    return embed


handlers.register(TaskType.SUMMARIZE, _summarize_factory)
handlers.register(TaskType.EMBED, _embed_factory)
handlers.register_ledger(lambda settings, sessions: FakeBudgetLedger())
