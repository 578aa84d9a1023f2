"""Hybrid retrieval: a sparse and a dense retriever, fused (see :mod:`rankshift.retrievers.fusion`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

from rankshift.config import DEFAULT_FUSION_WEIGHT, DEFAULT_RRF_K
from rankshift.retrievers.base import Retriever, top_k
from rankshift.retrievers.fusion import (
    FUSIONS,
    FusionMethod,
    MissingScore,
    normalise,
    rrf,
    weighted_fusion,
)
from rankshift.types import ScoredDoc

__all__ = [
    "FUSIONS",
    "FusionMethod",
    "HybridRetriever",
    "MissingScore",
    "normalise",
    "rrf",
    "weighted_fusion",
]


class HybridRetriever:
    """Fuses a sparse and a dense retriever's top-``depth`` lists."""

    key = "hybrid"

    def __init__(
        self,
        sparse: Retriever,
        dense: Retriever,
        method: FusionMethod = "rrf",
        weight: float = DEFAULT_FUSION_WEIGHT,
        rrf_k: int = DEFAULT_RRF_K,
        depth: int = 100,
        missing: MissingScore = "min",
    ) -> None:
        if method not in FUSIONS:
            raise ValueError(f"unknown fusion {method!r}; choose from {', '.join(FUSIONS)}")
        # Checked here, not at the first search: a bad setting should fail where it is made.
        if not 0.0 <= weight <= 1.0:
            raise ValueError(f"weight must be in [0, 1], got {weight}")
        if rrf_k < 0:
            raise ValueError(f"rrf_k must be at least 0, got {rrf_k}")
        self.sparse, self.dense = sparse, dense
        self.method, self.weight, self.rrf_k = method, weight, rrf_k
        self.depth, self.missing = depth, missing

    @property
    def name(self) -> str:
        if self.method == "rrf":
            return f"hybrid(rrf,k={self.rrf_k})"
        return f"hybrid({self.method},w={self.weight:g})"

    @property
    def params(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "weight": self.weight,
            "rrf_k": self.rrf_k,
            "depth": self.depth,
            "missing": self.missing,
        }

    def fuse(
        self, sparse: Sequence[ScoredDoc], dense: Sequence[ScoredDoc], k: int
    ) -> list[ScoredDoc]:
        """Fuse two already-retrieved lists (lets the pipeline reuse the first stages' work)."""
        fused = self._fuser()(sparse, dense)
        return top_k(fused.items(), k)

    def _fuser(self) -> Callable[[Sequence[ScoredDoc], Sequence[ScoredDoc]], dict[str, float]]:
        if self.method == "rrf":
            return lambda s, d: rrf([s, d], k=self.rrf_k)
        norm: Literal["minmax", "zscore"] = "minmax" if self.method == "minmax" else "zscore"
        return lambda s, d: weighted_fusion(s, d, self.weight, norm, self.missing)

    def search(self, query: str, k: int) -> list[ScoredDoc]:
        return self.search_many([query], k)[0]

    def search_many(self, queries: Sequence[str], k: int) -> list[list[ScoredDoc]]:
        depth = max(k, self.depth)
        sparse = self.sparse.search_many(queries, depth)
        dense = self.dense.search_many(queries, depth)
        return [self.fuse(s, d, k) for s, d in zip(sparse, dense, strict=True)]
