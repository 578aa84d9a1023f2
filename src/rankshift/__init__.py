"""rankshift: see what a cross-encoder reranker did to your first-stage results.

Importing this package is cheap: torch, sentence-transformers and faiss load at first use.
"""

from __future__ import annotations

from rankshift.corpus import (
    Collection,
    CollectionLoadError,
    load_collection,
    load_corpus,
    load_qrels,
    load_queries,
)
from rankshift.pipeline import EmptyQueryError, Pipeline, PipelineSettings
from rankshift.types import (
    Audit,
    Document,
    PairScore,
    PipelineResult,
    Qrels,
    Query,
    RerankInfo,
    Run,
    ScoredDoc,
    ShiftRow,
    StageResult,
)

__version__ = "0.1.0"

__all__ = [
    "Audit",
    "Collection",
    "CollectionLoadError",
    "Document",
    "EmptyQueryError",
    "PairScore",
    "Pipeline",
    "PipelineResult",
    "PipelineSettings",
    "Qrels",
    "Query",
    "RerankInfo",
    "Run",
    "ScoredDoc",
    "ShiftRow",
    "StageResult",
    "load_collection",
    "load_corpus",
    "load_qrels",
    "load_queries",
]
