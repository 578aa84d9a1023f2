"""The Evaluate page's frames and figures, and the library calls it makes, on a hand-built batch.

Three queries, N = 1, each first stage's list reordered by a "cross-encoder":

* ``qa``: a b c -> b a c; b (grade 2) is promoted into the top-1: helped.
* ``qb``: d e f -> f e d; d (grade 1) is demoted from #1 to #3: hurt.
* ``qc``: g h -> g h; z (grade 2) was never retrieved: no change, and a recall gap.
"""

from __future__ import annotations

import math

import pytest

from rankshift import present as views
from rankshift.corpus import collection_from_documents
from rankshift.evaluation import (
    BatchResult,
    BatchRun,
    Tradeoff,
    TradeoffPoint,
    batch_settings,
    build_report,
    parse_pipelines,
    runnable_specs,
    select_queries,
    stored_qrels,
)
from rankshift.evaluation.metrics import evaluate, rank_scored
from rankshift.pipeline import PipelineSettings
from rankshift.present import plots
from rankshift.types import Document, Query, ScoredDoc

FIRST = {"qa": "abc", "qb": "def", "qc": "gh"}
RERANKED = {"qa": "bac", "qb": "fed", "qc": "gh"}
CE_SCORES = [2.0, 0.5, -1.5]
QRELS = {"qa": {"b": 2, "a": 0}, "qb": {"d": 1, "e": 0}, "qc": {"g": 1, "z": 2}}
TEXTS = {"qa": "alpha <script>x</script>", "qb": "beta", "qc": "gamma"}


def _rankings(orders: dict[str, str], scores: list[float]) -> dict[str, list[ScoredDoc]]:
    return {
        q: [ScoredDoc(d, i, scores[i - 1]) for i, d in enumerate(order, 1)]
        for q, order in orders.items()
    }


@pytest.fixture
def collection():
    docs = [Document(d, f"text {d}", title=d.upper()) for d in "abcdefghz"]
    return collection_from_documents(
        docs,
        queries={q: Query(q, t) for q, t in TEXTS.items()},
        qrels={"test": QRELS},
    )


@pytest.fixture
def report():
    ids = tuple(FIRST)
    ok = {"status": "ok", "message": "", "ms": 10.0, "scored_pairs": 3, "cached_pairs": 0}
    first = BatchRun(
        "bm25", "bm25(x)", None, _rankings(FIRST, [3.0, 2.0, 1.0]), dict.fromkeys(ids, 1.0)
    )
    reranked = BatchRun(
        "bm25>ce",
        "bm25(x)>ce(m,len=256,k=3)",
        "bm25",
        _rankings(RERANKED, CE_SCORES),
        dict.fromkeys(ids, 11.0),
        rerank={q: dict(ok) for q in ids},
    )
    result = BatchResult(
        collection="fp",
        query_ids=ids,
        runs={"bm25": first, "bm25>ce": reranked},
        skipped={"dense>ce": "no reranker"},
        settings={"k": 3, "n": 1},
        computed_queries=3,
        resumed_queries=0,
    )
    return build_report(result, QRELS, n_resamples=200)


def test_metrics_frame_holds_the_library_means(report) -> None:
    frame = views.eval_metrics_frame(report)
    assert frame["pipeline"].tolist() == ["BM25", "BM25 + cross-encoder"]
    assert list(frame.columns[2:7]) == ["nDCG@10", "MRR@10", "Recall@100", "P@10", "Judged@10"]
    for spec, orders in (("bm25", FIRST), ("bm25>ce", RERANKED)):
        expected = evaluate(QRELS, rank_scored(orders_as_ids(orders)), ["nDCG@10"]).mean
        row = frame[frame["spec"] == spec].iloc[0]
        assert row["nDCG@10"] == pytest.approx(expected["nDCG@10"])
    assert math.isnan(frame.loc[0, "rerank ms/query"])
    assert frame.loc[1, "rerank ms/query"] == 10.0


def orders_as_ids(orders: dict[str, str]) -> dict[str, list[str]]:
    return {q: list(o) for q, o in orders.items()}


def test_paired_test_frame(report) -> None:
    comp = report.comparisons[0]
    frame = views.paired_test_frame(comp)
    ndcg = frame.set_index("measure").loc["nDCG@10"]
    assert ndcg["delta"] == pytest.approx(ndcg["reranked"] - ndcg["first"])
    assert ndcg["ci_low"] <= ndcg["delta"] <= ndcg["ci_high"]
    assert 0 <= ndcg["p"] <= 1


def test_helped_hurt_frame_and_chart(report, collection) -> None:
    comp = report.comparisons[0]
    frame = views.helped_hurt_frame(comp, collection)
    assert frame["query_id"].tolist() == ["qa", "qc", "qb"]  # best gain first
    assert frame["verdict"].tolist() == ["helped", "no change", "hurt"]
    fig = plots.helped_hurt_chart(frame, "BM25", "BM25 + cross-encoder")
    by_name = {t.name.split(" (")[0]: t for t in fig.data}
    assert by_name["helped"].marker.color == views.VERDICT_COLORS["helped"]
    assert by_name["hurt"].marker.color == views.VERDICT_COLORS["hurt"]
    # Every bar names its query, so a click on it says which query to open.
    assert list(by_name["hurt"].customdata) == ["qb"]
    assert list(by_name["hurt"].y) == [pytest.approx(frame.loc[2, "delta"])]
    assert by_name["no change"].y[0] > 0  # a visible, clickable stub
    assert list(fig.layout.xaxis.categoryarray) == ["qa", "qc", "qb"]
    hover = " ".join(h for t in fig.data for h in t.hovertext)
    assert "&lt;script&gt;" in hover and "<script>" not in hover


def test_verdict_frame_separates_demotions_from_the_recall_gap(report, collection) -> None:
    frame = views.verdict_frame(report.comparisons[0], collection).set_index("query_id")
    assert frame.index.tolist() == ["qb", "qc", "qa"]  # worst first
    assert frame.loc["qb", "demoted"] == "d (grade 1, #1 → #3)"
    assert frame.loc["qa", "promoted"] == "b (grade 2, #2 → #1)"
    assert frame.loc["qc", "recall_gap"] == "z (grade 2)"
    assert frame.loc["qc", "demoted"] == ""
    assert frame.loc["qc", ["n_demoted", "n_promoted", "n_recall_gap"]].tolist() == [0, 0, 1]
    counts = views.verdict_counts(report.comparisons[0])
    assert counts["helped"] == counts["hurt"] == counts["no change"] == 1
    assert (counts["demoted_docs"], counts["promoted_docs"], counts["gap_docs"]) == (1, 1, 1)


def test_calibration_figures(report) -> None:
    cal = report.comparisons[0].calibration
    pairs, reliability = views.calibration_frames(cal)
    assert sorted(pairs["grade"].unique()) == [0, 1, 2]
    box = plots.calibration_box(pairs, threshold=cal.best_threshold["probability"])
    assert [t.type for t in box.data] == ["box"] * 3
    assert [t.name.split(" (")[0] for t in box.data] == ["grade 0", "grade 1", "grade 2"]
    assert box.layout.shapes[0].y0 == cal.best_threshold["probability"]
    curve = plots.reliability_curve(reliability)
    assert list(curve.data[0].x) == [0, 1]  # the diagonal
    assert len(curve.data[1].x) == len(reliability)
    caption = views.threshold_caption(cal)
    assert "precision" in caption and "recall" in caption


def test_tradeoff_chart_has_two_y_axes() -> None:
    trade = Tradeoff(
        "bm25(x)",
        "ce(m,len=256)",
        0.5,
        [TradeoffPoint(10, 0.6, 100.0, 110.0, 10.0), TradeoffPoint(20, 0.65, None, None, 18.0)],
        n_queries=5,
        latency_queries=2,
    )
    frame = views.tradeoff_frame(trade)
    assert frame["k"].tolist() == [10, 20]
    assert math.isnan(frame.loc[1, "rerank_ms_median"])
    fig = plots.tradeoff_chart(frame, trade.first_stage_ndcg10, title="bm25 > ce")
    axes = {t.name: t.yaxis for t in fig.data}
    assert axes["rerank ms / query (median, cold)"] == "y2"
    assert axes["nDCG@10 reranked"] == "y"
    assert list(fig.data[2].y) == [0.5, 0.5]


def test_pipeline_labels_and_cost() -> None:
    assert views.pipeline_label("bm25>ce") == "BM25 + cross-encoder"
    assert views.pipeline_label("hybrid(minmax,w=0.3)") == "Hybrid (minmax,w=0.3)"
    assert "no cross-encoder cost" in views.eval_cost(5, 0, 30)
    assert "150 cross-encoder pairs" in views.eval_cost(5, 1, 30)
    assert "on bf16" in views.eval_cost(5, 1, 30, reranker="bf16:x")
    assert "service, at its own speed" in views.eval_cost(5, 1, 30, reranker="tei:http://h:1")


def test_batch_settings_and_runnable_specs() -> None:
    s = batch_settings(PipelineSettings(k=20, n=5), "bm25,hybrid>ce")
    assert s.first_stages == ("bm25", "dense") and s.reranker is not None and s.k == 20
    assert batch_settings(PipelineSettings(), "dense").reranker is None
    ok, skipped = runnable_specs("bm25,dense,hybrid>ce", {"bm25": object()})
    assert [str(x) for x in ok] == ["bm25"]
    assert set(skipped) == {"dense", "hybrid>ce"}
    assert "dense retriever is not available" in skipped["hybrid>ce"]
    assert parse_pipelines([*ok]) == ok


def test_select_queries(collection) -> None:
    qrels = {**QRELS, "nope": {"a": 1}}
    queries, missing = select_queries(collection, qrels)
    assert list(queries) == ["qa", "qb", "qc"] and missing == ["nope"]
    assert list(select_queries(collection, qrels, ["qc", "qa", "unjudged"])[0]) == ["qc", "qa"]
    assert list(select_queries(collection, qrels, limit=2)[0]) == ["qa", "qb"]


def test_stored_qrels_never_creates_a_database(tmp_path) -> None:
    path = tmp_path / "judgments.sqlite"
    assert stored_qrels(path, "fp") == {}
    assert not path.exists()


def test_stored_qrels_combines_annotators(tmp_path) -> None:
    from rankshift.judgments import JudgmentStore

    path = tmp_path / "judgments.sqlite"
    with JudgmentStore(path) as store:
        store.save("fp", "qa", "b", "alice", 3)
        store.save("fp", "qa", "b", "bob", 1)
        store.save("other", "qa", "a", "alice", 2)
    assert stored_qrels(path, "fp", "max") == {"qa": {"b": 3}}
    assert stored_qrels(path, "fp", "min") == {"qa": {"b": 1}}
