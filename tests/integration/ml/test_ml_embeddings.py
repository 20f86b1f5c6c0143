"""Embedding quality on the real model: paraphrases, and ONNX agreeing with torch."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bookmarkai_ml.domain.text import split_sentences
from bookmarkai_ml.providers import onnx_export
from bookmarkai_ml.providers.embed_local import SentenceTransformerEmbedder
from bookmarkai_ml.providers.embed_onnx import OnnxEmbedder

pytestmark = pytest.mark.integration

PARAPHRASES = [
    ("How do I reset my password?", "I forgot my password and need to change it."),
    ("The cat is sleeping on the sofa.", "A kitten naps on the couch."),
    ("Stock prices fell sharply today.", "The market dropped a lot this afternoon."),
    ("This recipe makes a great chocolate cake.", "A delicious chocolate cake recipe."),
    ("The train to Berlin was delayed by an hour.", "Our Berlin train arrived sixty minutes late."),
    ("He plays guitar in a rock band.", "He is the guitarist of a rock group."),
]


def cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    result: np.ndarray = np.sum(a * b, axis=1)
    return result


@pytest.mark.parametrize("kind", ["onnx", "torch"])
def test_paraphrases_score_higher_than_unrelated_pairs(
    kind: str, onnx_embedder: OnnxEmbedder, torch_embedder: SentenceTransformerEmbedder
) -> None:
    embedder = onnx_embedder if kind == "onnx" else torch_embedder
    left = embedder.embed([a for a, _ in PARAPHRASES])
    right = embedder.embed([b for _, b in PARAPHRASES])
    paired = cos(left, right)
    unrelated = cos(left, np.roll(right, 1, axis=0))
    assert paired.min() > unrelated.max()
    assert np.allclose(np.linalg.norm(left, axis=1), 1.0, atol=1e-4)


def test_a_text_embeds_the_same_in_any_company(onnx_embedder: OnnxEmbedder) -> None:
    """int8 activations are scaled per input: batch-mates and padding must not leak in."""
    texts = [a for pair in PARAPHRASES for a in pair] + ["ok", "a much longer text " * 30]
    together = onnx_embedder.embed(texts)
    alone = np.stack([onnx_embedder.embed([text])[0] for text in texts])
    np.testing.assert_array_equal(together, alone)
    np.testing.assert_array_equal(onnx_embedder.embed(texts[::-1]), together[::-1])


def test_onnx_agrees_with_torch_per_vector(
    onnx_embedder: OnnxEmbedder, torch_embedder: SentenceTransformerEmbedder
) -> None:
    article = (Path(__file__).parents[2] / "data" / "article_1500.txt").read_text()
    sentences = split_sentences(article)
    texts = [*sentences, *[" ".join(sentences[i : i + 6]) for i in range(0, len(sentences), 6)]]
    texts += [a for pair in PARAPHRASES for a in pair] + ["ok", "lol 😂", "Thanks!", article]
    got = onnx_embedder.embed(texts)
    want = torch_embedder.embed(texts)
    agreement = cos(got, want)
    assert agreement.min() >= 0.99, (agreement.min(), texts[int(agreement.argmin())][:80])
    assert onnx_embedder.count_tokens(article) == torch_embedder.count_tokens(article)


def test_quantizing_leaves_the_process_logging_alone(
    onnx_embedder: OnnxEmbedder, tmp_path: Path
) -> None:
    """ONNX Runtime's quantizers call logging.basicConfig and log through root: in a CLI
    with no logging set up that installed a root handler printing every INFO line."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    root.handlers.clear()  # as in a process that configured no logging
    try:
        out = tmp_path / "model.int8.onnx"
        fp32 = onnx_embedder.exported.path.parent / "model.fp32.onnx"
        onnx_export._quantize(fp32, out, onnx_export.calibration_feeds(onnx_embedder.model_path))
        assert out.stat().st_size > 0
        assert (root.handlers, root.level) == ([], saved[1])
    finally:
        root.handlers[:], _ = saved


def test_a_cached_export_loads_without_torch(onnx_embedder: OnnxEmbedder, onnx_cache: Path) -> None:
    """Prefork children are recycled every 50 tasks; importing torch cost each one 1.5 s."""
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from bookmarkai_ml.providers.embed_onnx import OnnxEmbedder\n"
        f"embedder = OnnxEmbedder(cache_dir=Path({str(onnx_cache)!r}))\n"
        "assert embedder.embed(['hello']).shape == (1, 384)\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "False", out.stderr
