"""Batch runs over a query set, and the report that says whether the reranker helps.

Three layers, each usable on its own:

1. **Batch runs** (:class:`BatchRunner`): every query of a set through every configured
   pipeline (``bm25``, ``dense``, ``hybrid(rrf)``, ... and each of them ``>ce``). Each
   pipeline's results are appended to a JSONL checkpoint as each query finishes, so an
   interrupted batch resumes where it stopped; the finished runs are written as TREC run files
   named after their settings. Cross-encoder pair scores come from the
   :class:`~rankshift.rerank.PairScoreCache` where they exist.
2. **Statistics** (pure functions): :func:`paired_test` (paired t-test, paired randomisation
   test, t and bootstrap confidence intervals), :func:`query_verdict` (helped / hurt / no
   change, with the relevant documents demoted and promoted, and the first stage's recall
   gap), :func:`calibration` and :func:`diagnostics`.
3. **The report** (:func:`build_report` -> :class:`EvalReport`): metrics per run, and for each
   first stage that was also reranked, the side-by-side comparison. It prints as a table and
   saves as JSON. :func:`tradeoff` adds nDCG@10 and rerank latency as K varies.

The app's Evaluate page drives the same layers through :func:`batch_settings` (what to load
for a set of specs), :func:`select_queries`, :func:`stored_qrels` (judgments from the store)
and :func:`evaluate_batch` (run what can run, skip the rest with the reason, report).

Measures, the relevance threshold and the treatment of queries without relevant documents
are those of :mod:`rankshift.evaluation.metrics`.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from rankshift.audit import kendall_tau
from rankshift.corpus import Collection
from rankshift.evaluation.metrics import (
    DEFAULT_MEASURES,
    REL_THRESHOLD,
    Evaluation,
    evaluate,
    rank_scored,
)
from rankshift.models import short_name
from rankshift.pipeline import FIRST_STAGES, Pipeline, PipelineSettings, make_hybrid
from rankshift.rerank import (
    CrossEncoderReranker,
    PairScoreCache,
    rerank,
    reranked_order,
    sigmoid,
)
from rankshift.retrievers.base import ProgressFn, Retriever
from rankshift.retrievers.hybrid import FUSIONS, HybridRetriever
from rankshift.thresholds import DEFAULT_THRESHOLDS, Thresholds
from rankshift.types import Qrels, Query, Run, ScoredDoc, StageResult

if TYPE_CHECKING:
    import pandas as pd

# --------------------------------------------------------------------------------------
# Pipeline specs

ALL_PIPELINES = "bm25,dense,hybrid,bm25>ce,dense>ce,hybrid>ce"
"""Every configured pipeline: each first stage, alone and reranked."""

_SPEC = re.compile(
    r"^(?P<stage>[a-z0-9_]+)(?:\((?P<args>[^()]*)\))?(?P<ce>>ce(?:\((?P<ce_args>[^()]*)\))?)?$"
)


@dataclass(frozen=True)
class PipelineSpec:
    """One pipeline of a batch, as written on the command line.

    Grammar: ``stage[(args)][>ce[(blend=b)]]`` where ``stage`` is a key of
    :data:`~rankshift.pipeline.FIRST_STAGES`. Only ``hybrid`` takes arguments: the fusion
    method (a key of :data:`~rankshift.retrievers.hybrid.FUSIONS`), then ``k=`` (RRF's
    constant) or ``w=`` (the dense weight of ``minmax``/``zscore``), e.g. ``hybrid(rrf,k=60)``
    or ``hybrid(minmax,w=0.3)>ce``. ``>ce(blend=0.4)`` mixes the first stage's score back
    into the reranked order with weight 0.4 (see :func:`~rankshift.rerank.blend_scores`).
    What is not given comes from the batch's :class:`~rankshift.pipeline.PipelineSettings`.
    """

    first_stage: str
    fusion: str | None = None
    rrf_k: int | None = None
    weight: float | None = None
    rerank: bool = False
    blend: float | None = None

    @property
    def stage_key(self) -> str:
        """The first stage's spec, e.g. ``hybrid(minmax,w=0.3)``."""
        args = [self.fusion] if self.fusion else []
        if self.rrf_k is not None:
            args.append(f"k={self.rrf_k}")
        if self.weight is not None:
            args.append(f"w={self.weight:g}")
        return f"{self.first_stage}({','.join(args)})" if args else self.first_stage

    def settings(self, base: PipelineSettings) -> PipelineSettings:
        """``base`` with this spec's fusion parameters (those it gives) in place."""
        return base.with_(
            fusion=self.fusion or base.fusion,
            rrf_k=self.rrf_k if self.rrf_k is not None else base.rrf_k,
            fusion_weight=self.weight if self.weight is not None else base.fusion_weight,
        )

    @property
    def first(self) -> PipelineSpec:
        """The same pipeline without the reranker."""
        return PipelineSpec(self.first_stage, self.fusion, self.rrf_k, self.weight, False)

    def __str__(self) -> str:
        if not self.rerank:
            return self.stage_key
        return (
            self.stage_key + ">ce" + (f"(blend={self.blend:g})" if self.blend is not None else "")
        )


def parse_pipeline(text: str) -> PipelineSpec:
    """Parse one pipeline spec (see :class:`PipelineSpec`). Raises ValueError with the reason."""
    m = _SPEC.match(text.replace(" ", ""))
    if not m:
        raise ValueError(
            f"cannot read pipeline {text!r}: expected e.g. bm25, hybrid(rrf), dense>ce"
        )
    stage = m["stage"]
    if stage not in FIRST_STAGES:
        raise ValueError(
            f"unknown first stage {stage!r} in {text!r}; choose from {', '.join(FIRST_STAGES)}"
        )
    fusion, rrf_k, weight = None, None, None
    if m["args"] is not None:
        if stage != "hybrid":
            raise ValueError(f"{stage!r} takes no arguments in a pipeline spec ({text!r})")
        parts = [p for p in m["args"].split(",") if p]
        if not parts or parts[0] not in FUSIONS:
            raise ValueError(f"hybrid needs a fusion method first: one of {', '.join(FUSIONS)}")
        fusion = parts[0]
        for part in parts[1:]:
            key, _, value = part.partition("=")
            try:
                if key == "k" and fusion == "rrf":
                    rrf_k = int(value)
                elif key == "w" and fusion != "rrf":
                    weight = float(value)
                    if not 0.0 <= weight <= 1.0:
                        raise ValueError
                else:
                    raise KeyError(key)
            except KeyError:
                raise ValueError(
                    f"unknown argument {part!r} for hybrid({fusion}): rrf takes k=, "
                    "minmax and zscore take w="
                ) from None
            except ValueError:
                raise ValueError(f"bad value in {part!r} ({text!r})") from None
    blend = None
    if m["ce_args"] is not None:
        key, _, value = m["ce_args"].partition("=")
        if key != "blend":
            raise ValueError(f"unknown argument {m['ce_args']!r} for >ce: it takes blend=")
        try:
            blend = float(value)
            if not 0.0 <= blend <= 1.0:
                raise ValueError
        except ValueError:
            raise ValueError(f"blend must be a number between 0 and 1 in {text!r}") from None
    return PipelineSpec(stage, fusion, rrf_k, weight, bool(m["ce"]), blend)


def parse_pipelines(text: str | Sequence[str | PipelineSpec]) -> list[PipelineSpec]:
    """Parse a comma-separated list (commas inside parentheses belong to the spec).

    ``all`` stands for :data:`ALL_PIPELINES`. Duplicates are dropped, order is kept.
    """
    if isinstance(text, str):
        items, depth, start = [], 0, 0
        for i, ch in enumerate(text):
            depth += (ch == "(") - (ch == ")")
            if ch == "," and depth == 0:
                items.append(text[start:i])
                start = i + 1
        items.append(text[start:])
        expanded: list[str | PipelineSpec] = []
        for item in (s.strip() for s in items):
            if item == "all":
                expanded.extend(ALL_PIPELINES.split(","))
            elif item:
                expanded.append(item)
    else:
        expanded = list(text)
    specs = [s if isinstance(s, PipelineSpec) else parse_pipeline(s) for s in expanded]
    if not specs:
        raise ValueError("no pipelines given")
    return list(dict.fromkeys(specs))


def stage_parts(spec: PipelineSpec) -> list[str]:
    """The retrievers a spec's first stage needs: ``bm25`` and ``dense`` for a hybrid."""
    return ["bm25", "dense"] if spec.first_stage == "hybrid" else [spec.first_stage]


def batch_settings(
    settings: PipelineSettings, pipelines: str | Sequence[str | PipelineSpec]
) -> PipelineSettings:
    """The pipeline settings a batch of ``pipelines`` needs.

    Its first stages are the retrievers the specs need (see :func:`stage_parts`), and the
    reranker is kept only when some spec reranks (``None`` otherwise, so nothing loads it).
    K, N, models and fusion parameters come from ``settings`` unchanged.
    """
    specs = parse_pipelines(pipelines)
    base: list[str] = []
    for spec in specs:
        base.extend(k for k in stage_parts(spec) if k not in base)
    return settings.with_(
        first_stages=tuple(base),
        rerank_input=base[0],
        reranker=settings.reranker if any(s.rerank for s in specs) else None,
    )


def runnable_specs(
    pipelines: str | Sequence[str | PipelineSpec], retrievers: Mapping[str, object]
) -> tuple[list[PipelineSpec], dict[str, str]]:
    """Split specs into those whose retrievers exist and those that cannot run (with why).

    Args:
        pipelines: the specs.
        retrievers: the available retrievers by key (``Pipeline.retrievers``), e.g. without
            ``dense`` when the bi-encoder could not load.
    """
    ok: list[PipelineSpec] = []
    skipped: dict[str, str] = {}
    for spec in parse_pipelines(pipelines):
        missing = [k for k in stage_parts(spec) if k not in retrievers]
        if missing:
            skipped[str(spec)] = f"the {' and '.join(missing)} retriever is not available"
        else:
            ok.append(spec)
    return ok, skipped


# --------------------------------------------------------------------------------------
# TREC run files


def run_file_name(name: str) -> str:
    """A file name for a run name: ``>`` becomes ``+``, other unsafe characters ``_``."""
    return re.sub(r"[^A-Za-z0-9._=,()+@-]", "_", name.replace(">", "+")) + ".trec"


def write_trec_run(
    rankings: Mapping[str, Sequence[ScoredDoc]], path: str | Path, tag: str = "rankshift"
) -> Path:
    """Write ``qid Q0 docid rank score tag`` lines, queries in the given order.

    The file is written to a temporary name and renamed, so a reader never sees half a run.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tag = re.sub(r"\s+", "_", tag) or "rankshift"
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for query_id, ranking in rankings.items():
            for i, row in enumerate(ranking, 1):
                f.write(f"{query_id} Q0 {row.doc_id} {i} {row.score!r} {tag}\n")
    tmp.replace(path)
    return path


def read_trec_run(path: str | Path) -> dict[str, list[ScoredDoc]]:
    """Read a TREC run file into rankings, ordered by the rank column (then by score)."""
    rows: dict[str, list[tuple[int, float, str]]] = {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 6:
                raise ValueError(f"{path}:{number}: expected 6 fields, got {len(parts)}")
            query_id, _, doc_id, rank, score, _tag = parts
            rows.setdefault(query_id, []).append((int(rank), -float(score), doc_id))
    return {
        q: [ScoredDoc(d, i, -s) for i, (_, s, d) in enumerate(sorted(r), 1)]
        for q, r in rows.items()
    }


# --------------------------------------------------------------------------------------
# Batch runs


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


_CHECKPOINT_VERSION = 1


class _Checkpoint:
    """One run's results, one JSON line per finished query, after a header naming the settings.

    A line is appended (and flushed) as soon as a query finishes; a torn last line from a killed
    process is dropped on load. A header that does not match the current settings means the file
    holds another experiment's results: it is started over rather than mixed in.
    """

    def __init__(self, path: Path | None, header: dict[str, Any], resume: bool) -> None:
        self.path = path
        self.header = json.loads(
            json.dumps({"rankshift_checkpoint": _CHECKPOINT_VERSION, **header})
        )
        self.records: dict[str, dict[str, Any]] = {}
        self.restarted = False
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        if resume and path.exists():
            lines = path.read_text(encoding="utf-8").split("\n")
            good: list[str] = []
            try:
                same = json.loads(lines[0]) == self.header
            except json.JSONDecodeError:
                same = False
            if same:
                good.append(lines[0])
                for line in lines[1:]:
                    try:
                        record = json.loads(line)
                    except json.JSONDecodeError:
                        break  # a torn write: this line and anything after it are redone
                    self.records[record["query_id"]] = record
                    good.append(line)
                if len(good) != len([x for x in lines if x]):
                    path.write_text("\n".join(good) + "\n", encoding="utf-8")
                return
            self.restarted = True
        path.write_text(json.dumps(self.header) + "\n", encoding="utf-8")

    def append(self, record: dict[str, Any]) -> None:
        self.records[record["query_id"]] = record
        if self.path is not None:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
                f.flush()


class BatchRunner:
    """Runs a query set through several pipelines that share one set of indexes and models.

    Build it with :meth:`from_settings`, or from a ready :class:`~rankshift.pipeline.Pipeline`
    whose retrievers cover the specs' first stages (the app passes its cached components).

    Every first stage retrieves its top ``settings.k``; a ``>ce`` pipeline reranks exactly
    those ``k`` candidates with ``pipeline.reranker``. Hybrid stages fuse BM25 and dense lists
    retrieved once per query at the fusion depth (``max(100, k)``), as the app does.
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
    def reranker(self) -> CrossEncoderReranker | None:
        return self.pipeline.reranker

    def run_name(self, spec: PipelineSpec) -> str:
        """The run name of a spec: the retriever's name, plus ``>ce(model,len=,k=)``."""
        first = self.stages[spec.stage_key].name
        if not spec.rerank:
            return first
        s = self.settings
        model = self.reranker.model_id if self.reranker else (s.reranker or "none")
        blend = self.blend(spec)
        extra = f",blend={blend:g}" if blend else ""
        return f"{first}>ce({short_name(model)},len={s.max_length},k={s.k}{extra})"

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
        if spec.rerank and self.reranker is not None:
            ident["reranker"] = {
                "model_id": self.reranker.model_id,
                "revision": self.reranker.revision,
                "max_length": self.reranker.max_length,
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
            resume: reuse finished queries from the checkpoints in ``out_dir``.

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
            if spec.rerank and self.reranker is None:
                skipped[str(spec)] = self.pipeline.reranker_error or "the reranker is not loaded"
            else:
                active.append(spec)
        checkpoints = {
            str(spec): _Checkpoint(
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
        try:
            for query in todo:
                missing = [s for s in active if query.query_id not in checkpoints[str(s)].records]
                for spec, record in self._run_query(query, missing).items():
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
        for spec in active:
            records = checkpoints[str(spec)].records
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
        )

    def _first_stages(
        self, text: str, keys: Iterable[str]
    ) -> dict[str, tuple[list[ScoredDoc], float]]:
        """Top-k of each first stage and its time in ms (hybrid: fusion + both parts)."""
        raw: dict[str, tuple[list[ScoredDoc], float]] = {}

        def base(key: str) -> tuple[list[ScoredDoc], float]:
            if key not in raw:
                t = time.perf_counter()
                ranking = self.pipeline.retrievers[key].search(text, self.depth)
                raw[key] = (ranking, (time.perf_counter() - t) * 1000)
            return raw[key]

        out: dict[str, tuple[list[ScoredDoc], float]] = {}
        for key in keys:
            retriever = self.stages[key]
            if isinstance(retriever, HybridRetriever):
                (sparse, s_ms), (dense, d_ms) = base("bm25"), base("dense")
                t = time.perf_counter()
                fused = retriever.fuse(sparse, dense, self.settings.k)
                out[key] = (fused, (time.perf_counter() - t) * 1000 + s_ms + d_ms)
            elif key in ("bm25", "dense"):
                ranking, ms = base(key)
                out[key] = (ranking[: self.settings.k], ms)
            else:
                t = time.perf_counter()
                ranking = retriever.search(text, self.settings.k)
                out[key] = (ranking, (time.perf_counter() - t) * 1000)
        return out

    def _run_query(
        self, query: Query, specs: Sequence[PipelineSpec]
    ) -> dict[PipelineSpec, dict[str, Any]]:
        s = self.settings
        firsts = self._first_stages(query.text, dict.fromkeys(sp.stage_key for sp in specs))
        records: dict[PipelineSpec, dict[str, Any]] = {}
        for spec in specs:
            ranking, ms = firsts[spec.stage_key]
            if not spec.rerank:
                records[spec] = {
                    "query_id": query.query_id,
                    "ranking": [[r.doc_id, r.score] for r in ranking],
                    "ms": ms,
                    "rerank": None,
                }
                continue
            stage = StageResult(self.stages[spec.stage_key].name, "first_stage", ranking, ms)
            reranked, info = rerank(
                self.reranker,
                query.text,
                stage,
                self.collection.documents,
                s.k,
                unavailable_message=self.pipeline.reranker_error,
                model_id=s.reranker or "none",
                timeout_s=s.rerank_timeout_s,
                blend=self.blend(spec),
            )
            records[spec] = {
                "query_id": query.query_id,
                "ranking": [[r.doc_id, r.score] for r in reranked.ranking],
                "ms": ms + info.ms,
                "rerank": {
                    "status": info.status,
                    "message": info.message,
                    "ms": info.ms,
                    "scored_pairs": info.scored_pairs,
                    "cached_pairs": info.cached_pairs,
                },
            }
        return records


# --------------------------------------------------------------------------------------
# Statistics


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


Verdict = Literal["helped", "hurt", "no change"]


@dataclass(frozen=True)
class DocMove:
    """A relevant document and where it sat before and after reranking (``None``: absent)."""

    doc_id: str
    grade: int
    first_rank: int | None
    reranked_rank: int | None


@dataclass(frozen=True)
class QueryVerdict:
    """What the reranker did to one query."""

    query_id: str
    verdict: Verdict
    first: float
    """The first stage's value of the verdict measure (nDCG@10)."""
    reranked: float
    delta: float
    demoted: list[DocMove]
    """Relevant documents the reranker pushed out of the top-N."""
    promoted: list[DocMove]
    """Relevant documents the reranker pulled into the top-N."""
    left_below: list[DocMove]
    """Relevant candidates below the top-N both before and after reranking."""
    recall_gap: list[DocMove]
    """Relevant documents the first stage never retrieved in its top-K: the reranker never saw
    them, so they are the first stage's loss, not the reranker's."""
    kendall_tau: float | None = None
    score_std: float | None = None
    """Standard deviation of the cross-encoder's raw scores over this query's candidates."""
    reranked_ok: bool = True


def query_verdict(
    query_id: str,
    judged: Mapping[str, int],
    first: Sequence[ScoredDoc],
    reranked: Sequence[ScoredDoc],
    first_value: float,
    reranked_value: float,
    n: int = 10,
    tolerance: float = 1e-9,
) -> QueryVerdict:
    """Helped / hurt / no change for one query, and which relevant documents moved.

    Args:
        query_id: the query.
        judged: its qrels, ``doc_id -> grade``; relevant means grade >= ``REL_THRESHOLD``.
        first: the first stage's top-K (the reranker's candidates), best first.
        reranked: the reranked list, best first.
        first_value: the first stage's nDCG@10 for this query.
        reranked_value: the reranked list's nDCG@10.
        n: the top-N cut the user sees.
        tolerance: ``|reranked_value - first_value| < tolerance`` is "no change".
    """
    delta = reranked_value - first_value
    verdict: Verdict = "no change"
    if delta >= tolerance:
        verdict = "helped"
    elif delta <= -tolerance:
        verdict = "hurt"
    f_rank = {r.doc_id: i for i, r in enumerate(first, 1)}
    r_rank = {r.doc_id: i for i, r in enumerate(reranked, 1)}
    relevant = {d: g for d, g in judged.items() if g >= REL_THRESHOLD}
    big = 10**9

    def move(doc_id: str) -> DocMove:
        return DocMove(doc_id, relevant[doc_id], f_rank.get(doc_id), r_rank.get(doc_id))

    def top(rank: int | None) -> bool:
        return rank is not None and rank <= n

    demoted, promoted, below, gap = [], [], [], []
    for doc_id in relevant:
        fr, rr = f_rank.get(doc_id), r_rank.get(doc_id)
        if fr is None and rr is None:
            gap.append(move(doc_id))
        elif top(fr) and not top(rr):
            demoted.append(move(doc_id))
        elif top(rr) and not top(fr):
            promoted.append(move(doc_id))
        elif not top(fr) and not top(rr):
            below.append(move(doc_id))
    return QueryVerdict(
        query_id=query_id,
        verdict=verdict,
        first=first_value,
        reranked=reranked_value,
        delta=delta,
        demoted=sorted(demoted, key=lambda m: (m.first_rank or big, m.doc_id)),
        promoted=sorted(promoted, key=lambda m: (m.reranked_rank or big, m.doc_id)),
        left_below=sorted(below, key=lambda m: (m.reranked_rank or big, m.doc_id)),
        recall_gap=sorted(gap, key=lambda m: (-m.grade, m.doc_id)),
    )


@dataclass(frozen=True)
class Calibration:
    """The cross-encoder's probability (sigmoid of its score) against the judged grade.

    Only judged candidates count: an unjudged document has no grade to compare with.
    """

    pairs: list[dict[str, Any]]
    """One row per judged candidate: ``query_id, doc_id, grade, relevant, score, probability``."""
    by_grade: dict[int, dict[str, float]]
    """Box-plot numbers of the probability per grade: ``n, min, q1, median, q3, max, mean``."""
    reliability: list[dict[str, float]]
    """Equal-width probability bins: ``low, high, n, mean_probability, fraction_relevant``."""
    best_threshold: dict[str, float] | None
    """The probability threshold (predict relevant when ``p >= threshold``) with the highest
    F1 over the judged pairs, with its ``logit``, ``precision``, ``recall``, ``f1`` and ``n``;
    ``None`` when the judged pairs are all relevant or all not."""

    def frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(
            self.pairs,
            columns=["query_id", "doc_id", "grade", "relevant", "score", "probability"],
        )


def best_f1_threshold(
    probabilities: Sequence[float], relevant: Sequence[bool]
) -> dict[str, float] | None:
    """The threshold on ``probabilities`` that maximises F1 for predicting ``relevant``.

    Every distinct probability is tried as ``p >= threshold``; ties in F1 go to the higher
    threshold (fewer documents let through for the same F1).
    """
    import numpy as np

    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(relevant, dtype=bool)
    positives = int(y.sum())
    if p.size == 0 or positives == 0 or positives == p.size:
        return None
    order = np.argsort(-p, kind="stable")
    p_sorted, y_sorted = p[order], y[order]
    tp = np.cumsum(y_sorted)
    predicted = np.arange(1, p.size + 1)
    # Only the last position of each run of equal probabilities is a reachable threshold.
    last = np.r_[p_sorted[1:] != p_sorted[:-1], True]
    tp, predicted, thresholds = tp[last], predicted[last], p_sorted[last]
    precision = tp / predicted
    recall = tp / positives
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(tp > 0, 2 * precision * recall / (precision + recall), 0.0)
    best = int(np.argmax(f1))  # first maximum = highest threshold
    t = float(thresholds[best])
    logit = math.log(t / (1 - t)) if 0 < t < 1 else math.copysign(math.inf, t - 0.5)
    return {
        "probability": t,
        "logit": logit,
        "precision": float(precision[best]),
        "recall": float(recall[best]),
        "f1": float(f1[best]),
        "n": int(p.size),
    }


def calibration(
    rankings: Mapping[str, Sequence[ScoredDoc]],
    qrels: Qrels,
    bins: int = 10,
) -> Calibration:
    """Calibration data of a reranked run whose scores are the cross-encoder's raw scores.

    Args:
        rankings: per query, the reranked candidates with their raw cross-encoder scores
            (leave out queries that fell back to the first stage's order).
        qrels: the judgments; relevant means grade >= ``REL_THRESHOLD``.
        bins: number of equal-width probability bins of the reliability curve.
    """
    import numpy as np

    pairs = []
    for query_id, ranking in rankings.items():
        judged = qrels.get(query_id, {})
        for row in ranking:
            if row.doc_id in judged:
                grade = judged[row.doc_id]
                pairs.append(
                    {
                        "query_id": query_id,
                        "doc_id": row.doc_id,
                        "grade": grade,
                        "relevant": grade >= REL_THRESHOLD,
                        "score": row.score,
                        "probability": sigmoid(row.score),
                    }
                )
    by_grade: dict[int, dict[str, float]] = {}
    for grade in sorted({p["grade"] for p in pairs}):
        v = np.array([p["probability"] for p in pairs if p["grade"] == grade])
        q1, med, q3 = np.quantile(v, [0.25, 0.5, 0.75])
        by_grade[grade] = {
            "n": int(v.size),
            "min": float(v.min()),
            "q1": float(q1),
            "median": float(med),
            "q3": float(q3),
            "max": float(v.max()),
            "mean": float(v.mean()),
        }
    probs = np.array([p["probability"] for p in pairs], dtype=np.float64)
    rel = np.array([p["relevant"] for p in pairs], dtype=bool)
    reliability = []
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(probs, edges[1:-1], right=False), 0, bins - 1)
    for i in range(bins):
        mask = which == i
        if mask.any():
            reliability.append(
                {
                    "low": float(edges[i]),
                    "high": float(edges[i + 1]),
                    "n": int(mask.sum()),
                    "mean_probability": float(probs[mask].mean()),
                    "fraction_relevant": float(rel[mask].mean()),
                }
            )
    return Calibration(pairs, by_grade, reliability, best_f1_threshold(probs, rel))


@dataclass(frozen=True)
class Diagnostic:
    code: Literal["small_gain", "order_unchanged", "flat_scores", "not_significant", "fallback"]
    triggered: bool
    value: float | None
    threshold: float | None
    message: str


def diagnostics(
    ndcg: PairedTest,
    taus: Sequence[float],
    score_stds: Sequence[float],
    fallback_queries: int = 0,
    fallback_message: str = "",
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
) -> list[Diagnostic]:
    """Plain-language checks of whether the reranker earns its latency.

    Args:
        ndcg: the nDCG@10 comparison.
        taus: per-query Kendall's tau between the first stage's and the reranked order.
        score_stds: per-query standard deviation of the raw cross-encoder scores.
        fallback_queries: queries the reranker failed on (their "reranked" list is the first
            stage's order).
        fallback_message: why, for the first of them.
        thresholds: the thresholds.
    """
    import numpy as np

    t = thresholds
    out: list[Diagnostic] = []
    gain = ndcg.delta
    if gain < 0:
        msg = f"The reranker lowers nDCG@10 on average (Δ = {gain:+.4f})."
    elif gain < t.min_gain:
        msg = (
            f"Mean ΔnDCG@10 is {gain:+.4f}, below {t.min_gain:g}: too small a gain to pay "
            "the reranker's latency for."
        )
    else:
        msg = f"Mean ΔnDCG@10 is {gain:+.4f} (at least {t.min_gain:g})."
    out.append(Diagnostic("small_gain", gain < t.min_gain, gain, t.min_gain, msg))
    if taus:
        tau = float(np.mean(taus))
        hit = tau > t.max_tau
        msg = (
            f"Mean Kendall's tau between the first stage's and the reranked order is {tau:.3f}"
            + (
                f" (> {t.max_tau:g}): the reranker barely reorders the candidates."
                if hit
                else f" (<= {t.max_tau:g}): the reranker reorders the candidates."
            )
        )
        out.append(Diagnostic("order_unchanged", hit, tau, t.max_tau, msg))
    if score_stds:
        med = float(np.median(score_stds))
        hit = med < t.min_score_std
        msg = f"Median per-query standard deviation of the cross-encoder's scores is {med:.3g}" + (
            f" (< {t.min_score_std:g}): the scores are flat, the model hardly tells the "
            "candidates apart (is it trained for this kind of query?)."
            if hit
            else f" (>= {t.min_score_std:g}): the scores spread."
        )
        out.append(Diagnostic("flat_scores", hit, med, t.min_score_std, msg))
    p = ndcg.randomisation_p_value
    if p is not None:
        hit = p >= t.alpha
        msg = (
            f"The nDCG@10 difference is {'not ' if hit else ''}significant "
            f"(randomisation test p = {p:.4f}, {'>=' if hit else '<'} {t.alpha:g})."
        )
        out.append(Diagnostic("not_significant", hit, p, t.alpha, msg))
    if fallback_queries:
        out.append(
            Diagnostic(
                "fallback",
                True,
                float(fallback_queries),
                0.0,
                f"{fallback_queries} queries were not reranked ({fallback_message}); their "
                "reranked list is the first stage's order.",
            )
        )
    return out


# --------------------------------------------------------------------------------------
# The report


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
class TradeoffPoint:
    k: int
    ndcg10: float
    rerank_ms_median: float | None
    """Median cold rerank time per query (every pair scored by the model, no cache)."""
    rerank_ms_mean: float | None
    mean_candidates: float


@dataclass(frozen=True)
class Tradeoff:
    """nDCG@10 and rerank time as the number of reranked candidates K varies."""

    first_stage: str
    reranker: str
    first_stage_ndcg10: float
    points: list[TradeoffPoint]
    n_queries: int
    latency_queries: int
    """Queries the cold latency was measured on (nDCG uses every query)."""


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

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(asdict(self))

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

    def format(self) -> str:
        """The comparison as plain text for a terminal."""
        lines: list[str] = []
        s = self.settings
        lines.append(
            f"{self.collection.get('name', '')}: {len(self.query_ids)} queries "
            f"({self.qrels_source}), {len(self.no_relevant)} without a relevant document; "
            f"relevant = grade >= {self.relevance_threshold}; K = {s.get('k')}, N = {s.get('n')}"
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
        fallback = 0
        if run.reranked:
            infos = [run.rerank[q] for q in result.query_ids]
            rr_ms = _ms(i["ms"] for i in infos)
            pairs = sum(i["scored_pairs"] + i["cached_pairs"] for i in infos)
            cached = sum(i["cached_pairs"] for i in infos) / pairs if pairs else 0.0
            fallback = sum(i["status"] != "ok" for i in infos)
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
            fallback_queries=fallback,
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
    coll = {"fingerprint": result.collection}
    if collection is not None:
        coll.update(name=collection.name, path=collection.path, documents=len(collection))
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
    )


# --------------------------------------------------------------------------------------
# Query sets and one-call evaluation (what the app uses)


def select_queries(
    collection: Collection,
    qrels: Qrels,
    query_ids: Sequence[str] | None = None,
    limit: int | None = None,
) -> tuple[dict[str, Query], list[str]]:
    """The query set of a batch: judged queries that have a text, in qrels order.

    Args:
        collection: supplies the query texts.
        qrels: the judgments; only their queries are eligible.
        query_ids: only these (in this order); ids without judgments are ignored.
        limit: then keep only the first ``limit`` (``None`` or 0: all).

    Returns:
        The queries by id, and the judged ids that were left out because they have no text.
    """
    wanted = list(qrels) if not query_ids else [q for q in query_ids if q in qrels]
    missing = [q for q in wanted if q not in collection.queries]
    queries = {q: collection.queries[q] for q in wanted if q in collection.queries}
    if limit:
        queries = dict(list(queries.items())[: max(0, limit)])
    return queries, missing


def stored_qrels(path: str | Path, collection: str, aggregate: str = "mean") -> Qrels:
    """Qrels from a judgments database, or ``{}`` when there is no database file yet.

    Never creates the file: looking for judgments must not leave an empty database behind.

    Args:
        path: the database (:func:`rankshift.config.judgments_path`).
        collection: the collection fingerprint.
        aggregate: how several annotators' grades of a pair become one (see
            :meth:`rankshift.judgments.JudgmentStore.qrels`).
    """
    if not Path(path).exists():
        return {}
    from rankshift.judgments import JudgmentStore

    with JudgmentStore(path) as store:
        return store.qrels(collection, aggregate=aggregate)  # type: ignore[arg-type]


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
) -> tuple[EvalReport, BatchResult]:
    """Run what the pipeline can run, skip the rest with the reason, and build the report.

    The app's one call (``rankshift eval`` does the same steps with its own messages). A spec
    whose retriever is missing is skipped (see :func:`runnable_specs`), and so is a ``>ce``
    spec when ``pipeline`` has no reranker (see :meth:`BatchRunner.run`); both are listed in
    :attr:`EvalReport.skipped`.

    Raises:
        ValueError: no pipeline can run.
    """
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
        n_resamples=n_resamples,
        seed=seed,
    )
    return report, result


# --------------------------------------------------------------------------------------
# Latency / quality trade-off


def tradeoff(
    runner: BatchRunner,
    queries: Mapping[str, Query] | Sequence[Query],
    qrels: Qrels,
    first_stage: str = "bm25",
    ks: Sequence[int] = (10, 20, 50, 100, 200),
    latency_queries: int = 10,
    progress: ProgressFn | None = None,
) -> Tradeoff:
    """nDCG@10 and rerank time as the number of reranked candidates K varies.

    Each query's top ``max(ks)`` candidates are scored once (through the pair-score cache);
    the ranking for each K reorders its top K by those scores, exactly as reranking only the
    top K would. Rerank time is measured cold, with a cache-less copy of the reranker sharing
    the loaded model, on the first ``latency_queries`` queries, for each K.

    Args:
        runner: supplies the first stage and the reranker.
        queries: the query set.
        qrels: judgments for nDCG@10.
        first_stage: a spec key of one of ``runner``'s first stages (``bm25``,
            ``hybrid(rrf)``...) or a plain first stage.
        ks: the K values.
        latency_queries: how many queries the cold timing runs on.
        progress: ``progress("Trade-off", done, total)`` after each query.
    """
    import numpy as np

    reranker = runner.reranker
    if reranker is None:
        raise ValueError(runner.pipeline.reranker_error or "the reranker is not loaded")
    key = parse_pipeline(first_stage).stage_key
    if key not in runner.stages:
        raise ValueError(f"{first_stage!r} is not one of the batch's first stages")
    retriever = runner.stages[key]
    ks = sorted({int(k) for k in ks if int(k) > 0})
    if not ks:
        raise ValueError("ks needs at least one positive K")
    kmax = ks[-1]
    qlist = list(queries.values()) if isinstance(queries, Mapping) else list(queries)
    cold = CrossEncoderReranker(
        reranker.model_id,
        reranker.max_length,
        reranker.batch_size,
        cache=PairScoreCache(None),
        model=reranker.model,
    )
    docs = runner.collection.documents
    firsts: dict[str, list[ScoredDoc]] = {}
    per_k: dict[int, dict[str, list[ScoredDoc]]] = {k: {} for k in ks}
    times: dict[int, list[float]] = {k: [] for k in ks}
    for i, q in enumerate(qlist):
        ranking = retriever.search(q.text, kmax)
        firsts[q.query_id] = ranking
        pairs, _ = reranker.score(q.text, [docs[r.doc_id] for r in ranking])
        score = {p.doc_id: p.score for p in pairs}
        for k in ks:
            pool = ranking[:k]
            per_k[k][q.query_id] = reranked_order({r.doc_id: score[r.doc_id] for r in pool}, pool)
            if i < latency_queries:
                cold.cache = PairScoreCache(None)
                t = time.perf_counter()
                cold.score(q.text, [docs[r.doc_id] for r in pool])
                times[k].append((time.perf_counter() - t) * 1000)
        if progress:
            progress("Trade-off", i + 1, len(qlist))
    ids = [q.query_id for q in qlist]
    base = evaluate(qrels, rank_scored(firsts), ["nDCG@10"], ids).mean["nDCG@10"]
    points = [
        TradeoffPoint(
            k=k,
            ndcg10=evaluate(qrels, rank_scored(per_k[k]), ["nDCG@10"], ids).mean["nDCG@10"],
            rerank_ms_median=float(np.median(times[k])) if times[k] else None,
            rerank_ms_mean=float(np.mean(times[k])) if times[k] else None,
            mean_candidates=float(np.mean([len(v) for v in per_k[k].values()]))
            if per_k[k]
            else 0.0,
        )
        for k in ks
    ]
    return Tradeoff(
        first_stage=retriever.name,
        reranker=f"ce({short_name(reranker.model_id)},len={reranker.max_length})",
        first_stage_ndcg10=base,
        points=points,
        n_queries=len(qlist),
        latency_queries=min(latency_queries, len(qlist)),
    )
