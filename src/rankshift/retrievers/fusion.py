"""Fusion of two rankings into one: reciprocal rank fusion and weighted score sums.

Pure functions over ranked lists, so each formula is tested on its own; the registry
:data:`FUSIONS` feeds both the CLI's choices and the app's select box.

Why not ranx's ``fuse``: it needs numba, whose JIT compile costs seconds in every fresh process
(the app, the CLI), and it fixes the treatment of documents missing from one list. Here that
treatment is an explicit argument.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np

from rankshift.config import DEFAULT_FUSION_WEIGHT, DEFAULT_RRF_K
from rankshift.types import ScoredDoc

FusionMethod = Literal["rrf", "minmax", "zscore"]
MissingScore = Literal["min", "zero"]


def rrf(rankings: Sequence[Sequence[ScoredDoc]], k: int = DEFAULT_RRF_K) -> dict[str, float]:
    """Reciprocal rank fusion: ``score(d) = sum_i 1 / (k + rank_i(d))``.

    A document absent from a list contributes nothing for that list.

    Cormack, Clarke and Buettcher. "Reciprocal rank fusion outperforms Condorcet and individual
    rank learning methods." SIGIR 2009.
    """
    fused: dict[str, float] = {}
    for ranking in rankings:
        for row in ranking:
            fused[row.doc_id] = fused.get(row.doc_id, 0.0) + 1.0 / (k + row.rank)
    return fused


def normalise(scores: Mapping[str, float], method: Literal["minmax", "zscore"]) -> dict[str, float]:
    """Min-max to [0, 1] or z-score (mean 0, population std 1). Constant lists map to 0."""
    if not scores:
        return {}
    values = np.array(list(scores.values()), dtype=np.float64)
    if method == "minmax":
        lo, hi = values.min(), values.max()
        span = hi - lo
        out = (values - lo) / span if span > 0 else np.zeros_like(values)
    else:
        std = values.std()
        out = (values - values.mean()) / std if std > 0 else np.zeros_like(values)
    return dict(zip(scores, out.tolist(), strict=True))


def weighted_fusion(
    sparse: Sequence[ScoredDoc],
    dense: Sequence[ScoredDoc],
    weight: float = DEFAULT_FUSION_WEIGHT,
    norm: Literal["minmax", "zscore"] = "minmax",
    missing: MissingScore = "min",
) -> dict[str, float]:
    """``score(d) = (1 - weight) * norm(sparse)(d) + weight * norm(dense)(d)``.

    Args:
        sparse: the BM25 ranking.
        dense: the dense ranking.
        weight: weight of the dense list; 0 is BM25 alone, 1 is dense alone.
        norm: score normalisation applied to each list separately before mixing.
        missing: score given to a document absent from one list: ``min`` gives it that list's
            lowest normalised score (as if ranked at the bottom of what was retrieved); ``zero``
            gives it 0 (min-max: the same as ``min``; z-score: the list's mean, a generous
            choice).

    Fox and Shaw. "Combination of multiple searches." TREC-2, 1994 (CombSUM), with the
    normalisations compared by Lee, "Analyses of multiple evidence combination", SIGIR 1997.
    """
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"weight must be in [0, 1], got {weight}")
    s = normalise({r.doc_id: r.score for r in sparse}, norm)
    d = normalise({r.doc_id: r.score for r in dense}, norm)

    def fill(scores: dict[str, float]) -> float:
        if missing == "zero" or not scores:
            return 0.0
        return min(scores.values())

    s_missing, d_missing = fill(s), fill(d)
    return {
        doc: (1 - weight) * s.get(doc, s_missing) + weight * d.get(doc, d_missing)
        for doc in dict.fromkeys([*s, *d])
    }


FUSIONS: dict[str, str] = {
    "rrf": "Reciprocal rank fusion (k=60): ranks only, no score scales to reconcile",
    "minmax": "Weighted sum of min-max normalised scores",
    "zscore": "Weighted sum of z-score normalised scores",
}
"""Registry of fusion methods: feeds both the CLI's choices and the app's select box."""
