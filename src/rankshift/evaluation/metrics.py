"""Evaluation over query sets: a thin layer over ir_measures, with trec_eval semantics.

The measures are computed by ir_measures (which hands nDCG, P and R to pytrec_eval, RR@10 to its
MS MARCO implementation and Judged@k to its own); nothing here re-implements a formula. What
this module decides, and states, is everything around the formulas:

* **Grades.** nDCG@10 uses the judged grade as the gain (``gain = grade``, log2 discount, the
  trec_eval ``ndcg_cut`` definition; Järvelin and Kekäläinen, "Cumulated gain-based evaluation
  of IR techniques", TOIS 2002). The binary measures (RR, P, R) count a document as relevant
  when its grade is at least :data:`REL_THRESHOLD` (1): ``RR(rel=1)@10``, ``P(rel=1)@10``,
  ``R(rel=1)@100``.
* **The query set.** A query is evaluated when it has qrels (trec_eval ignores run queries
  without judgments). A query with qrels that the run returned nothing for scores 0 on every
  measure (trec_eval's ``-c``), so a pipeline cannot improve its mean by failing on hard
  queries.
* **Queries with no relevant document** (every judged grade below the threshold) are counted,
  as trec_eval counts them: nDCG, RR, P and R are 0 (there is nothing to find), Judged@10 is
  computed as usual. :attr:`Evaluation.no_relevant` lists them so a report can say so.
* **Ties.** trec_eval re-sorts a run by score and breaks ties by document id in *descending*
  order (ir_measures' MS MARCO provider, which computes RR@10, breaks them differently again),
  while rankshift breaks ties on ascending ``doc_id``. Runs built from rankings with
  :func:`rank_scored` carry scores that follow the rank, so what is measured is exactly the
  ranking the user saw.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rankshift.types import Qrels, Run, ScoredDoc

if TYPE_CHECKING:
    import pandas as pd

REL_THRESHOLD = 1
"""Minimum grade that counts as relevant for the binary measures (RR, P, R)."""

MEASURES: dict[str, str] = {
    "nDCG@10": "nDCG@10",
    "MRR@10": f"RR(rel={REL_THRESHOLD})@10",
    "Recall@100": f"R(rel={REL_THRESHOLD})@100",
    "P@10": f"P(rel={REL_THRESHOLD})@10",
    "Judged@10": "Judged@10",
}
"""Registry of measures by display name -> ir_measures name. Feeds the CLI and the app."""

DEFAULT_MEASURES: tuple[str, ...] = tuple(MEASURES)

MEASURE_HELP: dict[str, str] = {
    "nDCG@10": "graded gain (= judged grade), log2 discount, top 10",
    "MRR@10": f"reciprocal rank of the first document with grade >= {REL_THRESHOLD} in the top 10",
    "Recall@100": f"share of the documents with grade >= {REL_THRESHOLD} found in the top 100",
    "P@10": f"share of the top 10 with grade >= {REL_THRESHOLD}",
    "Judged@10": "share of the top 10 that has a judgment (any grade): how far to trust the rest",
}


def ir_measure_name(measure: str) -> str:
    """The ir_measures name of a display name (``MRR@10`` -> ``RR(rel=1)@10``); others unchanged."""
    return MEASURES.get(measure, measure)


@dataclass(frozen=True)
class Evaluation:
    """Per-query values and means of some measures over one query set."""

    per_query: pd.DataFrame
    """Index ``query_id`` (the evaluated query set, in order), one column per measure."""
    query_ids: tuple[str, ...]
    no_relevant: tuple[str, ...]
    """Evaluated queries without any document of grade >= :data:`REL_THRESHOLD`."""
    unjudged: tuple[str, ...]
    """Requested queries left out because they have no qrels."""

    @property
    def mean(self) -> dict[str, float]:
        """The mean of each measure over the evaluated queries (0.0 for an empty set)."""
        if self.per_query.empty:
            return {m: 0.0 for m in self.per_query.columns}
        return {m: float(v) for m, v in self.per_query.mean(axis=0).items()}


def rank_scored(rankings: Mapping[str, Sequence[ScoredDoc] | Sequence[str]]) -> Run:
    """A run whose scores follow the rankings' order (``score = len - position``).

    Use it to measure a ranking as shown: the order, not the raw scores, decides (see the
    module docstring on ties).

    Args:
        rankings: per query, documents best first (``ScoredDoc`` rows or bare doc ids).
    """
    run: Run = {}
    for query_id, ranking in rankings.items():
        ids = [r.doc_id if isinstance(r, ScoredDoc) else r for r in ranking]
        run[query_id] = {doc_id: float(len(ids) - i) for i, doc_id in enumerate(ids)}
    return run


def evaluate(
    qrels: Qrels,
    run: Run,
    measures: Iterable[str] = DEFAULT_MEASURES,
    query_ids: Iterable[str] | None = None,
) -> Evaluation:
    """Evaluate a run, per query and on average.

    Args:
        qrels: ``qrels[query_id][doc_id] = grade``.
        run: ``run[query_id][doc_id] = score`` (see :func:`rank_scored`).
        measures: display names from :data:`MEASURES`, or any ir_measures name.
        query_ids: the query set (default: every query in ``qrels``). Queries without qrels are
            left out and listed in :attr:`Evaluation.unjudged`.

    Returns:
        An :class:`Evaluation`; every evaluated query has a value for every measure.
    """
    import ir_measures
    import pandas as pd

    names = list(dict.fromkeys(measures))
    parsed = {ir_measures.parse_measure(ir_measure_name(m)): m for m in names}
    wanted = list(qrels) if query_ids is None else list(dict.fromkeys(query_ids))
    evaluated = [q for q in wanted if q in qrels]
    unjudged = tuple(q for q in wanted if q not in qrels)
    sub_qrels = {q: dict(qrels[q]) for q in evaluated}
    # Empty rankings are left out (ir_measures' Judged provider divides by their length) and
    # scored 0 below, like every other judged query the run has nothing for.
    sub_run = {q: dict(run[q]) for q in evaluated if run.get(q)}
    values: dict[str, dict[str, float]] = {q: dict.fromkeys(names, 0.0) for q in evaluated}
    if sub_qrels and sub_run:
        for metric in ir_measures.iter_calc(list(parsed), sub_qrels, sub_run):
            if metric.query_id in values:
                values[metric.query_id][parsed[metric.measure]] = float(metric.value)
    frame = pd.DataFrame.from_dict(values, orient="index", columns=names, dtype="float64")
    frame = frame.reindex(evaluated)
    frame.index.name = "query_id"
    no_relevant = tuple(
        q for q in evaluated if not any(g >= REL_THRESHOLD for g in qrels[q].values())
    )
    return Evaluation(frame, tuple(evaluated), no_relevant, unjudged)
