"""The soak's account as a readable table (the JSON line follows it)."""

from __future__ import annotations

from typing import Any

from support.soak.faults import KINDS


def table(result: dict[str, Any], broken: list[str]) -> str:
    """The account, the faults by kind with their longest recovery, and the verdict."""
    rows = [
        ("seed", result["seed"]),
        ("load (s) / drain (s)", f"{result['load_s']} / {result['drain_s']}"),
        ("accepted submissions", f"{result['accepted']} ({result['accepted_jobs']} jobs)"),
        ("refused (after retries)", result["refused"] or "none"),
        ("jobs (with follow-ups)", result["jobs"]),
        ("done", result["done"]),
        ("failed by code", result["failed_by_code"] or "none"),
        ("lost", result["lost"]),
        ("unfinished", result["unfinished"]),
        ("duplicated", f"{result['duplicated']} {result['duplicated_by_kind']}"),
        ("done without result/cost", result["incomplete"]),
        ("stuck outbox rows", result["stuck"]),
        ("leases held", result["held"]),
        ("ledger balanced", result["ledger_balanced"]),
    ]
    width = max(len(name) for name, _ in rows)
    lines = ["", "chaos soak account", "-" * 60]
    lines += [f"{name:<{width}}  {value}" for name, value in rows]
    lines += ["", f"{'fault kind':<16}{'count':>6}  longest recovery (s)", "-" * 60]
    recovery = result["recovery_s"]
    for kind in KINDS:
        took = recovery.get(kind, "-")
        lines.append(f"{kind:<16}{result['faults'][kind]:>6}  {'never' if took is None else took}")
    lines.append(f"{'total':<16}{result['faults']['total']:>6}")
    lines.append(f"{'overlapping':<16}{result['overlapping_faults']:>6}")
    if result["fault_errors"]:
        lines += ["", "faults that could not be injected:", *result["fault_errors"]]
    lines += ["", "FAILED: " + "; ".join(broken) if broken else "all invariants hold", ""]
    return "\n".join(lines)
