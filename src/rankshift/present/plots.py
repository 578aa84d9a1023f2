"""Plotly figure builders: tidy frames in (see :mod:`rankshift.present`), ``go.Figure`` out.

Nothing here renders. Every string that comes from a document (titles, ids) goes through
:func:`~rankshift.present.escape_plotly`, because plotly labels and hover text accept a subset
of HTML.
"""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from rankshift.present.evaluate import VERDICT_COLORS
from rankshift.present.rankings import STATUS_COLORS, STATUS_LABELS
from rankshift.present.text import escape_plotly, shorten

_FONT = {"family": "Source Sans Pro, sans-serif", "size": 13}
_STATUS_ORDER = ["up", "down", "new", "dropped", "same", "below", "not_candidate"]
_STAGE_COLORS = ["#4c6ef5", "#12b886", "#7950f2"]
_CE_COLORS = ["#e8590c", "#f59f00"]
_GRADE_COLORS = ["#868e96", "#74c0fc", "#4c6ef5", "#2f9e44", "#087f5b"]


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
        shifts: :func:`rankshift.present.shift_frame`.
        n: the top-N cut, drawn as a dashed line.
        first_label: name of the first stage (left axis).
        reranked_label: name of the reranked list (right axis).
        depth: draw documents ranked within this depth on either side (default: all).

    Lines are coloured by status (up, down, promoted into the top-N, dropped from it,
    unchanged, below the cut in both, not a candidate of the reranker). A document missing from
    one list ends on a "not in list" row at the bottom.
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
                f"reranked: rank {_fmt(row.reranked_rank)}, cross-encoder score "
                f"{_fmt(row.ce_score)}"
                + (
                    f", blended score {_fmt(row.blended_score)}"
                    if "blended_score" in frame and not pd.isna(row.blended_score)
                    else ""
                )
                + "<br>"
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
                    "dash": "dot" if status in ("dropped", "not_candidate") else "solid",
                },
                marker={"size": 7, "color": STATUS_COLORS[status]},
                opacity=0.55 if status in ("same", "below") else 0.95,
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
        scores: :func:`rankshift.present.score_frame` (``stage``, ``name``, ``key``, ``score``).

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
        pairs: :func:`rankshift.present.pair_frame`.
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
    """Horizontal bars of :func:`rankshift.present.latency_frame` (per-pair time left out)."""
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


# --------------------------------------------------------------------------------------
# Evaluation figures (the Evaluate page)


def helped_hurt_chart(frame: pd.DataFrame, first_label: str, reranked_label: str) -> go.Figure:
    """Sorted bars of ΔnDCG@10 per query, coloured helped / hurt / no change.

    Args:
        frame: :func:`rankshift.present.helped_hurt_frame` (best gain first).
        first_label: the first stage's name.
        reranked_label: the reranked pipeline's name.

    The x-axis holds the query ids in the frame's order and every bar carries its query id as
    ``customdata``, so a selection event names the query. A query with no change gets a thin
    grey stub, so it can still be seen and clicked.
    """
    order = frame["query_id"].astype(str).tolist()
    span = float(frame["delta"].abs().max()) if not frame.empty else 0.0
    stub = max(span, 0.05) * 0.02
    fig = go.Figure()
    for verdict in ("helped", "hurt", "no change"):
        part = frame[frame["verdict"] == verdict]
        if part.empty:
            continue
        hover = [
            f"<b>{escape_plotly(str(r.query_id))}</b>: {escape_plotly(shorten(str(r.query), 80))}"
            f"<br>nDCG@10 {r.first:.3f} → {r.reranked:.3f} (Δ {r.delta:+.3f})"
            "<br><i>click to open in the inspector</i>"
            for r in part.itertuples(index=False)
        ]
        ids = part["query_id"].astype(str).tolist()
        y = part["delta"].tolist() if verdict != "no change" else [stub] * len(part)
        fig.add_trace(
            go.Bar(
                x=ids,
                y=y,
                name=f"{verdict} ({len(part)})",
                marker={"color": VERDICT_COLORS[verdict]},
                customdata=ids,
                hovertext=hover,
                hoverinfo="text",
            )
        )
    fig.update_xaxes(
        type="category",
        categoryorder="array",
        categoryarray=order,
        title_text=f"queries, sorted by ΔnDCG@10 ({len(order)})",
        showticklabels=len(order) <= 40,
    )
    fig.update_yaxes(
        title_text=escape_plotly(f"ΔnDCG@10: {reranked_label} − {first_label}"),
        zeroline=True,
        zerolinecolor="#495057",
    )
    fig = _base_layout(fig, 360)
    # No clickmode/dragmode here: Streamlit sets them for on_select (a dragmode of "select"
    # would turn click-to-select off).
    fig.update_layout(bargap=0.15)
    return fig


def calibration_box(pairs: pd.DataFrame, threshold: float | None = None) -> go.Figure:
    """The cross-encoder's probability (sigmoid of its score) per judged grade, as box plots.

    Args:
        pairs: the ``pairs`` frame of :func:`rankshift.present.calibration_frames`.
        threshold: the best-F1 probability threshold, drawn as a dashed line.

    A useful reranker's boxes climb with the grade; boxes at one height mean the scores do not
    separate relevant from non-relevant documents.
    """
    fig = go.Figure()
    grades = sorted(pairs["grade"].unique()) if not pairs.empty else []
    for i, grade in enumerate(grades):
        part = pairs[pairs["grade"] == grade]
        fig.add_trace(
            go.Box(
                y=part["probability"],
                name=f"grade {grade} ({len(part)})",
                boxpoints="all" if len(part) <= 200 else "outliers",
                jitter=0.4,
                pointpos=0,
                marker={"color": _GRADE_COLORS[min(i, len(_GRADE_COLORS) - 1)], "size": 5},
                hovertext=[
                    f"query {escape_plotly(str(r.query_id))}, doc {escape_plotly(str(r.doc_id))}"
                    f"<br>p = {r.probability:.3f} (score {r.score:.3f})"
                    for r in part.itertuples(index=False)
                ],
                hoverinfo="text+y",
                showlegend=False,
            )
        )
    if threshold is not None:
        fig.add_hline(
            y=threshold,
            line={"color": "#495057", "dash": "dash", "width": 1},
            annotation_text=f"best-F1 threshold {threshold:.3f}",
            annotation_position="top left",
            annotation_font={"size": 11, "color": "#495057"},
        )
    fig.update_yaxes(title_text="cross-encoder probability", range=[-0.02, 1.02])
    fig.update_xaxes(title_text="judged grade")
    return _base_layout(fig, 360)


def reliability_curve(reliability: pd.DataFrame) -> go.Figure:
    """Share of relevant candidates against the mean predicted probability, per bin.

    Args:
        reliability: the ``reliability`` frame of :func:`rankshift.present.calibration_frames`.

    Points on the diagonal are calibrated; marker size grows with the number of candidates
    in the bin.
    """
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=[0, 1],
            y=[0, 1],
            mode="lines",
            name="perfectly calibrated",
            line={"color": "#adb5bd", "dash": "dash", "width": 1},
            hoverinfo="skip",
        )
    )
    if not reliability.empty:
        n = reliability["n"].astype(float)
        fig.add_trace(
            go.Scatter(
                x=reliability["mean_probability"],
                y=reliability["fraction_relevant"],
                mode="lines+markers",
                name="cross-encoder",
                line={"color": _CE_COLORS[0]},
                marker={"size": (6 + 14 * (n / n.max()) ** 0.5).tolist(), "color": _CE_COLORS[0]},
                hovertext=[
                    f"p in [{r.low:.1f}, {r.high:.1f}): {r.n} candidates<br>"
                    f"mean p {r.mean_probability:.3f}, relevant {r.fraction_relevant:.0%}"
                    for r in reliability.itertuples(index=False)
                ],
                hoverinfo="text",
            )
        )
    fig.update_xaxes(title_text="mean predicted probability", range=[0, 1])
    fig.update_yaxes(title_text="share relevant (grade ≥ 1)", range=[0, 1.02])
    return _base_layout(fig, 360, legend_below=True)


def tradeoff_chart(
    frame: pd.DataFrame, first_stage_ndcg10: float | None = None, title: str | None = None
) -> go.Figure:
    """nDCG@10 (left axis) and rerank time (right axis) as the number of reranked candidates K
    varies: one chart, two y-axes.

    Args:
        frame: :func:`rankshift.present.tradeoff_frame`.
        first_stage_ndcg10: the first stage alone, drawn as a dashed line.
        title: e.g. which first stage and reranker.
    """
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(
        go.Bar(
            x=frame["k"],
            y=frame["rerank_ms_median"],
            name="rerank ms / query (median, cold)",
            marker={"color": "#ffd8a8"},
            hovertemplate="K = %{x}: %{y:,.0f} ms per query<extra></extra>",
        ),
        secondary_y=True,
    )
    fig.add_trace(
        go.Scatter(
            x=frame["k"],
            y=frame["ndcg10"],
            mode="lines+markers",
            name="nDCG@10 reranked",
            line={"color": _STAGE_COLORS[0], "width": 3},
            marker={"size": 9},
            hovertemplate="K = %{x}: nDCG@10 %{y:.4f}<extra></extra>",
        ),
        secondary_y=False,
    )
    if first_stage_ndcg10 is not None:
        fig.add_trace(
            go.Scatter(
                x=frame["k"],
                y=[first_stage_ndcg10] * len(frame),
                mode="lines",
                name="nDCG@10 first stage alone",
                line={"color": "#495057", "dash": "dash", "width": 1},
                hovertemplate="first stage: nDCG@10 %{y:.4f}<extra></extra>",
            ),
            secondary_y=False,
        )
    ks = frame["k"].tolist()
    fig.update_xaxes(
        title_text="K (candidates reranked)", type="category", categoryarray=ks, tickvals=ks
    )
    fig.update_yaxes(title_text="nDCG@10", secondary_y=False, rangemode="tozero")
    fig.update_yaxes(
        title_text="rerank ms / query", secondary_y=True, rangemode="tozero", showgrid=False
    )
    return _base_layout(fig, 380, title=title, legend_below=True)
