"""One query through every stage, keeping every stage's ranking, timing and the audits."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal

from rankshift.audit import audit
from rankshift.config import (
    DEFAULT_BI_ENCODER,
    DEFAULT_FUSION_WEIGHT,
    DEFAULT_K,
    DEFAULT_MAX_LENGTH,
    DEFAULT_N,
    DEFAULT_RERANKER,
    DEFAULT_RRF_K,
)
from rankshift.config import (
    cache_dir as default_cache_dir,
)
from rankshift.corpus import Collection
from rankshift.rerank import PairScoreCache, Reranker, rerank, try_load_reranker
from rankshift.rerank.spec import display_name
from rankshift.retrievers.base import ProgressFn, Retriever
from rankshift.retrievers.hybrid import FusionMethod, HybridRetriever
from rankshift.types import Audit, PipelineResult, Query, RerankInfo, ScoredDoc, StageResult

FirstStage = Literal["bm25", "dense", "hybrid"]

FIRST_STAGES: dict[str, str] = {
    "bm25": "BM25 (bm25s, Lucene variant, stemmed)",
    "dense": "Bi-encoder + FAISS (cosine)",
    "hybrid": "Fusion of BM25 and dense",
}
"""Registry of first stages: feeds the CLI's choices and the app's select boxes."""


class EmptyQueryError(ValueError):
    """The query has nothing to search for (empty, or only stopwords for BM25)."""


SECOND_KEY = "second"
"""The key of a second reranker's list beside ``reranked`` (see :meth:`Pipeline.rerank_second`)."""


@dataclass(frozen=True)
class SecondRerank:
    """A second reranker's reordering of the same first-stage candidates as a result's.

    Kept beside the :class:`~rankshift.types.PipelineResult` rather than inside it: the result
    stays what one pipeline made, and a comparison can be added or dropped without rerunning it.
    """

    model_id: str
    label: str
    """The model's short name (the heading of its column)."""
    stage: StageResult
    info: RerankInfo
    audits: dict[str, Audit]
    """Its list against each first stage of the result, at the result's top-N (empty when it
    did not rerank)."""
    agreement: Audit | None
    """Its list against the first reranker's list (None unless both reranked): Kendall's tau
    between the two rerankers, and what one keeps in the top-N that the other does not."""


@dataclass(frozen=True)
class PipelineSettings:
    """Everything that decides a pipeline result. Hashable, so it can key caches."""

    first_stages: tuple[str, ...] = ("bm25", "dense", "hybrid")
    rerank_input: str = "hybrid"
    """The first stage whose top-K the reranker reorders."""
    k: int = DEFAULT_K
    n: int = DEFAULT_N
    bi_encoder: str = DEFAULT_BI_ENCODER
    reranker: str | None = DEFAULT_RERANKER
    """Cross-encoder id or folder; ``None`` turns reranking off."""
    max_length: int = DEFAULT_MAX_LENGTH
    fusion: FusionMethod = "rrf"
    fusion_weight: float = DEFAULT_FUSION_WEIGHT
    rrf_k: int = DEFAULT_RRF_K
    bm25_k1: float = 1.5
    bm25_b: float = 0.75
    bm25_method: str = "lucene"
    dense_index: str = "flat"
    rerank_timeout_s: float | None = None
    blend: float = 0.0
    """Weight of the first-stage score in the reranked order (0: the reranker alone); see
    :func:`rankshift.rerank.blend_scores`."""

    def __post_init__(self) -> None:
        unknown = [s for s in (*self.first_stages, self.rerank_input) if s not in FIRST_STAGES]
        if unknown:
            raise ValueError(
                f"unknown first stage {unknown[0]!r}; choose from {', '.join(FIRST_STAGES)}"
            )
        if self.k < 1 or self.n < 1:
            raise ValueError("k and n must be at least 1")
        if self.n > self.k:
            raise ValueError(f"n ({self.n}) cannot exceed k ({self.k}): the reranker only sees k")
        if not 0.0 <= self.blend <= 1.0:
            raise ValueError(f"blend must be between 0 and 1, got {self.blend}")

    @property
    def needed_stages(self) -> list[str]:
        """First stages to compute: the displayed ones, the reranker's input, and hybrid's parts."""
        need = list(dict.fromkeys([*self.first_stages, self.rerank_input]))
        if "hybrid" in need:
            need = list(dict.fromkeys(["bm25", "dense", *need]))
        return need

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["first_stages"] = list(self.first_stages)
        return d

    def with_(self, **changes: Any) -> PipelineSettings:
        return replace(self, **changes)


class Pipeline:
    """Retrieve with each first stage, rerank one of them, audit the reranked list against each.

    Build it with :meth:`from_settings` (loads or builds indexes and models), or inject
    ready-made components (the app caches them separately, so changing K re-uses the indexes).
    """

    def __init__(
        self,
        collection: Collection,
        settings: PipelineSettings,
        retrievers: dict[str, Retriever],
        reranker: Reranker | None = None,
        reranker_error: str | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        missing = [s for s in settings.needed_stages if s not in retrievers]
        if missing:
            raise ValueError(f"no retriever for stage(s): {', '.join(missing)}")
        self.collection = collection
        self.settings = settings
        self.retrievers = retrievers
        self.reranker = reranker
        self.reranker_error = reranker_error
        self.cache_dir = cache_dir
        """Where indexes and pair scores are cached (None: not known, e.g. built by the app)."""
        if settings.reranker is None:
            self.reranker_error = "Reranking is turned off."

    @classmethod
    def from_settings(
        cls,
        collection: Collection,
        settings: PipelineSettings | None = None,
        cache_dir: str | Path | None = None,
        progress: ProgressFn | None = None,
        show_progress: bool = False,
    ) -> Pipeline:
        from rankshift.retrievers.bm25 import BM25Retriever
        from rankshift.retrievers.dense import DenseRetriever

        settings = settings or PipelineSettings()
        cdir = default_cache_dir(cache_dir)
        retrievers: dict[str, Retriever] = {}
        need = settings.needed_stages
        if "bm25" in need:
            retrievers["bm25"] = BM25Retriever(
                collection,
                k1=settings.bm25_k1,
                b=settings.bm25_b,
                method=settings.bm25_method,  # type: ignore[arg-type]
                cache_dir=cdir,
                progress=progress,
                show_progress=show_progress,
            )
        if "dense" in need:
            retrievers["dense"] = DenseRetriever(
                collection,
                settings.bi_encoder,
                index_type=settings.dense_index,  # type: ignore[arg-type]
                cache_dir=cdir,
                progress=progress,
                show_progress=show_progress,
            )
        if "hybrid" in need:
            retrievers["hybrid"] = make_hybrid(retrievers["bm25"], retrievers["dense"], settings)
        reranker, error = None, None
        if settings.reranker is not None:
            reranker, error = try_load_reranker(
                settings.reranker,
                settings.max_length,
                cache=PairScoreCache(cdir / "pair_scores.sqlite"),
            )
        return cls(collection, settings, retrievers, reranker, error, cdir)

    def query_problem(self, text: str) -> str | None:
        """A friendly reason why ``text`` cannot be searched, or None if it can."""
        if not text.strip():
            return "Type a query to search."
        bm25 = self.retrievers.get("bm25")
        tokenize = getattr(bm25, "tokenize", None)
        if (
            tokenize is not None
            and not tokenize([text])[0]
            and set(self.settings.needed_stages) == {"bm25"}
        ):
            return (
                "That query has only stopwords (words like 'the', 'of'); BM25 has nothing to match."
            )
        return None

    def retrieve(self, text: str) -> tuple[dict[str, StageResult], float]:
        """Run every needed first stage; returns stages by key and the wall time in ms.

        Through :func:`retrieve_first_stages`, the one first-stage code path (the batch runner
        of ``rankshift eval`` calls it too).
        """
        t0 = time.perf_counter()
        stages = retrieve_first_stages(
            text,
            {key: self.retrievers[key] for key in self.settings.needed_stages},
            self.settings.k,
        )
        return stages, (time.perf_counter() - t0) * 1000

    def run(
        self,
        query: str | Query,
        progress: ProgressFn | None = None,
    ) -> PipelineResult:
        """Run one query through every stage.

        Args:
            query: free text, or a :class:`Query` from the collection.
            progress: called as pairs are scored: ``progress("Reranking", done, total)``.

        Raises:
            EmptyQueryError: the query is empty or cannot match anything.
        """
        q = query if isinstance(query, Query) else Query(query_id="adhoc", text=query)
        problem = self.query_problem(q.text)
        if problem:
            raise EmptyQueryError(problem)
        s = self.settings
        t0 = time.perf_counter()
        needed, retrieve_ms = self.retrieve(q.text)
        shown = {k: needed[k] for k in s.first_stages}
        reranked_stage, info = rerank(
            self.reranker,
            q.text,
            needed[s.rerank_input],
            self.collection.documents,
            s.k,
            unavailable_message=self.reranker_error,
            missing_status="skipped" if s.reranker is None else "unavailable",
            model_id=s.reranker or "none",
            progress=progress,
            timeout_s=s.rerank_timeout_s,
            blend=s.blend,
        )
        stages = {**shown, "reranked": reranked_stage}
        audits = (
            {
                key: audit(stage, reranked_stage, s.n, {p.doc_id: p.score for p in info.pairs})
                for key, stage in shown.items()
            }
            if info.reranked
            else {}
        )
        total_ms = (time.perf_counter() - t0) * 1000
        timings = {
            **{key: st.ms for key, st in shown.items()},
            "retrieve": retrieve_ms,
            "rerank": info.ms,
            "total": total_ms,
            "per_pair": info.ms / info.scored_pairs if info.scored_pairs else 0.0,
        }
        return PipelineResult(
            query=q,
            collection=self.collection.fingerprint,
            settings=s.to_dict(),
            stages=stages,
            rerank=info,
            audits=audits,
            timings_ms=timings,
        )

    def rerank_second(
        self,
        result: PipelineResult,
        reranker: Reranker | None,
        *,
        error: str | None = None,
        model_id: str | None = None,
        progress: ProgressFn | None = None,
    ) -> SecondRerank:
        """Rerank the same candidates as ``result`` with another reranker.

        The candidates are the top-K of the result's reranker input, as the first reranker saw
        them: taken from the result when that stage is shown, else retrieved again (first
        stages are deterministic). Never raises for a model failure: a reranker that is
        missing or fails gives the first-stage order with the reason in ``info``.

        Args:
            result: what :meth:`run` returned for this pipeline.
            reranker: the second reranker (None: it could not be loaded; say why in ``error``).
            error: why ``reranker`` is None.
            model_id: the second reranker's id (default: ``reranker.model_id``).
            progress: called as pairs are scored.

        Raises:
            ValueError: ``result`` comes from another collection.
        """
        if result.collection != self.collection.fingerprint:
            raise ValueError("the result comes from another collection")
        s = self.settings
        model_id = model_id or (reranker.model_id if reranker is not None else "none")
        candidates = result.stages.get(s.rerank_input)
        if candidates is None or candidates.kind != "first_stage":
            candidates = self.retrieve(result.query.text)[0][s.rerank_input]
        stage, info = rerank(
            reranker,
            result.query.text,
            candidates,
            self.collection.documents,
            s.k,
            unavailable_message=error,
            model_id=model_id,
            progress=progress,
            timeout_s=s.rerank_timeout_s,
            blend=s.blend,
        )
        shown = {k: result.stages[k] for k in result.first_stage_keys}
        ce = {p.doc_id: p.score for p in info.pairs}
        audits = {k: audit(f, stage, s.n, ce) for k, f in shown.items()} if info.reranked else {}
        first = result.reranked
        agreement = (
            audit(first, stage, s.n, ce)
            if info.reranked and first is not None and result.rerank and result.rerank.reranked
            else None
        )
        return SecondRerank(model_id, display_name(model_id), stage, info, audits, agreement)


def retrieve_first_stages(
    text: str, stages: Mapping[str, Retriever], k: int
) -> dict[str, StageResult]:
    """The top-``k`` of each first stage for one query: the one first-stage code path.

    :meth:`Pipeline.retrieve` (the app, ``rankshift search``) and the batch runner
    (``rankshift eval``) both call this, so a query's first-stage rankings are the same
    wherever they are shown. Each plain retriever searches once, as deep as the deepest hybrid
    stage fuses (``max(k, depth)``), and keeps its top ``k``; a hybrid stage fuses the top
    ``max(k, depth)`` of its own two parts from those same searches instead of searching again
    (exactly what :meth:`HybridRetriever.search` would fuse).

    Args:
        text: the query.
        stages: the first stages by key, in the order wanted: ``bm25``, ``dense``, ``hybrid``,
            or a batch's spec keys such as ``hybrid(minmax,w=0.3)``.
        k: candidates kept per stage.

    Returns:
        A :class:`~rankshift.types.StageResult` per key. Its ``ms`` is that stage's search
        time; a hybrid's includes the two searches it fused.
    """
    hybrids = [r for r in stages.values() if isinstance(r, HybridRetriever)]
    depth = max([k, *(h.depth for h in hybrids)])
    searched: dict[int, tuple[list[ScoredDoc], float]] = {}

    def deep(retriever: Retriever) -> tuple[list[ScoredDoc], float]:
        # By identity: a hybrid's parts are the plain stages' own retrievers (make_hybrid).
        if id(retriever) not in searched:
            start = time.perf_counter()
            ranking = retriever.search(text, depth)
            searched[id(retriever)] = (ranking, (time.perf_counter() - start) * 1000)
        return searched[id(retriever)]

    out: dict[str, StageResult] = {}
    for key, retriever in stages.items():
        if isinstance(retriever, HybridRetriever):
            (sparse, sparse_ms), (dense, dense_ms) = deep(retriever.sparse), deep(retriever.dense)
            cut = max(k, retriever.depth)
            start = time.perf_counter()
            ranking = retriever.fuse(sparse[:cut], dense[:cut], k)
            ms = (time.perf_counter() - start) * 1000 + sparse_ms + dense_ms
        else:
            full, ms = deep(retriever)
            ranking = full[:k]
        out[key] = StageResult(
            name=retriever.name,
            kind="first_stage",
            ranking=ranking,
            ms=ms,
            params=dict(getattr(retriever, "params", {})),
        )
    return out


def make_hybrid(sparse: Retriever, dense: Retriever, settings: PipelineSettings) -> HybridRetriever:
    """A hybrid of ``sparse`` and ``dense`` with the settings' fusion, fusing at ``max(100, k)``."""
    return HybridRetriever(
        sparse,
        dense,
        method=settings.fusion,
        weight=settings.fusion_weight,
        rrf_k=settings.rrf_k,
        depth=max(100, settings.k),
    )
