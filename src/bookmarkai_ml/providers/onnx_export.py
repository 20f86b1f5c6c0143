"""Export all-MiniLM-L6-v2 to ONNX once, fuse it, quantize it to int8 where quality holds.

The graph includes mean pooling and L2 normalisation, so ONNX Runtime returns
sentence vectors directly. Steps, each cached under ``cache_dir/<key>/``:

1. ``torch.onnx.export`` of the bundled weights with *eager* attention: that is the
   pattern ONNX Runtime's BERT optimizer fuses into ``Attention`` and
   ``EmbedLayerNormalization`` kernels (SDPA exports are not fused);
2. ``onnxruntime.transformers.optimizer`` fusion, GELU approximated by tanh
   (fp32, ``model.fp32.onnx``);
3. int8 (``model.int8.onnx``): block-wise 8-bit weights for every dense layer
   (``DENSE_NODES``) and dynamic int8 for the first attention blocks
   (``ATTENTION_NODES``), then a check on probe texts: int8 is used only if every
   probe vector keeps cosine >= ``MIN_COSINE`` to fp32; otherwise the fused fp32
   graph serves.

Concurrent workers serialise on a file lock; files appear by atomic rename.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.metadata
import json
import logging
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bookmarkai_ml.errors import ConfigurationError

MIN_COSINE = 0.99


def _dense(layer: int, part: str) -> str:
    return f"/m/encoder/layer.{layer}/{part}/dense/MatMul"


#: Every dense layer (attention output, FFN in and out): 8-bit weights in blocks of
#: ``BLOCK_SIZE`` along the input, run by ``MatMulNBits`` in int8 with each activation
#: block scaled on its own (``accuracy_level`` 4), which keeps cosine >= 0.997 here where
#: one per-tensor activation scale (``quantize_dynamic``) lost up to 0.03 on short texts.
DENSE_NODES = tuple(
    _dense(layer, part)
    for layer in range(6)
    for part in ("attention/output", "intermediate", "output")
)
BLOCK_SIZE = 128
#: Fused attention blocks whose dynamic int8 costs least cosine (measured one node at a
#: time on a CPU without VNNI, see docs/models.md); the later ones stay fp32.
ATTENTION_NODES = ("Attention_0", "Attention_1", "Attention_2", "Attention_3")
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
    h.update(f"{DENSE_NODES}/{BLOCK_SIZE}/{ATTENTION_NODES}/fastgelu".encode())
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
    fused = optimize_model(
        str(raw),
        model_type="bert",
        num_heads=int(config["num_attention_heads"]),
        hidden_size=int(config["hidden_size"]),
        optimization_options=options,
    )
    fused.save_model_to_file(str(out))
    raw.unlink(missing_ok=True)


@contextlib.contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """ONNX Runtime's quantizers log through the root logger: ``matmul_nbits_quantizer``
    calls ``logging.basicConfig(level=INFO)`` at import and logs a line per graph node,
    ``quantize_dynamic`` warns through ``logging.warning`` (which installs a root handler
    when there is none). Keep their chatter out of the process's logging."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        import onnxruntime.quantization.matmul_nbits_quantizer  # noqa: F401  (basicConfig)

        root.setLevel(logging.ERROR)
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def _quantize(src: Path, out: Path) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _quiet_root_logger():
        from onnxruntime.quantization import matmul_nbits_quantizer as nbits

        config = nbits.DefaultWeightOnlyQuantConfig(
            block_size=BLOCK_SIZE, is_symmetric=True, accuracy_level=4, bits=8
        )
        quantizer = nbits.MatMulNBitsQuantizer(
            onnx.load(str(src)), nodes_to_include=list(DENSE_NODES), algo_config=config
        )
        quantizer.process()
        dense = out.with_suffix(".dense.onnx")
        quantizer.model.save_model_to_file(str(dense), False)
        quantize_dynamic(
            str(dense),
            str(out),
            op_types_to_quantize=["Attention"],
            nodes_to_quantize=list(ATTENTION_NODES),
            per_channel=True,
            # s8 weights: ONNX Runtime's u8s8 kernels are the fast ones on AVX2 and VNNI alike.
            weight_type=QuantType.QInt8,
            extra_options={"DefaultTensorType": 1},  # fused ops defeat shape inference
        )
    dense.unlink(missing_ok=True)


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
                _quantize(fp32, tmp)
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
