"""The judgment-free shift section of the batch report: report.json, the text report, fallbacks.

Every expected value is :func:`rankshift.evaluation.shift.shift` computed here on the batch's own
runs, never a figure written into the test.
"""

from __future__ import annotations

import json

import pytest
from eval_fixtures import QUERIES, TEST_QRELS, load_pets

from rankshift.evaluation import BatchRunner, build_report, mean_shift, shift
from rankshift.pipeline import Pipeline, PipelineSettings
from rankshift.rerank import CrossEncoderReranker

FIELDS = ("rbo", "jaccard", "kendall_tau", "tau_ap", "moved_in", "unjudged_moved_in")


@pytest.fixture(scope="module")
def pets(tmp_path_factory):
    return load_pets(tmp_path_factory.mktemp("pets") / "pets")


@pytest.fixture(scope="module")
def runner(pets, tiny_cross_encoder_dir, tmp_path_factory):
    settings = PipelineSettings(k=8, n=3, reranker=str(tiny_cross_encoder_dir), max_length=128)
    cache = tmp_path_factory.mktemp("cache")
    return BatchRunner.from_settings(pets, "bm25>ce,dense", settings, cache_dir=cache)


@pytest.fixture(scope="module")
def batch(runner, pets):
    """The six judged test queries and one query nobody judged in the test split (r1)."""
    queries = [*pets.queries_for("test").values(), pets.queries["r1"]]
    return runner.run(queries)


def ids(result, spec: str, query_id: str) -> list[str]:
    return [r.doc_id for r in result.runs[spec].rankings[query_id]]


def expected_rows(result, first: str, reranked: str, p: float = 0.9) -> dict[str, dict]:
    n = int(result.settings["n"])
    out = {}
    for q in result.query_ids:
        s = shift(ids(result, first, q), ids(result, reranked, q), n, TEST_QRELS.get(q, {}), p)
        out[q] = {f: getattr(s, f) for f in FIELDS}
    return out


def test_report_json_holds_the_shift_of_every_query(batch, pets, tmp_path) -> None:
    qrels = pets.qrels["test"]
    report = build_report(batch, qrels, collection=pets, n_resamples=100)
    data = json.loads(report.write_json(tmp_path / "report.json").read_text())
    assert set(data["shift"]) == {"bm25>ce"}
    section = data["shift"]["bm25>ce"]
    assert (section["first_stage"], section["n"], section["p"]) == ("bm25", 3, 0.9)

    expected = expected_rows(batch, "bm25", "bm25>ce")
    rows = {r["query_id"]: r for r in section["queries"]}
    assert set(rows) == set(batch.query_ids) == {*TEST_QRELS, "r1"}
    for q, values in expected.items():
        for f in FIELDS:
            assert rows[q][f] == pytest.approx(values[f], abs=1e-12), (q, f)
    # Ranked by how much the reranker changed them: lowest RBO first.
    rbos = [r["rbo"] for r in section["queries"]]
    assert rbos == sorted(rbos)
    # Means over the whole query set, judged or not.
    means = {f: sum(v[f] for v in expected.values()) / len(expected) for f in ("rbo", "jaccard")}
    assert section["mean"]["rbo"] == pytest.approx(means["rbo"])
    assert section["mean"]["jaccard"] == pytest.approx(means["jaccard"])
    assert section["queries_compared"] == 7
    assert section["unjudged_moved_in_total"] == sum(
        v["unjudged_moved_in"] for v in expected.values()
    )

    # The other first stage of the batch is compared too.
    dense = section["other_first_stages"]["dense"]
    assert dense["first_stage"] == "dense"
    want = expected_rows(batch, "dense", "bm25>ce")
    for r in dense["queries"]:
        assert r["rbo"] == pytest.approx(want[r["query_id"]]["rbo"], abs=1e-12)
        assert r["tau_ap"] == pytest.approx(want[r["query_id"]]["tau_ap"], abs=1e-12)


def test_a_query_with_no_judgments_still_gets_a_shift_row(batch, pets) -> None:
    report = build_report(batch, pets.qrels["test"], n_resamples=100)
    assert "r1" not in report.query_ids  # no metrics without judgments
    assert report.unjudged_queries == ["r1"]
    (own, _dense) = report.shift_of("bm25>ce")
    row = next(r for r in own.rows() if r["query_id"] == "r1")
    assert row["judged"] is False
    # Nothing is judged for r1, so every document moved into the top-N is unjudged.
    assert row["unjudged_moved_in"] == row["moved_in"]
    first, reranked = ids(batch, "bm25", "r1"), ids(batch, "bm25>ce", "r1")
    assert row["rbo"] == pytest.approx(shift(first, reranked, 3).rbo)


def test_rbo_p_is_an_option(batch, pets) -> None:
    report = build_report(batch, pets.qrels["test"], n_resamples=100, rbo_p=0.5)
    own = report.shift_of("bm25>ce")[0]
    assert own.p == 0.5
    expected = expected_rows(batch, "bm25", "bm25>ce", p=0.5)
    for q, s in own.queries.items():
        assert s.rbo == pytest.approx(expected[q]["rbo"], abs=1e-12)
    with pytest.raises(ValueError, match="between 0 and 1"):
        build_report(batch, pets.qrels["test"], n_resamples=100, rbo_p=1.0)


def test_the_text_report_names_the_queries_changed_most(batch, pets) -> None:
    report = build_report(batch, pets.qrels["test"], n_resamples=100)
    texts = {q: QUERIES[q] for q in batch.query_ids}
    text = report.format(texts)
    assert "What bm25>ce changed (no judgments needed): top 3, RBO p = 0.9" in text
    assert "Queries the reranker changed most (vs bm25; lowest RBO first):" in text
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if "changed most" in line) + 2
    table = lines[start : start + 7]
    own = report.shift_of("bm25>ce")[0]
    assert [line.split()[0] for line in table] == list(own.queries)
    top_q, top = next(iter(own.queries.items()))
    assert texts[top_q][:20] in table[0] and f"{top.rbo:.3f}" in table[0]
    assert any("r1" in line and "(not judged)" in line for line in table)
    assert "and 1 without judgments, in the shift tables only" in lines[0]


def test_fallback_queries_have_a_row_but_stay_out_of_the_means(runner, pets) -> None:
    # The real tiny cross-encoder, one pair per batch and no time allowed: a query with more
    # than one candidate times out after its first pair and keeps the first stage's order.
    hurried = CrossEncoderReranker(
        runner.reranker.model_id, runner.reranker.max_length, batch_size=1,
        model=runner.reranker.model,
    )  # fmt: skip
    settings = runner.settings.with_(rerank_timeout_s=0.0)
    pipe = Pipeline(pets, settings, runner.pipeline.retrievers, hurried)
    result = BatchRunner(pipe, "bm25>ce").run(pets.queries_for("test"))
    failed = [q for q in result.query_ids if not result.runs["bm25>ce"].reranked_ok(q)]
    assert failed
    report = build_report(result, pets.qrels["test"], n_resamples=100)
    (own,) = report.shift_of("bm25>ce")
    assert set(own.fallback) == set(failed) and set(own.queries) == set(result.query_ids)
    assert all(own.queries[q].rbo == pytest.approx(1.0) for q in failed)  # order kept
    kept = [q for q in result.query_ids if q not in failed]
    assert own.mean == pytest.approx(mean_shift(own.queries[q] for q in kept))
    data = report.to_dict()["shift"]["bm25>ce"]
    assert sorted(data["fallback_queries"]) == sorted(failed)
    assert {r["query_id"] for r in data["queries"] if not r["reranked_ok"]} == set(failed)


def test_the_page_frames_follow_the_report(batch, pets) -> None:
    from rankshift.present import (
        shift_caption,
        shift_means_frame,
        shift_metrics,
        shift_queries_frame,
    )

    report = build_report(batch, pets.qrels["test"], n_resamples=100)
    own, dense = report.shift_of("bm25>ce")
    table = shift_queries_frame(own, pets)
    assert table["query_id"].tolist() == list(own.queries)  # most changed first
    row = table.set_index("query_id").loc["r1"]
    assert (row["query"], bool(row["judged"])) == (QUERIES["r1"], False)
    means = shift_means_frame([own, dense]).set_index("spec")
    assert means.loc["dense", "rbo"] == pytest.approx(dense.mean["rbo"])
    assert means.loc["bm25", "unjudged_moved_in"] == own.unjudged_moved_in
    tiles = dict((label, value) for label, value, _ in shift_metrics(own))
    assert tiles["Mean RBO"] == f"{own.mean['rbo']:.3f}"
    caption = shift_caption(own)
    assert "over 7 queries (1 of them not judged), top 3, RBO p = 0.9" in caption
    assert "1 = same top, 0 = disjoint" in caption and "swaps near the top" in caption
