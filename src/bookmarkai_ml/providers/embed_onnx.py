"""all-MiniLM-L6-v2 on ONNX Runtime (fused, int8 where quality holds): the fast local path.

Same model, same vectors within cosine 0.99 of the torch reference, so vectors from
either path share the model name ``all-MiniLM-L6-v2`` in the index. Batches are
sorted by length so padding stays small. The tokenizer is the model's own
``tokenizer.json`` through the Rust ``tokenizers`` library.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bookmarkai_ml.domain.model_selection import LOCAL_DIMENSION, LOCAL_MODEL
from bookmarkai_ml.errors import ConfigurationError
from bookmarkai_ml.ports import FloatArray
from bookmarkai_ml.providers.embed_local import bundled_model_path, offline_hub
from bookmarkai_ml.providers.onnx_export import PROBES, ExportedModel, export_model

MAX_TOKENS = 256  # all-MiniLM-L6-v2's max_seq_length (sentence_bert_config.json)
_LOCK = threading.Lock()


def _session(path: Path, threads: int) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Busy-waiting threads steal the CPU from sibling workers on a small machine.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _tokenizer(model_dir: Path, *, truncate: bool = True) -> Any:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    if truncate:
        tok.enable_truncation(max_length=MAX_TOKENS)
        tok.enable_padding(pad_id=0, pad_token="[PAD]")  # noqa: S106 - a vocabulary token
    else:
        tok.no_truncation()
        tok.no_padding()
    return tok


class _Runner:
    """One ONNX session plus tokenizer; shared per (file, threads) within a process."""

    def __init__(self, model_dir: Path, onnx_path: Path, threads: int) -> None:
        self.tokenizer = _tokenizer(model_dir)
        self.counter = _tokenizer(model_dir, truncate=False)
        self.session = _session(onnx_path, threads)

    def run(self, texts: Sequence[str], batch_size: int) -> FloatArray:
        out = np.zeros((len(texts), LOCAL_DIMENSION), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            encoded = self.tokenizer.encode_batch([texts[i] for i in idx])
            ids = np.array([e.ids for e in encoded], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
            feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            out[idx] = np.asarray(self.session.run(None, feed)[0], dtype=np.float32)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        result: FloatArray = (out / np.maximum(norms, 1e-12)).astype(np.float32)
        return result


@functools.cache
def _runner(model_dir: Path, onnx_path: Path, threads: int) -> _Runner:
    return _Runner(model_dir, onnx_path, threads)


@functools.cache
def _exported(model_dir: Path, cache_dir: Path, quantize: bool) -> ExportedModel:
    offline_hub()

    def probe(path: Path) -> FloatArray:
        return _Runner(model_dir, path, 1).run(PROBES, 16)

    with _LOCK:
        return export_model(model_dir, cache_dir, quantize=quantize, probe=probe)


class OnnxEmbedder:
    """``ports.Embedder`` on ONNX Runtime; exports and caches the model on first use.

    Raises:
        ConfigurationError: the model could not be exported or loaded.
    """

    provider = "onnx"
    dimension = LOCAL_DIMENSION

    def __init__(
        self,
        *,
        cache_dir: Path,
        model_path: Path | None = None,
        batch_size: int = 32,
        threads: int = 0,
        quantize: bool = True,
        model: str = LOCAL_MODEL,
    ) -> None:
        self.model = model
        self.model_path = model_path or bundled_model_path()
        self.batch_size = batch_size
        self.max_tokens = MAX_TOKENS
        if not (self.model_path / "tokenizer.json").exists():
            raise ConfigurationError(f"no tokenizer.json in {self.model_path}")
        self.exported = _exported(self.model_path, cache_dir, quantize)
        self._runner = _runner(self.model_path, self.exported.path, threads)

    @property
    def precision(self) -> str:
        return self.exported.precision

    def embed(self, texts: Sequence[str]) -> FloatArray:
        """L2-normalised float32 vectors, one row per text."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return self._runner.run(list(texts), self.batch_size)

    def count_tokens(self, text: str) -> int:
        """Word pieces the model reads, without the [CLS]/[SEP] markers."""
        return len(self._runner.counter.encode(text, add_special_tokens=False).ids)
