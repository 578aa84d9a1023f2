"""Judgments in: qrels (TREC, BEIR, in memory), and the CSV and JSONL the exporters write.

These read and check records only; :meth:`rankshift.judgments.JudgmentStore.import_judgments`
writes them, all in one transaction.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace

from rankshift.judgments.textfiles import TextFile, text_file
from rankshift.types import GradeScale, Judgment, JudgmentContext, Qrels

__all__ = ["csv_unescape", "qrels_judgments", "read_csv", "read_jsonl"]


def csv_unescape(value: str) -> str:
    """Undo :func:`rankshift.judgments.exporters.csv_escape`."""
    return value[1:] if value.startswith("'") else value


def _judgment_from_csv(row: Mapping[str | None, str], line: int) -> Judgment:
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


def read_csv(file: TextFile, *, collection: str | None = None) -> list[Judgment]:
    """Records of a CSV written by :func:`~rankshift.judgments.exporters.write_csv`.

    Escaping is undone. A file from before schema 2 (no ``doc_hash`` column) reads too.

    Args:
        file: path or open text file.
        collection: store the records under this collection instead of their own.
    """
    records = []
    with text_file(file, "r") as handle:
        reader = csv.DictReader(handle)
        for number, row in enumerate(reader, start=2):
            j = _judgment_from_csv(row, number)
            records.append(replace(j, collection=collection) if collection else j)
    return records


def read_jsonl(file: TextFile, *, collection: str | None = None) -> list[Judgment]:
    """Records of a JSONL file written by :func:`~rankshift.judgments.exporters.write_jsonl`.

    Args:
        file: path or open text file.
        collection: store the records under this collection instead of their own.
    """
    records = []
    with text_file(file, "r") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                j = Judgment.from_dict(json.loads(line))
            except (ValueError, TypeError) as e:
                raise ValueError(f"JSONL line {number}: {e}") from None
            records.append(replace(j, collection=collection) if collection else j)
    return records


def qrels_judgments(
    collection: str,
    qrels: Qrels,
    *,
    annotator: str,
    scale: GradeScale,
    source: str | None = None,
    query_texts: Mapping[str, str] | None = None,
    doc_hashes: Callable[[str], str | None] | None = None,
) -> Iterator[Judgment]:
    """Qrels as the judgments of one named annotator (checked against ``scale`` first).

    Args:
        collection: the collection's identity.
        qrels: ``qrels[query_id][doc_id] = grade``.
        annotator: the name the labels are stored under, e.g. ``"qrels:test"``.
        scale: every grade must be on it.
        source: the ``source`` field (default: the annotator name).
        query_texts: query texts by id.
        doc_hashes: each document's content hash now, stored with its label; ``None``
            leaves the labels unverified.

    Raises:
        ValueError: a grade is off the scale (raised before any record is yielded).
    """
    texts = query_texts or {}
    grades = set(scale.grades)
    for query_id, docs in qrels.items():
        for doc_id, grade in docs.items():
            if grade not in grades:
                raise ValueError(
                    f"qrels {query_id} {doc_id}: grade {grade!r} is not on the scale "
                    f"{list(scale.grades)}"
                )
    context = JudgmentContext()  # one shared object: the store serialises it once
    return (
        Judgment(
            collection,
            query_id,
            doc_id,
            annotator,
            grade=grade,
            query_text=texts.get(query_id, ""),
            context=context,
            source=source or annotator,
            edited_by=annotator,
            doc_hash=doc_hashes(doc_id) if doc_hashes is not None else None,
        )
        for query_id, docs in qrels.items()
        for doc_id, grade in docs.items()
    )
