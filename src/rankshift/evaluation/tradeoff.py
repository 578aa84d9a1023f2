"""The latency / quality trade-off: nDCG@10 and rerank time as the number of reranked candidates K varies."""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rankshift.evaluation.metrics import evaluate, rank_scored
from rankshift.evaluation.runner import BatchRunner
from rankshift.evaluation.specs import parse_pipeline
from rankshift.pipeline import retrieve_first_stages
from rankshift.rerank import PairScoreCache, reranked_order
from rankshift.rerank.spec import display_name
from rankshift.retrievers.base import ProgressFn
from rankshift.types import Qrels, Query, ScoredDoc


@dataclass(frozen=True)
class TradeoffPoint:
    k: int
    ndcg10: float
    rerank_ms_median: float | None
    """Median cold rerank time per query (every pair scored by the model, no cache)."""
    rerank_ms_mean: float | None
    mean_candidates: float


@dataclass(frozen=True)
class Tradeoff:
    """nDCG@10 and rerank time as the number of reranked candidates K varies."""

    first_stage: str
    reranker: str
    first_stage_ndcg10: float
    points: list[TradeoffPoint]
    n_queries: int
    latency_queries: int
    """Queries the cold latency was measured on (nDCG uses every query)."""


def tradeoff(
    runner: BatchRunner,
    queries: Mapping[str, Query] | Sequence[Query],
    qrels: Qrels,
    first_stage: str = "bm25",
    ks: Sequence[int] = (10, 20, 50, 100, 200),
    latency_queries: int = 10,
    progress: ProgressFn | None = None,
) -> Tradeoff:
    """nDCG@10 and rerank time as the number of reranked candidates K varies.

    Each query's top ``max(ks)`` candidates are scored once (through the pair-score cache);
    the ranking for each K reorders its top K by those scores, exactly as reranking only the
    top K would. Rerank time is measured cold, with a cache-less copy of the reranker sharing
    the loaded model, on the first ``latency_queries`` queries, for each K.

    Args:
        runner: supplies the first stage and the reranker.
        queries: the query set.
        qrels: judgments for nDCG@10.
        first_stage: a spec key of one of ``runner``'s first stages (``bm25``,
            ``hybrid(rrf)``...) or a plain first stage.
        ks: the K values.
        latency_queries: how many queries the cold timing runs on.
        progress: ``progress("Trade-off", done, total)`` after each query.
    """
    import numpy as np

    reranker = runner.reranker
    if reranker is None:
        raise ValueError(runner.pipeline.reranker_error or "the reranker is not loaded")
    key = parse_pipeline(first_stage).stage_key
    if key not in runner.stages:
        raise ValueError(f"{first_stage!r} is not one of the batch's first stages")
    retriever = runner.stages[key]
    ks = sorted({int(k) for k in ks if int(k) > 0})
    if not ks:
        raise ValueError("ks needs at least one positive K")
    kmax = ks[-1]
    qlist = list(queries.values()) if isinstance(queries, Mapping) else list(queries)
    # The same loaded model (any backend) with an empty cache of its own: every pair is scored.
    cold = copy.copy(reranker)
    cold.cache = PairScoreCache(None)
    docs = runner.collection.documents
    firsts: dict[str, list[ScoredDoc]] = {}
    per_k: dict[int, dict[str, list[ScoredDoc]]] = {k: {} for k in ks}
    times: dict[int, list[float]] = {k: [] for k in ks}
    for i, q in enumerate(qlist):
        ranking = retrieve_first_stages(q.text, {key: retriever}, kmax)[key].ranking
        firsts[q.query_id] = ranking
        pairs, _ = reranker.score(q.text, [docs[r.doc_id] for r in ranking])
        score = {p.doc_id: p.score for p in pairs}
        for k in ks:
            pool = ranking[:k]
            per_k[k][q.query_id] = reranked_order({r.doc_id: score[r.doc_id] for r in pool}, pool)
            if i < latency_queries:
                cold.cache = PairScoreCache(None)
                t = time.perf_counter()
                cold.score(q.text, [docs[r.doc_id] for r in pool])
                times[k].append((time.perf_counter() - t) * 1000)
        if progress:
            progress("Trade-off", i + 1, len(qlist))
    ids = [q.query_id for q in qlist]
    base = evaluate(qrels, rank_scored(firsts), ["nDCG@10"], ids).mean["nDCG@10"]
    points = [
        TradeoffPoint(
            k=k,
            ndcg10=evaluate(qrels, rank_scored(per_k[k]), ["nDCG@10"], ids).mean["nDCG@10"],
            rerank_ms_median=float(np.median(times[k])) if times[k] else None,
            rerank_ms_mean=float(np.mean(times[k])) if times[k] else None,
            mean_candidates=float(np.mean([len(v) for v in per_k[k].values()]))
            if per_k[k]
            else 0.0,
        )
        for k in ks
    ]
    return Tradeoff(
        first_stage=retriever.name,
        reranker=f"ce({display_name(reranker.model_id)},len={reranker.max_length})",
        first_stage_ndcg10=base,
        points=points,
        n_queries=len(qlist),
        latency_queries=min(latency_queries, len(qlist)),
    )
