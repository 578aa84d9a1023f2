"""What the reranker did to a first stage's ranking: rank shifts, dropped and promoted documents."""

from __future__ import annotations

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


def audit(first: StageResult, reranked: StageResult, n: int) -> Audit:
    """Compare a first stage's ranking with the reranked list at a top-``n`` cut.

    Args:
        first: a first stage's ranking (its top-K).
        reranked: the reranked list (the reranker's input stage's top-K, reordered).
        n: the cut the user sees; ``dropped`` and ``promoted`` are measured against it.

    Returns:
        Every candidate of either list with its two ranks, in reranked order; the documents the
        reranker pushed out of the top-``n`` (``dropped``) and pulled into it (``promoted``);
        Kendall's tau between the two orders over the documents both lists hold.
    """
    f_rank = {r.doc_id: r.rank for r in first.ranking}
    f_score = {r.doc_id: r.score for r in first.ranking}
    r_rank = {r.doc_id: r.rank for r in reranked.ranking}
    r_score = {r.doc_id: r.score for r in reranked.ranking}
    rows: list[ShiftRow] = []
    for doc_id in dict.fromkeys([*r_rank, *f_rank]):
        fr, rr = f_rank.get(doc_id), r_rank.get(doc_id)
        in_first, in_reranked = fr is not None and fr <= n, rr is not None and rr <= n
        shift = fr - rr if fr is not None and rr is not None else None
        status: ShiftStatus
        if in_first and not in_reranked:
            status = "dropped"
        elif in_reranked and not in_first:
            status = "new"
        elif shift is None or shift == 0:
            status = "same"
        else:
            status = "up" if shift > 0 else "down"
        rows.append(
            ShiftRow(
                doc_id=doc_id,
                first_rank=fr,
                reranked_rank=rr,
                first_score=f_score.get(doc_id),
                rerank_score=r_score.get(doc_id),
                status=status,
                shift=shift,
            )
        )
    big = 10**9
    rows.sort(key=lambda r: (r.reranked_rank or big, r.first_rank or big, r.doc_id))
    shared = [r for r in rows if r.first_rank is not None and r.reranked_rank is not None]
    tau = kendall_tau([r.first_rank for r in shared], [r.reranked_rank for r in shared])  # type: ignore[misc]
    cutoff = reranked.ranking[n - 1].score if len(reranked.ranking) >= n else None
    return Audit(
        first_stage=first.name,
        reranked_stage=reranked.name,
        n=n,
        rows=rows,
        dropped=sorted(
            (r for r in rows if r.status == "dropped"), key=lambda r: r.first_rank or big
        ),
        promoted=[r for r in rows if r.status == "new"],
        kendall_tau=tau,
        cutoff_score=cutoff,
    )
