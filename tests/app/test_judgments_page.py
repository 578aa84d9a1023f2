"""AppTest: the Judgments page lists, filters and exports stored labels, with agreement.

The page builds no index, so these runs take a fraction of a second each.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from inspector_fixture import plain

from rankshift.judgments import JudgmentStore

APP_PAGE = "app_pages/judgments.py"


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "judgments.sqlite"
    monkeypatch.setenv("RANKSHIFT_JUDGMENTS", str(path))
    return path


def _open(make_app):
    # Straight to the page: running the default page first would build the indexes.
    at = make_app()
    at.switch_page(APP_PAGE).run()
    assert not at.exception, at.exception
    return at


def _seed(db: Path, fp: str) -> None:
    with JudgmentStore(db) as store:
        store.save(fp, "q1", "d01", "alice", 2, note="=HYPERLINK(1)")
        store.save(fp, "q1", "d01", "bob", 3)
        store.save(fp, "q1", "d03", "alice", 0)
        store.save(fp, "q1", "d03", "bob", 1)
        store.save(fp, "q1", "d07", "alice", "skip")
        store.save(fp, "q2", "d07", "bob", 2)
        store.save("another-fingerprint", "q1", "d01", "carol", 1)
        store.import_qrels(fp, {"q1": {"d01": 2}}, annotator="qrels:test")


def _table(at):
    return next(d.value for d in at.dataframe if "annotator" in d.value.columns)


def test_empty_store_says_so(make_app, db: Path) -> None:
    at = _open(make_app)
    assert any("No judgments" in i.value for i in at.info)


def test_lists_filters_and_exports(make_app, db: Path) -> None:
    at = _open(make_app)
    _seed(db, at.session_state["sidebar_context"].collection.fingerprint)
    at.run()
    assert not at.exception, at.exception
    table = _table(at)
    # This collection's judgments only (carol's are in another collection).
    assert len(table) == 7
    assert set(table["annotator"]) == {"alice", "bob", "qrels:test"}

    at.multiselect(key="judgments_annotator").set_value(["alice"]).run()
    assert _table(at)["doc_id"].tolist() == ["d01", "d03", "d07"]
    at.multiselect(key="judgments_grade").set_value(["skip"]).run()
    assert _table(at)[["doc_id", "label"]].values.tolist() == [["d07", "skip"]]
    assert any("1 of 7 judgments" in plain(c.value) for c in at.caption)

    at.multiselect(key="judgments_annotator").set_value([]).run()
    at.multiselect(key="judgments_grade").set_value([2, 3]).run()
    at.multiselect(key="judgments_query").set_value(["q1"]).run()
    at.multiselect(key="judgments_source").set_value(["ui"]).run()
    assert not at.exception, at.exception
    assert _table(at)[["annotator", "grade"]].values.tolist() == [["alice", 2], ["bob", 3]]

    downloads = at.get("download_button")
    labels = [d.proto.label for d in downloads]
    assert labels == ["Download TREC qrels", "Download CSV", "Download JSONL"]
    assert not any(d.proto.disabled for d in downloads)


def test_agreement_is_per_query_and_overall(make_app, db: Path) -> None:
    at = _open(make_app)
    _seed(db, at.session_state["sidebar_context"].collection.fingerprint)
    at.run()
    at.multiselect(key="judgments_source").set_value(["ui"]).run()
    frames = [d.value for d in at.dataframe if "metric" in d.value.columns]
    assert len(frames) == 2
    overall, per_query = frames
    kappa = overall.loc[overall["metric"] == "cohen_kappa"].iloc[0]
    # alice and bob both graded d01 (2 vs 3) and d03 (0 vs 1): two shared documents.
    assert (kappa["annotators"], kappa["n_items"]) == ("alice, bob", 2)
    assert set(per_query["query_id"]) == {"q1", "q2"}
    # Filtering by grade leaves agreement alone (it would make everybody agree).
    at.multiselect(key="judgments_grade").set_value([3]).run()
    again = next(d.value for d in at.dataframe if "metric" in d.value.columns)
    assert again.equals(overall)


def test_history_of_a_selected_pair(make_app, db: Path) -> None:
    at = _open(make_app)
    fp = at.session_state["sidebar_context"].collection.fingerprint
    _seed(db, fp)
    with JudgmentStore(db) as store:
        store.save(fp, "q1", "d01", "alice", 3, expected_version=1)
    at.run()
    assert not [d for d in at.dataframe if "action" in d.value.columns]
    # Select the first row (alice's judgment of d01), as a click in the table would.
    at.session_state["judgments_table"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    assert not at.exception, at.exception
    history = next(d.value for d in at.dataframe if "action" in d.value.columns)
    assert history[["action", "annotator", "grade"]].values.tolist() == [
        ["create", "alice", 2],
        ["create", "bob", 3],
        ["create", "qrels:test", 2],
        ["update", "alice", 3],
    ]
    assert any("document d01" in plain(c.value) for c in at.caption)
