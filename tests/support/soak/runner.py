"""One soak run: the stack, the load, the faults, the drain and the account, in that order.

Shared by ``bench/soak.py`` (10 minutes) and the CI test (``tests/integration/e2e/
test_soak.py``, about 3), so both hold the same invariants (:data:`INVARIANTS`).
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy
from sqlalchemy.pool import NullPool

from support.soak import account
from support.soak.faults import KINDS, FaultDriver, plan
from support.soak.stack import Stack, running_stack
from support.soak.workload import Workload

#: The counts that must be 0 at the end, and the flags that must be true.
INVARIANTS = ("lost", "unfinished", "duplicated", "incomplete", "stuck", "held")
WARMUP_S = 20.0  # load before the first fault, so recovery has a baseline
TAIL_S = 20.0  # load after the last fault, so its recovery can be seen


@dataclass(frozen=True, slots=True)
class SoakConfig:
    """What a run does: ``minutes`` of load at ``rate`` submissions/s, ``faults`` faults
    (every kind at least ``each`` times), then at most ``drain_s`` to finish the backlog."""

    minutes: float
    seed: int
    rate: float
    faults: int
    each: int
    drain_s: float = 300.0


def run(config: SoakConfig, root: Path) -> dict[str, Any]:
    """Run the soak under ``root`` (a fresh directory); return the account."""
    rng = random.Random(config.seed)
    kinds = plan(rng, total=config.faults, each=config.each)
    load_s = config.minutes * 60
    mean_gap = max(1.0, (load_s - WARMUP_S - TAIL_S) / len(kinds))
    with running_stack(root) as stack:
        workload = Workload(stack, rate=config.rate, seed=rng.randrange(2**32))
        driver = FaultDriver(stack, random.Random(rng.randrange(2**32)), kinds, mean_gap)
        stop_load, stop_faults = threading.Event(), threading.Event()
        load = threading.Thread(target=workload.run, args=(stop_load,))
        chaos = threading.Thread(target=driver.run, args=(stop_faults,))
        started = time.time()
        load.start()
        stop_load.wait(WARMUP_S)
        chaos.start()
        chaos.join()  # the whole plan is injected, even if it outlasts ``minutes``
        stop_load.wait(max(TAIL_S, started + load_s - time.time()))
        stop_load.set()
        load.join()
        loaded_s = time.time() - started
        engine = sqlalchemy.create_engine(stack.direct_url, poolclass=NullPool)
        try:
            drained_s = _drain(engine, config.drain_s)
            with engine.connect() as conn, _api(stack) as api:
                result = account.take(conn, api, workload.accepted)
                finished = [
                    r[0] for r in conn.execute(
                        sqlalchemy.text("SELECT extract(epoch FROM finished_at)::float "
                                        "FROM ml_jobs WHERE finished_at IS NOT NULL")
                    )
                ]  # fmt: skip
        finally:
            engine.dispose()
        up_alive = stack.proc.poll() is None
    per_kind = Counter(f.kind for f in driver.faults)
    return {
        "bench": "soak",
        "seed": config.seed,
        "minutes": config.minutes,
        "rate": config.rate,
        "load_s": round(loaded_s, 1),
        "drain_s": drained_s,
        **result,
        "refused": dict(workload.refused),
        "client_retries": workload.retries,
        "skipped_slots": workload.skipped,
        "faults": {"total": len(driver.faults), **{k: per_kind[k] for k in KINDS}},
        "overlapping_faults": driver.overlapping(),
        "fault_errors": driver.errors,
        "recovery_s": account.recovery_s(
            driver.faults, finished, [s.at for s in workload.accepted]
        ),
        "up_alive": up_alive,
        "fault_log": [
            f"{f.at - started:7.1f}s +{f.duration_s:4.1f}s {f.kind}: {f.target}"
            for f in sorted(driver.faults, key=lambda f: f.at)
        ],
    }


def broken(result: dict[str, Any], *, min_faults: int, each: int) -> list[str]:
    """The invariants a result breaks (empty: the run holds them all)."""
    out = [f"{name} = {result[name]}" for name in INVARIANTS if result[name] != 0]
    if not result["ledger_balanced"]:
        out.append(f"ledger not balanced: {result['ledger']}")
    if result["accepted"] <= 0:
        out.append("nothing accepted")
    faults = result["faults"]
    if faults["total"] < min_faults:
        out.append(f"only {faults['total']} faults (< {min_faults})")
    out += [f"{k}: {faults[k]} faults (< {each})" for k in KINDS if faults[k] < each]
    if not result["up_alive"]:
        out.append("up gave up on a component")
    return out


def _drain(engine: sqlalchemy.Engine, limit_s: float) -> float:
    """Wait (at most ``limit_s``) until every job is terminal and the outbox is empty."""
    started = time.monotonic()
    while time.monotonic() - started < limit_s:
        try:
            with engine.connect() as conn:
                if account.unfinished(conn) == (0, 0):
                    break
        except sqlalchemy.exc.OperationalError:
            pass  # not ours to fix here; the account will show what is left
        time.sleep(2)
    return round(time.monotonic() - started, 1)


def _api(stack: Stack) -> httpx.Client:
    headers = {"Authorization": f"Bearer {stack.admin_key}"}
    return httpx.Client(base_url=stack.base, headers=headers, timeout=30)
