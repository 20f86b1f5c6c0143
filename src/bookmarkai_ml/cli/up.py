"""``up``: the API (with the outbox relay) and one worker per queue as local processes.

Each component runs as its own ``bookmarkai-ml`` subcommand, as it would in
production (one container each), so ``up`` exercises the real wiring. Each worker runs
one pool child unless ``worker.concurrency`` is set (:func:`worker_concurrency`). With
``outbox.run_in_api`` off the relay is a process of its own. A component that dies is
restarted, as a process manager would, after a backoff that doubles from 1 s to 30 s
and resets once it has stayed up for a minute; one that dies within seconds of every
start, several times in a row (a broken configuration), stops ``up`` with exit 1
(``domain.restarts``). Ctrl-C (or SIGTERM) stops them all: SIGTERM first, so Celery
finishes or returns its in-flight tasks (acks are late), then SIGKILL after a grace period.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Annotated

import typer

from bookmarkai_ml import bootstrap
from bookmarkai_ml.cli.common import Exit, console, settings_of
from bookmarkai_ml.cli.models import run_prepare
from bookmarkai_ml.config import Settings
from bookmarkai_ml.contracts import TASKS
from bookmarkai_ml.db import migrate as migrations
from bookmarkai_ml.db.engine import database_url
from bookmarkai_ml.domain.restarts import RestartPolicy
from bookmarkai_ml.errors import BrokerUnavailableError, ConfigurationError
from bookmarkai_ml.messaging.admin import declare_topology
from bookmarkai_ml.observability.logging import configure_logging

GRACE_S = 20.0
log = logging.getLogger(__name__)


@dataclass
class Component:
    name: str
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restart_at: float | None = None  # monotonic time of a pending restart
    policy: RestartPolicy = field(default_factory=RestartPolicy)

    def start(self, env: dict[str, str]) -> None:
        # Own process group: a terminal's Ctrl-C reaches only us, and we stop children in order.
        self.process = subprocess.Popen(self.argv, env=env, start_new_session=True)
        self.started_at, self.restart_at = time.monotonic(), None
        log.info("started %s (pid %d)", self.name, self.process.pid)


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


def _supervise(part: Component, env: dict[str, str]) -> bool:
    """Restart ``part`` if it died and its backoff has passed; False to give up on it."""
    assert part.process is not None
    now = time.monotonic()
    if part.restart_at is not None:
        if now >= part.restart_at:
            part.start(env)
        return True
    if part.process.poll() is None:
        return True
    delay = part.policy.on_exit(ran_s=now - part.started_at)
    if delay is None:
        code = part.process.returncode
        log.error("%s exited (%s) too often right after starting", part.name, code)
        return False
    log.warning("%s exited (%s); restarting in %.0f s", part.name, part.process.returncode, delay)
    part.restart_at = now + delay
    return True


def _stop(parts: list[Component]) -> None:
    running = [p for p in parts if p.process and p.process.poll() is None]
    for part in running:
        assert part.process is not None
        part.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + GRACE_S
    for part in running:
        assert part.process is not None
        try:
            part.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            part.process.kill()
            part.process.wait()
        log.info("stopped %s (exit %s)", part.name, part.process.returncode)


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
    migrations.upgrade(bootstrap.database(settings).engine)
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
    stopping = False

    def _on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    for part in parts:
        part.start(env)
    exit_code = Exit.OK
    try:
        while not stopping:
            if not all(_supervise(part, env) for part in parts):
                stopping, exit_code = True, Exit.FAILED
            time.sleep(0.5)
    finally:
        _stop(parts)
    raise typer.Exit(exit_code)


def register(app: typer.Typer) -> None:
    app.command()(up)
