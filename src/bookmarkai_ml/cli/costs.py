"""``costs``: spend by day/task/model, task performance, and budget headroom."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Annotated

import typer
from rich.table import Table

from bookmarkai_ml import bootstrap
from bookmarkai_ml.cli.common import emit_json, out, settings_of
from bookmarkai_ml.db.engine import transaction
from bookmarkai_ml.services import analytics
from bookmarkai_ml.services.budgets import BudgetService


def costs(
    ctx: typer.Context,
    since: Annotated[
        str | None, typer.Option(help="First day (YYYY-MM-DD); default 30 days.")
    ] = None,
    until: Annotated[str | None, typer.Option(help="Last day (YYYY-MM-DD); default today.")] = None,
    task: Annotated[str | None, typer.Option(help="Only this task type.")] = None,
    tenant: Annotated[
        str | None, typer.Option(help="Only this tenant's spend (and the windows it meets).")
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show spend (refreshing the analytics views first) and every budget window: the
    global ones and every tenant's (``budgets set``)."""
    settings = settings_of(ctx)
    sessions = bootstrap.database(settings).sessions
    with transaction(sessions) as session:
        report = analytics.costs(
            session,
            since=date.fromisoformat(since) if since else None,
            until=date.fromisoformat(until) if until else None,
            task=task,
            tenant=tenant,
            refresh_first=True,
        )
    budgets = BudgetService(sessions, settings.budgets, settings.tasks).status(
        [task] if task else None, tenant=tenant
    )
    if json_output:
        emit_json({"costs": asdict(report), "budgets": [asdict(b) for b in budgets]})
        return
    whose = f"tenant {tenant}" if tenant else "platform"
    out.print(f"{whose} spend {report.since} .. {report.until}: [bold]${report.total_usd:.6f}[/]")
    spend = Table("task / model", "jobs", "USD", title="spend")
    for total in [*report.by_task, *report.by_model]:
        spend.add_row(total.key, str(total.jobs), f"{total.usd:.6f}")
    out.print(spend)
    perf = Table("task", "jobs", "done", "failed", "success", "p50 s", "p95 s", title="tasks")
    for p in report.performance:
        perf.add_row(
            p.task,
            str(p.jobs),
            str(p.done),
            str(p.failed),
            "-" if p.success_rate is None else f"{p.success_rate:.0%}",
            "-" if p.p50_duration_s is None else f"{p.p50_duration_s:.1f}",
            "-" if p.p95_duration_s is None else f"{p.p95_duration_s:.1f}",
        )
    out.print(perf)
    table = Table(
        "tenant",
        "task",
        "window",
        "limit",
        "spent",
        "reserved",
        "remaining",
        "resets",
        title="budgets (tenant '*': global, the whole platform's spend)",
    )
    for b in budgets:
        table.add_row(
            b.tenant_id or "*",
            b.task,
            b.window,
            f"${b.limit_usd:.2f}",
            f"${b.spent_usd:.6f}",
            f"${b.reserved_usd:.6f}",
            f"${b.remaining_usd:.6f}",
            f"{b.resets_at:%H:%M:%S}",
        )
    out.print(table)


def register(app: typer.Typer) -> None:
    app.command()(costs)
