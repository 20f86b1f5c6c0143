"""What every subcommand shares: the process's settings, output and exit codes."""

from __future__ import annotations

import json
from enum import IntEnum
from typing import Any

import typer
from pydantic import ValidationError
from rich.console import Console

from bookmarkai_ml.config import Settings
from bookmarkai_ml.errors import ConfigurationError

console = Console(stderr=True)
out = Console()


class Exit(IntEnum):
    """Exit codes scripts can rely on."""

    OK = 0
    FAILED = 1  # the work ran and failed (a job failed, a check failed)
    USAGE = 2  # bad arguments (typer's own code)
    UNAVAILABLE = 3  # a service (database, broker) could not be reached
    NOT_FOUND = 4


def read_settings() -> Settings:
    """Read the settings (environment and ``.env``); the root command calls this once.

    Invalid or unsafe settings end the process with ``Exit.USAGE`` and the reason,
    not a traceback.
    """
    try:
        return Settings()
    except (ConfigurationError, ValidationError) as exc:
        console.print(f"[red]configuration error:[/] {exc}")
        raise typer.Exit(Exit.USAGE) from exc


def settings_of(ctx: typer.Context) -> Settings:
    """The settings the root command read for this process (``main._root``)."""
    settings = ctx.find_root().obj
    if not isinstance(settings, Settings):  # a command invoked without the root app
        raise TypeError("the bookmarkai-ml root command did not read the settings")
    return settings


def emit_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))
