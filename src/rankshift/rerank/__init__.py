"""Reranking: cross-encoders, the pair-score cache, the reranked stage and its fallback.

Modules: :mod:`~rankshift.rerank.cache` (pair scores kept across runs),
:mod:`~rankshift.rerank.cross_encoder` (a model run in this process),
:mod:`~rankshift.rerank.stage` (one query's candidates reranked, blended and ordered),
:mod:`~rankshift.rerank.heads` (scoring heads of rerankers trained by rankshift; imports torch).
"""

from __future__ import annotations

from rankshift.rerank.cache import PairScoreCache, pair_hash
from rankshift.rerank.cross_encoder import (
    CrossEncoderReranker,
    RerankTimeout,
    sigmoid,
    try_load_reranker,
)
from rankshift.rerank.stage import UnknownDocumentError, blend_scores, rerank, reranked_order

__all__ = [
    "CrossEncoderReranker",
    "PairScoreCache",
    "RerankTimeout",
    "UnknownDocumentError",
    "blend_scores",
    "pair_hash",
    "rerank",
    "reranked_order",
    "sigmoid",
    "try_load_reranker",
]
