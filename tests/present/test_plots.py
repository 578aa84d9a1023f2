"""rankshift.present.plots: figures from the view frames; corpus text never reaches plotly unescaped."""

from __future__ import annotations

import pandas as pd
from test_inspect_frames import _result  # the hand-built five-document result

from rankshift import present as views
from rankshift.corpus import collection_from_documents
from rankshift.present import plots
from rankshift.types import Document

COLLECTION = collection_from_documents(
    [
        Document("a", "alpha", title="<script>alert(1)</script>"),
        Document("b", "beta", title="Beta"),
        Document("c", "gamma", title="Gamma"),
        Document("d", "delta", title="Delta"),
        Document("e", "epsilon", title="Epsilon"),
    ]
)


def test_rank_shift_chart_lines_colours_and_cut() -> None:
    shifts = views.shift_frame(_result(), "bm25", COLLECTION)
    fig = plots.rank_shift_chart(shifts, n=2, first_label="BM25", reranked_label="Reranked")
    by_status = {t.name.split(" (")[0]: t for t in fig.data}
    # c was promoted (new), b dropped, a moved down, d/e moved.
    assert by_status["promoted into top-N"].line.color == views.STATUS_COLORS["new"]
    assert by_status["dropped from top-N"].line.dash == "dot"
    # Each document is one segment: (first rank, reranked rank, gap).
    promoted = by_status["promoted into top-N"]
    assert list(promoted.x) == [0, 1, None] and list(promoted.y) == [3, 1, None]
    assert fig.layout.yaxis.autorange == "reversed"
    assert fig.layout.shapes[0].y0 == 2.5  # the top-N cut between rank 2 and 3
    hover = " ".join(h for t in fig.data for h in t.hovertext if h)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in hover
    assert "<script>" not in hover


def test_rank_shift_chart_puts_missing_documents_at_the_bottom() -> None:
    shifts = views.shift_frame(_result(), "dense", COLLECTION)
    shifts.loc[0, "reranked_rank"] = pd.NA
    fig = plots.rank_shift_chart(shifts, n=2, first_label="Dense", reranked_label="Reranked")
    assert "not in list" in fig.layout.yaxis.ticktext


def test_rank_shift_chart_depth_limits_lines() -> None:
    shifts = views.shift_frame(_result(), "bm25", COLLECTION)
    fig = plots.rank_shift_chart(shifts, 2, "BM25", "Reranked", depth=1)
    drawn = sum(len([x for x in t.x if x is not None]) // 2 for t in fig.data)
    assert drawn == 2  # a (BM25 #1) and c (reranked #1)


def test_score_distributions_one_panel_per_stage() -> None:
    fig = plots.score_distributions(views.score_frame(_result()))
    assert [t.name for t in fig.data] == [
        "BM25",
        "Dense",
        "Cross-encoder (raw)",
        "Cross-encoder (probability)",
    ]
    assert all(t.type == "histogram" for t in fig.data)


def test_score_scatter_and_latency() -> None:
    pairs = views.pair_frame(_result(), "bm25", COLLECTION)
    fig = plots.score_scatter(pairs, "BM25", tau=0.2)
    assert sum(len(t.x) for t in fig.data) == 5
    assert "τ = 0.20" in fig.layout.xaxis.title.text
    latency = plots.latency_chart(views.latency_frame(_result()))
    assert list(latency.data[0].y) == [
        "BM25",
        "Dense",
        "retrieve (all first stages)",
        "rerank",
        "total",
    ]
