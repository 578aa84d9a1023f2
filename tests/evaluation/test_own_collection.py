"""Judged ids the collection lacks (counted, named, or with strict an error) and the gain
function (linear nDCG@10, and exponential gains as a measure of its own)."""

from __future__ import annotations

import math
import random
from dataclasses import replace

import pytest
from eval_fixtures import TEST_QRELS, load_pets

from rankshift.corpus import collection_from_documents
from rankshift.evaluation import build_report, evaluate_batch, select_queries
from rankshift.evaluation.metrics import (
    DEFAULT_MEASURES,
    GAIN_NOTE,
    MEASURES,
    QrelsError,
    check_qrels,
    evaluate,
    ir_measure_name,
    no_query_text,
    rank_scored,
)
from rankshift.pipeline import Pipeline, PipelineSettings
from rankshift.retrievers.bm25 import BM25Retriever
from rankshift.types import Document, Query


def log2(x: float) -> float:
    return math.log(x, 2)


# --------------------------------------------------------------------------------------
# Gains


def test_exponential_gains_by_hand():
    qrels = {"q": {"a": 3, "b": 1, "c": 0, "x": 2}}  # x is never retrieved
    run = rank_scored({"q": ["b", "c", "a"]})
    row = evaluate(qrels, run, ["nDCG@10", "nDCG@10(exp)"]).per_query.loc["q"]
    linear = (1 + 3 / log2(4)) / (3 + 2 / log2(3) + 1 / log2(4))
    exp = (1 + 7 / log2(4)) / (7 + 3 / log2(3) + 1 / log2(4))  # gains 2^g - 1
    assert row["nDCG@10"] == pytest.approx(linear, abs=1e-9)
    assert row["nDCG@10(exp)"] == pytest.approx(exp, abs=1e-9)


def test_exponential_gains_match_the_formula_on_random_cases():
    """nDCG@10(exp) against the definition written out here, and nDCG@10 beside it unchanged
    (ir_measures mixes the two up when they are computed in one call)."""
    rng = random.Random(11)
    docs = [f"d{i}" for i in range(30)]
    qrels, rankings = {}, {}
    for i in range(25):
        qrels[f"q{i}"] = {d: rng.randint(0, 3) for d in rng.sample(docs, rng.randint(1, 12))}
        rankings[f"q{i}"] = rng.sample(docs, rng.randint(1, 20))

    def ndcg(q: str, gain) -> float:
        judged = qrels[q]
        dcg = sum(gain(judged.get(d, 0)) / log2(i + 2) for i, d in enumerate(rankings[q][:10]))
        ideal = sorted((gain(g) for g in judged.values()), reverse=True)[:10]
        idcg = sum(g / log2(i + 2) for i, g in enumerate(ideal))
        return dcg / idcg if idcg else 0.0

    ev = evaluate(qrels, rank_scored(rankings), ["nDCG@10", "nDCG@10(exp)"]).per_query
    for q in qrels:
        assert ev.at[q, "nDCG@10(exp)"] == pytest.approx(ndcg(q, lambda g: 2**g - 1), abs=1e-9)
        assert ev.at[q, "nDCG@10"] == pytest.approx(ndcg(q, lambda g: g), abs=1e-9)


def test_binary_grades_give_both_gains_the_same_value():
    # 2^1 - 1 = 1: over grades 0 and 1 the two measures are one measure, and both are filled.
    qrels = {"q": {"a": 1, "b": 0, "c": 1}}
    row = evaluate(qrels, rank_scored({"q": ["b", "a"]}), ["nDCG@10(exp)", "nDCG@10"])
    assert row.per_query.loc["q", "nDCG@10(exp)"] == row.per_query.loc["q", "nDCG@10"] > 0


def test_exp_is_offered_by_name_never_by_default():
    assert "nDCG@10(exp)" in MEASURES and "nDCG@10(exp)" not in DEFAULT_MEASURES
    assert ir_measure_name("nDCG@10(exp)", [3, 1, 0]) == "nDCG(gains={0:0,1:1,3:7})@10"
    assert ir_measure_name("nDCG@10") == "nDCG@10"
    assert "linear gains (gain = grade" in GAIN_NOTE and "2^grade - 1" in GAIN_NOTE


# --------------------------------------------------------------------------------------
# Unknown ids


@pytest.fixture
def collection():
    docs = [Document(f"doc-{i:03d}", f"text {i}") for i in range(1, 6)]
    coll = collection_from_documents(docs, queries={"1": Query("1", "first"), "2": Query("2", "x")})
    return replace(coll, empty_documents=("doc-009",), queries_file="/data/queries.jsonl")


def test_check_counts_and_names_what_the_collection_lacks(collection):
    qrels = {
        "1": {"doc-001": 2, "doc1": 1, "doc2": 0, "doc-009": 3},
        "2": {"doc1": 2},
        "q7": {"doc-002": 1},
    }
    problems = check_qrels(qrels, collection, "split test")
    unknown = problems.unknown_documents
    assert unknown is not None
    assert (unknown.count, unknown.judgments, unknown.relevant) == (2, 3, 2)
    assert unknown.examples == ("doc1", "doc2") and unknown.known == ("doc-001", "doc-002")
    empty = problems.empty_documents
    assert empty is not None and (empty.count, empty.examples, empty.relevant) == (
        1,
        ("doc-009",),
        1,
    )
    queries = problems.unknown_queries
    assert queries is not None and (queries.count, queries.examples) == (1, ("q7",))
    assert problems.messages() == [
        "split test: 2 judged document ids ('doc1', 'doc2') are not in the corpus (corpus ids "
        "look like 'doc-001', 'doc-002'); their 3 judgments (2 relevant) still count, as in "
        "trec_eval, lowering recall and nDCG",
        "split test: 1 judged document ('doc-009') is left out of the corpus as empty; its 1 "
        "judgment (1 relevant) still counts, as in trec_eval, lowering recall and nDCG",
        "split test: 1 judged query id ('q7') has no text in /data/queries.jsonl (query ids "
        "look like '1', '2'); left out of the query set",
    ]
    with pytest.raises(QrelsError) as err:
        problems.raise_if(True)
    assert str(err.value) == "; ".join(problems.messages()) + " (strict mode)"
    problems.raise_if(False)  # a warning only


def test_examples_stop_at_five(collection):
    qrels = {"1": {f"x{i}": 1 for i in range(9)}}
    unknown = check_qrels(qrels, collection).unknown_documents
    assert unknown is not None and unknown.count == 9 and len(unknown.examples) == 5
    assert "('x0', 'x1', 'x2', 'x3', 'x4', ...)" in check_qrels(qrels, collection).messages()[0]


def test_known_ids_are_no_problem(collection):
    problems = check_qrels({"1": {"doc-001": 1}}, collection)
    assert not problems and problems.messages() == []
    assert problems.to_dict()["unknown_documents"] is None


def test_why_no_judged_query_has_a_text(tmp_path, collection):
    assert no_query_text(collection, {"q1": {}, "q2": {}}) == (
        "none of the 2 judged query ids is in /data/queries.jsonl (e.g. 'q1'; its ids look "
        "like '1', '2')"
    )
    folder = replace(collection, queries_file=None, path=str(tmp_path))
    assert no_query_text(folder, {"q1": {}}) == (
        f"none of the 1 judged queries has a text: there is no queries.jsonl in {tmp_path}"
    )
    file = replace(folder, path=str(tmp_path / "corpus.csv"))
    assert no_query_text(file, {"q1": {}}).endswith("no queries file was read")


def test_unknown_ids_lower_the_numbers_as_trec_eval_does(collection):
    # The same ranking, with and without a judged document the corpus lacks: recall halves.
    run = rank_scored({"1": ["doc-001"]})
    known = evaluate({"1": {"doc-001": 1}}, run, ["Recall@100"]).mean["Recall@100"]
    with_unknown = evaluate({"1": {"doc-001": 1, "doc1": 1}}, run, ["Recall@100"])
    assert (known, with_unknown.mean["Recall@100"]) == (1.0, 0.5)


# --------------------------------------------------------------------------------------
# In the report and the batch


@pytest.fixture(scope="module")
def pets_pipeline(tmp_path_factory):
    pets = load_pets(tmp_path_factory.mktemp("pets") / "pets")
    bm25 = BM25Retriever(pets)
    settings = PipelineSettings(
        first_stages=("bm25",), rerank_input="bm25", k=8, n=3, reranker=None
    )
    return Pipeline(pets, settings, {"bm25": bm25})


def test_report_json_has_the_problems_and_the_footer_the_gain(pets_pipeline):
    qrels = {**TEST_QRELS, "t1": {**TEST_QRELS["t1"], "bird9": 2}, "zz": {"cat1": 1}}
    queries = select_queries(pets_pipeline.collection, qrels)[0]
    report, _ = evaluate_batch(
        pets_pipeline,
        "bm25",
        queries,
        qrels,
        qrels_source="qrels extra.tsv",
        n_resamples=100,
        measures=["nDCG@10", "nDCG@10(exp)"],
    )
    data = report.to_dict()
    problems = data["qrels_problems"]
    assert problems["unknown_documents"]["examples"] == ["bird9"]
    assert problems["unknown_documents"]["relevant"] == 1
    assert problems["unknown_queries"]["examples"] == ["zz"]
    assert problems["messages"][0].startswith("qrels extra.tsv: 1 judged document id ('bird9')")
    assert data["measures"] == ["nDCG@10", "nDCG@10(exp)"]
    assert data["collection"]["empty_documents_left_out"] == 0
    table = report.format()
    assert "nDCG@10(exp)" in table.splitlines()[2]
    assert f"{GAIN_NOTE}." in table

    with pytest.raises(QrelsError, match=r"1 judged document id \('bird9'\)"):
        evaluate_batch(pets_pipeline, "bm25", queries, qrels, strict=True)


def test_a_report_without_a_collection_is_not_checked(pets_pipeline):
    qrels = {"t1": TEST_QRELS["t1"]}
    _, result = evaluate_batch(
        pets_pipeline, "bm25", select_queries(pets_pipeline.collection, qrels)[0], qrels
    )
    assert build_report(result, qrels, n_resamples=10).to_dict()["qrels_problems"] is None
    checked = build_report(result, qrels, collection=pets_pipeline.collection, n_resamples=10)
    assert checked.to_dict()["qrels_problems"]["messages"] == []
