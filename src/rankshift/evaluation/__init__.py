"""Batch runs over a query set, and the report that says whether the reranker helps.

One concept per module, each usable on its own:

* :mod:`~rankshift.evaluation.specs`: pipelines as written (``bm25``, ``hybrid(rrf)>ce``...),
  the registry of choices the CLI and the app read (:data:`PIPELINE_CHOICES`).
* :mod:`~rankshift.evaluation.runner` (:class:`BatchRunner`): every query of a set through every
  pipeline, checkpointed per query (:mod:`~rankshift.evaluation.checkpoint`), written as TREC
  run files (:mod:`~rankshift.evaluation.runs`). A query whose rerank failed is not
  checkpointed: resuming runs it again.
* :mod:`~rankshift.evaluation.distributed` (:class:`RayExecutor`): the same batch with each
  query's reranking in Ray actors (``rankshift eval --ray``); imports Ray only when used.
* :mod:`~rankshift.evaluation.stats` (:func:`paired_test`), :mod:`~rankshift.evaluation.verdicts`
  (:func:`query_verdict`, :func:`diagnostics`), :mod:`~rankshift.evaluation.calibration`.
* :mod:`~rankshift.evaluation.report` (:func:`build_report` -> :class:`EvalReport`): metrics per
  run and, for each reranked run, the side-by-side comparison with its first stage.
* :mod:`~rankshift.evaluation.shift`: how much the reranker moved each query's list, with no
  judgment needed (RBO, Jaccard, tau, tau_AP, unjudged documents moved into the top-N).
* :mod:`~rankshift.evaluation.tradeoff`: nDCG@10 and rerank latency as K varies.
* :mod:`~rankshift.evaluation.batch`: what the app's Evaluate page calls
  (:func:`select_queries`, :func:`stored_qrels`, :func:`evaluate_batch`).

Measures, the relevance threshold and the treatment of queries without relevant documents
are those of :mod:`rankshift.evaluation.metrics`.
"""

from __future__ import annotations

from rankshift.evaluation.batch import evaluate_batch, select_queries, stored_qrels
from rankshift.evaluation.calibration import Calibration, best_f1_threshold, calibration
from rankshift.evaluation.checkpoint import Checkpoint
from rankshift.evaluation.metrics import (
    DEFAULT_MEASURES,
    GAIN_MEASURES,
    GAIN_NOTE,
    MEASURE_HELP,
    MEASURES,
    REL_THRESHOLD,
    Evaluation,
    QrelsError,
    QrelsProblems,
    check_qrels,
    evaluate,
    no_query_text,
    rank_scored,
)
from rankshift.evaluation.report import (
    Comparison,
    EvalReport,
    RunSummary,
    build_report,
    shift_reports,
)
from rankshift.evaluation.runner import BatchResult, BatchRun, BatchRunner
from rankshift.evaluation.runs import read_trec_run, run_file_name, write_trec_run
from rankshift.evaluation.shift import (
    DEFAULT_P,
    Shift,
    ShiftReport,
    jaccard,
    mean_shift,
    most_changed,
    rbo,
    shift,
    shift_report,
    tau_ap,
)
from rankshift.evaluation.specs import (
    ALL_PIPELINES,
    PIPELINE_CHOICES,
    PipelineSpec,
    batch_settings,
    parse_pipeline,
    parse_pipelines,
    runnable_specs,
    stage_parts,
)
from rankshift.evaluation.stats import PairedTest, paired_test
from rankshift.evaluation.tradeoff import Tradeoff, TradeoffPoint, tradeoff
from rankshift.evaluation.verdicts import (
    Diagnostic,
    DocMove,
    QueryVerdict,
    Verdict,
    diagnostics,
    query_verdict,
)
from rankshift.thresholds import DEFAULT_THRESHOLDS, Thresholds

__all__ = [
    "ALL_PIPELINES",
    "DEFAULT_MEASURES",
    "DEFAULT_P",
    "DEFAULT_THRESHOLDS",
    "GAIN_MEASURES",
    "GAIN_NOTE",
    "MEASURES",
    "MEASURE_HELP",
    "PIPELINE_CHOICES",
    "REL_THRESHOLD",
    "BatchResult",
    "BatchRun",
    "BatchRunner",
    "Calibration",
    "Checkpoint",
    "Comparison",
    "Diagnostic",
    "DocMove",
    "EvalReport",
    "Evaluation",
    "PairedTest",
    "PipelineSpec",
    "QrelsError",
    "QrelsProblems",
    "QueryVerdict",
    "RunSummary",
    "Shift",
    "ShiftReport",
    "Thresholds",
    "Tradeoff",
    "TradeoffPoint",
    "Verdict",
    "batch_settings",
    "best_f1_threshold",
    "build_report",
    "calibration",
    "check_qrels",
    "diagnostics",
    "evaluate",
    "evaluate_batch",
    "jaccard",
    "mean_shift",
    "most_changed",
    "no_query_text",
    "paired_test",
    "parse_pipeline",
    "parse_pipelines",
    "query_verdict",
    "rank_scored",
    "rbo",
    "read_trec_run",
    "run_file_name",
    "runnable_specs",
    "select_queries",
    "shift",
    "shift_report",
    "shift_reports",
    "stage_parts",
    "stored_qrels",
    "tau_ap",
    "tradeoff",
    "write_trec_run",
]
