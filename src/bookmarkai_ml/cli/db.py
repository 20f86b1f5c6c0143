"""``migrate``: apply the schema to the configured (or embedded) database."""

from __future__ import annotations

from typing import Annotated

import typer

from bookmarkai_ml import bootstrap
from bookmarkai_ml.cli.common import Exit, console, emit_json, settings_of
from bookmarkai_ml.db import migrate as migrations
from bookmarkai_ml.errors import DatabaseUnavailableError


def migrate(
    ctx: typer.Context,
    revision: Annotated[str, typer.Option(help="Target revision.")] = "head",
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Apply the database migrations (starts the embedded Postgres when no URL is set)."""
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
        return
    console.print(f"database [bold]{where}[/]")
    console.print(f"schema {before or '(empty)'} → [green]{after}[/]")


def register(app: typer.Typer) -> None:
    app.command()(migrate)
