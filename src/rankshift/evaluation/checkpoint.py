"""A batch run's checkpoint: one JSON line per finished query, so a stopped batch resumes.

A query is finished when every stage of its pipeline did its work. A reranked query whose
rerank failed or could not run (its list is the first stage's order, see
:func:`rankshift.rerank.rerank`) is kept for this run's report but not written: resuming
runs it again instead of keeping the first stage's order as if it were the reranker's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

_CHECKPOINT_VERSION = 1

RETRIED_STATUSES = frozenset({"failed", "unavailable"})
"""Rerank statuses (:class:`~rankshift.types.RerankInfo`) of a query that is not finished."""


def finished(record: dict[str, Any]) -> bool:
    """True when ``record`` is final: no rerank, or a rerank that did not fall back."""
    info = record.get("rerank")
    return info is None or info.get("status") not in RETRIED_STATUSES


class Checkpoint:
    """One run's results, one JSON line per finished query, after a header naming the settings.

    A line is appended (and flushed) as soon as a query finishes; a torn last line from a killed
    process is dropped on load. A header that does not match the current settings means the file
    holds another experiment's results: it is started over rather than mixed in.
    """

    def __init__(self, path: Path | None, header: dict[str, Any], resume: bool) -> None:
        self.path = path
        self.header = json.loads(
            json.dumps({"rankshift_checkpoint": _CHECKPOINT_VERSION, **header})
        )
        self.records: dict[str, dict[str, Any]] = {}
        self.restarted = False
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        if resume and path.exists():
            lines = path.read_text(encoding="utf-8").split("\n")
            good: list[str] = []
            try:
                same = json.loads(lines[0]) == self.header
            except json.JSONDecodeError:
                same = False
            if same:
                good.append(lines[0])
                for line in lines[1:]:
                    try:
                        record = json.loads(line)
                    except json.JSONDecodeError:
                        break  # a torn write: this line and anything after it are redone
                    if finished(record):  # files written before failures were retried
                        self.records[record["query_id"]] = record
                        good.append(line)
                if len(good) != len([x for x in lines if x]):
                    path.write_text("\n".join(good) + "\n", encoding="utf-8")
                return
            self.restarted = True
        path.write_text(json.dumps(self.header) + "\n", encoding="utf-8")

    def append(self, record: dict[str, Any]) -> None:
        """Keep a query's record; write it (flushed) when the query is :func:`finished`."""
        self.records[record["query_id"]] = record
        if self.path is not None and finished(record):
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
                f.flush()
