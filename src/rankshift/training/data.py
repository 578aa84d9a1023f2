"""Cross-encoder training data from judgments: labelled pairs, hard-negative triples, lists.

Everything is split **by query**: a query's examples all go to train or all to eval, and
:class:`QuerySplit` refuses to exist if the two sets share a query, so no evaluation query
leaks into training. The split is either by qrels split (train examples from one split, e.g.
BEIR ``train``, evaluation from another, e.g. ``test``; queries in both are removed from
train) or a seeded query-level split of one set of judgments.

Files (``<kind>.<split>.jsonl`` and/or ``.parquet``; load with
``datasets.load_dataset("json", data_files=...)`` or ``("parquet", ...)``), with the column
names sentence-transformers' CrossEncoder losses expect:

``pairs`` -- one labelled (query, passage) pair per row, for ``BinaryCrossEntropyLoss``:
    * ``query`` (str): the query text.
    * ``passage`` (str): the document as the reranker reads it (title, newline, text).
    * ``label`` (float in [0, 1]): ``grade / max_grade``.
    * ``grade`` (int): the judged grade (0 for an unjudged negative).
    * ``judged`` (bool): False for an unjudged candidate taken as a negative
      (``unjudged_negatives``).

    ``grade`` and ``judged`` are for analysis; a loss treats every non-label column as a text
    input, so train on ``ds.select_columns(["query", "passage", "label"])``
    (:func:`load_for_loss` does it).

``triples`` -- (query, positive, hard negative), for ``MultipleNegativesRankingLoss`` /
``CachedMultipleNegativesRankingLoss``; exactly the columns ``query, positive, negative``:
    * a positive is a judged document with grade >= ``REL_THRESHOLD`` (1);
    * a hard negative is a first-stage candidate judged not relevant (grade below the
      threshold) or, only when asked, one of the ``unjudged_negatives`` highest-ranked
      unjudged candidates. Hard negatives are taken best-ranked first, at most
      ``negatives_per_positive`` per positive.

``listwise`` -- one row per query, for ``LambdaLoss`` / ``ListNetLoss``:
    * ``query`` (str), ``docs`` (list of str), ``labels`` (list of int: the grades; 0 for
      unjudged negatives). Documents are the query's judged documents and unjudged negatives,
      in first-stage order, judged documents the first stage did not retrieve last.

``split.json`` records the split (method, seed, query ids of each side), the source of the
judgments and the row counts.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from rankshift.corpus import Collection
from rankshift.evaluation.metrics import REL_THRESHOLD
from rankshift.retrievers.base import ProgressFn, Retriever
from rankshift.types import Qrels, Query

if TYPE_CHECKING:
    import datasets

Kind = Literal["pairs", "triples", "listwise"]
Format = Literal["jsonl", "parquet"]

COLUMNS: dict[str, tuple[str, ...]] = {
    "pairs": ("query", "passage", "label", "grade", "judged"),
    "triples": ("query", "positive", "negative"),
    "listwise": ("query", "docs", "labels"),
}
"""The columns of each file."""

LOSS_COLUMNS: dict[str, tuple[str, ...]] = {
    "pairs": ("query", "passage", "label"),
    "triples": ("query", "positive", "negative"),
    "listwise": ("query", "docs", "labels"),
}
"""The columns a loss takes, in order (sentence-transformers reads inputs by position)."""


@dataclass(frozen=True)
class QuerySplit:
    """Which queries train and which evaluate. Construction fails if they overlap."""

    train: tuple[str, ...]
    eval: tuple[str, ...]
    method: Literal["qrels-split", "seeded"]
    seed: int | None = None
    removed_from_train: tuple[str, ...] = ()
    """Queries judged in both sources, kept for evaluation only."""

    def __post_init__(self) -> None:
        leak = set(self.train) & set(self.eval)
        if leak:
            raise ValueError(
                f"{len(leak)} queries are in both train and eval, e.g. {sorted(leak)[0]!r}"
            )


def split_by_qrels(train_qrels: Qrels, eval_qrels: Qrels) -> QuerySplit:
    """Train on one qrels split's queries, evaluate on another's; shared queries go to eval."""
    shared = tuple(sorted(set(train_qrels) & set(eval_qrels)))
    return QuerySplit(
        train=tuple(q for q in train_qrels if q not in eval_qrels),
        eval=tuple(eval_qrels),
        method="qrels-split",
        removed_from_train=shared,
    )


def split_seeded(query_ids: Iterable[str], eval_fraction: float = 0.2, seed: int = 0) -> QuerySplit:
    """A reproducible query-level split: ``eval_fraction`` of the queries (rounded, at least
    one when there are two or more queries) go to eval.

    The ids are sorted before shuffling with ``random.Random(seed)``, so the split depends
    only on the set of ids and the seed, not on the order they came in.
    """
    if not 0.0 <= eval_fraction < 1.0:
        raise ValueError(f"eval_fraction must be in [0, 1), got {eval_fraction}")
    ids = sorted(set(query_ids))
    random.Random(seed).shuffle(ids)
    n_eval = round(len(ids) * eval_fraction)
    if eval_fraction > 0 and len(ids) >= 2:
        n_eval = max(1, n_eval)
    eval_ids = set(ids[:n_eval])
    order = sorted(set(query_ids))
    return QuerySplit(
        train=tuple(q for q in order if q not in eval_ids),
        eval=tuple(q for q in order if q in eval_ids),
        method="seeded",
        seed=seed,
    )


@dataclass(frozen=True)
class TrainingData:
    """Rows of the three kinds for one side of a split."""

    pairs: list[dict[str, Any]] = field(default_factory=list)
    triples: list[dict[str, str]] = field(default_factory=list)
    listwise: list[dict[str, Any]] = field(default_factory=list)
    queries_without_negatives: tuple[str, ...] = ()
    """Queries with a positive but no hard negative (they yield pairs but no triples)."""

    def rows(self, kind: Kind) -> list[dict[str, Any]]:
        return {"pairs": self.pairs, "triples": self.triples, "listwise": self.listwise}[kind]


def first_stage_candidates(
    retriever: Retriever,
    queries: Mapping[str, Query],
    depth: int,
    progress: ProgressFn | None = None,
) -> dict[str, list[str]]:
    """Each query's top-``depth`` document ids from a first stage (the hard-negative pool)."""
    out: dict[str, list[str]] = {}
    items = list(queries.values())
    for i, q in enumerate(items, 1):
        out[q.query_id] = [r.doc_id for r in retriever.search(q.text, depth)]
        if progress:
            progress("Candidates", i, len(items))
    return out


def build_training_data(
    collection: Collection,
    qrels: Qrels,
    candidates: Mapping[str, Sequence[str]],
    query_ids: Iterable[str],
    *,
    max_grade: int | None = None,
    unjudged_negatives: int = 0,
    negatives_per_positive: int | None = 5,
    queries: Mapping[str, Query] | None = None,
) -> TrainingData:
    """Build pairs, triples and lists for some queries.

    Args:
        collection: documents (and query texts, unless ``queries`` is given).
        qrels: judgments, ``qrels[query_id][doc_id] = grade``.
        candidates: each query's first-stage ranking (doc ids, best first): where hard
            negatives come from.
        query_ids: the queries to build rows for (one side of a :class:`QuerySplit`).
        max_grade: the top of the grade scale, for ``label = grade / max_grade`` (default: the
            highest grade in ``qrels``, at least 1).
        unjudged_negatives: also take this many of each query's highest-ranked *unjudged*
            candidates as negatives (they are assumed not relevant; ``judged`` is False).
        negatives_per_positive: at most this many triples per positive (``None``: all).
        queries: query texts (default: ``collection.queries``).
    """
    texts = queries if queries is not None else collection.queries
    if max_grade is None:
        max_grade = max([1, *(g for judged in qrels.values() for g in judged.values())])
    if max_grade < 1:
        raise ValueError("max_grade must be at least 1")
    docs = collection.documents
    pairs: list[dict[str, Any]] = []
    triples: list[dict[str, str]] = []
    listwise: list[dict[str, Any]] = []
    no_negatives: list[str] = []
    for query_id in query_ids:
        judged = {d: g for d, g in qrels.get(query_id, {}).items() if d in docs}
        if query_id not in texts or not judged:
            continue
        qtext = texts[query_id].text
        ranked = list(dict.fromkeys(d for d in candidates.get(query_id, ()) if d in docs))
        positives = sorted(
            (d for d, g in judged.items() if g >= REL_THRESHOLD), key=lambda d: (-judged[d], d)
        )
        hard = [d for d in ranked if d in judged and judged[d] < REL_THRESHOLD]
        unjudged = [d for d in ranked if d not in judged][: max(0, unjudged_negatives)]
        negatives = [d for d in ranked if d in set(hard) | set(unjudged)]  # in rank order
        # Pairs: every judged pair, then the unjudged negatives.
        rank = {d: i for i, d in enumerate(ranked)}
        order = sorted(judged, key=lambda d: (rank.get(d, len(ranked)), d))
        for d in order:
            pairs.append(_pair(qtext, docs[d].full_text, judged[d], max_grade, True))
        for d in unjudged:
            pairs.append(_pair(qtext, docs[d].full_text, 0, max_grade, False))
        # Triples: each positive with its hardest negatives.
        if positives and not negatives:
            no_negatives.append(query_id)
        for p in positives:
            for n in negatives[:negatives_per_positive]:
                triples.append(
                    {"query": qtext, "positive": docs[p].full_text, "negative": docs[n].full_text}
                )
        # One list per query.
        listed = [*order, *unjudged]
        listed.sort(key=lambda d: (rank.get(d, len(ranked)), d))
        listwise.append(
            {
                "query": qtext,
                "docs": [docs[d].full_text for d in listed],
                "labels": [max(0, judged.get(d, 0)) for d in listed],
            }
        )
    return TrainingData(pairs, triples, listwise, tuple(no_negatives))


def _pair(query: str, passage: str, grade: int, max_grade: int, judged: bool) -> dict[str, Any]:
    label = min(1.0, max(0.0, grade / max_grade))
    return {"query": query, "passage": passage, "label": label, "grade": grade, "judged": judged}


@dataclass(frozen=True)
class ExportResult:
    out_dir: Path
    files: dict[str, Path]
    """By ``<kind>.<split>.<format>``; empty tables are not written."""
    counts: dict[str, int]
    """Rows by ``<kind>.<split>``."""
    split: QuerySplit


def write_rows(rows: Sequence[Mapping[str, Any]], path: str | Path, kind: Kind) -> Path:
    """Write rows as JSONL or Parquet (by the file's suffix), columns in :data:`COLUMNS` order."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    columns = COLUMNS[kind]
    if path.suffix == ".parquet":
        import pandas as pd

        pd.DataFrame(list(rows), columns=list(columns)).to_parquet(tmp, index=False)
    else:
        with open(tmp, "w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps({c: row[c] for c in columns}, ensure_ascii=False) + "\n")
    tmp.replace(path)
    return path


def export_training_data(
    collection: Collection,
    split: QuerySplit,
    train_qrels: Qrels,
    eval_qrels: Qrels,
    candidates: Mapping[str, Sequence[str]],
    out_dir: str | Path,
    *,
    formats: Sequence[Format] = ("jsonl",),
    max_grade: int | None = None,
    unjudged_negatives: int = 0,
    negatives_per_positive: int | None = 5,
    source: str = "",
    queries: Mapping[str, Query] | None = None,
) -> ExportResult:
    """Build and write the train and eval sides of a split.

    Args:
        collection: documents and query texts.
        split: which queries train and which evaluate.
        train_qrels: judgments for the train side (only ``split.train`` queries are used).
        eval_qrels: judgments for the eval side (only ``split.eval`` queries are used).
        candidates: first-stage rankings (doc ids) for both sides' queries.
        out_dir: where the files go.
        formats: ``jsonl`` and/or ``parquet``.
        max_grade: top of the grade scale (default: the highest grade in either qrels).
        unjudged_negatives: see :func:`build_training_data`.
        negatives_per_positive: see :func:`build_training_data`.
        source: where the judgments came from, recorded in ``split.json``.
        queries: query texts (default: ``collection.queries``).
    """
    # Belt and braces: QuerySplit already refuses an overlap; check the rows' source too.
    assert not set(split.train) & set(split.eval), "train and eval queries overlap"
    out = Path(out_dir)
    if max_grade is None:
        grades = [g for q in (train_qrels, eval_qrels) for j in q.values() for g in j.values()]
        max_grade = max([1, *grades])
    sides = {
        "train": build_training_data(
            collection, train_qrels, candidates, split.train, max_grade=max_grade,
            unjudged_negatives=unjudged_negatives,
            negatives_per_positive=negatives_per_positive, queries=queries,
        ),
        "eval": build_training_data(
            collection, eval_qrels, candidates, split.eval, max_grade=max_grade,
            unjudged_negatives=unjudged_negatives,
            negatives_per_positive=negatives_per_positive, queries=queries,
        ),
    }  # fmt: skip
    files: dict[str, Path] = {}
    counts: dict[str, int] = {}
    for side, data in sides.items():
        for kind in ("pairs", "triples", "listwise"):
            rows = data.rows(kind)  # type: ignore[arg-type]
            counts[f"{kind}.{side}"] = len(rows)
            if not rows:
                continue  # datasets cannot load an empty JSON file
            for fmt in formats:
                name = f"{kind}.{side}.{fmt}"
                files[name] = write_rows(rows, out / name, kind)  # type: ignore[arg-type]
    manifest = {
        "method": split.method,
        "seed": split.seed,
        "source": source,
        "collection": {"name": collection.name, "fingerprint": collection.fingerprint},
        "relevance_threshold": REL_THRESHOLD,
        "max_grade": max_grade,
        "unjudged_negatives": unjudged_negatives,
        "negatives_per_positive": negatives_per_positive,
        "train_queries": list(split.train),
        "eval_queries": list(split.eval),
        "removed_from_train": list(split.removed_from_train),
        "queries_without_negatives": {
            side: list(d.queries_without_negatives) for side, d in sides.items()
        },
        "counts": counts,
        "files": sorted(files),
        "columns": {k: list(v) for k, v in COLUMNS.items()},
    }
    (out / "split.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return ExportResult(out, files, counts, split)


def load_for_loss(
    out_dir: str | Path,
    kind: Kind,
    split: Literal["train", "eval"] = "train",
    fmt: Format = "jsonl",
    cache_dir: str | Path | None = None,
) -> datasets.Dataset:
    """Load one exported file with ``datasets``, keeping exactly the columns a loss takes."""
    import datasets

    path = Path(out_dir) / f"{kind}.{split}.{fmt}"
    builder = "json" if fmt == "jsonl" else "parquet"
    ds = datasets.load_dataset(
        builder,
        data_files={split: str(path)},
        split=split,
        cache_dir=str(cache_dir) if cache_dir else None,
    )
    return ds.select_columns(list(LOSS_COLUMNS[kind]))
