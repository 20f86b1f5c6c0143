"""The Jepsen-style account of a soak, read from the database and the API after the drain.

- ``lost``: an accepted job id with no job row, or whose job is not terminal;
- ``unfinished``: any job (follow-ups included) not terminal;
- ``duplicated``: more than one result or cost row for a job, more embeddings stored for a
  job than its result's chunk count, or two jobs for one (tenant, share, task, parent);
- ``incomplete``: a ``done`` job without its result or its cost row;
- ``stuck``: outbox rows still unsent; ``held``: jobs still running or leased;
- the ledger (services/budgets.py): per task, the API's spent + reserved of its widest
  global window equals the cost rows in that window plus the held, unexpired
  reservations; no finished job still holds a reservation; every settled reservation has
  its cost row; every cost row belongs to a ``done`` job;
- per fault kind, the longest recovery (:func:`recovery_s`).
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import Connection, text

from bookmarkai_ml.db.models import JobStatus
from support.soak.faults import Fault
from support.soak.workload import Submission

TERMINAL = sorted(JobStatus.TERMINAL)
_DUPLICATES = {
    "results": "SELECT count(*) FROM (SELECT job_id FROM ml_results GROUP BY job_id "
    "HAVING count(*) > 1) d",
    "costs": "SELECT count(*) FROM (SELECT job_id FROM ml_costs GROUP BY job_id "
    "HAVING count(*) > 1) d",
    "embeddings": "SELECT count(*) FROM (SELECT r.job_id FROM ml_results r "
    "JOIN ml_embeddings e ON e.job_id = r.job_id WHERE r.task = 'embed' "
    "GROUP BY r.job_id, r.result HAVING count(*) > (r.result->>'chunks')::int) d",
    "jobs": "SELECT count(*) FROM (SELECT 1 FROM ml_jobs GROUP BY tenant_id, share_id, task, "
    "parent_id HAVING count(*) > 1) d",
}
_INCOMPLETE = (
    "SELECT count(*) FROM ml_jobs j WHERE j.status = 'done' AND (NOT EXISTS "
    "(SELECT 1 FROM ml_results r WHERE r.job_id = j.id) OR NOT EXISTS "
    "(SELECT 1 FROM ml_costs c WHERE c.job_id = j.id))"
)
_LEDGER_CHECKS = {
    "held_by_finished_jobs": "SELECT count(*) FROM ml_budget_reservations b JOIN ml_jobs j "
    "ON j.id = b.job_id WHERE b.status = 'held' AND j.status = ANY(:terminal)",
    "settled_without_cost": "SELECT count(*) FROM ml_budget_reservations b WHERE "
    "b.status = 'settled' AND NOT EXISTS (SELECT 1 FROM ml_costs c WHERE c.job_id = b.job_id)",
    "cost_of_unfinished_job": "SELECT count(*) FROM ml_costs c JOIN ml_jobs j ON j.id = c.job_id "
    "WHERE j.status <> 'done'",
}
_DB_SPENT = (
    "SELECT coalesce(sum(usd), 0) FROM ml_costs WHERE task = :task "
    "AND created_at > now() - make_interval(secs => :window)"
)
_DB_HELD = (
    "SELECT coalesce(sum(usd), 0) FROM ml_budget_reservations WHERE task = :task "
    "AND status = 'held' AND expires_at > now()"
)


def unfinished(conn: Connection) -> tuple[int, int]:
    """(jobs not terminal, outbox rows unsent): what the drain waits for."""
    jobs: int = conn.execute(
        text("SELECT count(*) FROM ml_jobs WHERE NOT (status = ANY(:t))"), {"t": TERMINAL}
    ).scalar_one()
    unsent: int = conn.execute(
        text("SELECT count(*) FROM ml_outbox WHERE sent_at IS NULL")
    ).scalar_one()
    return int(jobs), int(unsent)


def take(conn: Connection, api: httpx.Client, accepted: Sequence[Submission]) -> dict[str, Any]:
    """Every count of the account but the recoveries (see the module docstring)."""
    rows = conn.execute(
        text("SELECT id::text, task, status, error_code, error_message FROM ml_jobs")
    ).all()
    status = {r.id: r.status for r in rows}
    ids = [j for s in accepted for j in s.job_ids]
    lost = sorted(j for j in ids if status.get(j) not in JobStatus.TERMINAL)
    unsuccessful = [r for r in rows if r.status in JobStatus.TERMINAL - {"done"}]
    failed = Counter(f"{r.task}:{r.status}:{r.error_code}" for r in unsuccessful)

    def count(sql: str) -> int:
        return int(conn.execute(text(sql), {"terminal": TERMINAL}).scalar_one())

    duplicated = {name: count(sql) for name, sql in _DUPLICATES.items()}
    ledger: dict[str, Any] = {name: count(sql) for name, sql in _LEDGER_CHECKS.items()}
    ledger["windows"] = _windows(conn, api)
    ledger_balanced = (
        all(ledger[name] == 0 for name in _LEDGER_CHECKS)
        and bool(ledger["windows"])  # no window compared would be a vacuous pass
        and all(w["api_usd"] == w["db_usd"] for w in ledger["windows"])
    )
    not_done, unsent = unfinished(conn)
    return {
        "accepted": len(accepted),
        "accepted_jobs": len(ids),
        "jobs": len(rows),
        "done": sum(1 for r in rows if r.status == "done"),
        "failed_by_code": dict(sorted(failed.items())),
        "failed_sample": [
            f"{r.id} {r.task} {r.error_code}: {r.error_message}" for r in unsuccessful[:10]
        ],
        "lost": len(lost),
        "lost_ids": lost[:20],
        "unfinished": not_done,
        "duplicated": sum(duplicated.values()),
        "duplicated_by_kind": duplicated,
        "incomplete": count(_INCOMPLETE),
        "stuck": unsent,
        "held": count("SELECT count(*) FROM ml_jobs WHERE status = 'running' "
                      "OR lease_owner IS NOT NULL"),
        "ledger_balanced": ledger_balanced,
        "ledger": ledger,
    }  # fmt: skip


def _windows(conn: Connection, api: httpx.Client) -> list[dict[str, Any]]:
    """Per task, the widest global window as the API reports it (to an admin key) next to
    the database's sum."""
    response = api.get("/api/ml/analytics/budgets")
    response.raise_for_status()
    widest: dict[str, dict[str, Any]] = {}
    for w in response.json()["windows"]:
        if w["tenant_id"] is None and w["window_s"] > widest.get(w["task"], {}).get("window_s", 0):
            widest[w["task"]] = w
    out = []
    for task, w in sorted(widest.items()):
        params = {"task": task, "window": w["window_s"]}
        db = Decimal(conn.execute(text(_DB_SPENT), params).scalar_one()) + Decimal(
            conn.execute(text(_DB_HELD), params).scalar_one()
        )
        api_usd = Decimal(str(w["spent_usd"])) + Decimal(str(w["reserved_usd"]))
        out.append({"task": task, "window": w["window"], "api_usd": api_usd, "db_usd": db})
    return out


def recovery_s(
    faults: Iterable[Fault],
    finished: Sequence[float],
    accepted_at: Sequence[float],
    *,
    baseline_s: int = 30,
    span_s: int = 3,
) -> dict[str, float | None]:
    """Per kind, the longest time from a fault until throughput recovered (None: never).

    Recovered means both, from the moment the fault ended (a broker kept down 5 s cannot
    recover sooner): the API accepted a submission again, and the jobs finished over
    ``span_s`` consecutive seconds came back to half the rate of the ``baseline_s`` seconds
    before the fault (at once, if the fault did not dent it). Times are epoch seconds
    (``finished`` from the jobs' ``finished_at``).
    """
    done, taken = sorted(finished), sorted(accepted_at)
    end = max([*done[-1:], *taken[-1:]], default=0.0)

    def between(lo: float, hi: float) -> int:
        return bisect.bisect_left(done, hi) - bisect.bisect_left(done, lo)

    per_kind: dict[str, list[float | None]] = {}
    for fault in faults:
        floor = max(0.5 * between(fault.at - baseline_s, fault.at) / baseline_s * span_s, 1.0)
        ended = fault.at + fault.duration_s
        k = next(
            (k for k in range(int(end - ended) + 1)
             if between(ended + k, ended + k + span_s) >= floor),
            None,
        )  # fmt: skip
        i = bisect.bisect_left(taken, ended)
        api = taken[i] - fault.at if i < len(taken) else None
        took = None if k is None or api is None else round(fault.duration_s + max(k, api), 1)
        per_kind.setdefault(fault.kind, []).append(took)
    return {
        kind: None if None in times else max(t for t in times if t is not None)
        for kind, times in sorted(per_kind.items())
    }
