"""The answer past the window: a document's best passage, and the rank it would get if the
reranker scored it by that passage (MaxP) instead of by its first window (FirstP)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from rankshift.rerank.base import Reranker, text_window_end
from rankshift.rerank.passages import PassageReranker, Window, split_windows
from rankshift.rerank.stage import reranked_order
from rankshift.types import Document, ScoredDoc


@dataclass(frozen=True)
class PassageFinding:
    """Where the best passage of one document sits, and what MaxP would make of it."""

    doc_id: str
    reason: str | None = None
    """Why there is no finding (an HTTP reranker has no tokenizer); None when there is one."""
    windows: int = 0
    best: Window | None = None
    firstp_score: float | None = None
    """The score of the document as FirstP reads it (its first ``max_length`` tokens)."""
    maxp_score: float | None = None
    """The best window's score."""
    window_end: int | None = None
    """Offset in the text where FirstP stops reading (None: it reads all of it)."""
    firstp_rank: int | None = None
    """Rank among the candidates with the FirstP score (None: no candidates given)."""
    maxp_rank: int | None = None
    """Rank among the candidates if this document alone were scored by its best passage."""
    candidates: int = 0
    n_scored: int = 0
    """Window pairs the model scored now (the rest came from the pair-score cache)."""

    @property
    def long(self) -> bool:
        """True when the text needs more than one window."""
        return self.windows > 1

    @property
    def where(self) -> str | None:
        """``beyond the window``, ``partly beyond the window`` or ``within the window``."""
        if self.best is None:
            return None
        if self.window_end is None or self.best.char_end <= self.window_end:
            return "within the window"
        if self.best.char_start >= self.window_end:
            return "beyond the window"
        return "partly beyond the window"


def _rank(score: float, doc_id: str, others: Mapping[str, float]) -> int:
    """The rank of ``doc_id`` with ``score`` among the candidates, the others' scores unchanged,
    by the one ordering rule of reranked lists (ties keep the candidates' first-stage order)."""
    first = [ScoredDoc(d, i, 0.0) for i, d in enumerate(others, 1)]
    order = reranked_order({**others, doc_id: score}, first)
    return next(r.rank for r in order if r.doc_id == doc_id)


def best_passage(
    reranker: Reranker,
    query: str,
    doc: Document,
    candidate_scores: Mapping[str, float] | None = None,
) -> PassageFinding:
    """Score every window of ``doc`` and compare MaxP with FirstP.

    Args:
        reranker: an in-process reranker (a MaxP wrapper is unwrapped: windows are scored by
            its model); an HTTP reranker gives a finding with a ``reason`` and no scores.
        candidate_scores: the current candidates' reranker scores (``doc_id -> score``), in the
            first stage's order; with them the finding says the rank of ``doc`` by each score,
            the others unchanged.
    """
    model = reranker.inner if isinstance(reranker, PassageReranker) else reranker
    stride = reranker.stride if isinstance(reranker, PassageReranker) else None
    tokenizer = getattr(model, "tokenizer", None)
    if tokenizer is None or not model.max_length:
        return PassageFinding(
            doc.doc_id,
            reason=f"{reranker.spec.short} runs as a service and reports no tokens: its passages "
            "cannot be located (in-process rerankers only)",
        )
    with model.lock:
        windows = split_windows(tokenizer, query, doc.text, model.max_length, doc.title, stride)
    found, scored = model.score_texts(query, [doc.full_text, *(w.text for w in windows)])
    firstp = found[0][0]
    scores = [row[0] for row in found[1:]]
    best = max(range(len(windows)), key=lambda j: (scores[j], -j))
    end = text_window_end(model, query, doc)
    cut = None if end is None or end >= len(doc.text) else end
    ranks: dict[str, int | None] = {"firstp": None, "maxp": None}
    if candidate_scores:
        ranks = {
            "firstp": _rank(firstp, doc.doc_id, candidate_scores),
            "maxp": _rank(scores[best], doc.doc_id, candidate_scores),
        }
    return PassageFinding(
        doc_id=doc.doc_id,
        windows=len(windows),
        best=windows[best],
        firstp_score=firstp,
        maxp_score=scores[best],
        window_end=cut,
        firstp_rank=ranks["firstp"],
        maxp_rank=ranks["maxp"],
        candidates=len(set(candidate_scores or {}) | {doc.doc_id}) if candidate_scores else 0,
        n_scored=scored,
    )
