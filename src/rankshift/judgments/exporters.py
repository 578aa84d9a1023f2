"""Judgments out: TREC and BEIR qrels, spreadsheet-safe CSV, JSONL with full records.

Each writer takes any list of judgments (or qrels), so the store's exports and the app's
filtered downloads share them.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from typing import Any, Literal

from rankshift.judgments.aggregate import aggregate_qrels
from rankshift.judgments.textfiles import TextFile, text_file
from rankshift.types import Aggregate, Judgment, Qrels

__all__ = [
    "CSV_COLUMNS",
    "ExportFormat",
    "csv_escape",
    "export_text",
    "write_beir_qrels",
    "write_csv",
    "write_jsonl",
    "write_trec_qrels",
]

ExportFormat = Literal["trec", "csv", "jsonl"]

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

CSV_COLUMNS = (
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
    "doc_hash",
)


def csv_escape(value: str) -> str:
    """Make a text cell safe to open in a spreadsheet.

    A cell starting with ``=``, ``+``, ``-``, ``@``, tab or CR would be run as a formula
    (OWASP "CSV injection"); a leading ``'`` makes spreadsheets show it as text. A cell that
    already starts with ``'`` gets one too, so
    :func:`rankshift.judgments.importers.csv_unescape` can undo exactly what was done. Numbers
    are not passed through here and stay numbers.
    """
    if value.startswith((*_FORMULA_START, "'")):
        return "'" + value
    return value


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
        "doc_hash": j.doc_hash or "",
    }
    numbers = {"grade": "" if j.grade is None else j.grade, "version": j.version}
    return [numbers[c] if c in numbers else csv_escape(text[c]) for c in CSV_COLUMNS]


def _check_id(value: str, what: str, forbidden: str) -> None:
    if not value or any(c in value for c in forbidden):
        raise ValueError(f"{what} {value!r} cannot be written in this format")


def write_trec_qrels(qrels: Qrels, file: TextFile) -> int:
    """Write qrels as TREC lines (``qid 0 docid rel``); returns lines written."""
    lines = []
    for query_id, docs in qrels.items():
        _check_id(query_id, "query id", " \t\r\n")
        for doc_id, grade in docs.items():
            _check_id(doc_id, "doc id", " \t\r\n")
            lines.append(f"{query_id} 0 {doc_id} {grade}\n")
    with text_file(file, "w") as handle:
        handle.writelines(lines)
    return len(lines)


def write_beir_qrels(qrels: Qrels, file: TextFile) -> int:
    """Write qrels as a BEIR TSV with its header; returns rows written (header not counted)."""
    lines = ["query-id\tcorpus-id\tscore\n"]
    for query_id, docs in qrels.items():
        _check_id(query_id, "query id", "\t\r\n")
        for doc_id, grade in docs.items():
            _check_id(doc_id, "doc id", "\t\r\n")
            lines.append(f"{query_id}\t{doc_id}\t{grade}\n")
    with text_file(file, "w") as handle:
        handle.writelines(lines)
    return len(lines) - 1


def write_csv(judgments: Iterable[Judgment], file: TextFile) -> int:
    """Write judgments as spreadsheet-safe CSV; returns rows written.

    Text cells pass through :func:`csv_escape`; grade and version stay plain numbers. The
    context is one JSON cell.
    """
    rows = [_csv_row(j) for j in judgments]
    with text_file(file, "w") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        writer.writerows(rows)
    return len(rows)


def write_jsonl(judgments: Iterable[Judgment], file: TextFile) -> int:
    """Write judgments as JSONL, full records including context; returns lines written."""
    count = 0
    with text_file(file, "w") as handle:
        for j in judgments:
            handle.write(json.dumps(j.to_dict(), ensure_ascii=False, sort_keys=True) + "\n")
            count += 1
    return count


def export_text(
    judgments: Sequence[Judgment], fmt: ExportFormat, aggregate: Aggregate = "mean"
) -> str:
    """The judgments as a file's text: TREC qrels (annotators combined by ``aggregate``, skips
    left out), spreadsheet-safe CSV, or JSONL with full records."""
    buffer = io.StringIO()
    if fmt == "trec":
        write_trec_qrels(aggregate_qrels(judgments, aggregate), buffer)
    elif fmt == "csv":
        write_csv(judgments, buffer)
    elif fmt == "jsonl":
        write_jsonl(judgments, buffer)
    else:
        raise ValueError(f"format must be trec, csv or jsonl, got {fmt!r}")
    return buffer.getvalue()
