"""How much the reranker changed a ranking, measured without any judgment.

Between a first stage's list and the reranked list of one query:

- rank-biased overlap, extrapolated (RBO_ext; Webber, Moffat & Zobel, "A similarity measure for
  indefinite rankings", TOIS 2010, eq. 32 for lists of uneven length): top-weighted agreement
  in [0, 1], ``p`` the persistence (0.9 puts about 86% of the weight on the top 10);
- Jaccard of the two top-N sets;
- Kendall's tau over the documents both lists hold (scipy);
- AP correlation tau_AP (Yilmaz, Aslam & Robertson, SIGIR 2008): like tau, but a swap near the
  top costs more; asymmetric, so the first stage is the reference and the reranked list the
  estimate;
- how many documents the reranker moved into the top-N that nobody has judged: where an
  auditor should judge next.

No maintained library computes RBO or tau_AP on ranked lists (ir_measures and ranx score runs
against qrels; the ``rbo`` package pins numpy below 2), so both are written here from the
papers and tested against their formulas and against ``rbo`` in the tests.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

DEFAULT_P = 0.9


def rbo(a: Sequence[str], b: Sequence[str], p: float = DEFAULT_P) -> float:
    """Extrapolated rank-biased overlap of two rankings without duplicates (eq. 32)."""
    if not 0 < p < 1:
        raise ValueError(f"p must be in (0, 1), got {p}")
    if not a and not b:
        return 1.0
    if not a or not b:
        return 0.0
    short, long_ = (a, b) if len(a) <= len(b) else (b, a)
    s, l = len(short), len(long_)  # noqa: E741 (the paper's names)
    seen_s: set[str] = set()
    seen_l: set[str] = set()
    overlap = 0
    total = 0.0
    x_s = 0
    for d in range(1, l + 1):
        if d <= s:
            x, y = short[d - 1], long_[d - 1]
            if x == y:
                overlap += 1
            else:
                overlap += (x in seen_l) + (y in seen_s)
            seen_s.add(x)
            seen_l.add(y)
            if d == s:
                x_s = overlap
        else:
            y = long_[d - 1]
            overlap += y in seen_s
            seen_l.add(y)
            # the short list's extrapolated agreement beyond its end
            total += x_s * (d - s) / (s * d) * p**d
        total += overlap / d * p**d
    x_l = overlap
    return (1 - p) / p * total + ((x_l - x_s) / l + x_s / s) * p**l


def jaccard(a: Collection[str], b: Collection[str]) -> float:
    """Shared documents over all documents of two sets (1.0 for two empty sets)."""
    sa, sb = set(a), set(b)
    union = sa | sb
    return len(sa & sb) / len(union) if union else 1.0


def tau_ap(reference: Sequence[str], estimate: Sequence[str]) -> float | None:
    """AP correlation of ``estimate`` against ``reference`` over the documents both hold.

    tau_AP = 2 / (N - 1) * sum_{i=2..N} C(i) / (i - 1) - 1, where C(i) counts the documents
    above rank i in ``estimate`` that ``reference`` also ranks above that document. None when
    fewer than two documents are shared.
    """
    shared = set(reference) & set(estimate)
    ref = {d: i for i, d in enumerate(d for d in reference if d in shared)}
    est = [d for d in estimate if d in shared]
    n = len(est)
    if n < 2:
        return None
    total = 0.0
    for i in range(1, n):
        here = ref[est[i]]
        correct = sum(1 for above in est[:i] if ref[above] < here)
        total += correct / i
    return 2.0 / (n - 1) * total - 1.0


def kendall(a: Sequence[str], b: Sequence[str]) -> float | None:
    """Kendall's tau-b between two rankings over the documents both hold."""
    from rankshift.audit import kendall_tau

    pos_b = {d: i for i, d in enumerate(b)}
    shared = [d for d in a if d in pos_b]
    return kendall_tau(list(range(len(shared))), [pos_b[d] for d in shared])


@dataclass(frozen=True)
class Shift:
    """How far one query's reranked list moved from one first stage."""

    rbo: float
    jaccard: float
    kendall_tau: float | None
    tau_ap: float | None
    moved_in: int
    """Documents in the reranked top-N that were not in the first stage's top-N."""
    unjudged_moved_in: int
    """Of those, how many have no judgment: where to judge next."""


def shift(
    first: Sequence[str],
    reranked: Sequence[str],
    n: int,
    judged: Collection[str] = (),
    p: float = DEFAULT_P,
) -> Shift:
    """The shift between a first stage's ranking and the reranked one, at cut-off ``n``.

    RBO is taken over the top-N of both lists (the agreement an auditor sees); tau and
    tau_AP over all documents both lists hold (the reranker's candidates).
    """
    top_first, top_reranked = list(first[:n]), list(reranked[:n])
    moved = [d for d in top_reranked if d not in set(top_first)]
    judged_set = set(judged)
    return Shift(
        rbo=rbo(top_first, top_reranked, p),
        jaccard=jaccard(top_first, top_reranked),
        kendall_tau=kendall(first, reranked),
        tau_ap=tau_ap(first, reranked),
        moved_in=len(moved),
        unjudged_moved_in=sum(1 for d in moved if d not in judged_set),
    )


def most_changed(
    shifts: Mapping[str, Shift], by: str = "rbo", limit: int | None = None
) -> list[tuple[str, Shift]]:
    """Queries ordered by how much the reranker changed them: lowest RBO (or Jaccard, tau,
    tau_AP) first; ties broken by more unjudged documents moved in, then query id."""
    if by not in ("rbo", "jaccard", "kendall_tau", "tau_ap"):
        raise ValueError(f"cannot order by {by!r}")

    def key(item: tuple[str, Shift]) -> tuple[float, int, str]:
        value = getattr(item[1], by)
        return (2.0 if value is None else value, -item[1].unjudged_moved_in, item[0])

    ordered = sorted(shifts.items(), key=key)
    return ordered if limit is None else ordered[:limit]
