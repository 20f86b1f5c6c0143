"""Maintenance commands that regenerate committed files: contract schemas, config docs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bookmarkai_ml.cli.common import console
from bookmarkai_ml.contracts import schemas
from bookmarkai_ml.settings_docs import render_configuration_docs

contracts_app = typer.Typer(help="Message contracts (JSON Schema for other producers).")


@contracts_app.command("export")
def export_contracts(
    directory: Annotated[Path, typer.Argument(help="Output directory.")] = Path("contracts"),
) -> None:
    """Write the JSON Schema of every message and result contract."""
    for path in schemas.export(directory):
        console.print(f"wrote {path}")


def config_docs(
    output: Annotated[Path, typer.Option(help="Output file.")] = Path("docs/configuration.md"),
) -> None:
    """Regenerate the configuration reference from the settings model."""
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(render_configuration_docs())
    console.print(f"wrote {output}")


def register(app: typer.Typer) -> None:
    app.add_typer(contracts_app, name="contracts")
    app.command("config-docs")(config_docs)
