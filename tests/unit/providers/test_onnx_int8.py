"""The per-token int8 rewrite on small graphs run by the real ONNX Runtime."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from bookmarkai_ml.providers.onnx_int8 import (  # noqa: E402
    channel_absmax,
    per_token_int8,
    quantizable,
)

K, N = 64, 48
RNG = np.random.default_rng(3)


def _graph(gelu: bool) -> Any:
    """input_ids [B, L] gives the shape; x [B, L, K] -> (FastGelu) -> MatMul q, MatMul v
    (both reading the same tensor) -> SkipLayerNormalization(q, skip, bias) and v."""
    w_q = RNG.normal(0, 0.2, (K, N)).astype(np.float32)
    w_v = RNG.normal(0, 0.2, (K, N)).astype(np.float32)
    inits = [
        numpy_helper.from_array(w_q, "w_q"),
        numpy_helper.from_array(w_v, "w_v"),
        numpy_helper.from_array(np.ones(N, np.float32), "gamma"),
        numpy_helper.from_array(np.zeros(N, np.float32), "beta"),
        numpy_helper.from_array(RNG.normal(0, 0.1, N).astype(np.float32), "bias"),
    ]
    source = "x"
    nodes = []
    if gelu:
        nodes.append(helper.make_node("FastGelu", ["x"], ["g"], domain="com.microsoft"))
        source = "g"
    nodes += [
        helper.make_node("MatMul", [source, "w_q"], ["q"], name="q/MatMul"),
        helper.make_node("MatMul", [source, "w_v"], ["v"], name="v/MatMul"),
        helper.make_node(
            "SkipLayerNormalization",
            ["q", "skip", "gamma", "beta", "bias"],
            ["normed"],
            domain="com.microsoft",
        ),
    ]
    graph = helper.make_graph(
        nodes,
        "t",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["B", "L"]),
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["B", "L", K]),
            helper.make_tensor_value_info("skip", TensorProto.FLOAT, ["B", "L", N]),
        ],
        [
            helper.make_tensor_value_info("normed", TensorProto.FLOAT, ["B", "L", N]),
            helper.make_tensor_value_info("v", TensorProto.FLOAT, ["B", "L", N]),
        ],
        inits,
    )
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    return helper.make_model(graph, opset_imports=opsets)


def _feed(x: np.ndarray) -> dict[str, np.ndarray]:
    b, length, _ = x.shape
    return {
        "input_ids": np.zeros((b, length), np.int64),
        "x": x.astype(np.float32),
        "skip": np.zeros((b, length, N), np.float32),
    }


def _run(model: Any, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return [np.asarray(o) for o in session.run(None, feed)]


def _activations(length: int) -> np.ndarray:
    x = RNG.normal(0, 1, (1, length, K)).astype(np.float32)
    x[0, 0] *= 8  # a [CLS]-like row, ~10x the others
    x[..., 5] *= 6  # an outlier channel, as in the residual stream
    return x


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a2, b2 = a.reshape(-1, a.shape[-1]), b.reshape(-1, b.shape[-1])
    return np.sum(a2 * b2, 1) / np.linalg.norm(a2, axis=1) / np.linalg.norm(b2, axis=1)


@pytest.mark.parametrize("signed", [True, False])
@pytest.mark.parametrize("gelu", [False, True])
def test_every_row_stays_close_to_fp32(gelu: bool, signed: bool) -> None:
    model = _graph(gelu)
    calibration = [_feed(_activations(n)) for n in (3, 9, 17)]
    ranges = channel_absmax(model, calibration)
    assert set(ranges) == set(quantizable(model))
    feed = _feed(_activations(12))
    want = _run(model, feed)
    quantized = per_token_int8(_graph_copy(model), ranges, signed=signed)
    got = _run(quantized, feed)
    ops = {node.op_type for node in quantized.graph.node}
    assert "MatMul" not in ops
    assert "MatMulIntegerToFloat" in ops
    for a, b in zip(got, want, strict=True):
        assert _cosines(a, b).min() > 0.999


def test_query_and_value_share_one_quantized_input() -> None:
    model = _graph(gelu=False)
    ranges = channel_absmax(model, [_feed(_activations(7))])
    quantized = per_token_int8(_graph_copy(model), ranges, signed=True)
    assert sum(n.op_type == "QuantizeLinear" for n in quantized.graph.node) == 1
    assert sum(n.op_type == "MatMulIntegerToFloat" for n in quantized.graph.node) == 2


def test_a_row_is_quantized_without_regard_to_the_others() -> None:
    """A huge row elsewhere in the run leaves a row's product bit for bit the same."""
    model = _graph(gelu=True)
    quantized = per_token_int8(
        _graph_copy(model), channel_absmax(model, [_feed(_activations(9))]), signed=True
    )
    x = _activations(6)
    alone = _run(quantized, _feed(x[:, :3]))
    loud = x.copy()
    loud[0, 3:] *= 50
    together = _run(quantized, _feed(loud))
    for a, b in zip(alone, together, strict=True):
        np.testing.assert_array_equal(a, b[:, :3])


def test_the_gelu_shift_goes_into_the_following_bias() -> None:
    model = _graph(gelu=True)
    before = numpy_helper.to_array(next(i for i in model.graph.initializer if i.name == "bias"))
    quantized = per_token_int8(
        _graph_copy(model), channel_absmax(model, [_feed(_activations(9))]), signed=True
    )
    after = numpy_helper.to_array(next(i for i in quantized.graph.initializer if i.name == "bias"))
    assert not np.allclose(before, after)
    assert "Sub" in {n.op_type for n in quantized.graph.node}  # v has no bias to take it


def _graph_copy(model: Any) -> Any:
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    return copy
