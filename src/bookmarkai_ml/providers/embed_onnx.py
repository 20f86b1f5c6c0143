"""all-MiniLM-L6-v2 on ONNX Runtime (fused, per-token int8 where quality holds): the fast path.

Same model, same vectors within cosine 0.99 of the torch reference, so vectors from
either path share the model name ``all-MiniLM-L6-v2`` in the index. Each text runs
alone, unpadded, so its vector never depends on what it was submitted with. The
tokenizer is the model's own ``tokenizer.json`` through the Rust ``tokenizers`` library.

The export needs torch and transformers (about 1 GB once loaded), so it never runs in
the process that embeds: ``bookmarkai-ml models prepare`` (run by install, ``migrate``
and ``up``) builds it ahead, and an embedder that still finds none runs the export in a
child process (``python -m bookmarkai_ml.providers.embed_onnx``). A worker or the API
on this path loads only onnxruntime, tokenizers and numpy.
"""

from __future__ import annotations

import argparse
import functools
import os
import subprocess
import sys
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from bookmarkai_ml.domain.model_selection import LOCAL_DIMENSION, LOCAL_MODEL
from bookmarkai_ml.errors import ConfigurationError
from bookmarkai_ml.ports import FloatArray
from bookmarkai_ml.providers.embed_local import bundled_model_path, offline_hub
from bookmarkai_ml.providers.onnx_export import (
    PROBES,
    ExportedModel,
    cached_export,
    export_model,
    feed,
)

MAX_TOKENS = 256  # all-MiniLM-L6-v2's max_seq_length (sentence_bert_config.json)
_LOCK = threading.Lock()


def _session(path: Path) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    # One thread per run, several runs at once (see ``_Runner``): no barrier waits
    # between intra-op threads, which stall whenever a sibling process takes a core.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _tokenizer(model_dir: Path, *, truncate: bool = True) -> Any:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tok.no_padding()
    if truncate:
        tok.enable_truncation(max_length=MAX_TOKENS)
    else:
        tok.no_truncation()
    return tok


class _Runner:
    """One ONNX session, its tokenizer and a pool of ``threads`` runners; shared per process.

    Texts are tokenized at once and each runs alone, longest first, ``threads`` at a time
    on the one session (``InferenceSession.run`` is thread-safe and releases the GIL).
    Alone, because it is fastest: padded batches of 8 took 1.12x as long (the padding is
    computed too) and batches of 32, 1.6x. The int8 graph scales each token on its own,
    so a text's vector would be the same in a batch (to 1e-7); alone it is exactly so.
    """

    def __init__(self, model_dir: Path, onnx_path: Path, threads: int) -> None:
        self.tokenizer = _tokenizer(model_dir)
        self.counter = _tokenizer(model_dir, truncate=False)
        self.session = _session(onnx_path)
        self.threads = threads if threads > 0 else (os.cpu_count() or 1)
        self._pool: ThreadPoolExecutor | None = None
        self._pool_pid = 0

    def _executor(self) -> ThreadPoolExecutor:
        """The pool of this process: one built before a fork has no threads in the child."""
        if self._pool is None or self._pool_pid != os.getpid():
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="onnx-embed")
            self._pool_pid = os.getpid()
        return self._pool

    def _one(self, ids: list[int]) -> FloatArray:
        return np.asarray(self.session.run(None, feed(ids))[0][0], dtype=np.float32)

    def run(self, texts: Sequence[str]) -> FloatArray:
        encoded = [e.ids for e in self.tokenizer.encode_batch(list(texts))]
        order = sorted(range(len(texts)), key=lambda i: -len(encoded[i]))
        jobs = [encoded[i] for i in order]
        if len(jobs) == 1:
            results = [self._one(jobs[0])]
        else:
            results = list(self._executor().map(self._one, jobs))
        out = np.zeros((len(texts), LOCAL_DIMENSION), dtype=np.float32)
        out[order] = np.stack(results)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        result: FloatArray = (out / np.maximum(norms, 1e-12)).astype(np.float32)
        return result


@functools.cache
def _runner(model_dir: Path, onnx_path: Path, threads: int) -> _Runner:
    return _Runner(model_dir, onnx_path, threads)


@functools.cache
def _exported(model_dir: Path, cache_dir: Path, quantize: bool) -> ExportedModel:
    """The cached export, built first in a child process if there is none.

    Raises:
        ConfigurationError: the export failed (the child's last lines say why).
    """
    with _LOCK:
        found = cached_export(model_dir, cache_dir, quantize=quantize)
        if found is not None:
            return found
        argv = [sys.executable, "-m", __name__, str(model_dir), str(cache_dir)]
        done = subprocess.run(
            [*argv, *([] if quantize else ["--no-quantize"])],
            capture_output=True,
            text=True,
            check=False,
        )
        found = cached_export(model_dir, cache_dir, quantize=quantize)
        if done.returncode != 0 or found is None:
            tail = "\n".join(done.stderr.strip().splitlines()[-5:])
            raise ConfigurationError(f"ONNX export of {model_dir} failed: {tail}")
        return found


def export_here(model_dir: Path, cache_dir: Path, *, quantize: bool) -> ExportedModel:
    """Export in this process (loads torch): the child that ``_exported`` starts runs this.

    Raises:
        ConfigurationError: the export failed.
    """
    offline_hub()

    def probe(path: Path) -> FloatArray:
        return _Runner(model_dir, path, 1).run(PROBES)

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
        threads: int = 0,
        quantize: bool = True,
        model: str = LOCAL_MODEL,
    ) -> None:
        self.model = model
        self.model_path = model_path or bundled_model_path()
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
        return self._runner.run(list(texts))

    def count_tokens(self, text: str) -> int:
        """Word pieces the model reads, without the [CLS]/[SEP] markers."""
        return len(self._runner.counter.encode(text, add_special_tokens=False).ids)


def main() -> None:
    parser = argparse.ArgumentParser(description="Export all-MiniLM-L6-v2 to ONNX (cached).")
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("cache_dir", type=Path)
    parser.add_argument("--no-quantize", dest="quantize", action="store_false")
    args = parser.parse_args()
    exported = export_here(args.model_dir, args.cache_dir, quantize=args.quantize)
    print(exported.path)


if __name__ == "__main__":
    main()
