"""Benchmark: the worker's ONNX embedding path vs sentence-transformers on torch fp32.

    python bench/embed.py [--texts 256] [--reps 3] [--threads 2]

Both sides embed the same texts (sentences, and windows of 3 and 6 sentences, like
the worker's chunks) with the same number of threads, in alternating rounds; the
best round of each is compared, since other processes on a shared machine only
ever add time (the median and spread are printed next to it). CPU time of the process
is measured too (``cpu_ratio``): it barely moves when other work shares the cores, and
torch's OpenMP pool is set not to spin (``OMP_WAIT_POLICY=PASSIVE``) so that waiting
is not counted as its work. The ONNX side is built exactly as an embed
worker builds it (``bootstrap.embedder`` with ``embedder=onnx``), so the one-time
export (``export_s``) is cached under the data dir and reused by later runs.

Last line: one JSON object with ``ratio`` (ours ÷ torch throughput, goal >= 2.0),
``mean_cosine`` and ``min_cosine`` (ours vs torch fp32 per vector, goal >= 0.99).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

import numpy as np
from _machine import machine, passive_threads, summary

#: torch's OpenMP pool waits passively, so its CPU time (``cpu_ratio``) is work, not spin.
PASSIVE = passive_threads()

ROOT = Path(__file__).resolve().parents[1]


def corpus(count: int) -> list[str]:
    """Mixed-length English texts from the test article and the bundled sample."""
    raw = (ROOT / "tests" / "data" / "article_1500.txt").read_text()
    raw += "\n\n" + (ROOT / "src" / "bookmarkai_ml" / "samples" / "article.txt").read_text()
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", " ".join(raw.split())) if len(s) > 20]
    texts = list(sentences)
    texts += [" ".join(sentences[i : i + 3]) for i in range(0, len(sentences), 2)]
    texts += [" ".join(sentences[i : i + 6]) for i in range(0, len(sentences), 3)]
    rng = np.random.default_rng(7)
    return [texts[int(i)] for i in rng.integers(0, len(texts), size=count)]


def timed(fn: object, texts: list[str]) -> tuple[float, float, np.ndarray]:
    wall, cpu = time.perf_counter(), time.process_time()
    vectors = fn(texts)  # type: ignore[operator]
    return time.perf_counter() - wall, time.process_time() - cpu, np.asarray(vectors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=256)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from bookmarkai_ml import bootstrap
    from bookmarkai_ml.config import Settings
    from bookmarkai_ml.domain.model_selection import LOCAL_MODEL
    from bookmarkai_ml.providers.embed_local import load_sentence_transformer

    base = Settings()
    models = base.models.model_copy(
        update={"embedder": "onnx", "embedding_threads": args.threads, "embedding_batch_size": 32}
    )
    settings = base.model_copy(update={"models": models})
    started = time.perf_counter()
    ours = bootstrap.embedder(settings, model=LOCAL_MODEL)
    export_s = time.perf_counter() - started
    reference = load_sentence_transformer(ours.model_path)  # type: ignore[attr-defined]

    def torch_fp32(texts: list[str]) -> np.ndarray:
        return np.asarray(
            reference.encode(
                texts, batch_size=32, normalize_embeddings=True, show_progress_bar=False
            )
        )

    texts = corpus(args.texts)
    torch_fp32(texts[:16])  # warm-up: first calls allocate and pick kernels
    ours.embed(texts[:16])
    best = {"torch": (1e9, 1e9), "ours": (1e9, 1e9)}
    walls: dict[str, list[float]] = {"torch": [], "ours": []}
    cpus: dict[str, list[float]] = {"torch": [], "ours": []}
    for rep in range(args.reps):  # interleaved, the side that goes first alternating
        if rep % 2:
            o_wall, o_cpu, got = timed(ours.embed, texts)
        t_wall, t_cpu, want = timed(torch_fp32, texts)
        if not rep % 2:
            o_wall, o_cpu, got = timed(ours.embed, texts)
        cpus["torch"].append(t_cpu)
        cpus["ours"].append(o_cpu)
        best["torch"] = (min(best["torch"][0], t_wall), min(best["torch"][1], t_cpu))
        best["ours"] = (min(best["ours"][0], o_wall), min(best["ours"][1], o_cpu))
        walls["torch"].append(t_wall)
        walls["ours"].append(o_wall)
        print(f"round {rep + 1}: torch {t_wall:.2f}s, ours {o_wall:.2f}s", file=sys.stderr)
    cosine = np.sum(got * want, axis=1) / np.linalg.norm(got, axis=1) / np.linalg.norm(want, axis=1)
    report = {
        "bench": "embed",
        "ratio": round(best["torch"][0] / best["ours"][0], 3),
        "mean_cosine": round(float(cosine.mean()), 5),
        "min_cosine": round(float(cosine.min()), 5),
        "cpu_ratio": round(best["torch"][1] / best["ours"][1], 3),
        "ours_texts_per_s": round(len(texts) / best["ours"][0], 1),
        "baseline_texts_per_s": round(len(texts) / best["torch"][0], 1),
        "texts": len(texts),
        "threads": args.threads,
        "precision": getattr(ours, "precision", "?"),
        "export_s": round(export_s, 1),
        "wall_s_spread": {side: summary(v, best="min") for side, v in walls.items()},
        "cpu_s_spread": {side: summary(v, best="min") for side, v in cpus.items()},
        "ratio_median": round(
            float(np.median(walls["torch"])) / float(np.median(walls["ours"])), 3
        ),
        "passive_threads": PASSIVE,
        **machine(),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
