"""One SQLite connection to a judgments file, and the plumbing every read and write shares.

:class:`StoreConnection` opens the file (WAL mode, migrated on open), runs reads with busy
retries and writes in ``BEGIN IMMEDIATE`` transactions (:mod:`.transactions`), and turns pending
:class:`~rankshift.judgments.rows.Change` records into rows of ``judgments`` and
``judgment_history``. The writes and reads themselves are in :mod:`.writes` and :mod:`.store`.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, TypeVar

from sqlite_utils import Database

from rankshift.judgments.errors import JudgmentStoreBusy, StaleEditError
from rankshift.judgments.rows import (
    COLUMNS,
    HISTORY_COLUMNS,
    Change,
    judgment_from_row,
    row_values,
)
from rankshift.judgments.schema import migrate
from rankshift.judgments.transactions import in_write_transaction, retry_busy
from rankshift.types import DEFAULT_SCALE, GradeScale, JudgmentKey

__all__ = ["StoreConnection"]

T = TypeVar("T")


class StoreConnection:
    """A connection to one judgments file (see :class:`rankshift.judgments.JudgmentStore`).

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

    def __enter__(self: T) -> T:
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
        return retry_busy(op, self.retry_for, JudgmentStoreBusy, "read the judgment store")

    def _write(self, op: Callable[[], T], what: str) -> T:
        return in_write_transaction(self._conn, op, self.retry_for, what)

    def _query(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[dict]:
        # Not Database.query(): it wraps every SELECT in a SAVEPOINT (to undo statements that
        # turn out not to return rows), which is 40% of the CPU of a save. Every statement
        # here is a SELECT written in this package.
        cursor = self._conn.execute(sql, params)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def _current_row(self, key: JudgmentKey) -> dict[str, Any] | None:
        rows = self._query(
            "SELECT * FROM judgments "
            "WHERE collection = ? AND query_id = ? AND doc_id = ? AND annotator = ?",
            key,
        )
        return rows[0] if rows else None

    def _last_history_row(self, key: JudgmentKey) -> dict[str, Any] | None:
        rows = self._query(
            "SELECT * FROM judgment_history WHERE collection = ? AND query_id = ? "
            "AND doc_id = ? AND annotator = ? AND action != 'rejected_stale' "
            "ORDER BY seq DESC LIMIT 1",
            key,
        )
        return rows[0] if rows else None

    def _write_current(self, changes: Sequence[Change]) -> None:
        """Apply changes to ``judgments`` (part of the caller's transaction)."""
        inserts = [row_values(c.judgment, c.context_json) for c in changes if c.action == "create"]
        updates = [
            [*row_values(c.judgment, c.context_json), c.row_id]
            for c in changes
            if c.action in ("update", "adopt")
        ]
        deletes = [[c.row_id] for c in changes if c.action == "delete"]
        # Plain executemany: sqlite-utils has no bulk update by rowid, and the statements are
        # the whole story of what a write does, which is worth seeing in one place.
        if inserts:
            self._conn.executemany(
                f"INSERT INTO judgments ({', '.join(COLUMNS)}) "
                f"VALUES ({', '.join('?' for _ in COLUMNS)})",
                inserts,
            )
        if updates:
            self._conn.executemany(
                f"UPDATE judgments SET {', '.join(f'{c} = ?' for c in COLUMNS)} WHERE id = ?",
                updates,
            )
        if deletes:
            self._conn.executemany("DELETE FROM judgments WHERE id = ?", deletes)

    def _append_history(self, changes: Sequence[Change], recorded_at: str) -> None:
        """Append changes to ``judgment_history`` (part of the caller's transaction)."""
        self._conn.executemany(
            f"INSERT INTO judgment_history ({', '.join(HISTORY_COLUMNS)}) "
            f"VALUES ({', '.join('?' for _ in HISTORY_COLUMNS)})",
            [
                [
                    c.action,
                    c.attempted,
                    c.expected_version,
                    c.adopted_from,
                    recorded_at,
                    *row_values(c.judgment, c.context_json),
                ]
                for c in changes
            ],
        )

    def _stale(self, key: JudgmentKey, expected: int, row: dict[str, Any] | None) -> StaleEditError:
        if row is not None:
            current = judgment_from_row(row)
            return StaleEditError(
                key, expected, current, current.version, current.edited_by, current.timestamp
            )
        last = self._last_history_row(key)
        if last is None:
            return StaleEditError(key, expected, None, 0, None, None)
        return StaleEditError(
            key, expected, None, last["version"], last["edited_by"], last["timestamp"]
        )
