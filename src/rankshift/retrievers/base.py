"""The interface every first stage implements, and small shared helpers."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from rankshift.types import ScoredDoc

if TYPE_CHECKING:
    import numpy as np

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


def top_k_of_array(
    scores: np.ndarray, doc_ids: Sequence[str], k: int, min_score: float | None = None
) -> list[ScoredDoc]:
    """:func:`top_k` over a whole score array without sorting all of it.

    A partition finds the ``k``-th best score; every document scoring at least that much is
    kept, so a tie at the cut is broken on ``doc_id`` over all tied documents (a fixed window
    past ``k`` could cut a tie arbitrarily).

    Args:
        scores: one score per document, in ``doc_ids`` order.
        doc_ids: the documents' ids.
        k: how many to return.
        min_score: documents scoring at or below this are never returned (BM25 leaves out
            documents that share no term with the query).
    """
    import numpy as np

    if len(scores) == 0 or k <= 0:
        return []
    if min_score is None:
        idx, cand = None, scores
    else:
        # Only documents above min_score can be returned: a BM25 query matches a few percent
        # of a large collection, so partitioning those alone is an order of magnitude cheaper
        # than partitioning every score (1 ms per 100k documents).
        idx = np.flatnonzero(scores > min_score)
        cand = scores[idx]
    m = len(cand)
    if k < m:
        keep = np.flatnonzero(cand >= np.partition(cand, m - k)[m - k])
        idx = keep if idx is None else idx[keep]
        cand = cand[keep]
    elif idx is None:
        idx = np.arange(m)
    # Vectorised: a query matching few documents must not walk every score in Python.
    return top_k(zip([doc_ids[i] for i in idx.tolist()], cand.tolist(), strict=True), k)
