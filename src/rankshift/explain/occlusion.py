"""Sentence attribution by occlusion: how the reranker's score of one document responds when
each sentence is left out, and what each sentence scores alone.

For a document of ``n`` sentences this scores ``2n + 1`` pairs through the reranker's own
:meth:`~rankshift.rerank.base.Reranker.score` (so through its pair-score cache, on any backend,
in-process or HTTP): the document as it is, the document without sentence ``i`` and sentence
``i`` alone, each with the title, as the reranker always reads it. The effect of sentence
``i`` is its *drop*, ``full - without_i``: positive when leaving it out lowers the score.

Occlusion measures how the score responds to removing text; it does not read the model's
reasons (removing a sentence also shifts what the model's window reaches, and two sentences
that say the same thing each look unimportant alone).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from rankshift.explain.sentences import Sentence, split_sentences
from rankshift.rerank.base import Reranker, text_window_end
from rankshift.rerank.passages import PassageReranker
from rankshift.retrievers.base import ProgressFn
from rankshift.types import Document

FALLBACK_MS_PER_PAIR = 1000.0 / 36.5
"""The time estimate's pair rate when none was measured: 36.5 pairs/s, a MiniLM-L6
cross-encoder on torch fp32 at 256 tokens on a 2-core CPU (`make bench`, as
:data:`rankshift.present.cost.PAIRS_PER_SECOND_AT_256`), scaled with ``max_length``."""


@dataclass(frozen=True)
class SentenceEffect:
    """What one sentence does to the score."""

    sentence: Sentence
    drop: float
    """``full - without``: how much the score falls when the sentence is left out (negative:
    the score rises without it)."""
    alone: float
    """The score of the title and this sentence alone."""
    without: float
    """The score of the document without this sentence."""
    beyond_window: bool = False
    """The sentence starts past the reranker's token window: leaving it out cannot change
    what the model reads, so ``drop`` is 0 and ``without`` was not scored."""


@dataclass(frozen=True)
class OcclusionPlan:
    """What explaining one document will cost, before it runs."""

    n_sentences: int
    n_pairs: int
    """Pairs to score (``2n + 1`` less the sentences past the window; pairs already in the
    pair-score cache cost nothing)."""
    n_beyond: int
    """Sentences past the token window: only their 'alone' pair is scored."""
    seconds: float
    ms_per_pair: float
    measured: bool
    """True when ``ms_per_pair`` was measured (the last query's rate), not assumed."""
    windows: int | None = None
    """MaxP rerankers: the windows those pairs make (each window is a pair for the model)."""


@dataclass(frozen=True)
class Occlusion:
    """The sentence attribution of one (query, document) pair."""

    query: str
    doc_id: str
    model_id: str
    full_score: float
    effects: list[SentenceEffect]
    """In text order."""
    n_pairs: int
    """Pairs asked of the reranker (the full document, each 'without', each 'alone')."""
    n_scored: int
    """Pairs the model scored now (the rest came from the pair-score cache; for MaxP,
    windows)."""
    seconds: float

    @property
    def ranked(self) -> list[SentenceEffect]:
        """Most influential first: by drop, largest first (ties in text order)."""
        return sorted(self.effects, key=lambda e: (-e.drop, e.sentence.index))

    @property
    def scale(self) -> float:
        """The largest absolute drop (0 when no sentence moves the score)."""
        return max((abs(e.drop) for e in self.effects), default=0.0)


def without(text: str, sentences: list[Sentence], i: int) -> str:
    """``text`` with sentence ``i`` and the blank after it left out."""
    s = sentences[i]
    if i + 1 < len(sentences):
        return text[: s.start] + text[sentences[i + 1].start :]
    return text[: s.start].rstrip()


def window_cut(reranker: Reranker, query: str, doc: Document) -> int | None:
    """Offset in ``doc.text`` past which a FirstP reranker reads nothing (None: it reads all of
    it, reads every window (MaxP), or cannot tell)."""
    if isinstance(reranker, PassageReranker) or reranker.spec.passages != "firstp":
        return None
    end = text_window_end(reranker, query, doc)
    return None if end is None or end >= len(doc.text) else end


def _variants(
    doc: Document, sentences: list[Sentence], cut: int | None
) -> tuple[list[Document], list[int]]:
    """The documents to score: the full one, each 'without' (sentences before the cut) and
    each 'alone'; and which sentences got a 'without'."""
    scored_without = [s.index for s in sentences if cut is None or s.start < cut]
    docs = [doc]
    docs += [
        Document(f"{doc.doc_id}#without-{i}", without(doc.text, sentences, i), doc.title)
        for i in scored_without
    ]
    docs += [Document(f"{doc.doc_id}#alone-{s.index}", s.text, doc.title) for s in sentences]
    return docs, scored_without


def plan_occlusion(
    reranker: Reranker,
    query: str,
    doc: Document,
    ms_per_pair: float | None = None,
    language: str = "en",
) -> OcclusionPlan:
    """The cost of :func:`occlude` for this document, without scoring anything.

    The time is ``ms_per_pair`` per pair, a pair that fills less of the model's window
    counting for its share of it (a quarter at least); for MaxP, per window.

    Args:
        ms_per_pair: a measured rate (the Inspect page keeps the last query's); default
            :data:`FALLBACK_MS_PER_PAIR` scaled with the reranker's ``max_length``.
    """
    sentences = split_sentences(doc.text, language)
    cut = window_cut(reranker, query, doc)
    docs, scored_without = _variants(doc, sentences, cut)
    windows = None
    units = float(len(docs))
    if isinstance(reranker, PassageReranker):
        windows = sum(len(reranker.windows(query, d.text, d.title)) for d in docs)
        units = float(windows)
    elif reranker.max_length:
        # Most variants are short (a sentence alone): weigh each pair by the share of the
        # window it fills (a quarter at least, for the fixed cost of a pair).
        lengths = reranker.count_tokens(query, [d.full_text for d in docs])
        if lengths is not None:
            units = sum(max(0.25, min(1.0, n / reranker.max_length)) for n in lengths)
    measured = ms_per_pair is not None and ms_per_pair > 0
    rate = (
        float(ms_per_pair)  # type: ignore[arg-type]
        if measured
        else FALLBACK_MS_PER_PAIR * (reranker.max_length or 256) / 256
    )
    return OcclusionPlan(
        n_sentences=len(sentences),
        n_pairs=len(docs),
        n_beyond=len(sentences) - len(scored_without),
        seconds=units * rate / 1000,
        ms_per_pair=rate,
        measured=measured,
        windows=windows,
    )


def occlude(
    reranker: Reranker,
    query: str,
    doc: Document,
    language: str = "en",
    progress: ProgressFn | None = None,
    timeout_s: float | None = None,
) -> Occlusion:
    """Score the document, each sentence left out and each sentence alone (see the module).

    Raises whatever the reranker raises (an HTTP failure,
    :class:`~rankshift.rerank.base.RerankTimeout`); scores already made stay in the pair-score
    cache, so a retry resumes.
    """
    sentences = split_sentences(doc.text, language)
    cut = window_cut(reranker, query, doc)
    docs, scored_without = _variants(doc, sentences, cut)
    start = time.perf_counter()
    pairs, n_scored = reranker.score(query, docs, progress=progress, timeout_s=timeout_s)
    seconds = time.perf_counter() - start
    full = pairs[0].score
    without_scores = dict(zip(scored_without, pairs[1 : 1 + len(scored_without)], strict=True))
    alone = pairs[1 + len(scored_without) :]
    effects = []
    for s, alone_pair in zip(sentences, alone, strict=True):
        w = without_scores.get(s.index)
        effects.append(
            SentenceEffect(
                sentence=s,
                drop=full - w.score if w is not None else 0.0,
                alone=alone_pair.score,
                without=w.score if w is not None else full,
                beyond_window=w is None,
            )
        )
    return Occlusion(
        query=query,
        doc_id=doc.doc_id,
        model_id=reranker.model_id,
        full_score=full,
        effects=effects,
        n_pairs=len(docs),
        n_scored=n_scored,
        seconds=seconds,
    )
