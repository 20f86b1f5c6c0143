"""Reciprocal rank fusion: merge ranked lists without comparing their scores.

Cosine distances and ``ts_rank_cd`` live on different scales, so hybrid search
fuses *ranks*: score(d) = sum over lists of weight / (k + rank(d)), rank from 1
(Cormack, Clarke & Büttcher, SIGIR 2009; k = 60 is the paper's constant).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TypeVar

K = TypeVar("K", bound=Hashable)

DEFAULT_K = 60


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[K]],
    *,
    k: int = DEFAULT_K,
    weights: Sequence[float] | None = None,
) -> list[tuple[K, float]]:
    """Items of all ``rankings`` (best first) fused and sorted by RRF score, best first.

    Ties keep the order in which items were first seen, so the result is stable.

    Raises:
        ValueError: ``k`` is negative or ``weights`` does not match ``rankings``.
    """
    if k < 0:
        raise ValueError("k must be >= 0")
    if weights is not None and len(weights) != len(rankings):
        raise ValueError("one weight per ranking")
    scores: dict[K, float] = {}
    for i, ranking in enumerate(rankings):
        weight = 1.0 if weights is None else weights[i]
        seen: set[K] = set()
        for rank, item in enumerate(ranking, start=1):
            if item in seen:  # a duplicate in one list counts once, at its best rank
                continue
            seen.add(item)
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    order = {item: n for n, item in enumerate(scores)}
    return sorted(scores.items(), key=lambda kv: (-kv[1], order[kv[0]]))
