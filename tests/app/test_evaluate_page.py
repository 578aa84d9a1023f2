"""AppTest: the Evaluate page, driven through its widgets, checked against the library.

The numbers on the page must be the library's: the same runs, built here with the library
alone (fresh indexes, its own reranker), evaluated with :mod:`rankshift.evaluation.metrics` and reported
with :func:`rankshift.evaluation.build_report`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from inspector_fixture import QUERIES, plain

from rankshift import load_collection
from rankshift.evaluation import BatchRunner, build_report, select_queries
from rankshift.evaluation.metrics import evaluate

PAGE = "app_pages/evaluate.py"


def _open(at):
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def _run(at, pipelines: list[str]):
    at.multiselect(key="evaluate_pipelines").set_value(pipelines).run()
    at.button(key="evaluate_run").click().run()
    assert not at.exception, at.exception
    return at


def _frame(at, column: str):
    return next(d.value for d in at.dataframe if column in d.value.columns)


def _figures(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def test_page_asks_for_a_run(make_app) -> None:
    at = _open(make_app().run())
    assert at.title[0].value == "Evaluate the reranker"
    assert any("press **Run evaluation**" in i.value for i in at.info)
    assert at.selectbox(key="evaluate_source").value == "split:test"


def test_without_a_reranker_first_stages_are_evaluated(make_app) -> None:
    at = _open(make_app().run())  # the default cross-encoder cannot load here
    at.multiselect(key="evaluate_pipelines").set_value(["bm25", "bm25>ce"]).run()
    message = "Reranked pipelines need a loadable reranker"
    assert any(message in plain(w.value) for w in at.warning)
    _run(at, ["bm25", "bm25>ce"])
    assert _frame(at, "nDCG@10")["spec"].tolist() == ["bm25"]
    assert any("was not evaluated" in plain(c.value) for c in at.caption)
    assert any("No reranked pipeline was evaluated" in i.value for i in at.info)


def test_table_chart_and_verdicts_match_the_library(
    make_app, tiny_cross_encoder_dir, tmp_path: Path
) -> None:
    at = _run(_open(make_app(tiny_cross_encoder_dir).run()), ["bm25", "bm25>ce"])
    table = _frame(at, "nDCG@10").set_index("spec")
    assert table.index.tolist() == ["bm25", "bm25>ce"]

    # The same runs through the library alone.
    context = at.session_state["sidebar_context"]
    k = at.slider(key="evaluate_k").value
    collection = load_collection(context.collection.path)
    qrels = collection.qrels["test"]
    queries, _ = select_queries(collection, qrels)
    settings = context.settings.with_(k=k, n=min(context.settings.n, k))
    runner = BatchRunner.from_settings(collection, "bm25,bm25>ce", settings, cache_dir=tmp_path)
    result = runner.run(queries)
    for spec, run in result.runs.items():
        expected = evaluate(qrels, run.ranked_run, ["nDCG@10"], result.query_ids).mean
        assert table.loc[spec, "nDCG@10"] == expected["nDCG@10"], spec
    report = build_report(result, qrels, n_resamples=1000)
    comp = report.comparisons[0]

    tests = _frame(at, "p_t").set_index("measure")
    assert tests.loc["nDCG@10", "delta"] == pytest.approx(comp.tests["nDCG@10"].delta)

    # The helped/hurt chart: one bar per evaluated query, ΔnDCG@10 as the library has it.
    chart = next(
        f
        for f in _figures(at)
        if "ΔnDCG@10" in json.dumps(f["layout"]["yaxis"], ensure_ascii=False)
    )
    bars = {x: y for t in chart["data"] for x, y in zip(t["x"], t["y"], strict=True)}
    assert set(bars) == set(report.query_ids) == {"q1", "q2"}
    for v in comp.verdicts:
        if v.verdict != "no change":
            assert bars[v.query_id] == pytest.approx(v.delta)

    # The verdict table: the library's verdict and demoted documents for every query.
    verdicts = _frame(at, "recall_gap").set_index("query_id")
    for v in comp.verdicts:
        assert verdicts.loc[v.query_id, "verdict"] == v.verdict
        assert verdicts.loc[v.query_id, "n_demoted"] == len(v.demoted)
    assert any("earning its latency" in plain(x.value) for x in [*at.warning, *at.success])


def test_resume_tradeoff_and_open_in_inspector(make_app, tiny_cross_encoder_dir) -> None:
    at = _run(_open(make_app(tiny_cross_encoder_dir).run()), ["bm25", "bm25>ce"])
    # The same settings again: every query comes from the checkpoints.
    at.button(key="evaluate_run").click().run()
    assert any("0 queries run now, 2 resumed" in plain(c.value) for c in at.caption)

    # The trade-off is computed only on demand.
    assert not any("Trade-off" in json.dumps(f["layout"]) for f in _figures(at))
    at.multiselect(key="evaluate_tradeoff_ks").set_value([5, 10]).run()
    at.number_input(key="evaluate_latency_queries").set_value(1).run()
    at.button(key="evaluate_tradeoff_run").click().run()
    assert not at.exception, at.exception
    trade = next(f for f in _figures(at) if "yaxis2" in f["layout"])
    assert trade["layout"]["yaxis2"]["title"]["text"] == "rerank ms / query"

    # A query opens in the inspector, compared with the evaluated first stage at the same K.
    at.selectbox(key="evaluate_open_query").set_value("q2").run()
    at.button(key="evaluate_open").click().run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Inspect a query"
    assert at.session_state["inspect_pick"] == "q2"
    assert at.text_input(key="inspect_query").value == QUERIES["q2"]
    settings = at.session_state["sidebar_context"].settings
    assert settings.rerank_input == "bm25"
    assert settings.k == at.session_state["evaluate_result"]["request"]["k"]


def test_stored_judgments_are_a_query_set(
    make_app, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rankshift.judgments import JudgmentStore

    db = tmp_path / "judgments.sqlite"
    monkeypatch.setenv("RANKSHIFT_JUDGMENTS", str(db))
    at = _open(make_app().run())
    at.selectbox(key="evaluate_source").set_value("judgments").run()
    assert any("nobody has judged" in i.value for i in at.info)
    assert not db.exists()  # looking did not create a database

    collection = at.session_state["sidebar_context"].collection
    with JudgmentStore(db) as store:
        store.save(collection.name, "q3", "d10", "alice", 3)
        store.save(collection.name, "q3", "d10", "bob", 1)
    at.selectbox(key="evaluate_aggregate").set_value("min").run()
    _run(at, ["bm25"])
    qrels = {"q3": {"d10": 1}}  # min of alice's 3 and bob's 1
    context = at.session_state["sidebar_context"]
    runner = BatchRunner.from_settings(
        collection, "bm25", context.settings.with_(k=at.slider(key="evaluate_k").value)
    )
    run = runner.run(select_queries(collection, qrels)[0]).runs["bm25"]
    expected = evaluate(qrels, run.ranked_run, ["nDCG@10"]).mean["nDCG@10"]
    assert _frame(at, "nDCG@10").loc[0, "nDCG@10"] == expected
    assert any("stored judgments (min)" in plain(c.value) for c in at.caption)


def test_shift_section_ranks_queries_by_change_and_opens_the_inspector(
    make_app, tiny_cross_encoder_dir, tmp_path: Path
) -> None:
    from rankshift.evaluation import shift

    at = _open(make_app(tiny_cross_encoder_dir).run())
    at.toggle(key="evaluate_unjudged").set_value(True).run()  # q3 has no judgment
    _run(at, ["bm25", "bm25>ce"])
    assert "What the reranker changed (no judgments needed)" in [s.value for s in at.subheader]
    assert any("RBO (rank-biased overlap)" in plain(c.value) for c in at.caption)
    assert any("1 of them not judged" in plain(c.value) for c in at.caption)

    # The same runs through the library alone; shift() on them is what the table shows.
    context = at.session_state["sidebar_context"]
    k = at.slider(key="evaluate_k").value
    collection = load_collection(context.collection.path)
    qrels = collection.qrels["test"]
    settings = context.settings.with_(k=k, n=min(context.settings.n, k))
    runner = BatchRunner.from_settings(collection, "bm25>ce", settings, cache_dir=tmp_path)
    result = runner.run(list(collection.queries.values()))
    runs = {s: {q: [r.doc_id for r in rs] for q, rs in run.rankings.items()}
            for s, run in result.runs.items()}  # fmt: skip
    expected = {
        q: shift(runs["bm25"][q], runs["bm25>ce"][q], settings.n, qrels.get(q, {})) for q in QUERIES
    }
    table = _frame(at, "unjudged_moved_in")
    assert set(table["query_id"]) == set(QUERIES)  # every query, judged or not
    rbos = table["rbo"].tolist()
    assert rbos == sorted(rbos)  # most changed first
    for row in table.to_dict(orient="records"):
        s = expected[row["query_id"]]
        assert row["rbo"] == pytest.approx(s.rbo)
        assert row["jaccard"] == pytest.approx(s.jaccard)
        assert row["unjudged_moved_in"] == s.unjudged_moved_in
        assert row["judged"] == (row["query_id"] in qrels)
    assert table.set_index("query_id").loc["q3", "query"] == QUERIES["q3"]
    mean_rbo = sum(s.rbo for s in expected.values()) / len(expected)
    assert next(m for m in at.metric if m.label == "Mean RBO").value == f"{mean_rbo:.3f}"

    # A query nobody judged opens in the inspector, as the helped/hurt rows do.
    at.selectbox(key="evaluate_shift_query").set_value("q3").run()
    at.button(key="evaluate_shift_open").click().run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Inspect a query"
    assert at.session_state["inspect_pick"] == "q3"
    assert at.text_input(key="inspect_query").value == QUERIES["q3"]
    assert at.session_state["sidebar_context"].settings.rerank_input == "bm25"
