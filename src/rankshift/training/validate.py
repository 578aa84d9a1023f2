"""Validation on held-out queries: the first stage, the base model, the trained model and the
blend weight that does best (see :func:`validate`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import suppress
from typing import Any

from rankshift.corpus import Collection
from rankshift.evaluation.metrics import evaluate, rank_scored
from rankshift.models import short_name
from rankshift.retrievers.base import ProgressFn
from rankshift.training.config import TrainConfig
from rankshift.training.data import QuerySplit
from rankshift.training.models import load_base, score_with
from rankshift.training.result import BLEND_GRID, BlendChoice, StageMetrics
from rankshift.types import Qrels, ScoredDoc


def validation_metrics(
    name: str,
    rankings: Mapping[str, Sequence[ScoredDoc] | Sequence[str]],
    qrels: Qrels,
    kind: str = "",
) -> StageMetrics:
    ev = evaluate(qrels, rank_scored(rankings), ("nDCG@10", "MRR@10"), query_ids=list(rankings))
    return StageMetrics(name, ev.mean["nDCG@10"], ev.mean["MRR@10"], kind)


def _order(scores: Mapping[str, float], first: Sequence[ScoredDoc]) -> list[str]:
    """Documents by score, best first, by the one reranked ordering rule."""
    from rankshift.rerank import reranked_order

    return [r.doc_id for r in reranked_order(scores, first)]


def validation_stage(retrievers: Mapping[str, Any], spec: str) -> Any:
    """The first stage named by ``spec`` (``bm25``, ``hybrid``, ``hybrid(zscore,w=0.5)``...).

    A plain stage name that is not among ``retrievers`` falls back to the first of them (the
    name of the stage used is in the validation table); a hybrid spec needs BM25 and dense.
    """
    if spec in retrievers:
        return retrievers[spec]
    if spec in ("bm25", "dense", "hybrid") and retrievers:
        return next(iter(retrievers.values()))
    from rankshift.evaluation import parse_pipeline
    from rankshift.pipeline import PipelineSettings, make_hybrid

    parsed = parse_pipeline(spec)
    if parsed.rerank:
        raise ValueError(f"the validation stage is a first stage, not a reranked one: {spec!r}")
    if parsed.first_stage != "hybrid" or not {"bm25", "dense"} <= set(retrievers):
        raise ValueError(f"no {spec!r} first stage among {', '.join(retrievers)}")
    settings = parsed.settings(PipelineSettings(reranker=None))
    return make_hybrid(retrievers["bm25"], retrievers["dense"], settings)


def validate(
    collection: Collection,
    qrels: Qrels,
    split: QuerySplit,
    retriever: Any,
    config: TrainConfig,
    trained: Any,
    progress: ProgressFn | None,
) -> tuple[list[StageMetrics], BlendChoice | None]:
    from rankshift.rerank import blend_scores

    if not split.eval:
        return [], None
    first: dict[str, list[ScoredDoc]] = {
        q: retriever.search(collection.queries[q].text, config.rerank_k) for q in split.eval
    }
    eval_qrels = {q: qrels[q] for q in split.eval}
    metrics = [
        validation_metrics(f"{retriever.name} (first stage)", first, eval_qrels, "first stage")
    ]
    models: list[tuple[str, str, Any]] = []
    # The base is reported only when it loads as a cross-encoder again.
    with suppress(Exception):
        models.append(("base", f"base: {short_name(config.base_model)}", load_base(config)))
    models.append(("trained", "trained", trained))
    scores: dict[str, dict[str, float]] = {}
    for kind, name, model in models:
        scores = {}
        for i, q in enumerate(split.eval, 1):
            ids = [r.doc_id for r in first[q]]
            texts = [collection.documents[d].full_text for d in ids]
            scores[q] = score_with(model, collection.queries[q].text, texts, ids)
            if progress:
                progress(f"Validating {name}", i, len(split.eval))
        ranked = {q: _order(scores[q], first[q]) for q in split.eval}
        metrics.append(
            validation_metrics(f"{name} (k={config.rerank_k})", ranked, eval_qrels, kind)
        )
    # ``scores`` are the trained model's now: try mixing the first stage back in.
    grid = {}
    for w in BLEND_GRID:
        blended = {q: _order(blend_scores(first[q], scores[q], w), first[q]) for q in split.eval}
        grid[w] = validation_metrics("", blended, eval_qrels).ndcg10
    best = max(grid, key=lambda w: (round(grid[w], 6), -w))  # ties: the least blending
    if best > 0:
        blended = {q: _order(blend_scores(first[q], scores[q], best), first[q]) for q in split.eval}
        metrics.append(
            validation_metrics(f"trained, blend={best:g}", blended, eval_qrels, "blended")
        )
    return metrics, BlendChoice(grid, best)
