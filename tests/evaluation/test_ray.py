"""`rankshift eval --ray`: a real local Ray cluster (2 CPUs on 127.0.0.1, started and stopped
here) reranks the demo's test queries; the runs and the report's metrics equal an in-process
run's exactly, also when a worker is killed mid-run."""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import ROOT

from rankshift.cli import main

if importlib.util.find_spec("ray") is None:  # not imported here: the CLI sets how Ray binds
    pytest.skip("needs ray (pip install 'rankshift[ray]')", allow_module_level=True)

PIPELINES = "bm25,hybrid>ce"


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[str]:
    """``ray start --head`` with 2 CPUs, every server on 127.0.0.1; the address ``HOST:PORT``."""
    port, dash, agent, grpc, metrics = _free_ports(5)
    # Short: Ray's unix socket paths live under it and must stay under 108 characters.
    temp = Path(tempfile.mkdtemp(prefix="rs-ray-", dir="/tmp"))
    log = temp / "start.log"
    ray_cli = Path(sys.executable).parent / "ray"
    cmd = [
        str(ray_cli), "start", "--head", "--block", "--num-cpus", "2",
        "--node-ip-address", "127.0.0.1", "--port", str(port),
        "--include-dashboard", "false", "--dashboard-port", str(dash),
        "--dashboard-agent-listen-port", str(agent), "--dashboard-agent-grpc-port", str(grpc),
        "--metrics-export-port", str(metrics), "--disable-usage-stats", "--temp-dir", str(temp),
    ]  # fmt: skip
    # Token authentication with a token of the test's own, for the cluster and this process (the
    # driver); never the user's ~/.ray/auth_token.
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    saved = {k: os.environ.get(k) for k in auth}
    os.environ.update(auth)
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    with log.open("w") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 120
        while "Ray runtime started" not in log.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"ray start failed:\n{log.read_text()}")
            time.sleep(0.3)
        yield f"127.0.0.1:{port}"
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        shutil.rmtree(temp, ignore_errors=True)


def _argv(tiny: Path, out: Path, cache: Path, *extra: str) -> list[str]:
    return [
        "eval", str(ROOT / "data" / "demo"), "--split", "test", "--pipelines", PIPELINES,
        "--reranker", str(tiny), "--max-length", "128", "-k", "10", "--resamples", "200",
        "--out", str(out), "--cache-dir", str(cache), *extra,
    ]  # fmt: skip


@pytest.fixture(scope="module")
def reference(tiny_cross_encoder_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same evaluation in process: its output folder (its cache is beside it)."""
    base = tmp_path_factory.mktemp("in-process")
    assert main(_argv(tiny_cross_encoder_dir, base / "out", base / "cache")) == 0
    return base


def _fresh_cache(reference: Path, tmp_path: Path) -> Path:
    """A cache with the reference's indexes but no pair scores: the workers score every pair."""
    cache = tmp_path / "cache"
    shutil.copytree(reference / "cache" / "indexes", cache / "indexes")
    assert not (cache / "pair_scores.sqlite").exists()
    return cache


def _metrics(out: Path) -> dict:
    """What the report measured, without timings and file paths."""
    report = json.loads((out / "report.json").read_text())
    return {
        "query_ids": report["query_ids"],
        "runs": {
            spec: {k: run[k] for k in ("name", "mean", "per_query", "fallback_queries")}
            for spec, run in report["runs"].items()
        },
        "comparisons": [
            {k: c[k] for k in ("tests", "verdicts", "counts", "calibration", "mean_kendall_tau")}
            for c in report["comparisons"]
        ],
        "shift": report["shift"],
    }


def _assert_same_as(reference: Path, out: Path) -> None:
    ref_runs = sorted((reference / "out" / "runs").glob("*.trec"))
    assert [p.name for p in ref_runs] == sorted(p.name for p in (out / "runs").glob("*.trec"))
    for path in ref_runs:
        assert (out / "runs" / path.name).read_bytes() == path.read_bytes(), path.name
    assert _metrics(out) == _metrics(reference / "out")


def _worker_pids() -> list[int]:
    """Ray's reranking actors on this machine (their process title is ``ray::RerankWorker``)."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and (proc / "cmdline").read_bytes().startswith(
                b"ray::RerankWorker"
            ):
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


def _no_workers_left(timeout: float = 60) -> bool:
    """True once no reranking actor runs on this machine (Ray stops killed actors shortly
    after the run returns, not before)."""
    deadline = time.monotonic() + timeout
    while _worker_pids():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def test_eval_on_a_ray_cluster_equals_the_in_process_run(
    ray_cluster, reference, tiny_cross_encoder_dir, tmp_path, capsys
):
    out = tmp_path / "out"
    cache = _fresh_cache(reference, tmp_path)
    argv = _argv(tiny_cross_encoder_dir, out, cache, "--ray", ray_cluster)
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert f"ray: 1 reranking worker (2 CPUs each) on {ray_cluster}" in err
    _assert_same_as(reference, out)
    # The workers scored the pairs themselves (no score came from the reference's cache).
    report = json.loads((out / "report.json").read_text())
    assert report["runs"]["hybrid>ce"]["cached_fraction"] == 0.0
    assert _no_workers_left()  # the actors end with the run

    # Resumed from the checkpoints: nothing is reranked again, the result is the same.
    assert main(argv) == 0
    assert "resumed 59 finished queries" in capsys.readouterr().err
    _assert_same_as(reference, out)


def test_a_worker_killed_mid_run_is_replaced_and_the_result_is_the_same(
    ray_cluster, reference, tiny_cross_encoder_dir, tmp_path, capsys
):
    out = tmp_path / "out"
    cache = _fresh_cache(reference, tmp_path)
    assert _no_workers_left()  # the worker killed below is this run's
    killed: list[int] = []
    stop = threading.Event()

    def kill_one_worker_after_some_queries() -> None:
        while not stop.is_set():
            done = sum(
                len(p.read_text().splitlines()) - 1 for p in (out / "checkpoints").glob("*.jsonl")
            ) if (out / "checkpoints").exists() else 0  # fmt: skip
            pids = _worker_pids()
            if done >= 10 and pids:
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_one_worker_after_some_queries, daemon=True)
    killer.start()
    try:
        assert main(_argv(tiny_cross_encoder_dir, out, cache, "--ray", ray_cluster)) == 0
    finally:
        stop.set()
        killer.join(5)
    err = capsys.readouterr().err
    assert len(killed) == 1, "the run ended before a worker could be killed"
    assert "ray: a worker died" in err
    assert "ray: 1 worker was lost and replaced;" in err
    assert "the reranker failed on" not in err  # every query was reranked on a retry
    _assert_same_as(reference, out)


def test_a_query_whose_worker_dies_on_every_try_keeps_its_first_stage_order(
    ray_cluster, tiny_cross_encoder_dir, demo_collection, tmp_path
):
    from rankshift.evaluation import BatchRunner
    from rankshift.evaluation.distributed import RayExecutor
    from rankshift.pipeline import PipelineSettings

    settings = PipelineSettings(k=10, n=10, reranker=str(tiny_cross_encoder_dir), max_length=128)
    runner = BatchRunner.from_settings(
        demo_collection, "bm25>ce", settings, cache_dir=tmp_path / "cache"
    )
    queries = [demo_collection.queries[q] for q in list(demo_collection.qrels["test"])[:8]]
    assert _no_workers_left()  # the worker killed below is this run's
    killed: list[int] = []

    def kill_after_the_first_query(label: str, done: int, total: int) -> None:
        if done == 1 and not killed:
            killed.extend(_worker_pids())
            os.kill(killed[0], signal.SIGKILL)

    executor = RayExecutor(ray_cluster, tries=1)
    out = tmp_path / "out"
    result = runner.run(
        queries, out_dir=out, progress=kill_after_the_first_query, executor=executor
    )
    assert executor.lost_workers == 1
    failed = result.unfinished["bm25>ce"]
    assert failed, "no query was in flight on the killed worker"
    run = result.runs["bm25>ce"]
    first = result.runs["bm25"]
    for q in failed:
        info = run.rerank[q]
        assert info["status"] == "failed"
        assert "the Ray worker reranking this query died on all 1 tries" in info["message"]
        assert run.rankings[q] == first.rankings[q]  # first-stage order, first-stage scores

    # Not checkpointed: the next run (here in process) reranks exactly those queries.
    again = runner.run(queries, out_dir=out)
    assert again.computed_queries == len(failed)
    reference = BatchRunner(runner.pipeline, "bm25>ce").run(queries)
    assert again.runs["bm25>ce"].rankings == reference.runs["bm25>ce"].rankings
    assert not again.unfinished
