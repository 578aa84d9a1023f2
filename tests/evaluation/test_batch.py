"""Batch runs, resume, significance, verdicts, diagnostics, calibration and the report."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
from eval_fixtures import TEST_QRELS, load_pets

from rankshift.corpus import collection_from_documents
from rankshift.evaluation import (
    BatchRunner,
    PairedTest,
    Thresholds,
    best_f1_threshold,
    build_report,
    calibration,
    diagnostics,
    paired_test,
    parse_pipeline,
    parse_pipelines,
    query_verdict,
    read_trec_run,
    run_file_name,
    tradeoff,
    write_trec_run,
)
from rankshift.pipeline import Pipeline, PipelineSettings, make_hybrid
from rankshift.rerank import CrossEncoderReranker, UnknownDocumentError, sigmoid
from rankshift.types import Document, ScoredDoc


def ranking(*doc_ids: str, scores: list[float] | None = None) -> list[ScoredDoc]:
    scores = scores or [float(len(doc_ids) - i) for i in range(len(doc_ids))]
    return [ScoredDoc(d, i, s) for i, (d, s) in enumerate(zip(doc_ids, scores, strict=True), 1)]


# --------------------------------------------------------------------------------------
# Specs and run files


def test_parse_pipelines():
    specs = parse_pipelines("bm25, hybrid(minmax,w=0.3)>ce,hybrid(rrf,k=20),dense>ce,bm25")
    assert [str(s) for s in specs] == [
        "bm25",
        "hybrid(minmax,w=0.3)>ce",
        "hybrid(rrf,k=20)",
        "dense>ce",
    ]
    assert specs[1].first == parse_pipeline("hybrid(minmax,w=0.3)")
    assert [str(s) for s in parse_pipelines("all")] == [
        "bm25", "dense", "hybrid", "bm25>ce", "dense>ce", "hybrid>ce",
    ]  # fmt: skip
    blended = parse_pipeline("hybrid(zscore,w=0.5)>ce(blend=0.3)")
    assert (blended.rerank, blended.blend, str(blended)) == (
        True, 0.3, "hybrid(zscore,w=0.5)>ce(blend=0.3)",
    )  # fmt: skip
    assert blended.first == parse_pipeline("hybrid(zscore,w=0.5)")
    assert parse_pipeline("bm25>ce").blend is None
    for bad in ("bm25>ce(blend=2)", "bm25>ce(w=0.3)", "bm25>ce(blend=x)", "bm25(blend=0.3)"):
        with pytest.raises(ValueError):
            parse_pipeline(bad)
    for bad in ("bm25(x)", "splade", "hybrid(rrf,w=0.3)", "hybrid(minmax,w=2)", "bm25>>ce", ""):
        with pytest.raises(ValueError):
            parse_pipelines(bad)


def test_trec_run_round_trip_keeps_order_and_scores(tmp_path):
    rankings = {"q2": ranking("b", "a", scores=[1.5, 1.5]), "q1": ranking("c", scores=[-0.25])}
    name = "bm25(lucene,k1=1.5,b=0.75)>ce(m,len=256,k=100)"
    path = write_trec_run(rankings, tmp_path / run_file_name(name), tag=name)
    assert path.name == "bm25(lucene,k1=1.5,b=0.75)+ce(m,len=256,k=100).trec"
    assert path.read_text().splitlines()[0] == f"q2 Q0 b 1 1.5 {name}"
    assert read_trec_run(path) == rankings


# --------------------------------------------------------------------------------------
# Significance


def test_paired_test_known_answer():
    first = [0.0, 0.0, 0.0, 0.0]
    reranked = [0.1, 0.2, 0.3, 0.4]
    t = paired_test(first, reranked, "nDCG@10", n_resamples=10_000, seed=0)
    sd = math.sqrt(sum((d - 0.25) ** 2 for d in reranked) / 3)  # 0.1291
    se = sd / 2
    assert t.delta == pytest.approx(0.25)
    assert t.t_statistic == pytest.approx(0.25 / se)  # 3.873
    assert t.t_p_value == pytest.approx(0.030466, abs=1e-5)  # t = 3.873, df = 3, two-sided
    t_crit = 3.182446305  # t(0.975, df=3), from any table
    assert t.ci_low == pytest.approx(0.25 - t_crit * se, abs=1e-6)
    assert t.ci_high == pytest.approx(0.25 + t_crit * se, abs=1e-6)
    # Sign-flip randomisation over 2**4 = 16 assignments (exact): only all-plus and all-minus
    # are as extreme as the observed mean.
    assert t.randomisation_p_value == pytest.approx(2 / 16)
    assert 0.1 <= t.bootstrap_ci_low <= 0.25 <= t.bootstrap_ci_high <= 0.4


def test_randomisation_p_value_matches_brute_force_enumeration():
    diffs = [0.5, -0.1, 0.3, 0.2, -0.4, 0.6]
    observed = abs(sum(diffs) / len(diffs))
    extreme = sum(
        abs(sum(s * d for s, d in zip(signs, diffs, strict=True)) / len(diffs)) >= observed - 1e-12
        for signs in itertools.product((1, -1), repeat=len(diffs))
    )
    t = paired_test([0.0] * len(diffs), diffs, n_resamples=10_000)
    assert t.randomisation_p_value == pytest.approx(extreme / 2 ** len(diffs))


def test_paired_test_degenerate_cases():
    same = paired_test([0.5, 0.2, 0.1], [0.5, 0.2, 0.1])
    assert (same.delta, same.t_p_value, same.randomisation_p_value) == (0.0, 1.0, 1.0)
    assert (same.ci_low, same.ci_high) == (0.0, 0.0)
    one = paired_test([0.1], [0.3])
    assert one.delta == pytest.approx(0.2) and one.t_p_value is None


# --------------------------------------------------------------------------------------
# Verdicts and diagnostics


def test_query_verdict_demoted_promoted_and_recall_gap():
    judged = {"a": 2, "b": 1, "c": 0, "d": 1, "x": 3}
    first = ranking("a", "c", "b", "e", "d")  # the reranker's candidates (K = 5)
    reranked = ranking("b", "c", "a", "e", "d")
    v = query_verdict("q", judged, first, reranked, 0.40, 0.30, n=2)
    assert v.verdict == "hurt" and v.delta == pytest.approx(-0.10)
    assert [(m.doc_id, m.first_rank, m.reranked_rank) for m in v.demoted] == [("a", 1, 3)]
    assert [(m.doc_id, m.first_rank, m.reranked_rank) for m in v.promoted] == [("b", 3, 1)]
    assert [m.doc_id for m in v.left_below] == ["d"]
    # x was never a candidate: the first stage's loss, not blamed on the reranker.
    assert [(m.doc_id, m.grade) for m in v.recall_gap] == [("x", 3)]
    assert "x" not in [m.doc_id for m in v.demoted]


def test_query_verdict_tolerance():
    first, reranked = ranking("a"), ranking("a")
    assert query_verdict("q", {"a": 1}, first, reranked, 0.5, 0.5 + 1e-12).verdict == "no change"
    assert query_verdict("q", {"a": 1}, first, reranked, 0.5, 0.5 + 1e-6).verdict == "helped"
    assert query_verdict("q", {"a": 1}, first, reranked, 0.5, 0.5 - 1e-6).verdict == "hurt"


def test_diagnostics_say_plainly_when_the_reranker_is_not_earning_its_latency():
    flat = PairedTest("nDCG@10", 50, 0.5, 0.504, 0.004, 0.5, 0.6, 0.61, -0.01, 0.02, -0.01, 0.02)
    diags = {d.code: d for d in diagnostics(flat, [0.95, 0.97], [0.01, 0.02, 0.03])}
    assert diags["small_gain"].triggered and "below 0.01" in diags["small_gain"].message
    assert (
        diags["order_unchanged"].triggered and "barely reorders" in diags["order_unchanged"].message
    )
    assert diags["flat_scores"].triggered and diags["flat_scores"].value == pytest.approx(0.02)
    assert diags["not_significant"].triggered
    good = PairedTest("nDCG@10", 50, 0.5, 0.6, 0.1, 5.0, 1e-5, 1e-4, 0.06, 0.14, 0.06, 0.14)
    diags = {d.code: d for d in diagnostics(good, [0.3, 0.5], [2.0, 3.0], thresholds=Thresholds())}
    assert not any(d.triggered for d in diags.values())


def test_best_f1_threshold_by_hand():
    # p >= 0.9: P 1, R 1/2, F1 2/3; >= 0.8: 1/2, 1/2, 1/2; >= 0.4: 2/3, 1, 4/5; >= 0.3: 1/2, 1, 2/3
    best = best_f1_threshold([0.9, 0.8, 0.4, 0.3], [True, False, True, False])
    assert best["probability"] == 0.4
    assert (best["precision"], best["recall"], best["f1"]) == pytest.approx((2 / 3, 1.0, 0.8))
    assert best["logit"] == pytest.approx(math.log(0.4 / 0.6))
    assert best_f1_threshold([0.2, 0.7], [True, True]) is None


def test_calibration_tables():
    rankings = {
        "q1": ranking("a", "b", "c", scores=[2.0, 0.0, -2.0]),
        "q2": ranking("d", scores=[1.0]),
    }
    qrels = {"q1": {"a": 2, "b": 0}, "q2": {"d": 0}}  # c is unjudged: left out
    cal = calibration(rankings, qrels, bins=4)
    assert [(p["doc_id"], p["grade"]) for p in cal.pairs] == [("a", 2), ("b", 0), ("d", 0)]
    assert cal.by_grade[2]["median"] == pytest.approx(sigmoid(2.0))
    assert cal.by_grade[0]["n"] == 2
    assert sum(b["n"] for b in cal.reliability) == 3
    top_bin = cal.reliability[-1]
    assert (top_bin["low"], top_bin["fraction_relevant"]) == (0.75, 1.0)
    assert cal.best_threshold["probability"] == pytest.approx(sigmoid(2.0))
    assert list(cal.frame().columns) == [
        "query_id",
        "doc_id",
        "grade",
        "relevant",
        "score",
        "probability",
    ]


# --------------------------------------------------------------------------------------
# Batch runs


@pytest.fixture(scope="module")
def pets(tmp_path_factory):
    return load_pets(tmp_path_factory.mktemp("pets") / "pets")


@pytest.fixture(scope="module")
def runner(pets, tiny_cross_encoder_dir, tmp_path_factory):
    settings = PipelineSettings(k=8, n=3, reranker=str(tiny_cross_encoder_dir), max_length=128)
    cache = tmp_path_factory.mktemp("cache")
    return BatchRunner.from_settings(pets, "bm25>ce", settings, cache_dir=cache)


class CountingRetriever:
    """Delegates to a real retriever and counts the searches (a spy, not a stub)."""

    def __init__(self, inner):
        self.inner, self.calls = inner, 0
        self.key, self.name, self.params = inner.key, inner.name, inner.params

    def search(self, query, k):
        self.calls += 1
        return self.inner.search(query, k)

    def search_many(self, queries, k):
        return [self.search(q, k) for q in queries]


def test_blended_pipelines_run_beside_the_pure_reranker(runner, pets):
    batch = BatchRunner(
        runner.pipeline, "bm25>ce,bm25>ce(blend=1),bm25>ce(blend=0.5),bm25>ce(blend=0)"
    )
    # blend=0 is the reranker alone: the same run as bm25>ce, so it runs once.
    assert [str(sp) for sp in batch.specs] == [
        "bm25", "bm25>ce", "bm25>ce(blend=1)", "bm25>ce(blend=0.5)",
    ]  # fmt: skip
    queries = list(pets.queries_for("test").values())[:3]
    result = batch.run(queries)
    names = {spec: run.name for spec, run in result.runs.items()}
    assert names["bm25>ce(blend=1)"].endswith(",blend=1)")
    assert len(set(names.values())) == 4  # bm25, and three reranked runs apart
    for q in result.query_ids:
        first = [r.doc_id for r in result.runs["bm25"].rankings[q]]
        pure = [r.doc_id for r in result.runs["bm25>ce"].rankings[q]]
        # Weight 1 on the first stage gives its order back; the pure reranker's may differ.
        assert [r.doc_id for r in result.runs["bm25>ce(blend=1)"].rankings[q]] == first
        assert sorted(pure) == sorted(first)
        assert result.runs["bm25>ce(blend=0.5)"].reranked_ok(q)
    report = build_report(result, pets.qrels["test"], collection=pets, n_resamples=200)
    calibrated = {c.reranked: c.calibration is not None for c in report.comparisons}
    # Blended scores are not the model's logits, so only the pure reranker is calibrated.
    assert calibrated == {"bm25>ce": True, "bm25>ce(blend=1)": False, "bm25>ce(blend=0.5)": False}


def test_maxp_pipelines_score_every_window_beside_firstp(runner, pets):
    from rankshift.rerank import PairScoreCache, load_reranker

    # A long document whose answer sits past a 32-token window: MaxP must read it.
    filler = " ".join(f"Stable hay note {i}." for i in range(30))
    long_doc = Document("hay1", filler + " Horses eat hay and grass and need room.", title="Hay")
    coll = collection_from_documents([*pets.documents.values(), long_doc], name="pets-long")
    reranker = load_reranker(str(runner.reranker.spec.target), 32, cache=PairScoreCache(None))
    from rankshift.retrievers.bm25 import BM25Retriever

    settings = PipelineSettings(
        first_stages=("bm25",), rerank_input="bm25", k=8, n=3, reranker=reranker.model_id,
        max_length=32,
    )  # fmt: skip
    pipe = Pipeline(coll, settings, {"bm25": BM25Retriever(coll)}, reranker)
    batch = BatchRunner(pipe, "bm25>ce,bm25>ce(maxp),bm25>ce(firstp)")
    # FirstP is what the reranker does anyway: the same run as bm25>ce, so it runs once.
    assert [str(sp) for sp in batch.specs] == ["bm25", "bm25>ce", "bm25>ce(maxp)"]
    names = {str(sp): batch.run_name(sp) for sp in batch.specs}
    assert names["bm25>ce(maxp)"].endswith(",maxp)") and not names["bm25>ce"].endswith("maxp)")
    maxp, reason = batch.reranker_for(parse_pipeline("bm25>ce(maxp)"))
    assert reason is None and maxp is not None and maxp.spec.passages == "maxp"
    (whole,), _ = maxp.score("what do horses eat", [coll.documents["hay1"]])
    (first,), _ = reranker.score("what do horses eat", [coll.documents["hay1"]])
    assert first.truncated and not whole.truncated
    windows = maxp.windows("what do horses eat", coll.documents["hay1"].text, "Hay")
    assert len(windows) > 1
    texts = [w.text for w in windows]  # each window's text holds the title
    best = max(reranker.score_texts("what do horses eat", texts)[0])
    assert whole.score == pytest.approx(best[0], abs=1e-6)  # MaxP: the best window's score


def test_maxp_with_a_service_is_skipped_with_the_reason(runner, pets):
    from http_double import HttpDouble, Reply

    from rankshift.rerank import load_reranker

    info = {"model_id": "some/reranker", "model_type": {"reranker": {}}}
    with HttpDouble() as server:
        server.on("GET", "/info", Reply(200, info))
        service = load_reranker(f"tei:{server.url}")
    pipe = Pipeline(pets, runner.settings, dict(runner.pipeline.retrievers), service)
    result = BatchRunner(pipe, "bm25>ce(maxp)").run(list(pets.queries_for("test").values())[:1])
    assert "bm25>ce(maxp)" in result.skipped
    assert "in-process backends only" in result.skipped["bm25>ce(maxp)"]


def test_interrupted_batch_resumes_and_runs_only_the_remaining_queries(runner, pets, tmp_path):
    queries = pets.queries_for("test")
    assert len(queries) == 6

    class Stop(Exception):
        pass

    def stop_after_two(label, done, total):
        if label == "Queries" and done == 2:
            raise Stop

    with pytest.raises(Stop):
        runner.run(queries, out_dir=tmp_path / "a", progress=stop_after_two)
    assert not (tmp_path / "a" / "runs").exists()  # no half-finished run files

    spy = CountingRetriever(runner.pipeline.retrievers["bm25"])
    resumed_pipe = Pipeline(
        pets, runner.settings, {**runner.pipeline.retrievers, "bm25": spy}, runner.reranker
    )
    calls = []
    resumed = BatchRunner(resumed_pipe, "bm25>ce").run(
        queries, out_dir=tmp_path / "a", progress=lambda *a: calls.append(a)
    )
    assert (resumed.resumed_queries, resumed.computed_queries) == (2, 4)
    assert spy.calls == 4
    assert calls[0] == ("Queries", 2, 6) and calls[-1] == ("Queries", 6, 6)

    straight = runner.run(queries, out_dir=tmp_path / "b")
    assert straight.computed_queries == 6
    for spec in ("bm25", "bm25>ce"):
        a, b = resumed.runs[spec], straight.runs[spec]
        assert a.path.name == b.path.name
        assert a.path.read_text() == b.path.read_text()


def test_torn_checkpoint_line_and_changed_settings(runner, pets, tmp_path):
    queries = pets.queries_for("test")
    runner.run(queries, out_dir=tmp_path)
    ckpt = next((tmp_path / "checkpoints").glob("bm25(*).jsonl"))
    lines = ckpt.read_text().splitlines()
    ckpt.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:20])  # a write cut short
    again = runner.run(queries, out_dir=tmp_path)
    assert again.computed_queries == 1 and again.resumed_queries == 5

    other = BatchRunner(Pipeline(pets, runner.settings.with_(k=5, n=3),
                                 runner.pipeline.retrievers, runner.reranker), "bm25")  # fmt: skip
    result = other.run(queries, out_dir=tmp_path)
    assert result.restarted == ("bm25",) and result.computed_queries == 6
    assert all(len(r) <= 5 for r in result.runs["bm25"].rankings.values())


def test_report_on_the_fixture_collection(runner, pets, tmp_path):
    queries = pets.queries_for("test")
    qrels = pets.qrels["test"]
    result = runner.run(queries, out_dir=tmp_path)
    assert list(result.runs) == ["bm25", "bm25>ce"]  # the first stage comes along
    rr = result.runs["bm25>ce"]
    assert rr.name == "bm25(lucene,k1=1.5,b=0.75)>ce(tiny-cross-encoder,len=128,k=8)"
    assert rr.path.name == "bm25(lucene,k1=1.5,b=0.75)+ce(tiny-cross-encoder,len=128,k=8).trec"
    for q in queries:  # the reranker reorders exactly the first stage's top-K
        assert {r.doc_id for r in rr.rankings[q]} == {
            r.doc_id for r in result.runs["bm25"].rankings[q]
        }

    report = build_report(
        result, qrels, collection=pets, qrels_source="split test", n_resamples=500
    )
    assert report.no_relevant == ["t6"]
    (c,) = report.comparisons
    assert sum(c.counts.values()) == 6
    per_q = report.runs["bm25>ce"].per_query
    base = report.runs["bm25"].per_query
    for v in c.verdicts:
        assert v.delta == pytest.approx(per_q[v.query_id]["nDCG@10"] - base[v.query_id]["nDCG@10"])
        retrieved = {r.doc_id for r in result.runs["bm25"].rankings[v.query_id]}
        assert all(m.doc_id not in retrieved for m in v.recall_gap)
        assert all(TEST_QRELS[v.query_id][m.doc_id] >= 1 for m in v.demoted + v.promoted)
    assert c.tests["nDCG@10"].delta == pytest.approx(
        report.runs["bm25>ce"].mean["nDCG@10"] - report.runs["bm25"].mean["nDCG@10"]
    )
    assert {d.code for d in c.diagnostics} >= {"small_gain", "order_unchanged", "flat_scores"}
    assert c.calibration is not None and c.calibration.pairs
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["relevance_threshold"] == 1
    assert data["comparisons"][0]["reranked_name"] == rr.name
    text = report.format()
    assert "Does the reranker help? bm25 vs bm25>ce" in text and "recall gap" in text
    assert report.summary_frame()["pipeline"].tolist() == ["bm25", "bm25>ce"]


def test_tradeoff_agrees_with_the_batch_at_the_same_k(runner, pets):
    queries = pets.queries_for("test")
    qrels = pets.qrels["test"]
    t = tradeoff(runner, queries, qrels, "bm25", ks=(2, runner.settings.k), latency_queries=2)
    assert [p.k for p in t.points] == [2, runner.settings.k]
    report = build_report(runner.run(queries), qrels, n_resamples=100)
    assert t.points[-1].ndcg10 == pytest.approx(report.runs["bm25>ce"].mean["nDCG@10"])
    assert t.first_stage_ndcg10 == pytest.approx(report.runs["bm25"].mean["nDCG@10"])
    assert all(p.rerank_ms_median is not None and p.rerank_ms_median > 0 for p in t.points)


def test_unavailable_reranker_skips_reranked_pipelines(pets, tmp_path):
    settings = PipelineSettings(k=5, n=3, reranker=str(tmp_path / "no-such-model"))
    runner = BatchRunner.from_settings(pets, "bm25,bm25>ce", settings, cache_dir=tmp_path)
    result = runner.run(pets.queries_for("test"))
    assert list(result.runs) == ["bm25"]
    assert "no-such-model" in result.skipped["bm25>ce"]
    report = build_report(result, pets.qrels["test"], n_resamples=100)
    assert report.comparisons == [] and "skipped" in report.format()


def test_hybrid_runs_match_the_app_pipeline(pets, bi_encoder, tmp_path):
    from rankshift.retrievers.bm25 import BM25Retriever
    from rankshift.retrievers.dense import DenseRetriever

    settings = PipelineSettings(k=6, n=3, reranker=None)
    bm25 = BM25Retriever(pets)
    dense = DenseRetriever(pets, model=bi_encoder)
    pipe = Pipeline(
        pets,
        settings.with_(first_stages=("bm25", "dense"), rerank_input="bm25"),
        {"bm25": bm25, "dense": dense},
    )
    batch = BatchRunner(pipe, "dense,hybrid(rrf),hybrid(minmax,w=0.3)")
    result = batch.run(pets.queries_for("test"))
    assert [r.name for r in result.runs.values()] == [
        "dense(all-MiniLM-L6-v2,flat)", "hybrid(rrf,k=60)", "hybrid(minmax,w=0.3)",
    ]  # fmt: skip
    for fusion, weight, spec in (
        ("rrf", 0.5, "hybrid(rrf)"),
        ("minmax", 0.3, "hybrid(minmax,w=0.3)"),
    ):
        s = settings.with_(
            first_stages=("hybrid",), rerank_input="hybrid", fusion=fusion, fusion_weight=weight
        )
        hybrid = make_hybrid(bm25, dense, s)
        app = Pipeline(pets, s, {"bm25": bm25, "dense": dense, "hybrid": hybrid})
        for qid, q in pets.queries_for("test").items():
            shown = app.run(q).stages["hybrid"].ranking
            ours = result.runs[spec].rankings[qid]
            assert [r.doc_id for r in ours] == [r.doc_id for r in shown]
            assert np.allclose([r.score for r in ours], [r.score for r in shown])


# --------------------------------------------------------------------------------------
# Failed reranks are retried; a document missing from the collection is an error


def _write_report(result, qrels, path):
    build_report(result, qrels, n_resamples=100).write_json(path)
    return json.loads(path.read_text())


def test_a_failed_rerank_is_not_checkpointed_and_is_retried_on_resume(runner, pets, tmp_path):
    queries = pets.queries_for("test")
    qrels = pets.qrels["test"]
    out = tmp_path / "eval"
    # The real tiny cross-encoder, one pair per batch and no time allowed: a query with more
    # than one candidate times out after its first pair, inside rerank(), as a slow model would.
    hurried = CrossEncoderReranker(
        runner.reranker.model_id, runner.reranker.max_length, batch_size=1,
        model=runner.reranker.model,
    )  # fmt: skip
    settings = runner.settings.with_(rerank_timeout_s=0.0)
    timed_out = Pipeline(pets, settings, runner.pipeline.retrievers, hurried)
    first = BatchRunner(timed_out, "bm25>ce").run(queries, out_dir=out)

    bm25_run = read_trec_run(first.runs["bm25"].path)
    ce_run = read_trec_run(first.runs["bm25>ce"].path)
    failed = [q for q in queries if len(bm25_run[q]) > 1]
    assert failed and len(failed) < len(queries)  # some fail, the one-candidate queries do not
    report = _write_report(first, qrels, out / "report.json")
    ce = report["runs"]["bm25>ce"]
    assert ce["fallback_queries"] == len(failed)
    assert sorted(ce["fallbacks"]) == sorted(failed)
    assert all("RerankTimeout" in why for why in ce["fallbacks"].values())
    (fallback,) = [d for d in report["comparisons"][0]["diagnostics"] if d["code"] == "fallback"]
    assert f"{len(failed)} queries were not reranked" in fallback["message"]
    assert "running the evaluation again reranks them" in fallback["message"]
    for q in failed:  # the fallback keeps the first stage's order in the run file
        assert [r.doc_id for r in ce_run[q]] == [r.doc_id for r in bm25_run[q]]
    assert first.unfinished == {"bm25>ce": tuple(failed)}

    # Resumed with a reranker that works: the failed queries, and only they, run again.
    second = BatchRunner(runner.pipeline, "bm25>ce").run(queries, out_dir=out)
    assert (second.computed_queries, second.resumed_queries) == (
        len(failed), len(queries) - len(failed),
    )  # fmt: skip
    assert second.unfinished == {}
    report = _write_report(second, qrels, out / "report.json")
    assert report["runs"]["bm25>ce"]["fallback_queries"] == 0
    assert not any(d["code"] == "fallback" for d in report["comparisons"][0]["diagnostics"])
    # The resumed run file is the one a run without failures writes.
    straight = runner.run(queries, out_dir=tmp_path / "straight")
    assert second.runs["bm25>ce"].path.read_text() == straight.runs["bm25>ce"].path.read_text()


def test_a_candidate_missing_from_the_collection_is_an_error_not_a_fallback(runner, pets, tmp_path):
    # The BM25 index was built with every document; this collection lost the one it ranks first.
    queries = pets.queries_for("test")
    query = queries["t1"]
    top = runner.pipeline.retrievers["bm25"].search(query.text, 1)[0].doc_id
    smaller = collection_from_documents(
        [d for d in pets.documents.values() if d.doc_id != top], name="pets"
    )
    pipe = Pipeline(smaller, runner.settings, runner.pipeline.retrievers, runner.reranker)
    with pytest.raises(UnknownDocumentError, match=top):
        BatchRunner(pipe, "bm25>ce").run({"t1": query}, out_dir=tmp_path)
    # Nothing was checkpointed as done for it: after the fix, the query runs.
    ckpt = next((tmp_path / "checkpoints").glob("*+ce(*.jsonl"))
    assert len(ckpt.read_text().splitlines()) == 1  # the header only
