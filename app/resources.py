"""The one home of ``st.cache_resource`` and ``st.cache_data`` in the app.

Cache keys are plain strings and the hashable :class:`~rankshift.pipeline.PipelineSettings`:
a collection's path and file signature (or an upload's hash), its content fingerprint, model
ids. Collection objects and models are passed as underscore arguments, which Streamlit leaves
out of the key. Each index and model is cached on its own, so changing K, N or the reranker
never rebuilds an index, and changing the bi-encoder never reloads the cross-encoder.

Progress: a cached function that builds something creates its own ``st.progress`` bar and
empties it when done. Streamlit replays a cached function's elements on every cache hit, so
the bar must be created inside the function (a bar created outside could not be replayed).
"""

from __future__ import annotations

import glob
import hashlib
import re
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import streamlit as st

from rankshift.config import cache_dir
from rankshift.corpus import Collection, CollectionLoadError, load_collection
from rankshift.models import ModelUnavailable, short_name
from rankshift.pipeline import Pipeline, PipelineSettings, SecondRerank, make_hybrid
from rankshift.present.collection import (
    PrepareStage,
    first_open_plan,
    plan_title,
    progress_text,
    stage_line,
)
from rankshift.present.cost import estimated_ms_per_pair, measured_rate, record_rate
from rankshift.present.first_minute import predicted_problem
from rankshift.rerank.loading import RerankerUnavailable, load_key
from rankshift.rerank.spec import display_name
from rankshift.training.jobs import JobRegistry
from rankshift.types import PipelineResult, Query

UPLOAD_SUFFIXES = (".jsonl", ".json", ".ndjson", ".csv", ".tsv")

# Resources built (or tried) in this server process. Only decides whether to open a status
# box; the objects themselves live in Streamlit's caches.
_SEEN: set[str] = set()
# The last load of each reranker spec in this server process: None when it loaded, else the
# handled error. Read by the sidebar (which draws before any page loads a model).
_LOADS: dict[str, str | None] = {}


def _progress_bar(label: str) -> tuple[Any, Callable[[str, int, int], None]]:
    bar = st.progress(0.0, text=label)
    started = time.perf_counter()

    def update(what: str, done: int, total: int) -> None:
        fraction = min(1.0, done / total) if total else 1.0
        bar.progress(fraction, text=progress_text(what, done, total, time.perf_counter() - started))

    return bar, update


# --------------------------------------------------------------------------------------
# Collections


def _signature(path: Path) -> str:
    """Sizes and modification times of the files a collection is read from."""
    files = [path] if path.is_file() else [p for p in sorted(path.rglob("*")) if p.is_file()]
    parts = []
    for f in files[:200]:
        stat = f.stat()
        parts.append(f"{f.name}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


@st.cache_resource(show_spinner="Loading the collection…", max_entries=4)
def _collection_at(path: str, signature: str) -> Collection:
    return load_collection(path)


def collection_at(path: str) -> Collection:
    """Load a BEIR folder or a corpus file (cached until its files change).

    Raises:
        CollectionLoadError: the path does not exist or a file is invalid.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise CollectionLoadError(p, None, "no such file or folder")
    p = p.resolve()
    return _collection_at(str(p), _signature(p))


@st.cache_resource(show_spinner="Validating the upload…", max_entries=4)
def _uploaded(digest: str, filename: str, _data: bytes) -> Collection:
    folder = cache_dir() / "uploads" / digest
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / filename
    target.write_bytes(_data)
    try:
        return load_collection(target, name=Path(filename).stem)
    except CollectionLoadError as e:
        # Name the file as the user knows it, not by its place in our cache.
        raise CollectionLoadError(filename, e.line, e.reason) from None


def uploaded_collection(name: str, data: bytes) -> Collection:
    """Validate and load an uploaded JSONL/CSV/TSV corpus, cached by the hash of its bytes.

    Raises:
        CollectionLoadError: wrong extension, or a line that does not validate.
    """
    filename = re.sub(r"[^\w.\-]", "_", Path(name).name) or "upload.jsonl"
    if not filename.lower().endswith(UPLOAD_SUFFIXES):
        raise CollectionLoadError(
            name, None, f"unsupported file type; upload one of {', '.join(UPLOAD_SUFFIXES)}"
        )
    digest = hashlib.sha256(data).hexdigest()[:20]
    return _uploaded(digest, filename, _data=data)


# --------------------------------------------------------------------------------------
# Indexes and models


@st.cache_resource(show_spinner=False, max_entries=8)
def _bm25(fingerprint: str, k1: float, b: float, method: str, _collection: Collection) -> Any:
    from rankshift.retrievers.bm25 import BM25Retriever

    bar, update = _progress_bar("Building the BM25 index")
    try:
        return BM25Retriever(
            _collection, k1=k1, b=b, method=method, cache_dir=cache_dir(), progress=update
        )  # type: ignore[arg-type]
    finally:
        bar.empty()


@st.cache_resource(show_spinner=False, max_entries=4)
def _bi_encoder(model_id: str) -> Any:
    from rankshift.models import load_sentence_transformer

    return load_sentence_transformer(model_id)


@st.cache_resource(show_spinner=False, max_entries=8)
def _dense(fingerprint: str, model_id: str, index_type: str, _collection: Collection) -> Any:
    from rankshift.retrievers.dense import DenseRetriever

    model = _bi_encoder(model_id)
    bar, update = _progress_bar("Encoding documents with the bi-encoder")
    try:
        return DenseRetriever(
            _collection,
            model_id,
            index_type=index_type,  # type: ignore[arg-type]
            cache_dir=cache_dir(),
            progress=update,
            model=model,
        )
    finally:
        bar.empty()


@st.cache_resource(show_spinner=False, max_entries=4)
def _cached_reranker(model_id: str, max_length: int, load_key: str) -> Any:
    from rankshift.rerank import PairScoreCache, load_reranker

    # A failure raises, and Streamlit does not cache exceptions: the next rerun tries again,
    # so a model that appears in the cache later is picked up without a restart.
    return load_reranker(
        model_id, max_length, cache=PairScoreCache(cache_dir() / "pair_scores.sqlite")
    )


def _reranker(model_id: str, max_length: int) -> Any:
    """The loaded reranker of a spec; a folder is keyed by its content hash, so one retrained
    in place is loaded again instead of served stale from the cache."""
    return _cached_reranker(model_id, max_length, load_key(model_id))


def reranker_status(spec: str | None) -> tuple[str, str | None]:
    """What is known of a reranker spec without loading it: ``("loaded", None)`` when it loaded
    last time in this process, ``("unavailable", why)`` when that load failed or it cannot load
    (:func:`~rankshift.present.first_minute.predicted_problem`), else ``("unknown", None)``."""
    if not spec:
        return "unknown", None
    if spec in _LOADS:
        error = _LOADS[spec]
        return ("loaded", None) if error is None else ("unavailable", error)
    problem = predicted_problem(spec)
    return ("unavailable", problem) if problem else ("unknown", None)


def _keys(collection: Collection, s: PipelineSettings) -> dict[str, str]:
    need = s.needed_stages
    fp = collection.fingerprint
    keys = {}
    if "bm25" in need:
        keys["bm25"] = f"bm25:{fp}:{s.bm25_k1}:{s.bm25_b}:{s.bm25_method}"
    if "dense" in need:
        keys["dense"] = f"dense:{fp}:{s.bi_encoder}:{s.dense_index}"
    if s.reranker:
        keys["reranker"] = f"ce:{s.reranker}:{s.max_length}:{load_key(s.reranker)}"
    return keys


def _on_disk(collection: Collection, settings: PipelineSettings) -> list[str]:
    """The indexes of ``settings`` already in the on-disk cache (read there, not built); only
    an estimate's input, so it matches the retrievers' folder names loosely."""
    root = cache_dir() / "indexes" / collection.fingerprint
    s = settings
    bm25 = f"bm25-{s.bm25_method}-k1={s.bm25_k1:g}-b={s.bm25_b:g}-*/doc_ids.json"
    dense = "dense-" + glob.escape(s.bi_encoder.strip("/").replace("/", "__")) + "-*/embeddings.npy"
    return [k for k, pattern in (("bm25", bm25), ("dense", dense)) if any(root.glob(pattern))]


class _Stages:
    """The status box's lines, one per stage: waiting, running, then done with its time."""

    def __init__(self, plan: list[PrepareStage]) -> None:
        self.plan = {stage.key: stage for stage in plan}
        self.lines = {stage.key: st.empty() for stage in plan}
        for key, line in self.lines.items():
            line.markdown(stage_line(self.plan[key]))
        self.started: dict[str, float] = {}

    def begin(self, key: str) -> None:
        if key in self.plan:
            self.started[key] = time.perf_counter()
            self.lines[key].markdown(stage_line(self.plan[key], active=True))

    def end(self, key: str) -> None:
        if key in self.started:
            took = time.perf_counter() - self.started.pop(key)
            self.lines[key].markdown(stage_line(self.plan[key], took))


def prepare_pipeline(
    collection: Collection, settings: PipelineSettings
) -> tuple[Pipeline, PipelineSettings, list[str]]:
    """Build (or fetch from the cache) every index and model the settings need.

    While anything is prepared for the first time in this server process, a status box lists
    each stage with an estimate of how long it takes (a progress bar with the time left while
    documents are indexed or encoded), and marks each done with the time it took. Indexes are
    kept on disk too, so a second open, even after a restart, reads them instead of building.
    A bi-encoder that cannot load turns the dense and hybrid stages off (with a message)
    instead of failing; a cross-encoder that cannot load leaves the pipeline without a
    reranker, which then shows the first-stage order with the library's message.

    Returns:
        The pipeline, the settings it actually runs with, and messages for the user.
    """
    keys = _keys(collection, settings)
    pending = [k for k, v in keys.items() if v not in _SEEN]
    plan = first_open_plan(
        collection,
        pending,
        bi_encoder=short_name(settings.bi_encoder),
        reranker=display_name(settings.reranker or ""),
        cached=_on_disk(collection, settings) if pending else (),
    )
    problems: list[str] = []
    placeholder = st.empty()
    status = placeholder.status(plan_title(plan), expanded=True) if pending else nullcontext()
    started = time.perf_counter()
    retrievers: dict[str, Any] = {}
    reranker = None
    reranker_error = None
    with status:
        stages = _Stages(plan if pending else [])
        if "bm25" in keys:
            stages.begin("bm25")
            retrievers["bm25"] = _bm25(
                collection.fingerprint,
                settings.bm25_k1,
                settings.bm25_b,
                settings.bm25_method,
                _collection=collection,
            )
            stages.end("bm25")
            _SEEN.add(keys["bm25"])
        if "dense" in keys:
            try:
                stages.begin("bi-encoder")
                _bi_encoder(settings.bi_encoder)
                stages.end("bi-encoder")
                stages.begin("dense")
                retrievers["dense"] = _dense(
                    collection.fingerprint,
                    settings.bi_encoder,
                    settings.dense_index,
                    _collection=collection,
                )
                stages.end("dense")
            except Exception as e:  # a bi-encoder failure turns dense off, never crashes
                reason = (
                    str(e)
                    if isinstance(e, ModelUnavailable)
                    else f"Cannot use bi-encoder '{settings.bi_encoder}' "
                    f"({type(e).__name__}: {str(e)[:200]})."
                )
                problems.append(f"{reason} Dense and hybrid retrieval are off until it loads.")
            _SEEN.add(keys["dense"])
        if "reranker" in keys and settings.reranker:
            stages.begin("reranker")
            reranker, reranker_error = load_reranker(settings.reranker, settings.max_length)
            if reranker is not None:
                stages.end("reranker")
            _SEEN.add(keys["reranker"])
    if pending:
        placeholder.empty()
        if time.perf_counter() - started > 1:
            st.toast(f"Ready in {time.perf_counter() - started:.0f} s", icon=":material/check:")
    if "dense" in keys and "dense" not in retrievers:
        shown = tuple(s for s in settings.first_stages if s == "bm25") or ("bm25",)
        settings = settings.with_(first_stages=shown, rerank_input="bm25")
        if "bm25" not in retrievers:
            retrievers["bm25"] = _bm25(
                collection.fingerprint,
                settings.bm25_k1,
                settings.bm25_b,
                settings.bm25_method,
                _collection=collection,
            )
    if "bm25" in retrievers and "dense" in retrievers and "hybrid" in settings.needed_stages:
        retrievers["hybrid"] = make_hybrid(retrievers["bm25"], retrievers["dense"], settings)
    pipeline = Pipeline(collection, settings, retrievers, reranker, reranker_error)
    return pipeline, settings, problems


# --------------------------------------------------------------------------------------
# Query results


def _pair_progress(
    bar: Any, label: str, ms_per_pair: float | None = None
) -> Callable[[str, int, int], None]:
    """A progress callback that shows pairs scored on ``bar`` (and time left, given a rate)."""

    def update(what: str, done: int, total: int) -> None:
        fraction = min(1.0, done / total) if total else 1.0
        left = (total - done) * ms_per_pair / 1000 if ms_per_pair else 0.0
        eta = f", about {left:.0f} s left" if done < total and left >= 1 else ""
        bar.progress(fraction, text=f"Reranking with {label}: {done} of {total} pairs scored{eta}")

    return update


class _DoNotCache(Exception):
    """Raised out of the cached run so a failed rerank is retried on the next rerun."""

    def __init__(self, result: PipelineResult) -> None:
        super().__init__("rerank failed")
        self.result = result


@st.cache_data(show_spinner=False, max_entries=256)
def _run(
    fingerprint: str,
    settings: PipelineSettings,
    query_id: str,
    query_text: str,
    reranker_state: str,
    _pipeline: Pipeline,
    _query: Query,
    _computed: list[bool],
) -> PipelineResult:
    _computed.append(True)
    k = settings.k if settings.reranker else 0
    measured = measured_rate(settings.reranker, settings.max_length)
    ms_per_pair = (
        measured.ms_per_pair
        if measured is not None
        else estimated_ms_per_pair(settings.reranker, settings.max_length)
    )
    bar = st.progress(0.0, text="Retrieving…")
    update = _pair_progress(bar, "the cross-encoder", ms_per_pair)

    try:
        if k:
            bar.progress(0.0, text=f"Reranking the top {k} candidates with the cross-encoder…")
        result = _pipeline.run(_query, progress=update)
    finally:
        bar.empty()
    if result.rerank is not None and result.rerank.status == "failed":
        raise _DoNotCache(result)
    return result


def run_query(pipeline: Pipeline, query: Query) -> tuple[PipelineResult, bool]:
    """One query through the pipeline, cached by query + settings + reranker revision.

    A repeated query is served from this cache; a query that misses it (new settings) still
    finds its pair scores in the reranker's on-disk pair-score cache.

    Returns:
        The result, and whether it came from the result cache (nothing was recomputed).
    """
    computed: list[bool] = []
    reranker_state = (
        f"{pipeline.reranker.model_id}@{pipeline.reranker.revision}"
        if pipeline.reranker is not None
        else f"none:{pipeline.reranker_error}"
    )
    try:
        result = _run(
            pipeline.collection.fingerprint,
            pipeline.settings,
            query.query_id,
            query.text,
            reranker_state,
            _pipeline=pipeline,
            _query=query,
            _computed=computed,
        )
    except _DoNotCache as e:
        return e.result, False
    info = result.rerank
    if computed and pipeline.settings.reranker and info is not None and info.reranked:
        # The pair rate of this machine, for the sidebar's cost hint and the next ETA.
        settings = pipeline.settings
        record_rate(settings.reranker, settings.max_length, info.scored_pairs, info.ms)
    return result, not computed


# --------------------------------------------------------------------------------------
# A second reranker over the same candidates (the Inspect page's comparison)


def load_reranker(model_id: str, max_length: int) -> tuple[Any, str | None]:
    """A cross-encoder from the app's model cache (each id and length loads once), for the
    pipeline and for the Inspect page's second reranker; the outcome is kept for the sidebar
    (:func:`reranker_status`).

    Returns:
        The reranker, or None and a message naming the model and how to provide it.
    """
    try:
        reranker = _reranker(model_id, max_length)
    except Exception as e:  # a reranker that cannot load is a message, never a crash
        error = (
            str(e)
            if isinstance(e, ModelUnavailable | RerankerUnavailable | ImportError | ValueError)
            else f"Cannot load reranker '{model_id}' ({type(e).__name__}: {str(e)[:200]})."
        )
        _LOADS[model_id] = error
        return None, error
    _LOADS[model_id] = None
    return reranker, None


class _SecondNotCached(Exception):
    def __init__(self, second: SecondRerank) -> None:
        super().__init__("second rerank failed")
        self.second = second


@st.cache_data(show_spinner=False, max_entries=256)
def _second(
    fingerprint: str,
    settings: PipelineSettings,
    query_id: str,
    query_text: str,
    reranker_state: str,
    _pipeline: Pipeline,
    _result: PipelineResult,
    _reranker: Any,
    _error: str | None,
    _model_id: str,
) -> SecondRerank:
    label = display_name(_model_id)
    bar = st.progress(0.0, text=f"Reranking with {label}…")
    update = _pair_progress(bar, label)

    try:
        second = _pipeline.rerank_second(
            _result, _reranker, error=_error, model_id=_model_id, progress=update
        )
    finally:
        bar.empty()
    if second.info.status in ("failed", "unavailable"):
        raise _SecondNotCached(second)
    return second


def rerank_second(pipeline: Pipeline, result: PipelineResult, model_id: str) -> SecondRerank:
    """The same candidates as ``result`` reranked by ``model_id`` (cached like :func:`run_query`).

    A reranker that cannot load gives a :class:`SecondRerank` in first-stage order whose
    ``info.message`` says why; it is not cached, so the next rerun tries again.
    """
    settings = pipeline.settings
    reranker, error = load_reranker(model_id, settings.max_length)
    state = f"{model_id}@{reranker.revision}" if reranker is not None else f"none:{error}"
    try:
        return _second(
            pipeline.collection.fingerprint,
            settings,
            result.query.query_id,
            result.query.text,
            state,
            _pipeline=pipeline,
            _result=result,
            _reranker=reranker,
            _error=error,
            _model_id=model_id,
        )
    except _SecondNotCached as e:
        return e.second


# --------------------------------------------------------------------------------------
# Training jobs


@st.cache_resource(show_spinner=False)
def training_jobs() -> JobRegistry:
    """The server's training jobs, one registry per process: a job outlives reruns, page
    switches and browser sessions, and starting one folder's job twice starts one thread."""
    return JobRegistry()
