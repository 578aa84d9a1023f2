"""The report: metrics per run and, for each reranked run, the comparison with its first stage.

:func:`build_report` turns a :class:`~rankshift.evaluation.runner.BatchResult` and qrels into an
:class:`EvalReport`, which prints as a table (:meth:`EvalReport.format`) and saves as JSON. Its
shift section (:attr:`EvalReport.shifts`, see :mod:`~rankshift.evaluation.shift`) needs no
judgments: it covers every query of the batch, judged or not.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rankshift.audit import kendall_tau
from rankshift.corpus import Collection
from rankshift.evaluation.calibration import Calibration, calibration
from rankshift.evaluation.metrics import (
    DEFAULT_MEASURES,
    GAIN_NOTE,
    REL_THRESHOLD,
    Evaluation,
    QrelsProblems,
    check_qrels,
    evaluate,
)
from rankshift.evaluation.runner import BatchResult
from rankshift.evaluation.shift import DEFAULT_P, ShiftReport, format_shifts, shift_report
from rankshift.evaluation.stats import PairedTest, paired_test
from rankshift.evaluation.tradeoff import Tradeoff
from rankshift.evaluation.verdicts import Diagnostic, QueryVerdict, diagnostics, query_verdict
from rankshift.thresholds import DEFAULT_THRESHOLDS, Thresholds
from rankshift.types import Qrels

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class RunSummary:
    spec: str
    name: str
    mean: dict[str, float]
    per_query: dict[str, dict[str, float]]
    ms_per_query: float
    path: str | None
    reranked: bool
    rerank_ms_per_query: float | None = None
    cached_fraction: float | None = None
    """Share of pair scores that came from the cache (the rerank time excludes their cost)."""
    fallback_queries: int = 0
    """Queries the reranker failed on: their list is the first stage's order. They are not
    checkpointed, so the next run with the same output folder reranks them again."""
    fallbacks: dict[str, str] = field(default_factory=dict)
    """Why, per fallback query (the rerank's message)."""


@dataclass(frozen=True)
class Comparison:
    """First stage vs first stage + reranker."""

    first: str
    reranked: str
    first_name: str
    reranked_name: str
    tests: dict[str, PairedTest]
    verdicts: list[QueryVerdict]
    counts: dict[str, int]
    diagnostics: list[Diagnostic]
    earning: bool
    """False when any of small gain, unchanged order or flat scores is triggered."""
    summary: str
    calibration: Calibration | None
    mean_kendall_tau: float | None
    median_score_std: float | None
    rerank_ms_per_query: float | None

    def verdict_frame(self) -> pd.DataFrame:
        """One row per query: verdict, values, and the moved documents as id lists."""
        import pandas as pd

        rows = [
            {
                "query_id": v.query_id,
                "verdict": v.verdict,
                "first": v.first,
                "reranked": v.reranked,
                "delta": v.delta,
                "demoted": [m.doc_id for m in v.demoted],
                "promoted": [m.doc_id for m in v.promoted],
                "recall_gap": [m.doc_id for m in v.recall_gap],
                "kendall_tau": v.kendall_tau,
                "score_std": v.score_std,
            }
            for v in self.verdicts
        ]
        return pd.DataFrame(rows)


@dataclass(frozen=True)
class EvalReport:
    """Everything ``rankshift eval`` prints and saves."""

    collection: dict[str, Any]
    qrels_source: str
    settings: dict[str, Any]
    measures: list[str]
    relevance_threshold: int
    thresholds: Thresholds
    query_ids: list[str]
    no_relevant: list[str]
    runs: dict[str, RunSummary]
    comparisons: list[Comparison]
    skipped: dict[str, str]
    tradeoff: Tradeoff | None = None
    timing: dict[str, float] = field(default_factory=dict)
    qrels_problems: QrelsProblems | None = None
    """Judged ids the collection lacks (``None``: not checked, no collection was given)."""
    shifts: list[ShiftReport] = field(default_factory=list)
    """How much each reranked run moved each first stage's lists, per query, judged or not:
    against its own first stage first, then against the batch's other first stages."""
    unjudged_queries: list[str] = field(default_factory=list)
    """Queries of the batch without any judgment: in :attr:`shifts` only, not in the metrics."""

    def shift_of(self, reranked: str) -> list[ShiftReport]:
        """The shift reports of one reranked spec, against its own first stage first."""
        return [s for s in self.shifts if s.reranked == reranked]

    def to_dict(self) -> dict[str, Any]:
        """Everything, as JSON-ready values; the shifts as ``shift``: per reranked spec, the
        comparison with its own first stage and ``other_first_stages`` by spec."""
        out = _jsonable(asdict(replace(self, shifts=[])))
        out.pop("shifts")
        problems = self.qrels_problems
        out["qrels_problems"] = _jsonable(problems.to_dict()) if problems is not None else None
        section: dict[str, dict[str, Any]] = {}
        for s in sorted(self.shifts, key=lambda s: not s.own):
            if s.own:
                section[s.reranked] = {**s.to_dict(), "other_first_stages": {}}
            else:
                own = section.setdefault(s.reranked, {"other_first_stages": {}})
                own["other_first_stages"][s.first] = s.to_dict()
        out["shift"] = _jsonable(section)
        return out

    def write_json(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n", "utf-8")
        tmp.replace(path)
        return path

    def summary_frame(self) -> pd.DataFrame:
        """One row per run: the mean of each measure and the time per query."""
        import pandas as pd

        rows = [
            {"pipeline": r.spec, **r.mean, "ms/query": r.ms_per_query, "run": r.name}
            for r in self.runs.values()
        ]
        return pd.DataFrame(rows)

    def format(self, query_texts: Mapping[str, str] | None = None) -> str:
        """The comparison as plain text for a terminal; ``query_texts`` (by query id) label
        the queries the reranker changed most."""
        lines: list[str] = []
        s = self.settings
        unjudged = (
            f" (and {len(self.unjudged_queries)} without judgments, in the shift tables only)"
            if self.unjudged_queries
            else ""
        )
        lines.append(
            f"{self.collection.get('name', '')}: {len(self.query_ids)} queries "
            f"({self.qrels_source}){unjudged}, {len(self.no_relevant)} without a relevant "
            f"document; relevant = grade >= {self.relevance_threshold}; K = {s.get('k')}, "
            f"N = {s.get('n')}"
        )
        lines.append("")
        width = max([8, *(len(r.spec) for r in self.runs.values())])
        head = f"{'pipeline':<{width}}  " + "  ".join(f"{m:>10}" for m in self.measures)
        lines.append(head + f"  {'ms/query':>9}  run")
        for r in self.runs.values():
            cells = "  ".join(f"{r.mean.get(m, float('nan')):>10.4f}" for m in self.measures)
            lines.append(f"{r.spec:<{width}}  {cells}  {r.ms_per_query:>9.1f}  {r.name}")
        for spec, reason in self.skipped.items():
            lines.append(f"{spec:<{width}}  skipped: {reason}")
        lines.append(f"{GAIN_NOTE}.")
        for c in self.comparisons:
            lines.append("")
            lines.append(f"Does the reranker help? {c.first} vs {c.reranked}")
            lines.append(
                f"  {'measure':<10} {'first':>7} {'reranked':>8} {'Δ':>8}  {'95% CI (t)':>19}"
                f"  {'p (t)':>7}  {'p (rand)':>8}"
            )
            for m, t in c.tests.items():
                ci = f"[{_f(t.ci_low, '+.4f')}, {_f(t.ci_high, '+.4f')}]"
                lines.append(
                    f"  {m:<10} {t.first:>7.4f} {t.reranked:>8.4f} {t.delta:>+8.4f}  {ci:>19}"
                    f"  {_f(t.t_p_value, '.4f'):>7}  {_f(t.randomisation_p_value, '.4f'):>8}"
                )
            tol = self.thresholds.tolerance
            lines.append(
                f"  per query (nDCG@10): helped {c.counts['helped']}, hurt {c.counts['hurt']}, "
                f"no change {c.counts['no change']} (|Δ| < {tol:g})"
            )
            demoted = [v for v in c.verdicts if v.demoted]
            promoted = [v for v in c.verdicts if v.promoted]
            gap = [v for v in c.verdicts if v.recall_gap]
            n = s.get("n")
            lines.append(
                f"  relevant documents demoted out of the top {n}: "
                f"{sum(len(v.demoted) for v in demoted)} in {len(demoted)} queries; "
                f"promoted into it: {sum(len(v.promoted) for v in promoted)} in "
                f"{len(promoted)} queries"
            )
            lines.append(
                f"  first stage's recall gap (not the reranker's fault): "
                f"{sum(len(v.recall_gap) for v in gap)} relevant documents in {len(gap)} queries "
                f"were not in the first stage's top {s.get('k')}"
            )
            for d in c.diagnostics:
                lines.append(f"  {'!' if d.triggered else '-'} {d.message}")
            if c.calibration is not None and c.calibration.best_threshold is not None:
                b = c.calibration.best_threshold
                lines.append(
                    f"  calibration: best threshold p >= {b['probability']:.3f} "
                    f"(logit {b['logit']:+.2f}): F1 {b['f1']:.3f}, precision "
                    f"{b['precision']:.3f}, recall {b['recall']:.3f} over {b['n']} judged pairs"
                )
            lines.append(f"  => {c.summary}")
        lines.extend(format_shifts(self.shifts, query_texts))
        if self.tradeoff is not None:
            t = self.tradeoff
            lines.append("")
            lines.append(
                f"Latency/quality trade-off: {t.first_stage} > {t.reranker} "
                f"(first stage alone nDCG@10 {t.first_stage_ndcg10:.4f}; cold rerank time over "
                f"{t.latency_queries} queries)"
            )
            lines.append(f"  {'K':>5}  {'nDCG@10':>8}  {'ms median':>9}  {'ms mean':>8}")
            for p in t.points:
                lines.append(
                    f"  {p.k:>5}  {p.ndcg10:>8.4f}  {_f(p.rerank_ms_median, '.1f'):>9}  "
                    f"{_f(p.rerank_ms_mean, '.1f'):>8}"
                )
        return "\n".join(lines)


def _f(value: float | None, spec: str) -> str:
    return "n/a" if value is None or not math.isfinite(value) else format(value, spec)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    if isinstance(obj, Path):
        return str(obj)
    return obj


def _ms(values: Iterable[float]) -> float:
    v = list(values)
    return sum(v) / len(v) if v else 0.0


def build_report(
    result: BatchResult,
    qrels: Qrels,
    *,
    collection: Collection | None = None,
    qrels_source: str = "",
    measures: Sequence[str] = DEFAULT_MEASURES,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
    n_resamples: int = 10_000,
    seed: int = 0,
    tradeoff: Tradeoff | None = None,
    qrels_problems: QrelsProblems | None = None,
    rbo_p: float = DEFAULT_P,
) -> EvalReport:
    """Evaluate every run and compare each reranked run with its first stage.

    Args:
        result: the batch.
        qrels: judgments. The evaluated queries are the batch's queries that have qrels.
        collection: for the report's header (name, path).
        qrels_source: where the qrels came from, for the record (e.g. ``split test``).
        measures: display names of :data:`rankshift.evaluation.metrics.MEASURES` (or ir_measures names);
            nDCG@10 is always included, as verdicts and diagnostics use it.
        thresholds: tolerance and diagnostic thresholds.
        n_resamples: for the randomisation test and the bootstrap.
        seed: for the randomisation test and the bootstrap.
        tradeoff: a :func:`tradeoff` result to include.
        qrels_problems: what :func:`~rankshift.evaluation.metrics.check_qrels` found; checked
            here when ``collection`` is given and this is not.
        rbo_p: the persistence of rank-biased overlap in the shift section (0 < p < 1).
    """
    import numpy as np

    measures = list(dict.fromkeys(["nDCG@10", *measures]))
    n = int(result.settings.get("n", 10))
    evals: dict[str, Evaluation] = {
        spec: evaluate(qrels, run.ranked_run, measures, result.query_ids)
        for spec, run in result.runs.items()
    }
    query_ids = list(next(iter(evals.values())).query_ids) if evals else []
    no_relevant = list(next(iter(evals.values())).no_relevant) if evals else []
    summaries: dict[str, RunSummary] = {}
    for spec, run in result.runs.items():
        ev = evals[spec]
        rr_ms = cached = None
        fallbacks: dict[str, str] = {}
        if run.reranked:
            infos = [run.rerank[q] for q in result.query_ids]
            rr_ms = _ms(i["ms"] for i in infos)
            pairs = sum(i["scored_pairs"] + i["cached_pairs"] for i in infos)
            cached = sum(i["cached_pairs"] for i in infos) / pairs if pairs else 0.0
            fallbacks = {
                q: run.rerank[q].get("message") or run.rerank[q]["status"]
                for q in result.query_ids
                if not run.reranked_ok(q)
            }
        summaries[spec] = RunSummary(
            spec=spec,
            name=run.name,
            mean=ev.mean,
            per_query={
                q: {m: float(v) for m, v in row.items()}
                for q, row in ev.per_query.to_dict(orient="index").items()
            },
            ms_per_query=_ms(run.ms[q] for q in result.query_ids),
            path=str(run.path) if run.path else None,
            reranked=run.reranked,
            rerank_ms_per_query=rr_ms,
            cached_fraction=cached,
            fallback_queries=len(fallbacks),
            fallbacks=fallbacks,
        )
    comparisons: list[Comparison] = []
    for spec, run in result.runs.items():
        if not run.reranked or run.first_stage not in result.runs:
            continue
        first = result.runs[run.first_stage]
        fe, re_ = evals[run.first_stage], evals[spec]
        tests = {
            m: paired_test(
                fe.per_query[m].to_numpy(), re_.per_query[m].to_numpy(), m, n_resamples, seed
            )
            for m in measures
        }
        verdicts = []
        taus, stds = [], []
        for q in query_ids:
            v = query_verdict(
                q,
                qrels.get(q, {}),
                first.rankings[q],
                run.rankings[q],
                float(fe.per_query.at[q, "nDCG@10"]),
                float(re_.per_query.at[q, "nDCG@10"]),
                n=n,
                tolerance=thresholds.tolerance,
            )
            tau = std = None
            ok = run.reranked_ok(q)
            if ok:
                f_rank = {r.doc_id: r.rank for r in first.rankings[q]}
                shared = [r for r in run.rankings[q] if r.doc_id in f_rank]
                tau = kendall_tau([f_rank[r.doc_id] for r in shared], [r.rank for r in shared])
                scores = [r.score for r in run.rankings[q]]
                std = float(np.std(scores)) if len(scores) >= 2 else None
                if tau is not None:
                    taus.append(tau)
                if std is not None:
                    stds.append(std)
            verdicts.append(replace(v, kendall_tau=tau, score_std=std, reranked_ok=ok))
        counts = {k: sum(v.verdict == k for v in verdicts) for k in ("helped", "hurt", "no change")}
        fallbacks = [q for q in query_ids if not run.reranked_ok(q)]
        fb_msg = run.rerank.get(fallbacks[0], {}).get("message", "") if fallbacks else ""
        diags = diagnostics(tests["nDCG@10"], taus, stds, len(fallbacks), fb_msg, thresholds)
        earning = not any(
            d.triggered for d in diags if d.code in ("small_gain", "order_unchanged", "flat_scores")
        )
        rr_ms = summaries[spec].rerank_ms_per_query or 0.0
        t = tests["nDCG@10"]
        cost = f"{rr_ms:.0f} ms of reranking per query"
        if summaries[spec].cached_fraction:
            cost += f" ({summaries[spec].cached_fraction:.0%} of pair scores from the cache)"
        if earning:
            summary = (
                f"The reranker earns its latency: nDCG@10 {t.delta:+.4f} "
                f"(95% CI {_f(t.ci_low, '+.4f')} to {_f(t.ci_high, '+.4f')}, "
                f"p = {_f(t.randomisation_p_value, '.4f')}) for {cost}."
            )
        else:
            why = [
                {
                    "small_gain": "it lowers nDCG@10" if t.delta < 0 else "the gain is too small",
                    "order_unchanged": "it barely changes the order",
                    "flat_scores": "its scores are flat",
                }[d.code]
                for d in diags
                if d.triggered and d.code in ("small_gain", "order_unchanged", "flat_scores")
            ]
            summary = (
                f"The reranker is not earning its latency ({'; '.join(why)}): "
                f"nDCG@10 {t.delta:+.4f} for {cost}."
            )
        ok_rankings = {q: run.rankings[q] for q in query_ids if run.reranked_ok(q)}
        if run.params.get("reranker", {}).get("blend"):
            ok_rankings = {}  # blended scores are not the model's logits: nothing to calibrate
        comparisons.append(
            Comparison(
                first=run.first_stage or "",
                reranked=spec,
                first_name=first.name,
                reranked_name=run.name,
                tests=tests,
                verdicts=verdicts,
                counts=counts,
                diagnostics=diags,
                earning=earning,
                summary=summary,
                calibration=calibration(ok_rankings, qrels) if ok_rankings else None,
                mean_kendall_tau=float(np.mean(taus)) if taus else None,
                median_score_std=float(np.median(stds)) if stds else None,
                rerank_ms_per_query=summaries[spec].rerank_ms_per_query,
            )
        )
    coll: dict[str, Any] = {"fingerprint": result.collection}
    if collection is not None:
        coll.update(
            name=collection.name,
            path=collection.path,
            documents=len(collection),
            empty_documents_left_out=len(collection.empty_documents),
            empty_document_examples=list(collection.empty_documents[:5]),
        )
        if qrels_problems is None:
            qrels_problems = check_qrels(qrels, collection, qrels_source)
    return EvalReport(
        collection=coll,
        qrels_source=qrels_source,
        settings=dict(result.settings),
        measures=measures,
        relevance_threshold=REL_THRESHOLD,
        thresholds=thresholds,
        query_ids=query_ids,
        no_relevant=no_relevant,
        runs=summaries,
        comparisons=comparisons,
        skipped=dict(result.skipped),
        tradeoff=tradeoff,
        timing={"batch_s": result.wall_s},
        qrels_problems=qrels_problems,
        shifts=shift_reports(result, qrels, n, rbo_p),
        unjudged_queries=[q for q in result.query_ids if q not in set(query_ids)],
    )


def shift_reports(
    result: BatchResult, qrels: Qrels, n: int, p: float = DEFAULT_P
) -> list[ShiftReport]:
    """For each reranked run: its shift from its own first stage, then from every other first
    stage of the batch, over every query of the batch (judged or not)."""
    if not 0 < p < 1:
        raise ValueError(f"the RBO persistence p must be between 0 and 1, got {p:g}")
    ids = {
        spec: {q: [r.doc_id for r in ranking] for q, ranking in run.rankings.items()}
        for spec, run in result.runs.items()
    }
    firsts = [spec for spec, run in result.runs.items() if not run.reranked]
    out: list[ShiftReport] = []
    for spec, run in result.runs.items():
        if not run.reranked or run.first_stage not in result.runs:
            continue
        fallback = [q for q in result.query_ids if not run.reranked_ok(q)]
        for first in sorted(firsts, key=lambda f: f != run.first_stage):
            out.append(
                shift_report(
                    spec,
                    first,
                    ids[first],
                    ids[spec],
                    result.query_ids,
                    n,
                    qrels,
                    p,
                    own=first == run.first_stage,
                    fallback=fallback,
                )
            )
    return out
