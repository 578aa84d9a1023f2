"""Tidy frames and small records that the app's pages render (and the CLI could print).

Everything here is pure: a :class:`~rankshift.types.PipelineResult` and a collection in,
pandas frames, strings and dataclasses out. Pages do no reshaping of their own, so what the
inspector shows is tested here, without a browser.

Document text is untrusted. Frames hold it as plain strings (tables render cells as text);
anything meant for ``st.markdown`` goes through :func:`escape_markdown`, and anything meant for
a plotly label goes through :func:`escape_plotly`.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from rankshift.config import DEFAULT_MAX_LENGTH
from rankshift.corpus import Collection
from rankshift.models import short_name
from rankshift.pipeline import SECOND_KEY
from rankshift.thresholds import DEFAULT_THRESHOLDS, Thresholds
from rankshift.types import Audit, Document, PipelineResult, Query, ShiftRow, StageResult

if TYPE_CHECKING:
    from pandas.io.formats.style import Styler

    from rankshift.evaluation import Calibration, Comparison, DocMove, EvalReport, Tradeoff
    from rankshift.pipeline import SecondRerank
    from rankshift.training.train import TrainResult

STAGE_LABELS: dict[str, str] = {
    "bm25": "BM25",
    "dense": "Dense",
    "hybrid": "Hybrid",
    "reranked": "Reranked",
}
"""Column headings for the stage keys a :class:`PipelineResult` uses."""

STATUS_COLORS: dict[str, str] = {
    "up": "#2f9e44",
    "down": "#e03131",
    "new": "#1971c2",
    "dropped": "#f08c00",
    "same": "#868e96",
}
"""One colour per :data:`~rankshift.types.ShiftStatus`, shared by tables and charts."""

STATUS_LABELS: dict[str, str] = {
    "up": "moved up",
    "down": "moved down",
    "new": "promoted into top-N",
    "dropped": "dropped from top-N",
    "same": "unchanged",
}

PAIRS_PER_SECOND_AT_256 = 10.0
"""Measured on a 2-core CPU with a MiniLM-L6 cross-encoder at max_length 256."""


def stage_label(key: str) -> str:
    return STAGE_LABELS.get(key, key)


# --------------------------------------------------------------------------------------
# Safe text


_MD_PUNCT = re.compile(r"([!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~])")


def escape_markdown(text: str, *, strip: bool = True) -> str:
    """Make untrusted text render literally in ``st.markdown``.

    Backslash-escapes every ASCII punctuation character (CommonMark allows that for all of
    them), which disarms emphasis, links, images, headings, lists, tables, raw HTML, LaTeX
    (``$``), Streamlit's colour directives (``:red[...]``) and emoji shortcodes (``:smile:``).
    Line breaks become hard breaks inside one paragraph, and a blank line becomes a line with a
    no-break space: a real paragraph break would end a surrounding ``:color[...]`` span.

    Args:
        text: the untrusted text.
        strip: drop leading whitespace (so the text cannot open with an indented code block).
            Pass False for a piece that continues a line, and strip the assembled string.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    out = []
    for i, line in enumerate(lines):
        if not line.strip() and 0 < i < len(lines) - 1:
            out.append("\u00a0")
        else:
            out.append(_MD_PUNCT.sub(r"\\\1", line))
    joined = "  \n".join(out)
    return joined.lstrip() if strip else joined


def escape_plotly(text: str) -> str:
    """Make untrusted text safe for plotly labels and hover text (which accept some HTML)."""
    return html.escape(text, quote=True)


def shorten(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: max(0, width - 1)].rstrip() + "…"


# --------------------------------------------------------------------------------------
# Query terms (for highlighting and for friendly messages)

_WORD = re.compile(r"(?u)\b\w\w+\b")
"""bm25s's token pattern: words of two or more characters."""


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    try:
        from bm25s.stopwords import STOPWORDS_EN

        return frozenset(STOPWORDS_EN)
    except ImportError:  # highlighting still works, just without a stopword list
        return frozenset()


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    try:
        import Stemmer

        return Stemmer.Stemmer("english")
    except ImportError:
        return None


def _stem(word: str) -> str:
    stemmer = _stemmer()
    word = word.lower()
    return stemmer.stemWord(word) if stemmer is not None else word


def query_terms(text: str) -> set[str]:
    """The stemmed, stopword-free terms of a query, as BM25 sees them."""
    stop = _stopwords()
    return {_stem(w) for w in _WORD.findall(text) if w.lower() not in stop}


def query_problem(text: str) -> str | None:
    """A friendly reason why ``text`` is not worth searching, or None if it is."""
    if not text.strip():
        return "Type a query, or pick one of the collection's queries."
    if not _WORD.findall(text):
        return "That query has no words to search for. Try a few content words."
    if not query_terms(text):
        return (
            "That query has only stopwords (words like *the*, *of*, *and*) that the retrievers "
            "ignore. Add a word that carries meaning, e.g. a topic or a name."
        )
    return None


def resolve_query(collection: Collection, text: str, query_id: str | None = None) -> Query:
    """The collection's query when ``text`` is one (so its judgments apply), else an ad-hoc one."""
    text = text.strip()
    if query_id and query_id in collection.queries and collection.queries[query_id].text == text:
        return collection.queries[query_id]
    for q in collection.queries.values():
        if q.text.strip() == text:
            return q
    return Query(query_id="adhoc", text=text)


def grades_for(
    collection: Collection,
    query_id: str,
    split: str | None = None,
    extra: Mapping[str, int] | None = None,
) -> dict[str, int]:
    """Judged grades of one query: the collection's qrels (one split, or all), then ``extra``
    (stored labels), which win where both exist."""
    grades: dict[str, int] = {}
    splits = [split] if split else list(collection.qrels)
    for s in splits:
        grades.update(collection.qrels.get(s, {}).get(query_id, {}))
    grades.update(extra or {})
    return grades


# --------------------------------------------------------------------------------------
# Snippets and titles


def title_of(doc: Document | None, doc_id: str, width: int = 80) -> str:
    if doc is None:
        return f"(missing document {doc_id})"
    return shorten(doc.title or doc.text, width)


def snippet(text: str, terms: set[str] | None = None, width: int = 160) -> str:
    """About ``width`` characters of ``text``, starting shortly before the first query term."""
    flat = " ".join(text.split())
    hit = next((m.start() for m in _WORD.finditer(flat) if terms and _stem(m.group()) in terms), 0)
    start = max(0, hit - width // 4)
    if start > 0:
        # Start at a word boundary so the snippet does not open mid-word.
        space = flat.find(" ", start)
        start = space + 1 if 0 <= space < hit else start
    piece = flat[start : start + width]
    prefix = "…" if start > 0 else ""
    suffix = "…" if start + width < len(flat) else ""
    return prefix + piece.rstrip() + suffix


# --------------------------------------------------------------------------------------
# Rankings side by side


def _pairs_by_doc(result: PipelineResult) -> dict[str, Any]:
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
    ▲3, ▼12, new, =, relative to the reranker's input stage), ``score``, ``grade`` (when
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
    records = []
    for r in rows:
        doc = collection.documents.get(r.doc_id)
        rec: dict[str, Any] = {"rank": r.rank}
        if shift is not None:
            rec["shift"] = compact_marker(shift[r.doc_id]) if r.doc_id in shift else ""
        rec["title"] = title_of(doc, r.doc_id)
        rec["snippet"] = snippet(doc.text, terms) if doc else ""
        rec["score"] = r.score
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
        *(["grade"] if grades is not None else []),
        *(["label"] if labels is not None else []),
        "title",
        *[headings[k] for k in others],
        "snippet",
        "doc_id",
    ]
    frame = pd.DataFrame.from_records(records, columns=columns)
    int_cols = ["grade", "label", *[headings[k] for k in others]]
    for col in int_cols:
        if col in frame:
            frame[col] = frame[col].astype("Int64")
    return frame


def compact_marker(row: ShiftRow) -> str:
    """``▲3``, ``▼12``, ``=``, ``new`` or ``dropped``: short enough for a narrow table column."""
    if row.status in ("new", "dropped"):
        return row.status
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
    """CSS for a shift-marker cell (▲ green, ▼ red, new blue, dropped orange)."""
    text = str(marker or "")
    status = (
        "up"
        if text.startswith("▲")
        else "down"
        if text.startswith("▼")
        else "new"
        if text.startswith("new")
        else "dropped"
        if text.startswith("dropped")
        else None
    )
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


# --------------------------------------------------------------------------------------
# Rank shifts, dropped and promoted


def shift_frame(
    result: PipelineResult,
    against: str,
    collection: Collection,
    grades: Mapping[str, int] | None = None,
) -> pd.DataFrame:
    """Every candidate of ``against`` or of the reranked list, with its two ranks (for charts).

    Columns: ``doc_id``, ``title``, ``first_rank``, ``reranked_rank``, ``first_score``,
    ``ce_score``, ``status``, ``shift``, ``marker``, ``grade``. Empty when nothing was reranked.
    """
    columns = [
        "doc_id",
        "title",
        "first_rank",
        "reranked_rank",
        "first_score",
        "ce_score",
        "status",
        "shift",
        "marker",
        "grade",
    ]
    audit_ = result.audits.get(against)
    if audit_ is None:
        return pd.DataFrame(columns=columns)
    grades = grades or {}
    records = [
        {
            "doc_id": r.doc_id,
            "title": title_of(collection.documents.get(r.doc_id), r.doc_id),
            "first_rank": r.first_rank,
            "reranked_rank": r.reranked_rank,
            "first_score": r.first_score,
            "ce_score": r.rerank_score,
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
    return frame


def dropped_frame(
    result: PipelineResult,
    against: str,
    collection: Collection,
    grades: Mapping[str, int] | None = None,
    labels: Mapping[str, int] | None = None,
) -> pd.DataFrame:
    """Documents in ``against``'s top-N that are not in the reranked top-N.

    Columns: ``title``, ``first_rank``, ``first_score``, ``now`` (reranked rank, empty when the
    reranker never saw it), ``ce_score``, ``margin`` (how far the cross-encoder score fell
    below the N-th reranked score), ``truncated``, ``grade`` (only when ``grades`` is given),
    ``label`` (stored label, only when ``labels`` is given), ``why``, ``doc_id``.
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
    ``first_score``, ``now``, ``ce_score``, ``margin`` (how far above the N-th reranked score),
    ``truncated``, ``grade``, ``label``, ``why``, ``doc_id`` (as :func:`dropped_frame`).
    """
    return _cut_frame(result, against, collection, grades, "promoted", labels)


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
    pairs = _pairs_by_doc(result)
    if grades is None:
        columns.remove("grade")
    if labels is None:
        columns.remove("label")
    cutoff = audit_.cutoff_score
    n = audit_.n
    rerank_input = stage_label(str(result.settings.get("rerank_input", "")))
    k = int(result.settings.get("k", 0))
    records = []
    for r in audit_.dropped if which == "dropped" else audit_.promoted:
        pair = pairs.get(r.doc_id)
        margin: float | None = None
        if r.rerank_score is not None and cutoff is not None:
            margin = cutoff - r.rerank_score if which == "dropped" else r.rerank_score - cutoff
        if which == "dropped":
            if r.reranked_rank is None:
                why = f"not among the reranker's candidates ({rerank_input} top-{k})"
            elif margin is not None and margin == 0:
                why = f"tied with the cut-off score, ranked {r.reranked_rank} on the tie-break"
            else:
                why = f"cross-encoder ranked it {r.reranked_rank}, below the top-{n}"
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
                "ce_score": r.rerank_score,
                "margin": margin,
                "truncated": bool(pair.truncated) if pair is not None else None,
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
    frame["first_score"] = frame["first_score"].astype("Float64")
    frame["ce_score"] = frame["ce_score"].astype("Float64")
    frame["margin"] = frame["margin"].astype("Float64")
    return frame


# --------------------------------------------------------------------------------------
# Scores and diagnostics


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
    pairs: int = 0
    kendall_tau: dict[str, float | None] = field(default_factory=dict)
    """Kendall's tau between each first stage and the reranked list (shared candidates)."""
    dropped: dict[str, int] = field(default_factory=dict)
    promoted: dict[str, int] = field(default_factory=dict)
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
    truncated = sum(p.truncated for p in info.pairs)
    if truncated:
        notes.append(
            f"{truncated} of {n} candidates were longer than the reranker's {info.max_length}-token "
            "window; it judged them on their beginning only."
        )
    return Diagnostics(
        reranked=True,
        ce_std=std,
        ce_range=spread,
        prob_min=min(probs) if probs else None,
        prob_max=max(probs) if probs else None,
        truncated=truncated,
        pairs=n,
        kendall_tau=taus,
        dropped={k: len(a.dropped) for k, a in result.audits.items()},
        promoted={k: len(a.promoted) for k, a in result.audits.items()},
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


def rerank_cost(
    k: int, max_length: int = DEFAULT_MAX_LENGTH, ms_per_pair: float | None = None
) -> str:
    """A sentence saying what K costs: pairs to score and the expected wait on this machine.

    Args:
        ms_per_pair: a measured rate (the last query's); default a 2-core CPU's rate for a
            MiniLM-L6 cross-encoder, scaled linearly with ``max_length``.
    """
    if ms_per_pair is None or ms_per_pair <= 0:
        ms_per_pair = 1000.0 / PAIRS_PER_SECOND_AT_256 * (max_length / 256)
        basis = "estimated"
    else:
        basis = "measured"
    seconds = k * ms_per_pair / 1000
    return (
        f"K = {k} means {k} query-document pairs for the cross-encoder: about {seconds:.0f} s "
        f"for a new query on this CPU ({basis} {1000 / ms_per_pair:.0f} pairs/s at "
        f"{max_length} tokens). Repeated queries come from the pair-score cache instantly."
    )


# --------------------------------------------------------------------------------------
# Document view


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
        (m.start(), m.end()) for m in _WORD.finditer(text) if terms and _stem(m.group()) in terms
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
    if reranker is not None:
        full = doc.full_text
        end = reranker.window_end(query, full)
        max_length = reranker.max_length
        offset = len(doc.title) + 1 if doc.title else 0
        window_end = len(doc.text) if end >= len(full) else max(0, end - offset)
    ranks: dict[str, int | None] = {}
    pair = None
    if result is not None:
        ranks = {k: s.rank_of(doc.doc_id) for k, s in result.stages.items()}
        pair = _pairs_by_doc(result).get(doc.doc_id)
    return DocumentView(
        doc_id=doc.doc_id,
        title=doc.title,
        text=doc.text,
        segments=highlight_segments(doc.text, query_terms(query), window_end),
        window_end=window_end,
        max_length=max_length,
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


def collection_summary(collection: Collection) -> str:
    splits = ", ".join(
        f"{s} ({sum(len(v) for v in q.values())} judgments)" for s, q in collection.qrels.items()
    )
    parts = [f"{len(collection):,} documents", f"{len(collection.queries):,} queries"]
    if splits:
        parts.append(f"qrels: {splits}")
    return " · ".join(parts)


def query_options(collection: Collection, limit: int | None = None) -> list[str]:
    """Query ids for a picker, judged queries first (they show grades)."""
    judged = {q for split in collection.qrels.values() for q in split}
    ids = sorted(collection.queries, key=lambda q: (q not in judged,))
    return ids[:limit] if limit else ids


def query_label(collection: Collection, query_id: str, width: int = 90) -> str:
    q = collection.queries.get(query_id)
    judged = sum(len(split.get(query_id, {})) for split in collection.qrels.values())
    tag = f" · {judged} judged" if judged else ""
    return f"{query_id}: {shorten(q.text if q else '', width)}{tag}"


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


# --------------------------------------------------------------------------------------
# Evaluation (the Evaluate page): frames from an EvalReport


VERDICT_COLORS: dict[str, str] = {"helped": "#2f9e44", "hurt": "#e03131", "no change": "#adb5bd"}
"""One colour per query verdict (:data:`rankshift.evaluation.Verdict`), shared by chart and table."""


def pipeline_label(spec: str) -> str:
    """A pipeline spec for people: ``bm25>ce`` -> ``BM25 + cross-encoder``,
    ``hybrid(minmax,w=0.3)`` -> ``Hybrid (minmax,w=0.3)``."""
    reranked = spec.endswith(">ce")
    stage = spec[:-3] if reranked else spec
    key, _, args = stage.partition("(")
    label = stage_label(key) + (f" ({args}" if args else "")
    return label + (" + cross-encoder" if reranked else "")


def eval_cost(n_queries: int, n_reranked: int, k: int, max_length: int = DEFAULT_MAX_LENGTH) -> str:
    """A sentence on what a batch costs: cross-encoder pairs and the worst-case wait.

    Args:
        n_queries: queries in the set.
        n_reranked: ``>ce`` pipelines (each reranks its own top-K; shared candidates are
            scored once through the pair-score cache, so this is an upper bound).
        k: candidates per query.
        max_length: the cross-encoder's window, which scales the cost.
    """
    if not n_reranked:
        return f"{n_queries:,} queries through the first stages only: no cross-encoder cost."
    pairs = n_queries * n_reranked * k
    seconds = pairs / PAIRS_PER_SECOND_AT_256 * (max_length / 256)
    wait = f"{seconds / 60:.0f} min" if seconds >= 120 else f"{seconds:.0f} s"
    return (
        f"{n_queries:,} queries × {n_reranked} reranked pipeline(s) × K = {k}: up to "
        f"{pairs:,} cross-encoder pairs, about {wait} on a 2-core CPU at {max_length} tokens "
        "(pairs already in the pair-score cache are free)."
    )


def eval_metrics_frame(report: EvalReport) -> pd.DataFrame:
    """One row per evaluated pipeline: the mean of each measure, and the time per query.

    Columns: ``pipeline`` (label), ``spec``, one per measure of the report (nDCG@10 first),
    ``ms/query`` (first stage, plus reranking for a reranked run), ``rerank ms/query``
    (empty for a first stage) and ``run`` (the run name with its parameters).
    """
    rows = [
        {
            "pipeline": pipeline_label(r.spec),
            "spec": r.spec,
            **{m: r.mean.get(m, math.nan) for m in report.measures},
            "ms/query": r.ms_per_query,
            "rerank ms/query": r.rerank_ms_per_query,
            "run": r.name,
        }
        for r in report.runs.values()
    ]
    columns = ["pipeline", "spec", *report.measures, "ms/query", "rerank ms/query", "run"]
    return pd.DataFrame(rows, columns=columns)


def paired_test_frame(comparison: Comparison) -> pd.DataFrame:
    """First stage vs reranked, one row per measure.

    Columns: ``measure``, ``first``, ``reranked``, ``delta`` (reranked − first), ``ci_low`` and
    ``ci_high`` (95% t interval of the mean difference), ``p`` (two-sided paired randomisation
    test) and ``p_t`` (paired t-test). Undefined values (fewer than two queries) are NaN.
    """

    def num(x: float | None) -> float:
        return math.nan if x is None else float(x)

    rows = [
        {
            "measure": m,
            "first": t.first,
            "reranked": t.reranked,
            "delta": t.delta,
            "ci_low": num(t.ci_low),
            "ci_high": num(t.ci_high),
            "p": num(t.randomisation_p_value),
            "p_t": num(t.t_p_value),
        }
        for m, t in comparison.tests.items()
    ]
    columns = ["measure", "first", "reranked", "delta", "ci_low", "ci_high", "p", "p_t"]
    return pd.DataFrame(rows, columns=columns)


def helped_hurt_frame(comparison: Comparison, collection: Collection) -> pd.DataFrame:
    """ΔnDCG@10 per query, best gain first (ties on ``query_id``), for the helped/hurt chart.

    Columns: ``query_id``, ``query`` (its text), ``verdict``, ``first``, ``reranked``, ``delta``.
    """
    rows = [
        {
            "query_id": v.query_id,
            "query": _query_text(collection, v.query_id),
            "verdict": v.verdict,
            "first": v.first,
            "reranked": v.reranked,
            "delta": v.delta,
        }
        for v in comparison.verdicts
    ]
    frame = pd.DataFrame(
        rows, columns=["query_id", "query", "verdict", "first", "reranked", "delta"]
    )
    frame = frame.assign(_neg=-frame["delta"]).sort_values(["_neg", "query_id"], kind="stable")
    return frame.drop(columns="_neg").reset_index(drop=True)


def _query_text(collection: Collection, query_id: str) -> str:
    q = collection.queries.get(query_id)
    return q.text if q else ""


def _moves(moves: Iterable[DocMove], ranks: bool = True) -> str:
    def rank(r: int | None) -> str:
        return "–" if r is None else f"#{r}"

    return ", ".join(
        f"{m.doc_id} (grade {m.grade}"
        + (f", {rank(m.first_rank)} → {rank(m.reranked_rank)})" if ranks else ")")
        for m in moves
    )


def verdict_frame(comparison: Comparison, collection: Collection) -> pd.DataFrame:
    """What the reranker did to each query, worst first: the per-query verdict table.

    Columns: ``query_id``, ``query``, ``verdict``, ``first`` and ``reranked`` (nDCG@10),
    ``delta``, ``demoted`` (relevant documents the reranker pushed out of the top-N, as
    ``doc (grade g, #first → #reranked)``), ``promoted`` (pulled into the top-N), ``recall_gap``
    (relevant documents the first stage never retrieved in its top-K: the first stage's loss,
    not the reranker's), their counts ``n_demoted``, ``n_promoted``, ``n_recall_gap``, and
    ``kendall_tau`` (empty where the query fell back to the first stage's order).
    """
    rows = [
        {
            "query_id": v.query_id,
            "query": _query_text(collection, v.query_id),
            "verdict": v.verdict,
            "first": v.first,
            "reranked": v.reranked,
            "delta": v.delta,
            "n_demoted": len(v.demoted),
            "demoted": _moves(v.demoted),
            "n_promoted": len(v.promoted),
            "promoted": _moves(v.promoted),
            "n_recall_gap": len(v.recall_gap),
            "recall_gap": _moves(v.recall_gap, ranks=False),
            "kendall_tau": math.nan if v.kendall_tau is None else v.kendall_tau,
        }
        for v in comparison.verdicts
    ]
    columns = [
        "query_id", "query", "verdict", "first", "reranked", "delta", "n_demoted", "demoted",
        "n_promoted", "promoted", "n_recall_gap", "recall_gap", "kendall_tau",
    ]  # fmt: skip
    frame = pd.DataFrame(rows, columns=columns)
    return frame.sort_values(["delta", "query_id"], kind="stable").reset_index(drop=True)


def verdict_counts(comparison: Comparison) -> dict[str, int]:
    """Counts for the headline: verdicts, and relevant documents demoted, promoted and never
    retrieved (``demoted_docs``, ``demoted_queries``, ``promoted_docs``, ``promoted_queries``,
    ``gap_docs``, ``gap_queries``)."""
    v = comparison.verdicts
    return {
        **comparison.counts,
        "demoted_docs": sum(len(x.demoted) for x in v),
        "demoted_queries": sum(bool(x.demoted) for x in v),
        "promoted_docs": sum(len(x.promoted) for x in v),
        "promoted_queries": sum(bool(x.promoted) for x in v),
        "gap_docs": sum(len(x.recall_gap) for x in v),
        "gap_queries": sum(bool(x.recall_gap) for x in v),
    }


def calibration_frames(calibration: Calibration) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The calibration data as two frames.

    Returns:
        ``pairs``: one row per judged candidate (``query_id, doc_id, grade, relevant, score,
        probability``); ``reliability``: one row per non-empty probability bin (``low, high,
        n, mean_probability, fraction_relevant``).
    """
    reliability = pd.DataFrame(
        calibration.reliability,
        columns=["low", "high", "n", "mean_probability", "fraction_relevant"],
    )
    return calibration.frame(), reliability


def threshold_caption(calibration: Calibration) -> str:
    """The best-F1 threshold in one sentence, or why there is none."""
    b = calibration.best_threshold
    if b is None:
        return (
            "No threshold: the judged candidates are all relevant or all not relevant, so "
            "precision and recall cannot be traded off."
        )
    return (
        f"Best F1 threshold: probability ≥ {b['probability']:.3f} (logit {b['logit']:+.2f}) "
        f"calls a candidate relevant with precision {b['precision']:.2f}, recall "
        f"{b['recall']:.2f} and F1 {b['f1']:.2f} over {b['n']:.0f} judged candidates."
    )


def tradeoff_frame(tradeoff: Tradeoff) -> pd.DataFrame:
    """One row per K: ``k``, ``ndcg10``, ``rerank_ms_median``, ``rerank_ms_mean``,
    ``mean_candidates`` (fewer than K when the first stage returned fewer)."""
    rows = [
        {
            "k": p.k,
            "ndcg10": p.ndcg10,
            "rerank_ms_median": math.nan if p.rerank_ms_median is None else p.rerank_ms_median,
            "rerank_ms_mean": math.nan if p.rerank_ms_mean is None else p.rerank_ms_mean,
            "mean_candidates": p.mean_candidates,
        }
        for p in tradeoff.points
    ]
    columns = ["k", "ndcg10", "rerank_ms_median", "rerank_ms_mean", "mean_candidates"]
    return pd.DataFrame(rows, columns=columns)


# --------------------------------------------------------------------------------------
# Reranker choices (the sidebar, the Inspect page's comparison) and training results

OTHER_RERANKER = "__other__"
"""The choice that reveals a free text box for any model id or folder."""


def reranker_options(
    default: str | None,
    trained: Iterable[str | Path],
    exclude: Iterable[str] = (),
) -> list[str]:
    """Choices for a reranker box: the default, the trained model folders, then "other".

    Args:
        default: the preferred reranker (:func:`rankshift.config.preferred_reranker`), or None.
        trained: model folders (:func:`rankshift.training.train.trained_models`), newest first.
        exclude: ids to leave out (e.g. the reranker already in use, for a comparison).
    """
    skip = set(exclude)
    options = [default] if default and default not in skip else []
    for path in trained:
        value = str(path)
        if value not in skip and value not in options:
            options.append(value)
    return [*options, OTHER_RERANKER]


def reranker_option_label(
    option: str, default: str | None = None, trained: Iterable[str | Path] = ()
) -> str:
    """How a reranker choice reads: ``trained: <folder name>``, ``<short name> (default)``, …"""
    if option == OTHER_RERANKER:
        return "other id or folder…"
    name = short_name(option)
    label = f"trained: {name}" if option in {str(p) for p in trained} else name
    return f"{label} (default)" if option == default else label


def training_frame(result: TrainResult) -> pd.DataFrame:
    """The before/after table of a training run, one row per ranking of the held-out queries.

    Columns: ``ranking`` (``first stage``, ``base``, ``trained`` or ``blended``: the trained
    model's score blended with the first stage's at the best weight), ``name`` (with its
    parameters, e.g. ``trained (k=30)``), ``nDCG@10``, ``MRR@10``, ``Δ nDCG@10`` (against the
    first stage). Empty when nothing was held out (or the run stopped before validation).
    """
    columns = ["ranking", "name", "nDCG@10", "MRR@10", "Δ nDCG@10"]
    rows = result.validation
    if not rows:
        return pd.DataFrame(columns=columns)
    # Records written before rows had a kind: the first stage first, the trained model last,
    # a base model between them when it loaded as a cross-encoder again.
    positional = (
        ["first stage", *["base"] * (len(rows) - 2), "trained"]
        if len(rows) > 1
        else ["first stage"]
    )
    kinds = [m.kind or k for m, k in zip(rows, positional, strict=True)]
    first = rows[0].ndcg10
    records = [
        {
            "ranking": kind,
            "name": m.name,
            "nDCG@10": m.ndcg10,
            "MRR@10": m.mrr10,
            "Δ nDCG@10": m.ndcg10 - first,
        }
        for kind, m in zip(kinds, rows, strict=True)
    ]
    return pd.DataFrame.from_records(records, columns=columns)


def training_caption(result: TrainResult) -> str:
    """One line on a run: its data, steps and time, and where the model is."""
    resumed = f" (resumed at step {result.resumed_from_step})" if result.resumed_from_step else ""
    return (
        f"{result.train_rows} training rows from {len(result.split.train)} queries · "
        f"{result.steps} steps in {result.train_seconds / 60:.1f} min{resumed} · validated on "
        f"{len(result.split.eval)} held-out queries · saved to {result.output_dir}"
    )


def job_progress_text(
    phase: str, done: int, total: int, elapsed_s: float, eta_s: float | None
) -> str:
    """``Training: step 3 of 40 · 1:02 elapsed · about 5 min left in this phase``."""
    unit = "step " if phase == "Training" else ""
    parts = [f"{phase}: {unit}{done:,} of {total:,}" if total else phase]
    parts.append(f"{_clock(elapsed_s)} elapsed")
    if eta_s is not None and done < total:
        left = f"{eta_s / 60:.0f} min" if eta_s >= 90 else f"{max(1.0, eta_s):.0f} s"
        parts.append(f"about {left} left in this phase")
    return " · ".join(parts)


def _clock(seconds: float) -> str:
    seconds = int(max(0, seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
