"""What the reranker did to a first stage's ranking: rank shifts, dropped and promoted documents,
and the documents it never saw (not candidates), counted apart."""

from __future__ import annotations

from collections.abc import Mapping

from rankshift.types import Audit, ShiftRow, ShiftStatus, StageResult


def kendall_tau(a: list[int], b: list[int]) -> float | None:
    """Kendall's tau-b between two rank lists over the same items (``None`` below 2 items).

    Kendall, "A new measure of rank correlation", Biometrika 1938; computed with SciPy.
    """
    if len(a) < 2:
        return None
    from scipy.stats import kendalltau

    tau = kendalltau(a, b).statistic
    return None if tau != tau else float(tau)  # NaN when one list is constant


def audit(
    first: StageResult,
    reranked: StageResult,
    n: int,
    ce_scores: Mapping[str, float] | None = None,
) -> Audit:
    """Compare a first stage's ranking with the reranked list at a top-``n`` cut.

    The reranked list holds every candidate the reranker reordered (its input stage's top-K),
    so a document of ``first`` that is not in it was never the reranker's to keep or drop: it
    is ``not_candidate`` and listed apart, never ``dropped``. ``first`` may be the stage the
    reranker reordered (then every one of its documents is a candidate) or another first stage
    shown beside it.

    Args:
        first: a first stage's ranking (its top-K).
        reranked: the reranked list (the reranker's input stage's top-K, reordered). Its scores
            decided the order: blended ones when ``reranked.params["blend"]`` > 0.
        n: the cut the user sees; ``dropped`` and ``promoted`` are measured against it.
        ce_scores: the cross-encoder's own score of each candidate
            (:attr:`~rankshift.types.RerankInfo.pairs`), kept on each row beside the score that
            decided the order. Default: the reranked scores when nothing was blended, else none.

    Returns:
        Every document of either list with its two ranks and its status, in reranked order;
        the candidates the reranker pushed out of the top-``n`` (``dropped``) and pulled into it
        (``promoted``); the top-``n`` documents it never saw (``not_candidates``); Kendall's
        tau between the two orders over the documents both lists hold.
    """
    blend = float(reranked.params.get("blend", 0.0) or 0.0)
    f_rank = {r.doc_id: r.rank for r in first.ranking}
    f_score = {r.doc_id: r.score for r in first.ranking}
    r_rank = {r.doc_id: r.rank for r in reranked.ranking}
    r_score = {r.doc_id: r.score for r in reranked.ranking}
    if ce_scores is None:
        ce_scores = {} if blend else r_score
    rows: list[ShiftRow] = []
    for doc_id in dict.fromkeys([*r_rank, *f_rank]):
        fr, rr = f_rank.get(doc_id), r_rank.get(doc_id)
        in_first, in_reranked = fr is not None and fr <= n, rr is not None and rr <= n
        shift = fr - rr if fr is not None and rr is not None else None
        status: ShiftStatus
        if rr is None:
            status = "not_candidate"
        elif in_first and not in_reranked:
            status = "dropped"
        elif in_reranked and not in_first:
            status = "new"
        elif not in_first:  # and not in the reranked top-n either
            status = "below"
        elif shift == 0:
            status = "same"
        else:
            status = "up" if shift and shift > 0 else "down"
        rows.append(
            ShiftRow(
                doc_id=doc_id,
                first_rank=fr,
                reranked_rank=rr,
                first_score=f_score.get(doc_id),
                rerank_score=r_score.get(doc_id),
                status=status,
                shift=shift,
                ce_score=ce_scores.get(doc_id),
            )
        )
    big = 10**9
    rows.sort(key=lambda r: (r.reranked_rank or big, r.first_rank or big, r.doc_id))
    shared = [r for r in rows if r.first_rank is not None and r.reranked_rank is not None]
    tau = kendall_tau([r.first_rank for r in shared], [r.reranked_rank for r in shared])  # type: ignore[misc]
    cutoff = reranked.ranking[n - 1].score if len(reranked.ranking) >= n else None

    def by_first_rank(status: ShiftStatus, top_only: bool = False) -> list[ShiftRow]:
        chosen = [
            r for r in rows if r.status == status and (not top_only or (r.first_rank or big) <= n)
        ]
        return sorted(chosen, key=lambda r: r.first_rank or big)

    return Audit(
        first_stage=first.name,
        reranked_stage=reranked.name,
        n=n,
        rows=rows,
        dropped=by_first_rank("dropped"),
        promoted=[r for r in rows if r.status == "new"],
        kendall_tau=tau,
        cutoff_score=cutoff,
        not_candidates=by_first_rank("not_candidate", top_only=True),
        blend=blend,
        rerank_input=reranked.params.get("input_stage"),
        candidates=len(reranked.ranking),
    )
