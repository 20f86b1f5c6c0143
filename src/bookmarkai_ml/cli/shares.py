"""``show SHARE``: everything known about one share, as ``GET /api/ml/shares/{id}`` shows it."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from bookmarkai_ml import bootstrap
from bookmarkai_ml.api.schemas.shares import SharePublic, SummaryPublic, TranscriptPublic
from bookmarkai_ml.cli.common import Exit, console, out, settings_of
from bookmarkai_ml.errors import NotFoundError
from bookmarkai_ml.services import shares

#: Segments printed before "... N more" (``--json`` prints them all).
SHOWN_SEGMENTS = 8


def show(
    ctx: typer.Context,
    share_id: Annotated[str, typer.Argument(help="The saved item's id.")],
    tenant: Annotated[str, typer.Option(help="Owning tenant.")] = "default",
    json_output: Annotated[bool, typer.Option("--json", help="Print the API's JSON.")] = False,
) -> None:
    """Show a share's transcript, summary, tags, vectors, jobs and total cost."""
    try:
        with bootstrap.database(settings_of(ctx)).sessions() as session:
            view = SharePublic.of(shares.share_view(session, tenant_id=tenant, share_id=share_id))
    except NotFoundError as exc:
        console.print(f"[red]{exc}[/] (tenant {tenant!r})")
        raise typer.Exit(Exit.NOT_FOUND) from exc
    if json_output:
        # The bytes the API would send, indented: the same serializer, the same document.
        typer.echo(view.model_dump_json(indent=2))
        return
    _print(view)


def _print(view: SharePublic) -> None:
    out.print(f"[bold]share {escape(view.share_id)}[/]  total cost ${view.total_usd}")
    if view.erased_at is not None:
        out.print(f"[yellow]erased at {view.erased_at:%Y-%m-%d %H:%M:%S %Z}[/]")
    if view.transcript is not None:
        _print_transcript(view.transcript)
    if view.summary is not None:
        _print_summary(view.summary)
    for vectors in view.embeddings:
        out.print(
            f"\n[bold]embeddings[/] {escape(vectors.model)} ({vectors.dimension}-d): "
            f"{vectors.chunks} chunks, {vectors.embedded_at:%Y-%m-%d %H:%M:%S %Z}"
        )
    table = Table("job", "task", "status", "attempts", "error", "created", "finished")
    for job in view.jobs:
        error = f"{job.error.code}: {job.error.message or ''}" if job.error else ""
        if job.retry_after is not None:
            error += f" (retry after {job.retry_after:%H:%M:%S %Z})"
        finished = f"{job.finished_at:%Y-%m-%d %H:%M:%S}" if job.finished_at else ""
        table.add_row(
            str(job.id),
            job.task,
            job.status,
            str(job.attempts),
            escape(error),
            f"{job.created_at:%Y-%m-%d %H:%M:%S}",
            finished,
        )
    out.print(table)


def _print_transcript(transcript: TranscriptPublic) -> None:
    language = escape(transcript.language or "unknown")
    if transcript.language_probability is not None:
        language += f" (p={transcript.language_probability:.2f})"
    silent = "  [yellow]silent[/]" if transcript.silent else ""
    out.print(
        f"\n[bold]transcript[/] {language}, {transcript.duration_s:.1f} s, "
        f"{len(transcript.segments)} segments, {escape(transcript.model)}{silent}"
    )
    for segment in transcript.segments[:SHOWN_SEGMENTS]:
        out.print(f"  [{segment.start:7.2f} - {segment.end:7.2f}] {segment.text}", markup=False)
    hidden = len(transcript.segments) - SHOWN_SEGMENTS
    if hidden > 0:
        out.print(f"  ... {hidden} more (--json shows all)")


def _print_summary(summary: SummaryPublic) -> None:
    out.print(f"\n[bold]summary[/] ({summary.method}, {escape(summary.model)})")
    out.print(summary.summary, markup=False)
    for point in summary.key_points:
        out.print(f"  - {point}", markup=False)
    if summary.tags:
        out.print("tags: " + ", ".join(summary.tags), markup=False)


def register(app: typer.Typer) -> None:
    app.command()(show)
