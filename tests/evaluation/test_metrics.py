"""Metrics: hand-computed values, trec_eval conventions, and parity with pytrec_eval."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest
import pytrec_eval

from rankshift.evaluation.metrics import (
    DEFAULT_MEASURES,
    MEASURES,
    REL_THRESHOLD,
    evaluate,
    rank_scored,
)
from rankshift.types import ScoredDoc

ROOT = Path(__file__).resolve().parents[2]


def log2(x: float) -> float:
    return math.log(x, 2)


def pytrec_reference(qrels, run):
    """The five measures computed independently: pytrec_eval (trec_eval 9) and by hand."""
    ev = pytrec_eval.RelevanceEvaluator(
        qrels, {"ndcg_cut.10", "P.10", "recall.100"}, relevance_level=REL_THRESHOLD
    )
    main = ev.evaluate(run)
    # RR@10 is trec_eval's recip_rank over the top 10 of the run.
    top10 = {q: dict(sorted(d.items(), key=lambda x: (-x[1], x[0]))[:10]) for q, d in run.items()}
    rr = pytrec_eval.RelevanceEvaluator(
        qrels, {"recip_rank"}, relevance_level=REL_THRESHOLD
    ).evaluate(top10)
    out = {}
    for q in qrels:
        if q not in main:  # trec_eval -c: a judged query the run has nothing for scores 0
            out[q] = dict.fromkeys(DEFAULT_MEASURES, 0.0)
            continue
        top = list(top10[q])
        out[q] = {
            "nDCG@10": main[q]["ndcg_cut_10"],
            "MRR@10": rr[q]["recip_rank"],
            "Recall@100": main[q]["recall_100"],
            "P@10": main[q]["P_10"],
            "Judged@10": sum(d in qrels[q] for d in top) / len(top),
        }
    return out


def assert_parity(qrels, run):
    ours = evaluate(qrels, run)
    ref = pytrec_reference(qrels, run)
    assert list(ours.query_ids) == list(qrels)
    for q in qrels:
        for m in DEFAULT_MEASURES:
            assert ours.per_query.at[q, m] == pytest.approx(ref[q][m], abs=1e-6), (q, m)
    for m in DEFAULT_MEASURES:
        mean = sum(ref[q][m] for q in qrels) / len(qrels)
        assert ours.mean[m] == pytest.approx(mean, abs=1e-6), m


def test_graded_case_matches_the_formulas():
    qrels = {"q1": {"a": 3, "b": 0, "c": 1}}
    run = rank_scored({"q1": ["b", "a", "d", "c"]})
    ev = evaluate(qrels, run)
    row = ev.per_query.loc["q1"]
    dcg = 3 / log2(3) + 1 / log2(5)  # a at rank 2 (gain 3), c at rank 4 (gain 1)
    idcg = 3 / log2(2) + 1 / log2(3)
    assert row["nDCG@10"] == pytest.approx(dcg / idcg, abs=1e-9)
    assert row["MRR@10"] == pytest.approx(1 / 2)
    assert row["P@10"] == pytest.approx(2 / 10)
    assert row["Recall@100"] == pytest.approx(2 / 2)
    assert row["Judged@10"] == pytest.approx(3 / 4)  # d is unjudged; 4 retrieved
    assert ev.no_relevant == ()


def test_grades_are_gains_not_flattened():
    """Swapping a grade-3 and a grade-1 document changes nDCG but not the binary measures."""
    qrels = {"q": {"hi": 3, "lo": 1}}
    good = evaluate(qrels, rank_scored({"q": ["hi", "lo"]})).per_query.loc["q"]
    bad = evaluate(qrels, rank_scored({"q": ["lo", "hi"]})).per_query.loc["q"]
    assert good["nDCG@10"] == pytest.approx(1.0)
    assert bad["nDCG@10"] == pytest.approx((1 + 3 / log2(3)) / (3 + 1 / log2(3)))
    for m in ("MRR@10", "P@10", "Recall@100"):
        assert good[m] == bad[m]


def test_query_without_relevant_documents_is_counted_as_zero():
    qrels = {"q1": {"a": 1}, "q2": {"x": 0, "y": 0}}
    run = rank_scored({"q1": ["a"], "q2": ["x", "y"]})
    ev = evaluate(qrels, run)
    assert ev.no_relevant == ("q2",)
    q2 = ev.per_query.loc["q2"]
    assert [q2[m] for m in ("nDCG@10", "MRR@10", "P@10", "Recall@100")] == [0, 0, 0, 0]
    assert q2["Judged@10"] == 1.0
    assert ev.mean["nDCG@10"] == pytest.approx((1.0 + 0.0) / 2)  # in the mean, like trec_eval
    assert_parity(qrels, run)


def test_missing_and_empty_run_queries_score_zero_and_unjudged_queries_are_left_out():
    qrels = {"q1": {"a": 2}, "q2": {"b": 1}, "q3": {"c": 1}}
    run = {"q1": {"a": 1.0}, "q3": {}, "q9": {"z": 1.0}}
    ev = evaluate(qrels, run, query_ids=["q1", "q2", "q3", "q9"])
    assert ev.query_ids == ("q1", "q2", "q3")
    assert ev.unjudged == ("q9",)
    assert ev.per_query.loc["q2"].tolist() == [0.0] * len(DEFAULT_MEASURES)
    assert ev.per_query.loc["q3"].tolist() == [0.0] * len(DEFAULT_MEASURES)
    assert ev.mean["nDCG@10"] == pytest.approx(1 / 3)


def test_rank_scored_measures_the_order_shown_not_trec_eval_tie_breaking():
    qrels = {"q": {"b": 1}}
    tied = {"q": [ScoredDoc("a", 1, 5.0), ScoredDoc("b", 2, 5.0)]}
    # trec_eval breaks the tie on doc id descending, putting b first; the user saw a first.
    raw = {"q": {"a": 5.0, "b": 5.0}}
    assert evaluate(qrels, raw).per_query.at["q", "nDCG@10"] == pytest.approx(1.0)
    shown = evaluate(qrels, rank_scored(tied)).per_query.loc["q"]
    assert shown["nDCG@10"] == pytest.approx(1 / log2(3))
    assert shown["MRR@10"] == 0.5


def test_custom_ir_measures_names_pass_through():
    qrels = {"q": {"a": 1, "b": 1}}
    ev = evaluate(qrels, rank_scored({"q": ["a", "x", "b"]}), measures=["nDCG@10", "AP"])
    assert ev.per_query.at["q", "AP"] == pytest.approx((1 + 2 / 3) / 2)
    assert MEASURES["MRR@10"] == "RR(rel=1)@10"


def test_parity_with_pytrec_eval_on_random_graded_cases():
    rng = random.Random(7)
    docs = [f"d{i}" for i in range(40)]
    qrels, rankings = {}, {}
    for i in range(30):
        judged = rng.sample(docs, rng.randint(1, 15))
        # Some queries get only grade-0 judgments (no relevant document at all).
        top = 0 if i % 7 == 0 else 3
        qrels[f"q{i}"] = {d: rng.randint(0, top) for d in judged}
        if i % 11 != 5:  # a few judged queries are missing from the run
            rankings[f"q{i}"] = rng.sample(docs, rng.randint(1, 25))
    rankings["unjudged"] = docs[:5]
    assert_parity(qrels, rank_scored(rankings))


def test_parity_on_a_bm25_run_over_the_fixture_collection(tmp_path):
    from eval_fixtures import load_pets

    from rankshift.evaluation import BatchRunner
    from rankshift.pipeline import PipelineSettings

    coll = load_pets(tmp_path / "pets")
    runner = BatchRunner.from_settings(
        coll, "bm25", PipelineSettings(k=10, reranker=None), cache_dir=tmp_path / "cache"
    )
    qrels = coll.qrels["test"]
    result = runner.run(coll.queries_for("test"))
    assert_parity(qrels, result.runs["bm25"].ranked_run)


def test_parity_on_a_bm25_run_over_the_demo_collection(tmp_path):
    from rankshift.corpus import load_collection
    from rankshift.evaluation import BatchRunner
    from rankshift.pipeline import PipelineSettings

    coll = load_collection(ROOT / "data" / "demo")  # tracked in git: always there
    assert "test" in coll.qrels, "data/demo ships qrels/test.tsv"
    split = "test"
    qrels = coll.qrels[split]
    queries = coll.queries_for(split)
    runner = BatchRunner.from_settings(
        coll, "bm25", PipelineSettings(k=100, reranker=None), cache_dir=tmp_path / "cache"
    )
    run = runner.run(queries).runs["bm25"].ranked_run
    assert_parity({q: qrels[q] for q in queries}, run)
