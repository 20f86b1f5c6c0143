"""``models prepare``: assemble and verify every bundled model once, export the ONNX
embedder, and check that every configured local model loads.

``scripts/install.sh``, ``migrate`` and ``up`` run it (the last two in a child process,
``run_prepare``, so the models it loads do not stay in their memory), so no worker
pays the assembly of a split model (Whisper base's ``model.bin`` is two wheels' parts
concatenated) or the ONNX export of all-MiniLM-L6-v2, which needs torch. Each pinned
file is checked against its sha256 (``providers/artifacts.py``); a mismatch prints the
file and exits non-zero. An artifact whose packages are not installed (an optional
extra) is skipped, and said so.
"""

from __future__ import annotations

import importlib.util
import logging
import subprocess
import sys
import time
from typing import Annotated, Any

import typer

from bookmarkai_ml import bootstrap
from bookmarkai_ml.bootstrap import models
from bookmarkai_ml.cli.common import Exit, console, emit_json, settings_of
from bookmarkai_ml.config import Settings
from bookmarkai_ml.contracts import TaskType
from bookmarkai_ml.domain.model_selection import LOCAL_MODEL
from bookmarkai_ml.errors import ArtifactMismatchError, BookmarkAIError, ConfigurationError
from bookmarkai_ml.providers import artifacts, pins

log = logging.getLogger(__name__)
models_app = typer.Typer(help="Bundled models: assemble, verify, export.", no_args_is_help=True)


def missing_packages(artifact: artifacts.Artifact) -> list[str]:
    """The packages shipping parts of ``artifact`` that are not installed."""
    packages = {part.package for f in artifact.files for part in f.parts}
    return sorted(p for p in packages if importlib.util.find_spec(p) is None)


@models_app.command()
def prepare(
    ctx: typer.Context,
    onnx: Annotated[bool, typer.Option(help="Also export the ONNX embedding model.")] = True,
    check: Annotated[
        bool, typer.Option(help="Load each configured local model once, as a worker would.")
    ] = True,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Assemble and verify every bundled model, export the ONNX embedder, check each loads."""
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
    if check:
        report.extend(_check_loads(settings, onnx_ready=onnx))
    if json_output:
        emit_json(report)
    if any(r["status"] == "failed" for r in report):
        raise typer.Exit(Exit.FAILED)


def _check_loads(settings: Settings, *, onnx_ready: bool) -> list[dict[str, Any]]:
    """Load the configured model of each task as its worker will (``models.warm_up``)."""
    report: list[dict[str, Any]] = []
    onnx = settings.models.embedder == "onnx"
    needs_onnx = {TaskType.SUMMARIZE, TaskType.EMBED} if onnx else set()
    for task in TaskType:
        if task in needs_onnx and not onnx_ready:
            report.append({"task": task.value, "status": "skipped", "reason": "--no-onnx"})
            continue
        started = time.perf_counter()
        try:
            loaded = models.warm_up(settings, [task])
        except BookmarkAIError as exc:
            console.print(f"[red]{task.value}: does not load: {exc}[/]", soft_wrap=True)
            report.append({"task": task.value, "status": "failed", "error": str(exc)})
            continue
        seconds = round(time.perf_counter() - started, 2)
        for name in loaded:
            console.print(f"{task.value}: [green]{name} loads[/] ({seconds} s)", soft_wrap=True)
            report.append({"task": task.value, "model": name, "status": "loads"})
    return report


def run_prepare(*, through_logging: bool = False) -> bool:
    """``models prepare`` in a child process (its settings from the same environment);
    True if it succeeded. A child, so the models it loads leave with it.

    ``through_logging``: each line it prints becomes a log record (``up``, whose output is
    log lines, JSON ones with ``telemetry.log_json``), an error if it failed.
    """
    argv = [sys.executable, "-m", "bookmarkai_ml.cli", "models", "prepare"]
    if not through_logging:
        return subprocess.run(argv, check=False).returncode == 0
    done = subprocess.run(argv, check=False, capture_output=True, text=True)
    level = logging.INFO if done.returncode == 0 else logging.ERROR
    for line in (done.stdout + done.stderr).splitlines():
        if line.strip():
            log.log(level, "models prepare: %s", line)
    return done.returncode == 0


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
