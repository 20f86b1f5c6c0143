"""``submit`` and ``status``: put one job on the queue; show a job."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated
from uuid import UUID

import typer

from bookmarkai_ml import bootstrap
from bookmarkai_ml.cli.common import Exit, console, emit_json, out, settings_of
from bookmarkai_ml.contracts import EmbedTask, SummarizeTask, TranscribeTask
from bookmarkai_ml.contracts.messages import TaskMessageT
from bookmarkai_ml.db.engine import transaction
from bookmarkai_ml.domain import enrich
from bookmarkai_ml.errors import NotFoundError
from bookmarkai_ml.services import jobs

TASKS = ("summarize", "transcribe", "embed", "enrich")


def _messages(
    task: str, share_id: str, tenant: str, text: str | None, media_url: str | None
) -> list[enrich.Planned]:
    if task == "enrich":
        return enrich.plan_enrich(
            share_id=share_id, tenant_id=tenant, text=text, media_url=media_url
        )
    share = {"share_id": share_id, "tenant_id": tenant}
    message: TaskMessageT
    if task == "transcribe":
        if media_url is None:
            raise typer.BadParameter("transcribe needs --media-url")
        message = TranscribeTask(**share, media_url=media_url)
    elif text is None:
        raise typer.BadParameter(f"{task} needs --text or --text-file")
    elif task == "summarize":
        message = SummarizeTask(**share, content=text)
    else:
        message = EmbedTask(**share, content=text)
    return [enrich.Planned(message)]


def submit(
    ctx: typer.Context,
    task: Annotated[str, typer.Argument(help="summarize | transcribe | embed | enrich")],
    share_id: Annotated[str, typer.Option(help="The saved item's id.")],
    text: Annotated[str | None, typer.Option(help="Text input.")] = None,
    text_file: Annotated[Path | None, typer.Option(help="Read the text from a file.")] = None,
    media_url: Annotated[str | None, typer.Option(help="http(s)/s3 media URL.")] = None,
    tenant: Annotated[str, typer.Option(help="Owning tenant.")] = "default",
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Submit a job (job row + outbox row in one transaction); the relay publishes it."""
    if task not in TASKS:
        raise typer.BadParameter(f"task must be one of {', '.join(TASKS)}")
    if text_file is not None:
        text = text_file.read_text(encoding="utf-8")
    planned = _messages(task, share_id, tenant, text, media_url)
    with transaction(bootstrap.database(settings_of(ctx)).sessions) as session:
        results = [jobs.submit(session, p.message, then=p.then) for p in planned]
    if json_output:
        emit_json([{"created": r.created, **asdict(r.job)} for r in results])
        return
    for r in results:
        note = "" if r.created else " (already submitted)"
        out.print(f"{r.job.id}  {r.job.task:<10} {r.job.status}{note}")


def status(
    ctx: typer.Context,
    job_id: Annotated[UUID, typer.Argument(help="Job id.")],
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show a job, its error or retry time, and its result."""
    try:
        with bootstrap.database(settings_of(ctx)).sessions() as session:
            view = jobs.get(session, job_id)
    except NotFoundError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(Exit.NOT_FOUND) from exc
    if json_output:
        emit_json(asdict(view))
        return
    out.print(f"job {view.id}  task {view.task}  share {view.share_id}")
    out.print(f"status [bold]{view.status}[/]  attempts {view.attempts}")
    if view.error_code:
        out.print(f"error {view.error_code}: {view.error_message}")
    if view.retry_after:
        out.print(f"retry after {view.retry_after:%Y-%m-%d %H:%M:%S %Z}")
    if view.result:
        emit_json(view.result)


def register(app: typer.Typer) -> None:
    app.command()(submit)
    app.command()(status)
