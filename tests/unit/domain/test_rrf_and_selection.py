"""Reciprocal rank fusion and embedding-model selection (pure)."""

from __future__ import annotations

import pytest

from bookmarkai_ml.domain.model_selection import LOCAL_MODEL, EmbedderChoice, choose_embedder
from bookmarkai_ml.domain.rrf import reciprocal_rank_fusion


def test_rrf_rewards_agreement_and_is_stable() -> None:
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["b", "d", "a"]])
    assert [item for item, _ in fused] == ["b", "a", "d", "c"]
    assert fused[0][1] == pytest.approx(1 / 62 + 1 / 61)


def test_rrf_weights_and_duplicates() -> None:
    fused = dict(reciprocal_rank_fusion([["a", "a"], ["b"]], weights=[1.0, 2.0], k=0))
    assert fused == {"a": 1.0, "b": 2.0}
    with pytest.raises(ValueError, match="one weight per ranking"):
        reciprocal_rank_fusion([["a"]], weights=[1.0, 2.0])


@pytest.mark.parametrize(
    ("configured", "chars", "api", "requested", "expected"),
    [
        ("local", 10, True, None, EmbedderChoice("local", LOCAL_MODEL)),
        ("onnx", 10, True, None, EmbedderChoice("onnx", LOCAL_MODEL)),
        ("openai", 50_000, True, None, EmbedderChoice("openai", "text-embedding-3-small")),
        ("auto", 100, False, None, EmbedderChoice("onnx", LOCAL_MODEL)),
        ("auto", 100, True, None, EmbedderChoice("openai", "text-embedding-3-small")),
        ("auto", 20_000, True, None, EmbedderChoice("openai", "text-embedding-3-large")),
        (
            "local",
            10,
            False,
            "text-embedding-3-large",
            EmbedderChoice("openai", "text-embedding-3-large"),
        ),
        ("openai", 10, True, LOCAL_MODEL, EmbedderChoice("onnx", LOCAL_MODEL)),
    ],
)
def test_model_selection(
    configured: str, chars: int, api: bool, requested: str | None, expected: EmbedderChoice
) -> None:
    got = choose_embedder(
        configured=configured, content_chars=chars, api_configured=api, requested_model=requested
    )
    assert got == expected


def test_unknown_embedder_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown embedder"):
        choose_embedder(configured="gpu", content_chars=1, api_configured=False)
