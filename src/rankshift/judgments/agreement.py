"""Inter-annotator agreement over relevance judgments.

* Cohen's kappa for each pair of annotators (Cohen 1960, "A coefficient of agreement for
  nominal scales"; weighted: Cohen 1968), via :func:`sklearn.metrics.cohen_kappa_score`.
* Krippendorff's alpha across all annotators, ordinal and nominal (Krippendorff 2011,
  "Computing Krippendorff's Alpha-Reliability"), via the ``krippendorff`` package. Alpha
  handles any number of annotators and documents judged by only some of them.

Both are computed over the whole collection and per query. Skips ("can't judge") are
missing values, never a grade. Where a coefficient is undefined (one annotator, no shared
documents, a single grade used throughout so chance agreement is total) the result carries
``value=None`` and a ``reason`` instead of a NaN.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import TYPE_CHECKING, Literal

from rankshift.types import DEFAULT_SCALE, GradeScale, Judgment

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "AgreementResult",
    "AgreementValue",
    "KappaWeights",
    "Level",
    "agreement",
    "agreement_frame",
    "cohen_kappa",
    "krippendorff_alpha",
]

KappaWeights = Literal["linear", "quadratic"] | None
Level = Literal["ordinal", "nominal"]


@dataclass(frozen=True)
class AgreementValue:
    """A coefficient, or why there is none.

    Attributes:
        value: the coefficient; ``None`` when it is undefined for this data.
        n_items: documents that entered the computation.
        reason: why ``value`` is ``None``.
    """

    value: float | None
    n_items: int
    reason: str | None = None


@dataclass(frozen=True)
class AgreementResult:
    """One coefficient for one scope.

    Attributes:
        query_id: the query, or ``None`` for the whole collection.
        metric: the coefficient with its parameters, e.g. ``cohen_kappa(weights=linear)``,
            ``krippendorff_alpha(ordinal)``.
        annotators: who it covers (a pair for kappa).
        value: the coefficient, ``None`` when undefined (see ``reason``).
        n_items: documents that entered the computation.
        reason: why ``value`` is ``None``.
    """

    query_id: str | None
    metric: str
    annotators: tuple[str, ...]
    value: float | None
    n_items: int
    reason: str | None = None

    @property
    def scope(self) -> str:
        return "overall" if self.query_id is None else "query"


def cohen_kappa(
    a: Mapping[Hashable, int],
    b: Mapping[Hashable, int],
    *,
    weights: KappaWeights = None,
    labels: Sequence[int] | None = None,
) -> AgreementValue:
    """Cohen's kappa between two annotators over the documents both graded.

    ``kappa = (po - pe) / (1 - pe)`` with ``po`` the observed and ``pe`` the chance agreement.

    Args:
        a: grades of the first annotator by item.
        b: grades of the second annotator by item.
        weights: ``None`` (every disagreement counts the same), ``linear`` or ``quadratic``
            (a 0-vs-3 disagreement counts more than 2-vs-3).
        labels: the full grade scale. Pass it for weighted kappa: without it the distance
            between two grades is counted in *observed* grades, so 0 and 3 would be 1 apart
            when nobody used 1 or 2.

    Returns:
        The coefficient, or ``None`` with a reason when it is undefined.
    """
    shared = sorted(set(a) & set(b), key=repr)
    if not shared:
        return AgreementValue(None, 0, "no document was graded by both annotators")
    y1 = [a[k] for k in shared]
    y2 = [b[k] for k in shared]
    if len(set(y1) | set(y2)) == 1:
        return AgreementValue(
            None,
            len(shared),
            f"both annotators gave every shared document grade {y1[0]}: chance agreement "
            "is 1, so kappa is undefined",
        )
    from sklearn.metrics import cohen_kappa_score

    value = float(
        cohen_kappa_score(y1, y2, weights=weights, labels=list(labels) if labels else None)
    )
    if math.isnan(value):
        return AgreementValue(None, len(shared), "kappa is undefined for these grades")
    return AgreementValue(value, len(shared))


def krippendorff_alpha(
    ratings: Mapping[str, Mapping[Hashable, int]],
    *,
    level: Level = "ordinal",
    value_domain: Sequence[int] | None = None,
) -> AgreementValue:
    """Krippendorff's alpha across any number of annotators.

    ``alpha = 1 - D_o / D_e``: observed over expected disagreement, computed over the
    documents graded by at least two annotators ("pairable" values).

    Args:
        ratings: ``ratings[annotator][item] = grade``; an annotator may skip items.
        level: ``ordinal`` (grades are ordered; distance grows with the number of grades
            in between) or ``nominal`` (any disagreement counts the same).
        value_domain: the full grade scale, in order.

    Returns:
        The coefficient, or ``None`` with a reason when it is undefined.
    """
    annotators = [name for name, grades in ratings.items() if grades]
    if len(annotators) < 2:
        return AgreementValue(None, 0, "needs at least two annotators with grades")
    items = sorted({item for name in annotators for item in ratings[name]}, key=repr)
    pairable = [item for item in items if sum(item in ratings[n] for n in annotators) >= 2]
    if not pairable:
        return AgreementValue(None, 0, "no document was graded by two or more annotators")
    values = {ratings[n][item] for item in pairable for n in annotators if item in ratings[n]}
    if len(values) == 1:
        return AgreementValue(
            None,
            len(pairable),
            f"every pairable grade is {values.pop()}: with no variation alpha is undefined",
        )
    import krippendorff
    import numpy as np

    data = np.array(
        [[ratings[n].get(item, np.nan) for item in pairable] for n in annotators], dtype=float
    )
    value = float(
        krippendorff.alpha(
            reliability_data=data,
            level_of_measurement=level,
            value_domain=list(value_domain) if value_domain is not None else None,
        )
    )
    if math.isnan(value):
        return AgreementValue(None, len(pairable), "alpha is undefined for these grades")
    return AgreementValue(value, len(pairable))


def _kappa_name(weights: KappaWeights) -> str:
    return "cohen_kappa" if weights is None else f"cohen_kappa(weights={weights})"


def _scope_results(
    query_id: str | None,
    ratings: dict[str, dict[Hashable, int]],
    scale: GradeScale,
    kappa_weights: KappaWeights,
) -> list[AgreementResult]:
    names = tuple(sorted(n for n, grades in ratings.items() if grades))
    results = []
    kappa = _kappa_name(kappa_weights)
    if len(names) < 2:
        results.append(
            AgreementResult(query_id, kappa, names, None, 0, "needs two annotators with grades")
        )
    for first, second in combinations(names, 2):
        v = cohen_kappa(ratings[first], ratings[second], weights=kappa_weights, labels=scale.grades)
        results.append(
            AgreementResult(query_id, kappa, (first, second), v.value, v.n_items, v.reason)
        )
    for level in ("ordinal", "nominal"):
        v = krippendorff_alpha(
            {n: ratings[n] for n in names}, level=level, value_domain=scale.grades
        )
        results.append(
            AgreementResult(
                query_id, f"krippendorff_alpha({level})", names, v.value, v.n_items, v.reason
            )
        )
    return results


def agreement(
    judgments: Iterable[Judgment],
    *,
    scale: GradeScale = DEFAULT_SCALE,
    kappa_weights: KappaWeights = None,
    per_query: bool = True,
) -> list[AgreementResult]:
    """Agreement between the annotators of ``judgments``, overall and per query.

    For every scope (the whole set, then each query when ``per_query``): Cohen's kappa for
    each pair of annotators, and Krippendorff's alpha (ordinal and nominal) across all of
    them. Skipped judgments are missing values. Judgments of several collections are kept
    apart by treating each (collection, query, document) as its own item.

    Args:
        judgments: e.g. ``store.list_judgments(collection)``.
        scale: the grade scale (gives kappa's weights and alpha's value domain their order).
        kappa_weights: ``None``, ``linear`` or ``quadratic``.
        per_query: add one block of results per query.

    Returns:
        Overall results first, then per query (sorted by query id).
    """
    overall: dict[str, dict[Hashable, int]] = {}
    by_query: dict[str, dict[str, dict[Hashable, int]]] = {}
    for j in judgments:
        if j.grade is None:
            continue
        overall.setdefault(j.annotator, {})[(j.collection, j.query_id, j.doc_id)] = j.grade
        by_query.setdefault(j.query_id, {}).setdefault(j.annotator, {})[
            (j.collection, j.doc_id)
        ] = j.grade
    results = _scope_results(None, overall, scale, kappa_weights)
    if per_query:
        for query_id in sorted(by_query):
            results.extend(_scope_results(query_id, by_query[query_id], scale, kappa_weights))
    return results


def agreement_frame(results: Sequence[AgreementResult]) -> pd.DataFrame:
    """Results as a tidy frame: scope, query_id, metric, annotators, value, n_items, reason.

    ``annotators`` is a comma-separated string; ``value`` is NaN exactly where ``reason``
    says why.
    """
    import pandas as pd

    return pd.DataFrame(
        [
            {
                "scope": r.scope,
                "query_id": r.query_id,
                "metric": r.metric,
                "annotators": ", ".join(r.annotators),
                "value": r.value,
                "n_items": r.n_items,
                "reason": r.reason,
            }
            for r in results
        ],
        columns=["scope", "query_id", "metric", "annotators", "value", "n_items", "reason"],
    ).astype({"value": "float64", "n_items": "int64"})
