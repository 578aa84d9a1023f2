"""The Evaluate page's frames and captions, from an :class:`~rankshift.evaluation.EvalReport`:
metrics per pipeline, the paired test, per-query verdicts, calibration and the K trade-off; the
notes around them (judged ids the collection lacks, what a run resumed or skipped); and how the
page draws each table's columns (:data:`ColumnSpec`)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from rankshift.corpus import Collection
from rankshift.evaluation.specs import parse_pipeline
from rankshift.present.text import escape_markdown, stage_label

if TYPE_CHECKING:
    from rankshift.evaluation import Calibration, Comparison, DocMove, EvalReport, Tradeoff
    from rankshift.evaluation.metrics import QrelsProblems


VERDICT_COLORS: dict[str, str] = {"helped": "#2f9e44", "hurt": "#e03131", "no change": "#adb5bd"}
"""One colour per query verdict (:data:`rankshift.evaluation.Verdict`), shared by chart and table."""

ColumnSpec = tuple[str, str, dict[str, Any]] | None
"""A table column as the page draws it: ``(kind, label, options)``, ``kind`` one of ``text``,
``number``, ``checkbox`` (Streamlit's column types, options their keyword arguments), or
``None`` to hide the column."""


def is_reranked(spec: str) -> bool:
    """True for a pipeline spec with ``>ce`` (with or without arguments)."""
    return ">ce" in spec


def pipeline_label(spec: str) -> str:
    """A pipeline spec for people: ``bm25>ce`` -> ``BM25 + cross-encoder``,
    ``hybrid(minmax,w=0.3)`` -> ``Hybrid (minmax,w=0.3)``, ``dense>ce(maxp,blend=0.4)`` ->
    ``Dense + cross-encoder (maxp, blend 0.4)``."""
    try:
        parsed = parse_pipeline(spec)
    except ValueError:
        return spec
    key, _, args = parsed.stage_key.partition("(")
    label = stage_label(key) + (f" ({args}" if args else "")
    if not parsed.rerank:
        return label
    how = [parsed.passages] if parsed.passages else []
    if parsed.blend is not None:
        how.append(f"blend {parsed.blend:g}")
    return label + " + cross-encoder" + (f" ({', '.join(how)})" if how else "")


def eval_metrics_frame(report: EvalReport) -> pd.DataFrame:
    """One row per evaluated pipeline: the mean of each measure, and the time per query.

    Columns: ``pipeline`` (label), ``spec``, one per measure of the report (nDCG@10 first),
    ``ms/query`` (first stage, plus reranking for a reranked run), ``rerank ms/query``
    (empty for a first stage) and ``run`` (the run name with its parameters).
    """
    rows = [
        {
            "pipeline": pipeline_label(r.spec),
            "spec": r.spec,
            **{m: r.mean.get(m, math.nan) for m in report.measures},
            "ms/query": r.ms_per_query,
            "rerank ms/query": r.rerank_ms_per_query,
            "run": r.name,
        }
        for r in report.runs.values()
    ]
    columns = ["pipeline", "spec", *report.measures, "ms/query", "rerank ms/query", "run"]
    return pd.DataFrame(rows, columns=columns)


def eval_metrics_columns(
    measures: Iterable[str], measure_help: Mapping[str, str]
) -> dict[str, ColumnSpec]:
    """The columns of :func:`eval_metrics_frame` as the page shows them."""
    return {
        "pipeline": ("text", "pipeline", {"width": "medium"}),
        "spec": None,
        **{m: ("number", m, {"format": "%.4f", "help": measure_help.get(m)}) for m in measures},
        "ms/query": ("number", "ms/query", {"format": "%.1f"}),
        "rerank ms/query": ("number", "rerank ms/query", {"format": "%.1f"}),
        "run": ("text", "run (its settings)", {"width": "large"}),
    }


def paired_test_columns(first_label: str, reranked_label: str) -> dict[str, ColumnSpec]:
    """The columns of :func:`paired_test_frame` as the page shows them."""
    return {
        "measure": ("text", "measure", {}),
        "first": ("number", first_label, {"format": "%.4f"}),
        "reranked": ("number", reranked_label, {"format": "%.4f"}),
        "delta": ("number", "Δ", {"format": "%+.4f"}),
        "ci_low": ("number", "95% CI low", {"format": "%+.4f"}),
        "ci_high": ("number", "95% CI high", {"format": "%+.4f"}),
        "p": (
            "number",
            "p (randomisation)",
            {"format": "%.4f", "help": "Two-sided paired randomisation test"},
        ),
        "p_t": ("number", "p (t-test)", {"format": "%.4f", "help": "Two-sided paired t-test"}),
    }


def paired_test_frame(comparison: Comparison) -> pd.DataFrame:
    """First stage vs reranked, one row per measure.

    Columns: ``measure``, ``first``, ``reranked``, ``delta`` (reranked − first), ``ci_low`` and
    ``ci_high`` (95% t interval of the mean difference), ``p`` (two-sided paired randomisation
    test) and ``p_t`` (paired t-test). Undefined values (fewer than two queries) are NaN.
    """

    def num(x: float | None) -> float:
        return math.nan if x is None else float(x)

    rows = [
        {
            "measure": m,
            "first": t.first,
            "reranked": t.reranked,
            "delta": t.delta,
            "ci_low": num(t.ci_low),
            "ci_high": num(t.ci_high),
            "p": num(t.randomisation_p_value),
            "p_t": num(t.t_p_value),
        }
        for m, t in comparison.tests.items()
    ]
    columns = ["measure", "first", "reranked", "delta", "ci_low", "ci_high", "p", "p_t"]
    return pd.DataFrame(rows, columns=columns)


def helped_hurt_frame(comparison: Comparison, collection: Collection) -> pd.DataFrame:
    """ΔnDCG@10 per query, best gain first (ties on ``query_id``), for the helped/hurt chart.

    Columns: ``query_id``, ``query`` (its text), ``verdict``, ``first``, ``reranked``, ``delta``.
    """
    rows = [
        {
            "query_id": v.query_id,
            "query": _query_text(collection, v.query_id),
            "verdict": v.verdict,
            "first": v.first,
            "reranked": v.reranked,
            "delta": v.delta,
        }
        for v in comparison.verdicts
    ]
    frame = pd.DataFrame(
        rows, columns=["query_id", "query", "verdict", "first", "reranked", "delta"]
    )
    frame = frame.assign(_neg=-frame["delta"]).sort_values(["_neg", "query_id"], kind="stable")
    return frame.drop(columns="_neg").reset_index(drop=True)


def _query_text(collection: Collection, query_id: str) -> str:
    q = collection.queries.get(query_id)
    return q.text if q else ""


def _moves(moves: Iterable[DocMove], ranks: bool = True) -> str:
    def rank(r: int | None) -> str:
        return "–" if r is None else f"#{r}"

    return ", ".join(
        f"{m.doc_id} (grade {m.grade}"
        + (f", {rank(m.first_rank)} → {rank(m.reranked_rank)})" if ranks else ")")
        for m in moves
    )


def verdict_frame(comparison: Comparison, collection: Collection) -> pd.DataFrame:
    """What the reranker did to each query, worst first: the per-query verdict table.

    Columns: ``query_id``, ``query``, ``verdict``, ``first`` and ``reranked`` (nDCG@10),
    ``delta``, ``demoted`` (relevant documents the reranker pushed out of the top-N, as
    ``doc (grade g, #first → #reranked)``), ``promoted`` (pulled into the top-N), ``recall_gap``
    (relevant documents the first stage never retrieved in its top-K: the first stage's loss,
    not the reranker's), their counts ``n_demoted``, ``n_promoted``, ``n_recall_gap``, and
    ``kendall_tau`` (empty where the query fell back to the first stage's order).
    """
    rows = [
        {
            "query_id": v.query_id,
            "query": _query_text(collection, v.query_id),
            "verdict": v.verdict,
            "first": v.first,
            "reranked": v.reranked,
            "delta": v.delta,
            "n_demoted": len(v.demoted),
            "demoted": _moves(v.demoted),
            "n_promoted": len(v.promoted),
            "promoted": _moves(v.promoted),
            "n_recall_gap": len(v.recall_gap),
            "recall_gap": _moves(v.recall_gap, ranks=False),
            "kendall_tau": math.nan if v.kendall_tau is None else v.kendall_tau,
        }
        for v in comparison.verdicts
    ]
    columns = [
        "query_id", "query", "verdict", "first", "reranked", "delta", "n_demoted", "demoted",
        "n_promoted", "promoted", "n_recall_gap", "recall_gap", "kendall_tau",
    ]  # fmt: skip
    frame = pd.DataFrame(rows, columns=columns)
    return frame.sort_values(["delta", "query_id"], kind="stable").reset_index(drop=True)


def verdict_columns(first_label: str) -> dict[str, ColumnSpec]:
    """The columns of :func:`verdict_frame` as the page shows them."""
    return {
        "query_id": ("text", "query", {"width": "small"}),
        "query": ("text", "text", {"width": "medium"}),
        "verdict": ("text", "verdict", {"width": "small"}),
        "first": ("number", first_label, {"format": "%.3f"}),
        "reranked": ("number", "reranked", {"format": "%.3f"}),
        "delta": ("number", "Δ", {"format": "%+.3f"}),
        "n_demoted": ("number", "# demoted", {"width": "small"}),
        "demoted": (
            "text",
            "relevant demoted out of the top-N",
            {"width": "large", "help": "doc (grade, first-stage rank → reranked rank)"},
        ),
        "n_promoted": ("number", "# promoted", {"width": "small"}),
        "promoted": ("text", "relevant promoted into the top-N", {"width": "large"}),
        "n_recall_gap": ("number", "# gap", {"width": "small"}),
        "recall_gap": (
            "text",
            "first stage's recall gap",
            {
                "width": "large",
                "help": "Relevant documents not in the first stage's top K (not the "
                "reranker's fault)",
            },
        ),
        "kendall_tau": (
            "number",
            "Kendall's τ",
            {"format": "%.2f", "help": "First-stage order vs reranked order"},
        ),
    }


def verdict_counts(comparison: Comparison) -> dict[str, int]:
    """Counts for the headline: verdicts, and relevant documents demoted, promoted and never
    retrieved (``demoted_docs``, ``demoted_queries``, ``promoted_docs``, ``promoted_queries``,
    ``gap_docs``, ``gap_queries``)."""
    v = comparison.verdicts
    return {
        **comparison.counts,
        "demoted_docs": sum(len(x.demoted) for x in v),
        "demoted_queries": sum(bool(x.demoted) for x in v),
        "promoted_docs": sum(len(x.promoted) for x in v),
        "promoted_queries": sum(bool(x.promoted) for x in v),
        "gap_docs": sum(len(x.recall_gap) for x in v),
        "gap_queries": sum(bool(x.recall_gap) for x in v),
    }


def verdict_metrics(
    comparison: Comparison, settings: Mapping[str, Any]
) -> list[tuple[str, int, str | None]]:
    """The headline tiles as ``(label, value, help)``: helped, hurt, no change, relevant
    documents demoted out of the top-N, and the first stage's recall gap (``settings``: the
    report's, for N and K)."""
    c = verdict_counts(comparison)
    return [
        ("Helped", c["helped"], "Queries whose nDCG@10 went up"),
        ("Hurt", c["hurt"], "Queries whose nDCG@10 went down"),
        ("No change", c["no change"], None),
        (
            f"Relevant demoted out of top-{settings.get('n')}",
            c["demoted_docs"],
            f"in {c['demoted_queries']} queries; promoted into it: {c['promoted_docs']} in "
            f"{c['promoted_queries']} queries",
        ),
        (
            "First stage's recall gap",
            c["gap_docs"],
            f"Relevant documents in {c['gap_queries']} queries that the first stage never "
            f"retrieved in its top {settings.get('k')}: the reranker never saw them, so they "
            "are the first stage's loss, not the reranker's.",
        ),
    ]


def calibration_frames(calibration: Calibration) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The calibration data as two frames.

    Returns:
        ``pairs``: one row per judged candidate (``query_id, doc_id, grade, relevant, score,
        probability``); ``reliability``: one row per non-empty probability bin (``low, high,
        n, mean_probability, fraction_relevant``).
    """
    reliability = pd.DataFrame(
        calibration.reliability,
        columns=["low", "high", "n", "mean_probability", "fraction_relevant"],
    )
    return calibration.frame(), reliability


def threshold_caption(calibration: Calibration) -> str:
    """The best-F1 threshold in one sentence, or why there is none."""
    b = calibration.best_threshold
    if b is None:
        return (
            "No threshold: the judged candidates are all relevant or all not relevant, so "
            "precision and recall cannot be traded off."
        )
    return (
        f"Best F1 threshold: probability ≥ {b['probability']:.3f} (logit {b['logit']:+.2f}) "
        f"calls a candidate relevant with precision {b['precision']:.2f}, recall "
        f"{b['recall']:.2f} and F1 {b['f1']:.2f} over {b['n']:.0f} judged candidates."
    )


def tradeoff_frame(tradeoff: Tradeoff) -> pd.DataFrame:
    """One row per K: ``k``, ``ndcg10``, ``rerank_ms_median``, ``rerank_ms_mean``,
    ``mean_candidates`` (fewer than K when the first stage returned fewer)."""
    rows = [
        {
            "k": p.k,
            "ndcg10": p.ndcg10,
            "rerank_ms_median": math.nan if p.rerank_ms_median is None else p.rerank_ms_median,
            "rerank_ms_mean": math.nan if p.rerank_ms_mean is None else p.rerank_ms_mean,
            "mean_candidates": p.mean_candidates,
        }
        for p in tradeoff.points
    ]
    columns = ["k", "ndcg10", "rerank_ms_median", "rerank_ms_mean", "mean_candidates"]
    return pd.DataFrame(rows, columns=columns)


def qrels_problems_markdown(problems: QrelsProblems, strict: bool) -> str:
    """The warning (or, ``strict``, the error) box for judged ids the collection lacks: a
    headline and one bullet per problem, in the words the CLI and ``report.json`` use."""
    head = (
        "**Judged ids the collection lacks stop the evaluation** (strict mode is on):"
        if strict
        else "**Some judged ids are not in this collection**, so the numbers below count "
        "judgments no run can match. Check the ids' format (zero-padding, another numbering):"
    )
    return head + "\n\n" + "\n".join(f"- {escape_markdown(m)}" for m in problems.messages())


def no_judgments_message(stored: bool) -> str:
    """Why there is nothing to evaluate: no stored judgments yet, or no qrels in the folder."""
    return "No judgments to evaluate with: " + (
        "nobody has judged this collection's queries yet (Judge page)."
        if stored
        else "this collection has no qrels (a BEIR folder's qrels/*.tsv)."
    )


def results_caption(report: EvalReport, computed: int, resumed: int) -> str:
    """The line over the results: query set, relevance, K and N, what ran and what resumed."""
    return (
        f"{len(report.query_ids):,} queries ({escape_markdown(report.qrels_source)}), "
        f"{len(report.no_relevant)} of them without a relevant document (they score 0) · "
        f"relevant = grade ≥ {report.relevance_threshold} · K = {report.settings.get('k')}, "
        f"N = {report.settings.get('n')} · {computed:,} queries run now, {resumed:,} resumed "
        "from checkpoints"
    )


def result_notes(report: EvalReport, unfinished: dict[str, tuple[str, ...]]) -> list[str]:
    """Captions under the results: reranks that fell back (run again to redo them), and the
    pipelines that were not evaluated, with the reason."""
    notes = [
        f":material/replay: **{escape_markdown(pipeline_label(spec))}**: the reranker failed on "
        f"{len(failed):,} queries, which keep the first stage's order here. They are not "
        "checkpointed: **Run evaluation** again reranks them."
        for spec, failed in unfinished.items()
    ]
    for spec, reason in report.skipped.items():
        # A reranked pipeline's reason is the reranker's load error (also shown above, with
        # what to do about it, while the selection still asks for it).
        why = ": reranked pipelines need a loadable reranker. " if is_reranked(spec) else ": "
        notes.append(
            f":material/block: **{escape_markdown(pipeline_label(spec))} was not evaluated**"
            + why
            + escape_markdown(reason)
        )
    return notes
