"""AppTest: the Judge page. Labels are checked in the store, not on the screen.

The app runs over the dozen-document fixture collection with the real bi-encoder; the
cross-encoder is the library default, which does not load here (first-stage order), so
each rerun takes well under a second once the bi-encoder is cached in the process.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from inspector_fixture import plain
from support import requires_model

from rankshift.judgments import JudgmentNotSaved, JudgmentStore

pytestmark = requires_model

STAGE_WORDS = re.compile(r"\b(BM25|Dense|Hybrid|Reranked|bm25|dense|hybrid|priority|score)\b")


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A judgments database of this test's own (the app reads RANKSHIFT_JUDGMENTS per rerun)."""
    path = tmp_path / "judgments.sqlite"
    monkeypatch.setenv("RANKSHIFT_JUDGMENTS", str(path))
    return path


def _judge(make_app, annotator: str | None = "alice"):
    at = make_app()
    if annotator:
        at.query_params["annotator"] = annotator
    at.run()
    at.switch_page("app_pages/judge.py").run()
    assert not at.exception, at.exception
    return at


def _name(at) -> str:
    """The collection's identity: labels are keyed by it (its folder name here)."""
    return at.session_state["sidebar_context"].collection.name


def _main_text(at) -> list[str]:
    main = at.main
    texts = [plain(e.value) for kind in ("markdown", "caption") for e in main.get(kind)]
    texts += [b.label for b in main.get("button")]
    return texts


def test_asks_for_a_name_once_and_keeps_it_in_the_url(make_app, db: Path) -> None:
    at = _judge(make_app, annotator=None)
    assert at.text_input(key="judge_name_input")
    assert "judge_grade_2" not in _keys(at)  # nothing to click before there is a name
    at.text_input(key="judge_name_input").input("  Ada   Lovelace ")
    next(b for b in at.button if b.label == "Start judging").click().run()
    assert not at.exception, at.exception
    assert at.query_params["annotator"] == "Ada Lovelace"
    assert at.query_params["query"] == "q1"
    assert any("Judging as **Ada Lovelace**" in c.value for c in at.caption)
    # A new session (a browser refresh) with that URL starts with the name, no form.
    again = _judge(make_app, annotator="Ada Lovelace")
    assert "judge_name_input" not in again.session_state
    assert any("Judging as **Ada Lovelace**" in c.value for c in again.caption)


def _keys(at) -> set[str]:
    return {b.key for b in at.button if b.key}


def test_grade_button_writes_one_row_with_its_context(make_app, db: Path) -> None:
    at = _judge(make_app)
    doc_id = at.session_state["judge_doc_id"]
    at.text_input(key=f"judge_note_q1_{doc_id}").input("mentions *both* <b>terms</b>")
    at.button(key="judge_grade_2").click().run()
    assert not at.exception, at.exception

    with JudgmentStore(db) as store:
        rows = store.list_judgments(None)
        history = store.history(_name(at), "q1", doc_id)
    assert len(rows) == 1
    saved = rows[0]
    assert (saved.collection, saved.query_id, saved.doc_id) == (_name(at), "q1", doc_id)
    assert (saved.annotator, saved.grade, saved.source) == ("alice", 2, "ui")
    assert saved.note == "mentions *both* <b>terms</b>"
    assert saved.query_text == "vitamin d bone density"
    # Blind by default: the rank shown is the place in the shuffled list; the true ranks and
    # the settings go into the context.
    ctx = saved.context
    assert ctx.stage == "pool(shuffled)" and ctx.settings["blind"] is True
    assert ctx.rank is not None and ctx.rank >= 1
    assert set(ctx.settings["true_ranks"]) == {"bm25", "dense", "hybrid", "reranked"}
    assert ctx.settings["k"] == at.slider(key="sidebar_k").value and ctx.settings["n"] == 10
    assert ctx.model_id == "cross-encoder/ms-marco-MiniLM-L-6-v2"
    assert [h.action for h in history] == ["create"] and history[0].expected_version == 0

    # "Saved" is shown, and the page moved on to the next unjudged document.
    assert any(f"Saved {doc_id}: 2 · relevant (version 1)" in plain(s.value) for s in at.success)
    assert at.session_state["judge_doc_id"] != doc_id
    assert any("1 of" in p.proto.text for p in at.get("progress"))

    # Back on the judged document, a new grade is an update of version 1.
    at.session_state["judge_doc_id"] = doc_id
    at.run()
    assert at.button(key="judge_grade_2").proto.type == "primary"
    at.button(key="judge_grade_skip").click().run()
    with JudgmentStore(db) as store:
        rows = store.list_judgments(None)
    assert [(r.doc_id, r.grade, r.status, r.version) for r in rows] == [
        (doc_id, None, "skipped", 2)
    ]


def test_blind_mode_hides_stage_names_and_scores(make_app, db: Path) -> None:
    at = _judge(make_app)
    assert at.toggle(key="judge_blind").value is True
    leaks = [t for t in _main_text(at) if STAGE_WORDS.search(t)]
    assert leaks == []
    at.segmented_control(key="judge_view").set_value("list").run()
    assert not at.exception, at.exception
    assert [t for t in _main_text(at) if STAGE_WORDS.search(t)] == []
    not_judged = [c for c in at.caption if "Not judged" in c.value]
    assert len(not_judged) == 12  # every document of the fixture collection is in the pool
    assert len([b for b in at.button if (b.key or "").startswith("judge_grade_d")]) == 5 * 12

    # Open mode shows ranks, scores, why each document is in the queue.
    at.toggle(key="judge_blind").set_value(False).run()
    assert not at.exception, at.exception
    shown = " ".join(_main_text(at))
    assert "BM25" in shown and "priority" in shown


def test_list_view_judges_any_document(make_app, db: Path) -> None:
    at = _judge(make_app)
    at.segmented_control(key="judge_view").set_value("list").run()
    at.button(key="judge_grade_d01_3").click().run()
    assert not at.exception, at.exception
    with JudgmentStore(db) as store:
        (saved,) = store.list_judgments(None)
    assert (saved.doc_id, saved.grade) == ("d01", 3)
    assert saved.context.settings["view"] == "list"
    assert any("Saved · 3 · perfect · version 1" in plain(c.value) for c in at.caption)


def test_stale_edit_is_refused_shown_and_reloaded(make_app, db: Path) -> None:
    at = _judge(make_app)
    doc_id = at.session_state["judge_doc_id"]
    # While the page shows "not judged", a reviewer labels the same pair for alice.
    with JudgmentStore(db) as store:
        store.save(_name(at), "q1", doc_id, "alice", 1, edited_by="bob")
    at.button(key="judge_grade_3").click().run()
    assert not at.exception, at.exception

    warning = " ".join(plain(w.value) for w in at.warning)
    assert "Not saved: bob changed this label" in warning
    assert "now 1 · related, version 1" in warning
    # The user's choice stays selected; nothing was overwritten; the attempt is on record.
    assert at.button(key="judge_grade_3").proto.type == "primary"
    assert at.session_state["judge_doc_id"] == doc_id
    with JudgmentStore(db) as store:
        (current,) = store.list_judgments(None)
        actions = [h.action for h in store.history(_name(at), "q1", doc_id)]
    assert (current.grade, current.version, current.edited_by) == (1, 1, "bob")
    assert actions == ["create", "rejected_stale"]

    at.button(key=f"judge_reload_{doc_id}").click().run()
    assert not at.warning
    assert at.button(key="judge_grade_1").proto.type == "primary"
    assert any("Saved · 1 · related · version 1" in plain(c.value) for c in at.caption)
    # Now the edit is made against version 1 and goes through.
    at.button(key="judge_grade_3").click().run()
    with JudgmentStore(db) as store:
        (current,) = store.list_judgments(None)
    assert (current.grade, current.version, current.edited_by) == (3, 2, "alice")


def test_failed_write_says_not_saved_and_keeps_the_choice(
    make_app, db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _judge(make_app)
    doc_id = at.session_state["judge_doc_id"]

    def locked(*args, **kwargs):
        raise JudgmentNotSaved("could not save: the database stayed locked for 30s")

    monkeypatch.setattr(JudgmentStore, "save", locked)
    at.button(key="judge_grade_0").click().run()
    assert not at.exception, at.exception
    assert any("Not saved" in plain(e.value) and "stayed locked" in e.value for e in at.error)
    assert not at.success
    assert at.button(key="judge_grade_0").proto.type == "primary"
    assert at.session_state["judge_doc_id"] == doc_id
    monkeypatch.undo()
    with JudgmentStore(db) as store:
        assert store.list_judgments(None) == []


def test_inspector_shows_a_stored_label_next_to_the_qrels_grade(make_app, db: Path) -> None:
    at = make_app().run()
    fp = _name(at)
    with JudgmentStore(db) as store:
        store.save(fp, "q1", "d01", "alice", 3)  # qrels say 2
        store.save(fp, "q1", "d04", "alice", 2)  # not in the qrels
        store.save(fp, "q1", "d04", "bob", 1)  # mean of 2 and 1 rounds half up to 2
        store.save("another-collection", "q1", "d07", "alice", 0)
    at.selectbox(key="inspect_pick").select("q1").run()
    assert not at.exception, at.exception
    frames = [d.value for d in at.dataframe if {"rank", "snippet"} <= set(d.value.columns)]
    assert frames and all("label" in f.columns for f in frames)
    rows = {
        doc: (grade, label)
        for f in frames
        for doc, grade, label in zip(f["doc_id"], f["grade"], f["label"], strict=True)
    }
    assert rows["d01"] == (2, 3)
    assert rows["d04"][1] == 2
    # d07 is retrieved (K is larger than the collection) and has a qrels grade, but the label
    # alice gave it in another collection never shows here.
    assert rows["d07"][0] == 1 and rows["d07"][1] is pd.NA


def test_an_edited_document_shows_its_label_stale_and_can_be_regraded(
    make_app, db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from inspector_fixture import write_collection

    from rankshift.corpus import load_collection

    folder = write_collection(tmp_path / "coll")  # same name as the shared fixture: "coll"
    at = make_app()
    monkeypatch.setenv("RANKSHIFT_COLLECTION", str(folder))
    original = load_collection(folder)
    with JudgmentStore(db) as store:
        for doc_id, grade in (("d01", 2), ("d03", 1)):
            store.save(
                original.name, "q1", doc_id, "alice", grade, doc_hash=original.doc_hash(doc_id)
            )
    # Someone corrects d01's text; d03 and every other document stay as they were.
    corpus = folder / "corpus.jsonl"
    lines = corpus.read_text(encoding="utf-8").splitlines()
    lines[0] = lines[0].replace("older women over two years", "older men over one year")
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")

    at.query_params["annotator"] = "alice"
    at.run()
    at.switch_page("app_pages/judge.py").run()
    at.segmented_control(key="judge_view").set_value("list").run()
    assert not at.exception, at.exception
    stale = [plain(w.value) for w in at.warning if "Stale" in w.value]
    assert len(stale) == 1 and "2 · relevant" in stale[0]
    assert any("Saved · 1 · related · version 1" in plain(c.value) for c in at.caption)
    assert any("1 of" in p.proto.text for p in at.get("progress"))  # d01 is to judge again

    at.button(key="judge_grade_d01_2").click().run()
    assert not at.exception, at.exception
    assert not [w for w in at.warning if "Stale" in w.value]
    assert any("Saved · 2 · relevant · version 2" in plain(c.value) for c in at.caption)
    edited = load_collection(folder)
    with JudgmentStore(db) as store:
        regraded = store.get(edited.name, "q1", "d01", "alice")
        assert regraded is not None and regraded.doc_hash == edited.doc_hash("d01")
        assert regraded.doc_hash != original.doc_hash("d01")
        assert store.collection_qrels(edited) == {"q1": {"d01": 2, "d03": 1}}
