"""Training jobs that outlive a page: :func:`~rankshift.training.train.train_reranker` in a background thread.

A :class:`TrainingJob` runs one training in a daemon thread and publishes a thread-safe
:class:`JobState` (phase, progress, elapsed time, an ETA measured from the phase's own pace,
and how it ended). :meth:`TrainingJob.stop` asks the training to stop through
``train_reranker``'s ``stop`` callback, so the checkpoint of the last step is saved and a later
start with the same output folder resumes from it. A :class:`JobRegistry` keys jobs by output
folder, so starting the same job twice (two clicks, two browser tabs) never starts two threads.

Nothing here knows about Streamlit: the app keeps one registry per server process and polls
job states; the CLI could run a job the same way and join it.

The module also holds what a training form needs before anything runs: the judgments to train
on (:func:`training_set`, merged the way ``rankshift train`` merges them) and an honest cost
estimate (:func:`estimate_training`).
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from rankshift.config import cache_dir
from rankshift.corpus import Collection
from rankshift.evaluation.metrics import REL_THRESHOLD
from rankshift.retrievers.base import ProgressFn
from rankshift.training.data import split_seeded
from rankshift.training.train import LOSS_ROWS, TrainConfig, TrainResult, train_reranker
from rankshift.types import Qrels

if TYPE_CHECKING:
    from rankshift.pipeline import PipelineSettings

JobStatus = Literal["pending", "running", "finished", "stopped", "failed"]

TRAINING_PHASE = "Training"
"""The progress label ``train_reranker`` reports optimiser steps under."""

TRAIN_PAIRS_PER_SECOND_AT_256 = 6.0
"""Query-document pairs per second through forward *and* backward passes of a MiniLM-L6-sized
model on a 2-core CPU at max_length 256. Measured on the demo reranker's run (``make
demo-reranker``: 82 steps of about 37 list entries in 477 s, 6.4 pairs/s, with the cores
shared), rounded down; about 60 % of the rate of scoring alone."""

INFER_PAIRS_PER_SECOND_AT_256 = 36.5
"""Pairs per second when only scoring (validation runs the trained model on torch fp32), as
:data:`rankshift.present.cost.PAIRS_PER_SECOND_AT_256` ``["torch"]``: `make bench` with every pair
filling 256 tokens (an upper bound of the wait: short documents go faster)."""


class _Stopped(Exception):
    """Raised out of a progress callback to stop a job before training has begun."""


def job_key(output_dir: str | Path) -> str:
    """The registry key of an output folder: its absolute, resolved path."""
    return str(Path(output_dir).expanduser().resolve())


def model_dir(name: str, root: str | Path | None = None) -> Path:
    """``<root>/<name>`` with ``name`` made safe as one folder name (``root``: ``<cache>/models``).

    Raises:
        ValueError: nothing usable is left of ``name``.
    """
    safe = re.sub(r"[^\w.\-]+", "-", name.strip()).strip("-.")
    if not safe:
        raise ValueError(f"{name!r} is not usable as a folder name")
    return (Path(root) if root is not None else cache_dir() / "models") / safe


def fresh_output_dir(path: str | Path) -> Path:
    """``path`` if nothing is there yet, else ``path-2``, ``path-3``...: a new run never trains
    on top of another run's checkpoints (resuming is explicit: :meth:`JobRegistry.resume`)."""
    path = Path(path)
    if not path.exists():
        return path
    i = 2
    while (candidate := path.with_name(f"{path.name}-{i}")).exists():
        i += 1
    return candidate


# --------------------------------------------------------------------------------------
# What to train on, and what it will cost


@dataclass(frozen=True)
class TrainingSet:
    """The judgments a run trains on, where they came from, and what is kept out."""

    qrels: Qrels
    sources: tuple[str, ...]
    """E.g. ``split train (640 judgments)``, ``stored labels (12 judgments)``."""
    exclude_queries: tuple[str, ...]
    """Queries that must never be trained on (the excluded splits' queries)."""
    excluded_splits: tuple[str, ...]
    usable_queries: tuple[str, ...]
    """Judged queries of the collection left after the exclusion: training plus validation."""


def training_set(
    collection: Collection,
    splits: Sequence[str] = (),
    stored: Qrels | None = None,
    exclude_splits: Sequence[str] = (),
) -> TrainingSet:
    """Merge qrels splits of ``collection`` and stored labels, as ``rankshift train`` does.

    Splits are merged with :func:`rankshift.training.sources.gather_qrels`; stored labels come last and
    win for the same pair (the CLI reads the database last for the same reason: a person's
    label is newer than the qrels file).

    Args:
        collection: the collection whose queries are trained on.
        splits: qrels splits of the collection to train on.
        stored: labels from the judgments database for this collection (already aggregated,
            e.g. :func:`rankshift.evaluation.stored_qrels`), or None.
        exclude_splits: splits whose queries must not be trained on, whatever the source
            (the CLI's default is ``test``: the evaluation split).

    Raises:
        ValueError: a split the collection does not have.
    """
    from rankshift.training.sources import gather_qrels

    qrels, sources = gather_qrels(collection, [], list(splits))
    if stored:
        for q, docs in stored.items():
            qrels.setdefault(q, {}).update(docs)
        sources.append(f"stored labels ({sum(len(v) for v in stored.values())} judgments)")
    for split in exclude_splits:
        if split not in collection.qrels:
            raise ValueError(f"no qrels split {split!r} to exclude")
    excluded = sorted({q for s in exclude_splits for q in collection.qrels[s]})
    usable = tuple(q for q in qrels if q in collection.queries and q not in set(excluded))
    return TrainingSet(qrels, tuple(sources), tuple(excluded), tuple(exclude_splits), usable)


@dataclass(frozen=True)
class TrainEstimate:
    """What a run will cost before it starts: rows, steps, pairs and seconds on a 2-core CPU."""

    train_queries: int
    validation_queries: int
    rows: int
    """Training examples: one list per query (listwise losses), triples or pairs."""
    steps: int
    pairs_per_step: float
    """Query-document pairs through the model per step (an upper bound: lists can be shorter
    when the first stages return fewer unjudged candidates)."""
    train_seconds: float
    validation_seconds: float
    """Base and trained model each rerank ``rerank_k`` candidates of every held-out query."""
    max_length: int

    @property
    def total_seconds(self) -> float:
        return self.train_seconds + self.validation_seconds

    def describe(self) -> str:
        """One paragraph for people: the counts and the expected wait."""
        return (
            f"{self.train_queries} queries train and {self.validation_queries} are held out for "
            f"validation. {self.rows} training {'example' if self.rows == 1 else 'examples'} → "
            f"{self.steps} steps of about {self.pairs_per_step:.0f} query–document pairs "
            f"(forward and backward): about {_duration(self.train_seconds)} of training on a "
            f"2-core CPU at {self.max_length} tokens, then up to "
            f"{_duration(self.validation_seconds)} of validation. Add the time to build the "
            "first-stage indexes when they are not on disk yet; a GPU is many times faster."
        )


def _duration(seconds: float) -> str:
    if seconds >= 5400:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 90:
        return f"{seconds / 60:.0f} min"
    return f"{max(1.0, seconds):.0f} s"


def estimate_training(
    collection: Collection,
    training: TrainingSet,
    config: TrainConfig,
    train_pairs_per_second: float = TRAIN_PAIRS_PER_SECOND_AT_256,
) -> TrainEstimate:
    """Estimate a run from the judgment counts, with the split and step arithmetic of
    :func:`~rankshift.training.train.train_reranker` (the same seeded query split, the same
    ``ceil(rows / batch_size) * epochs`` steps unless ``max_steps`` is set).

    Args:
        collection: the collection (documents judged but missing from it do not count).
        training: what :func:`training_set` returned.
        config: the run's hyper-parameters.
        train_pairs_per_second: forward + backward pairs per second at max_length 256; the
            cost is scaled linearly with ``config.max_length``.
    """
    split = split_seeded(training.usable_queries, config.validation_fraction, config.seed)
    docs = collection.documents
    kind = LOSS_ROWS[config.loss]
    rows = 0
    pairs = 0.0
    for q in split.train:
        judged = {d: g for d, g in training.qrels.get(q, {}).items() if d in docs}
        if not judged:
            continue
        negatives = config.unjudged_negatives
        if kind == "listwise":
            rows += 1
            pairs += len(judged) + negatives
        elif kind == "pairs":
            rows += len(judged) + negatives
            pairs += len(judged) + negatives
        else:
            positives = sum(g >= REL_THRESHOLD for g in judged.values())
            hard = len(judged) - positives + negatives
            n = positives * min(config.negatives_per_positive, hard)
            rows += n
            pairs += 3 * n  # the positive, its hard negative, one in-batch negative
    per_row = pairs / rows if rows else 0.0
    steps_per_epoch = math.ceil(rows / config.batch_size) if rows else 0
    steps = config.max_steps or max(1, math.ceil(steps_per_epoch * config.epochs))
    pairs_per_step = per_row * min(config.batch_size, max(rows, 1))
    scale = config.max_length / 256
    train_seconds = steps * pairs_per_step / train_pairs_per_second * scale
    validation_pairs = len(split.eval) * min(config.rerank_k, len(collection)) * 2
    validation_seconds = validation_pairs / INFER_PAIRS_PER_SECOND_AT_256 * scale
    return TrainEstimate(
        train_queries=len(split.train),
        validation_queries=len(split.eval),
        rows=rows,
        steps=steps if rows else 0,
        pairs_per_step=pairs_per_step,
        train_seconds=train_seconds if rows else 0.0,
        validation_seconds=validation_seconds,
        max_length=config.max_length,
    )


# --------------------------------------------------------------------------------------
# One job


@dataclass(frozen=True)
class JobState:
    """A snapshot of a job, safe to read from any thread."""

    output_dir: str
    status: JobStatus
    phase: str
    """The last progress label: ``Mining hard negatives``, ``Training``, ``Validating ...``."""
    done: int
    total: int
    started_at: float | None
    """Wall-clock time (``time.time()``) the job started."""
    elapsed_s: float
    eta_s: float | None
    """Seconds left in the current phase at the pace measured in it (None: not measurable
    yet, e.g. before the phase's second progress report)."""
    stop_requested: bool
    error: str | None
    result: TrainResult | None
    """Set when the job finished (the model is saved) or stopped during training (the
    checkpoint is kept; ``result.steps`` is where it stopped)."""

    @property
    def active(self) -> bool:
        return self.status in ("pending", "running")

    @property
    def finished(self) -> bool:
        return self.status == "finished"

    @property
    def stopped(self) -> bool:
        return self.status == "stopped"

    @property
    def failed(self) -> bool:
        return self.status == "failed"

    @property
    def fraction(self) -> float:
        """Progress of the current phase in [0, 1]."""
        return min(1.0, self.done / self.total) if self.total else 0.0


class TrainingJob:
    """One :func:`~rankshift.training.train.train_reranker` run in a background (daemon) thread.

    Args:
        collection: documents and query texts.
        qrels: the merged training judgments.
        output_dir: the model folder (checkpoints go to ``<output_dir>/checkpoints``).
        config: hyper-parameters.
        settings: first-stage settings to build the hard-negative retrievers from (in the
            job's thread, from the on-disk index cache when it has them); ignored when
            ``retrievers`` is given. Neither: ``train_reranker``'s defaults.
        retrievers: ready first stages by key (``bm25``, ``dense``, ``hybrid``).
        cache: rankshift cache directory for indexes.
        exclude_queries: queries never trained on.
        resume: continue from the last checkpoint in the output folder, if any.
        listener: also called with every progress report, from the job's thread, after the
            job's state is updated (e.g. a terminal progress bar). Calling :meth:`stop` from
            it on a ``Training`` report stops the run after exactly that step.
        clock: monotonic seconds (tests pass a fake).
    """

    def __init__(
        self,
        collection: Collection,
        qrels: Qrels,
        output_dir: str | Path,
        config: TrainConfig | None = None,
        *,
        settings: PipelineSettings | None = None,
        retrievers: Mapping[str, Any] | None = None,
        cache: str | Path | None = None,
        exclude_queries: Sequence[str] = (),
        resume: bool = True,
        listener: ProgressFn | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.collection = collection
        self.qrels: Qrels = {q: dict(docs) for q, docs in qrels.items()}
        self.output_dir = Path(output_dir).expanduser()
        self.key = job_key(self.output_dir)
        self.config = config or TrainConfig()
        self.settings = settings
        self.retrievers = retrievers
        self.cache = cache
        self.exclude_queries = tuple(exclude_queries)
        self.resume = resume
        self.listener = listener
        self._clock = clock
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._status: JobStatus = "pending"
        self._phase = "Waiting to start"
        self._done = 0
        self._total = 0
        self._phase_mark: tuple[float, int] | None = None  # (time, done) at the phase's 1st report
        self._last_report: float | None = None
        self._train_total: int | None = None
        self._started_at: float | None = None
        self._t0: float | None = None
        self._t1: float | None = None
        self._error: str | None = None
        self._result: TrainResult | None = None

    # -- control ---------------------------------------------------------------------

    def start(self) -> TrainingJob:
        """Start the thread (a second call does nothing). Returns the job."""
        with self._lock:
            if self._thread is not None:
                return self
            self._status = "running"
            self._phase = "Starting"
            self._started_at = time.time()
            self._t0 = self._clock()
            self._thread = threading.Thread(
                target=self._run, name=f"rankshift-train:{self.output_dir.name}", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Ask the job to stop: during training after the current step, with the checkpoint
        saved (start again with the same folder to resume); before training, at the next
        progress report, with nothing to keep. Validation, once begun, runs to the end."""
        self._stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Join the thread for up to ``timeout`` seconds. Returns True when the job is over."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return thread is not None and not thread.is_alive()

    # -- state -----------------------------------------------------------------------

    def state(self) -> JobState:
        """A consistent snapshot of the job (taken under the job's lock)."""
        with self._lock:
            now = self._clock()
            end = self._t1 if self._t1 is not None else now
            elapsed = end - self._t0 if self._t0 is not None else 0.0
            eta = None
            if self._status in ("pending", "running") and self._phase_mark and self._total:
                t_mark, done_mark = self._phase_mark
                last = self._last_report if self._last_report is not None else now
                if self._done > done_mark and last > t_mark:
                    rate = (self._done - done_mark) / (last - t_mark)
                    eta = max(0.0, (self._total - self._done) / rate - (now - last))
            return JobState(
                output_dir=str(self.output_dir),
                status=self._status,
                phase=self._phase,
                done=self._done,
                total=self._total,
                started_at=self._started_at,
                elapsed_s=max(0.0, elapsed),
                eta_s=eta,
                stop_requested=self._stop.is_set(),
                error=self._error,
                result=self._result,
            )

    # -- the thread ------------------------------------------------------------------

    def _progress(self, label: str, done: int, total: int) -> None:
        now = self._clock()
        with self._lock:
            if label != self._phase or self._phase_mark is None:
                self._phase = label
                self._phase_mark = (now, done)
            self._done, self._total = done, total
            self._last_report = now
            if label == TRAINING_PHASE:
                self._train_total = total
        if self.listener is not None:
            self.listener(label, done, total)
        # Before training there is no checkpoint to save: stop right away. In training the
        # trainer's own stop (after a step, with a checkpoint) is used; validation finishes.
        if self._stop.is_set() and label != TRAINING_PHASE and not label.startswith("Validating"):
            raise _Stopped

    def _run(self) -> None:
        status: JobStatus = "failed"
        error: str | None = None
        result: TrainResult | None = None
        try:
            retrievers = self.retrievers
            if retrievers is None and self.settings is not None:
                from rankshift.pipeline import Pipeline

                self._progress("Preparing the first stages", 0, 1)
                retrievers = Pipeline.from_settings(
                    self.collection,
                    self.settings.with_(reranker=None),
                    cache_dir=self.cache,
                    progress=self._progress,
                ).retrievers
            result = train_reranker(
                self.collection,
                self.qrels,
                self.output_dir,
                self.config,
                retrievers=retrievers,
                cache=self.cache,
                progress=self._progress,
                resume=self.resume,
                exclude_queries=self.exclude_queries,
                stop=lambda step: self._stop.is_set(),
            )
            with self._lock:
                train_total = self._train_total
            stopped = train_total is not None and result.steps < train_total
            status = "stopped" if stopped else "finished"
        except _Stopped:
            status = "stopped"
        except Exception as e:  # the job reports every failure; the thread never raises
            status = "failed"
            error = (
                str(e)
                if isinstance(e, ValueError | RuntimeError) and str(e)
                else f"{type(e).__name__}: {str(e)[:300]}"
            )
        with self._lock:
            self._status = status
            self._error = error
            self._result = result
            self._t1 = self._clock()
            if status == "finished":
                self._phase = "Finished"


# --------------------------------------------------------------------------------------
# The registry


class JobRegistry:
    """Training jobs by output folder. Thread-safe; one per process is enough."""

    def __init__(self) -> None:
        self._jobs: dict[str, TrainingJob] = {}
        self._order: list[str] = []
        self._lock = threading.Lock()

    def start(
        self,
        collection: Collection,
        qrels: Qrels,
        output_dir: str | Path,
        config: TrainConfig | None = None,
        **options: Any,
    ) -> TrainingJob:
        """Start a job for ``output_dir``, or return the one already running there.

        ``options`` are :class:`TrainingJob`'s keyword arguments. A folder whose last job is
        over (finished, stopped, failed) gets a new job, which resumes from the folder's last
        checkpoint unless ``resume=False``.
        """
        key = job_key(output_dir)
        with self._lock:
            job = self._jobs.get(key)
            if job is not None and job.state().active:
                return job
            job = TrainingJob(collection, qrels, output_dir, config, **options)
            self._jobs[key] = job
            if key in self._order:
                self._order.remove(key)
            self._order.append(key)
            return job.start()

    def resume(self, output_dir: str | Path) -> TrainingJob:
        """Start the folder's last job again with the same inputs; it resumes from its checkpoint.

        Raises:
            KeyError: no job has run in this folder.
        """
        old = self.get(output_dir)
        if old is None:
            raise KeyError(f"no training job for {output_dir}")
        return self.start(
            old.collection,
            old.qrels,
            old.output_dir,
            old.config,
            settings=old.settings,
            retrievers=old.retrievers,
            cache=old.cache,
            exclude_queries=old.exclude_queries,
            resume=True,
            listener=old.listener,
        )

    def get(self, output_dir: str | Path | None) -> TrainingJob | None:
        """The latest job of a folder, or None."""
        if not output_dir:
            return None
        with self._lock:
            return self._jobs.get(job_key(output_dir))

    def jobs(self) -> list[TrainingJob]:
        """Every folder's latest job, the most recently started last."""
        with self._lock:
            return [self._jobs[k] for k in self._order]

    def active(self) -> list[TrainingJob]:
        """Jobs that are still running."""
        return [j for j in self.jobs() if j.state().active]

    def __len__(self) -> int:
        with self._lock:
            return len(self._jobs)
