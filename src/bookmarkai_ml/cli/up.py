"""``up``: the API (with the outbox relay) and one worker per queue as local processes.

Each component runs as its own ``bookmarkai-ml`` subcommand, as it would in
production (one container each), so ``up`` exercises the real wiring. Each worker runs
one pool child unless ``worker.concurrency`` is set (:func:`worker_concurrency`). With
``outbox.run_in_api`` off the relay is a process of its own.

``up`` runs the migrations, ``models prepare`` (in a child) and declares the broker
topology, then replaces itself with ``bookmarkai_ml.supervisor`` (same pid), which starts
the components, restarts one that dies (backoff 1 s doubling to 30 s; a component that dies
right after every start stops ``up`` with exit 1) and stops them all on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Annotated

import typer

from bookmarkai_ml import bootstrap
from bookmarkai_ml.cli.common import Exit, console, settings_of
from bookmarkai_ml.cli.models import run_prepare
from bookmarkai_ml.config import Settings
from bookmarkai_ml.contracts import TASKS
from bookmarkai_ml.db import migrate as migrations
from bookmarkai_ml.db.engine import database_url
from bookmarkai_ml.errors import BrokerUnavailableError, ConfigurationError
from bookmarkai_ml.messaging.admin import declare_topology
from bookmarkai_ml.observability.logging import configure_logging
from bookmarkai_ml.supervisor import Component, spec

log = logging.getLogger(__name__)


def worker_concurrency(settings: Settings) -> int:
    """Pool children per worker under ``up``: ``worker.concurrency`` if it is set, else 1.

    On one machine each worker's model already uses every core through its own threads
    (``whisper_threads`` / ``embedding_threads`` 0 = all), so a second pool child per queue
    adds a copy of the model, not throughput: ``bench/pipeline.py`` measured 1.55-1.8 GB of
    PSS for the tree at 2 children per queue and 1.13 GB at 1, for the same CPU per item
    (docs/performance.md).
    """
    fields_set = settings.worker.model_fields_set
    return settings.worker.concurrency if "concurrency" in fields_set else 1


def _components(with_api: bool, relay_in_api: bool, concurrency: int = 1) -> list[Component]:
    cli = [sys.executable, "-m", "bookmarkai_ml.cli"]
    # The API embeds the relay, so its /api/ml/metrics/prometheus shows the producer's
    # metrics as the original design's gateway did; without the API (or with
    # outbox.run_in_api off) the relay runs alone.
    first = [Component("api", [*cli, "api"])] if with_api else []
    if not (with_api and relay_in_api):
        first.append(Component("relay", [*cli, "relay"]))
    workers = [
        Component(f"worker {q}", [*cli, "worker", "--queue", q, "--concurrency", str(concurrency)])
        for q in TASKS.queues
    ]
    return [*first, *workers]


def up(
    ctx: typer.Context,
    api: Annotated[bool, typer.Option(help="Also serve the HTTP API.")] = True,
    prepare: Annotated[
        bool, typer.Option(help="Run `models prepare` before any worker starts.")
    ] = True,
) -> None:
    """Run the API, the relay and a worker for each queue until Ctrl-C."""
    settings = settings_of(ctx)
    if not settings.broker_url:
        console.print("[red]up needs BOOKMARKAI_ML_BROKER_URL[/] (use `process` without a broker)")
        raise typer.Exit(Exit.USAGE)
    configure_logging(settings.telemetry)
    # Resolve the database once, so every child shares the same (embedded) server.
    url = database_url(settings)
    engine = bootstrap.database(settings).engine
    migrations.upgrade(engine)
    engine.dispose()  # nothing of this process's but its pid goes on past the exec below
    # Export and load the models in a child first: a worker never exports (torch) or assembles.
    if prepare and not run_prepare(through_logging=True):
        log.error("models prepare failed: no worker started")
        raise typer.Exit(Exit.FAILED)
    try:  # before any worker consumes: each binds every task queue at start
        declare_topology(settings)
    except (BrokerUnavailableError, ConfigurationError) as exc:
        log.error("cannot declare the broker topology: %s", exc)
        raise typer.Exit(Exit.UNAVAILABLE) from exc
    env = {**os.environ, "BOOKMARKAI_ML_DATABASE_URL": url}
    parts = _components(api, settings.outbox.run_in_api, worker_concurrency(settings))
    # Ready: from here on this process only supervises, and becomes the lean supervisor.
    argv = [sys.executable, "-m", "bookmarkai_ml.supervisor", spec(parts, settings.telemetry)]
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, argv, env)  # noqa: S606 - argv is ours, no shell


def register(app: typer.Typer) -> None:
    app.command()(up)
