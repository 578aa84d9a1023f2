"""A collection as the pickers and captions show it: query choices, labels, grades, summary,
and what its first open will build (stage by stage, with time estimates)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rankshift.corpus import Collection
from rankshift.present.text import shorten
from rankshift.types import Query


def resolve_query(collection: Collection, text: str, query_id: str | None = None) -> Query:
    """The collection's query when ``text`` is one (so its judgments apply), else an ad-hoc one."""
    text = text.strip()
    if query_id and query_id in collection.queries and collection.queries[query_id].text == text:
        return collection.queries[query_id]
    for q in collection.queries.values():
        if q.text.strip() == text:
            return q
    return Query(query_id="adhoc", text=text)


def grades_for(
    collection: Collection,
    query_id: str,
    split: str | None = None,
    extra: Mapping[str, int] | None = None,
) -> dict[str, int]:
    """Judged grades of one query: the collection's qrels (one split, or all), then ``extra``
    (stored labels), which win where both exist."""
    grades: dict[str, int] = {}
    splits = [split] if split else list(collection.qrels)
    for s in splits:
        grades.update(collection.qrels.get(s, {}).get(query_id, {}))
    grades.update(extra or {})
    return grades


def collection_summary(collection: Collection) -> str:
    splits = ", ".join(
        f"{s} ({sum(len(v) for v in q.values())} judgments)" for s, q in collection.qrels.items()
    )
    parts = [f"{len(collection):,} documents", f"{len(collection.queries):,} queries"]
    if splits:
        parts.append(f"qrels: {splits}")
    if collection.empty_documents:
        parts.append(f"{len(collection.empty_documents):,} empty documents left out")
    return " · ".join(parts)


def query_options(collection: Collection, limit: int | None = None) -> list[str]:
    """Query ids for a picker, judged queries first (they show grades)."""
    judged = {q for split in collection.qrels.values() for q in split}
    ids = sorted(collection.queries, key=lambda q: (q not in judged,))
    return ids[:limit] if limit else ids


def query_label(collection: Collection, query_id: str, width: int = 90) -> str:
    q = collection.queries.get(query_id)
    judged = sum(len(split.get(query_id, {})) for split in collection.qrels.values())
    tag = f" · {judged} judged" if judged else ""
    return f"{query_id}: {shorten(q.text if q else '', width)}{tag}"


def collection_warnings(collection: Collection) -> list[str]:
    """What loading left out, for a warning under the summary (empty documents, by id)."""
    note = collection.left_out_note()
    return [f"{note}: their text is empty, so no first stage can return them."] if note else []


# --------------------------------------------------------------------------------------
# The first open: what will be built, and how long it takes

ENCODE_DOCS_PER_SECOND_AT_256 = 14.0
"""Documents a MiniLM-L6 bi-encoder encodes per second at 256 tokens on a 2-core CPU: 13.7 for
BEIR SciFact's abstracts (see the README). Idle, the demo's shorter documents (126 tokens on
average) go at about 50 per second; on a busy machine at 16. The progress bar's own rate
takes over once encoding starts."""
MODEL_LOAD_S = 5.0
"""Loading a MiniLM-sized model the first time in a process, PyTorch's import included."""
BM25_DOCS_PER_SECOND = 2000.0
CHARS_PER_TOKEN = 4.75
"""English text in a WordPiece vocabulary (the demo: 805 characters, 169 tokens a document)."""


@dataclass(frozen=True)
class PrepareStage:
    """One thing the app builds or loads before it can search, with a time estimate."""

    key: str
    """``bm25``, ``bi-encoder``, ``dense`` or ``reranker``."""
    label: str
    seconds: float
    cached: bool = False
    """Read from the on-disk cache (an index built before), not built."""


def encode_seconds(collection: Collection, max_tokens: int = 256) -> float:
    """The estimated time to encode every document with a MiniLM-sized bi-encoder."""
    tokens = sum(
        min(len(d.full_text) / CHARS_PER_TOKEN, max_tokens) for d in collection.documents.values()
    )
    return tokens / 256 / ENCODE_DOCS_PER_SECOND_AT_256


def first_open_plan(
    collection: Collection,
    stages: Sequence[str],
    *,
    bi_encoder: str = "",
    reranker: str = "",
    cached: Sequence[str] = (),
) -> list[PrepareStage]:
    """What preparing the search will do, stage by stage, with how long each should take.

    Args:
        collection: the collection (its size and text lengths set the estimates).
        stages: the keys still to prepare in this server process: ``bm25``, ``dense``
            (which loads the bi-encoder, then builds or reads the index), ``reranker``.
        bi_encoder: the bi-encoder's name, for its label.
        reranker: the reranker's name, for its label.
        cached: the indexes already on disk (``bm25``, ``dense``): read, not built.
    """
    n = len(collection)
    plan: list[PrepareStage] = []
    if "bm25" in stages:
        if "bm25" in cached:
            plan.append(PrepareStage("bm25", "BM25 index, from the cache on disk", 0.5, True))
        else:
            label = f"BM25 index over {n:,} documents"
            plan.append(PrepareStage("bm25", label, max(0.5, n / BM25_DOCS_PER_SECOND)))
    if "dense" in stages:
        plan.append(
            PrepareStage("bi-encoder", f"Loading the bi-encoder {bi_encoder}", MODEL_LOAD_S)
        )
        if "dense" in cached:
            plan.append(PrepareStage("dense", "Dense index, from the cache on disk", 0.5, True))
        else:
            label = f"Encoding {n:,} documents with the bi-encoder"
            plan.append(PrepareStage("dense", label, max(1.0, encode_seconds(collection))))
    if "reranker" in stages:
        plan.append(PrepareStage("reranker", f"Loading the reranker {reranker}", MODEL_LOAD_S))
    return plan


def _seconds(s: float) -> str:
    """``about 8 s``, ``about 3 min``, or ``under a second``."""
    return (
        "under a second" if s < 1 else f"about {s / 60:.0f} min" if s >= 120 else f"about {s:.0f} s"
    )


def plan_title(plan: Sequence[PrepareStage]) -> str:
    """The status box's title: the whole wait."""
    total = sum(s.seconds for s in plan)
    return f"Preparing the search: {_seconds(total)}, once per collection and model"


def stage_line(stage: PrepareStage, took_s: float | None = None, active: bool = False) -> str:
    """A stage as a line of the status box: waiting, running or done (with the time it took)."""
    if took_s is not None:
        return f":material/check: {stage.label}: {took_s:.1f} s"
    mark = ":material/progress_activity:" if active else ":material/schedule:"
    return f"{mark} {stage.label}: {_seconds(stage.seconds)}"


def progress_text(what: str, done: int, total: int, elapsed_s: float) -> str:
    """A progress bar's text with the rate so far and the time left, e.g.
    ``Encoding documents: 256 of 408 · 21 per second · about 7 s left``."""
    text = f"{what}: {done:,} of {total:,}"
    if done > 0 and elapsed_s > 0.5 and done < total:
        rate = done / elapsed_s
        text += f" · {rate:.0f} per second · {_seconds((total - done) / rate)} left"
    return text
