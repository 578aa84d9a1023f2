"""Training jobs: train_reranker in a background thread, with state, stop/resume and a registry.

The real runs are the tiny ones of test_train.py: eight demo training queries, a cross-encoder
built from the bi-encoder (``tiny_cross_encoder_dir``), four steps of two lists at 96 tokens.
"""

from __future__ import annotations

import math
import threading
from pathlib import Path

import pytest
from support import tiny_train_config

from rankshift.corpus import Collection, collection_from_documents
from rankshift.retrievers.bm25 import BM25Retriever
from rankshift.training.jobs import (
    INFER_PAIRS_PER_SECOND_AT_256,
    JobRegistry,
    TrainingJob,
    estimate_training,
    fresh_output_dir,
    job_key,
    model_dir,
    training_set,
)
from rankshift.training.train import TrainConfig, trained_models
from rankshift.types import Document, Query

TIMEOUT = 300  # seconds; a tiny run takes a few on two cores, more when they are busy


@pytest.fixture(scope="module")
def small_task(demo_collection: Collection) -> tuple[Collection, dict, list[str], BM25Retriever]:
    """Eight training queries of the demo and two test queries that must never be trained on."""
    train = dict(list(demo_collection.qrels["train"].items())[:8])
    test_ids = list(demo_collection.qrels["test"])[:2]
    qrels = {**train, **{q: demo_collection.qrels["test"][q] for q in test_ids}}
    return demo_collection, qrels, test_ids, BM25Retriever(demo_collection)


def _threads(folder: Path) -> int:
    return sum(t.name == f"rankshift-train:{folder.name}" for t in threading.enumerate())


def test_a_job_trains_in_the_background_once_per_folder(
    small_task, tiny_cross_encoder_dir: Path, tmp_path: Path
) -> None:
    coll, qrels, test_ids, bm25 = small_task
    out = tmp_path / "models" / "demo-job"
    phases: list[str] = []
    registry = JobRegistry()
    options = dict(
        retrievers={"bm25": bm25},
        exclude_queries=test_ids,
        listener=lambda label, done, total: phases.append(label),
    )
    job = registry.start(coll, qrels, out, tiny_train_config(tiny_cross_encoder_dir), **options)
    # A second start of the same folder (a double click, another tab) is the same job.
    again = registry.start(coll, qrels, out, tiny_train_config(tiny_cross_encoder_dir), **options)
    assert again is job and len(registry) == 1
    assert _threads(out) == 1
    assert job.state().active and registry.active() == [job]

    assert job.wait(TIMEOUT)
    state = job.state()
    assert state.finished and not state.active, state.error
    assert state.phase == "Finished" and state.error is None
    assert state.output_dir == str(out)
    assert state.elapsed_s > 0 and state.started_at is not None
    result = state.result
    assert result is not None and result.steps == 4
    assert not set(test_ids) & (set(result.split.train) | set(result.split.eval))
    # Every phase train_reranker reports, in order, reached the job.
    assert list(dict.fromkeys(phases))[:2] == ["Mining hard negatives", "Training"]
    assert phases[-1].startswith("Validating trained")
    # First stage, base model, trained model on the held-out queries.
    assert [m.name.split(" ")[0] for m in result.validation if m.kind != "blended"] == [
        "bm25(lucene,k1=1.5,b=0.75)",
        "base:",
        "trained",
    ]
    assert (out / "model.safetensors").exists()
    assert trained_models(tmp_path / "models") == [out]
    assert registry.active() == [] and registry.jobs() == [job]


def test_stop_keeps_the_checkpoint_and_resume_continues_from_it(
    small_task, tiny_cross_encoder_dir: Path, tmp_path: Path
) -> None:
    coll, qrels, test_ids, bm25 = small_task
    out = tmp_path / "resumable"
    registry = JobRegistry()
    job: list[TrainingJob] = []

    def stop_after_step_2(label: str, done: int, total: int) -> None:
        if label == "Training" and done == 2:
            job[0].stop()

    job.append(
        registry.start(
            coll,
            qrels,
            out,
            tiny_train_config(tiny_cross_encoder_dir, loss="bce"),
            retrievers={"bm25": bm25},
            exclude_queries=test_ids,
            listener=stop_after_step_2,
        )
    )
    assert job[0].wait(TIMEOUT)
    stopped = job[0].state()
    assert stopped.stopped and stopped.stop_requested, stopped.error
    assert stopped.result is not None and stopped.result.steps == 2
    assert (out / "checkpoints" / "checkpoint-2").is_dir()
    assert not (out / "model.safetensors").exists()  # no model from an unfinished run

    resumed = registry.resume(out)
    assert resumed is not job[0] and registry.get(out) is resumed
    assert resumed.wait(TIMEOUT)
    state = resumed.state()
    assert state.finished, state.error
    assert state.result is not None
    assert state.result.resumed_from_step == 2 and state.result.steps == 4
    assert (out / "model.safetensors").exists()


def test_a_stop_before_training_ends_the_job_with_nothing_to_resume(
    small_task, tiny_cross_encoder_dir: Path, tmp_path: Path
) -> None:
    coll, qrels, test_ids, bm25 = small_task
    job: list[TrainingJob] = []
    out = tmp_path / "early"

    def stop_while_mining(label: str, done: int, total: int) -> None:
        if label == "Mining hard negatives":
            job[0].stop()

    job.append(
        TrainingJob(
            coll,
            qrels,
            out,
            tiny_train_config(tiny_cross_encoder_dir),
            retrievers={"bm25": bm25},
            exclude_queries=test_ids,
            listener=stop_while_mining,
        )
    )
    job[0].start()
    assert job[0].wait(TIMEOUT)
    state = job[0].state()
    assert state.stopped and state.result is None and state.error is None
    assert state.phase == "Mining hard negatives" and state.done == 1
    assert not (out / "checkpoints").exists()


def test_a_failure_is_reported_not_raised(small_task, tmp_path: Path) -> None:
    coll, qrels, test_ids, bm25 = small_task
    missing = tmp_path / "no-such-model"
    job = TrainingJob(
        coll,
        qrels,
        tmp_path / "failing",
        TrainConfig(base_model=str(missing), max_steps=1, candidate_depth=5),
        retrievers={"bm25": bm25},
        exclude_queries=test_ids,
    ).start()
    assert job.wait(TIMEOUT)
    state = job.state()
    assert state.failed and state.result is None
    assert state.error is not None and "no-such-model" in state.error


def test_eta_is_measured_from_the_current_phase(tmp_path: Path) -> None:
    coll = collection_from_documents([Document("a", "alpha")], queries={"q": Query("q", "alpha")})
    now = [100.0]
    job = TrainingJob(coll, {"q": {"a": 1}}, tmp_path / "eta", clock=lambda: now[0])
    assert job.state().status == "pending" and job.state().elapsed_s == 0
    # The thread is never started: the progress callback is driven by hand, as
    # train_reranker drives it.
    job._progress("Training", 1, 10)
    assert job.state().eta_s is None  # one report: no pace yet
    now[0] = 104.0
    job._progress("Training", 3, 10)  # 2 steps in 4 s
    assert job.state().eta_s == pytest.approx((10 - 3) * 4 / 2)
    now[0] = 105.0  # a second since the last report counts against the estimate
    state = job.state()
    assert state.eta_s == pytest.approx((10 - 3) * 4 / 2 - 1)
    assert state.fraction == pytest.approx(0.3)
    job._progress("Validating trained", 1, 4)  # a new phase starts a new measurement
    assert job.state().eta_s is None and job.state().phase == "Validating trained"


def test_folders(tmp_path: Path) -> None:
    assert model_dir("my model/v1", tmp_path) == tmp_path / "my-model-v1"
    with pytest.raises(ValueError):
        model_dir(" /// ", tmp_path)
    target = tmp_path / "run"
    assert fresh_output_dir(target) == target
    target.mkdir()
    (tmp_path / "run-2").mkdir()
    assert fresh_output_dir(target) == tmp_path / "run-3"
    assert job_key(tmp_path / "a" / ".." / "run") == str(target.resolve())


# ---------------------------------------------------------------------------- data and cost

DOCS = [
    Document("cat", "A cat purrs."),
    Document("dog", "A dog plays."),
    Document("bird", "A bird can fly."),
    Document("fish", "A fish swims."),
]
QUERIES = {
    f"q{i}": Query(f"q{i}", text)
    for i, text in enumerate(
        ["what flies", "what swims", "what purrs", "what plays", "what barks"], 1
    )
}


@pytest.fixture
def pets() -> Collection:
    return collection_from_documents(
        DOCS,
        name="pets",
        queries=QUERIES,
        qrels={
            "train": {"q1": {"bird": 2, "fish": 0}, "q2": {"fish": 1}, "q3": {"cat": 1}},
            "test": {"q4": {"dog": 2}},
        },
    )


def test_training_set_merges_like_the_cli_and_keeps_the_test_split_out(pets) -> None:
    stored = {"q1": {"fish": 1}, "q4": {"cat": 0}, "q5": {"dog": 1}}
    ts = training_set(pets, ["train"], stored, exclude_splits=["test"])
    # Stored labels come last and win for the same pair.
    assert ts.qrels["q1"] == {"bird": 2, "fish": 1}
    assert ts.sources == ("split train (4 judgments)", "stored labels (3 judgments)")
    # q4 is a test query: its stored label is kept out like its qrels.
    assert ts.exclude_queries == ("q4",) and ts.excluded_splits == ("test",)
    assert ts.usable_queries == ("q1", "q2", "q3", "q5")
    assert training_set(pets, ["train", "test"]).usable_queries == ("q1", "q2", "q3", "q4")
    with pytest.raises(ValueError, match="no qrels split 'dev'"):
        training_set(pets, ["dev"])


def test_estimate_follows_train_reranker_arithmetic(pets) -> None:
    ts = training_set(pets, ["train"], exclude_splits=["test"])
    cfg = TrainConfig(
        epochs=2,
        batch_size=2,
        unjudged_negatives=3,
        validation_fraction=0.34,
        max_length=128,
        rerank_k=30,
    )
    est = estimate_training(pets, ts, cfg, train_pairs_per_second=4.0)
    # Three usable queries, 34 % held out: round(1.02) = 1 for validation, 2 train.
    assert (est.train_queries, est.validation_queries) == (2, 1)
    from rankshift.training.data import split_seeded

    split = split_seeded(ts.usable_queries, 0.34, 0)
    judged = [len(ts.qrels[q]) for q in split.train]
    # Listwise: one list per query of its judged documents plus three unjudged negatives.
    assert est.rows == 2
    assert est.steps == math.ceil(math.ceil(2 / 2) * 2)
    assert est.pairs_per_step == pytest.approx(sum(j + 3 for j in judged) / 2 * 2)
    assert est.train_seconds == pytest.approx(est.steps * est.pairs_per_step / 4.0 * 128 / 256)
    # Validation: base and trained model each score every candidate (4 documents < K).
    assert est.validation_seconds == pytest.approx(
        1 * 4 * 2 / INFER_PAIRS_PER_SECOND_AT_256 * 128 / 256
    )
    assert "2 queries train and 1 are held out" in est.describe()

    pairs = estimate_training(
        pets, ts, TrainConfig(loss="bce", batch_size=4, max_steps=7, unjudged_negatives=1)
    )
    assert pairs.steps == 7 and pairs.pairs_per_step == pytest.approx(4)
    nothing = estimate_training(pets, training_set(pets, []), cfg)
    assert nothing.rows == 0 and nothing.steps == 0 and nothing.train_seconds == 0
