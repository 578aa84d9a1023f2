"""AppTest: a collection as users bring it, in the sidebar and on the Evaluate page.

The sidebar names the empty documents it left out; the Evaluate page warns about judged ids
the collection lacks in the words of the CLI and ``report.json`` (an error, and no run, with
its strict switch), offers exponential gains as a measure of their own, and says which gain
nDCG@10 uses.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from inspector_fixture import plain, write_collection
from streamlit.testing.v1 import AppTest

from rankshift import load_collection
from rankshift.evaluation import BatchRunner, select_queries
from rankshift.evaluation.metrics import GAIN_NOTE, check_qrels, evaluate

APP = Path(__file__).resolve().parents[2] / "app" / "streamlit_app.py"
PAGE = "app_pages/evaluate.py"


@pytest.fixture(scope="module")
def own_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The inspector's collection plus two empty documents, and qrels that name a document as
    "d1" (not "d01"), a query "q7" with no text, and an empty document."""
    folder = write_collection(tmp_path_factory.mktemp("own") / "own")
    with open(folder / "corpus.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps({"_id": "e1", "title": "Blank", "text": ""}) + "\n")
        f.write(json.dumps({"_id": "e2", "text": None}) + "\n")
    with open(folder / "qrels" / "test.tsv", "a", encoding="utf-8") as f:
        f.write("q1\td1\t2\nq7\td02\t1\nq2\te1\t1\n")
    return folder


@pytest.fixture
def app(own_dir: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("RANKSHIFT_COLLECTION", str(own_dir))
    monkeypatch.delenv("RANKSHIFT_RERANKER", raising=False)
    at = AppTest.from_file(str(APP), default_timeout=180).run()
    assert not at.exception, at.exception
    return at


def test_the_sidebar_names_the_empty_documents_it_left_out(app: AppTest) -> None:
    assert any("2 empty documents left out" in plain(c.value) for c in app.sidebar.caption)
    warning = next(w for w in app.sidebar.warning if "left out" in plain(w.value))
    assert plain(warning.value) == (
        "2 empty documents left out: 'e1', 'e2': their text is empty, so no first stage can "
        "return them."
    )


def test_unknown_ids_warn_and_strict_stops(app: AppTest, own_dir: Path) -> None:
    at = app.switch_page(PAGE).run()
    assert not at.exception, at.exception
    expected = check_qrels(
        load_collection(own_dir).qrels["test"], load_collection(own_dir), "split test"
    )
    box = next(w for w in at.warning if "judged ids" in plain(w.value).lower())
    for message in expected.messages():
        assert f"- {message}" in plain(box.value)
    assert "'d1'" in plain(box.value) and "'q7'" in plain(box.value) and "'e1'" in plain(box.value)
    assert at.button(key="evaluate_run")  # a warning: the run is still offered

    at.toggle(key="evaluate_strict").set_value(True).run()
    assert not at.exception, at.exception
    error = next(e for e in at.error if "judged ids" in plain(e.value).lower())
    assert "strict mode is on" in plain(error.value)
    for message in expected.messages():
        assert f"- {message}" in plain(error.value)
    assert not [b for b in at.button if b.key == "evaluate_run"]  # no run in strict mode


def test_exponential_gains_are_offered_and_the_gain_is_stated(app: AppTest, own_dir: Path) -> None:
    at = app.switch_page(PAGE).run()
    measures = at.multiselect(key="evaluate_measures")
    assert "nDCG@10(exp)" in measures.options and "nDCG@10(exp)" not in measures.value
    assert GAIN_NOTE in (measures.help or "")
    measures.set_value(["nDCG@10", "nDCG@10(exp)"]).run()
    at.multiselect(key="evaluate_pipelines").set_value(["bm25"]).run()
    at.button(key="evaluate_run").click().run()
    assert not at.exception, at.exception

    table = next(d.value for d in at.dataframe if "nDCG@10(exp)" in d.value.columns)
    assert any(plain(c.value) == f"{GAIN_NOTE}." for c in at.caption)
    # The page's numbers are the library's.
    collection = load_collection(own_dir)
    qrels = collection.qrels["test"]
    context = at.session_state["sidebar_context"]
    settings = context.settings.with_(k=at.slider(key="evaluate_k").value)
    run = BatchRunner.from_settings(collection, "bm25", settings).run(
        select_queries(collection, qrels)[0]
    )
    measures = ["nDCG@10", "nDCG@10(exp)"]
    expected = evaluate(qrels, run.runs["bm25"].ranked_run, measures, run.query_ids).mean
    row = table.set_index("spec").loc["bm25"]
    assert row["nDCG@10"] == pytest.approx(expected["nDCG@10"])
    assert row["nDCG@10(exp)"] == pytest.approx(expected["nDCG@10(exp)"])
