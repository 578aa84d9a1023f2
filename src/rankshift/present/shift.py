"""What the reranker changed, with no judgment needed: the Evaluate page's shift section, from
the :class:`~rankshift.evaluation.ShiftReport` records of an ``EvalReport``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd

from rankshift.corpus import Collection
from rankshift.present.evaluate import ColumnSpec, pipeline_label

if TYPE_CHECKING:
    from rankshift.evaluation import ShiftReport

SHIFT_NOTE = (
    "RBO (rank-biased overlap): top-weighted overlap of the two top-N lists, 1 = same top, "
    "0 = disjoint. τ_AP: rank correlation where swaps near the top count more (1 = same "
    "order, −1 = reversed). Jaccard: share of the top-N documents both lists hold. Kendall's "
    "τ: rank correlation over all the candidates. Unjudged moved in: documents the reranker "
    "brought into the top-N that nobody has judged (judge those next)."
)
"""What the shift measures mean, in a caption."""


def _num(x: float | None) -> float:
    return math.nan if x is None else float(x)


def _fmt(x: float | None, spec: str = ".3f") -> str:
    return "–" if x is None else format(x, spec)


def shift_metrics(shift: ShiftReport) -> list[tuple[str, str, str]]:
    """The headline means against the reranked pipeline's own first stage, as
    ``(label, value, help)`` for four metric tiles."""
    m, n = shift.mean, shift.n
    return [
        (
            "Mean RBO",
            _fmt(m["rbo"]),
            f"Top-weighted overlap of the top {n} (p = {shift.p:g}): 1 = same top, 0 = disjoint",
        ),
        (
            f"Mean Jaccard@{n}",
            _fmt(m["jaccard"]),
            f"Share of the top-{n} documents both lists hold",
        ),
        (
            "Mean τ_AP",
            _fmt(m["tau_ap"]),
            "AP correlation over the candidates: swaps near the top count more",
        ),
        (
            f"Unjudged moved into the top {n}",
            f"{shift.unjudged_moved_in:,}",
            f"Documents nobody has judged that the reranker brought into the top {n}, over "
            f"{len(shift.compared):,} queries: where to judge next",
        ),
    ]


def shift_caption(shift: ShiftReport) -> str:
    """What the shift section covers: queries (judged or not), N, p, fallbacks; and what the
    measures mean (:data:`SHIFT_NOTE`)."""
    total = len(shift.queries)
    unjudged = len(shift.unjudged_queries)
    parts = [
        f"{pipeline_label(shift.reranked)} against {pipeline_label(shift.first)} over "
        f"{total:,} queries"
        + (f" ({unjudged:,} of them not judged)" if unjudged else "")
        + f", top {shift.n}, RBO p = {shift.p:g}."
    ]
    if shift.fallback:
        parts.append(
            f"{len(shift.fallback):,} queries kept the first stage's order (the reranker "
            "failed): they are listed, but not in the means."
        )
    parts.append(SHIFT_NOTE)
    return " ".join(parts)


def shift_means_frame(shifts: Sequence[ShiftReport]) -> pd.DataFrame:
    """One row per first stage the reranked lists were compared with (its own first).

    Columns: ``against`` (label), ``spec``, ``queries`` (compared), the means ``rbo``,
    ``jaccard``, ``kendall_tau``, ``tau_ap``, ``moved_in`` (per query), and
    ``unjudged_moved_in`` (the total).
    """
    rows = [
        {
            "against": pipeline_label(s.first),
            "spec": s.first,
            "queries": len(s.compared),
            **{k: _num(s.mean[k]) for k in ("rbo", "jaccard", "kendall_tau", "tau_ap")},
            "moved_in": _num(s.mean["moved_in"]),
            "unjudged_moved_in": s.unjudged_moved_in,
        }
        for s in shifts
    ]
    columns = [
        "against", "spec", "queries", "rbo", "jaccard", "kendall_tau", "tau_ap", "moved_in",
        "unjudged_moved_in",
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def shift_queries_frame(shift: ShiftReport, collection: Collection) -> pd.DataFrame:
    """The queries ranked by how much the reranker changed them: lowest RBO first.

    Columns: ``query_id``, ``query`` (its text), ``judged`` (the query has a judgment),
    ``rbo``, ``jaccard``, ``kendall_tau``, ``tau_ap`` (empty when undefined), ``moved_in``,
    ``unjudged_moved_in`` and ``reranked`` (False: the reranker failed, first-stage order).
    """
    rows = [
        {
            "query_id": r["query_id"],
            "query": q.text if (q := collection.queries.get(r["query_id"])) else "",
            "judged": r["judged"],
            "rbo": r["rbo"],
            "jaccard": r["jaccard"],
            "kendall_tau": _num(r["kendall_tau"]),
            "tau_ap": _num(r["tau_ap"]),
            "moved_in": r["moved_in"],
            "unjudged_moved_in": r["unjudged_moved_in"],
            "reranked": r["reranked_ok"],
        }
        for r in shift.rows()
    ]
    columns = [
        "query_id", "query", "judged", "rbo", "jaccard", "kendall_tau", "tau_ap", "moved_in",
        "unjudged_moved_in", "reranked",
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def _measures(n: int) -> dict[str, ColumnSpec]:
    return {
        "rbo": ("number", "RBO", {"format": "%.3f", "help": "1 = same top, 0 = disjoint"}),
        "jaccard": ("number", f"Jaccard@{n}", {"format": "%.2f"}),
        "kendall_tau": (
            "number",
            "Kendall's τ",
            {"format": "%.2f", "help": "Over all the candidates"},
        ),
        "tau_ap": ("number", "τ_AP", {"format": "%.2f", "help": "Swaps near the top count more"}),
        "moved_in": ("number", f"moved into top {n}", {"help": "Not in the first stage's top N"}),
    }


def shift_query_columns(n: int) -> dict[str, ColumnSpec]:
    """The columns of :func:`shift_queries_frame` as the page shows them."""
    return {
        "query_id": ("text", "query", {"width": "small"}),
        "query": ("text", "text", {"width": "medium"}),
        "judged": ("checkbox", "judged", {"help": "The query has at least one judgment"}),
        **_measures(n),
        "unjudged_moved_in": (
            "number",
            "unjudged moved in",
            {"help": f"Documents nobody has judged, brought into the top {n}: judge these next"},
        ),
        "reranked": ("checkbox", "reranked", {"help": "Off: the reranker failed on it"}),
    }


def shift_means_columns(n: int) -> dict[str, ColumnSpec]:
    """The columns of :func:`shift_means_frame` as the page shows them."""
    return {
        "against": ("text", "against the first stage", {"width": "medium"}),
        "spec": None,
        "queries": ("number", "queries", {}),
        **_measures(n),
        "moved_in": ("number", f"moved into top {n} / query", {"format": "%.2f"}),
        "unjudged_moved_in": ("number", "unjudged moved in (total)", {}),
    }
