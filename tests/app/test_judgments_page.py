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
        store.save("another-collection", "q1", "d01", "carol", 1)
        store.import_qrels(fp, {"q1": {"d01": 2}}, annotator="qrels:test")


def _table(at):
    return next(d.value for d in at.dataframe if "annotator" in d.value.columns)


def test_empty_store_says_so(make_app, db: Path) -> None:
    at = _open(make_app)
    assert any("No judgments" in i.value for i in at.info)


def test_lists_filters_and_exports(make_app, db: Path) -> None:
    at = _open(make_app)
    _seed(db, at.session_state["sidebar_context"].collection.name)
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
    _seed(db, at.session_state["sidebar_context"].collection.name)
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
    fp = at.session_state["sidebar_context"].collection.name
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


def test_a_label_of_an_edited_document_is_marked_stale(
    make_app, db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from inspector_fixture import write_collection

    from rankshift.corpus import load_collection

    folder = write_collection(tmp_path / "coll")
    at = make_app()
    monkeypatch.setenv("RANKSHIFT_COLLECTION", str(folder))
    original = load_collection(folder)
    with JudgmentStore(db) as store:
        for doc_id, who, grade in (("d01", "alice", 2), ("d01", "bob", 3), ("d03", "alice", 0)):
            store.save(original.name, "q1", doc_id, who, grade, doc_hash=original.doc_hash(doc_id))
    corpus = folder / "corpus.jsonl"
    lines = corpus.read_text(encoding="utf-8").splitlines()
    lines[0] = lines[0].replace("older women", "younger men")
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")

    at.switch_page(APP_PAGE).run()
    assert not at.exception, at.exception
    table = _table(at)
    freshness = dict(
        zip(table["doc_id"] + "/" + table["annotator"], table["freshness"], strict=True)
    )
    assert freshness == {"d01/alice": "stale", "d01/bob": "stale", "d03/alice": "current"}
    assert any("2 of these labels are stale" in plain(w.value) for w in at.warning)
    assert any("3 of 3 judgments" in plain(c.value) and "2 stale" in c.value for c in at.caption)
    # Filtering to the untouched document leaves no stale label on screen.
    at.multiselect(key="judgments_grade").set_value([0]).run()
    assert _table(at)["freshness"].tolist() == ["current"]
    assert not [w for w in at.warning if "stale" in w.value]


def test_labels_written_under_the_old_fingerprint_are_adopted(make_app, db: Path) -> None:
    at = _open(make_app)
    collection = at.session_state["sidebar_context"].collection
    _seed(db, collection.fingerprint)  # how labels were keyed before schema 2
    at.run()
    assert not at.exception, at.exception
    table = _table(at)
    assert len(table) == 7 and set(table["collection"]) == {collection.name}
    assert set(table["freshness"]) == {"current"}
