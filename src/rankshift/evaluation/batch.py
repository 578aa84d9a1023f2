"""Query sets and one-call evaluation: what the app's Evaluate page calls.

:func:`select_queries` (the judged queries with a text, and on request the unjudged ones, which
get shift rows but no metrics), :func:`stored_qrels` (judgments from the store) and
:func:`evaluate_batch` (run what can run, skip the rest with the reason, report).
Judged ids the collection lacks are checked by
:func:`~rankshift.evaluation.metrics.check_qrels`: reported, or with ``strict`` an error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from rankshift.corpus import Collection
from rankshift.evaluation.metrics import DEFAULT_MEASURES, check_qrels
from rankshift.evaluation.report import EvalReport, build_report
from rankshift.evaluation.runner import BatchResult, BatchRunner
from rankshift.evaluation.shift import DEFAULT_P
from rankshift.evaluation.specs import PipelineSpec, runnable_specs
from rankshift.pipeline import Pipeline
from rankshift.retrievers.base import ProgressFn
from rankshift.types import Qrels, Query


def select_queries(
    collection: Collection,
    qrels: Qrels,
    query_ids: Sequence[str] | None = None,
    limit: int | None = None,
    unjudged: bool = False,
) -> tuple[dict[str, Query], list[str]]:
    """The query set of a batch: judged queries that have a text, in qrels order.

    Args:
        collection: supplies the query texts.
        qrels: the judgments; only their queries are eligible, unless ``unjudged``.
        query_ids: only these (in this order); ids without judgments are ignored, unless
            ``unjudged``.
        limit: then keep only the first ``limit`` (``None`` or 0: all).
        unjudged: also the collection's queries without judgments, after the judged ones
            (they get the judgment-free shift rows of the report, not metrics).

    Returns:
        The queries by id, and the judged ids that were left out because they have no text.
    """
    eligible = list(qrels)
    if unjudged:
        eligible += [q for q in collection.queries if q not in qrels]
    allowed = set(eligible)
    wanted = eligible if not query_ids else [q for q in query_ids if q in allowed]
    missing = [q for q in wanted if q not in collection.queries]
    queries = {q: collection.queries[q] for q in wanted if q in collection.queries}
    if limit:
        queries = dict(list(queries.items())[: max(0, limit)])
    return queries, missing


def stored_qrels(path: str | Path, collection: Collection | str, aggregate: str = "mean") -> Qrels:
    """Qrels from a judgments database, or ``{}`` when there is no database file yet.

    Never creates the file: looking for judgments must not leave an empty database behind.

    Args:
        path: the database (:func:`rankshift.config.judgments_path`).
        collection: the loaded collection (its labels, stale ones left out; see
            :meth:`rankshift.judgments.JudgmentStore.collection_qrels`), or a collection key.
        aggregate: how several annotators' grades of a pair become one (see
            :meth:`rankshift.judgments.JudgmentStore.qrels`).
    """
    if not Path(path).exists():
        return {}
    from rankshift.judgments import JudgmentStore

    with JudgmentStore(path) as store:
        if isinstance(collection, str):
            return store.qrels(collection, aggregate=aggregate)  # type: ignore[arg-type]
        return store.collection_qrels(collection, aggregate=aggregate)  # type: ignore[arg-type]


def evaluate_batch(
    pipeline: Pipeline,
    pipelines: str | Sequence[str | PipelineSpec],
    queries: Mapping[str, Query] | Sequence[Query],
    qrels: Qrels,
    *,
    out_dir: str | Path | None = None,
    progress: ProgressFn | None = None,
    resume: bool = True,
    qrels_source: str = "",
    n_resamples: int = 10_000,
    seed: int = 0,
    measures: Sequence[str] = DEFAULT_MEASURES,
    strict: bool = False,
    rbo_p: float = DEFAULT_P,
) -> tuple[EvalReport, BatchResult]:
    """Run what the pipeline can run, skip the rest with the reason, and build the report.

    The app's one call (``rankshift eval`` does the same steps with its own messages). A spec
    whose retriever is missing is skipped (see :func:`runnable_specs`), and so is a ``>ce``
    spec when ``pipeline`` has no reranker (see :meth:`BatchRunner.run`); both are listed in
    :attr:`EvalReport.skipped`.

    Judged ids the collection lacks are in :attr:`EvalReport.qrels_problems`; with ``strict``
    they stop the batch before it starts, as a
    :class:`~rankshift.evaluation.metrics.QrelsError` saying the same. Queries without
    judgments are run too and get shift rows (``rbo_p``: RBO's persistence), not metrics.

    Raises:
        ValueError: no pipeline can run, or (``strict``) judged ids the collection lacks.
    """
    problems = check_qrels(qrels, pipeline.collection, qrels_source)
    problems.raise_if(strict)
    ok, skipped = runnable_specs(pipelines, pipeline.retrievers)
    if not ok:
        raise ValueError("none of the pipelines can run: " + "; ".join(skipped.values()))
    runner = BatchRunner(pipeline, ok)
    result = runner.run(queries, out_dir=out_dir, progress=progress, resume=resume)
    result = replace(result, skipped={**skipped, **result.skipped})
    report = build_report(
        result,
        qrels,
        collection=pipeline.collection,
        qrels_source=qrels_source,
        measures=measures,
        n_resamples=n_resamples,
        seed=seed,
        qrels_problems=problems,
        rbo_p=rbo_p,
    )
    return report, result
