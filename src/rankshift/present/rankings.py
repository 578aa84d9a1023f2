"""The Inspect page's rankings side by side: one table per list, with shift markers, scores,
grades and each document's rank in the other lists; and the colours the audit statuses share
with the charts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from rankshift.corpus import Collection
from rankshift.pipeline import SECOND_KEY
from rankshift.present.text import order_score_label, query_terms, snippet, stage_label, title_of
from rankshift.types import Audit, PairScore, PipelineResult, ShiftRow, StageResult

if TYPE_CHECKING:
    from pandas.io.formats.style import Styler

    from rankshift.pipeline import SecondRerank

STATUS_COLORS: dict[str, str] = {
    "up": "#2f9e44",
    "down": "#e03131",
    "new": "#1971c2",
    "dropped": "#f08c00",
    "same": "#868e96",
    "below": "#ced4da",
    "not_candidate": "#9c36b5",
}
"""One colour per :data:`~rankshift.types.ShiftStatus`, shared by tables and charts."""

STATUS_LABELS: dict[str, str] = {
    "up": "moved up",
    "down": "moved down",
    "new": "promoted into top-N",
    "dropped": "dropped from top-N",
    "same": "unchanged",
    "below": "below the top-N in both",
    "not_candidate": "not a candidate of the reranker",
}
"""One legend entry per :data:`~rankshift.types.ShiftStatus`."""


def pairs_by_doc(result: PipelineResult) -> dict[str, PairScore]:
    """The cross-encoder's own scores of the result's candidates, by ``doc_id``."""
    return {p.doc_id: p for p in (result.rerank.pairs if result.rerank else [])}


def rerank_audit(result: PipelineResult) -> Audit | None:
    """The audit of the reranked list against the stage the reranker actually reordered."""
    if not result.audits:
        return None
    rerank_input = result.settings.get("rerank_input")
    if rerank_input in result.audits:
        return result.audits[rerank_input]
    return next(iter(result.audits.values()))


def ranking_stages(
    result: PipelineResult, second: SecondRerank | None = None
) -> dict[str, StageResult]:
    """Every list of the result, first stages first, then ``reranked``, then the second
    reranker's (under :data:`~rankshift.pipeline.SECOND_KEY`) when there is one."""
    stages = dict(result.stages)
    if second is not None:
        stages[SECOND_KEY] = second.stage
    return stages


def ranking_labels(result: PipelineResult, second: SecondRerank | None = None) -> dict[str, str]:
    """Column headings by stage key: ``BM25``, ``Dense``, ``Hybrid``, ``Reranked``, and the
    second reranker's short model name (marked ``(2nd)`` if it collides with another heading);
    a reranked list blended with its first stage says so, e.g. ``Reranked (blend 0.5)``."""
    labels = {k: stage_label(k) for k in result.stages}
    if result.rerank is not None and result.rerank.reranked and result.rerank.blend:
        labels["reranked"] += f" (blend {result.rerank.blend:g})"
    if second is not None:
        label = second.label or "second reranker"
        labels[SECOND_KEY] = f"{label} (2nd)" if label in labels.values() else label
        if second.info.reranked and second.info.blend:
            labels[SECOND_KEY] += f" (blend {second.info.blend:g})"
    return labels


def _shift_audit(
    result: PipelineResult, key: str, second: SecondRerank | None
) -> tuple[bool, Audit | None]:
    """Whether ``key``'s table gets a shift column, and the audit that fills it."""
    if key == "reranked":
        return result.rerank is not None and result.rerank.reranked, rerank_audit(result)
    if key == SECOND_KEY and second is not None:
        audits = second.audits
        rerank_input = result.settings.get("rerank_input")
        chosen = audits.get(rerank_input) if rerank_input in audits else None
        chosen = chosen or next(iter(audits.values()), None)
        return second.info.reranked, chosen
    return False, None


def ranking_frame(
    result: PipelineResult,
    key: str,
    collection: Collection,
    grades: Mapping[str, int] | None = None,
    depth: int | None = None,
    labels: Mapping[str, int] | None = None,
    second: SecondRerank | None = None,
) -> pd.DataFrame:
    """One stage's ranking as a table.

    Columns, in display order: ``rank``, ``shift`` (a reranked list, when it was reranked:
    ▲3, ▼12, new, =, relative to the reranker's input stage), ``score`` (for a reranked list,
    the score that decided its order: see :func:`score_labels`), ``ce_score`` (only for a
    reranked list blended with its first stage: the cross-encoder's own score), ``grade`` (when
    ``grades`` is given), ``label`` (when ``labels`` is given), ``title``, one column per other
    list with the document's rank there (empty: not in that list's top-K), ``snippet`` and
    ``doc_id``.

    Args:
        key: a stage key of the result, or :data:`~rankshift.pipeline.SECOND_KEY`.
        grades: the collection's qrels grades of this query.
        depth: rows to show; default the top-N the pipeline ran with.
        labels: grades from the judgment store (kept apart from ``grades``, so a stored label
            that disagrees with the qrels shows as such).
        second: a second reranker's list of the same candidates: it gets a rank column in
            every other table (headed by :func:`ranking_labels`).
    """
    stages = ranking_stages(result, second)
    headings = ranking_labels(result, second)
    stage = stages[key]
    n = int(result.settings.get("n", 10))
    rows = stage.ranking[: depth or n]
    terms = query_terms(result.query.text)
    others = [k for k in stages if k != key]
    other_ranks = {k: {r.doc_id: r.rank for r in stages[k].ranking} for k in others}
    has_shift, audit_ = _shift_audit(result, key, second)
    shift = {r.doc_id: r for r in audit_.rows} if has_shift and audit_ is not None else None
    ce = _blended_ce_scores(result, key, second)
    records = []
    for r in rows:
        doc = collection.documents.get(r.doc_id)
        rec: dict[str, Any] = {"rank": r.rank}
        if shift is not None:
            rec["shift"] = compact_marker(shift[r.doc_id]) if r.doc_id in shift else ""
        rec["title"] = title_of(doc, r.doc_id)
        rec["snippet"] = snippet(doc.text, terms) if doc else ""
        rec["score"] = r.score
        if ce is not None:
            rec["ce_score"] = ce.get(r.doc_id)
        if grades is not None:
            rec["grade"] = grades.get(r.doc_id)
        if labels is not None:
            rec["label"] = labels.get(r.doc_id)
        for k in others:
            rec[headings[k]] = other_ranks[k].get(r.doc_id)
        rec["doc_id"] = r.doc_id
        records.append(rec)
    columns = [
        "rank",
        *(["shift"] if shift is not None else []),
        "score",
        *(["ce_score"] if ce is not None else []),
        *(["grade"] if grades is not None else []),
        *(["label"] if labels is not None else []),
        "title",
        *[headings[k] for k in others],
        "snippet",
        "doc_id",
    ]
    frame = pd.DataFrame.from_records(records, columns=columns)
    if "ce_score" in frame:
        frame["ce_score"] = frame["ce_score"].astype("Float64")
    int_cols = ["grade", "label", *[headings[k] for k in others]]
    for col in int_cols:
        if col in frame:
            frame[col] = frame[col].astype("Int64")
    return frame


def _blended_ce_scores(
    result: PipelineResult, key: str, second: SecondRerank | None
) -> dict[str, float] | None:
    """The cross-encoder's own scores for a reranked list whose order was blended, else None
    (then the list's ``score`` already is the cross-encoder's)."""
    if key == "reranked" and result.rerank is not None and result.rerank.reranked:
        info = result.rerank
    elif key == SECOND_KEY and second is not None and second.info.reranked:
        info = second.info
    else:
        return None
    return {p.doc_id: p.score for p in info.pairs} if info.blend else None


def score_labels(
    result: PipelineResult, second: SecondRerank | None = None
) -> dict[str, dict[str, str]]:
    """Headings of the score columns of each ranking table, by stage key.

    Every table has ``score``: a first stage's own score (``score``), or for a reranked list
    the score that decided its order (``cross-encoder score``, or ``blended score (blend
    0.5)``). A blended list also has ``ce_score``, headed ``cross-encoder score``.
    """
    out: dict[str, dict[str, str]] = {}
    for key in ranking_stages(result, second):
        info = (
            result.rerank
            if key == "reranked"
            else second.info
            if second and key == SECOND_KEY
            else None
        )
        if info is None or not info.reranked:
            out[key] = {"score": "score"}
        elif info.blend:
            out[key] = {"score": order_score_label(info.blend), "ce_score": "cross-encoder score"}
        else:
            out[key] = {"score": "cross-encoder score"}
    return out


def compact_marker(row: ShiftRow) -> str:
    """``▲3``, ``▼12``, ``=``, ``new``, ``dropped`` or ``not a candidate``: short enough for a
    narrow table column. A row below the cut in both lists shows its rank change alone."""
    if row.status in ("new", "dropped"):
        return row.status
    if row.status == "below":
        return row.move or "below"
    return row.marker


def ranking_frames(
    result: PipelineResult,
    collection: Collection,
    grades: Mapping[str, int] | None = None,
    depth: int | None = None,
    labels: Mapping[str, int] | None = None,
    second: SecondRerank | None = None,
) -> dict[str, pd.DataFrame]:
    """:func:`ranking_frame` for every list: first stages first, then the reranked list, then
    the second reranker's (key :data:`~rankshift.pipeline.SECOND_KEY`) when ``second`` is given.

    With ``second``, both reranked tables carry shift markers against the same first stage
    (the reranker input), so the two rerankers' moves read side by side.
    """
    return {
        k: ranking_frame(result, k, collection, grades, depth, labels, second)
        for k in ranking_stages(result, second)
    }


def second_rerank_caption(second: SecondRerank, n: int) -> str:
    """One line on how the second reranker's top-N differs from the first reranker's."""
    name = second.label or second.model_id
    if not second.info.reranked:
        return f"{name} did not rerank: {second.info.message}"
    if second.agreement is None:
        return (
            f"{name} reranked the same {second.info.k} candidates; the sidebar's reranker did not."
        )
    a = second.agreement
    tau = "–" if a.kendall_tau is None else f"{a.kendall_tau:.2f}"
    return (
        f"{name} against the sidebar's reranker over the same {second.info.k} candidates: "
        f"Kendall's τ = {tau}; {len(a.promoted)} of its top-{n} are not in the other's top-{n}."
    )


def marker_color(marker: object) -> str:
    """CSS for a shift-marker cell (▲ green, ▼ red, new blue, dropped orange, not a candidate
    purple, anything else grey)."""
    text = str(marker or "")
    prefixes = {"▲": "up", "▼": "down", "new": "new", "dropped": "dropped"}
    prefixes["not a candidate"] = "not_candidate"
    status = next((s for p, s in prefixes.items() if text.startswith(p)), None)
    if status is None:
        return "color: #868e96"
    return f"color: {STATUS_COLORS[status]}; font-weight: 600"


def style_frame(frame: pd.DataFrame) -> Styler:
    """Colour shift markers and status columns; leave every other cell as plain text."""
    styler = frame.style
    for col in ("shift", "status"):
        if col in frame.columns:
            styler = styler.map(marker_color, subset=[col])
    graded = [c for c in ("grade", "label") if c in frame.columns]
    if graded:
        styler = styler.map(
            lambda g: "font-weight: 600; color: #2f9e44" if pd.notna(g) and g > 0 else "",
            subset=graded,
        )
    return styler


def settings_caption(settings: Mapping[str, Any]) -> str:
    """One line that says which settings made the result (never wonder which setting it was)."""
    parts = [
        f"K={settings.get('k')}",
        f"N={settings.get('n')}",
        f"reranker input: {stage_label(str(settings.get('rerank_input')))}",
    ]
    if settings.get("reranker"):
        parts.append(
            f"cross-encoder {settings['reranker']} (max_length {settings.get('max_length')})"
        )
    else:
        parts.append("reranking off")
    return " · ".join(parts)
