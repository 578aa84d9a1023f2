"""A judgments file written by the schema-1 store (labels keyed by the corpus fingerprint)
opens with the new code with nothing lost, and its labels count in metrics once the
collection with that fingerprint adopts them."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from rankshift.corpus import collection_from_documents
from rankshift.judgments import MIGRATIONS, JudgmentStore, judgments_frame
from rankshift.types import Document

# The schema-1 DDL exactly as 001_initial created it (copied, so the test does not depend on
# the code under test to build the old file).
V1_COLUMNS = """
    collection TEXT NOT NULL,
    query_id TEXT NOT NULL,
    query_text TEXT NOT NULL DEFAULT '',
    doc_id TEXT NOT NULL,
    annotator TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('graded', 'skipped')),
    grade INTEGER CHECK ((status = 'graded') = (grade IS NOT NULL)),
    note TEXT,
    context TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(context)),
    source TEXT NOT NULL,
    version INTEGER NOT NULL,
    timestamp TEXT NOT NULL,
    edited_by TEXT NOT NULL"""

V1_SCHEMA = [
    f"CREATE TABLE judgments (id INTEGER PRIMARY KEY,{V1_COLUMNS}, CHECK (version >= 1))",
    "CREATE UNIQUE INDEX judgments_unique_pair "
    "ON judgments (collection, query_id, doc_id, annotator)",
    "CREATE INDEX judgments_by_annotator ON judgments (collection, annotator)",
    f"""CREATE TABLE judgment_history (
        seq INTEGER PRIMARY KEY,
        action TEXT NOT NULL CHECK (action IN ('create', 'update', 'delete', 'rejected_stale')),
        attempted TEXT CHECK (attempted IN ('save', 'delete')),
        expected_version INTEGER,
        recorded_at TEXT NOT NULL,{V1_COLUMNS})""",
    "CREATE INDEX judgment_history_pair "
    "ON judgment_history (collection, query_id, doc_id, annotator, seq)",
    "CREATE TRIGGER judgment_history_no_update BEFORE UPDATE ON judgment_history "
    "BEGIN SELECT RAISE(ABORT, 'judgment_history is append-only'); END",
    "CREATE TRIGGER judgment_history_no_delete BEFORE DELETE ON judgment_history "
    "BEGIN SELECT RAISE(ABORT, 'judgment_history is append-only'); END",
    "CREATE TABLE migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, "
    "applied_at TEXT NOT NULL)",
    "INSERT INTO migrations VALUES (1, '001_initial', '2026-01-01T00:00:00+00:00')",
    "PRAGMA user_version = 1",
]

DOCS = [
    Document("a", "Vitamin D raised bone density in older women.", "Vitamin D"),
    Document("b", "Calcium intake and hip fractures in a cohort."),
    Document("c", "Caffeine late in the day shortens sleep."),
]
NAME = "bones"
OTHER_FP = "0123456789abcdef"  # labels of a collection that is not opened here

# (action, collection, query, doc, annotator, grade, version, note, expected, attempted):
# the history of the file, in order. The current table is what it leaves behind.
HISTORY = [
    ("create", "FP", "q1", "a", "alice", 2, 1, None, 0, None),
    ("update", "FP", "q1", "a", "alice", 3, 2, "sure", 1, None),
    ("create", "FP", "q1", "a", "bob", 2, 1, None, 0, None),
    ("create", "FP", "q1", "b", "alice", 0, 1, None, 0, None),
    ("create", "FP", "q1", "c", "bob", None, 1, None, 0, None),  # a skip
    ("rejected_stale", "FP", "q1", "a", "bob", 1, 1, None, 0, "save"),
    ("create", "FP", "q2", "b", "alice", 1, 1, None, None, None),
    ("delete", "FP", "q2", "b", "alice", 1, 2, None, None, None),
    ("create", OTHER_FP, "q1", "a", "carol", 1, 1, None, 0, None),
]


def _v1_file(path: Path, fp: str) -> None:
    """Write ``HISTORY`` and the current table it leaves, with plain sqlite3 and the v1 DDL."""
    conn = sqlite3.connect(path)
    for statement in V1_SCHEMA:
        conn.execute(statement)
    current: dict[tuple, tuple] = {}
    for seq, (action, coll, q, d, who, grade, version, note, expected, attempted) in enumerate(
        HISTORY, start=1
    ):
        coll = fp if coll == "FP" else coll
        status = "skipped" if grade is None else "graded"
        stamp = f"2026-01-01T00:00:{seq:02d}.000000+00:00"
        context = json.dumps({"stage": "reranked", "rank": seq, "settings": {"k": 30}})
        values = (coll, q, f"text of {q}", d, who, status, grade, note, context, "ui", version)
        conn.execute(
            "INSERT INTO judgment_history (seq, action, attempted, expected_version, "
            "recorded_at, collection, query_id, query_text, doc_id, annotator, status, grade, "
            "note, context, source, version, timestamp, edited_by) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (seq, action, attempted, expected, stamp, *values, stamp, who),
        )
        key = (coll, q, d, who)
        if action in ("create", "update"):
            current[key] = (*values, stamp, who)
        elif action == "delete":
            current.pop(key)
    for row in current.values():
        conn.execute(
            "INSERT INTO judgments (collection, query_id, query_text, doc_id, annotator, "
            "status, grade, note, context, source, version, timestamp, edited_by) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            row,
        )
    conn.commit()
    conn.close()


@pytest.fixture
def v1(tmp_path: Path):
    collection = collection_from_documents(DOCS, name=NAME)
    path = tmp_path / "judgments.sqlite"
    _v1_file(path, collection.fingerprint)
    return path, collection


def test_a_schema_1_file_opens_with_every_label_and_history_row(v1) -> None:
    path, collection = v1
    fp = collection.fingerprint
    with JudgmentStore(path) as store:
        assert store.schema_version == len(MIGRATIONS)
        labels = {
            (j.collection, j.query_id, j.doc_id, j.annotator): j for j in store.list_judgments(None)
        }
        assert {k: (j.grade, j.version, j.note) for k, j in labels.items()} == {
            (fp, "q1", "a", "alice"): (3, 2, "sure"),
            (fp, "q1", "a", "bob"): (2, 1, None),
            (fp, "q1", "b", "alice"): (0, 1, None),
            (fp, "q1", "c", "bob"): (None, 1, None),
            (OTHER_FP, "q1", "a", "carol"): (1, 1, None),
        }
        alice = labels[(fp, "q1", "a", "alice")]
        assert alice.context.rank == 2 and alice.context.settings == {"k": 30}
        assert alice.query_text == "text of q1" and alice.doc_hash is None
        # Every history row is still there, in order, with its action.
        history = store.history(fp, "q1", "a")
        assert [(h.seq, h.action, h.judgment.annotator) for h in history] == [
            (1, "create", "alice"),
            (2, "update", "alice"),
            (3, "create", "bob"),
            (6, "rejected_stale", "bob"),
        ]
        assert [h.action for h in store.history(fp, "q2", "b")] == ["create", "delete"]
        assert store.replay_history() == store.list_judgments(None)
        # The history is still append-only after the table was rebuilt.
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            store._conn.execute("DELETE FROM judgment_history")


def test_labels_count_in_metrics_once_the_matching_collection_adopts_them(v1) -> None:
    path, collection = v1
    fp = collection.fingerprint
    with JudgmentStore(path) as store:
        assert store.qrels(NAME) == {}  # keyed by the fingerprint until adopted
        qrels = store.collection_qrels(collection)
        # alice 3 and bob 2 on a: mean 2.5 rounds half up to 3; the skip counts for nothing.
        assert qrels == {"q1": {"a": 3, "b": 0}}
        adopted = store.list_judgments(NAME)
        assert [(j.doc_id, j.annotator, j.grade, j.version) for j in adopted] == [
            ("a", "alice", 3, 2),
            ("a", "bob", 2, 1),
            ("b", "alice", 0, 1),
            ("c", "bob", None, 1),
        ]
        # Same fingerprint, same documents: the hashes are filled in exactly.
        assert all(j.doc_hash == collection.doc_hash(j.doc_id) for j in adopted)
        assert store.list_judgments(fp) == []
        # Another collection's labels are left alone.
        assert [j.annotator for j in store.list_judgments(OTHER_FP)] == ["carol"]
        # The pair's history reads across the re-keying, and replays to the same table.
        actions = [h.action for h in store.history(NAME, "q1", "a", "alice")]
        assert actions == ["create", "update", "adopt"]
        assert store.replay_history() == store.list_judgments(None)
        assert store.replay_history(NAME) == adopted
        assert store.adopt(collection) == 0  # once only


def test_an_adopted_label_goes_stale_when_its_document_is_edited(v1) -> None:
    path, collection = v1
    with JudgmentStore(path) as store:
        store.adopt(collection)
        edited = collection_from_documents(
            [DOCS[0], Document("b", "Calcium intake did not change hip fracture risk."), DOCS[2]],
            name=NAME,
        )
        assert store.collection_qrels(edited) == {"q1": {"a": 3}}
        assert store.collection_qrels(edited, include_stale=True) == {"q1": {"a": 3, "b": 0}}
        frame = judgments_frame(store.list_judgments(NAME), doc_hashes=edited.doc_hash)
        assert dict(
            zip(frame["doc_id"] + "/" + frame["annotator"], frame["freshness"], strict=True)
        ) == {
            "a/alice": "current",
            "a/bob": "current",
            "b/alice": "stale",
            "c/bob": "current",
        }


def test_a_label_the_name_already_has_is_not_adopted_over(v1) -> None:
    path, collection = v1
    with JudgmentStore(path) as store:
        store.save(NAME, "q1", "a", "alice", 1, doc_hash=collection.doc_hash("a"))
        assert store.adopt(collection) == 3
        assert store.get(NAME, "q1", "a", "alice").grade == 1  # type: ignore[union-attr]
        # The fingerprint-keyed label it would have replaced is kept, not lost.
        (kept,) = store.list_judgments(collection.fingerprint)
        assert (kept.annotator, kept.grade) == ("alice", 3)
        assert store.replay_history() == store.list_judgments(None)
