"""Where training judgments come from: qrels splits, qrels files and judgments databases, merged."""

from __future__ import annotations

from pathlib import Path

from rankshift.corpus import Collection
from rankshift.types import Qrels

SQLITE_SUFFIXES = (".sqlite", ".sqlite3", ".db")
"""A ``--judgments`` path with one of these suffixes is a judgments store, else a qrels file."""


def gather_qrels(
    coll: Collection, paths: list[str], splits: list[str], aggregate: str = "mean"
) -> tuple[Qrels, list[str]]:
    """Merge qrels splits, qrels files and judgments databases; later sources win per pair."""
    from rankshift.corpus import load_qrels

    merged: Qrels = {}
    sources: list[str] = []

    def add(qrels: Qrels, what: str) -> None:
        for q, docs in qrels.items():
            merged.setdefault(q, {}).update(docs)
        sources.append(f"{what} ({sum(len(v) for v in qrels.values())} judgments)")

    for split in splits:
        if split not in coll.qrels:
            raise ValueError(
                f"no qrels split {split!r} (splits: {', '.join(coll.qrels) or 'none'})"
            )
        add(coll.qrels[split], f"split {split}")
    for path in sorted(paths, key=lambda p: Path(p).suffix.lower() in SQLITE_SUFFIXES):
        if Path(path).suffix.lower() in SQLITE_SUFFIXES:
            from rankshift.judgments import JudgmentStore

            if not Path(path).exists():
                raise ValueError(f"no judgments database at {path}")
            with JudgmentStore(path) as store:
                add(store.collection_qrels(coll, aggregate=aggregate), f"judgments {path}")  # type: ignore[arg-type]
        else:
            add(load_qrels(path), f"qrels {path}")
    return merged, sources
