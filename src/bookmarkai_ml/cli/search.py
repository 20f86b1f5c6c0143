"""``search QUERY``: similarity search over the stored chunks."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer
from rich.table import Table

from bookmarkai_ml import bootstrap
from bookmarkai_ml.cli.common import Exit, console, emit_json, out, settings_of
from bookmarkai_ml.db.engine import transaction
from bookmarkai_ml.errors import InvalidInputError, NotFoundError


def _clock(seconds: float) -> str:
    return f"{int(seconds // 60)}:{seconds % 60:04.1f}"


def _at(start: float | None, end: float | None) -> str:
    """Where a transcript chunk sits in the audio (m:ss.s-m:ss.s)."""
    if start is None:
        return ""
    return f"{_clock(start)}-{_clock(end if end is not None else start)}"


def search(
    ctx: typer.Context,
    query: Annotated[str | None, typer.Argument(help="What to look for.")] = None,
    like: Annotated[str | None, typer.Option(help="Or: find items like this share id.")] = None,
    k: Annotated[int, typer.Option(help="How many items.")] = 5,
    tenant: Annotated[str, typer.Option(help="Whose items.")] = "default",
    hybrid: Annotated[bool, typer.Option(help="Fuse with full-text ranking (RRF).")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Find the stored items closest in meaning to QUERY (or to another share)."""
    settings = settings_of(ctx)
    service = bootstrap.search_service(settings)
    try:
        with transaction(bootstrap.database(settings).sessions) as session:
            hits = service.search(
                session, query, like_share_id=like, tenant_id=tenant, k=k, hybrid=hybrid
            )
    except InvalidInputError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(Exit.USAGE) from exc
    except NotFoundError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(Exit.NOT_FOUND) from exc
    if json_output:
        emit_json([asdict(h) for h in hits])
        return
    if not hits:
        console.print("no matches")
        raise typer.Exit(Exit.NOT_FOUND)
    table = Table("score", "share", "at", "text", show_lines=True)
    for hit in hits:
        text = hit.text if len(hit.text) < 240 else hit.text[:237] + "..."
        table.add_row(f"{hit.score:.3f}", hit.share_id, _at(hit.start_s, hit.end_s), text)
    out.print(table)


def register(app: typer.Typer) -> None:
    app.command()(search)
