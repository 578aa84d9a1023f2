"""Several annotators' grades of one pair become one: the qrels that metrics read."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from rankshift.types import Aggregate, Judgment, Qrels

__all__ = ["AGGREGATES", "aggregate_grades", "aggregate_qrels"]

AGGREGATES: tuple[Aggregate, ...] = ("mean", "majority", "min", "max")


def aggregate_grades(grades: Sequence[int], how: Aggregate) -> int:
    """Combine several annotators' grades of one pair into one.

    Args:
        grades: the grades (skips already removed); must not be empty.
        how: ``mean`` (rounded half up: 1.5 -> 2), ``majority`` (the most frequent grade;
            a tie goes to the *lower* grade, so disagreement never inflates relevance),
            ``min`` or ``max``.

    Returns:
        The combined grade.
    """
    if not grades:
        raise ValueError("no grades to aggregate")
    if how == "mean":
        # Integer arithmetic: floor(sum/n + 1/2) without a float that could round 2.5 to 2.
        return (2 * sum(grades) + len(grades)) // (2 * len(grades))
    if how == "majority":
        counts = Counter(grades)
        return min(counts, key=lambda g: (-counts[g], g))
    if how == "min":
        return min(grades)
    if how == "max":
        return max(grades)
    raise ValueError(f"aggregate must be mean, majority, min or max, got {how!r}")


def aggregate_qrels(judgments: Iterable[Judgment], how: Aggregate = "mean") -> Qrels:
    """Qrels from judgments: skips are left out, several annotators per pair are combined.

    A pair whose every judgment is a skip is absent from the result.
    """
    if how not in AGGREGATES:
        # Checked here too, or an empty store would accept any spelling silently.
        raise ValueError(f"aggregate must be mean, majority, min or max, got {how!r}")
    grades: dict[tuple[str, str], list[int]] = {}
    for j in judgments:
        if j.grade is not None:
            grades.setdefault((j.query_id, j.doc_id), []).append(j.grade)
    qrels: Qrels = {}
    for (query_id, doc_id), values in sorted(grades.items()):
        qrels.setdefault(query_id, {})[doc_id] = aggregate_grades(values, how)
    return qrels
