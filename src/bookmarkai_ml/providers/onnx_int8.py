"""Per-token int8 for the dense layers of a fused BERT graph, with SmoothQuant scales.

Every ``MatMul`` with a constant weight becomes an integer matrix product on ONNX
Runtime's u8s8 kernels (``MatMulIntegerToFloat``; AMX or VNNI where the CPU has them):

- each *row* (token) of the input is scaled on its own, at run time: a token's vector
  never depends on the other tokens or texts of a run, and the [CLS] token, whose values
  run ~10x larger than the rest, no longer coarsens every other token's steps;
- before that, each input *channel* is divided by a fixed SmoothQuant scale
  (Xiao et al., 2023: ``s = max|x|^alpha / max|w|^(1 - alpha)``, from the channel ranges
  of calibration texts) and the weight's row multiplied by it, so the few outlier
  channels of the residual stream (99, 62, 249 in all-MiniLM-L6-v2) share their range
  with the weights; same product, smaller quantisation error;
- GELU outputs are never below ``GELU_MIN``: they are shifted to start at zero and
  quantised over 256 steps instead of 128; the shift's constant product is folded into
  the bias of the ``SkipLayerNormalization`` that follows (or subtracted);
- weights are int8 per output column (s8 where the CPU has VNNI or AMX, else u8 around
  128: see ``signed_weights_exact``); MatMuls that read the same input (query, key and
  value) share one quantised input.

ONNX Runtime's own quantizers offer one activation scale per tensor
(``quantize_dynamic``: cosine 0.967 on "Thanks!") or weight-only blocks
(``MatMulNBits``, which runs on slower kernels); neither does per-token activations.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: SmoothQuant's migration strength; 0.6 kept the probes' cosine highest (0.5: 0.9926,
#: 0.6: 0.9945, 0.7: 0.9944; docs/models.md).
ALPHA = 0.6
#: The GELU outputs' migration strength (0.5: 0.9972 for those layers alone, 0: 0.9941).
ALPHA_GELU = 0.5
#: Below the minimum of GELU and of its tanh form (-0.16997 at x = -0.75).
GELU_MIN = -0.1701
#: CPU flags whose u8 x s8 instructions add into int32 (VNNI's vpdpbusd, AMX tiles).
_EXACT_U8S8 = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})
_GELU_OPS = frozenset({"FastGelu", "Gelu", "BiasGelu"})


def quantizable(model: Any) -> dict[str, list[Any]]:
    """MatMul nodes with a constant weight, grouped by the tensor they read."""
    weights = {init.name for init in model.graph.initializer}
    groups: dict[str, list[Any]] = {}
    for node in model.graph.node:
        if node.op_type == "MatMul" and node.input[1] in weights:
            groups.setdefault(node.input[0], []).append(node)
    return groups


def channel_absmax(model: Any, feeds: Iterable[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """max |x| per channel of every quantizable input, over ``feeds`` run on ``model``."""
    import onnx
    import onnxruntime as ort

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    names = list(quantizable(model))
    for name in names:
        probe.graph.output.append(
            onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None)
        )
    session = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    wanted = [o.name for o in session.get_outputs()]
    ranges: dict[str, np.ndarray] = {}
    for feed in feeds:
        outputs = dict(zip(wanted, session.run(None, dict(feed)), strict=True))
        for name in names:
            x = np.abs(outputs[name])
            top = x.reshape(-1, x.shape[-1]).max(axis=0)
            ranges[name] = np.maximum(ranges[name], top) if name in ranges else top
    return ranges


@dataclass
class _Rewrite:
    """The new graph's nodes and constants, named after the node they serve."""

    nodes: list[Any] = field(default_factory=list)
    constants: list[Any] = field(default_factory=list)
    shapes: dict[int, str] = field(default_factory=dict)

    def const(self, name: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        self.constants.append(numpy_helper.from_array(value, name))
        return name

    def node(self, op: str, inputs: list[str], output: str, **attrs: Any) -> str:
        from onnx import helper

        domain = "com.microsoft" if op == "MatMulIntegerToFloat" else ""
        self.nodes.append(helper.make_node(op, inputs, [output], domain=domain, **attrs))
        return output


@functools.cache
def signed_weights_exact() -> bool:
    """Whether this CPU multiplies u8 activations by s8 weights without saturating.

    Without VNNI or AMX, ONNX Runtime's u8 x s8 kernels use ``vpmaddubsw``, which adds
    pairs of products into int16 and saturates (its documentation's "saturation issue");
    there the weights are stored u8 with a zero point of 128 (u8 x u8 kernels: exact,
    about half as fast here). Read once a process: the cache key asks on every lookup.
    """
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8")  # Linux; elsewhere u8
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            return bool(_EXACT_U8S8 & set(line.split(":", 1)[1].split()))
    return False


def per_token_int8(model: Any, absmax: Mapping[str, np.ndarray], *, signed: bool) -> Any:
    """``model`` with every quantizable MatMul in per-token int8 (see the module doc).

    ``absmax`` holds each input's channel ranges (``channel_absmax``); ``signed`` stores
    the weights s8 (for CPUs where ``signed_weights_exact``), else u8 around 128. The
    graph's first input (``input_ids``, [B, L]) gives the leading dimensions every
    quantized product is reshaped back to. The model is changed in place and returned.
    """
    from onnx import numpy_helper

    graph = model.graph
    weights = {init.name: init for init in graph.initializer}
    producers = {out: node for node in graph.node for out in node.output}
    consumers: dict[str, list[Any]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    groups = quantizable(model)
    reading = {node.name: x for x, group in groups.items() for node in group}
    out = _Rewrite()
    batch_dims = out.node("Shape", [graph.input[0].name], "pt_batch_dims")  # [B, L]
    biases: dict[str, np.ndarray] = {}
    done: dict[str, tuple[str, str, np.ndarray, bool]] = {}
    for node in graph.node:
        x = reading.get(node.name)
        if x is None:
            out.nodes.append(node)
            continue
        if x not in done:
            gelu = x in producers and producers[x].op_type in _GELU_OPS
            done[x] = _quantize_input(out, x, groups[x], weights, absmax[x], gelu=gelu)
        q, scale, smooth, gelu = done[x]
        w = numpy_helper.to_array(weights[node.input[1]]).astype(np.float32)
        _integer_matmul(out, node, q, scale, w * smooth[:, None], batch_dims, gelu=gelu,
                        signed=signed)  # fmt: skip
        if gelu:  # the shift's product, a constant row: into the next bias, or subtracted
            shift = (-GELU_MIN * w.sum(axis=0)).astype(np.float32)
            target = _following_bias(node, consumers, weights)
            if target is not None:
                base = biases.get(target, numpy_helper.to_array(weights[target]))
                biases[target] = (base - shift).astype(np.float32)
            else:
                out.nodes[-1].output[0] = f"{node.name}_unshifted"
                out.node("Sub", [f"{node.name}_unshifted", out.const(f"{node.name}_shift", shift)],
                         node.output[0])  # fmt: skip
    used = {name for node in out.nodes for name in node.input}
    kept = [
        numpy_helper.from_array(biases[i.name], i.name) if i.name in biases else i
        for i in graph.initializer
        if i.name in used
    ]
    del graph.node[:]
    graph.node.extend(out.nodes)
    del graph.initializer[:]
    graph.initializer.extend(kept + out.constants)
    return model


def _quantize_input(
    out: _Rewrite, x: str, group: list[Any], weights: Mapping[str, Any], absmax: np.ndarray,
    *, gelu: bool,
) -> tuple[str, str, np.ndarray, bool]:  # fmt: skip
    """Smooth, then quantise ``x`` per row to u8; returns (u8 [M, K], scales [M, 1],
    channel smoothing, whether it is a shifted GELU output)."""
    from onnx import numpy_helper

    k = int(absmax.shape[0])
    wmax = np.max(
        [np.abs(numpy_helper.to_array(weights[n.input[1]])).max(axis=1) for n in group], 0
    )
    alpha = ALPHA_GELU if gelu else ALPHA
    smooth = (np.maximum(absmax, 1e-5) ** alpha / np.maximum(wmax, 1e-5) ** (1 - alpha)).astype(
        np.float32
    )
    p = f"pt_{len(out.constants)}"
    scaled = out.node("Mul", [x, out.const(f"{p}_inv_smooth", (1 / smooth).astype(np.float32))],
                      f"{p}_smoothed")  # fmt: skip
    if gelu:  # from [GELU_MIN / s, max] to [0, max - GELU_MIN / s]: all 256 steps used
        lift = out.const(f"{p}_lift", (-GELU_MIN / smooth).astype(np.float32))
        scaled = out.node("Add", [scaled, lift], f"{p}_lifted")
    steps, zero = (255.0, 0) if gelu else (127.0, 128)
    peak = out.node("ReduceMax", [out.node("Abs", [scaled], f"{p}_abs")], f"{p}_peak",
                    axes=[-1], keepdims=1)  # fmt: skip
    step = out.node("Mul", [peak, out.const(f"{p}_per_step", np.array(1 / steps, np.float32))],
                    f"{p}_step0")  # fmt: skip
    step = out.node("Max", [step, out.const(f"{p}_tiny", np.array(1e-12, np.float32))], f"{p}_step")
    rows = out.node("Reshape", [step, out.const(f"{p}_rows", np.array([-1], np.int64))], f"{p}_rs")
    zeros = out.node("Expand", [out.const(f"{p}_zp", np.array([zero], np.uint8)),
                                out.node("Shape", [rows], f"{p}_m")], f"{p}_zps")  # fmt: skip
    flat = out.node("Reshape", [scaled, out.const(f"{p}_flat", np.array([-1, k], np.int64))],
                    f"{p}_2d")  # fmt: skip
    q = out.node("QuantizeLinear", [flat, rows, zeros], f"{p}_q", axis=0)
    column = out.node("Reshape", [step, out.const(f"{p}_col", np.array([-1, 1], np.int64))],
                      f"{p}_scale")  # fmt: skip
    return q, column, smooth, gelu


def _integer_matmul(
    out: _Rewrite, node: Any, q: str, scale: str, w: np.ndarray, batch_dims: str, *, gelu: bool,
    signed: bool,
) -> None:  # fmt: skip
    """``node``'s product from the quantised input, reshaped back to [B, L, N]."""
    n = int(w.shape[1])
    column_step = np.maximum(np.abs(w).max(axis=0), 1e-12) / 127.0
    wq = np.clip(np.round(w / column_step), -127, 127).astype(np.int8)
    p = node.name.replace("/", "_")
    product = out.node(
        "MatMulIntegerToFloat",
        [
            q,
            out.const(f"{p}_wq", wq if signed else (wq.astype(np.int16) + 128).astype(np.uint8)),
            out.const(f"{p}_one", np.array(1.0, np.float32)),
            out.const(f"{p}_wstep", column_step.astype(np.float32)),
            out.const(f"{p}_zp", np.array(0 if gelu else 128, np.uint8)),
            *([] if signed else [out.const(f"{p}_wzp", np.array(128, np.uint8))]),
        ],
        f"{p}_int",
    )
    scaled = out.node("Mul", [product, scale], f"{p}_scaled")
    if n not in out.shapes:
        out.shapes[n] = out.node(
            "Concat", [batch_dims, out.const(f"pt_n{n}", np.array([n], np.int64))], f"pt_shape{n}",
            axis=0,
        )  # fmt: skip
    out.node("Reshape", [scaled, out.shapes[n]], node.output[0])


def _following_bias(
    node: Any, consumers: Mapping[str, list[Any]], weights: Mapping[str, Any]
) -> str | None:
    """The bias initializer of the one ``SkipLayerNormalization`` reading ``node``'s output
    as its input (its fifth input), if that bias is used nowhere else."""
    readers = consumers.get(node.output[0], [])
    if len(readers) != 1 or readers[0].op_type != "SkipLayerNormalization":
        return None
    skip = readers[0]
    if len(skip.input) < 5 or skip.input[0] != node.output[0] or skip.input[4] not in weights:
        return None
    bias = skip.input[4]
    return bias if len(consumers.get(bias, [])) == 1 else None
