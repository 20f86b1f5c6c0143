"""``relay``, ``worker``, ``topology`` and ``dlq list|replay``: the messaging commands."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from typing import Annotated

import typer

from bookmarkai_ml import bootstrap
from bookmarkai_ml.cli.common import Exit, console, emit_json, settings_of
from bookmarkai_ml.config import Settings
from bookmarkai_ml.contracts import TASKS
from bookmarkai_ml.db.engine import SessionFactory, transaction
from bookmarkai_ml.errors import (
    BookmarkAIError,
    BrokerUnavailableError,
    ConfigurationError,
    QueueNotFoundError,
)

dlq_app = typer.Typer(help="Inspect and replay dead letters.", no_args_is_help=True)


async def _until_signalled() -> asyncio.Event:
    """An event set by SIGINT/SIGTERM, so the relay drains and closes cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    return stop


def relay(
    ctx: typer.Context,
    metrics_port: Annotated[int, typer.Option(help="Serve /metrics here; 0 = off.")] = 0,
) -> None:
    """Run the outbox relay (publishes committed jobs; archives dead letters)."""
    from bookmarkai_ml.messaging.service import RelayService
    from bookmarkai_ml.observability.logging import configure_logging
    from bookmarkai_ml.observability.prometheus import start_metrics_server

    settings = settings_of(ctx)
    configure_logging(settings.telemetry)
    db = bootstrap.database(settings, pool_size=3)
    if metrics_port:
        start_metrics_server(metrics_port)

    async def main() -> None:
        stop = await _until_signalled()
        await RelayService(settings, engine=db.engine).run_until(stop)

    asyncio.run(main())


def _worker_queues(queue: list[str] | None) -> list[str]:
    queues = queue or list(TASKS.queues)
    unknown = sorted(set(queues) - set(TASKS.queues))
    if unknown:
        console.print(f"[red]unknown queue(s):[/] {', '.join(unknown)}")
        raise typer.Exit(Exit.USAGE)
    return queues


def _metrics_port(settings: Settings, queues: list[str]) -> int:
    """The configured metrics port of the first queue's task (``tasks.<task>.metrics_port``)."""
    return settings.tasks[TASKS.by_queue(queues[0]).type].metrics_port


def worker(
    ctx: typer.Context,
    queue: Annotated[
        list[str] | None, typer.Option("--queue", "-Q", help="Queue(s) to consume; default all.")
    ] = None,
    concurrency: Annotated[int | None, typer.Option(help="Processes/threads.")] = None,
    pool: Annotated[str | None, typer.Option(help="prefork | threads | solo.")] = None,
    metrics_port: Annotated[
        int | None, typer.Option(help="Metrics port; default by queue (9091-9093); 0 = off.")
    ] = None,
    loglevel: Annotated[
        str | None, typer.Option(help="Log level; default telemetry.log_level.")
    ] = None,
) -> None:
    """Run a Celery worker on one or more task queues."""
    from bookmarkai_ml.observability import prometheus
    from bookmarkai_ml.observability.logging import configure_logging, connect_celery_logging
    from bookmarkai_ml.workers.app import make_worker_app

    settings = settings_of(ctx)
    configure_logging(settings.telemetry, level=loglevel)
    connect_celery_logging(settings.telemetry, level=loglevel)
    queues = _worker_queues(queue)
    updates = {k: v for k, v in {"concurrency": concurrency, "pool": pool}.items() if v is not None}
    if updates:
        settings = settings.model_copy(
            update={"worker": settings.worker.model_copy(update=updates)}
        )
    try:
        app = make_worker_app(settings, queues=queues)
    except ConfigurationError as exc:
        console.print(f"[red]configuration error:[/] {exc}")
        raise typer.Exit(Exit.USAGE) from exc
    _declare_topology_or_exit(settings)
    port = _metrics_port(settings, queues) if metrics_port is None else metrics_port
    if settings.worker.pool == "prefork":
        prometheus.enable_multiprocess(settings.data_dir / "prometheus" / f"worker-{os.getpid()}")
    prometheus.connect_celery_signals()
    prometheus.zero_worker_series(
        [TASKS.by_queue(q).type for q in queues], transcriber=settings.models.transcriber
    )
    if port:
        prometheus.start_metrics_server(port)
    app.worker_main(
        [
            # JSON lines only: Celery's start-up banner is printed, not logged.
            *(["--quiet"] if settings.telemetry.log_json else []),
            "worker",
            "--queues",
            ",".join(queues),
            "--loglevel",
            loglevel or settings.telemetry.log_level,
            "--concurrency",
            str(settings.worker.concurrency),
            "--pool",
            settings.worker.pool,
            "--hostname",
            f"bkml-{'-'.join(TASKS.by_queue(q).type.value for q in queues)}-{os.getpid()}@%h",
            # Mingle/gossip/heartbeat are worker-to-worker chatter over fanout queues; unused.
            "--without-mingle",
            "--without-gossip",
            "--without-heartbeat",
        ]
    )


def _declare_topology_or_exit(settings: Settings) -> None:
    """Declare the topology (idempotent) before the worker consumes; exit when it cannot."""
    from bookmarkai_ml.messaging.admin import declare_topology

    try:
        declare_topology(settings)
    except BrokerUnavailableError as exc:
        console.print(f"[red]broker unavailable:[/] {exc}")
        raise typer.Exit(Exit.UNAVAILABLE) from exc
    except ConfigurationError as exc:  # a queue declared with other arguments, or no rights
        console.print(f"[red]configuration error ({exc.code}):[/] {exc}")
        raise typer.Exit(Exit.USAGE) from exc


def topology(ctx: typer.Context) -> None:
    """Declare exchanges, quorum queues and dead-letter queues (idempotent)."""
    from bookmarkai_ml.messaging import topology as topo

    settings = settings_of(ctx)
    _declare_topology_or_exit(settings)
    emit_json(
        {
            "exchanges": [e.name for e in topo.EXCHANGES],
            "queues": {q.name: q.arguments for q in topo.all_queues(settings.broker)},
        }
    )


def _archive(settings: Settings, sessions: SessionFactory) -> int:
    from bookmarkai_ml.messaging import dlq
    from bookmarkai_ml.messaging.admin import BrokerAdmin

    async def main() -> int:
        async with BrokerAdmin.from_settings(settings) as admin:
            await admin.connect(attempts=settings.broker.reconnect_max_attempts)
            return await dlq.archive(admin, sessions)

    return asyncio.run(main())


@dlq_app.command("list")
def dlq_list(
    ctx: typer.Context,
    queue: Annotated[str | None, typer.Option(help="Only this task queue.")] = None,
    include_replayed: Annotated[bool, typer.Option(help="Show replayed ones too.")] = False,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 100,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Move waiting dead letters into the database, then list them with queue, reason and job."""
    from bookmarkai_ml.messaging import dlq

    settings = settings_of(ctx)
    sessions = bootstrap.database(settings).sessions
    try:
        _archive(settings, sessions)
    except (BrokerUnavailableError, QueueNotFoundError) as exc:
        console.print(f"[yellow]DLQs not read, listing archived letters only:[/] {exc}")
    with transaction(sessions) as session:
        rows = dlq.list_dead(session, queue=queue, include_replayed=include_replayed, limit=limit)
    if json_output:
        emit_json([_row(r) for r in rows])
        return
    from rich.table import Table

    table = Table("id", "queue", "task", "job", "reason", "dead at")
    for r in rows:
        table.add_row(
            str(r.id),
            r.queue,
            r.task_name or "",
            str(r.job_id or ""),
            r.reason,
            r.dead_at.isoformat(timespec="seconds"),
        )
    console.print(table)


def _row(r: object) -> dict[str, object]:
    return {name: getattr(r, name) for name in getattr(r, "__slots__", ())}


@dlq_app.command("replay")
def dlq_replay(
    ctx: typer.Context,
    ids: Annotated[list[int] | None, typer.Argument(help="Dead-letter ids to replay.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Replay every unreplayed letter.")] = False,
    queue: Annotated[str | None, typer.Option(help="With --all: only this queue.")] = None,
) -> None:
    """Re-publish selected dead letters through the outbox (their jobs run again)."""
    from bookmarkai_ml.messaging import dlq

    settings = settings_of(ctx)
    if not ids and not all_:
        console.print("[red]give dead-letter ids or --all[/]")
        raise typer.Exit(Exit.USAGE)
    try:
        with transaction(bootstrap.database(settings).sessions) as session:
            selected = dlq.all_ids(session, queue=queue) if all_ else list(ids or [])
            outcomes = dlq.replay(session, selected)
    except BookmarkAIError as exc:
        console.print(f"[red]{exc.code}:[/] {exc}")
        raise typer.Exit(Exit.UNAVAILABLE) from exc
    emit_json({str(k): v for k, v in sorted(outcomes.items())})
    if any(v != "replayed" for v in outcomes.values()):
        raise typer.Exit(Exit.FAILED)


def register(app: typer.Typer) -> None:
    app.command()(relay)
    app.command()(worker)
    app.command()(topology)
    app.add_typer(dlq_app, name="dlq")
