"""The judgment store: relevance labels in SQLite, with full history, import and export.

A *judgment* is one annotator's grade for one (query, document) pair of one collection. The
store keeps exactly one current judgment per ``(collection, query_id, doc_id, annotator)``
(a UNIQUE index enforces it) and appends every change to ``judgment_history`` in the same
transaction, so the history alone can rebuild the current table
(:meth:`JudgmentStore.replay_history`).

Concurrency model:

* One :class:`JudgmentStore` per thread. Each store opens its own SQLite connection, and
  :mod:`sqlite3` refuses to use a connection from another thread, so sharing a store across
  threads fails loudly instead of corrupting a transaction. Processes and threads may open as
  many stores on one file as they like.
* WAL mode, so readers never block the writer and the writer never blocks readers.
* Every write is one short ``BEGIN IMMEDIATE`` transaction. Taking the write lock up front means
  a transaction never has to upgrade a read lock, which is where SQLite deadlocks come from.
  A busy database is waited for (SQLite's busy timeout) and then retried with jittered backoff
  for up to ``retry_for`` seconds; only after that does a write give up, and it gives up with
  :class:`JudgmentNotSaved`. A caller never sees ``database is locked`` and never gets a
  return value for a write that was not committed.
* Optimistic concurrency: a caller that shows a judgment passes the version it showed as
  ``expected_version``; if someone changed the judgment since, the write is refused with
  :class:`StaleEditError` and the refused attempt is itself recorded in the history.

The grade scale is configurable (:class:`GradeScale`, default 0-3). "Skip / can't judge" is a
separate status with no grade, so no metric can mistake it for a relevance level.
"""

from __future__ import annotations

import csv
import json
import os
import random
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, Final, Literal, NamedTuple, TypeVar

from sqlite_utils import Database

from rankshift.types import Qrels

if TYPE_CHECKING:
    import pandas as pd

    from rankshift.judgments.agreement import AgreementResult, KappaWeights

__all__ = [
    "DEFAULT_SCALE",
    "MIGRATIONS",
    "SKIP",
    "Aggregate",
    "GradeScale",
    "HistoryEntry",
    "ImportReport",
    "Judgment",
    "JudgmentContext",
    "JudgmentNotSaved",
    "JudgmentStore",
    "JudgmentStoreBusy",
    "JudgmentStoreError",
    "Migration",
    "StaleEditError",
    "aggregate_grades",
    "aggregate_qrels",
    "csv_escape",
    "csv_unescape",
    "grade_name",
    "judgments_frame",
    "migrate",
    "write_csv",
    "write_jsonl",
    "write_trec_qrels",
]

T = TypeVar("T")

Status = Literal["graded", "skipped"]
Action = Literal["create", "update", "delete", "rejected_stale"]
Aggregate = Literal["mean", "majority", "min", "max"]
Key = tuple[str, str, str, str]
"""``(collection, query_id, doc_id, annotator)``: what the UNIQUE index is on."""

SKIP: Final = "skip"
"""Pass as ``grade`` to record "skip / can't judge"."""


# --------------------------------------------------------------------------------------
# Errors


class JudgmentStoreError(Exception):
    """Base class of the store's own errors."""


class JudgmentNotSaved(JudgmentStoreError):
    """A write did not happen: nothing of it is in the database."""


class JudgmentStoreBusy(JudgmentStoreError):
    """A read could not get at the database within the retry window."""


class StaleEditError(JudgmentNotSaved):
    """The judgment changed since the caller last saw it; the edit was refused.

    The refused attempt is recorded in the history (action ``rejected_stale``).

    Attributes:
        key: ``(collection, query_id, doc_id, annotator)``.
        expected_version: the version the caller said it was editing.
        current: the judgment as it is now (``None`` if it was deleted or never existed).
        current_version: its version now (0 if it never existed; for a deleted judgment, the
            version the deletion got).
        changed_by: who made the change the caller did not see (``None`` if nobody did).
        changed_at: when (ISO-8601, UTC).
        current_grade: the grade now (``None`` if skipped, deleted or missing).
    """

    def __init__(
        self,
        key: Key,
        expected_version: int,
        current: Judgment | None,
        current_version: int,
        changed_by: str | None,
        changed_at: str | None,
    ) -> None:
        self.key = key
        self.expected_version = expected_version
        self.current = current
        self.current_version = current_version
        self.changed_by = changed_by
        self.changed_at = changed_at
        self.current_grade = current.grade if current is not None else None
        collection, query_id, doc_id, annotator = key
        if current is not None:
            now = f"now {current.status if current.grade is None else f'grade {current.grade}'}"
        elif changed_by is not None:
            now = "now deleted"
        else:
            now = "it does not exist"
        super().__init__(
            f"judgment of {doc_id!r} for query {query_id!r} by {annotator!r} in {collection!r} "
            f"was changed by {changed_by!r} at {changed_at} ({now}, version {current_version}); "
            f"the edit was made against version {expected_version} and was not saved"
        )


# --------------------------------------------------------------------------------------
# Records


@dataclass(frozen=True)
class GradeScale:
    """Ordered relevance grades: grade ``min_grade + i`` is called ``labels[i]``.

    Attributes:
        labels: names of the grades, lowest first.
        min_grade: the lowest grade's number.
    """

    labels: tuple[str, ...] = ("irrelevant", "related", "relevant", "perfect")
    min_grade: int = 0

    def __post_init__(self) -> None:
        if len(self.labels) < 2:
            raise ValueError("a grade scale needs at least two grades")
        if SKIP in self.labels:
            raise ValueError(f"{SKIP!r} is reserved for 'skip / can't judge'")

    @property
    def grades(self) -> tuple[int, ...]:
        return tuple(range(self.min_grade, self.min_grade + len(self.labels)))

    def label(self, grade: int | None) -> str:
        """Name of ``grade``; ``None`` (a skip) is called ``"skip"``."""
        if grade is None:
            return SKIP
        return self.labels[self.validate(grade) - self.min_grade]

    def validate(self, grade: object) -> int:
        """Return ``grade`` if it is on the scale, else raise ValueError."""
        # bool is an int subclass; True as a grade is always a bug upstream.
        if not isinstance(grade, int) or isinstance(grade, bool) or grade not in self.grades:
            raise ValueError(f"grade must be one of {list(self.grades)} or {SKIP!r}, got {grade!r}")
        return grade


DEFAULT_SCALE = GradeScale()

_CONTEXT_FIELDS = ("stage", "model_id", "model_revision", "rank", "settings")


@dataclass(frozen=True)
class JudgmentContext:
    """What was on screen when a judgment was made.

    Attributes:
        stage: which ranking was shown (``"reranked"``, ``"bm25"``, ...).
        model_id: the reranker's model id.
        model_revision: its revision (commit hash).
        rank: the rank the document was shown at (1-based).
        settings: any other settings (k, N, fusion, ...), JSON-serialisable.
        extra: keys this version does not know (from a newer writer or another tool), kept so
            that reading and re-writing a record loses nothing.
    """

    stage: str | None = None
    model_id: str | None = None
    model_revision: str | None = None
    rank: int | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.extra,
            "stage": self.stage,
            "model_id": self.model_id,
            "model_revision": self.model_revision,
            "rank": self.rank,
            "settings": dict(self.settings),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> JudgmentContext:
        data = dict(data or {})
        known = {k: data.pop(k) for k in _CONTEXT_FIELDS if k in data}
        return cls(
            stage=known.get("stage"),
            model_id=known.get("model_id"),
            model_revision=known.get("model_revision"),
            rank=known.get("rank"),
            settings=dict(known.get("settings") or {}),
            extra=data,
        )

    def to_json(self) -> str:
        try:
            return json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False)
        except (TypeError, ValueError) as e:
            raise ValueError(f"judgment context must be JSON-serialisable: {e}") from None


@dataclass(frozen=True)
class Judgment:
    """One annotator's current label for one (query, document) pair.

    Attributes:
        collection: the collection's fingerprint.
        query_id: query id.
        doc_id: document id.
        annotator: who the label belongs to (a person, or a source such as ``"qrels:test"``).
        grade: the relevance grade, ``None`` when skipped.
        status: ``"graded"`` or ``"skipped"`` ("can't judge").
        query_text: the query as the annotator saw it.
        note: free-text note.
        context: what was on screen (:class:`JudgmentContext`).
        source: where the label came from (``"ui"``, ``"qrels:test"``, ...).
        version: 1 on creation, +1 on every change (deletions count, so an edit made against a
            deleted judgment's last version cannot quietly resurrect it).
        timestamp: when this version was made (ISO-8601, UTC).
        edited_by: who made this version: the annotator, or a reviewer acting for them.
    """

    collection: str
    query_id: str
    doc_id: str
    annotator: str
    grade: int | None
    status: Status = "graded"
    query_text: str = ""
    note: str | None = None
    context: JudgmentContext = field(default_factory=JudgmentContext)
    source: str = "ui"
    version: int = 0
    timestamp: str = ""
    edited_by: str = ""

    @property
    def key(self) -> Key:
        return (self.collection, self.query_id, self.doc_id, self.annotator)

    @property
    def skipped(self) -> bool:
        return self.status == "skipped"

    def same_content(self, other: Judgment) -> bool:
        """True when the label itself is the same (ignores version, time and editor)."""
        return (
            self.key == other.key
            and self.grade == other.grade
            and self.status == other.status
            and self.query_text == other.query_text
            and self.note == other.note
            and self.context == other.context
            and self.source == other.source
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the JSONL export record)."""
        return {
            "collection": self.collection,
            "query_id": self.query_id,
            "query_text": self.query_text,
            "doc_id": self.doc_id,
            "annotator": self.annotator,
            "status": self.status,
            "grade": self.grade,
            "note": self.note,
            "context": self.context.to_dict(),
            "source": self.source,
            "version": self.version,
            "timestamp": self.timestamp,
            "edited_by": self.edited_by,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Judgment:
        missing = [k for k in ("collection", "query_id", "doc_id", "annotator") if k not in data]
        if missing:
            raise ValueError(f"judgment record lacks {', '.join(missing)}")
        grade = data.get("grade")
        status = data.get("status") or ("skipped" if grade is None else "graded")
        return cls(
            collection=str(data["collection"]),
            query_id=str(data["query_id"]),
            doc_id=str(data["doc_id"]),
            annotator=str(data["annotator"]),
            grade=None if grade is None else int(grade),
            status=status,
            query_text=str(data.get("query_text") or ""),
            note=data.get("note"),
            context=JudgmentContext.from_dict(data.get("context")),
            source=str(data.get("source") or "ui"),
            version=int(data.get("version") or 0),
            timestamp=str(data.get("timestamp") or ""),
            edited_by=str(data.get("edited_by") or data["annotator"]),
        )


@dataclass(frozen=True)
class HistoryEntry:
    """One row of ``judgment_history``.

    Attributes:
        seq: position in the history (replay order).
        action: ``create``, ``update``, ``delete`` or ``rejected_stale``.
        judgment: for create/update the judgment as written; for delete the judgment that was
            removed, with the version the deletion got; for rejected_stale the refused attempt,
            with the version the judgment actually had.
        recorded_at: when the store wrote this row (ISO-8601, UTC).
        expected_version: the version the caller said it was editing, if it said.
        attempted: for rejected_stale, what was refused (``"save"`` or ``"delete"``).
    """

    seq: int
    action: Action
    judgment: Judgment
    recorded_at: str
    expected_version: int | None = None
    attempted: Literal["save", "delete"] | None = None


@dataclass(frozen=True)
class ImportReport:
    """What a bulk import did."""

    created: int
    updated: int
    unchanged: int

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged


# --------------------------------------------------------------------------------------
# Schema and migrations


@dataclass(frozen=True)
class Migration:
    """One schema step. Applied once, in order, inside the migration transaction."""

    name: str
    apply: Callable[[Database], None]


_JUDGMENT_COLUMNS_SQL = """
    collection TEXT NOT NULL,
    query_id TEXT NOT NULL,
    query_text TEXT NOT NULL DEFAULT '',
    doc_id TEXT NOT NULL,
    annotator TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('graded', 'skipped')),
    -- a skip has no grade, so no metric can read it as a relevance level
    grade INTEGER CHECK ((status = 'graded') = (grade IS NOT NULL)),
    note TEXT,
    context TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(context)),
    source TEXT NOT NULL,
    version INTEGER NOT NULL,
    timestamp TEXT NOT NULL,
    edited_by TEXT NOT NULL"""


def _m001_initial(db: Database) -> None:
    db.execute(
        f"""CREATE TABLE judgments (
    id INTEGER PRIMARY KEY,{_JUDGMENT_COLUMNS_SQL},
    CHECK (version >= 1)
)"""
    )
    db.execute(
        "CREATE UNIQUE INDEX judgments_unique_pair "
        "ON judgments (collection, query_id, doc_id, annotator)"
    )
    db.execute("CREATE INDEX judgments_by_annotator ON judgments (collection, annotator)")
    db.execute(
        f"""CREATE TABLE judgment_history (
    seq INTEGER PRIMARY KEY,
    action TEXT NOT NULL CHECK (action IN ('create', 'update', 'delete', 'rejected_stale')),
    attempted TEXT CHECK (attempted IN ('save', 'delete')),
    expected_version INTEGER,
    recorded_at TEXT NOT NULL,{_JUDGMENT_COLUMNS_SQL}
)"""
    )
    db.execute(
        "CREATE INDEX judgment_history_pair "
        "ON judgment_history (collection, query_id, doc_id, annotator, seq)"
    )
    # The history is the audit trail and the replay source: rows are only ever appended.
    for event in ("UPDATE", "DELETE"):
        db.execute(
            f"CREATE TRIGGER judgment_history_no_{event.lower()} BEFORE {event} "
            "ON judgment_history BEGIN "
            "SELECT RAISE(ABORT, 'judgment_history is append-only'); END"
        )


MIGRATIONS: tuple[Migration, ...] = (Migration("001_initial", _m001_initial),)
"""Ordered schema steps; ``PRAGMA user_version`` is the number applied. Append, never edit."""


def migrate(
    db: Database, migrations: Sequence[Migration] = MIGRATIONS, *, retry_for: float = 30.0
) -> list[str]:
    """Bring the schema up to date; a no-op on an up-to-date database.

    All pending steps run in one ``BEGIN IMMEDIATE`` transaction, so two processes opening a
    new file at once cannot both apply a step, and a crash mid-migration leaves the old schema.
    Each step is also recorded in the ``migrations`` table.

    Args:
        db: the database (its connection must be in autocommit mode, ``isolation_level=None``).
        migrations: the steps, oldest first.
        retry_for: seconds to keep retrying while the database is locked.

    Returns:
        Names of the steps applied now (empty when the schema was current).

    Raises:
        JudgmentStoreError: the file was written by a newer schema than ``migrations`` knows.
    """

    def user_version() -> int:
        return int(db.execute("PRAGMA user_version").fetchone()[0])

    def check(version: int) -> None:
        if version > len(migrations):
            raise JudgmentStoreError(
                f"database schema version {version} is newer than this rankshift knows "
                f"({len(migrations)}); upgrade rankshift"
            )

    current = _retry_busy(user_version, retry_for, JudgmentStoreBusy, "read the schema version")
    check(current)
    if current == len(migrations):
        return []

    def apply() -> list[str]:
        # Another process may have migrated while we waited for the lock.
        version = user_version()
        check(version)
        db.execute(
            "CREATE TABLE IF NOT EXISTS migrations ("
            "id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, applied_at TEXT NOT NULL)"
        )
        applied = []
        for number, step in enumerate(migrations[version:], start=version + 1):
            step.apply(db)
            db.execute(
                "INSERT INTO migrations (id, name, applied_at) VALUES (?, ?, ?)",
                [number, step.name, _utc_now()],
            )
            # PRAGMA takes no bound parameters; number is an int we computed.
            db.execute(f"PRAGMA user_version = {int(number)}")
            applied.append(step.name)
        return applied

    return _in_write_transaction(db.conn, apply, retry_for, "migrate the schema")


# --------------------------------------------------------------------------------------
# Transactions and retries


def _is_busy(exc: BaseException) -> bool:
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        # Extended codes (SQLITE_BUSY_SNAPSHOT, SQLITE_LOCKED_SHAREDCACHE, ...) keep the
        # primary code in the low byte.
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    message = str(exc).lower()
    return "locked" in message or "busy" in message


_jitter = random.Random()


def _backoff(attempt: int) -> None:
    # SQLite's own busy handler already waited; this spreads the retries out so that many
    # writers woken together do not collide again in lockstep.
    time.sleep(min(0.1, 0.002 * 2 ** min(attempt, 6)) * _jitter.uniform(0.5, 1.5))


def _retry_busy(
    op: Callable[[], T], retry_for: float, error: type[JudgmentStoreError], what: str
) -> T:
    deadline = time.monotonic() + retry_for
    attempt = 0
    while True:
        try:
            return op()
        except sqlite3.OperationalError as e:
            if not _is_busy(e):
                raise
            if time.monotonic() >= deadline:
                raise error(f"could not {what}: the database stayed busy ({e})") from e
        _backoff(attempt)
        attempt += 1


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def _in_write_transaction(
    conn: sqlite3.Connection, op: Callable[[], T], retry_for: float, what: str
) -> T:
    """Run ``op`` in one ``BEGIN IMMEDIATE`` transaction, retrying while the file is busy.

    ``op`` must only touch the database (it may run several times). Any failure rolls back and
    raises :class:`JudgmentNotSaved` (errors of the store's own kind pass through unchanged).
    """
    deadline = time.monotonic() + retry_for
    attempt = 0
    while True:
        try:
            conn.execute("BEGIN IMMEDIATE")
            result = op()
            conn.execute("COMMIT")
            return result
        except BaseException as e:
            # The original error is the one worth reporting; a failed rollback of a
            # connection that is already broken adds nothing.
            with suppress(sqlite3.Error):
                _rollback(conn)
            if _is_busy(e) and time.monotonic() < deadline:
                _backoff(attempt)
                attempt += 1
                continue
            if isinstance(e, JudgmentStoreError) or not isinstance(e, Exception):
                raise
            if _is_busy(e):
                raise JudgmentNotSaved(
                    f"could not {what}: the database stayed locked for {retry_for:g}s ({e})"
                ) from e
            raise JudgmentNotSaved(f"could not {what}: {type(e).__name__}: {e}") from e


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


# --------------------------------------------------------------------------------------
# Pure helpers: aggregation and CSV cells


def aggregate_grades(grades: Sequence[int], how: Aggregate) -> int:
    """Combine several annotators' grades of one pair into one.

    Args:
        grades: the grades (skips already removed); must not be empty.
        how: ``mean`` (rounded half up: 1.5 -> 2), ``majority`` (the most frequent grade;
            a tie goes to the *lower* grade, so disagreement never inflates relevance),
            ``min`` or ``max``.

    Returns:
        The combined grade.
    """
    if not grades:
        raise ValueError("no grades to aggregate")
    if how == "mean":
        # Integer arithmetic: floor(sum/n + 1/2) without a float that could round 2.5 to 2.
        return (2 * sum(grades) + len(grades)) // (2 * len(grades))
    if how == "majority":
        counts = Counter(grades)
        return min(counts, key=lambda g: (-counts[g], g))
    if how == "min":
        return min(grades)
    if how == "max":
        return max(grades)
    raise ValueError(f"aggregate must be mean, majority, min or max, got {how!r}")


def aggregate_qrels(judgments: Iterable[Judgment], how: Aggregate = "mean") -> Qrels:
    """Qrels from judgments: skips are left out, several annotators per pair are combined.

    A pair whose every judgment is a skip is absent from the result.
    """
    if how not in ("mean", "majority", "min", "max"):
        # Checked here too, or an empty store would accept any spelling silently.
        raise ValueError(f"aggregate must be mean, majority, min or max, got {how!r}")
    grades: dict[tuple[str, str], list[int]] = {}
    for j in judgments:
        if j.grade is not None:
            grades.setdefault((j.query_id, j.doc_id), []).append(j.grade)
    qrels: Qrels = {}
    for (query_id, doc_id), values in sorted(grades.items()):
        qrels.setdefault(query_id, {})[doc_id] = aggregate_grades(values, how)
    return qrels


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_escape(value: str) -> str:
    """Make a text cell safe to open in a spreadsheet.

    A cell starting with ``=``, ``+``, ``-``, ``@``, tab or CR would be run as a formula
    (OWASP "CSV injection"); a leading ``'`` makes spreadsheets show it as text. A cell that
    already starts with ``'`` gets one too, so :func:`csv_unescape` can undo exactly what was
    done. Numbers are not passed through here and stay numbers.
    """
    if value.startswith((*_FORMULA_START, "'")):
        return "'" + value
    return value


def csv_unescape(value: str) -> str:
    """Undo :func:`csv_escape`."""
    return value[1:] if value.startswith("'") else value


_CSV_COLUMNS = (
    "collection",
    "query_id",
    "query_text",
    "doc_id",
    "annotator",
    "status",
    "grade",
    "note",
    "source",
    "version",
    "timestamp",
    "edited_by",
    "context",
)


def _csv_row(j: Judgment) -> list[Any]:
    text = {
        "collection": j.collection,
        "query_id": j.query_id,
        "query_text": j.query_text,
        "doc_id": j.doc_id,
        "annotator": j.annotator,
        "status": j.status,
        "note": "" if j.note is None else j.note,
        "source": j.source,
        "timestamp": j.timestamp,
        "edited_by": j.edited_by,
        "context": j.context.to_json(),
    }
    numbers = {"grade": "" if j.grade is None else j.grade, "version": j.version}
    return [numbers[c] if c in numbers else csv_escape(text[c]) for c in _CSV_COLUMNS]


def _judgment_from_csv(row: Mapping[str, str], line: int) -> Judgment:
    missing = [c for c in ("collection", "query_id", "doc_id", "annotator") if c not in row]
    if missing:
        raise ValueError(f"CSV lacks the column(s) {', '.join(missing)}")
    cells = {k: csv_unescape(v or "") for k, v in row.items() if k is not None}
    try:
        grade = int(cells["grade"]) if cells.get("grade", "") != "" else None
        context = json.loads(cells["context"]) if cells.get("context") else {}
    except ValueError as e:
        raise ValueError(f"CSV line {line}: {e}") from None
    return Judgment.from_dict(
        {
            **cells,
            "grade": grade,
            "note": cells.get("note") or None,
            "context": context,
            "version": 0,
        }
    )


# --------------------------------------------------------------------------------------
# Rows <-> records

_COLUMNS = (
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
)


def _row_values(j: Judgment, context_json: str | None = None) -> list[Any]:
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
    ]


def _judgment_from_row(row: Mapping[str, Any]) -> Judgment:
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
    )


def _same_content(row: Mapping[str, Any], j: Judgment, context_json: str) -> bool:
    """Does a stored row already say what ``j`` says? (Context compared as stored JSON.)"""
    return (
        row["grade"] == j.grade
        and row["status"] == j.status
        and row["query_text"] == j.query_text
        and row["note"] == j.note
        and row["source"] == j.source
        and row["context"] == context_json
    )


def _history_from_row(row: Mapping[str, Any]) -> HistoryEntry:
    return HistoryEntry(
        seq=row["seq"],
        action=row["action"],
        judgment=_judgment_from_row(row),
        recorded_at=row["recorded_at"],
        expected_version=row["expected_version"],
        attempted=row["attempted"],
    )


class _Change(NamedTuple):
    """One pending write: the current-table step and the history row that goes with it."""

    action: Action
    judgment: Judgment
    row_id: int | None = None
    """rowid in ``judgments`` of the row an update or delete replaces."""
    expected_version: int | None = None
    attempted: Literal["save", "delete"] | None = None
    context_json: str | None = None
    """The judgment's context, serialised once (a bulk import would otherwise pay twice)."""


def _open_text(file: str | os.PathLike[str] | IO[str], mode: str) -> tuple[IO[str], bool]:
    if isinstance(file, str | os.PathLike):
        # newline="" so the csv module controls line endings (it writes \r\n itself).
        return open(file, mode, encoding="utf-8", newline=""), True
    return file, False


@contextmanager
def _text_file(file: str | os.PathLike[str] | IO[str], mode: str) -> Iterator[IO[str]]:
    handle, owned = _open_text(file, mode)
    try:
        yield handle
    finally:
        if owned:
            handle.close()


def _check_id(value: str, what: str, forbidden: str) -> None:
    if not value or any(c in value for c in forbidden):
        raise ValueError(f"{what} {value!r} cannot be written in this format")


# --------------------------------------------------------------------------------------
# Frames and writers over any list of judgments (the store's exports use these too, and the
# app uses them on a filtered list)


_FRAME_COLUMNS = [
    "collection",
    "query_id",
    "query_text",
    "doc_id",
    "annotator",
    "status",
    "grade",
    "label",
    "note",
    "source",
    "version",
    "timestamp",
    "edited_by",
    "stage",
    "model_id",
    "model_revision",
    "rank_shown",
    "settings",
]


def grade_name(grade: int | None, scale: GradeScale = DEFAULT_SCALE) -> str:
    """The grade's name on ``scale`` (``"skip"`` for ``None``); an off-scale grade as a number.

    A grade imported under a wider scale still lists; it just has no name here.
    """
    try:
        return scale.label(grade)
    except ValueError:
        return str(grade)


def judgments_frame(
    judgments: Iterable[Judgment], scale: GradeScale = DEFAULT_SCALE
) -> pd.DataFrame:
    """Judgments as a tidy frame, one row per judgment (see :meth:`JudgmentStore.as_dataframe`)."""
    import pandas as pd

    frame = pd.DataFrame(
        [
            {
                "collection": j.collection,
                "query_id": j.query_id,
                "query_text": j.query_text,
                "doc_id": j.doc_id,
                "annotator": j.annotator,
                "status": j.status,
                "grade": j.grade,
                "label": grade_name(j.grade, scale),
                "note": j.note,
                "source": j.source,
                "version": j.version,
                "timestamp": j.timestamp,
                "edited_by": j.edited_by,
                "stage": j.context.stage,
                "model_id": j.context.model_id,
                "model_revision": j.context.model_revision,
                "rank_shown": j.context.rank,
                "settings": json.dumps(j.context.settings, sort_keys=True),
            }
            for j in judgments
        ],
        columns=_FRAME_COLUMNS,
    )
    frame["grade"] = frame["grade"].astype("Int64")
    frame["rank_shown"] = frame["rank_shown"].astype("Int64")
    frame["version"] = frame["version"].astype("int64")
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True, format="ISO8601")
    return frame


def write_trec_qrels(qrels: Qrels, file: str | os.PathLike[str] | IO[str]) -> int:
    """Write qrels as TREC lines (``qid 0 docid rel``); returns lines written."""
    lines = []
    for query_id, docs in qrels.items():
        _check_id(query_id, "query id", " \t\r\n")
        for doc_id, grade in docs.items():
            _check_id(doc_id, "doc id", " \t\r\n")
            lines.append(f"{query_id} 0 {doc_id} {grade}\n")
    with _text_file(file, "w") as handle:
        handle.writelines(lines)
    return len(lines)


def write_csv(judgments: Iterable[Judgment], file: str | os.PathLike[str] | IO[str]) -> int:
    """Write judgments as spreadsheet-safe CSV (see :meth:`JudgmentStore.export_csv`)."""
    rows = [_csv_row(j) for j in judgments]
    with _text_file(file, "w") as handle:
        writer = csv.writer(handle)
        writer.writerow(_CSV_COLUMNS)
        writer.writerows(rows)
    return len(rows)


def write_jsonl(judgments: Iterable[Judgment], file: str | os.PathLike[str] | IO[str]) -> int:
    """Write judgments as JSONL, full records including context; returns lines written."""
    count = 0
    with _text_file(file, "w") as handle:
        for j in judgments:
            handle.write(json.dumps(j.to_dict(), ensure_ascii=False, sort_keys=True) + "\n")
            count += 1
    return count


# --------------------------------------------------------------------------------------
# The store


class JudgmentStore:
    """Relevance judgments in one SQLite file.

    Use one store per thread (see the module docstring) and close it when done::

        with JudgmentStore("judgments.db") as store:
            j = store.save("fp123", "q1", "d7", "alice", 2, context={"stage": "reranked"})
            store.save("fp123", "q1", "d7", "alice", 3, expected_version=j.version)

    Args:
        path: the database file (created, and migrated, on first open).
        scale: the grade scale that writes are checked against.
        busy_timeout: seconds SQLite itself waits for a lock before reporting busy.
        retry_for: seconds the store keeps retrying a busy operation before giving up with
            :class:`JudgmentNotSaved` (writes) or :class:`JudgmentStoreBusy` (reads).
        synchronous: ``FULL`` (default) makes an acknowledged write survive power loss;
            ``NORMAL`` is faster and still survives a crash of the process.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        scale: GradeScale = DEFAULT_SCALE,
        busy_timeout: float = 5.0,
        retry_for: float = 30.0,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
    ) -> None:
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError(f"synchronous must be FULL or NORMAL, got {synchronous!r}")
        self.path = Path(path)
        self.scale = scale
        self.retry_for = retry_for
        # isolation_level=None: the sqlite3 module must not open transactions behind our back;
        # every write transaction is an explicit BEGIN IMMEDIATE (see _write).
        self._conn = sqlite3.connect(str(path), timeout=busy_timeout, isolation_level=None)
        try:
            self._db = Database(self._conn)
            self._read(lambda: self._conn.execute("PRAGMA journal_mode=WAL").fetchone())
            self._conn.execute(f"PRAGMA synchronous={synchronous}")
            migrate(self._db, retry_for=retry_for)
        except BaseException:
            self._conn.close()
            raise

    # -- lifecycle ---------------------------------------------------------------------

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> JudgmentStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        """``PRAGMA user_version``: the number of migrations applied."""
        return int(self._read(lambda: self._conn.execute("PRAGMA user_version").fetchone()[0]))

    # -- plumbing ----------------------------------------------------------------------

    def _read(self, op: Callable[[], T]) -> T:
        return _retry_busy(op, self.retry_for, JudgmentStoreBusy, "read the judgment store")

    def _write(self, op: Callable[[], T], what: str) -> T:
        return _in_write_transaction(self._conn, op, self.retry_for, what)

    def _query(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[dict]:
        # Not Database.query(): it wraps every SELECT in a SAVEPOINT (to undo statements that
        # turn out not to return rows), which is 40% of the CPU of a save. Every statement
        # here is a SELECT written in this module.
        cursor = self._conn.execute(sql, params)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def _current_row(self, key: Key) -> dict[str, Any] | None:
        rows = self._query(
            "SELECT * FROM judgments "
            "WHERE collection = ? AND query_id = ? AND doc_id = ? AND annotator = ?",
            key,
        )
        return rows[0] if rows else None

    def _last_history_row(self, key: Key) -> dict[str, Any] | None:
        rows = self._query(
            "SELECT * FROM judgment_history WHERE collection = ? AND query_id = ? "
            "AND doc_id = ? AND annotator = ? AND action != 'rejected_stale' "
            "ORDER BY seq DESC LIMIT 1",
            key,
        )
        return rows[0] if rows else None

    def _write_current(self, changes: Sequence[_Change]) -> None:
        """Apply changes to ``judgments`` (part of the caller's transaction)."""
        inserts = [_row_values(c.judgment, c.context_json) for c in changes if c.action == "create"]
        updates = [
            [*_row_values(c.judgment, c.context_json), c.row_id]
            for c in changes
            if c.action == "update"
        ]
        deletes = [[c.row_id] for c in changes if c.action == "delete"]
        # Plain executemany: sqlite-utils has no bulk update by rowid, and the statements are
        # the whole story of what a write does, which is worth seeing in one place.
        if inserts:
            self._conn.executemany(
                f"INSERT INTO judgments ({', '.join(_COLUMNS)}) "
                f"VALUES ({', '.join('?' for _ in _COLUMNS)})",
                inserts,
            )
        if updates:
            self._conn.executemany(
                f"UPDATE judgments SET {', '.join(f'{c} = ?' for c in _COLUMNS)} WHERE id = ?",
                updates,
            )
        if deletes:
            self._conn.executemany("DELETE FROM judgments WHERE id = ?", deletes)

    def _append_history(self, changes: Sequence[_Change], recorded_at: str) -> None:
        """Append changes to ``judgment_history`` (part of the caller's transaction)."""
        columns = ("action", "attempted", "expected_version", "recorded_at", *_COLUMNS)
        self._conn.executemany(
            f"INSERT INTO judgment_history ({', '.join(columns)}) "
            f"VALUES ({', '.join('?' for _ in columns)})",
            [
                [
                    c.action,
                    c.attempted,
                    c.expected_version,
                    recorded_at,
                    *_row_values(c.judgment, c.context_json),
                ]
                for c in changes
            ],
        )

    def _stale(self, key: Key, expected: int, row: dict[str, Any] | None) -> StaleEditError:
        if row is not None:
            current = _judgment_from_row(row)
            return StaleEditError(
                key, expected, current, current.version, current.edited_by, current.timestamp
            )
        last = self._last_history_row(key)
        if last is None:
            return StaleEditError(key, expected, None, 0, None, None)
        return StaleEditError(
            key, expected, None, last["version"], last["edited_by"], last["timestamp"]
        )

    # -- single writes -----------------------------------------------------------------

    def save(
        self,
        collection: str,
        query_id: str,
        doc_id: str,
        annotator: str,
        grade: int | Literal["skip"],
        *,
        query_text: str | None = None,
        note: str | None = None,
        context: JudgmentContext | Mapping[str, Any] | None = None,
        source: str = "ui",
        expected_version: int | None = None,
        edited_by: str | None = None,
    ) -> Judgment:
        """Create or replace one annotator's judgment of one pair.

        Semantics of ``expected_version`` (the UI always passes the version it showed):

        * ``None``: no check. Creates the judgment, or replaces the annotator's current one.
        * ``0``: "I saw no judgment": creates it, refuses if one exists now.
        * ``v >= 1``: "I saw version v": replaces it, refuses if the version is not ``v`` now
          (changed, or deleted, since).

        A refusal raises :class:`StaleEditError` and records the attempt in the history.

        Args:
            collection: collection fingerprint.
            query_id: query id.
            doc_id: document id.
            annotator: whose judgment this is.
            grade: a grade on the store's scale, or :data:`SKIP` ("can't judge").
            query_text: the query's text; ``None`` keeps the text already stored.
            note: free-text note (replaces the previous note; ``None`` clears it).
            context: what was on screen, a :class:`JudgmentContext` or a dict of its fields.
            source: where the label comes from.
            expected_version: see above.
            edited_by: who is making the change, if not the annotator (a reviewer).

        Returns:
            The judgment as saved (with its new version and timestamp).

        Raises:
            StaleEditError: the judgment is not at ``expected_version``.
            JudgmentNotSaved: the write failed; nothing was written.
            ValueError: invalid input (checked before anything is written).
        """
        key: Key = (collection, query_id, doc_id, annotator)
        for name, value in zip(("collection", "query_id", "doc_id", "annotator"), key, strict=True):
            if not isinstance(value, str) or not value:
                raise ValueError(f"{name} must be a non-empty string, got {value!r}")
        if grade == SKIP:
            status: Status = "skipped"
            value: int | None = None
        else:
            status, value = "graded", self.scale.validate(grade)
        if not isinstance(context, JudgmentContext):
            context = JudgmentContext.from_dict(context)
        context.to_json()  # fail on an unserialisable context before the transaction
        if expected_version is not None and expected_version < 0:
            raise ValueError(f"expected_version must be >= 0, got {expected_version}")

        def op() -> Judgment | StaleEditError:
            now = _utc_now()
            row = self._current_row(key)
            draft = Judgment(
                *key,
                grade=value,
                status=status,
                query_text=(row["query_text"] if row else "") if query_text is None else query_text,
                note=note,
                context=context,
                source=source,
                timestamp=now,
                edited_by=edited_by or annotator,
            )
            if expected_version is not None and (row["version"] if row else 0) != expected_version:
                stale = self._stale(key, expected_version, row)
                attempt = replace(draft, version=stale.current_version)
                self._append_history(
                    [_Change("rejected_stale", attempt, None, expected_version, "save")], now
                )
                return stale
            if row is None:
                last = self._last_history_row(key)
                change = _Change(
                    "create",
                    replace(draft, version=(last["version"] if last else 0) + 1),
                    expected_version=expected_version,
                )
            else:
                change = _Change(
                    "update",
                    replace(draft, version=row["version"] + 1),
                    row["id"],
                    expected_version,
                )
            self._write_current([change])
            self._append_history([change], now)
            return change.judgment

        result = self._write(op, f"save the judgment of {doc_id!r} for {query_id!r}")
        if isinstance(result, StaleEditError):
            raise result
        return result

    def delete(
        self,
        collection: str,
        query_id: str,
        doc_id: str,
        annotator: str,
        *,
        expected_version: int | None = None,
        edited_by: str | None = None,
    ) -> Judgment | None:
        """Delete one annotator's judgment of one pair.

        ``expected_version`` works as in :meth:`save`: ``None`` deletes whatever is there,
        ``v`` deletes only version ``v`` and otherwise raises :class:`StaleEditError` (the
        refused attempt is recorded). The deletion is recorded in the history with version
        ``v + 1``, and a later re-creation continues from there.

        Returns:
            The judgment that was deleted, or ``None`` if there was none (and no version was
            expected).

        Raises:
            StaleEditError: the judgment is not at ``expected_version``.
            JudgmentNotSaved: the deletion failed; nothing changed.
        """
        key: Key = (collection, query_id, doc_id, annotator)

        def op() -> Judgment | StaleEditError | None:
            now = _utc_now()
            row = self._current_row(key)
            if expected_version is not None and (row["version"] if row else 0) != expected_version:
                stale = self._stale(key, expected_version, row)
                attempt = Judgment(
                    *key,
                    grade=None,
                    status="skipped",
                    version=stale.current_version,
                    timestamp=now,
                    edited_by=edited_by or annotator,
                )
                if row is not None:
                    attempt = replace(
                        _judgment_from_row(row), timestamp=now, edited_by=edited_by or annotator
                    )
                self._append_history(
                    [_Change("rejected_stale", attempt, None, expected_version, "delete")], now
                )
                return stale
            if row is None:
                return None
            current = _judgment_from_row(row)
            gone = replace(
                current,
                version=current.version + 1,
                timestamp=now,
                edited_by=edited_by or annotator,
            )
            change = _Change("delete", gone, row["id"], expected_version)
            self._write_current([change])
            self._append_history([change], now)
            return current

        result = self._write(op, f"delete the judgment of {doc_id!r} for {query_id!r}")
        if isinstance(result, StaleEditError):
            raise result
        return result

    # -- bulk writes -------------------------------------------------------------------

    def import_judgments(
        self, judgments: Iterable[Judgment], *, keep_timestamps: bool = True
    ) -> ImportReport:
        """Write many judgments in ONE transaction: all of them, or none.

        Each record replaces its annotator's current judgment of the pair (no version check:
        an import is an authoritative source). A record identical in content to the stored
        one is left alone, so importing the same file twice changes nothing. Versions are
        this store's own; the records' versions are ignored.

        Args:
            judgments: the records; a pair may appear once per annotator.
            keep_timestamps: keep each record's ``timestamp`` (when it was judged) if it has
                one; otherwise stamp it with the import time.

        Returns:
            Counts of created, updated and unchanged judgments.

        Raises:
            ValueError: a record is invalid or listed twice (nothing is written).
            JudgmentNotSaved: the write failed (nothing is written).
        """
        records: dict[Key, Judgment] = {}
        contexts: dict[Key, str] = {}
        by_object: dict[int, str] = {}  # qrels imports share one context object
        for j in judgments:
            if not all(j.key):
                raise ValueError(f"judgment with an empty id: {j.key}")
            if j.key in records:
                raise ValueError(f"judgment listed twice: {j.key}")
            if j.status == "graded":
                self.scale.validate(j.grade)
            elif j.status != "skipped" or j.grade is not None:
                raise ValueError(f"invalid status/grade {j.status!r}/{j.grade!r} for {j.key}")
            ctx = by_object.get(id(j.context))
            if ctx is None:
                ctx = by_object[id(j.context)] = j.context.to_json()
            contexts[j.key] = ctx
            records[j.key] = j

        groups = sorted({(k[0], k[3]) for k in records})

        def op() -> ImportReport:
            now = _utc_now()
            existing: dict[Key, dict[str, Any]] = {}
            deleted_at: dict[Key, int] = {}
            for collection, annotator in groups:
                for row in self._query(
                    "SELECT * FROM judgments WHERE collection = ? AND annotator = ?",
                    [collection, annotator],
                ):
                    existing[(collection, row["query_id"], row["doc_id"], annotator)] = row
                # Versions continue across a deletion (see Judgment.version); a deletion is
                # always the highest version of a pair that is absent from the table.
                for row in self._query(
                    "SELECT query_id, doc_id, MAX(version) AS version FROM judgment_history "
                    "WHERE collection = ? AND annotator = ? AND action = 'delete' "
                    "GROUP BY query_id, doc_id",
                    [collection, annotator],
                ):
                    deleted_at[(collection, row["query_id"], row["doc_id"], annotator)] = row[
                        "version"
                    ]
            changes: list[_Change] = []
            unchanged = 0
            for key, j in records.items():
                row = existing.get(key)
                ctx = contexts[key]
                if row is not None and _same_content(row, j, ctx):
                    unchanged += 1
                    continue
                version = row["version"] + 1 if row else deleted_at.get(key, 0) + 1
                # Positional construction: dataclasses.replace costs ~30 us a call, which is
                # most of a 10k-row import.
                stamped = Judgment(
                    *key,
                    j.grade,
                    j.status,
                    j.query_text,
                    j.note,
                    j.context,
                    j.source,
                    version,
                    j.timestamp if keep_timestamps and j.timestamp else now,
                    j.edited_by or j.annotator,
                )
                if row is None:
                    changes.append(_Change("create", stamped, context_json=ctx))
                else:
                    changes.append(_Change("update", stamped, row["id"], context_json=ctx))
            if changes:
                self._write_current(changes)
                self._append_history(changes, now)
            created = sum(c.action == "create" for c in changes)
            return ImportReport(created, len(changes) - created, unchanged)

        return self._write(op, f"import {len(records)} judgments")

    def import_qrels(
        self,
        collection: str,
        qrels: Qrels,
        *,
        annotator: str,
        source: str | None = None,
        query_texts: Mapping[str, str] | None = None,
    ) -> ImportReport:
        """Import qrels as the judgments of one named annotator, in one transaction.

        Args:
            collection: collection fingerprint.
            qrels: ``qrels[query_id][doc_id] = grade``; every grade must be on the scale.
            annotator: the name the labels are stored under, e.g. ``"qrels:test"``.
            source: the ``source`` field (default: the annotator name).
            query_texts: query texts by id, to store with the labels (optional).

        Returns:
            Counts of created, updated and unchanged judgments.
        """
        texts = query_texts or {}
        # Qrels carry no query text; keep what is stored rather than blank it.
        existing_text = {
            r["query_id"]: r["query_text"]
            for r in self._read(
                lambda: self._query(
                    "SELECT DISTINCT query_id, query_text FROM judgments "
                    "WHERE collection = ? AND annotator = ? AND query_text != ''",
                    [collection, annotator],
                )
            )
        }
        grades = set(self.scale.grades)
        for query_id, docs in qrels.items():
            for doc_id, grade in docs.items():
                if grade not in grades:
                    raise ValueError(
                        f"qrels {query_id} {doc_id}: grade {grade!r} is not on the scale "
                        f"{list(self.scale.grades)}"
                    )
        context = JudgmentContext()
        return self.import_judgments(
            (
                Judgment(
                    collection,
                    query_id,
                    doc_id,
                    annotator,
                    grade=grade,
                    query_text=texts.get(query_id, existing_text.get(query_id, "")),
                    context=context,
                    source=source or annotator,
                    edited_by=annotator,
                )
                for query_id, docs in qrels.items()
                for doc_id, grade in docs.items()
            ),
            keep_timestamps=False,
        )

    def import_trec_qrels(
        self,
        collection: str,
        path: str | os.PathLike[str],
        *,
        annotator: str,
        source: str | None = None,
        query_texts: Mapping[str, str] | None = None,
    ) -> ImportReport:
        """Import a TREC qrels file (``qid iter docid rel``); see :meth:`import_qrels`."""
        from rankshift.corpus import load_qrels

        return self.import_qrels(
            collection,
            load_qrels(path, "trec"),
            annotator=annotator,
            source=source,
            query_texts=query_texts,
        )

    def import_beir_qrels(
        self,
        collection: str,
        path: str | os.PathLike[str],
        *,
        annotator: str,
        source: str | None = None,
        query_texts: Mapping[str, str] | None = None,
    ) -> ImportReport:
        """Import a BEIR qrels TSV (``query-id corpus-id score``); see :meth:`import_qrels`."""
        from rankshift.corpus import load_qrels

        return self.import_qrels(
            collection,
            load_qrels(path, "beir"),
            annotator=annotator,
            source=source,
            query_texts=query_texts,
        )

    def import_jsonl(
        self, file: str | os.PathLike[str] | IO[str], *, collection: str | None = None
    ) -> ImportReport:
        """Import records written by :meth:`export_jsonl` (one transaction).

        Args:
            file: path or open text file.
            collection: store the records under this collection instead of their own.
        """
        records = []
        with _text_file(file, "r") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    data = json.loads(line)
                    j = Judgment.from_dict(data)
                except (ValueError, TypeError) as e:
                    raise ValueError(f"JSONL line {number}: {e}") from None
                records.append(replace(j, collection=collection) if collection else j)
        return self.import_judgments(records)

    def import_csv(
        self, file: str | os.PathLike[str] | IO[str], *, collection: str | None = None
    ) -> ImportReport:
        """Import a CSV written by :meth:`export_csv` (one transaction; escaping is undone)."""
        records = []
        with _text_file(file, "r") as handle:
            reader = csv.DictReader(handle)
            for number, row in enumerate(reader, start=2):
                j = _judgment_from_csv(row, number)
                records.append(replace(j, collection=collection) if collection else j)
        return self.import_judgments(records)

    # -- reads -------------------------------------------------------------------------

    def get(self, collection: str, query_id: str, doc_id: str, annotator: str) -> Judgment | None:
        """The current judgment of one pair by one annotator, or ``None``."""
        row = self._read(lambda: self._current_row((collection, query_id, doc_id, annotator)))
        return _judgment_from_row(row) if row else None

    def list_judgments(
        self,
        collection: str | None,
        query_id: str | None = None,
        annotator: str | None = None,
        *,
        doc_id: str | None = None,
        annotators: Collection[str] | None = None,
        sources: Collection[str] | None = None,
        include_skipped: bool = True,
    ) -> list[Judgment]:
        """Current judgments, ordered by collection, query, document and annotator.

        Args:
            collection: collection fingerprint (``None``: all collections).
            query_id: only this query.
            annotator: only this annotator.
            doc_id: only this document.
            annotators: only these annotators.
            sources: only these sources.
            include_skipped: include "skip / can't judge" records.
        """
        where, params = self._where(
            collection, query_id, annotator, doc_id, annotators, sources, include_skipped
        )
        rows = self._read(
            lambda: self._query(
                f"SELECT * FROM judgments {where} ORDER BY collection, query_id, doc_id, annotator",
                params,
            )
        )
        return [_judgment_from_row(r) for r in rows]

    @staticmethod
    def _where(
        collection: str | None,
        query_id: str | None,
        annotator: str | None,
        doc_id: str | None,
        annotators: Collection[str] | None,
        sources: Collection[str] | None,
        include_skipped: bool,
    ) -> tuple[str, list[Any]]:
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
        for column, values in (("annotator", annotators), ("source", sources)):
            if values is not None:
                values = list(values)
                clauses.append(f"{column} IN ({', '.join('?' for _ in values)})")
                params.extend(values)
        if not include_skipped:
            clauses.append("status = 'graded'")
        return ("WHERE " + " AND ".join(clauses) if clauses else ""), params

    def collections(self) -> list[str]:
        """Collection fingerprints that have judgments."""
        rows = self._read(
            lambda: self._query("SELECT DISTINCT collection FROM judgments ORDER BY collection")
        )
        return [r["collection"] for r in rows]

    def annotators(self, collection: str) -> list[str]:
        """Annotators with judgments in ``collection``."""
        rows = self._read(
            lambda: self._query(
                "SELECT DISTINCT annotator FROM judgments WHERE collection = ? ORDER BY annotator",
                [collection],
            )
        )
        return [r["annotator"] for r in rows]

    def history(
        self, collection: str, query_id: str, doc_id: str, annotator: str | None = None
    ) -> list[HistoryEntry]:
        """Every recorded change (and refused attempt) for one pair, oldest first."""
        sql = "SELECT * FROM judgment_history WHERE collection = ? AND query_id = ? AND doc_id = ?"
        params = [collection, query_id, doc_id]
        if annotator is not None:
            sql += " AND annotator = ?"
            params.append(annotator)
        rows = self._read(lambda: self._query(sql + " ORDER BY seq", params))
        return [_history_from_row(r) for r in rows]

    def replay_history(self, collection: str | None = None) -> list[Judgment]:
        """Rebuild the current judgments from the history alone.

        Creates and updates set a pair's state, deletes remove it, refused attempts are
        skipped. The result is ordered like :meth:`list_judgments` and equals it whenever
        the store is consistent.
        """
        sql = "SELECT * FROM judgment_history"
        params: list[Any] = []
        if collection is not None:
            sql += " WHERE collection = ?"
            params.append(collection)
        rows = self._read(lambda: self._query(sql + " ORDER BY seq", params))
        state: dict[Key, Judgment] = {}
        for row in rows:
            entry = _history_from_row(row)
            if entry.action in ("create", "update"):
                state[entry.judgment.key] = entry.judgment
            elif entry.action == "delete":
                state.pop(entry.judgment.key, None)
        return [state[k] for k in sorted(state)]

    def as_dataframe(
        self,
        collection: str | None = None,
        query_id: str | None = None,
        annotator: str | None = None,
        *,
        sources: Collection[str] | None = None,
        include_skipped: bool = True,
    ) -> pd.DataFrame:
        """Current judgments as a tidy frame, one row per judgment.

        Columns: collection, query_id, query_text, doc_id, annotator, status, grade (nullable
        Int64, empty for skips), label (the grade's name or ``"skip"``), note, source, version,
        timestamp (UTC datetime), edited_by, and the context flattened into stage, model_id,
        model_revision, rank_shown and settings (a JSON string).
        """
        judgments = self.list_judgments(
            collection,
            query_id,
            annotator,
            sources=sources,
            include_skipped=include_skipped,
        )
        return judgments_frame(judgments, self.scale)

    # -- qrels and exports -------------------------------------------------------------

    def qrels(
        self,
        collection: str,
        aggregate: Aggregate = "mean",
        annotators: Collection[str] | None = None,
        include_sources: Collection[str] | None = None,
    ) -> Qrels:
        """Qrels for evaluation, combining several annotators per pair.

        Args:
            collection: collection fingerprint.
            aggregate: how several grades of one pair become one: ``mean`` rounded half up,
                ``majority`` with ties broken toward the lower grade, ``min`` or ``max``
                (see :func:`aggregate_grades`).
            annotators: only these annotators (``None``: all).
            include_sources: only judgments from these sources (``None``: all, which mixes
                imported qrels with labels made in the UI; pass e.g. ``["ui"]`` to keep them
                apart).

        Returns:
            ``qrels[query_id][doc_id] = grade``; skips are left out.
        """
        judgments = self.list_judgments(
            collection, annotators=annotators, sources=include_sources, include_skipped=False
        )
        return aggregate_qrels(judgments, aggregate)

    def export_trec_qrels(
        self,
        collection: str,
        file: str | os.PathLike[str] | IO[str],
        *,
        aggregate: Aggregate = "mean",
        annotators: Collection[str] | None = None,
        include_sources: Collection[str] | None = None,
    ) -> int:
        """Write TREC qrels (``qid 0 docid rel``) from :meth:`qrels`; returns lines written."""
        return write_trec_qrels(
            self.qrels(collection, aggregate, annotators, include_sources), file
        )

    def export_beir_qrels(
        self,
        collection: str,
        file: str | os.PathLike[str] | IO[str],
        *,
        aggregate: Aggregate = "mean",
        annotators: Collection[str] | None = None,
        include_sources: Collection[str] | None = None,
    ) -> int:
        """Write BEIR qrels (TSV with header) from :meth:`qrels`; returns rows written."""
        qrels = self.qrels(collection, aggregate, annotators, include_sources)
        lines = ["query-id\tcorpus-id\tscore\n"]
        for query_id, docs in qrels.items():
            _check_id(query_id, "query id", "\t\r\n")
            for doc_id, grade in docs.items():
                _check_id(doc_id, "doc id", "\t\r\n")
                lines.append(f"{query_id}\t{doc_id}\t{grade}\n")
        with _text_file(file, "w") as handle:
            handle.writelines(lines)
        return len(lines) - 1

    def export_csv(
        self,
        file: str | os.PathLike[str] | IO[str],
        collection: str | None = None,
        **filters: Any,
    ) -> int:
        """Write judgments as CSV, safe to open in a spreadsheet; returns rows written.

        Text cells pass through :func:`csv_escape`; grade and version stay plain numbers.
        The context is one JSON cell. ``filters`` are those of :meth:`list_judgments`.
        """
        return write_csv(self.list_judgments(collection, **filters), file)

    def export_jsonl(
        self,
        file: str | os.PathLike[str] | IO[str],
        collection: str | None = None,
        **filters: Any,
    ) -> int:
        """Write judgments as JSONL, full records including context; returns lines written."""
        return write_jsonl(self.list_judgments(collection, **filters), file)

    # -- agreement ---------------------------------------------------------------------

    def agreement(
        self,
        collection: str,
        *,
        annotators: Collection[str] | None = None,
        include_sources: Collection[str] | None = None,
        kappa_weights: KappaWeights = None,
        per_query: bool = True,
    ) -> list[AgreementResult]:
        """Agreement between annotators in ``collection``.

        See :func:`rankshift.judgments.agreement.agreement`; ``annotators`` and ``include_sources``
        filter the judgments first.
        """
        from rankshift.judgments.agreement import agreement

        judgments = self.list_judgments(collection, annotators=annotators, sources=include_sources)
        return agreement(
            judgments, scale=self.scale, kappa_weights=kappa_weights, per_query=per_query
        )

    def agreement_frame(self, collection: str, **kwargs: Any) -> pd.DataFrame:
        """:meth:`agreement` as a tidy frame (see :func:`rankshift.judgments.agreement.agreement_frame`)."""
        from rankshift.judgments.agreement import agreement_frame

        return agreement_frame(self.agreement(collection, **kwargs))
