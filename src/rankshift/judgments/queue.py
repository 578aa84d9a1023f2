"""Judging: which documents of a query to label, in what order, and what to record with a label.

Everything here is pure: a :class:`~rankshift.types.PipelineResult` and existing
:class:`~rankshift.judgments.Judgment` records in, lists, dicts and frames out. The app's
Judge and Judgments pages only render what these functions return.

* :func:`judging_pool`: the documents worth judging for a query, the union of every first
  stage's top-K and the reranked top-N (the classic TREC pooling idea, Sparck Jones & van
  Rijsbergen 1975, applied to the lists of one pipeline).
* :func:`judging_queue`: the pool in the order to judge it, most informative first: documents
  the stages disagree about (dropped, promoted, ranked far apart) and documents in some top-N
  that nobody has graded yet.
* :func:`blind_order`: a shuffled order, stable per (query, annotator), for judging without
  seeing ranks, scores or stage names (position and model bias).
* :func:`label_context`: what to record with a label, including the true ranks in blind mode.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rankshift.judgments.aggregate import aggregate_qrels
from rankshift.judgments.exporters import ExportFormat, export_text
from rankshift.judgments.frames import history_frame
from rankshift.present import stage_label
from rankshift.types import (
    DEFAULT_SCALE,
    SKIP,
    Aggregate,
    DocHashes,
    GradeScale,
    Judgment,
    JudgmentContext,
    JudgmentFacets,
    PipelineResult,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "ExportFormat",
    "Facets",
    "PoolEntry",
    "QueueItem",
    "QueueWeights",
    "Summary",
    "agreement_frames",
    "blind_order",
    "clean_annotator",
    "describe",
    "export_text",
    "facets",
    "filter_judgments",
    "history_frame",
    "judging_pool",
    "judging_queue",
    "label_context",
    "label_grades",
    "labels_per_query",
    "next_unjudged",
    "priority_order",
    "short_time",
    "summarise",
]

# --------------------------------------------------------------------------------------
# The pool


@dataclass(frozen=True)
class PoolEntry:
    """One document of a query's judging pool.

    Attributes:
        doc_id: the document.
        ranks: its rank in every list of the result, by stage key (``None``: not in that
            list's top-K).
        scores: its score in every list (``None`` where it has no rank).
        best_rank: the smallest of ``ranks``.
    """

    doc_id: str
    ranks: dict[str, int | None]
    scores: dict[str, float | None]
    best_rank: int


def _depths(result: PipelineResult, depth: int | None, n: int | None) -> tuple[int, int]:
    k = depth if depth is not None else int(result.settings.get("k", 0) or 0)
    top_n = n if n is not None else int(result.settings.get("n", 10) or 10)
    if k <= 0:  # no K recorded: the lists are as deep as they are
        k = max((len(s.ranking) for s in result.stages.values()), default=0)
    return k, top_n


def judging_pool(
    result: PipelineResult, *, depth: int | None = None, n: int | None = None
) -> list[PoolEntry]:
    """The documents to judge for one query: every first stage's top-``depth`` and the
    reranked top-``n``.

    Args:
        result: one query through the pipeline.
        depth: how deep into each first stage's list (default: the K it ran with).
        n: how deep into the reranked list (default: the N it ran with).

    Returns:
        The pool, best-ranked first (ties on ``doc_id``).
    """
    k, top_n = _depths(result, depth, n)
    members: set[str] = set()
    for stage in result.stages.values():
        cut = top_n if stage.kind == "rerank" else k
        members.update(r.doc_id for r in stage.ranking[:cut])
    rank_of = {key: {r.doc_id: r for r in s.ranking} for key, s in result.stages.items()}
    entries = []
    for doc_id in members:
        rows = {key: ranks.get(doc_id) for key, ranks in rank_of.items()}
        ranks = {key: r.rank if r else None for key, r in rows.items()}
        entries.append(
            PoolEntry(
                doc_id=doc_id,
                ranks=ranks,
                scores={key: r.score if r else None for key, r in rows.items()},
                best_rank=min(r for r in ranks.values() if r is not None),
            )
        )
    entries.sort(key=lambda e: (e.best_rank, e.doc_id))
    return entries


# --------------------------------------------------------------------------------------
# The queue


@dataclass(frozen=True)
class QueueWeights:
    """How much each kind of disagreement adds to a document's priority.

    ``priority = dropped * (share of first stages whose top-N it was dropped from)
    + promoted * (share of first stages over whose top-N it was promoted)
    + not_candidate * (share of first stages whose top-N holds it though the reranker never
      saw it)
    + spread * (largest rank - smallest rank over every list, an absent document counted at
      K+1) / K
    + unjudged * (1 if nobody has graded it and it is in some list's top-N)``
    """

    dropped: float = 3.0
    promoted: float = 2.0
    not_candidate: float = 1.0
    spread: float = 1.0
    unjudged: float = 2.0


@dataclass(frozen=True)
class QueueItem:
    """One document of the queue.

    Attributes:
        doc_id: the document.
        priority: see :class:`QueueWeights`; higher is judged first.
        reasons: why, in words (they name stages: never show them in blind mode).
        done: the annotator already has a label (a grade or a skip) for it.
        graded: somebody else has a grade for it (qrels, or another annotator in the store).
        ranks: its rank in every list (``None``: absent), as in :class:`PoolEntry`.
        scores: its score in every list.
        best_rank: the smallest of ``ranks``.
    """

    doc_id: str
    priority: float
    reasons: tuple[str, ...]
    done: bool
    graded: bool
    ranks: dict[str, int | None]
    scores: dict[str, float | None]
    best_rank: int


def judging_queue(
    result: PipelineResult,
    judgments: Iterable[Judgment] = (),
    *,
    annotator: str | None = None,
    qrels: Mapping[str, int] | None = None,
    weights: QueueWeights | None = None,
    depth: int | None = None,
    n: int | None = None,
    collection: str | None = None,
    doc_hashes: DocHashes | None = None,
) -> list[QueueItem]:
    """The judging pool in the order to judge it.

    Args:
        result: one query through the pipeline.
        judgments: stored judgments (other queries are ignored).
        annotator: whose queue it is: documents they already labelled go last.
        qrels: the collection's grades of this query (they count as graded).
        weights: see :class:`QueueWeights`.
        depth: first-stage pool depth (default K).
        n: the top-N cut (default N).
        collection: the collection's identity: judgments of other collections are ignored
            (``None``: ``judgments`` are this collection's already).
        doc_hashes: the documents' content hashes now: a stale label (its document changed
            since) counts as no label, so the document is queued to be judged again.

    Returns:
        Documents not yet labelled by ``annotator`` first, then by priority (highest first),
        best rank and ``doc_id``. The annotator's own labels never change a priority (only
        others' grades count as "graded"), so the order stays put while they work.
    """
    w = weights or QueueWeights()
    k, top_n = _depths(result, depth, n)
    query_id = result.query.query_id
    mine: set[str] = set()
    graded: set[str] = {d for d in (qrels or {})}
    for j in judgments:
        if j.query_id != query_id or (collection is not None and j.collection != collection):
            continue
        if doc_hashes is not None and j.freshness(doc_hashes(j.doc_id)) == "stale":
            continue
        if annotator is not None and j.annotator == annotator:
            mine.add(j.doc_id)
        elif j.grade is not None:
            graded.add(j.doc_id)
    dropped_from: dict[str, list[str]] = {}
    promoted_over: dict[str, list[str]] = {}
    unseen_in: dict[str, list[str]] = {}
    for key, a in result.audits.items():
        for row in a.dropped:
            dropped_from.setdefault(row.doc_id, []).append(key)
        for row in a.promoted:
            promoted_over.setdefault(row.doc_id, []).append(key)
        for row in a.not_candidates:
            unseen_in.setdefault(row.doc_id, []).append(key)
    n_audits = len(result.audits)
    # A document absent from a list counts as one past the deepest list (K + 1).
    deepest = max(k, *(len(st.ranking) for st in result.stages.values()))
    items = []
    for entry in judging_pool(result, depth=depth, n=n):
        d = entry.doc_id
        reasons: list[str] = []
        priority = 0.0
        if d in dropped_from:
            stages = dropped_from[d]
            priority += w.dropped * len(stages) / n_audits
            now = entry.ranks.get("reranked")
            reasons.append(
                f"dropped from {_names(stages)}'s top-{top_n} by the reranker (now #{now})"
            )
        if d in promoted_over:
            stages = promoted_over[d]
            priority += w.promoted * len(stages) / n_audits
            reasons.append(f"promoted into the reranked top-{top_n} over {_names(stages)}")
        if d in unseen_in:
            stages = unseen_in[d]
            priority += w.not_candidate * len(stages) / n_audits
            reasons.append(
                f"in {_names(stages)}'s top-{top_n} but never a candidate of the reranker"
            )
        ranks = {key: r if r is not None else deepest + 1 for key, r in entry.ranks.items()}
        if len(ranks) > 1:
            hi = min(ranks, key=lambda s: (ranks[s], s))
            lo = max(ranks, key=lambda s: (ranks[s], s))
            gap = ranks[lo] - ranks[hi]
            priority += w.spread * gap / deepest
            if gap >= top_n:
                far = "does not retrieve it" if ranks[lo] > deepest else f"#{ranks[lo]}"
                reasons.append(f"#{ranks[hi]} in {stage_label(hi)} but {stage_label(lo)} {far}")
        in_top = [key for key, r in entry.ranks.items() if r is not None and r <= top_n]
        if d not in graded and in_top:
            priority += w.unjudged
            reasons.append(f"nobody has graded it; in the top-{top_n} of {_names(in_top)}")
        items.append(
            QueueItem(
                doc_id=d,
                priority=round(priority, 12),
                reasons=tuple(reasons),
                done=d in mine,
                graded=d in graded,
                ranks=entry.ranks,
                scores=entry.scores,
                best_rank=entry.best_rank,
            )
        )
    items.sort(key=lambda i: (i.done, -i.priority, i.best_rank, i.doc_id))
    return items


def _names(keys: Sequence[str]) -> str:
    names = [stage_label(k) for k in keys]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def next_unjudged(queue: Sequence[QueueItem], after: str | None = None) -> str | None:
    """The document to judge next: the highest-priority one not yet labelled, or ``None``.

    Args:
        queue: from :func:`judging_queue`.
        after: the document on screen now; it is never returned, so "next" moves on even when
            the current one is still unlabelled.
    """
    return next((i.doc_id for i in queue if not i.done and i.doc_id != after), None)


def priority_order(queue: Iterable[QueueItem]) -> list[str]:
    """The queue's documents by priority alone (highest first, then best rank and ``doc_id``).

    Unlike the queue itself this order does not move labelled documents last, and the
    annotator's own labels never change a priority, so a list shown in it stays put while
    the annotator works down it.
    """
    ordered = sorted(queue, key=lambda i: (-i.priority, i.best_rank, i.doc_id))
    return [i.doc_id for i in ordered]


def describe(item: QueueItem) -> str:
    """One line with the document's rank and score in every list (never show it in blind mode)."""
    parts = []
    for key, rank in item.ranks.items():
        score = item.scores.get(key)
        if rank is None:
            parts.append(f"{stage_label(key)} –")
        else:
            parts.append(f"{stage_label(key)} #{rank} ({score:.3g})")
    parts.append(f"priority {item.priority:.2f}")
    return " · ".join(parts)


def short_time(timestamp: str | None) -> str:
    """``2026-05-01 14:03 UTC`` from an ISO-8601 UTC timestamp (the input back if unparseable)."""
    if not timestamp:
        return "an unknown time"
    try:
        moment = datetime.fromisoformat(timestamp)
    except ValueError:
        return timestamp
    return moment.strftime("%Y-%m-%d %H:%M UTC")


# --------------------------------------------------------------------------------------
# Blind mode and what a label records


def blind_order(doc_ids: Iterable[str], query_id: str, annotator: str) -> list[str]:
    """A shuffled order, the same on every rerun for one (query, annotator).

    Each document's place comes from a hash of (query, annotator, document), so adding or
    removing a document (a different K) never reshuffles the others, and two annotators
    see different orders (position bias does not line up across them).
    """

    def key(doc_id: str) -> tuple[str, str]:
        raw = "\x00".join((query_id, annotator, doc_id)).encode("utf-8")
        return hashlib.sha256(raw).hexdigest(), doc_id

    return sorted(set(doc_ids), key=key)


_PIPELINE_SETTINGS = (
    "first_stages",
    "rerank_input",
    "k",
    "n",
    "bi_encoder",
    "reranker",
    "max_length",
    "fusion",
    "fusion_weight",
    "rrf_k",
)


def label_context(
    result: PipelineResult,
    item: QueueItem | PoolEntry,
    *,
    rank_shown: int,
    blind: bool,
    view: str = "one",
) -> JudgmentContext:
    """What was on screen when a document was judged.

    Args:
        result: the pipeline result the pool came from.
        item: the document.
        rank_shown: its 1-based position in the list the annotator saw (the shuffled list in
            blind mode, the queue otherwise).
        blind: whether ranks, scores and stage names were hidden.
        view: ``"one"`` (one at a time) or ``"list"``.

    Returns:
        A context with ``stage`` ``"pool(shuffled)"`` or ``"pool(priority)"``, the reranker's
        model id and revision, ``rank`` = ``rank_shown``, and settings holding the pipeline
        settings, the true ranks in every list (``true_ranks``) and the stage names.
    """
    info = result.rerank
    settings: dict[str, Any] = {
        key: result.settings[key] for key in _PIPELINE_SETTINGS if key in result.settings
    }
    settings.update(
        {
            "blind": blind,
            "order": "shuffled" if blind else "priority",
            "view": view,
            "true_ranks": dict(item.ranks),
            "stage_names": {key: s.name for key, s in result.stages.items()},
            "rerank_status": info.status if info is not None else None,
        }
    )
    if isinstance(item, QueueItem):
        settings["priority"] = item.priority
    return JudgmentContext(
        stage="pool(shuffled)" if blind else "pool(priority)",
        model_id=info.model_id if info is not None else None,
        model_revision=info.revision if info is not None else None,
        rank=rank_shown,
        settings=settings,
    )


_NAME_SPACE = re.compile(r"\s+")
MAX_ANNOTATOR_LENGTH = 80


def clean_annotator(name: str | None) -> str | None:
    """An annotator name as stored: whitespace collapsed, or ``None`` if it is not usable.

    Names starting with ``qrels:`` are reserved for imported qrels.
    """
    if name is None:
        return None
    cleaned = _NAME_SPACE.sub(" ", name).strip()
    if not cleaned or len(cleaned) > MAX_ANNOTATOR_LENGTH or cleaned.lower().startswith("qrels:"):
        return None
    return cleaned


# --------------------------------------------------------------------------------------
# Reading labels back


def label_grades(
    judgments: Iterable[Judgment], query_id: str, how: Aggregate = "mean"
) -> dict[str, int]:
    """Stored grades of one query, several annotators combined (skips left out)."""
    return aggregate_qrels((j for j in judgments if j.query_id == query_id), how).get(query_id, {})


def labels_per_query(judgments: Iterable[Judgment]) -> dict[str, int]:
    """How many judgments each query has."""
    return dict(Counter(j.query_id for j in judgments))


Facets = JudgmentFacets
"""The values the Judgments page's filters offer (the store computes them in SQL:
:meth:`rankshift.judgments.JudgmentStore.facets`)."""


def facets(judgments: Sequence[Judgment]) -> Facets:
    grades: list[int | str] = sorted({j.grade for j in judgments if j.grade is not None})
    if any(j.grade is None for j in judgments):
        grades.append(SKIP)
    return Facets(
        query_ids=sorted({j.query_id for j in judgments}),
        annotators=sorted({j.annotator for j in judgments}),
        sources=sorted({j.source for j in judgments}),
        grades=grades,
        total=len(judgments),
    )


def filter_judgments(
    judgments: Iterable[Judgment],
    *,
    query_ids: Collection[str] | None = None,
    annotators: Collection[str] | None = None,
    sources: Collection[str] | None = None,
    grades: Collection[int | str] | None = None,
) -> list[Judgment]:
    """Judgments matching every given filter; an empty or ``None`` filter keeps everything.

    ``grades`` holds grades and/or ``"skip"``.
    """
    out = []
    for j in judgments:
        if query_ids and j.query_id not in query_ids:
            continue
        if annotators and j.annotator not in annotators:
            continue
        if sources and j.source not in sources:
            continue
        if grades and (SKIP if j.grade is None else j.grade) not in grades:
            continue
        out.append(j)
    return out


def agreement_frames(
    judgments: Sequence[Judgment], scale: GradeScale = DEFAULT_SCALE
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Agreement over ``judgments``: (overall, per query) frames of
    :func:`rankshift.judgments.agreement.agreement_frame` (Cohen's kappa per annotator pair,
    Krippendorff's alpha across annotators)."""
    from rankshift.judgments.agreement import agreement, agreement_frame

    frame = agreement_frame(agreement(judgments, scale=scale))
    overall = frame[frame["scope"] == "overall"].drop(columns=["scope", "query_id"])
    per_query = frame[frame["scope"] == "query"].drop(columns=["scope"])
    return overall.reset_index(drop=True), per_query.reset_index(drop=True)


@dataclass(frozen=True)
class Summary:
    """What a list of judgments amounts to (the Judgments page's caption and stale warning).

    Attributes:
        shown: judgments listed.
        total: judgments the collection has.
        pairs: distinct (query, document) pairs listed.
        annotators: distinct annotators listed.
        stale: listed labels whose document text changed since (0 without document hashes).
    """

    shown: int
    total: int
    pairs: int
    annotators: int
    stale: int

    @property
    def caption(self) -> str:
        return (
            f"{self.shown:,} of {self.total:,} judgments · {self.pairs:,} query-document pairs"
            f" · {self.annotators:,} annotators"
            + (f" · {self.stale:,} stale" if self.stale else "")
        )


def summarise(
    judgments: Sequence[Judgment], total: int, doc_hashes: DocHashes | None = None
) -> Summary:
    """Counts over ``judgments``; with ``doc_hashes``, how many are stale."""
    stale = 0
    if doc_hashes is not None:
        stale = sum(j.freshness(doc_hashes(j.doc_id)) == "stale" for j in judgments)
    return Summary(
        shown=len(judgments),
        total=total,
        pairs=len({(j.query_id, j.doc_id) for j in judgments}),
        annotators=len({j.annotator for j in judgments}),
        stale=stale,
    )
