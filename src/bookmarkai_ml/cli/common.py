"""What every subcommand shares: settings, database handles, output and exit codes."""

from __future__ import annotations

import json
from enum import IntEnum
from typing import Any

import typer
from rich.console import Console

from bookmarkai_ml.config import Settings
from bookmarkai_ml.db.engine import SessionFactory, database_url, make_engine, make_session_factory

console = Console(stderr=True)
out = Console()


class Exit(IntEnum):
    """Exit codes scripts can rely on."""

    OK = 0
    FAILED = 1  # the work ran and failed (a job failed, a check failed)
    USAGE = 2  # bad arguments (typer's own code)
    UNAVAILABLE = 3  # a service (database, broker) could not be reached
    NOT_FOUND = 4


def load_settings() -> Settings:
    return Settings()


def session_factory(settings: Settings) -> SessionFactory:
    return make_session_factory(make_engine(database_url(settings)))


def emit_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))
