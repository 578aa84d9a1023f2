"""Reranking: cross-encoders, the pair-score cache, the reranked stage and its fallback.

Modules: :mod:`~rankshift.rerank.spec` (which reranker, on which backend: the spec string),
:mod:`~rankshift.rerank.loading` (the registry of backends; loading with a handled failure),
:mod:`~rankshift.rerank.base` (what every backend shares: cache, batching, timeouts),
:mod:`~rankshift.rerank.cache` (pair scores kept across runs),
:mod:`~rankshift.rerank.cross_encoder` (a model run in this process by torch),
:mod:`~rankshift.rerank.exported` (the same model exported to ONNX or OpenVINO),
:mod:`~rankshift.rerank.remote` (rerankers run as HTTP services: TEI, Cohere and its kin),
:mod:`~rankshift.rerank.stage` (one query's candidates reranked, blended and ordered),
:mod:`~rankshift.rerank.heads` (scoring heads of rerankers trained by rankshift; imports torch).
"""

from __future__ import annotations

from rankshift.rerank.base import Reranker, RerankTimeout, sigmoid
from rankshift.rerank.cache import PairScoreCache, pair_hash
from rankshift.rerank.cross_encoder import CrossEncoderReranker
from rankshift.rerank.loading import RerankerUnavailable, load_reranker, try_load_reranker
from rankshift.rerank.spec import BACKENDS, RerankerSpec
from rankshift.rerank.stage import UnknownDocumentError, blend_scores, rerank, reranked_order

__all__ = [
    "BACKENDS",
    "CrossEncoderReranker",
    "PairScoreCache",
    "RerankTimeout",
    "Reranker",
    "RerankerSpec",
    "RerankerUnavailable",
    "UnknownDocumentError",
    "blend_scores",
    "load_reranker",
    "pair_hash",
    "rerank",
    "reranked_order",
    "sigmoid",
    "try_load_reranker",
]
