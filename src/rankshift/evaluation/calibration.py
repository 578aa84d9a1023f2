"""Calibration of a cross-encoder: its probability (sigmoid of its score) against the judged grade."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rankshift.evaluation.metrics import REL_THRESHOLD
from rankshift.rerank import sigmoid
from rankshift.types import Qrels, ScoredDoc

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Calibration:
    """The cross-encoder's probability (sigmoid of its score) against the judged grade.

    Only judged candidates count: an unjudged document has no grade to compare with.
    """

    pairs: list[dict[str, Any]]
    """One row per judged candidate: ``query_id, doc_id, grade, relevant, score, probability``."""
    by_grade: dict[int, dict[str, float]]
    """Box-plot numbers of the probability per grade: ``n, min, q1, median, q3, max, mean``."""
    reliability: list[dict[str, float]]
    """Equal-width probability bins: ``low, high, n, mean_probability, fraction_relevant``."""
    best_threshold: dict[str, float] | None
    """The probability threshold (predict relevant when ``p >= threshold``) with the highest
    F1 over the judged pairs, with its ``logit``, ``precision``, ``recall``, ``f1`` and ``n``;
    ``None`` when the judged pairs are all relevant or all not."""

    def frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(
            self.pairs,
            columns=["query_id", "doc_id", "grade", "relevant", "score", "probability"],
        )


def best_f1_threshold(
    probabilities: Sequence[float], relevant: Sequence[bool]
) -> dict[str, float] | None:
    """The threshold on ``probabilities`` that maximises F1 for predicting ``relevant``.

    Every distinct probability is tried as ``p >= threshold``; ties in F1 go to the higher
    threshold (fewer documents let through for the same F1).
    """
    import numpy as np

    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(relevant, dtype=bool)
    positives = int(y.sum())
    if p.size == 0 or positives == 0 or positives == p.size:
        return None
    order = np.argsort(-p, kind="stable")
    p_sorted, y_sorted = p[order], y[order]
    tp = np.cumsum(y_sorted)
    predicted = np.arange(1, p.size + 1)
    # Only the last position of each run of equal probabilities is a reachable threshold.
    last = np.r_[p_sorted[1:] != p_sorted[:-1], True]
    tp, predicted, thresholds = tp[last], predicted[last], p_sorted[last]
    precision = tp / predicted
    recall = tp / positives
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(tp > 0, 2 * precision * recall / (precision + recall), 0.0)
    best = int(np.argmax(f1))  # first maximum = highest threshold
    t = float(thresholds[best])
    logit = math.log(t / (1 - t)) if 0 < t < 1 else math.copysign(math.inf, t - 0.5)
    return {
        "probability": t,
        "logit": logit,
        "precision": float(precision[best]),
        "recall": float(recall[best]),
        "f1": float(f1[best]),
        "n": int(p.size),
    }


def calibration(
    rankings: Mapping[str, Sequence[ScoredDoc]],
    qrels: Qrels,
    bins: int = 10,
) -> Calibration:
    """Calibration data of a reranked run whose scores are the cross-encoder's raw scores.

    Args:
        rankings: per query, the reranked candidates with their raw cross-encoder scores
            (leave out queries that fell back to the first stage's order).
        qrels: the judgments; relevant means grade >= ``REL_THRESHOLD``.
        bins: number of equal-width probability bins of the reliability curve.
    """
    import numpy as np

    pairs = []
    for query_id, ranking in rankings.items():
        judged = qrels.get(query_id, {})
        for row in ranking:
            if row.doc_id in judged:
                grade = judged[row.doc_id]
                pairs.append(
                    {
                        "query_id": query_id,
                        "doc_id": row.doc_id,
                        "grade": grade,
                        "relevant": grade >= REL_THRESHOLD,
                        "score": row.score,
                        "probability": sigmoid(row.score),
                    }
                )
    by_grade: dict[int, dict[str, float]] = {}
    for grade in sorted({p["grade"] for p in pairs}):
        v = np.array([p["probability"] for p in pairs if p["grade"] == grade])
        q1, med, q3 = np.quantile(v, [0.25, 0.5, 0.75])
        by_grade[grade] = {
            "n": int(v.size),
            "min": float(v.min()),
            "q1": float(q1),
            "median": float(med),
            "q3": float(q3),
            "max": float(v.max()),
            "mean": float(v.mean()),
        }
    probs = np.array([p["probability"] for p in pairs], dtype=np.float64)
    rel = np.array([p["relevant"] for p in pairs], dtype=bool)
    reliability = []
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(probs, edges[1:-1], right=False), 0, bins - 1)
    for i in range(bins):
        mask = which == i
        if mask.any():
            reliability.append(
                {
                    "low": float(edges[i]),
                    "high": float(edges[i + 1]),
                    "n": int(mask.sum()),
                    "mean_probability": float(probs[mask].mean()),
                    "fraction_relevant": float(rel[mask].mean()),
                }
            )
    return Calibration(pairs, by_grade, reliability, best_f1_threshold(probs, rel))
