"""Labels are keyed by the collection's name and remember the text they judged: editing one
document makes its labels stale (shown, left out of metrics by default), adding or removing
documents orphans nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from rankshift.corpus import collection_from_documents
from rankshift.judgments import JudgmentStore
from rankshift.judgments import queue as judging
from rankshift.types import Document

NAME = "cats"
DOCS = {
    "cat": Document("cat", "A cat sat on the mat."),
    "dog": Document("dog", "A dog chased the ball."),
    "bird": Document("bird", "A bird sang at dawn."),
}


def _coll(docs: dict[str, Document]):
    return collection_from_documents(dict(docs), name=NAME)


@pytest.fixture
def store(tmp_path: Path):
    """Alice and bob graded every document of q1 in the original collection."""
    coll = _coll(DOCS)
    with JudgmentStore(tmp_path / "j.sqlite") as s:
        for annotator, grades in (("alice", (3, 1, 0)), ("bob", (2, 1, 1))):
            for doc_id, grade in zip(DOCS, grades, strict=True):
                s.save(NAME, "q1", doc_id, annotator, grade, doc_hash=coll.doc_hash(doc_id))
        yield s


def test_editing_one_document_makes_only_its_labels_stale(store: JudgmentStore) -> None:
    before = store.collection_qrels(_coll(DOCS))
    assert before == {"q1": {"bird": 1, "cat": 3, "dog": 1}}  # cat: (3+2)/2 rounds up
    edited = _coll({**DOCS, "dog": Document("dog", "A dog slept all day.")})

    states = {
        (j.doc_id, j.annotator): j.freshness(edited.doc_hash(j.doc_id))
        for j in store.list_judgments(NAME)
    }
    assert states == {
        ("bird", "alice"): "current",
        ("bird", "bob"): "current",
        ("cat", "alice"): "current",
        ("cat", "bob"): "current",
        ("dog", "alice"): "stale",
        ("dog", "bob"): "stale",
    }
    # Metrics leave the stale labels out by default; an option counts them.
    assert store.collection_qrels(edited) == {"q1": {"bird": 1, "cat": 3}}
    assert store.collection_qrels(edited, include_stale=True) == before
    # Listing for display keeps them, marked.
    frame = store.as_dataframe(NAME, doc_hashes=edited.doc_hash)
    assert sorted(frame.loc[frame["freshness"] == "stale", "doc_id"]) == ["dog", "dog"]
    assert judging.summarise(store.list_judgments(NAME), 6, edited.doc_hash).stale == 2


def test_a_stale_label_is_queued_again_and_regrading_makes_it_current(
    store: JudgmentStore,
) -> None:
    edited = _coll({**DOCS, "dog": Document("dog", "A dog slept all day.")})
    stale = store.get(NAME, "q1", "dog", "alice")
    assert stale is not None
    store.save(
        NAME,
        "q1",
        "dog",
        "alice",
        0,
        expected_version=stale.version,
        doc_hash=edited.doc_hash("dog"),
    )
    fresh = store.get(NAME, "q1", "dog", "alice")
    assert fresh is not None and fresh.freshness(edited.doc_hash("dog")) == "current"
    # bob's label of the old text is still stale and still left out; alice's new one counts.
    assert store.collection_qrels(edited) == {"q1": {"bird": 1, "cat": 3, "dog": 0}}


def test_adding_a_document_orphans_no_label(store: JudgmentStore) -> None:
    before = store.list_judgments(NAME)
    grown = _coll({**DOCS, "fish": Document("fish", "A fish swam upstream.")})
    assert grown.fingerprint != _coll(DOCS).fingerprint  # the old keying would lose them all
    assert store.list_judgments(NAME) == before
    assert {j.freshness(grown.doc_hash(j.doc_id)) for j in before} == {"current"}
    assert store.collection_qrels(grown) == store.collection_qrels(_coll(DOCS))


def test_removing_a_document_keeps_its_labels(store: JudgmentStore) -> None:
    shrunk = _coll({k: v for k, v in DOCS.items() if k != "bird"})
    labels = store.collection_judgments(shrunk)
    assert len(labels) == 6
    assert {j.doc_id for j in labels if j.freshness(shrunk.doc_hash(j.doc_id)) == "missing"} == {
        "bird"
    }
