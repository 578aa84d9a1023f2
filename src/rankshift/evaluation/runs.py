"""TREC run files: ``qid Q0 docid rank score tag``, named after the run's settings."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from rankshift.types import ScoredDoc


def run_file_name(name: str) -> str:
    """A file name for a run name: ``>`` becomes ``+``, other unsafe characters ``_``."""
    return re.sub(r"[^A-Za-z0-9._=,()+@-]", "_", name.replace(">", "+")) + ".trec"


def write_trec_run(
    rankings: Mapping[str, Sequence[ScoredDoc]], path: str | Path, tag: str = "rankshift"
) -> Path:
    """Write ``qid Q0 docid rank score tag`` lines, queries in the given order.

    The file is written to a temporary name and renamed, so a reader never sees half a run.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tag = re.sub(r"\s+", "_", tag) or "rankshift"
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for query_id, ranking in rankings.items():
            for i, row in enumerate(ranking, 1):
                f.write(f"{query_id} Q0 {row.doc_id} {i} {row.score!r} {tag}\n")
    tmp.replace(path)
    return path


def read_trec_run(path: str | Path) -> dict[str, list[ScoredDoc]]:
    """Read a TREC run file into rankings, ordered by the rank column (then by score)."""
    rows: dict[str, list[tuple[int, float, str]]] = {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 6:
                raise ValueError(f"{path}:{number}: expected 6 fields, got {len(parts)}")
            query_id, _, doc_id, rank, score, _tag = parts
            rows.setdefault(query_id, []).append((int(rank), -float(score), doc_id))
    return {
        q: [ScoredDoc(d, i, -s) for i, (_, s, d) in enumerate(sorted(r), 1)]
        for q, r in rows.items()
    }
