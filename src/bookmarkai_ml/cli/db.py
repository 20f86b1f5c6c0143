"""``migrate`` applies the schema; ``db status`` and ``db stop`` manage the embedded server.

The embedded Postgres outlives the command that started it (``db.embedded``), so the API,
the relay and the workers share it; ``db stop`` is how an operator ends it.
"""

from __future__ import annotations

from typing import Annotated

import typer

from bookmarkai_ml import bootstrap
from bookmarkai_ml.cli.common import Exit, console, emit_json, settings_of
from bookmarkai_ml.cli.models import run_prepare
from bookmarkai_ml.db import embedded
from bookmarkai_ml.db import migrate as migrations
from bookmarkai_ml.errors import DatabaseUnavailableError

db_app = typer.Typer(help="The embedded Postgres: status and stop.", no_args_is_help=True)


def migrate(
    ctx: typer.Context,
    revision: Annotated[str, typer.Option(help="Target revision.")] = "head",
    prepare: Annotated[
        bool, typer.Option(help="Then run `models prepare` (verify, export, load models).")
    ] = True,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Apply the database migrations (starts the embedded Postgres when no URL is set), then
    prepare the models, so that no worker started after it exports or assembles one."""
    settings = settings_of(ctx)
    try:
        engine = bootstrap.database(settings).engine
        before = migrations.current_revision(engine)
        migrations.upgrade(engine, revision)
        after = migrations.current_revision(engine)
    except DatabaseUnavailableError as exc:
        console.print(f"[red]database unavailable:[/] {exc}")
        raise typer.Exit(Exit.UNAVAILABLE) from exc
    where = engine.url.render_as_string(hide_password=True)
    if json_output:
        emit_json({"database": where, "from": before, "to": after})
    else:
        console.print(f"database [bold]{where}[/]")
        console.print(f"schema {before or '(empty)'} → [green]{after}[/]")
    if prepare and not run_prepare():
        console.print("[red]models prepare failed[/] (run `bookmarkai-ml models prepare`)")
        raise typer.Exit(Exit.FAILED)


@db_app.command()
def status(
    ctx: typer.Context,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Whether the embedded server runs, where (its data dir), its PID and its size on disk."""
    settings = settings_of(ctx)
    state = embedded.embedded_status(settings.data_dir)
    report = {
        "running": state.running,
        "pid": state.pid,
        "data_dir": str(state.pgdata),
        "created": state.created,
        "size_bytes": state.size_bytes,
        "in_use": settings.database_url is None,  # a configured URL bypasses it
    }
    if json_output:
        emit_json(report)
        return
    where = f"in {state.pgdata}"
    if state.running:
        console.print(
            f"embedded Postgres [green]running[/] {where}, pid {state.pid}", soft_wrap=True
        )
    elif state.created:
        console.print(f"embedded Postgres [yellow]stopped[/] {where}", soft_wrap=True)
    else:
        console.print(f"no embedded Postgres {where}", soft_wrap=True)
    console.print(f"size on disk {state.size_bytes / 1e6:.1f} MB")
    if settings.database_url is not None:
        console.print("BOOKMARKAI_ML_DATABASE_URL is set: commands use that database, not this one")


@db_app.command()
def stop(ctx: typer.Context) -> None:
    """Stop the embedded server (a fast shutdown: open sessions are closed)."""
    settings = settings_of(ctx)
    pid = embedded.running_pid(settings.data_dir)
    if pid is None:
        console.print(f"embedded Postgres not running in {settings.data_dir / 'pgdata'}")
        return
    if not embedded.stop_embedded(settings.data_dir):
        console.print(f"[red]embedded Postgres (pid {pid}) still running after 30 s[/]")
        raise typer.Exit(Exit.FAILED)
    console.print(f"stopped the embedded Postgres (pid {pid})")


def register(app: typer.Typer) -> None:
    app.command()(migrate)
    app.add_typer(db_app, name="db")
