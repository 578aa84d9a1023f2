"""Tidy frames of judgments and their history, as the Judgments page and notebooks show them."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from rankshift.types import DEFAULT_SCALE, GradeScale, HistoryEntry, Judgment

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FRAME_COLUMNS", "grade_name", "history_frame", "judgments_frame"]

FRAME_COLUMNS = [
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
    "doc_hash",
    "freshness",
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
    judgments: Iterable[Judgment],
    scale: GradeScale = DEFAULT_SCALE,
    doc_hashes: Callable[[str], str | None] | None = None,
) -> pd.DataFrame:
    """Judgments as a tidy frame, one row per judgment.

    Args:
        judgments: the judgments.
        scale: names the grades.
        doc_hashes: each document's content hash now (e.g.
            :meth:`rankshift.corpus.Collection.doc_hash`); fills ``freshness``.

    Returns:
        Columns: collection, query_id, query_text, doc_id, annotator, status, grade (nullable
        Int64, empty for skips), label (the grade's name or ``"skip"``), note, source, version,
        timestamp (UTC datetime), edited_by, the context flattened into stage, model_id,
        model_revision, rank_shown and settings (a JSON string), doc_hash, and freshness
        (``current``, ``stale``, ``unverified`` or ``missing``, see
        :meth:`rankshift.types.Judgment.freshness`; empty without ``doc_hashes``).
    """
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
                "doc_hash": j.doc_hash,
                "freshness": j.freshness(doc_hashes(j.doc_id)) if doc_hashes else None,
            }
            for j in judgments
        ],
        columns=FRAME_COLUMNS,
    )
    frame["grade"] = frame["grade"].astype("Int64")
    frame["rank_shown"] = frame["rank_shown"].astype("Int64")
    frame["version"] = frame["version"].astype("int64")
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True, format="ISO8601")
    return frame


def history_frame(
    entries: Iterable[HistoryEntry], scale: GradeScale = DEFAULT_SCALE
) -> pd.DataFrame:
    """A pair's history as a table, oldest first.

    Columns: ``recorded_at``, ``action`` (create, update, delete, rejected_stale, adopt),
    ``annotator``, ``edited_by``, ``grade``, ``label``, ``note``, ``version``,
    ``expected_version``, ``rank_shown``, ``stage``.
    """
    import pandas as pd

    columns = [
        "recorded_at",
        "action",
        "annotator",
        "edited_by",
        "grade",
        "label",
        "note",
        "version",
        "expected_version",
        "rank_shown",
        "stage",
    ]
    frame = pd.DataFrame(
        [
            {
                "recorded_at": e.recorded_at,
                "action": e.action,
                "annotator": e.judgment.annotator,
                "edited_by": e.judgment.edited_by,
                "grade": e.judgment.grade,
                "label": grade_name(e.judgment.grade, scale),
                "note": e.judgment.note,
                "version": e.judgment.version,
                "expected_version": e.expected_version,
                "rank_shown": e.judgment.context.rank,
                "stage": e.judgment.context.stage,
            }
            for e in entries
        ],
        columns=columns,
    )
    for col in ("grade", "version", "expected_version", "rank_shown"):
        frame[col] = frame[col].astype("Int64")
    frame["recorded_at"] = pd.to_datetime(frame["recorded_at"], utc=True, format="ISO8601")
    return frame
