"""Maximal marginal relevance (Carbonell & Goldstein 1998): relevant picks that differ.

Shared by sentence picking (``providers.summarize_extractive``) and tag ranking
(``providers.tagger``), the recipe KeyBERT uses for diverse keyphrases.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]


def mmr_order(
    scores: FloatArray, sims: FloatArray, *, lam: float, allowed: list[int]
) -> Iterator[int]:
    """Indices of ``allowed`` in greedy MMR order: ``lam`` x relevance - (1 - ``lam``) x redundancy.

    Redundancy is the highest similarity to an earlier pick, kept as a running maximum,
    so each step costs O(n).
    """
    pool = np.array(allowed, dtype=np.int64)
    redundancy = np.zeros(len(pool), dtype=np.float32)
    alive = np.ones(len(pool), dtype=bool)
    for _ in range(len(pool)):
        values = np.where(alive, lam * scores[pool] - (1 - lam) * redundancy, -np.inf)
        k = int(np.argmax(values))
        alive[k] = False
        best = int(pool[k])
        redundancy = np.maximum(redundancy, sims[pool, best])
        yield best
