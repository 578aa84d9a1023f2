"""Batch runs: every query of a set through every configured pipeline.

Each pipeline's results are appended to a JSONL checkpoint (:mod:`~rankshift.evaluation.checkpoint`)
as each query finishes, so an interrupted batch resumes where it stopped; the finished runs are
written as TREC run files named after their settings (:mod:`~rankshift.evaluation.runs`).
First stages come from :func:`rankshift.pipeline.retrieve_first_stages`, the code path the
single-query pipeline uses; cross-encoder pair scores come from the
:class:`~rankshift.rerank.PairScoreCache` where they exist.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rankshift.corpus import Collection
from rankshift.evaluation.checkpoint import Checkpoint, finished
from rankshift.evaluation.metrics import rank_scored
from rankshift.evaluation.runs import run_file_name, write_trec_run
from rankshift.evaluation.specs import (
    ALL_PIPELINES,
    PipelineSpec,
    batch_settings,
    parse_pipelines,
)
from rankshift.pipeline import Pipeline, PipelineSettings, make_hybrid, retrieve_first_stages
from rankshift.rerank import Reranker, rerank
from rankshift.rerank.spec import display_name
from rankshift.retrievers.base import ProgressFn, Retriever
from rankshift.retrievers.hybrid import HybridRetriever
from rankshift.types import Document, Query, RerankStatus, Run, ScoredDoc, StageResult


@dataclass(frozen=True)
class BatchRun:
    """One pipeline's results over the query set."""

    spec: str
    """The pipeline as written, e.g. ``bm25>ce``."""
    name: str
    """The run name, recording its settings, e.g. ``bm25(lucene,k1=1.5,b=0.75)>ce(m,len=256,k=100)``."""
    first_stage: str | None
    """For a reranked run: the spec of the first stage it reorders; ``None`` for a first stage."""
    rankings: dict[str, list[ScoredDoc]]
    """Per query, best first. A reranked run's scores are the cross-encoder's raw scores."""
    ms: dict[str, float]
    """Per query: first-stage time, plus rerank time for a reranked run."""
    rerank: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per query, for a reranked run: ``status``, ``ms``, ``scored_pairs``, ``cached_pairs``."""
    params: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    """The TREC run file, when the batch had an output folder."""

    @property
    def reranked(self) -> bool:
        return self.first_stage is not None

    @property
    def run(self) -> Run:
        """The run with its real scores (as written to the TREC file)."""
        return {q: {r.doc_id: r.score for r in ranking} for q, ranking in self.rankings.items()}

    @property
    def ranked_run(self) -> Run:
        """The run as ranked (see :func:`rankshift.evaluation.metrics.rank_scored`): what is evaluated."""
        return rank_scored(self.rankings)

    def reranked_ok(self, query_id: str) -> bool:
        """True when the cross-encoder really reordered this query (no fallback)."""
        return self.reranked and self.rerank.get(query_id, {}).get("status") == "ok"


@dataclass(frozen=True)
class BatchResult:
    """Every pipeline's run over one query set."""

    collection: str
    """Collection fingerprint."""
    query_ids: tuple[str, ...]
    runs: dict[str, BatchRun]
    """By spec, in the order given (a reranked pipeline brings its first stage along)."""
    skipped: dict[str, str]
    """Pipelines that could not run (e.g. the reranker is unavailable), with the reason."""
    settings: dict[str, Any]
    computed_queries: int
    """Queries run in this call."""
    resumed_queries: int
    """Queries whose results every pipeline already had in its checkpoint."""
    restarted: tuple[str, ...] = ()
    """Runs whose checkpoint was for other settings and was started over."""
    wall_s: float = 0.0
    out_dir: Path | None = None
    unfinished: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """By reranked spec, the queries whose rerank failed in this call: their list is the first
    stage's order (the report counts them as fallbacks), and they are not checkpointed, so the
    next run with the same output folder reranks them again."""


class BatchRunner:
    """Runs a query set through several pipelines that share one set of indexes and models.

    Build it with :meth:`from_settings`, or from a ready :class:`~rankshift.pipeline.Pipeline`
    whose retrievers cover the specs' first stages (the app passes its cached components).

    Every first stage retrieves its top ``settings.k`` through
    :func:`~rankshift.pipeline.retrieve_first_stages`, the single-query pipeline's own code
    path (hybrid stages fuse BM25 and dense lists retrieved once per query at the fusion depth,
    ``max(100, k)``); a ``>ce`` pipeline reranks exactly those ``k`` candidates with
    ``pipeline.reranker``.
    """

    def __init__(
        self, pipeline: Pipeline, pipelines: str | Sequence[str | PipelineSpec] = ALL_PIPELINES
    ) -> None:
        specs = parse_pipelines(pipelines)
        # A reranked pipeline brings its first stage along: the report compares the two.
        ordered: list[PipelineSpec] = []
        for spec in specs:
            if spec.rerank and spec.first not in ordered:
                ordered.append(spec.first)
            if spec not in ordered:
                ordered.append(spec)
        self.specs = ordered
        self.pipeline = pipeline
        self._variants = RerankerVariants(pipeline.reranker, pipeline.reranker_error)
        self.collection: Collection = pipeline.collection
        self.settings: PipelineSettings = pipeline.settings
        s = self.settings
        self.stages: dict[str, Retriever] = {}
        for spec in self.specs:
            if spec.stage_key in self.stages:
                continue
            if spec.first_stage == "hybrid":
                missing = [k for k in ("bm25", "dense") if k not in pipeline.retrievers]
                if missing:
                    raise ValueError(f"hybrid needs the {' and '.join(missing)} retriever")
                self.stages[spec.stage_key] = make_hybrid(
                    pipeline.retrievers["bm25"], pipeline.retrievers["dense"], spec.settings(s)
                )
            elif spec.first_stage in pipeline.retrievers:
                self.stages[spec.stage_key] = pipeline.retrievers[spec.first_stage]
            else:
                raise ValueError(f"no {spec.first_stage} retriever in the pipeline")
        hybrid_depths = [r.depth for r in self.stages.values() if isinstance(r, HybridRetriever)]
        self.depth = max([s.k, *hybrid_depths])
        """How deep BM25 and dense retrieve (the fusion depth when a hybrid stage runs)."""
        # Specs that name the same run (``>ce`` and ``>ce(blend=0)``) run once, as the first.
        names: dict[str, PipelineSpec] = {}
        self.specs = [sp for sp in self.specs if names.setdefault(self.run_name(sp), sp) is sp]

    @classmethod
    def from_settings(
        cls,
        collection: Collection,
        pipelines: str | Sequence[str | PipelineSpec] = ALL_PIPELINES,
        settings: PipelineSettings | None = None,
        cache_dir: str | Path | None = None,
        progress: ProgressFn | None = None,
        show_progress: bool = False,
    ) -> BatchRunner:
        """Load or build what the pipelines need (indexes, the bi-encoder, the reranker).

        The reranker is loaded only when a ``>ce`` pipeline is asked for; if it cannot be
        loaded, those pipelines are skipped with the reason (see :attr:`BatchResult.skipped`).
        """
        specs = parse_pipelines(pipelines)
        ps = batch_settings(settings or PipelineSettings(), specs)
        pipe = Pipeline.from_settings(collection, ps, cache_dir, progress, show_progress)
        return cls(pipe, specs)

    @property
    def reranker(self) -> Reranker | None:
        return self.pipeline.reranker

    def reranker_for(self, spec: PipelineSpec) -> tuple[Reranker | None, str | None]:
        """The reranker a spec runs with, or None and why (see :class:`RerankerVariants`)."""
        return self._variants.get(spec.passages)

    def run_name(self, spec: PipelineSpec) -> str:
        """The run name of a spec: the retriever's name, plus ``>ce(model,len=,k=)``."""
        first = self.stages[spec.stage_key].name
        if not spec.rerank:
            return first
        s = self.settings
        reranker, _ = self.reranker_for(spec)
        model = reranker.model_id if reranker else (s.reranker or "none")
        blend = self.blend(spec)
        extra = f",blend={blend:g}" if blend else ""
        if reranker is not None and reranker.spec.passages == "maxp":
            extra += ",maxp"
        return f"{first}>ce({display_name(model)},len={s.max_length},k={s.k}{extra})"

    def blend(self, spec: PipelineSpec) -> float:
        """The spec's blend weight, or the settings' when the spec gives none."""
        return spec.blend if spec.blend is not None else self.settings.blend

    def _identity(self, spec: PipelineSpec) -> dict[str, Any]:
        """Everything that decides a run's results: a checkpoint is only reused if it matches."""
        s = self.settings
        ident: dict[str, Any] = {
            "run": self.run_name(spec),
            "collection": self.collection.fingerprint,
            "k": s.k,
            "depth": self.depth,
            "stage": dict(getattr(self.stages[spec.stage_key], "params", {})),
        }
        parts = ["bm25", "dense"] if spec.first_stage == "hybrid" else [spec.first_stage]
        for key in parts:
            r = self.pipeline.retrievers.get(key)
            if r is not None:
                ident[key] = dict(getattr(r, "params", {}))
        reranker, _ = self.reranker_for(spec)
        if spec.rerank and reranker is not None:
            ident["reranker"] = {
                "model_id": reranker.model_id,
                "revision": reranker.revision,
                "max_length": reranker.max_length,
            }
            if self.blend(spec):
                ident["reranker"]["blend"] = self.blend(spec)
        return ident

    def _params(self, spec: PipelineSpec) -> dict[str, Any]:
        ident = self._identity(spec)
        ident.pop("run")
        ident["spec"] = str(spec)
        return ident

    def run(
        self,
        queries: Mapping[str, Query] | Sequence[Query],
        out_dir: str | Path | None = None,
        progress: ProgressFn | None = None,
        show_progress: bool = False,
        resume: bool = True,
        executor: QueryExecutor | None = None,
    ) -> BatchResult:
        """Run every query through every pipeline.

        Args:
            queries: the query set (a collection's queries, or a chosen subset), in order.
            out_dir: where checkpoints (``checkpoints/*.jsonl``) and TREC runs (``runs/*.trec``)
                go. ``None``: in memory only, no resume.
            progress: called as ``progress("Queries", done, total)`` before the first query and
                after each one (resumed queries count as done). An exception raised from it
                stops the batch; everything finished so far is kept.
            show_progress: also draw a tqdm bar on stderr.
            resume: reuse finished queries from the checkpoints in ``out_dir``. A query whose
                rerank failed is never finished: it is run again (see :attr:`BatchResult.unfinished`).
            executor: runs the queries and yields each one's records as it finishes (any
                order); ``None`` runs them here, one after another. A
                :class:`~rankshift.evaluation.distributed.RayExecutor` reranks them on a Ray
                cluster. Checkpoints, runs and progress are the same either way.

        Returns:
            A :class:`BatchResult`. TREC run files are written when every query is done.
        """
        qlist = list(queries.values()) if isinstance(queries, Mapping) else list(queries)
        query_ids = [q.query_id for q in qlist]
        if len(set(query_ids)) != len(query_ids):
            raise ValueError("the query set has duplicate query ids")
        out = Path(out_dir) if out_dir is not None else None
        skipped: dict[str, str] = {}
        active: list[PipelineSpec] = []
        for spec in self.specs:
            reason = self.reranker_for(spec)[1] if spec.rerank else None
            if reason is not None:
                skipped[str(spec)] = reason
            else:
                active.append(spec)
        checkpoints = {
            str(spec): Checkpoint(
                out / "checkpoints" / (run_file_name(self.run_name(spec))[:-5] + ".jsonl")
                if out
                else None,
                self._identity(spec),
                resume,
            )
            for spec in active
        }
        todo = [q for q in qlist if any(q.query_id not in c.records for c in checkpoints.values())]
        total, done = len(qlist), len(qlist) - len(todo)
        resumed = done
        bar = None
        if show_progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=total, initial=done, desc="Queries", unit="query", leave=False)
        if progress:
            progress("Queries", done, total)
        start = time.perf_counter()
        jobs = [
            (q, [s for s in active if q.query_id not in checkpoints[str(s)].records]) for q in todo
        ]
        execute = executor or in_process
        try:
            for _query, records in execute(self, jobs):
                for spec, record in records.items():
                    checkpoints[str(spec)].append(record)
                done += 1
                if bar is not None:
                    bar.update(1)
                if progress:
                    progress("Queries", done, total)
        finally:
            if bar is not None:
                bar.close()
        wall = time.perf_counter() - start
        runs: dict[str, BatchRun] = {}
        records_of = {key: c.records for key, c in checkpoints.items()}
        for spec in active:
            records = records_of[str(spec)]
            name = self.run_name(spec)
            rankings = {
                q: [ScoredDoc(d, i, float(s)) for i, (d, s) in enumerate(records[q]["ranking"], 1)]
                for q in query_ids
            }
            path = None
            if out is not None:
                path = write_trec_run(rankings, out / "runs" / run_file_name(name), tag=name)
            runs[str(spec)] = BatchRun(
                spec=str(spec),
                name=name,
                first_stage=spec.stage_key if spec.rerank else None,
                rankings=rankings,
                ms={q: float(records[q]["ms"]) for q in query_ids},
                rerank={q: records[q]["rerank"] for q in query_ids} if spec.rerank else {},
                params=self._params(spec),
                path=path,
            )
        unfinished = {
            str(spec): tuple(q for q in query_ids if not finished(records_of[str(spec)][q]))
            for spec in active
            if spec.rerank
        }
        return BatchResult(
            collection=self.collection.fingerprint,
            query_ids=tuple(query_ids),
            runs=runs,
            skipped=skipped,
            settings={**self.settings.to_dict(), "depth": self.depth},
            computed_queries=len(todo),
            resumed_queries=resumed,
            restarted=tuple(k for k, c in checkpoints.items() if c.restarted),
            wall_s=wall,
            out_dir=out,
            unfinished={k: v for k, v in unfinished.items() if v},
        )

    def first_stages(self, query: Query, specs: Sequence[PipelineSpec]) -> dict[str, StageResult]:
        """The first stages ``specs`` need for one query, by stage key."""
        stages = {sp.stage_key: self.stages[sp.stage_key] for sp in specs}
        return retrieve_first_stages(query.text, stages, self.settings.k)

    def rerank_options(self, spec: PipelineSpec) -> dict[str, Any]:
        """The keyword arguments of :func:`rerank_record` for ``spec`` (all plain values)."""
        s = self.settings
        return {
            "k": s.k,
            "blend": self.blend(spec),
            "timeout_s": s.rerank_timeout_s,
            "model_id": s.reranker or "none",
        }

    def _run_query(
        self, query: Query, specs: Sequence[PipelineSpec]
    ) -> dict[PipelineSpec, dict[str, Any]]:
        """One query through ``specs``: a checkpoint record per spec.

        Raises:
            rankshift.rerank.UnknownDocumentError: a candidate is not in the collection (the
                indexes and the collection disagree); not a reranker failure, so not hidden.
        """
        firsts = self.first_stages(query, specs)
        records: dict[PipelineSpec, dict[str, Any]] = {}
        for spec in specs:
            stage = firsts[spec.stage_key]
            if not spec.rerank:
                records[spec] = first_stage_record(query, stage)
                continue
            reranker, error = self.reranker_for(spec)
            records[spec] = rerank_record(
                reranker,
                query,
                stage,
                self.collection.documents,
                unavailable_message=error,
                **self.rerank_options(spec),
            )
        return records


QueryJobs = Sequence[tuple[Query, Sequence[PipelineSpec]]]
"""Queries to run, each with the specs whose records it still lacks."""

QueryExecutor = Callable[
    [BatchRunner, QueryJobs], Iterator[tuple[Query, dict[PipelineSpec, dict[str, Any]]]]
]
"""Runs ``jobs`` for a runner, yielding each query's records (by spec) as it finishes."""


def in_process(
    runner: BatchRunner, jobs: QueryJobs
) -> Iterator[tuple[Query, dict[PipelineSpec, dict[str, Any]]]]:
    """The default executor: each query here, one after another, in order."""
    for query, specs in jobs:
        yield query, runner._run_query(query, specs)


class RerankerVariants:
    """A loaded reranker and the variants pipeline specs ask of it, each made once.

    ``>ce(maxp)`` wraps the reranker to score documents by their best window (a
    :class:`~rankshift.rerank.passages.PassageReranker`); ``>ce(firstp)`` unwraps one loaded
    with ``passages=maxp``; otherwise the reranker as it is.
    """

    def __init__(self, base: Reranker | None, error: str | None = None) -> None:
        self.base = base
        self.error = error
        self._maxp: Any = None

    def get(self, passages: str | None) -> tuple[Reranker | None, str | None]:
        """The reranker for a spec's ``passages`` setting, or None and why."""
        from rankshift.rerank.passages import PassageReranker

        base = self.base
        if base is None:
            return None, self.error or "the reranker is not loaded"
        if passages is None:
            return base, None
        if passages == "firstp":
            return (base.inner if isinstance(base, PassageReranker) else base), None
        if isinstance(base, PassageReranker):
            return base, None
        if self._maxp is None:
            try:
                self._maxp = PassageReranker(base)
            except ValueError as e:
                return None, str(e)
        return self._maxp, None


def first_stage_record(query: Query, stage: StageResult) -> dict[str, Any]:
    """The checkpoint record of a first-stage run for one query."""
    return {
        "query_id": query.query_id,
        "ranking": [[r.doc_id, r.score] for r in stage.ranking],
        "ms": stage.ms,
        "rerank": None,
    }


def rerank_record(
    reranker: Reranker | None,
    query: Query,
    stage: StageResult,
    documents: Mapping[str, Document],
    *,
    k: int,
    blend: float,
    timeout_s: float | None,
    model_id: str,
    unavailable_message: str | None = None,
    missing_status: RerankStatus = "unavailable",
) -> dict[str, Any]:
    """The checkpoint record of a reranked run for one query: ``stage``'s top ``k`` reranked.

    Where the reranker is missing or fails, the record keeps the first stage's order and says
    why (see :func:`rankshift.rerank.rerank`); such a record is not :func:`finished`.
    """
    reranked, info = rerank(
        reranker,
        query.text,
        stage,
        documents,
        k,
        unavailable_message=unavailable_message,
        missing_status=missing_status,
        model_id=model_id,
        timeout_s=timeout_s,
        blend=blend,
    )
    return {
        "query_id": query.query_id,
        "ranking": [[r.doc_id, r.score] for r in reranked.ranking],
        "ms": stage.ms + info.ms,
        "rerank": {
            "status": info.status,
            "message": info.message,
            "ms": info.ms,
            "scored_pairs": info.scored_pairs,
            "cached_pairs": info.cached_pairs,
        },
    }
