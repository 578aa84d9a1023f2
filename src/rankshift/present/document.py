"""The document panel: one document's text with query terms marked, the reranker's token
window, and the document's ranks and scores in every list."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rankshift.corpus import Collection
from rankshift.present.text import (
    WORD_PATTERN,
    escape_markdown,
    query_terms,
    stage_label,
    stem,
    title_of,
)
from rankshift.rerank.base import text_window_end
from rankshift.types import Document, PipelineResult


@dataclass(frozen=True)
class Segment:
    """A run of document text. ``match``: a query term. ``seen``: inside the reranker's window."""

    text: str
    match: bool
    seen: bool


@dataclass(frozen=True)
class DocumentView:
    doc_id: str
    title: str
    text: str
    segments: list[Segment]
    window_end: int | None
    """Offset in ``text`` where the reranker stops reading (None: unknown, no reranker)."""
    max_length: int | None
    ranks: dict[str, int | None]
    """The document's rank in every list of the result (None: not in it)."""
    ce_score: float | None = None
    probability: float | None = None
    passages: str = "firstp"
    """``maxp`` when the reranker scores every window and keeps the best (nothing is cut)."""
    window_unknown: bool = False
    """True when a reranker is loaded but cannot say where it stops reading (a service)."""
    n_tokens: int | None = None
    truncated: bool | None = None
    grade: int | None = None
    """The qrels grade."""
    label: int | None = None
    """The stored label (judgment store), kept apart from the qrels grade."""
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def seen_text(self) -> str:
        return self.text if self.window_end is None else self.text[: self.window_end]

    @property
    def unseen_text(self) -> str:
        return "" if self.window_end is None else self.text[self.window_end :]


def highlight_segments(text: str, terms: set[str], window_end: int | None = None) -> list[Segment]:
    """Split ``text`` into plain runs and query-term matches, and at ``window_end``."""
    cut = len(text) if window_end is None else max(0, min(window_end, len(text)))
    bounds: list[tuple[int, int]] = [
        (m.start(), m.end())
        for m in WORD_PATTERN.finditer(text)
        if terms and stem(m.group()) in terms
    ]
    segments: list[Segment] = []

    def emit(start: int, end: int, match: bool) -> None:
        # A term straddling the window edge is split there: the reranker read only part of it.
        for a, b, seen in ((start, min(end, cut), True), (max(start, cut), end, False)):
            if a < b:
                piece = text[a:b]
                if segments and segments[-1].match == match and segments[-1].seen == seen:
                    last = segments.pop()
                    piece = last.text + piece
                segments.append(Segment(piece, match, seen))

    pos = 0
    for start, end in bounds:
        emit(pos, start, False)
        emit(start, end, True)
        pos = end
    emit(pos, len(text), False)
    return segments


def segments_markdown(segments: Iterable[Segment], seen: bool) -> str:
    """Escaped markdown for the seen (or unseen) part, query terms on an orange background."""
    out = []
    for s in segments:
        if s.seen != seen:
            continue
        body = escape_markdown(s.text, strip=False)
        if s.match and body.strip():
            out.append(f":orange-background[{body}]")
        else:
            out.append(body)
    return "".join(out).lstrip()


def document_view(
    doc: Document,
    query: str,
    result: PipelineResult | None = None,
    reranker: Any = None,
    grades: Mapping[str, int] | None = None,
    labels: Mapping[str, int] | None = None,
) -> DocumentView:
    """Everything the document panel shows about one document for one query.

    Args:
        doc: the document.
        query: the query text (its terms are highlighted).
        result: the pipeline result (ranks in every list, the cross-encoder's score).
        reranker: a loaded :class:`~rankshift.rerank.CrossEncoderReranker`; with it the part
            of the text beyond the model's token window is marked as not seen. The reranker
            reads ``title + "\\n" + text``, so the window is measured on that and mapped back.
        grades: judged grades of this query.
        labels: stored labels of this query (judgment store).
    """
    window_end: int | None = None
    max_length: int | None = None
    window_unknown = False
    passages = "firstp"
    if reranker is not None:
        passages = getattr(getattr(reranker, "spec", None), "passages", "firstp")
        max_length = reranker.max_length
        window_end = text_window_end(reranker, query, doc)
        # None: a service, whose tokenizer and window are not known here.
        window_unknown = window_end is None
    ranks: dict[str, int | None] = {}
    pair = None
    if result is not None:
        ranks = {k: s.rank_of(doc.doc_id) for k, s in result.stages.items()}
        pairs = result.rerank.pairs if result.rerank else []
        pair = next((p for p in pairs if p.doc_id == doc.doc_id), None)
    return DocumentView(
        doc_id=doc.doc_id,
        title=doc.title,
        text=doc.text,
        segments=highlight_segments(doc.text, query_terms(query), window_end),
        window_end=window_end,
        max_length=max_length,
        window_unknown=window_unknown,
        passages=passages,
        ranks=ranks,
        ce_score=pair.score if pair else None,
        probability=pair.probability if pair else None,
        n_tokens=pair.n_tokens if pair else None,
        truncated=pair.truncated if pair else None,
        grade=(grades or {}).get(doc.doc_id),
        label=(labels or {}).get(doc.doc_id),
        metadata=dict(doc.metadata),
    )


def document_facts(view: DocumentView) -> str:
    """One plain line under the document's title: id, ranks, cross-encoder score, grade."""
    facts = [f"doc {view.doc_id}"]
    facts += [
        f"{stage_label(k)} #{r}" if r else f"{stage_label(k)} –" for k, r in view.ranks.items()
    ]
    if view.ce_score is not None:
        facts.append(f"CE score {view.ce_score:.3f} (p = {view.probability:.2f})")
    if view.n_tokens is not None:
        facts.append(f"{view.n_tokens} tokens with the query")
    elif view.ce_score is not None:
        facts.append("token count unknown (the reranker does not report it)")
    if view.grade is not None:
        facts.append(f"grade {view.grade}")
    if view.label is not None:
        facts.append(f"label {view.label}")
    return " · ".join(facts)


def candidate_ids(result: PipelineResult) -> list[str]:
    """Every document in any list of the result: reranked order first, then the others'."""
    ids: dict[str, None] = {}
    order = ["reranked", *[k for k in result.stages if k != "reranked"]]
    for key in order:
        if key in result.stages:
            for r in result.stages[key].ranking:
                ids.setdefault(r.doc_id)
    return list(ids)


def document_label(collection: Collection, doc_id: str, width: int = 70) -> str:
    """``title (doc_id)`` for select boxes (rendered as plain text by the widget)."""
    return f"{title_of(collection.documents.get(doc_id), doc_id, width)} ({doc_id})"
