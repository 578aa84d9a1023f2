"""Batch runs on a Ray cluster: ``rankshift eval --ray [ADDRESS]``.

A :class:`RayExecutor` is passed to :meth:`BatchRunner.run
<rankshift.evaluation.runner.BatchRunner.run>` in place of the in-process loop. Where the work
runs:

* **First stages** run in this process (the driver), where the indexes are: built or loaded from
  the cache once, never shipped. They take milliseconds a query; reranking takes the time.
* **Reranking** runs in Ray actors (:class:`RerankWorker`), each loading the reranker once and
  taking one GPU when the cluster has GPUs; otherwise one actor per machine, using its CPUs as
  threads. Results are then the same as in process, to the last digit, on the same kind of CPU;
  with more CPU workers than machines each has fewer threads, and a few scores can differ in the
  last digits (float sums in another order) though the rankings rarely do.
* **Results** come back to the driver, which writes the checkpoints, the TREC runs and the
  report exactly as the in-process runner does; a resumed run skips finished queries the same
  way.

What is sent to a worker: when it starts, the reranker spec and its max length, the pair-cache
folder and the Hugging Face and rankshift environment variables set here; per query,
the query (id and text), the first stage's top-K (ids and scores) and those K documents (title,
text, metadata). Never the indexes, the qrels or the rest of the collection.

A worker that dies (killed, out of memory, its machine gone) is replaced, and its queries are
sent again; a query whose worker died on every one of ``tries`` attempts keeps its first-stage
order with the reason, as an in-process reranker failure does, and is not checkpointed, so the
next run reranks it again.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rankshift._lazy import require
from rankshift.evaluation.runner import (
    QueryJobs,
    RerankerVariants,
    first_stage_record,
    rerank_record,
)
from rankshift.evaluation.specs import PipelineSpec
from rankshift.types import Document, Query, StageResult

if TYPE_CHECKING:
    from rankshift.evaluation.runner import BatchRunner

WORKER_ENV = (
    "HF_HOME",
    "HF_HUB_CACHE",
    "HF_HUB_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "TOKENIZERS_PARALLELISM",
    "RANKSHIFT_CACHE",
)
"""Environment variables passed on to the workers when set here (where models load from)."""

LOCAL_ONLY_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
"""Set to ``0`` before Ray is imported, Ray binds every server of a local instance to 127.0.0.1."""

Records = dict[PipelineSpec, dict[str, Any]]


class RerankWorker:
    """The Ray actor: one loaded reranker, scoring the queries the driver sends.

    A reranker that cannot load is not an error here: every query it is sent comes back in
    first-stage order with the load error as the reason, as in process.
    """

    def __init__(
        self, reranker: str, max_length: int, cache_dir: str | None, threads: int = 0
    ) -> None:
        from rankshift.rerank import PairScoreCache, try_load_reranker

        if threads:
            require("torch").set_num_threads(threads)

        cache = PairScoreCache(Path(cache_dir) / "pair_scores.sqlite") if cache_dir else None
        base, error = try_load_reranker(reranker, max_length, cache=cache)
        self.variants = RerankerVariants(base, error)

    def rerank(
        self,
        query: Query,
        jobs: list[tuple[str | None, StageResult, dict[str, Any]]],
        documents: dict[str, Document],
    ) -> list[dict[str, Any]]:
        """One query's reranked records: per job, ``(passages, first stage, rerank options)``."""
        records = []
        for passages, stage, options in jobs:
            reranker, error = self.variants.get(passages)
            records.append(
                rerank_record(
                    reranker, query, stage, documents, unavailable_message=error, **options
                )
            )
        return records

    def pid(self) -> int:
        return os.getpid()


@dataclass
class _Task:
    query: Query
    specs: list[PipelineSpec]
    """The reranked specs the query still needs."""
    firsts: dict[str, StageResult]
    records: Records
    """Its first-stage records, ready."""
    tries: int = 0
    slot: int = -1
    actor: Any = None


@dataclass
class RayExecutor:
    """Reranks a batch's queries in Ray actors (see the module docs).

    Args:
        address: a running cluster as ``ray.init`` takes it (``HOST:PORT``, ``auto``,
            ``ray://HOST:10001``); ``None`` starts a Ray instance in this process, on 127.0.0.1
            only, stopped when the batch ends.
        workers: how many actors; default one per GPU of the cluster, else one per machine,
            each using its share of the cluster's CPUs as threads.
        tries: attempts per query before it falls back to first-stage order.
        queued: queries sent ahead to each worker, so none waits for the driver.
        log: called with one line per event a user should see (workers started, one died).
    """

    address: str | None = None
    workers: int | None = None
    tries: int = 3
    queued: int = 2
    log: Callable[[str], None] | None = None
    lost_workers: int = field(default=0, init=False)
    """Workers that died during the last run (and were replaced)."""
    resent_queries: int = field(default=0, init=False)
    """Queries sent again after their worker died."""

    def __post_init__(self) -> None:
        if self.address is None or _on_loopback(self.address):
            # Read by Ray when it is imported: a local instance then serves on 127.0.0.1 only,
            # and a loopback address is not swapped for this machine's network address.
            os.environ.setdefault(LOCAL_ONLY_ENV, "0")
        require("ray")  # fail now, with the install hint, not after the indexes are built

    def __call__(self, runner: BatchRunner, jobs: QueryJobs) -> Iterator[tuple[Query, Records]]:
        started = self._connect()
        ray = require("ray")
        try:
            yield from self._run(ray, runner, jobs)
        finally:
            if started:
                ray.shutdown()

    def _say(self, message: str) -> None:
        if self.log is not None:
            self.log(message)

    def _connect(self) -> bool:
        """Join the cluster, or start a local one; True when this call started Ray."""
        ray = require("ray")
        if ray.is_initialized():
            return False
        options: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.WARNING}
        if self.address is None:
            options.update(address="local", include_dashboard=False)
        else:
            options["address"] = self.address
        try:
            ray.init(**options)
        except (ConnectionError, RuntimeError, ValueError) as e:
            where = self.address or "a local instance"
            raise RuntimeError(f"cannot start Ray on {where}: {e}") from e
        return True

    def _run(
        self, ray: Any, runner: BatchRunner, jobs: QueryJobs
    ) -> Iterator[tuple[Query, Records]]:
        settings = runner.settings
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        if gpus:
            count, threads = self.workers or gpus, 0
        else:
            # One worker per machine by default, using all its CPUs: a worker then runs with the
            # thread count of an in-process run, so its float sums, and scores, are the same.
            machines = sum(1 for n in ray.nodes() if n.get("Alive") and n["Resources"].get("CPU"))
            count = self.workers or max(1, machines)
            threads = max(1, int(resources.get("CPU", 1)) // count)
        env = {k: os.environ[k] for k in WORKER_ENV if k in os.environ}
        actor_class = ray.remote(RerankWorker).options(
            num_gpus=1 if gpus else 0,
            num_cpus=threads,
            max_restarts=0,
            runtime_env={"env_vars": env} if env else None,
        )
        cache = runner.pipeline.cache_dir
        cache_dir = str(cache) if cache is not None else None

        def start() -> Any:
            return actor_class.remote(
                settings.reranker or "", settings.max_length, cache_dir, threads
            )

        actors = [start() for _ in range(count)]
        each = "one GPU" if gpus else f"{threads} CPU{'s' if threads > 1 else ''}"
        self._say(
            f"ray: {count} reranking worker{'s' if count > 1 else ''} ({each} each) on "
            f"{self.address or 'a local instance'}"
        )
        self.lost_workers = self.resent_queries = 0
        busy = [0] * count
        pending: dict[Any, _Task] = {}

        def submit(task: _Task) -> None:
            slot = min(range(count), key=busy.__getitem__)
            stage_of = {sp: task.firsts[sp.stage_key] for sp in task.specs}
            ids = {r.doc_id for sp, st in stage_of.items() for r in st.top(settings.k)}
            docs = {
                d: runner.collection.documents[d] for d in ids if d in runner.collection.documents
            }
            work = [(sp.passages, st, runner.rerank_options(sp)) for sp, st in stage_of.items()]
            task.slot, task.actor = slot, actors[slot]
            task.tries += 1
            busy[slot] += 1
            pending[task.actor.rerank.remote(task.query, work, docs)] = task

        source = iter(jobs)
        exhausted = False
        answered = 0  # queries a worker reranked (or answered with a reranker's own failure)
        try:
            while True:
                while not exhausted and len(pending) < count * self.queued:
                    job = next(source, None)
                    if job is None:
                        exhausted = True
                        break
                    query, specs = job
                    firsts = runner.first_stages(query, specs)
                    records = {
                        sp: first_stage_record(query, firsts[sp.stage_key])
                        for sp in specs
                        if not sp.rerank
                    }
                    reranked = [sp for sp in specs if sp.rerank]
                    if reranked:
                        submit(_Task(query, reranked, firsts, records))
                    else:
                        yield query, records
                if not pending:
                    return
                [ref], _ = ray.wait(list(pending), num_returns=1)
                task = pending.pop(ref)
                busy[task.slot] -= 1
                try:
                    out = ray.get(ref)
                    answered += 1
                except ray.exceptions.RayActorError as e:
                    if actors[task.slot] is task.actor:
                        self.lost_workers += 1
                        if not answered and self.lost_workers >= count * self.tries:
                            raise RuntimeError(
                                f"every Ray worker died before it reranked a query (last: "
                                f"{_reason(e)}); check that each machine of the cluster has "
                                "rankshift installed and enough memory for the reranker"
                            ) from e
                        self._say(f"ray: a worker died ({_reason(e)}); starting another")
                        ray.kill(task.actor, no_restart=True)
                        actors[task.slot] = start()
                    if task.tries < self.tries:
                        self.resent_queries += 1
                        submit(task)
                        continue
                    out = [
                        rerank_record(
                            None,
                            task.query,
                            task.firsts[sp.stage_key],
                            {},
                            unavailable_message=(
                                f"the Ray worker reranking this query died on all {task.tries} "
                                f"tries ({_reason(e)}); first-stage order kept"
                            ),
                            missing_status="failed",
                            **runner.rerank_options(sp),
                        )
                        for sp in task.specs
                    ]
                except ray.exceptions.RayTaskError as e:
                    # Not a reranker failure (those come back as fallback records): e.g. a
                    # candidate missing from the collection. Raised as it is in process.
                    raise e.as_instanceof_cause() from None
                yield task.query, {**task.records, **dict(zip(task.specs, out, strict=True))}
        finally:
            for actor in actors:
                ray.kill(actor, no_restart=True)


def _on_loopback(address: str) -> bool:
    """True for ``127.0.0.1:6379``, ``localhost:6379``, ``[::1]:6379`` and the like."""
    host = address.split("://")[-1].rsplit(":", 1)[0].strip("[]")
    return host == "localhost" or host == "::1" or host.startswith("127.")


def _reason(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0][:160] if text else type(error).__name__
