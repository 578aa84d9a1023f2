"""A collection as the pickers and captions show it: query choices, labels, grades, summary."""

from __future__ import annotations

from collections.abc import Mapping

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
