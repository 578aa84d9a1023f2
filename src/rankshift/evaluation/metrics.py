"""Evaluation over query sets: a thin layer over ir_measures, with trec_eval semantics.

The measures are computed by ir_measures (which hands nDCG, P and R to pytrec_eval, RR@10 to its
MS MARCO implementation and Judged@k to its own); nothing here re-implements a formula. What
this module decides, and states, is everything around the formulas:

* **Grades.** nDCG@10 uses the judged grade as the gain (``gain = grade``, log2 discount, the
  trec_eval ``ndcg_cut`` definition, which pytrec_eval and BEIR report; Järvelin and
  Kekäläinen, "Cumulated gain-based evaluation of IR techniques", TOIS 2002). Many papers use
  exponential gains instead (``gain = 2^grade - 1``; Burges et al., "Learning to rank using
  gradient descent", ICML 2005), which differ by about 0.01 on graded qrels: that is a measure
  of its own, ``nDCG@10(exp)`` (see :data:`GAIN_MEASURES`), never a switch on nDCG@10. The binary measures (RR, P, R) count a document as relevant
  when its grade is at least :data:`REL_THRESHOLD` (1): ``RR(rel=1)@10``, ``P(rel=1)@10``,
  ``R(rel=1)@100``.
* **The query set.** A query is evaluated when it has qrels (trec_eval ignores run queries
  without judgments). A query with qrels that the run returned nothing for scores 0 on every
  measure (trec_eval's ``-c``), so a pipeline cannot improve its mean by failing on hard
  queries.
* **Judged ids the collection lacks** count as trec_eval counts them: a judged document that
  is not in the corpus cannot be retrieved, yet stays in the recall denominator and nDCG's
  ideal ranking, so an id mismatch (zero-padding, another numbering) quietly lowers every
  measure. :func:`check_qrels` finds them, with the judged queries that have no text.
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
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from rankshift.types import Qrels, Run, ScoredDoc

if TYPE_CHECKING:
    import pandas as pd

    from rankshift.corpus import Collection

REL_THRESHOLD = 1
"""Minimum grade that counts as relevant for the binary measures (RR, P, R)."""

MEASURES: dict[str, str] = {
    "nDCG@10": "nDCG@10",
    "MRR@10": f"RR(rel={REL_THRESHOLD})@10",
    "Recall@100": f"R(rel={REL_THRESHOLD})@100",
    "P@10": f"P(rel={REL_THRESHOLD})@10",
    "Judged@10": "Judged@10",
    "nDCG@10(exp)": "nDCG(gains={g: 2^g - 1 for each grade g})@10",
}
"""Registry of measures by display name -> ir_measures name. Feeds the CLI and the app."""

GAIN_MEASURES: dict[str, str] = {"nDCG@10(exp)": "nDCG@10"}
"""Measures with exponential gains (``2^grade - 1``; 0 for grades <= 0), by display name ->
the linear-gain measure they vary. ir_measures takes the gains as a mapping over the grades
that occur, so their ir_measures name is built from the qrels (:func:`ir_measure_name`)."""

DEFAULT_MEASURES: tuple[str, ...] = tuple(m for m in MEASURES if m not in GAIN_MEASURES)
"""What is computed unless asked otherwise: every measure with the trec_eval gains."""

GAIN_NOTE = (
    "nDCG@10 uses linear gains (gain = grade, as trec_eval, pytrec_eval and BEIR report it); "
    "nDCG@10(exp) uses exponential gains (2^grade - 1), as many papers do"
)
"""The gain function in one sentence: the CLI's table footer, the README, the Evaluate page."""

MEASURE_HELP: dict[str, str] = {
    "nDCG@10": "linear gain (= judged grade, as trec_eval and BEIR), log2 discount, top 10",
    "nDCG@10(exp)": "exponential gain (2^grade - 1, as many papers), log2 discount, top 10",
    "MRR@10": f"reciprocal rank of the first document with grade >= {REL_THRESHOLD} in the top 10",
    "Recall@100": f"share of the documents with grade >= {REL_THRESHOLD} found in the top 100",
    "P@10": f"share of the top 10 with grade >= {REL_THRESHOLD}",
    "Judged@10": "share of the top 10 that has a judgment (any grade): how far to trust the rest",
}


def exp_gain(grade: int) -> int:
    """The exponential gain of a grade: ``2^grade - 1`` (0 for grades <= 0)."""
    return 2**grade - 1 if grade > 0 else 0


def ir_measure_name(measure: str, grades: Iterable[int] = ()) -> str:
    """The ir_measures name of a display name (``MRR@10`` -> ``RR(rel=1)@10``); others unchanged.

    Args:
        measure: a display name, or any ir_measures name.
        grades: the grades that occur in the qrels (for :data:`GAIN_MEASURES`, whose gain
            mapping must name each one).
    """
    if measure in GAIN_MEASURES:
        base = MEASURES[GAIN_MEASURES[measure]]
        name, _, cutoff = base.partition("@")
        gains = ",".join(f"{g}:{exp_gain(g)}" for g in sorted({0, *grades}))
        return f"{name}(gains={{{gains}}})@{cutoff}"
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
    grades = {g for judged in qrels.values() for g in judged.values()}
    ir_names = {m: ir_measure_name(m, grades) for m in names}
    # A measure with a gain mapping is computed on its own: asked for together with nDCG@10,
    # ir_measures (0.3.x, through pytrec_eval) applies the mapping to both and reports the
    # gain measure as 0. On its own it comes back under another spelling (a mapping equal to
    # the grades prints as ``gains={}``), so its values are taken by position, not by name.
    plain = [m for m in names if "gains=" not in ir_names[m]]
    groups = [plain, *([m] for m in names if m not in plain)]
    wanted = list(qrels) if query_ids is None else list(dict.fromkeys(query_ids))
    evaluated = [q for q in wanted if q in qrels]
    unjudged = tuple(q for q in wanted if q not in qrels)
    sub_qrels = {q: dict(qrels[q]) for q in evaluated}
    # Empty rankings are left out (ir_measures' Judged provider divides by their length) and
    # scored 0 below, like every other judged query the run has nothing for.
    sub_run = {q: dict(run[q]) for q in evaluated if run.get(q)}
    values: dict[str, dict[str, float]] = {q: dict.fromkeys(names, 0.0) for q in evaluated}
    for group in groups:
        if not (group and sub_qrels and sub_run):
            continue
        parsed = {ir_measures.parse_measure(ir_names[m]): m for m in group}
        for metric in ir_measures.iter_calc(list(parsed), sub_qrels, sub_run):
            name = group[0] if len(group) == 1 else parsed[metric.measure]
            if metric.query_id in values:
                values[metric.query_id][name] = float(metric.value)
    frame = pd.DataFrame.from_dict(values, orient="index", columns=names, dtype="float64")
    frame = frame.reindex(evaluated)
    frame.index.name = "query_id"
    no_relevant = tuple(
        q for q in evaluated if not any(g >= REL_THRESHOLD for g in qrels[q].values())
    )
    return Evaluation(frame, tuple(evaluated), no_relevant, unjudged)


# --------------------------------------------------------------------------------------
# Judged ids the collection lacks

EXAMPLES = 5
"""How many ids a problem names."""


class QrelsError(ValueError):
    """Judgments name ids the collection lacks, and the caller asked for a hard stop."""


@dataclass(frozen=True)
class IdProblem:
    """Judged ids of one kind that the collection lacks."""

    count: int
    """Distinct ids."""
    judgments: int
    """Judgments (query-document pairs) that name them."""
    relevant: int
    """Of those, judgments with grade >= :data:`REL_THRESHOLD`."""
    examples: tuple[str, ...]
    """Up to :data:`EXAMPLES` of the ids, in qrels order."""
    known: tuple[str, ...] = ()
    """A few ids the collection does have, to compare formats with."""


@dataclass(frozen=True)
class QrelsProblems:
    """What :func:`check_qrels` found; empty (false) when every judged id is known."""

    source: str
    unknown_documents: IdProblem | None = None
    """Judged documents that are not in the corpus."""
    empty_documents: IdProblem | None = None
    """Judged documents that were left out of the corpus because their text is empty."""
    unknown_queries: IdProblem | None = None
    """Judged queries without a query text: they are left out of the query set."""
    queries_file: str | None = None

    def __bool__(self) -> bool:
        return any((self.unknown_documents, self.empty_documents, self.unknown_queries))

    def messages(self) -> list[str]:
        """One line per kind of problem, naming counts and examples."""
        where = f"{self.source}: " if self.source else ""
        out = []
        if (p := self.unknown_documents) is not None:
            out.append(
                f"{where}{_ids(p, 'judged document id')} not in the corpus"
                f"{_looks(p, 'corpus')}; {_counted(p)}"
            )
        if (p := self.empty_documents) is not None:
            out.append(
                f"{where}{_ids(p, 'judged document')} left out of the corpus as empty; "
                + _counted(p)
            )
        if (p := self.unknown_queries) is not None:
            file = self.queries_file or "the collection (no queries file was read)"
            out.append(
                f"{where}{_ids(p, 'judged query id')} no text in {file}"
                f"{_looks(p, 'query')}; left out of the query set"
            )
        return out

    def raise_if(self, strict: bool) -> None:
        """With ``strict``, any problem is a :class:`QrelsError` with the same text."""
        if strict and self:
            raise QrelsError("; ".join(self.messages()) + " (strict mode)")

    def to_dict(self) -> dict[str, Any]:
        """For ``report.json``: each problem's counts and examples, and the messages."""
        return {
            "source": self.source,
            "unknown_documents": asdict(self.unknown_documents) if self.unknown_documents else None,
            "empty_documents": asdict(self.empty_documents) if self.empty_documents else None,
            "unknown_queries": asdict(self.unknown_queries) if self.unknown_queries else None,
            "messages": self.messages(),
        }


def _ids(p: IdProblem, what: str) -> str:
    verb = ("is", "are") if what != "judged query id" else ("has", "have")
    shown = ", ".join(repr(i) for i in p.examples)
    more = ", ..." if p.count > len(p.examples) else ""
    plural = "s" if p.count != 1 else ""
    return f"{p.count} {what}{plural} ({shown}{more}) {verb[p.count != 1]}"


def _looks(p: IdProblem, kind: str) -> str:
    if not p.known:
        return ""
    return f" ({kind} ids look like {', '.join(repr(i) for i in p.known)})"


def _counted(p: IdProblem) -> str:
    whose = "its" if p.count == 1 else "their"
    one = p.judgments == 1
    n = f"{whose} 1 judgment" if one else f"{whose} {p.judgments} judgments"
    verb = "counts" if one else "count"
    return f"{n} ({p.relevant} relevant) still {verb}, as in trec_eval, lowering recall and nDCG"


def _problem(
    qrels: Qrels, ids: Sequence[str], by_doc: bool, known: Iterable[str] = ()
) -> IdProblem | None:
    if not ids:
        return None
    wanted = set(ids)
    pairs = [
        g
        for q, judged in qrels.items()
        for d, g in judged.items()
        if (d if by_doc else q) in wanted
    ]
    return IdProblem(
        count=len(ids),
        judgments=len(pairs),
        relevant=sum(g >= REL_THRESHOLD for g in pairs),
        examples=tuple(ids[:EXAMPLES]),
        known=tuple(list(known)[:2]),
    )


def check_qrels(qrels: Qrels, collection: Collection, source: str = "") -> QrelsProblems:
    """The judged document and query ids that ``collection`` lacks.

    Args:
        qrels: the judgments (a qrels split or file, or the judgments store's).
        collection: the loaded collection.
        source: where the judgments come from, to start each message (e.g. ``split test``).
    """
    docs = collection.documents
    empty = set(collection.empty_documents)
    judged_docs = list(dict.fromkeys(d for judged in qrels.values() for d in judged))
    unknown_docs = [d for d in judged_docs if d not in docs and d not in empty]
    empty_docs = [d for d in judged_docs if d in empty]
    unknown_queries = [q for q in qrels if q not in collection.queries]
    return QrelsProblems(
        source=source,
        unknown_documents=_problem(qrels, unknown_docs, True, docs),
        empty_documents=_problem(qrels, empty_docs, True),
        unknown_queries=_problem(qrels, unknown_queries, False, collection.queries),
        queries_file=collection.queries_file,
    )


def no_query_text(collection: Collection, qrels: Qrels) -> str:
    """Why none of the judged queries can run, naming the file the texts were expected in."""
    from rankshift.corpus import CORPUS_SUFFIXES

    n = len(qrels)
    first = next(iter(qrels), "")
    if collection.queries_file is None:
        path = collection.path or ""
        where = (
            f"there is no queries.jsonl in {path}"
            if path and not path.lower().endswith(CORPUS_SUFFIXES)
            else "no queries file was read"
        )
        return f"none of the {n} judged queries has a text: {where}"
    have = ", ".join(repr(q) for q in list(collection.queries)[:2])
    return (
        f"none of the {n} judged query ids is in {collection.queries_file} (e.g. {first!r}; "
        f"its ids look like {have or 'nothing: it is empty'})"
    )
