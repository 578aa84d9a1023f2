"""Reranking one query's candidates: the reranked stage, the blend, the one ordering rule."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from rankshift.config import DEFAULT_RERANKER
from rankshift.rerank.base import Reranker
from rankshift.retrievers.base import ProgressFn
from rankshift.types import Document, RerankInfo, RerankStatus, ScoredDoc, StageResult


class UnknownDocumentError(KeyError):
    """A candidate names a document id the collection does not hold.

    Raised, never turned into a "reranker failed" fallback: the reranker did nothing wrong, the
    candidates and the collection do not belong together (an index or run from another corpus).
    """

    def __init__(self, doc_ids: Sequence[str], stage: str) -> None:
        self.doc_ids = list(doc_ids)
        shown = ", ".join(repr(d) for d in self.doc_ids[:5])
        more = f" and {len(self.doc_ids) - 5} more" if len(self.doc_ids) > 5 else ""
        super().__init__(
            f"{len(self.doc_ids)} candidate(s) of {stage!r} are not in the collection: "
            f"{shown}{more}. Was the index or run built from another version of the corpus?"
        )

    def __str__(self) -> str:
        return str(self.args[0])


def rerank(
    reranker: Reranker | None,
    query: str,
    candidates: StageResult,
    documents: Mapping[str, Document],
    k: int,
    unavailable_message: str | None = None,
    missing_status: RerankStatus = "unavailable",
    model_id: str = DEFAULT_RERANKER,
    progress: ProgressFn | None = None,
    timeout_s: float | None = None,
    blend: float = 0.0,
) -> tuple[StageResult, RerankInfo]:
    """Rerank the top-``k`` of ``candidates``; never raises for a model failure.

    Raises :class:`UnknownDocumentError` when a candidate is not in ``documents``: that is a
    mismatch of collection and candidates, not a failure of the reranker.

    ``blend`` mixes the first stage back in: the reranked order is by
    ``(1 - blend) * z(reranker score) + blend * z(first-stage score)`` over the ``k``
    candidates (see :func:`blend_scores`); 0 is the reranker alone. The ranking's scores are
    then the blended ones; :attr:`RerankInfo.pairs` keep the reranker's own scores.

    When the reranker is missing, fails or times out, the returned stage is the first stage's
    order, named ``... (not reranked)`` with ``params["reranked"] = False``, and the
    :class:`RerankInfo` says why (``missing_status`` is the status when no reranker is given:
    ``unavailable`` when one failed to load, ``skipped`` when reranking is turned off).
    """
    pool = candidates.top(k)
    start = time.perf_counter()

    def fallback(status: str, message: str) -> tuple[StageResult, RerankInfo]:
        stage = StageResult(
            name=f"{candidates.name} (not reranked)",
            kind="rerank",
            ranking=list(pool),
            ms=0.0,
            params={"reranked": False, "input_stage": candidates.name},
        )
        info = RerankInfo(
            model_id=reranker.model_id if reranker else model_id,
            status=status,  # type: ignore[arg-type]
            message=message,
            revision=reranker.revision if reranker else None,
            max_length=reranker.max_length if reranker else None,
            input_stage=candidates.name,
            k=k,
            ms=(time.perf_counter() - start) * 1000,
        )
        return stage, info

    if not 0.0 <= blend <= 1.0:
        raise ValueError(f"blend must be in [0, 1], got {blend}")
    if reranker is None:
        return fallback(
            missing_status, unavailable_message or f"Reranker '{model_id}' is not loaded."
        )
    missing = [r.doc_id for r in pool if r.doc_id not in documents]
    if missing:
        raise UnknownDocumentError(missing, candidates.name)
    try:
        pairs, scored = reranker.score(
            query, [documents[r.doc_id] for r in pool], progress=progress, timeout_s=timeout_s
        )
    except Exception as e:  # a reranker failure must never reach the caller as an exception
        return fallback(
            "failed",
            f"Reranker '{reranker.model_id}' failed ({type(e).__name__}: {str(e)[:200]}); "
            "showing first-stage order, not reranked.",
        )
    ms = (time.perf_counter() - start) * 1000
    final = {p.doc_id: p.score for p in pairs}
    if blend > 0:
        final = blend_scores(pool, final, blend)
    stage = StageResult(
        name=f"{candidates.name}>{reranker.name}" + (f"(blend={blend:g})" if blend else ""),
        kind="rerank",
        ranking=reranked_order(final, pool),
        ms=ms,
        params={
            "reranked": True,
            "input_stage": candidates.name,
            "model_id": reranker.model_id,
            "revision": reranker.revision,
            "max_length": reranker.max_length,
            "k": k,
            "blend": blend,
        },
    )
    info = RerankInfo(
        model_id=reranker.model_id,
        status="ok",
        revision=reranker.revision,
        max_length=reranker.max_length,
        input_stage=candidates.name,
        k=k,
        pairs=pairs,
        scored_pairs=scored,
        cached_pairs=sum(p.cached for p in pairs),
        ms=ms,
        blend=blend,
    )
    return stage, info


def reranked_order(scores: Mapping[str, float], first: Sequence[ScoredDoc]) -> list[ScoredDoc]:
    """The reranked ranking: by score, best first; a tie keeps the first stage's order, then
    ``doc_id``. The one ordering rule of every reranked list (pipeline, batch runs, the
    trade-off sweep, training validation), so the same scores always give the same ranks.

    Args:
        scores: the score that decides the order, for each reranked document.
        first: the first stage's ranking of the candidates (documents missing from it sort
            after those in it on ties).
    """
    first_rank = {r.doc_id: r.rank for r in first}
    big = len(first_rank) + 1
    order = sorted(scores, key=lambda d: (-scores[d], first_rank.get(d, big), d))
    return [ScoredDoc(d, i, float(scores[d])) for i, d in enumerate(order, 1)]


def blend_scores(
    first: Sequence[ScoredDoc], reranker_scores: dict[str, float], blend: float
) -> dict[str, float]:
    """``(1 - blend) * z(reranker) + blend * z(first stage)`` for the reranked documents.

    Each list is z-scored over the candidates separately (CombSUM over z-scores, as
    ``hybrid(zscore)`` fuses BM25 and dense), so neither scale dominates. Interpolating a
    BERT reranker's score with the first stage's is a common way to keep what the first
    stage knew (e.g. Yilmaz et al., "Cross-domain modeling of sentence-level evidence for
    document retrieval", EMNLP 2019, with BM25). Choose the weight on held-out queries:
    ``rankshift train`` reports the best one on its validation split.
    """
    from rankshift.retrievers.fusion import weighted_fusion

    ce = [ScoredDoc(d, i, s) for i, (d, s) in enumerate(reranker_scores.items(), 1)]
    pool = [r for r in first if r.doc_id in reranker_scores]
    fused = weighted_fusion(ce, pool, weight=blend, norm="zscore")
    return {d: fused[d] for d in reranker_scores}
