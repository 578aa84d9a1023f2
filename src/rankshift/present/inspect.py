"""The Inspect page's audit panels: rank shifts, dropped, promoted and not-candidate documents,
the scores behind them, diagnostics and latency, from a :class:`~rankshift.types.PipelineResult`.

Dropped and promoted documents are the reranker's own candidates; a document of another first
stage that the reranker never saw is a "not a candidate" row, in its own frame and count. With
a blend, every row carries the cross-encoder's own score (``ce_score``) and the blended score
that decided the order (``blended_score``); margins and the cut-off are on the score that
decided the order, and :func:`cut_labels` says which in words.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

from rankshift.corpus import Collection
from rankshift.present.rankings import pairs_by_doc
from rankshift.present.text import order_score_label, stage_label, title_of
from rankshift.thresholds import DEFAULT_THRESHOLDS, Thresholds
from rankshift.types import Audit, PipelineResult


@dataclass(frozen=True)
class CutLabels:
    """Column headings and captions of the dropped / promoted / not-candidate panels, in words
    that say which score decided the order (an auditor should never have to guess)."""

    order_score: str
    """``cross-encoder score`` or ``blended score (blend 0.5)``."""
    ce_score: str
    blended_score: str | None
    """Heading of the blended-score column; None when nothing was blended."""
    margin_below: str
    margin_above: str
    dropped_title: str
    dropped_caption: str
    promoted_title: str
    promoted_caption: str
    not_candidate_title: str
    not_candidate_caption: str


def _input_label(result: PipelineResult) -> str:
    return stage_label(str(result.settings.get("rerank_input", "")))


def cut_labels(result: PipelineResult, against: str) -> CutLabels:
    """Headings and captions for the panels comparing ``against``'s top-N with the reranked one.

    Args:
        result: the pipeline result.
        against: the first stage compared (a key of ``result.audits``).
    """
    audit_ = result.audits.get(against)
    n = audit_.n if audit_ else int(result.settings.get("n", 10))
    blend = audit_.blend if audit_ else (result.rerank.blend if result.rerank else 0.0)
    order = order_score_label(blend)
    on = "on the blended score" if blend else "on the cross-encoder score"
    cut = "–" if audit_ is None or audit_.cutoff_score is None else f"{audit_.cutoff_score:.3f}"
    first, rerank_input = stage_label(against), _input_label(result)
    k = int(result.settings.get("k", 0))
    n_dropped = len(audit_.dropped) if audit_ else 0
    n_promoted = len(audit_.promoted) if audit_ else 0
    n_not = len(audit_.not_candidates) if audit_ else 0
    other = against != result.settings.get("rerank_input")
    among = f" and among the reranker's candidates ({rerank_input} top-{k})" if other else ""
    return CutLabels(
        order_score=order,
        ce_score="cross-encoder score",
        blended_score=order if blend else None,
        margin_below=f"margin below the cut, {on}",
        margin_above=f"margin above the cut, {on}",
        dropped_title=f"Dropped from the top-{n} by the reranker ({n_dropped})",
        dropped_caption=(
            f"In {first}'s top-{n}{among}, put below the reranked top-{n}. The reranked order is "
            f"by the {order}; margin: how far that score fell below the cut-off ({cut}, the "
            f"{n}th reranked document's {order})."
        ),
        promoted_title=f"Promoted into the top-{n} ({n_promoted})",
        promoted_caption=(
            f"In the reranked top-{n}, not in {first}'s top-{n}; margin: how far its {order} "
            f"is above the cut-off ({cut})."
        ),
        not_candidate_title=f"Not a candidate of the reranker ({n_not})",
        not_candidate_caption=(
            f"In {first}'s top-{n}, but the reranker never saw them: it reordered "
            f"{rerank_input}'s top-{k}, which does not hold them. Counted apart, not as dropped."
        ),
    )


def not_candidate_note(result: PipelineResult) -> str | None:
    """One sentence counting, per first stage, the top-N documents the reranker never saw
    (None when there are none): the count reported apart from "dropped"."""
    counts = {k: len(a.not_candidates) for k, a in result.audits.items() if a.not_candidates}
    if not counts:
        return None
    n = next(iter(result.audits.values())).n
    k = int(result.settings.get("k", 0))
    parts = ", ".join(f"{c} of {stage_label(key)}'s top-{n}" for key, c in counts.items())
    return (
        f"Not a candidate of the reranker: {parts}. The reranker reordered "
        f"{_input_label(result)}'s top-{k} and never saw them, so they are not counted as dropped."
    )


def shift_frame(
    result: PipelineResult,
    against: str,
    collection: Collection,
    grades: Mapping[str, int] | None = None,
) -> pd.DataFrame:
    """Every document of ``against`` or of the reranked list, with its two ranks (for charts).

    Columns: ``doc_id``, ``title``, ``first_rank``, ``reranked_rank``, ``first_score``,
    ``ce_score`` (the cross-encoder's own), ``blended_score`` (the score that decided the
    order when it was blended, else empty), ``status``, ``shift``, ``marker``, ``grade``.
    Empty when nothing was reranked.
    """
    columns = [
        "doc_id",
        "title",
        "first_rank",
        "reranked_rank",
        "first_score",
        "ce_score",
        "blended_score",
        "status",
        "shift",
        "marker",
        "grade",
    ]
    audit_ = result.audits.get(against)
    if audit_ is None:
        return pd.DataFrame(columns=columns)
    grades = grades or {}
    ce = _ce_scores(result, audit_)
    records = [
        {
            "doc_id": r.doc_id,
            "title": title_of(collection.documents.get(r.doc_id), r.doc_id),
            "first_rank": r.first_rank,
            "reranked_rank": r.reranked_rank,
            "first_score": r.first_score,
            "ce_score": ce.get(r.doc_id),
            "blended_score": r.rerank_score if audit_.blend else None,
            "status": r.status,
            "shift": r.shift,
            "marker": r.marker,
            "grade": grades.get(r.doc_id),
        }
        for r in audit_.rows
    ]
    frame = pd.DataFrame.from_records(records, columns=columns)
    for col in ("first_rank", "reranked_rank", "shift", "grade"):
        frame[col] = frame[col].astype("Int64")
    for col in ("first_score", "ce_score", "blended_score"):
        frame[col] = frame[col].astype("Float64")
    return frame


def _ce_scores(result: PipelineResult, audit_: Audit) -> dict[str, float]:
    """The cross-encoder's own score per document: from the audit rows, else the pair scores."""
    ce = {p.doc_id: p.score for p in pairs_by_doc(result).values()}
    ce.update({r.doc_id: r.ce_score for r in audit_.rows if r.ce_score is not None})
    return ce


def dropped_frame(
    result: PipelineResult,
    against: str,
    collection: Collection,
    grades: Mapping[str, int] | None = None,
    labels: Mapping[str, int] | None = None,
) -> pd.DataFrame:
    """The reranker's candidates in ``against``'s top-N that it put below the reranked top-N.

    Columns: ``title``, ``first_rank``, ``first_score``, ``now`` (reranked rank), ``ce_score``
    (the cross-encoder's own score), ``blended_score`` (only when the order was blended),
    ``margin`` (how far the score that decided the order fell below the N-th reranked
    document's), ``truncated``, ``grade`` (only when ``grades`` is given), ``label`` (stored
    label, only when ``labels`` is given), ``why``, ``doc_id``. Documents the reranker never
    saw are not here: see :func:`not_candidate_frame`.
    """
    return _cut_frame(result, against, collection, grades, "dropped", labels)


def promoted_frame(
    result: PipelineResult,
    against: str,
    collection: Collection,
    grades: Mapping[str, int] | None = None,
    labels: Mapping[str, int] | None = None,
) -> pd.DataFrame:
    """Documents the reranker pulled into the top-N from below ``against``'s cut.

    Columns: ``title``, ``first_rank`` (empty: ``against`` did not retrieve it),
    ``first_score``, ``now``, ``ce_score``, ``blended_score`` (with a blend), ``margin`` (how far
    above the N-th reranked score), ``truncated``, ``grade``, ``label``, ``why``, ``doc_id`` (as
    :func:`dropped_frame`).
    """
    return _cut_frame(result, against, collection, grades, "promoted", labels)


def not_candidate_frame(
    result: PipelineResult,
    against: str,
    collection: Collection,
    grades: Mapping[str, int] | None = None,
    labels: Mapping[str, int] | None = None,
) -> pd.DataFrame:
    """Documents in ``against``'s top-N that the reranker never saw (not among the top-K of the
    stage it reordered). Empty for the reranker's own input stage.

    Columns: ``title``, ``first_rank``, ``first_score``, ``grade`` (only when ``grades`` is
    given), ``label`` (only when ``labels`` is given), ``why``, ``doc_id``.
    """
    columns = ["title", "first_rank", "first_score", "grade", "label", "why", "doc_id"]
    if grades is None:
        columns.remove("grade")
    if labels is None:
        columns.remove("label")
    audit_ = result.audits.get(against)
    rows = audit_.not_candidates if audit_ is not None else []
    k = int(result.settings.get("k", 0))
    why = f"not a candidate of the reranker: not in {_input_label(result)}'s top-{k}"
    records = [
        {
            "doc_id": r.doc_id,
            "title": title_of(collection.documents.get(r.doc_id), r.doc_id),
            "first_rank": r.first_rank,
            "first_score": r.first_score,
            "grade": grades.get(r.doc_id) if grades is not None else None,
            "label": labels.get(r.doc_id) if labels is not None else None,
            "why": why,
        }
        for r in rows
    ]
    frame = pd.DataFrame.from_records(records, columns=columns)
    for col in ("first_rank", "grade", "label"):
        if col in frame:
            frame[col] = frame[col].astype("Int64")
    frame["first_score"] = frame["first_score"].astype("Float64")
    return frame


def _cut_frame(
    result: PipelineResult,
    against: str,
    collection: Collection,
    grades: Mapping[str, int] | None,
    which: Literal["dropped", "promoted"],
    labels: Mapping[str, int] | None = None,
) -> pd.DataFrame:
    columns = [
        "title",
        "first_rank",
        "first_score",
        "now",
        "ce_score",
        "blended_score",
        "margin",
        "truncated",
        "grade",
        "label",
        "why",
        "doc_id",
    ]
    audit_ = result.audits.get(against)
    if audit_ is None:
        return pd.DataFrame(columns=columns)
    pairs = pairs_by_doc(result)
    ce = _ce_scores(result, audit_)
    if grades is None:
        columns.remove("grade")
    if labels is None:
        columns.remove("label")
    if not audit_.blend:
        columns.remove("blended_score")
    cutoff = audit_.cutoff_score
    n = audit_.n
    rerank_input_key = str(result.settings.get("rerank_input", ""))
    rerank_input = stage_label(rerank_input_key)
    input_stage = result.stages.get(rerank_input_key)
    k = int(result.settings.get("k", 0))
    order = order_score_label(audit_.blend)
    records = []
    for r in audit_.dropped if which == "dropped" else audit_.promoted:
        pair = pairs.get(r.doc_id)
        margin: float | None = None
        if r.rerank_score is not None and cutoff is not None:
            margin = cutoff - r.rerank_score if which == "dropped" else r.rerank_score - cutoff
        if which == "dropped":
            if margin is not None and margin == 0:
                why = f"tied with the cut-off score, ranked {r.reranked_rank} on the tie-break"
            else:
                why = (
                    f"ranked {r.reranked_rank} on the {order}, below the top-{n}"
                    if audit_.blend
                    else f"cross-encoder ranked it {r.reranked_rank}, below the top-{n}"
                )
            input_rank = input_stage.rank_of(r.doc_id) if input_stage is not None else None
            if against != rerank_input_key and input_rank is not None:
                why += f" ({rerank_input} had it at #{input_rank})"
        else:
            why = (
                f"retrieved at rank {r.first_rank}, below the top-{n}"
                if r.first_rank is not None
                else f"not in {stage_label(against)}'s top-{k}; came from {rerank_input}"
            )
        records.append(
            {
                "doc_id": r.doc_id,
                "title": title_of(collection.documents.get(r.doc_id), r.doc_id),
                "first_rank": r.first_rank,
                "first_score": r.first_score,
                "now": r.reranked_rank,
                "ce_score": ce.get(r.doc_id),
                "blended_score": r.rerank_score,
                "margin": margin,
                "truncated": pair.truncated if pair is not None else None,
                "grade": grades.get(r.doc_id) if grades is not None else None,
                "label": labels.get(r.doc_id) if labels is not None else None,
                "why": why,
            }
        )
    frame = pd.DataFrame.from_records(records, columns=columns)
    for col in ("first_rank", "now", "grade", "label"):
        if col in frame:
            frame[col] = frame[col].astype("Int64")
    frame["truncated"] = frame["truncated"].astype("boolean")
    for col in ("first_score", "ce_score", "blended_score", "margin"):
        if col in frame:
            frame[col] = frame[col].astype("Float64")
    return frame


def score_frame(result: PipelineResult) -> pd.DataFrame:
    """Long frame of every stage's scores over its K candidates, plus the cross-encoder's.

    Columns: ``stage`` (display label), ``name`` (the stage's name with its parameters),
    ``key``, ``doc_id``, ``rank``, ``score``. The reranker
    contributes two stages: ``Cross-encoder (raw)`` and ``Cross-encoder (probability)``.
    """
    records: list[dict[str, Any]] = []
    for key, stage in result.stages.items():
        if stage.kind != "first_stage":
            continue
        for r in stage.ranking:
            records.append(
                {
                    "stage": stage_label(key),
                    "name": stage.name,
                    "key": key,
                    "doc_id": r.doc_id,
                    "rank": r.rank,
                    "score": r.score,
                }
            )
    if result.rerank is not None and result.rerank.reranked:
        reranked = result.stages["reranked"]
        ranks = {r.doc_id: r.rank for r in reranked.ranking}
        for p in result.rerank.pairs:
            base = {"name": reranked.name, "doc_id": p.doc_id, "rank": ranks.get(p.doc_id)}
            records.append(
                {"stage": "Cross-encoder (raw)", "key": "ce_raw", **base, "score": p.score}
            )
            records.append(
                {
                    "stage": "Cross-encoder (probability)",
                    "key": "ce_prob",
                    **base,
                    "score": p.probability,
                }
            )
    columns = ["stage", "name", "key", "doc_id", "rank", "score"]
    return pd.DataFrame.from_records(records, columns=columns)


def pair_frame(
    result: PipelineResult,
    against: str,
    collection: Collection,
    grades: Mapping[str, int] | None = None,
) -> pd.DataFrame:
    """First-stage score against cross-encoder score for each reranked candidate (a scatter).

    Columns: ``doc_id``, ``title``, ``first_rank``, ``first_score``, ``reranked_rank``,
    ``ce_score``, ``probability``, ``n_tokens``, ``truncated``, ``status``, ``grade``.
    Documents ``against`` did not retrieve are left out (they have no first-stage score).
    """
    columns = [
        "doc_id",
        "title",
        "first_rank",
        "first_score",
        "reranked_rank",
        "ce_score",
        "probability",
        "n_tokens",
        "truncated",
        "status",
        "grade",
    ]
    audit_ = result.audits.get(against)
    if audit_ is None or result.rerank is None:
        return pd.DataFrame(columns=columns)
    rows = {r.doc_id: r for r in audit_.rows}
    grades = grades or {}
    records = []
    for p in result.rerank.pairs:
        row = rows.get(p.doc_id)
        if row is None or row.first_score is None:
            continue
        records.append(
            {
                "doc_id": p.doc_id,
                "title": title_of(collection.documents.get(p.doc_id), p.doc_id),
                "first_rank": row.first_rank,
                "first_score": row.first_score,
                "reranked_rank": row.reranked_rank,
                "ce_score": p.score,
                "probability": p.probability,
                "n_tokens": p.n_tokens,
                "truncated": p.truncated,
                "status": row.status,
                "grade": grades.get(p.doc_id),
            }
        )
    frame = pd.DataFrame.from_records(records, columns=columns)
    frame["grade"] = frame["grade"].astype("Int64")
    return frame


@dataclass(frozen=True)
class Diagnostics:
    """How much the reranker did, in numbers and in plain warnings."""

    reranked: bool
    ce_std: float | None = None
    ce_range: float | None = None
    prob_min: float | None = None
    prob_max: float | None = None
    truncated: int = 0
    tokens_known: bool = True
    """False when the reranker reports no token counts (an HTTP service): truncation unknown."""
    pairs: int = 0
    kendall_tau: dict[str, float | None] = field(default_factory=dict)
    """Kendall's tau between each first stage and the reranked list (shared candidates)."""
    dropped: dict[str, int] = field(default_factory=dict)
    """Per first stage: the reranker's candidates it pushed out of that stage's top-N."""
    promoted: dict[str, int] = field(default_factory=dict)
    not_candidates: dict[str, int] = field(default_factory=dict)
    """Per first stage: top-N documents the reranker never saw (counted apart from dropped)."""
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def diagnostics(result: PipelineResult, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> Diagnostics:
    """Score spread, rank agreement and the warnings an auditor should see first."""
    info = result.rerank
    if info is None or not info.reranked:
        return Diagnostics(reranked=False)
    scores = [p.score for p in info.pairs]
    probs = [p.probability for p in info.pairs]
    n = len(scores)
    mean = sum(scores) / n if n else 0.0
    std = math.sqrt(sum((s - mean) ** 2 for s in scores) / n) if n else 0.0
    spread = (max(scores) - min(scores)) if n else 0.0
    taus = {k: a.kendall_tau for k, a in result.audits.items()}
    warnings: list[str] = []
    notes: list[str] = []
    if n >= 2 and std < thresholds.min_score_std:
        warnings.append(
            f"The reranker's scores are flat: over {n} candidates they span only {spread:.3g} "
            f"(standard deviation {std:.3g}). Its order is decided by tiny differences; check "
            "that the model is a trained cross-encoder."
        )
    rerank_input = str(result.settings.get("rerank_input", ""))
    tau = taus.get(rerank_input)
    if tau is not None and tau > thresholds.max_tau:
        warnings.append(
            f"The reranker kept nearly the same order as {stage_label(rerank_input)} "
            f"(Kendall's τ = {tau:.2f}): reranking changed little for this query."
        )
    if n and max(probs) < 0.1:
        notes.append(
            f"The reranker finds none of the candidates relevant (highest probability "
            f"{max(probs):.2f})."
        )
    truncated = sum(1 for p in info.pairs if p.truncated)
    tokens_known = all(p.n_tokens is not None for p in info.pairs)
    if truncated:
        notes.append(
            f"{truncated} of {n} candidates were longer than the reranker's {info.max_length}-token "
            "window; it judged them on their beginning only."
        )
    if not tokens_known:
        notes.append(
            "The reranker does not report token counts (a service over HTTP): whether it read "
            "each candidate whole or truncated it is unknown."
        )
    return Diagnostics(
        reranked=True,
        ce_std=std,
        ce_range=spread,
        prob_min=min(probs) if probs else None,
        prob_max=max(probs) if probs else None,
        truncated=truncated,
        tokens_known=tokens_known,
        pairs=n,
        kendall_tau=taus,
        dropped={k: len(a.dropped) for k, a in result.audits.items()},
        promoted={k: len(a.promoted) for k, a in result.audits.items()},
        not_candidates={k: len(a.not_candidates) for k, a in result.audits.items()},
        warnings=warnings,
        notes=notes,
    )


def latency_frame(result: PipelineResult) -> pd.DataFrame:
    """Per-stage latency of this query. Columns: ``step``, ``ms``, ``detail``."""
    t = result.timings_ms
    info = result.rerank
    rows: list[tuple[str, float, str]] = []
    for key in result.first_stage_keys:
        detail = "fuses BM25 and dense; includes their time" if key == "hybrid" else ""
        rows.append((stage_label(key), t.get(key, 0.0), detail))
    rows.append(("retrieve (all first stages)", t.get("retrieve", 0.0), ""))
    if info is not None:
        if info.reranked:
            detail = f"{info.scored_pairs} pairs scored, {info.cached_pairs} from the cache"
        else:
            detail = f"not reranked ({info.status})"
        rows.append(("rerank", t.get("rerank", 0.0), detail))
    rows.append(("total", t.get("total", 0.0), ""))
    if t.get("per_pair"):
        rows.append(
            ("per scored pair", t["per_pair"], f"max_length {info.max_length if info else ''}")
        )
    return pd.DataFrame(rows, columns=["step", "ms", "detail"])
