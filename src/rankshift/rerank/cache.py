"""The pair-score cache: a cross-encoder never scores the same (query, document) twice."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

MEMORY_ENTRIES = 200_000
"""Pair scores kept in memory per cache (least recently used dropped first): about 40 MB."""

_UNKNOWN_TOKENS = -1
"""How the file stores "token count unknown" (an HTTP reranker cannot tell)."""


def pair_hash(*parts: str) -> str:
    h = hashlib.sha256()
    for p in parts:
        b = p.encode("utf-8")
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()


class PairScoreCache:
    """Reranker scores keyed by reranker identity + revision + max_length + query + document hash.

    Backed by one SQLite file (WAL, so the app and a batch run can share it) with an in-memory
    LRU of at most ``memory_entries`` pairs in front; memory only when ``path`` is None. A cache
    that cannot be written is a slower cache, never a failure. Safe to share between threads.
    """

    def __init__(
        self, path: str | Path | None = None, memory_entries: int = MEMORY_ENTRIES
    ) -> None:
        self.path = Path(path) if path is not None else None
        self.memory_entries = memory_entries
        self._memory: OrderedDict[str, tuple[float, int | None]] = OrderedDict()
        self._memory_lock = threading.Lock()
        self.error: str | None = None
        """Why the file could not be used (the cache then lives in memory only)."""
        if self.path is not None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self._connect() as db:
                    db.execute(
                        "CREATE TABLE IF NOT EXISTS pair_scores "
                        "(key TEXT PRIMARY KEY, score REAL NOT NULL, n_tokens INTEGER NOT NULL)"
                    )
            except (OSError, sqlite3.Error) as e:
                # A broken or unwritable cache file must not stop reranking.
                self.error = f"{self.path}: {e}"
                self.path = None

    def _connect(self) -> sqlite3.Connection:
        assert self.path is not None
        conn = sqlite3.connect(self.path, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        return conn

    @staticmethod
    def key(model_id: str, revision: str, max_length: int, query: str, doc_text: str) -> str:
        return pair_hash(model_id, revision, str(max_length), query, pair_hash(doc_text))

    def _remember(self, items: dict[str, tuple[float, int | None]]) -> None:
        with self._memory_lock:
            for k, v in items.items():
                self._memory[k] = v
                self._memory.move_to_end(k)
            while len(self._memory) > self.memory_entries:
                self._memory.popitem(last=False)

    def get_many(self, keys: Sequence[str]) -> dict[str, tuple[float, int | None]]:
        """Scores and token counts (None: unknown) of the keys the cache holds."""
        with self._memory_lock:
            found = {k: self._memory[k] for k in keys if k in self._memory}
            for k in found:
                self._memory.move_to_end(k)
        missing = [k for k in keys if k not in found]
        if self.path is None or not missing:
            return found
        try:
            with self._connect() as db:
                for start in range(0, len(missing), 500):
                    chunk = missing[start : start + 500]
                    marks = ",".join("?" * len(chunk))
                    for k, s, n in db.execute(
                        f"SELECT key, score, n_tokens FROM pair_scores WHERE key IN ({marks})",
                        chunk,
                    ):
                        found[k] = (s, None if n == _UNKNOWN_TOKENS else n)
        except sqlite3.Error:
            return found
        self._remember({k: found[k] for k in missing if k in found})
        return found

    def put_many(self, items: dict[str, tuple[float, int | None]]) -> None:
        self._remember(items)
        if self.path is None or not items:
            return
        try:
            with self._connect() as db:
                db.executemany(
                    "INSERT OR REPLACE INTO pair_scores VALUES (?, ?, ?)",
                    [(k, s, _UNKNOWN_TOKENS if n is None else n) for k, (s, n) in items.items()],
                )
        except sqlite3.Error:
            pass

    def __len__(self) -> int:
        if self.path is None:
            with self._memory_lock:
                return len(self._memory)
        with self._connect() as db:
            return int(db.execute("SELECT count(*) FROM pair_scores").fetchone()[0])
