"""The judgment store's schema and its migrations.

``PRAGMA user_version`` is the number of :data:`MIGRATIONS` applied; :func:`migrate` applies
the missing ones in one transaction when a store opens a file. Steps are appended, never
edited: a file written by any earlier rankshift opens with nothing lost.

* ``001_initial``: ``judgments`` (one current label per collection, query, document and
  annotator) and ``judgment_history`` (append-only; the history alone rebuilds the current
  table). Labels were keyed by the whole corpus's fingerprint.
* ``002_doc_hash``: labels are keyed by the collection's name and carry the content hash of
  the document they judge (``doc_hash``; NULL for rows written before). The history gains the
  ``adopt`` action and ``adopted_from``: a label keyed by a fingerprint is re-keyed to a name
  when a collection with that very fingerprint is opened (see
  :meth:`rankshift.judgments.JudgmentStore.adopt`). The history table is rebuilt for its new
  CHECK constraint with every row and ``seq`` copied as is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlite_utils import Database

from rankshift.judgments.errors import JudgmentStoreBusy, JudgmentStoreError
from rankshift.judgments.transactions import in_write_transaction, retry_busy, utc_now

__all__ = ["MIGRATIONS", "Migration", "migrate"]


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

_V1_COLUMNS = (
    "collection, query_id, query_text, doc_id, annotator, status, grade, note, context, "
    "source, version, timestamp, edited_by"
)


def _history_guards(db: Database) -> None:
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
    _history_guards(db)


def _m002_doc_hash(db: Database) -> None:
    db.execute("ALTER TABLE judgments ADD COLUMN doc_hash TEXT")
    # SQLite cannot change a CHECK constraint in place: build the new table, copy every row
    # (seq included, so the replay order is kept), swap. The append-only triggers go with the
    # old table and are made again on the new one.
    db.execute(
        f"""CREATE TABLE judgment_history_v2 (
    seq INTEGER PRIMARY KEY,
    action TEXT NOT NULL
        CHECK (action IN ('create', 'update', 'delete', 'rejected_stale', 'adopt')),
    attempted TEXT CHECK (attempted IN ('save', 'delete')),
    expected_version INTEGER,
    adopted_from TEXT CHECK ((action = 'adopt') = (adopted_from IS NOT NULL)),
    recorded_at TEXT NOT NULL,{_JUDGMENT_COLUMNS_SQL},
    doc_hash TEXT
)"""
    )
    db.execute(
        "INSERT INTO judgment_history_v2 "
        f"(seq, action, attempted, expected_version, recorded_at, {_V1_COLUMNS}) "
        f"SELECT seq, action, attempted, expected_version, recorded_at, {_V1_COLUMNS} "
        "FROM judgment_history ORDER BY seq"
    )
    db.execute("DROP TABLE judgment_history")
    db.execute("ALTER TABLE judgment_history_v2 RENAME TO judgment_history")
    _history_guards(db)
    # Finds the old keys a collection adopted (history of a pair across the re-keying).
    db.execute(
        "CREATE INDEX judgment_history_adopted ON judgment_history (collection, adopted_from) "
        "WHERE action = 'adopt'"
    )
    # The Judgments page filters by source and grade within a collection.
    db.execute("CREATE INDEX judgments_by_source ON judgments (collection, source)")


MIGRATIONS: tuple[Migration, ...] = (
    Migration("001_initial", _m001_initial),
    Migration("002_doc_hash", _m002_doc_hash),
)
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

    current = retry_busy(user_version, retry_for, JudgmentStoreBusy, "read the schema version")
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
                [number, step.name, utc_now()],
            )
            # PRAGMA takes no bound parameters; number is an int we computed.
            db.execute(f"PRAGMA user_version = {int(number)}")
            applied.append(step.name)
        return applied

    return in_write_transaction(db.conn, apply, retry_for, "migrate the schema")
