"""SQLite transactions for the judgment store: ``BEGIN IMMEDIATE``, busy retries, backoff.

Every write is one short ``BEGIN IMMEDIATE`` transaction. Taking the write lock up front means
a transaction never has to upgrade a read lock, which is where SQLite deadlocks come from. A
busy database is waited for (SQLite's busy timeout) and then retried with jittered backoff for
up to ``retry_for`` seconds; only after that does a write give up, with
:class:`~rankshift.judgments.errors.JudgmentNotSaved`.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Callable
from contextlib import suppress
from datetime import UTC, datetime
from typing import TypeVar

from rankshift.judgments.errors import JudgmentNotSaved, JudgmentStoreError

__all__ = ["in_write_transaction", "is_busy", "retry_busy", "utc_now"]

T = TypeVar("T")


def is_busy(exc: BaseException) -> bool:
    """Is ``exc`` SQLite saying the file is locked or busy (worth retrying)?"""
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


def retry_busy(
    op: Callable[[], T], retry_for: float, error: type[JudgmentStoreError], what: str
) -> T:
    """Run ``op``, retrying while the database is busy; after ``retry_for`` s raise ``error``."""
    deadline = time.monotonic() + retry_for
    attempt = 0
    while True:
        try:
            return op()
        except sqlite3.OperationalError as e:
            if not is_busy(e):
                raise
            if time.monotonic() >= deadline:
                raise error(f"could not {what}: the database stayed busy ({e})") from e
        _backoff(attempt)
        attempt += 1


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def in_write_transaction(
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
            if is_busy(e) and time.monotonic() < deadline:
                _backoff(attempt)
                attempt += 1
                continue
            if isinstance(e, JudgmentStoreError) or not isinstance(e, Exception):
                raise
            if is_busy(e):
                raise JudgmentNotSaved(
                    f"could not {what}: the database stayed locked for {retry_for:g}s ({e})"
                ) from e
            raise JudgmentNotSaved(f"could not {what}: {type(e).__name__}: {e}") from e


def utc_now() -> str:
    """Now, ISO-8601 in UTC with microseconds (how every timestamp in the store is written)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")
