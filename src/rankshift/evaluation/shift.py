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

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

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


# --------------------------------------------------------------------------------------
# Over a query set: what ``rankshift eval`` and the Evaluate page report

SHIFT_FIELDS: tuple[str, ...] = (
    "rbo",
    "jaccard",
    "kendall_tau",
    "tau_ap",
    "moved_in",
    "unjudged_moved_in",
)
"""The per-query values of a :class:`Shift`, in the order reports show them."""


def mean_shift(shifts: Iterable[Shift]) -> dict[str, float | None]:
    """The mean of each :data:`SHIFT_FIELDS` value over queries; tau and tau_AP over the
    queries where they are defined. ``None`` where no query has a value."""
    rows = list(shifts)
    out: dict[str, float | None] = {}
    for name in SHIFT_FIELDS:
        values = [float(v) for s in rows if (v := getattr(s, name)) is not None]
        out[name] = sum(values) / len(values) if values else None
    return out


@dataclass(frozen=True)
class ShiftReport:
    """How much one reranked pipeline moved one first stage's lists, query by query.

    Needs no judgment: every query of the batch has a row, judged or not. Judgments only
    decide which documents moved into the top-N count as unjudged.
    """

    reranked: str
    """The reranked pipeline's spec, e.g. ``bm25>ce``."""
    first: str
    """The first stage compared with, e.g. ``bm25``."""
    own: bool
    """True when ``first`` is the stage this pipeline reranks (else another first stage of
    the batch, compared for context)."""
    n: int
    """The top-N cut of RBO, Jaccard and the documents moved in."""
    p: float
    """RBO's persistence."""
    queries: dict[str, Shift]
    """By query id, the most changed first (:func:`most_changed` by RBO)."""
    unjudged_queries: tuple[str, ...] = ()
    """Queries without any judgment (they have a row all the same)."""
    fallback: tuple[str, ...] = ()
    """Queries the reranker did not reorder (it failed; the first stage's order was kept):
    they have a row, marked, and are left out of :attr:`mean`."""

    @property
    def compared(self) -> list[str]:
        """The queries the means are taken over: every row but the fallbacks."""
        return [q for q in self.queries if q not in set(self.fallback)]

    @property
    def mean(self) -> dict[str, float | None]:
        """Means over :attr:`compared` (see :func:`mean_shift`)."""
        return mean_shift(self.queries[q] for q in self.compared)

    @property
    def unjudged_moved_in(self) -> int:
        """Unjudged documents moved into the top-N, over :attr:`compared`: what to judge next."""
        return sum(self.queries[q].unjudged_moved_in for q in self.compared)

    def most_changed(self, limit: int | None = None) -> list[tuple[str, Shift]]:
        """The rows, most changed first; the first ``limit`` of them."""
        rows = list(self.queries.items())
        return rows if limit is None else rows[:limit]

    def rows(self) -> list[dict[str, Any]]:
        """One dict per query, most changed first: ``query_id``, the :class:`Shift` values,
        ``judged`` (the query has a judgment) and ``reranked_ok`` (not a fallback)."""
        unjudged, fallback = set(self.unjudged_queries), set(self.fallback)
        return [
            {
                "query_id": q,
                **{name: getattr(s, name) for name in SHIFT_FIELDS},
                "judged": q not in unjudged,
                "reranked_ok": q not in fallback,
            }
            for q, s in self.queries.items()
        ]

    def to_dict(self) -> dict[str, Any]:
        """For ``report.json``: settings, means, totals and the per-query rows."""
        return {
            "first_stage": self.first,
            "n": self.n,
            "p": self.p,
            "queries_compared": len(self.compared),
            "unjudged_queries": list(self.unjudged_queries),
            "fallback_queries": list(self.fallback),
            "mean": self.mean,
            "unjudged_moved_in_total": self.unjudged_moved_in,
            "queries": self.rows(),
        }


def shift_report(
    reranked: str,
    first: str,
    first_rankings: Mapping[str, Sequence[str]],
    reranked_rankings: Mapping[str, Sequence[str]],
    query_ids: Sequence[str],
    n: int,
    judged: Mapping[str, Collection[str]],
    p: float = DEFAULT_P,
    own: bool = True,
    fallback: Collection[str] = (),
) -> ShiftReport:
    """:func:`shift` for every query of ``query_ids``, ordered most changed first.

    Args:
        reranked: the reranked pipeline's spec.
        first: the first stage's spec.
        first_rankings: per query, the first stage's doc ids, best first.
        reranked_rankings: per query, the reranked doc ids, best first.
        query_ids: the query set: every one gets a row (missing rankings count as empty).
        n: the top-N cut.
        judged: per query, the judged documents (any grade): qrels will do.
        p: RBO's persistence.
        own: ``first`` is the stage ``reranked`` reorders.
        fallback: queries the reranker did not reorder (left out of the means).
    """
    shifts = {
        q: shift(first_rankings.get(q, []), reranked_rankings.get(q, []), n, judged.get(q, {}), p)
        for q in query_ids
    }
    return ShiftReport(
        reranked=reranked,
        first=first,
        own=own,
        n=n,
        p=p,
        queries=dict(most_changed(shifts)),
        unjudged_queries=tuple(q for q in query_ids if not judged.get(q)),
        fallback=tuple(q for q in query_ids if q in set(fallback)),
    )


def _cell(value: float | None, spec: str = ".3f") -> str:
    return "n/a" if value is None else format(value, spec)


def format_shifts(
    reports: Sequence[ShiftReport],
    query_texts: Mapping[str, str] | None = None,
    limit: int = 10,
    text_width: int = 40,
) -> list[str]:
    """Plain-text lines for a terminal: per reranked pipeline, the mean shift against each
    first stage, and the queries it changed most against its own first stage."""
    texts = query_texts or {}
    lines: list[str] = []
    by_reranked: dict[str, list[ShiftReport]] = {}
    for r in reports:
        by_reranked.setdefault(r.reranked, []).append(r)
    for reranked, group in by_reranked.items():
        group = sorted(group, key=lambda r: not r.own)
        head = group[0]
        lines.append("")
        lines.append(
            f"What {reranked} changed (no judgments needed): top {head.n}, RBO p = {head.p:g}"
        )
        width = max([8, *(len(r.first) for r in group)])
        lines.append(
            f"  {'against':<{width}}  {'queries':>7}  {'RBO':>6}  {'Jaccard':>7}  "
            f"{'tau':>6}  {'tau_AP':>6}  {'moved in/query':>14}  {'unjudged moved in, total':>24}"
        )
        for r in group:
            m = r.mean
            lines.append(
                f"  {r.first:<{width}}  {len(r.compared):>7}  {_cell(m['rbo']):>6}  "
                f"{_cell(m['jaccard']):>7}  {_cell(m['kendall_tau']):>6}  "
                f"{_cell(m['tau_ap']):>6}  {_cell(m['moved_in'], '.2f'):>14}  "
                f"{r.unjudged_moved_in:>24}"
            )
        own = head if head.own else None
        if own is None or not own.queries:
            continue
        lines.append(f"  Queries the reranker changed most (vs {own.first}; lowest RBO first):")
        qw = max([5, *(len(q) for q, _ in own.most_changed(limit))])
        lines.append(
            f"  {'query':<{qw}}  {'text':<{text_width}}  {'RBO':>6}  {'Jaccard':>7}  "
            f"{'tau_AP':>6}  {'unjudged moved in':>17}"
        )
        for q, s in own.most_changed(limit):
            text = " ".join(texts.get(q, "").split())
            if len(text) > text_width:
                text = text[: text_width - 1] + "…"
            mark = " (not judged)" if q in own.unjudged_queries else ""
            mark += " (not reranked)" if q in own.fallback else ""
            lines.append(
                f"  {q:<{qw}}  {text:<{text_width}}  {_cell(s.rbo):>6}  {_cell(s.jaccard):>7}  "
                f"{_cell(s.tau_ap):>6}  {s.unjudged_moved_in:>17}{mark}"
            )
    return lines
