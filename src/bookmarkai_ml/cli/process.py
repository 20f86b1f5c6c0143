"""``process INPUT...``: enrich files, URLs or text end to end and print what came out.

The main job. With no broker configured it runs everything in this process through
the local broker path (``workers.local``); with ``BOOKMARKAI_ML_BROKER_URL`` set it
submits the jobs and waits for the workers (``bookmarkai-ml up``) to finish them.
Inputs get a share id derived from their content, so running the same input twice
returns the jobs of the first run instead of paying again.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

import typer
from rich.panel import Panel
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from bookmarkai_ml import bootstrap
from bookmarkai_ml.cli.common import Exit, console, emit_json, out, settings_of
from bookmarkai_ml.config import Settings
from bookmarkai_ml.contracts import TranscribeOptions
from bookmarkai_ml.db import migrate as migrations
from bookmarkai_ml.db.engine import SessionFactory, transaction
from bookmarkai_ml.db.models import JobStatus
from bookmarkai_ml.domain import enrich
from bookmarkai_ml.observability import tracing
from bookmarkai_ml.observability.logging import configure_logging
from bookmarkai_ml.services import jobs

TEXT_SUFFIXES = frozenset({".txt", ".md", ".text"})
TENANT = "default"  # the tenant of the CLI and of messages that name none


@dataclass(frozen=True, slots=True)
class Item:
    label: str
    share_id: str
    text: str | None = None
    media_url: str | None = None


def _share_id(kind: str, value: str) -> str:
    return f"{kind}-" + hashlib.sha256(value.encode()).hexdigest()[:16]


#: ``scheme://…``, or ``scheme:…`` for a scheme that needs no slashes, in one token.
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):(//\S*|\S+)$")
_SLASHLESS_SCHEMES = frozenset(
    {"file", "ftp", "gopher", "dict", "data", "javascript", "mailto", "ldap", "jar", "tel"}
)
MEDIA_SCHEMES = frozenset({"http", "https", "s3"})


class UnsupportedInputError(ValueError):
    """An input that is a URL of a scheme ``process`` does not fetch."""


def classify(raw: str) -> Item:
    """A local file (text or media), a URL (media), or literal text.

    Raises:
        UnsupportedInputError: a URL whose scheme is not http(s) or s3 (``file:``,
            ``ftp:``, ``gopher:`` …): summarizing the URL string would be a wrong answer.
    """
    url = _URL.match(raw.strip())
    if url and (url.group(2).startswith("//") or url.group(1).lower() in _SLASHLESS_SCHEMES):
        scheme = url.group(1).lower()  # schemes are case-insensitive (RFC 3986 §3.1)
        if scheme not in MEDIA_SCHEMES:
            raise UnsupportedInputError(
                f"{raw!r}: {scheme}: URLs are not supported; give an http(s) or s3 URL, "
                "a local file, or text"
            )
        return Item(raw, _share_id("url", raw), media_url=raw.strip())
    path = Path(raw).expanduser()
    if path.is_file():
        resolved = path.resolve()
        if resolved.suffix.lower() in TEXT_SUFFIXES:
            content = resolved.read_text(encoding="utf-8", errors="replace")
            return Item(path.name, _share_id("file", content), text=content)
        digest = hashlib.sha256(resolved.read_bytes()).hexdigest()
        return Item(path.name, _share_id("media", digest), media_url=str(resolved))
    label = raw if len(raw) <= 40 else raw[:37] + "..."
    return Item(label, _share_id("text", raw), text=raw)


def _submit(
    sessions: SessionFactory, items: list[Item], transcribe: TranscribeOptions
) -> dict[str, list[UUID]]:
    """Submit every item in one transaction, in one ``process`` span whose trace the jobs carry."""
    roots: dict[str, list[UUID]] = {}
    with (
        tracing.get_tracer().start_as_current_span("process"),
        transaction(sessions) as session,
    ):
        traceparent = tracing.current_traceparent()
        for item in items:
            planned = enrich.plan_enrich(
                share_id=item.share_id,
                tenant_id=TENANT,
                text=item.text,
                media_url=item.media_url,
                transcribe=transcribe,
            )
            roots[item.share_id] = [
                jobs.submit(session, p.message, then=p.then, traceparent=traceparent).job.id
                for p in planned
            ]
    return roots


def _family(sessions: SessionFactory, roots: list[UUID]) -> list[jobs.JobView]:
    with sessions() as session:
        return jobs.family(session, roots)


def _run_locally(settings: Settings, db: bootstrap.Database, roots: list[UUID]) -> None:
    """Drive the jobs to the end in this process, with a worker's runtime on ``db``."""
    runtime = bootstrap.job_runtime(settings, db)
    with _progress() as progress:
        bar = progress.add_task("enriching", total=None)

        def on_report(_report: Any) -> None:
            views = _family(db.sessions, roots)
            done = sum(v.status in JobStatus.TERMINAL for v in views)
            running = ", ".join(
                sorted({v.task for v in views if v.status not in JobStatus.TERMINAL})
            )
            progress.update(bar, total=len(views), completed=done, description=running or "done")

        broker = bootstrap.local_broker(settings, db, runtime)

        async def main() -> None:
            try:
                await broker.run_until_done(roots, on_report=on_report)
            finally:
                await broker.close()

        asyncio.run(main())


def _wait_for_workers(sessions: SessionFactory, roots: list[UUID], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    with _progress() as progress:
        bar = progress.add_task("waiting for workers", total=None)
        while True:
            views = _family(sessions, roots)
            done = sum(v.status in JobStatus.TERMINAL for v in views)
            progress.update(bar, total=len(views), completed=done)
            if done == len(views):
                return
            if time.monotonic() > deadline:
                console.print("[yellow]timed out; the jobs go on in the workers[/]")
                return
            time.sleep(0.5)


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} jobs"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def _summary_of(item: Item, views: list[jobs.JobView]) -> dict[str, Any]:
    by_task = {v.task: v for v in views}
    report: dict[str, Any] = {"input": item.label, "share_id": item.share_id, "jobs": {}}
    for view in views:
        report["jobs"][view.task] = {
            "id": str(view.id),
            "status": view.status,
            "error": view.error_code and f"{view.error_code}: {view.error_message}",
        }
    transcript = by_task.get("transcribe")
    if transcript and transcript.result:
        report["transcript"] = transcript.result.get("text", "")
        report["silent"] = transcript.result.get("silent", False)
        report["language"] = transcript.result.get("language")
        report["language_probability"] = transcript.result.get("language_probability")
    summary = by_task.get("summarize")
    if summary and summary.result:
        report["summary"] = summary.result.get("summary", "")
        report["tags"] = summary.result.get("tags", [])
        report["summary_method"] = summary.result.get("method")
        report["too_short"] = summary.result.get("too_short", False)
    embedded = by_task.get("embed")
    if embedded and embedded.result:
        report["chunks_embedded"] = embedded.result.get("chunks", 0)
    return report


def _costs(sessions: SessionFactory, job_ids: list[UUID]) -> str:
    from sqlalchemy import func, select

    from bookmarkai_ml.db.models import Cost

    with sessions() as session:
        total = session.execute(
            select(func.coalesce(func.sum(Cost.usd), 0)).where(Cost.job_id.in_(job_ids))
        ).scalar_one()
    return f"{total:.6f}"


def _summary_note(report: dict[str, Any]) -> str:
    """How the summary was made and how much it compresses: "(extractive, 16 of 83 words)"."""
    parts = [report.get("summary_method") or "?"]
    words = len(report["summary"].split())
    source = report.get("transcript")
    parts.append(f"{words} of {len(source.split())} words" if source else f"{words} words")
    if report.get("too_short"):
        parts.append("too short to summarize: the lead sentence")
    return "(" + ", ".join(parts) + ")"


def _print(report: dict[str, Any]) -> None:
    lines = [f"share [bold]{report['share_id']}[/]"]
    for task, job in report["jobs"].items():
        colour = "green" if job["status"] == "done" else "red"
        status = f"[{colour}]{job['status']}[/]" + (f" ({job['error']})" if job["error"] else "")
        lines.append(f"{task:<10} {status}")
    if "transcript" in report:
        text = report["transcript"] or "(silent)"
        lines += ["", "[bold]Transcript[/]", text if len(text) < 1200 else text[:1200] + " …"]
        if report.get("language"):
            p = report.get("language_probability")
            detected = f" (detected, p={p:.2f})" if p is not None else ""
            lines += ["", f"[bold]Language[/] {report['language']}{detected}"]
    if "summary" in report:
        lines += ["", f"[bold]Summary[/] {_summary_note(report)}", report["summary"]]
        lines += ["", "[bold]Tags[/] " + ", ".join(report.get("tags") or ["(none)"])]
    if "chunks_embedded" in report:
        lines += ["", f"[bold]Searchable chunks[/] {report['chunks_embedded']}"]
    lines += ["", f"[bold]Cost[/] ${report['cost_usd']}"]
    out.print(Panel("\n".join(lines), title=report["input"], expand=False))


def process(
    ctx: typer.Context,
    inputs: Annotated[list[str], typer.Argument(help="Files, http(s)/s3 URLs, or text.")],
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    timeout: Annotated[float, typer.Option(help="With a broker: seconds to wait.")] = 900.0,
    vocabulary: Annotated[
        list[str] | None,
        typer.Option("--vocabulary", "-V", help="A name or term the speech contains (repeatable)."),
    ] = None,
) -> None:
    """Enrich each input end to end (transcript, summary, tags, embeddings) and print it."""
    settings = settings_of(ctx)
    local = settings.broker_url is None
    if local:  # the operator named these files on the command line: trust local paths
        media = settings.media.model_copy(update={"allow_local_paths": True})
        settings = settings.model_copy(update={"media": media})
    try:
        items = [classify(raw) for raw in inputs]
    except UnsupportedInputError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(Exit.USAGE) from exc
    if local:  # the jobs run in this process; an interactive run shows warnings unless asked
        explicit = settings.telemetry.log_json or "log_level" in settings.telemetry.model_fields_set
        configure_logging(settings.telemetry, level=None if explicit else "WARNING")
    if local and tracing.exporting(settings.telemetry):  # before the engine: its SQL is traced
        tracing.configure_tracing(settings.telemetry, component="cli")
    db = bootstrap.database(settings)
    migrations.upgrade(db.engine)
    sessions = db.sessions
    roots = _submit(sessions, items, TranscribeOptions(vocabulary=vocabulary or []))
    all_roots = [job_id for ids in roots.values() for job_id in ids]
    if local:
        try:
            _run_locally(settings, db, all_roots)
        finally:
            tracing.shutdown_tracing()
    else:
        _wait_for_workers(sessions, all_roots, timeout)
    reports = []
    for item in items:
        views = _family(sessions, roots[item.share_id])
        report = _summary_of(item, views)
        report["cost_usd"] = _costs(sessions, [v.id for v in views])
        reports.append(report)
    if json_output:
        emit_json(reports)
    else:
        for report in reports:
            _print(report)
    failed = any(job["status"] != "done" for r in reports for job in r["jobs"].values())
    raise typer.Exit(Exit.FAILED if failed else Exit.OK)


def register(app: typer.Typer) -> None:
    app.command()(process)
