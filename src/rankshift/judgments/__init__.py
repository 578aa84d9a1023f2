"""Relevance judgments: the SQLite store, its schema, import and export, the judging queue.

A judgment is one annotator's grade for one (query, document) pair of one collection, keyed
by the collection's name and carrying the content hash of the document it judged, so that
adding, removing or correcting documents orphans no label and a label of an edited document
shows as stale. The records are in :mod:`rankshift.types`; the package is split by concept:

* :mod:`.store` (:class:`JudgmentStore`): reads, qrels and exports, over :mod:`.writes`
  (saves, imports, adopting labels from before schema 2) and :mod:`.connection`.
* :mod:`.schema`: the tables and their migrations; :mod:`.transactions`: SQLite transactions
  and busy retries; :mod:`.rows`: rows as records and SQL filters; :mod:`.errors`.
* :mod:`.importers` and :mod:`.exporters`: qrels, CSV and JSONL; :mod:`.frames`: tidy frames;
  :mod:`.aggregate`: several annotators' grades become one.
* :mod:`.queue`: what to judge next; :mod:`.agreement`: inter-annotator agreement.

The grade scale is configurable (:class:`GradeScale`, default 0-3). "Skip / can't judge" is a
separate status with no grade, so no metric can mistake it for a relevance level.
"""

from __future__ import annotations

from rankshift.judgments.aggregate import AGGREGATES, aggregate_grades, aggregate_qrels
from rankshift.judgments.errors import (
    JudgmentNotSaved,
    JudgmentStoreBusy,
    JudgmentStoreError,
    StaleEditError,
)
from rankshift.judgments.exporters import (
    ExportFormat,
    csv_escape,
    export_text,
    write_beir_qrels,
    write_csv,
    write_jsonl,
    write_trec_qrels,
)
from rankshift.judgments.frames import grade_name, history_frame, judgments_frame
from rankshift.judgments.importers import csv_unescape, read_csv, read_jsonl
from rankshift.judgments.schema import MIGRATIONS, Migration, migrate
from rankshift.judgments.store import JudgmentStore
from rankshift.types import (
    DEFAULT_SCALE,
    SKIP,
    Aggregate,
    DocHashes,
    Freshness,
    GradeScale,
    HistoryEntry,
    ImportReport,
    JudgedCollection,
    Judgment,
    JudgmentContext,
    JudgmentFacets,
)

__all__ = [
    "AGGREGATES",
    "DEFAULT_SCALE",
    "MIGRATIONS",
    "SKIP",
    "Aggregate",
    "DocHashes",
    "ExportFormat",
    "Freshness",
    "GradeScale",
    "HistoryEntry",
    "ImportReport",
    "JudgedCollection",
    "Judgment",
    "JudgmentContext",
    "JudgmentFacets",
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
    "export_text",
    "grade_name",
    "history_frame",
    "judgments_frame",
    "migrate",
    "read_csv",
    "read_jsonl",
    "write_beir_qrels",
    "write_csv",
    "write_jsonl",
    "write_trec_qrels",
]
