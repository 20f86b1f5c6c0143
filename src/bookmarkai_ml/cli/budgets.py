"""``budgets set|list|clear``: per-tenant budget windows, next to the global ones.

The global windows come from the settings (``BOOKMARKAI_ML_TASKS__<TASK>__PER_HOUR_USD``
and ``__PER_DAY_USD``); these are stored in ``ml_budget_limits`` and apply to one
tenant's jobs of one task. ``costs`` shows every window with its spend.
"""

from __future__ import annotations

from dataclasses import asdict
from decimal import Decimal, InvalidOperation
from typing import Annotated

import typer
from rich.table import Table

from bookmarkai_ml import bootstrap
from bookmarkai_ml.cli.common import Exit, console, emit_json, out, settings_of
from bookmarkai_ml.contracts import TaskType
from bookmarkai_ml.db.engine import transaction
from bookmarkai_ml.domain.budgets import parse_window
from bookmarkai_ml.errors import InvalidInputError
from bookmarkai_ml.services import budget_limits

budgets_app = typer.Typer(
    help="Per-tenant budget windows (the global ones are settings).", no_args_is_help=True
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
TenantOpt = Annotated[str, typer.Option(help="The tenant (an API key's tenant).")]
WindowHelp = "Rolling window: 1h, 1d, 30m, 90s or seconds."


def _usage(message: str) -> typer.Exit:
    console.print(f"[red]{message}[/]")
    return typer.Exit(Exit.USAGE)


def _window(text: str) -> int:
    try:
        return parse_window(text)
    except ValueError as exc:
        raise _usage(str(exc)) from exc


@budgets_app.command("set")
def set_(
    ctx: typer.Context,
    tenant: TenantOpt,
    task: Annotated[TaskType, typer.Option(help="The task type the window limits.")],
    window: Annotated[str, typer.Option(help=WindowHelp)],
    usd: Annotated[str, typer.Option(help="At most this much USD per window.")],
    json_output: JsonOpt = False,
) -> None:
    """Create or change a tenant's limit for one task over one window."""
    window_s = _window(window)
    try:
        amount = Decimal(usd)
    except InvalidOperation as exc:
        raise _usage(f"--usd {usd!r} is not a number") from exc
    try:
        with transaction(bootstrap.database(settings_of(ctx)).sessions) as session:
            info = budget_limits.set_limit(
                session, tenant_id=tenant, task=task.value, window_s=window_s, usd=amount
            )
    except InvalidInputError as exc:
        raise _usage(exc.message) from exc
    if json_output:
        emit_json(asdict(info))
        return
    console.print(f"tenant {info.tenant_id}: {info.task} at most ${info.usd} per {info.window}")


@budgets_app.command("list")
def list_(
    ctx: typer.Context,
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's windows.")] = None,
    json_output: JsonOpt = False,
) -> None:
    """List the per-tenant windows (``costs`` shows their spend)."""
    with bootstrap.database(settings_of(ctx)).sessions() as session:
        limits = budget_limits.list_limits(session, tenant_id=tenant)
    if json_output:
        emit_json([asdict(i) for i in limits])
        return
    table = Table("tenant", "task", "window", "seconds", "limit", title="tenant budgets")
    for i in limits:
        table.add_row(i.tenant_id, i.task, i.window, str(i.window_s), f"${i.usd}")
    out.print(table)


@budgets_app.command("clear")
def clear(
    ctx: typer.Context,
    tenant: TenantOpt,
    task: Annotated[TaskType | None, typer.Option(help="Only this task's windows.")] = None,
    window: Annotated[str | None, typer.Option(help=f"Only this window. {WindowHelp}")] = None,
    json_output: JsonOpt = False,
) -> None:
    """Remove a tenant's windows (all, one task's, or one); the global ones still apply."""
    window_s = _window(window) if window is not None else None
    try:
        with transaction(bootstrap.database(settings_of(ctx)).sessions) as session:
            removed = budget_limits.clear(
                session, tenant_id=tenant, task=task.value if task else None, window_s=window_s
            )
    except InvalidInputError as exc:
        raise _usage(exc.message) from exc
    if json_output:
        emit_json({"removed": removed})
        return
    console.print(f"removed {removed} window(s) of tenant {tenant}")


def register(app: typer.Typer) -> None:
    app.add_typer(budgets_app, name="budgets")
