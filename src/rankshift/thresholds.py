"""The thresholds behind every plain-language warning about a reranker.

One object serves the per-query diagnostics (the Inspect page, ``rankshift search``) and the
batch diagnostics of an evaluation report, so a warning means the same thing in both places.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Thresholds:
    """When rankshift warns that a reranker is not earning its latency (each stated in the output).

    Per query, ``max_tau`` and ``min_score_std`` apply to that query's ranking and scores; over a
    query set, to the mean tau and the median per-query score spread.
    """

    tolerance: float = 1e-9
    """``|ΔnDCG@10|`` below this is "no change" for a query."""
    min_gain: float = 0.01
    """Mean ΔnDCG@10 below this: too small a gain for the cost."""
    max_tau: float = 0.9
    """Mean Kendall's tau above this: the reranked order is nearly the first stage's."""
    min_score_std: float = 0.1
    """Median per-query standard deviation of the raw cross-encoder scores (logits) below
    this: the scores are flat, the model hardly tells candidates apart."""
    alpha: float = 0.05
    """Significance level for the randomisation test."""


DEFAULT_THRESHOLDS = Thresholds()
"""The thresholds every report and page uses unless told otherwise."""
