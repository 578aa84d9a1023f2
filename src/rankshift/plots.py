"""Plotly figure builders: tidy frames in (see :mod:`rankshift.views`), ``go.Figure`` out.

Nothing here renders. Every string that comes from a document (titles, ids) goes through
:func:`~rankshift.views.escape_plotly`, because plotly labels and hover text accept a subset
of HTML.
"""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from rankshift.views import STATUS_COLORS, STATUS_LABELS, escape_plotly, shorten

_FONT = {"family": "Source Sans Pro, sans-serif", "size": 13}
_STATUS_ORDER = ["up", "down", "new", "dropped", "same"]
_STAGE_COLORS = ["#4c6ef5", "#12b886", "#7950f2"]
_CE_COLORS = ["#e8590c", "#f59f00"]


def _fmt(x: object, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)) or x is pd.NA:
        return "–"
    if isinstance(x, float):
        return f"{x:.{digits}g}"
    return str(x)


def _base_layout(
    fig: go.Figure, height: int, title: str | None = None, legend_below: bool = False
) -> go.Figure:
    legend = (
        {"orientation": "h", "yanchor": "top", "y": -0.2, "x": 0}
        if legend_below
        else {"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0}
    )
    fig.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 60 if title else 30, "b": 10},
        font=_FONT,
        hoverlabel={"align": "left"},
        legend=legend,
    )
    if title:
        fig.update_layout(title={"text": escape_plotly(title), "x": 0, "font": {"size": 15}})
    return fig


def rank_shift_chart(
    shifts: pd.DataFrame,
    n: int,
    first_label: str,
    reranked_label: str,
    depth: int | None = None,
) -> go.Figure:
    """A slope chart: one line per document from its first-stage rank to its reranked rank.

    Args:
        shifts: :func:`rankshift.views.shift_frame`.
        n: the top-N cut, drawn as a dashed line.
        first_label: name of the first stage (left axis).
        reranked_label: name of the reranked list (right axis).
        depth: draw documents ranked within this depth on either side (default: all).

    Lines are coloured by status (up, down, promoted into the top-N, dropped from it,
    unchanged). A document missing from one list ends on a "not in list" row at the bottom.
    """
    frame = shifts
    if depth is not None and not frame.empty:
        first = frame["first_rank"].fillna(10**9)
        after = frame["reranked_rank"].fillna(10**9)
        frame = frame[(first <= depth) | (after <= depth)]
    ranks = pd.concat([frame["first_rank"], frame["reranked_rank"]]).dropna()
    deepest = int(ranks.max()) if not ranks.empty else n
    missing_y = deepest + 2
    fig = go.Figure()
    for status in _STATUS_ORDER:
        part = frame[frame["status"] == status]
        if part.empty:
            continue
        xs: list[float | None] = []
        ys: list[float | None] = []
        hover: list[str | None] = []
        for row in part.itertuples(index=False):
            fr = missing_y if pd.isna(row.first_rank) else int(row.first_rank)
            rr = missing_y if pd.isna(row.reranked_rank) else int(row.reranked_rank)
            text = (
                f"<b>{escape_plotly(shorten(str(row.title), 70))}</b><br>"
                f"doc {escape_plotly(str(row.doc_id))}<br>"
                f"{escape_plotly(first_label)}: rank {_fmt(row.first_rank)}, "
                f"score {_fmt(row.first_score)}<br>"
                f"reranked: rank {_fmt(row.reranked_rank)}, CE score {_fmt(row.ce_score)}<br>"
                f"{escape_plotly(str(row.marker))}"
                + (f"<br>grade {row.grade}" if not pd.isna(row.grade) else "")
            )
            xs += [0, 1, None]
            ys += [fr, rr, None]
            hover += [text, text, None]
        emphasis = status in ("new", "dropped")
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines+markers",
                name=f"{STATUS_LABELS[status]} ({len(part)})",
                line={
                    "color": STATUS_COLORS[status],
                    "width": 3 if emphasis else 1.8,
                    "dash": "dot" if status == "dropped" else "solid",
                },
                marker={"size": 7, "color": STATUS_COLORS[status]},
                opacity=0.55 if status == "same" else 0.95,
                hovertext=hover,
                hoverinfo="text",
            )
        )
    fig.add_hline(
        y=n + 0.5,
        line={"color": "#495057", "dash": "dash", "width": 1},
        annotation_text=f"top-{n} cut",
        annotation_position="bottom right",
        annotation_x=0.5,
        annotation_xanchor="center",
        annotation_font={"size": 11, "color": "#495057"},
        annotation_bgcolor="rgba(255,255,255,0.85)",
    )
    tickvals = list(range(1, deepest + 1))
    if deepest > 30:
        tickvals = [1, *range(5, deepest + 1, 5)]
    ticktext = [str(v) for v in tickvals]
    if not frame.empty and frame[["first_rank", "reranked_rank"]].isna().any().any():
        tickvals.append(missing_y)
        ticktext.append("not in list")
    fig.update_yaxes(
        autorange="reversed",
        tickvals=tickvals,
        ticktext=ticktext,
        title="rank",
        zeroline=False,
        showgrid=True,
        gridcolor="#f1f3f5",
    )
    fig.update_xaxes(
        tickvals=[0, 1],
        ticktext=[escape_plotly(first_label), escape_plotly(reranked_label)],
        range=[-0.08, 1.08],
        showgrid=False,
        zeroline=False,
        side="top",
        tickfont={"size": 13, "color": "#1f2430"},
    )
    height = int(min(900, max(380, 20 * (missing_y + 1))))
    fig = _base_layout(fig, height, legend_below=True)
    fig.update_layout(margin={"l": 10, "r": 30, "t": 40, "b": 10})
    return fig


def score_distributions(scores: pd.DataFrame, nbins: int = 20) -> go.Figure:
    """Histograms of each stage's scores over its K candidates, and of the cross-encoder's.

    Args:
        scores: :func:`rankshift.views.score_frame` (``stage``, ``name``, ``key``, ``score``).

    Each stage gets its own panel and x-axis, because BM25, cosine and RRF scores and
    cross-encoder logits live on unrelated scales.
    """
    first = [s for s in dict.fromkeys(scores["stage"]) if not s.startswith("Cross-encoder")]
    ce = [s for s in dict.fromkeys(scores["stage"]) if s.startswith("Cross-encoder")]
    cols = max(len(first), len(ce), 1)
    rows = 1 + bool(ce) if first else 1
    layout = [first, ce] if first and ce else [first or ce]
    names = {}
    if "name" in scores:
        names = dict(zip(scores["stage"], scores["name"], strict=False))
    titles = []
    for row in layout:
        for i in range(cols):
            if i < len(row):
                sub = names.get(row[i], "")
                titles.append(
                    f"{escape_plotly(row[i])}"
                    + (f"<br><sup>{escape_plotly(str(sub))}</sup>" if sub else "")
                )
            else:
                titles.append("")
    fig = make_subplots(
        rows=len(layout),
        cols=cols,
        subplot_titles=titles,
        vertical_spacing=0.3 if len(layout) > 1 else 0.1,
        horizontal_spacing=0.08,
    )
    for r, row in enumerate(layout, start=1):
        palette = _CE_COLORS if row is ce else _STAGE_COLORS
        for c, stage in enumerate(row, start=1):
            values = scores.loc[scores["stage"] == stage, "score"]
            fig.add_trace(
                go.Histogram(
                    x=values,
                    nbinsx=nbins,
                    name=stage,
                    marker={"color": palette[(c - 1) % len(palette)]},
                    showlegend=False,
                    hovertemplate="score %{x}<br>%{y} documents<extra></extra>",
                ),
                row=r,
                col=c,
            )
    for ann in fig.layout.annotations:
        ann.font = {"size": 12}
        ann.yshift = 8
    fig.update_yaxes(title_text="docs", row=1, col=1)
    if rows > 1:
        fig.update_yaxes(title_text="docs", row=2, col=1)
    fig = _base_layout(fig, 290 * len(layout))
    fig.update_layout(margin={"l": 10, "r": 10, "t": 60, "b": 10})
    return fig


def score_scatter(
    pairs: pd.DataFrame,
    first_label: str,
    tau: float | None = None,
) -> go.Figure:
    """First-stage score (x) against cross-encoder score (y), one point per candidate.

    Args:
        pairs: :func:`rankshift.views.pair_frame`.
        first_label: the first stage's name, for the x-axis.
        tau: Kendall's tau between the two orders, shown in the title.
    """
    fig = go.Figure()
    for status in _STATUS_ORDER:
        part = pairs[pairs["status"] == status]
        if part.empty:
            continue
        hover = [
            f"<b>{escape_plotly(shorten(str(r.title), 70))}</b><br>doc {escape_plotly(str(r.doc_id))}"
            f"<br>{escape_plotly(first_label)}: rank {_fmt(r.first_rank)}, score {_fmt(r.first_score)}"
            f"<br>reranked: rank {_fmt(r.reranked_rank)}, CE {_fmt(r.ce_score)} "
            f"(p = {_fmt(r.probability, 3)})" + ("<br>input truncated" if r.truncated else "")
            for r in part.itertuples(index=False)
        ]
        fig.add_trace(
            go.Scatter(
                x=part["first_score"],
                y=part["ce_score"],
                mode="markers",
                name=STATUS_LABELS[status],
                marker={
                    "color": STATUS_COLORS[status],
                    "size": 9,
                    "symbol": ["diamond" if t else "circle" for t in part["truncated"]],
                    "line": {"width": 0.5, "color": "white"},
                },
                hovertext=hover,
                hoverinfo="text",
            )
        )
    x_title = f"{first_label} score"
    if tau is not None:
        x_title += f"  (Kendall's τ = {tau:.2f})"
    fig.update_xaxes(title_text=escape_plotly(x_title), zeroline=False)
    fig.update_yaxes(title_text="cross-encoder score (raw)", zeroline=False)
    return _base_layout(fig, 420, legend_below=True)


def latency_chart(latency: pd.DataFrame) -> go.Figure:
    """Horizontal bars of :func:`rankshift.views.latency_frame` (per-pair time left out)."""
    frame = latency[latency["step"] != "per scored pair"]
    colors = [
        "#e8590c" if s == "rerank" else "#495057" if s == "total" else "#4c6ef5"
        for s in frame["step"]
    ]
    fig = go.Figure(
        go.Bar(
            x=frame["ms"],
            y=frame["step"],
            orientation="h",
            marker={"color": colors},
            text=[f"{ms:,.0f} ms" if ms >= 10 else f"{ms:.1f} ms" for ms in frame["ms"]],
            textposition="auto",
            hovertemplate="%{y}: %{x:,.1f} ms<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title_text="milliseconds")
    return _base_layout(fig, 60 + 34 * len(frame))
