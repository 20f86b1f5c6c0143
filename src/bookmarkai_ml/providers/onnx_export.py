"""Export all-MiniLM-L6-v2 to ONNX once, fuse it, quantize it to int8 where quality holds.

The graph includes mean pooling and L2 normalisation, so ONNX Runtime returns
sentence vectors directly. Steps, each cached under ``cache_dir/<key>/``:

1. ``torch.onnx.export`` of the bundled weights with *eager* attention: that is the
   pattern ONNX Runtime's BERT optimizer fuses (SDPA exports are not fused);
2. ``onnxruntime.transformers.optimizer`` fusion into ``MultiHeadAttention`` with the
   query, key and value projections left as MatMuls (so they can be quantized too),
   GELU approximated by tanh (fp32, ``model.fp32.onnx``);
3. int8 (``model.int8.onnx``): every dense layer in per-token int8 with SmoothQuant
   scales calibrated on ``CALIBRATION`` (``providers/onnx_int8.py``), then a check on
   ``PROBES``: int8 is used only if every probe vector keeps cosine >= ``MIN_COSINE`` to
   fp32; otherwise the fused fp32 graph serves.

Concurrent workers serialise on a file lock; files appear by atomic rename.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.metadata
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bookmarkai_ml.errors import ConfigurationError
from bookmarkai_ml.providers.onnx_int8 import signed_weights_exact

MIN_COSINE = 0.99


#: How the int8 graph is made; part of the cache key, so a change re-exports.
SCHEME = "mha/per-token-int8/smoothquant-0.6/gelu-shift/fastgelu"
PROBES = (
    "The city council approved the new budget for public transport on Tuesday.",
    "How do I reset my router password?",
    "A quick brown fox jumps over the lazy dog.",
    "Quantum computers use qubits that can be in superposition.",
    "Best pasta recipe: boil water, add salt, cook for nine minutes, then toss with sauce.",
    "lol this video is hilarious 😂",
    "ok",
    "Thanks!",
    "Best pasta ever #food",
    "The stock market fell sharply after the central bank raised interest rates by half a "
    "percentage point, its largest increase in two decades, surprising many analysts.",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "In this episode we talk about startups, fundraising, hiring and burnout with a founder "
    "who built and sold two companies before turning thirty.",
    "Reddit thread: what is the most underrated programming language and why is it Ada?",
    "Sleep deprivation impairs memory consolidation and emotional regulation.",
    "Rust's borrow checker prevents data races at compile time.",
)
#: Texts whose activations set the SmoothQuant scales: none of them is a probe, so the
#: probe check judges the int8 graph on texts it was not fitted to.
CALIBRATION = (
    "Yes!",
    "wow 🔥🔥",
    "Good morning everyone.",
    "Where can I buy cheap flights to Lisbon in March?",
    "Saved this for later: ten habits of people who never seem stressed.",
    "The orchestra rehearsed the second movement twice before the evening concert began.",
    "Our support team answers most tickets within four hours on working days.",
    "Scientists measured the glacier's retreat with drones and satellite images over six "
    "summers, and found that it lost nearly a fifth of its volume.",
    "In today's video I review the new mirrorless camera: autofocus, battery life, video "
    "modes and whether it is worth upgrading from last year's model.",
    "Thread: my landlord kept the deposit because of normal wear and tear. What are my "
    "options, and does it matter that we never signed an inventory at move-in?",
    "The recipe calls for two cups of flour, a pinch of salt, three eggs and a spoon of "
    "butter; knead for ten minutes and let the dough rest overnight in the fridge. The "
    "next day, roll it thin, cut it into strips and boil them for three minutes. Serve "
    "with grated cheese, black pepper and the water they cooked in, whisked into a sauce.",
)


@dataclass(frozen=True, slots=True)
class ExportedModel:
    """The files of one export and which precision passed the quality check."""

    path: Path
    precision: str  # "int8" | "fp32"
    min_cosine: float


def _key(model_dir: Path) -> str:
    # Versions from the installed metadata: importing torch for its __version__ cost every
    # recycled prefork child 1.5 s before its first embedding.
    versions = [importlib.metadata.version(name) for name in ("torch", "onnxruntime")]
    h = hashlib.sha256()
    for name in ("config.json", "tokenizer.json", "model.safetensors"):
        f = model_dir / name
        h.update(f"{name}:{f.stat().st_size if f.exists() else -1}".encode())
    h.update("/".join(versions).encode())
    # the weight format depends on the CPU: a cache copied to another kind re-exports
    h.update(f"{SCHEME}/{'s8' if signed_weights_exact() else 'u8'}".encode())
    return h.hexdigest()[:16]


def _export_fp32(model_dir: Path, out: Path) -> None:
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # one-time export
    model = AutoModel.from_pretrained(
        str(model_dir), attn_implementation="eager", local_files_only=True
    ).eval()

    class Pooled(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.m = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self.m(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    dummy = torch.ones((2, 16), dtype=torch.long)
    names = ["input_ids", "attention_mask", "token_type_ids"]
    raw = out.with_suffix(".raw.onnx")
    with warnings.catch_warnings(), torch.no_grad():
        # The TorchScript exporter is deprecated but is the one whose graph ONNX Runtime
        # fuses; torch is pinned (==2.13.0), so it is there for as long as we are.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Pooled(model),
            (dummy, dummy, torch.zeros_like(dummy)),
            str(raw),
            input_names=names,
            output_names=["sentence_embedding"],
            dynamic_axes={n: {0: "batch", 1: "seq"} for n in names}
            | {"sentence_embedding": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    config = json.loads((model_dir / "config.json").read_text())
    options = FusionOptions("bert")
    # tanh-approximated GELU (FastGelu): 5 % faster; cosine to exact GELU >= 0.99999
    options.enable_gelu_approximation = True
    # MultiHeadAttention, not Attention: the query/key/value projections stay MatMuls,
    # which the int8 step quantizes (Attention would keep them fp32 inside the op).
    options.use_multi_head_attention = True
    fused = optimize_model(
        str(raw),
        model_type="bert",
        num_heads=int(config["num_attention_heads"]),
        hidden_size=int(config["hidden_size"]),
        optimization_options=options,
    )
    fused.save_model_to_file(str(out))
    raw.unlink(missing_ok=True)


def feed(ids: list[int]) -> dict[str, np.ndarray]:
    """The exported graph's inputs for one text's word pieces, unpadded."""
    tokens = np.asarray([ids], dtype=np.int64)
    return {
        "input_ids": tokens,
        "attention_mask": np.ones_like(tokens),
        "token_type_ids": np.zeros_like(tokens),
    }


def calibration_feeds(model_dir: Path) -> list[dict[str, np.ndarray]]:
    """``CALIBRATION`` tokenized as the embedder feeds it: one text a run, unpadded."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.no_padding()
    return [feed(encoded.ids) for encoded in tokenizer.encode_batch(list(CALIBRATION))]


def _quantize(src: Path, out: Path, feeds: list[dict[str, np.ndarray]]) -> None:
    import onnx

    from bookmarkai_ml.providers.onnx_int8 import channel_absmax, per_token_int8

    model = onnx.load(str(src))
    ranges = channel_absmax(model, feeds)
    onnx.save(per_token_int8(model, ranges, signed=signed_weights_exact()), str(out))


def export_model(
    model_dir: Path,
    cache_dir: Path,
    *,
    quantize: bool,
    probe: Any,
) -> ExportedModel:
    """The cached export for ``model_dir``, building it on first use.

    ``probe(path) -> vectors`` embeds ``PROBES`` with the ONNX file at ``path``.

    Raises:
        ConfigurationError: the export failed (no torch/transformers, bad weights).
    """
    target = cache_dir / _key(model_dir)
    target.mkdir(parents=True, exist_ok=True)
    manifest = target / "manifest.json"
    with (target / ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            state = json.loads(manifest.read_text()) if manifest.exists() else {}
            fp32 = target / "model.fp32.onnx"
            if not fp32.exists():
                try:
                    tmp = target / f"fp32.{os.getpid()}.onnx"
                    _export_fp32(model_dir, tmp)
                    tmp.replace(fp32)
                except Exception as exc:
                    raise ConfigurationError(f"ONNX export of {model_dir} failed: {exc}") from exc
            if quantize and "int8_min_cosine" not in state:
                int8 = target / "model.int8.onnx"
                tmp = target / f"int8.{os.getpid()}.onnx"
                _quantize(fp32, tmp, calibration_feeds(model_dir))
                tmp.replace(int8)
                a, b = probe(fp32), probe(int8)
                state["int8_min_cosine"] = float(np.min(np.sum(a * b, axis=1)))
                manifest.write_text(json.dumps(state))
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return _chosen(target, state, quantize=quantize)


def cached_export(model_dir: Path, cache_dir: Path, *, quantize: bool) -> ExportedModel | None:
    """The finished export for ``model_dir`` if there is one; never exports, never loads torch."""
    target = cache_dir / _key(model_dir)
    manifest = target / "manifest.json"
    if not (target / "model.fp32.onnx").exists():
        return None
    state = json.loads(manifest.read_text()) if manifest.exists() else {}
    if quantize and "int8_min_cosine" not in state:
        return None
    return _chosen(target, state, quantize=quantize)


def _chosen(target: Path, state: dict[str, Any], *, quantize: bool) -> ExportedModel:
    cosine = float(state.get("int8_min_cosine", 0.0))
    if quantize and cosine >= MIN_COSINE:
        return ExportedModel(target / "model.int8.onnx", "int8", cosine)
    return ExportedModel(target / "model.fp32.onnx", "fp32", 1.0)
