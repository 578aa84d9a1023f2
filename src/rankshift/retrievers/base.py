"""The interface every first stage implements, and small shared helpers."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Protocol, runtime_checkable

from rankshift.types import ScoredDoc

ProgressFn = Callable[[str, int, int], None]
"""``progress(label, done, total)``: called while indexes build and models score."""


@runtime_checkable
class Retriever(Protocol):
    """A first stage: a query in, the top-``k`` documents with scores out."""

    key: str
    """Short key used in results and settings (``bm25``, ``dense``, ``hybrid``)."""

    @property
    def name(self) -> str:
        """Display name that records the parameters, e.g. ``bm25(k1=1.5,b=0.75)``."""
        ...

    def search(self, query: str, k: int) -> list[ScoredDoc]: ...

    def search_many(self, queries: Sequence[str], k: int) -> list[list[ScoredDoc]]: ...


def top_k(scored: Iterable[tuple[str, float]], k: int) -> list[ScoredDoc]:
    """Sort by score (descending), break ties on ``doc_id`` so every run is deterministic."""
    ordered = sorted(scored, key=lambda x: (-x[1], x[0]))[:k]
    return [ScoredDoc(doc_id=d, rank=i, score=float(s)) for i, (d, s) in enumerate(ordered, 1)]
