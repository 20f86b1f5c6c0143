"""Fixtures for the ML tests: the real models (loaded once per session) and a chat/embeddings stub.

The ONNX export is cached across sessions in the directory the root conftest names in
``BOOKMARKAI_ML_MODELS__ONNX_CACHE_DIR`` (its key covers the weights and library
versions), so only the first run pays for it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bookmarkai_ml import bootstrap
from bookmarkai_ml.config import Settings
from bookmarkai_ml.providers.embed_local import SentenceTransformerEmbedder
from bookmarkai_ml.providers.embed_onnx import OnnxEmbedder
from support.ml import MLStub


@pytest.fixture(scope="session")
def onnx_cache() -> Path:
    cache = Path(os.environ["BOOKMARKAI_ML_MODELS__ONNX_CACHE_DIR"])
    cache.mkdir(parents=True, exist_ok=True)
    return cache


@pytest.fixture(scope="session")
def onnx_embedder(onnx_cache: Path) -> OnnxEmbedder:
    return OnnxEmbedder(cache_dir=onnx_cache)


@pytest.fixture(scope="session")
def torch_embedder() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder()


@pytest.fixture
def ml_settings(settings: Settings, onnx_cache: Path) -> Settings:
    """Test settings on the ONNX path with the shared export cache."""
    models = settings.models.model_copy(update={"embedder": "onnx", "onnx_cache_dir": onnx_cache})
    return settings.model_copy(update={"models": models})


@pytest.fixture
def stub() -> Iterator[MLStub]:
    server = MLStub()
    with server:
        yield server
    bootstrap.clear_cache()  # close the clients built on this stub's URL
