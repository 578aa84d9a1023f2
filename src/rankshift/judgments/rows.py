"""Rows of the judgment tables as records and back, and the filters the store's reads take."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any, Literal, NamedTuple

from rankshift.types import SKIP, HistoryAction, HistoryEntry, Judgment, JudgmentContext

__all__ = [
    "COLUMNS",
    "HISTORY_COLUMNS",
    "Change",
    "history_from_row",
    "judgment_from_row",
    "row_values",
    "same_content",
    "where",
]

COLUMNS = (
    "collection",
    "query_id",
    "query_text",
    "doc_id",
    "annotator",
    "status",
    "grade",
    "note",
    "context",
    "source",
    "version",
    "timestamp",
    "edited_by",
    "doc_hash",
)
"""The columns of a judgment, in ``judgments`` and ``judgment_history`` alike."""

HISTORY_COLUMNS = (
    "action",
    "attempted",
    "expected_version",
    "adopted_from",
    "recorded_at",
    *COLUMNS,
)


class Change(NamedTuple):
    """One pending write: the current-table step and the history row that goes with it."""

    action: HistoryAction
    judgment: Judgment
    row_id: int | None = None
    """rowid in ``judgments`` of the row an update, delete or adopt replaces."""
    expected_version: int | None = None
    attempted: Literal["save", "delete"] | None = None
    context_json: str | None = None
    """The judgment's context, serialised once (a bulk import would otherwise pay twice)."""
    adopted_from: str | None = None


def row_values(j: Judgment, context_json: str | None = None) -> list[Any]:
    """``j`` as the values of :data:`COLUMNS`."""
    return [
        j.collection,
        j.query_id,
        j.query_text,
        j.doc_id,
        j.annotator,
        j.status,
        j.grade,
        j.note,
        j.context.to_json() if context_json is None else context_json,
        j.source,
        j.version,
        j.timestamp,
        j.edited_by,
        j.doc_hash,
    ]


def judgment_from_row(row: Mapping[str, Any]) -> Judgment:
    return Judgment(
        collection=row["collection"],
        query_id=row["query_id"],
        doc_id=row["doc_id"],
        annotator=row["annotator"],
        grade=row["grade"],
        status=row["status"],
        query_text=row["query_text"],
        note=row["note"],
        context=JudgmentContext.from_dict(json.loads(row["context"])),
        source=row["source"],
        version=row["version"],
        timestamp=row["timestamp"],
        edited_by=row["edited_by"],
        doc_hash=row["doc_hash"],
    )


def same_content(row: Mapping[str, Any], j: Judgment, context_json: str) -> bool:
    """Does a stored row already say what ``j`` says? (Context compared as stored JSON.)

    A record without a document hash (e.g. qrels imported without the documents) does not
    count as a change against a row that has one: it has nothing to say about the text.
    """
    return (
        row["grade"] == j.grade
        and row["status"] == j.status
        and row["query_text"] == j.query_text
        and row["note"] == j.note
        and row["source"] == j.source
        and row["context"] == context_json
        and (j.doc_hash is None or row["doc_hash"] == j.doc_hash)
    )


def history_from_row(row: Mapping[str, Any]) -> HistoryEntry:
    return HistoryEntry(
        seq=row["seq"],
        action=row["action"],
        judgment=judgment_from_row(row),
        recorded_at=row["recorded_at"],
        expected_version=row["expected_version"],
        attempted=row["attempted"],
        adopted_from=row["adopted_from"],
    )


def where(
    collection: str | None,
    query_id: str | None = None,
    annotator: str | None = None,
    doc_id: str | None = None,
    *,
    query_ids: Collection[str] | None = None,
    annotators: Collection[str] | None = None,
    sources: Collection[str] | None = None,
    grades: Collection[int | str] | None = None,
    include_skipped: bool = True,
) -> tuple[str, list[Any]]:
    """A ``WHERE`` clause (or ``""``) and its parameters over ``judgments``.

    A ``None`` filter keeps everything; an empty collection keeps nothing. ``grades`` holds
    grades and/or ``"skip"``.
    """
    clauses: list[str] = []
    params: list[Any] = []
    for column, value in (
        ("collection", collection),
        ("query_id", query_id),
        ("annotator", annotator),
        ("doc_id", doc_id),
    ):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    for column, values in (("query_id", query_ids), ("annotator", annotators), ("source", sources)):
        if values is not None:
            values = list(values)
            clauses.append(f"{column} IN ({', '.join('?' for _ in values)})")
            params.extend(values)
    if grades is not None:
        numbers = [g for g in grades if g != SKIP]
        either = []
        if numbers:
            either.append(f"grade IN ({', '.join('?' for _ in numbers)})")
            params.extend(numbers)
        if SKIP in grades:
            either.append("status = 'skipped'")
        clauses.append("(" + " OR ".join(either) + ")" if either else "0")
    if not include_skipped:
        clauses.append("status = 'graded'")
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), params
