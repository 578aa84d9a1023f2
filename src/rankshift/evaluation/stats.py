"""Paired significance tests of a reranked run against its first stage, query by query."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class PairedTest:
    """First stage vs reranked on one measure, over the same queries."""

    measure: str
    n: int
    first: float
    reranked: float
    delta: float
    """``reranked - first`` (mean of the per-query differences)."""
    t_statistic: float | None
    t_p_value: float | None
    """Two-sided paired t-test (Student 1908; ``scipy.stats.ttest_rel``)."""
    randomisation_p_value: float | None
    """Two-sided paired randomisation (sign-flip) test on the mean difference (Fisher 1935;
    Smucker, Allan and Carterette, "A comparison of statistical significance tests for
    information retrieval evaluation", CIKM 2007). Exact when ``2**n <= n_resamples``."""
    ci_low: float | None
    ci_high: float | None
    """Confidence interval of the mean difference from the t distribution."""
    bootstrap_ci_low: float | None
    bootstrap_ci_high: float | None
    """Percentile bootstrap interval of the mean difference (Efron 1979)."""
    confidence: float = 0.95


def paired_test(
    first: Sequence[float],
    reranked: Sequence[float],
    measure: str = "",
    n_resamples: int = 10_000,
    seed: int = 0,
    confidence: float = 0.95,
) -> PairedTest:
    """Paired significance tests and confidence intervals for ``reranked - first``.

    Args:
        first: per-query values of the first stage.
        reranked: per-query values of the reranked run, same queries, same order.
        measure: the measure's name (for the record).
        n_resamples: permutations and bootstrap resamples; seeded, so results repeat.
        seed: seed of both resampling procedures.
        confidence: level of both intervals.

    Returns:
        A :class:`PairedTest`. With fewer than two queries the tests and intervals are
        ``None``; when every difference is the same value ``d``, the t-test is undefined and is
        reported as p = 1 for ``d = 0`` (p = 0 otherwise) with the interval ``[d, d]``.
    """
    import numpy as np
    from scipy import stats

    a = np.asarray(first, dtype=np.float64)
    b = np.asarray(reranked, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError("first and reranked need one value per query each")
    n = int(a.size)
    d = b - a
    mean_a = float(a.mean()) if n else 0.0
    mean_b = float(b.mean()) if n else 0.0
    delta = float(d.mean()) if n else 0.0
    if n < 2:
        return PairedTest(measure, n, mean_a, mean_b, delta, *(None,) * 7, confidence)
    if np.all(d == d[0]):
        t_stat = None if d[0] == 0 else math.copysign(math.inf, d[0])
        t_p, lo, hi = (1.0 if d[0] == 0 else 0.0), float(d[0]), float(d[0])
        b_lo, b_hi = lo, hi
    else:
        res = stats.ttest_rel(b, a)
        t_stat, t_p = float(res.statistic), float(res.pvalue)
        ci = res.confidence_interval(confidence)
        lo, hi = float(ci.low), float(ci.high)
        boot = stats.bootstrap(
            (d,),
            np.mean,
            confidence_level=confidence,
            n_resamples=n_resamples,
            method="percentile",
            rng=np.random.default_rng(seed),
        )
        b_lo, b_hi = float(boot.confidence_interval.low), float(boot.confidence_interval.high)
    perm = stats.permutation_test(
        (b, a),
        lambda x, y, axis: np.mean(x - y, axis=axis),
        permutation_type="samples",
        vectorized=True,
        n_resamples=n_resamples,
        alternative="two-sided",
        rng=np.random.default_rng(seed),
    )
    return PairedTest(
        measure, n, mean_a, mean_b, delta, t_stat, t_p, float(perm.pvalue), lo, hi, b_lo, b_hi,
        confidence,
    )  # fmt: skip
