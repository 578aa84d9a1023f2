"""What the reranker did to each query, and plain-language diagnostics over a query set.

:func:`query_verdict`: helped / hurt / no change, with the relevant documents demoted and
promoted and the first stage's recall gap. :func:`diagnostics`: whether the reranker earns its
latency, judged with the one :class:`~rankshift.thresholds.Thresholds` object that the per-query
diagnostics use too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from rankshift.evaluation.metrics import REL_THRESHOLD
from rankshift.evaluation.stats import PairedTest
from rankshift.thresholds import DEFAULT_THRESHOLDS, Thresholds
from rankshift.types import ScoredDoc

Verdict = Literal["helped", "hurt", "no change"]


@dataclass(frozen=True)
class DocMove:
    """A relevant document and where it sat before and after reranking (``None``: absent)."""

    doc_id: str
    grade: int
    first_rank: int | None
    reranked_rank: int | None


@dataclass(frozen=True)
class QueryVerdict:
    """What the reranker did to one query."""

    query_id: str
    verdict: Verdict
    first: float
    """The first stage's value of the verdict measure (nDCG@10)."""
    reranked: float
    delta: float
    demoted: list[DocMove]
    """Relevant documents the reranker pushed out of the top-N."""
    promoted: list[DocMove]
    """Relevant documents the reranker pulled into the top-N."""
    left_below: list[DocMove]
    """Relevant candidates below the top-N both before and after reranking."""
    recall_gap: list[DocMove]
    """Relevant documents the first stage never retrieved in its top-K: the reranker never saw
    them, so they are the first stage's loss, not the reranker's."""
    kendall_tau: float | None = None
    score_std: float | None = None
    """Standard deviation of the cross-encoder's raw scores over this query's candidates."""
    reranked_ok: bool = True


def query_verdict(
    query_id: str,
    judged: Mapping[str, int],
    first: Sequence[ScoredDoc],
    reranked: Sequence[ScoredDoc],
    first_value: float,
    reranked_value: float,
    n: int = 10,
    tolerance: float = 1e-9,
) -> QueryVerdict:
    """Helped / hurt / no change for one query, and which relevant documents moved.

    Args:
        query_id: the query.
        judged: its qrels, ``doc_id -> grade``; relevant means grade >= ``REL_THRESHOLD``.
        first: the first stage's top-K (the reranker's candidates), best first.
        reranked: the reranked list, best first.
        first_value: the first stage's nDCG@10 for this query.
        reranked_value: the reranked list's nDCG@10.
        n: the top-N cut the user sees.
        tolerance: ``|reranked_value - first_value| < tolerance`` is "no change".
    """
    delta = reranked_value - first_value
    verdict: Verdict = "no change"
    if delta >= tolerance:
        verdict = "helped"
    elif delta <= -tolerance:
        verdict = "hurt"
    f_rank = {r.doc_id: i for i, r in enumerate(first, 1)}
    r_rank = {r.doc_id: i for i, r in enumerate(reranked, 1)}
    relevant = {d: g for d, g in judged.items() if g >= REL_THRESHOLD}
    big = 10**9

    def move(doc_id: str) -> DocMove:
        return DocMove(doc_id, relevant[doc_id], f_rank.get(doc_id), r_rank.get(doc_id))

    def top(rank: int | None) -> bool:
        return rank is not None and rank <= n

    demoted, promoted, below, gap = [], [], [], []
    for doc_id in relevant:
        fr, rr = f_rank.get(doc_id), r_rank.get(doc_id)
        if fr is None and rr is None:
            gap.append(move(doc_id))
        elif top(fr) and not top(rr):
            demoted.append(move(doc_id))
        elif top(rr) and not top(fr):
            promoted.append(move(doc_id))
        elif not top(fr) and not top(rr):
            below.append(move(doc_id))
    return QueryVerdict(
        query_id=query_id,
        verdict=verdict,
        first=first_value,
        reranked=reranked_value,
        delta=delta,
        demoted=sorted(demoted, key=lambda m: (m.first_rank or big, m.doc_id)),
        promoted=sorted(promoted, key=lambda m: (m.reranked_rank or big, m.doc_id)),
        left_below=sorted(below, key=lambda m: (m.reranked_rank or big, m.doc_id)),
        recall_gap=sorted(gap, key=lambda m: (-m.grade, m.doc_id)),
    )


@dataclass(frozen=True)
class Diagnostic:
    code: Literal["small_gain", "order_unchanged", "flat_scores", "not_significant", "fallback"]
    triggered: bool
    value: float | None
    threshold: float | None
    message: str


def diagnostics(
    ndcg: PairedTest,
    taus: Sequence[float],
    score_stds: Sequence[float],
    fallback_queries: int = 0,
    fallback_message: str = "",
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
) -> list[Diagnostic]:
    """Plain-language checks of whether the reranker earns its latency.

    Args:
        ndcg: the nDCG@10 comparison.
        taus: per-query Kendall's tau between the first stage's and the reranked order.
        score_stds: per-query standard deviation of the raw cross-encoder scores.
        fallback_queries: queries the reranker failed on (their "reranked" list is the first
            stage's order).
        fallback_message: why, for the first of them.
        thresholds: the thresholds.
    """
    import numpy as np

    t = thresholds
    out: list[Diagnostic] = []
    gain = ndcg.delta
    if gain < 0:
        msg = f"The reranker lowers nDCG@10 on average (Δ = {gain:+.4f})."
    elif gain < t.min_gain:
        msg = (
            f"Mean ΔnDCG@10 is {gain:+.4f}, below {t.min_gain:g}: too small a gain to pay "
            "the reranker's latency for."
        )
    else:
        msg = f"Mean ΔnDCG@10 is {gain:+.4f} (at least {t.min_gain:g})."
    out.append(Diagnostic("small_gain", gain < t.min_gain, gain, t.min_gain, msg))
    if taus:
        tau = float(np.mean(taus))
        hit = tau > t.max_tau
        msg = (
            f"Mean Kendall's tau between the first stage's and the reranked order is {tau:.3f}"
            + (
                f" (> {t.max_tau:g}): the reranker barely reorders the candidates."
                if hit
                else f" (<= {t.max_tau:g}): the reranker reorders the candidates."
            )
        )
        out.append(Diagnostic("order_unchanged", hit, tau, t.max_tau, msg))
    if score_stds:
        med = float(np.median(score_stds))
        hit = med < t.min_score_std
        msg = f"Median per-query standard deviation of the cross-encoder's scores is {med:.3g}" + (
            f" (< {t.min_score_std:g}): the scores are flat, the model hardly tells the "
            "candidates apart (is it trained for this kind of query?)."
            if hit
            else f" (>= {t.min_score_std:g}): the scores spread."
        )
        out.append(Diagnostic("flat_scores", hit, med, t.min_score_std, msg))
    p = ndcg.randomisation_p_value
    if p is not None:
        hit = p >= t.alpha
        msg = (
            f"The nDCG@10 difference is {'not ' if hit else ''}significant "
            f"(randomisation test p = {p:.4f}, {'>=' if hit else '<'} {t.alpha:g})."
        )
        out.append(Diagnostic("not_significant", hit, p, t.alpha, msg))
    if fallback_queries:
        out.append(
            Diagnostic(
                "fallback",
                True,
                float(fallback_queries),
                0.0,
                f"{fallback_queries} queries were not reranked ({fallback_message}); their "
                "reranked list is the first stage's order. They are not checkpointed: running "
                "the evaluation again reranks them.",
            )
        )
    return out
