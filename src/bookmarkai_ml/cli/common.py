"""What every subcommand shares: the process's settings, output and exit codes."""

from __future__ import annotations

import json
import warnings
from enum import IntEnum
from typing import Any

import typer
from pydantic import ValidationError
from rich.console import Console

from bookmarkai_ml.config import SettingDeprecationWarning, Settings
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
    not a traceback. A setting read under a deprecated name is reported on stderr:
    Python hides ``DeprecationWarning`` outside ``__main__``, so an operator would
    otherwise never learn of the rename.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SettingDeprecationWarning)
        try:
            settings = Settings()
        except (ConfigurationError, ValidationError) as exc:
            console.print(f"[red]configuration error:[/] {exc}")
            raise typer.Exit(Exit.USAGE) from exc
    for warning in caught:
        if issubclass(warning.category, SettingDeprecationWarning):
            console.print(f"[yellow]deprecated setting:[/] {warning.message}")
        else:
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    return settings


def settings_of(ctx: typer.Context) -> Settings:
    """The settings the root command read for this process (``main._root``)."""
    settings = ctx.find_root().obj
    if not isinstance(settings, Settings):  # a command invoked without the root app
        raise TypeError("the bookmarkai-ml root command did not read the settings")
    return settings


def emit_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))
