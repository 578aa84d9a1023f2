"""Training a reranker: a tiny real run through sentence-transformers' CrossEncoderTrainer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import BI_ENCODER, requires_model, tiny_train_config

from rankshift.corpus import Collection
from rankshift.rerank import CrossEncoderReranker, try_load_reranker
from rankshift.retrievers.bm25 import BM25Retriever
from rankshift.training.train import (
    ELAPSED_FILE,
    TrainConfig,
    interleave,
    train_reranker,
    trained_models,
)
from rankshift.types import Document, Query


def test_interleave_takes_rank_one_of_each_list_first() -> None:
    assert interleave([["a", "b", "c"], ["b", "d"], ["e"]]) == ["a", "b", "e", "d", "c"]


@pytest.fixture(scope="module")
def small_task(demo_collection: Collection) -> tuple[Collection, dict, list[str]]:
    """Eight training queries of the demo, and two test queries that must never be trained on."""
    train = dict(list(demo_collection.qrels["train"].items())[:8])
    test_ids = list(demo_collection.qrels["test"])[:2]
    qrels = {**train, **{q: demo_collection.qrels["test"][q] for q in test_ids}}
    return demo_collection, qrels, test_ids


def test_tiny_run_saves_a_folder_that_loads_like_any_model_id(
    small_task, tiny_cross_encoder_dir: Path, tmp_path: Path
) -> None:
    coll, qrels, test_ids = small_task
    bm25 = BM25Retriever(coll)
    out = tmp_path / "models" / "demo-tiny"
    result = train_reranker(
        coll,
        qrels,
        out,
        tiny_train_config(tiny_cross_encoder_dir),
        retrievers={"bm25": bm25},
        exclude_queries=test_ids,
    )
    assert result.steps == 4
    # No evaluation query reaches training or validation.
    assert not set(test_ids) & (set(result.split.train) | set(result.split.eval))
    assert set(result.split.train).isdisjoint(result.split.eval)
    # The folder loads through the same code path as a Hub id and scores pairs.
    reranker, error = try_load_reranker(str(out), max_length=96)
    assert error is None and isinstance(reranker, CrossEncoderReranker)
    assert reranker.revision.startswith("local-")
    docs = [coll.documents[d] for d in list(coll.documents)[:3]]
    pairs, scored = reranker.score("how do I cancel my subscription", docs)
    assert scored == 3 and len({round(p.score, 6) for p in pairs}) == 3
    # Model card and machine-readable record.
    card = (out / "README.md").read_text()
    assert str(tiny_cross_encoder_dir) in card and "lambda" in card and "nDCG@10" in card
    record = json.loads((out / "rankshift_training.json").read_text())
    assert record["steps"] == 4
    names = [m["name"] for m in record["validation"]]
    assert names[0].endswith("(first stage)") and "trained (k=5)" in names
    assert set(record["split"]["validation_query_ids"]) == set(result.split.eval)
    assert trained_models(tmp_path / "models") == [out]
    # The blend weights tried on the validation queries, and the best of them.
    grid = record["blend"]["ndcg10"]
    assert list(grid) == [f"{w / 10:g}" for w in range(11)]
    assert grid[f"{record['blend']['best']:g}"] == max(grid.values())
    first_stage = record["validation"][0]
    assert grid["1"] == pytest.approx(first_stage["ndcg10"])  # weight 1 is the first stage
    assert "Blend" in card


def test_a_bad_validation_stage_fails_before_training(
    small_task, tiny_cross_encoder_dir: Path, tmp_path: Path
) -> None:
    coll, qrels, _ = small_task
    config = tiny_train_config(tiny_cross_encoder_dir, rerank_input="hybrid(zscore,w=0.5)")
    with pytest.raises(ValueError, match="hybrid"):
        train_reranker(
            coll, qrels, tmp_path / "m", config, retrievers={"bm25": BM25Retriever(coll)}
        )
    assert not (tmp_path / "m" / "checkpoints").exists()


@requires_model
@pytest.mark.parametrize("head", ["mean", "cosine"])
def test_other_heads_save_folders_that_load_like_any_model_id(
    head: str, small_task, tmp_path: Path
) -> None:
    coll, qrels, test_ids = small_task
    out = tmp_path / f"demo-{head}"
    config = tiny_train_config(Path(BI_ENCODER), head=head, max_steps=2, validation_fraction=0.0)
    result = train_reranker(
        coll, qrels, out, config, retrievers={"bm25": BM25Retriever(coll)}, exclude_queries=test_ids
    )
    assert result.steps == 2
    assert f"`{head}`" in (out / "README.md").read_text()
    reranker, error = try_load_reranker(str(out), max_length=96)
    assert error is None and isinstance(reranker, CrossEncoderReranker)
    query = "how do I cancel my subscription"
    cancel = Document("c", "To cancel your subscription open Billing.", "Cancel a subscription")
    other = Document("o", "The Lisbon office is closed on public holidays.", "Office hours")
    pairs, scored = reranker.score(query, [cancel, other])
    assert scored == 2
    if head == "cosine":
        # Started from the bi-encoder, the cosine head ranks as it does after two tiny steps.
        assert pairs[0].score > pairs[1].score


def test_a_stopped_run_resumes_from_its_checkpoint(
    small_task, tiny_cross_encoder_dir: Path, tmp_path: Path
) -> None:
    coll, qrels, test_ids = small_task
    bm25 = BM25Retriever(coll)
    out = tmp_path / "resumable"
    cfg = tiny_train_config(tiny_cross_encoder_dir, loss="bce")
    first = train_reranker(
        coll, qrels, out, cfg, retrievers={"bm25": bm25}, exclude_queries=test_ids,
        stop=lambda step: step >= 2,
    )  # fmt: skip
    assert first.steps == 2
    assert (out / "checkpoints" / "checkpoint-2").is_dir()
    assert not (out / "model.safetensors").exists()  # an unfinished run leaves no model
    second = train_reranker(
        coll, qrels, out, cfg, retrievers={"bm25": bm25}, exclude_queries=test_ids
    )
    assert second.resumed_from_step == 2
    assert second.steps == 4
    assert (out / "model.safetensors").exists()
    # Run again on the finished folder: nothing left to train, validation runs again, and the
    # reported training time is still the whole run's, not this session's few milliseconds.
    saved = json.loads((out / "checkpoints" / "checkpoint-4" / ELAPSED_FILE).read_text())
    assert saved["train_seconds"] == pytest.approx(second.train_seconds, abs=0.5)
    weights = (out / "model.safetensors").read_bytes()
    third = train_reranker(
        coll, qrels, out, cfg, retrievers={"bm25": bm25}, exclude_queries=test_ids
    )
    assert (third.resumed_from_step, third.steps) == (4, 4)
    assert (out / "model.safetensors").read_bytes() == weights  # not one step more
    assert third.train_seconds >= saved["train_seconds"]


def test_judgments_without_known_queries_are_a_clear_error(
    small_task, tiny_cross_encoder_dir: Path, tmp_path: Path
) -> None:
    coll, _, _ = small_task
    with pytest.raises(ValueError, match="no training queries"):
        train_reranker(
            coll,
            {"no-such-query": {"hc-0001": 2}},
            tmp_path / "x",
            tiny_train_config(tiny_cross_encoder_dir),
            retrievers={"bm25": BM25Retriever(coll)},
        )


def test_train_command_runs(
    small_task, tiny_cross_encoder_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from rankshift.cli import main

    coll, qrels, _ = small_task
    # A qrels file with the eight training queries (the test split is excluded by default).
    qrels_file = tmp_path / "train.qrels"
    qrels_file.write_text(
        "".join(f"{q} 0 {d} {g}\n" for q, docs in qrels.items() for d, g in docs.items())
    )
    out = tmp_path / "cli-model"
    code = main(
        ["train", str(coll.path), "--judgments", str(qrels_file), "--out", str(out),
         "--base-model", str(tiny_cross_encoder_dir), "--max-steps", "2", "--batch-size", "2",
         "--max-length", "64", "--rerank-k", "5", "--unjudged-negatives", "1"]
    )  # fmt: skip
    assert code == 0
    captured = capsys.readouterr()
    assert f"Excluding {len(coll.qrels['test'])} queries of split(s) test" in captured.err
    assert "held-out queries" in captured.out and f"--reranker {out}" in captured.out
    assert (out / "model.safetensors").exists()


def test_a_base_model_that_cannot_load_is_named(tmp_path: Path) -> None:
    from rankshift.corpus import collection_from_documents
    from rankshift.models import ModelUnavailable

    coll = collection_from_documents(
        [Document("a", "alpha"), Document("b", "beta")], queries={"q": Query("q", "alpha")}
    )
    missing = tmp_path / "no-such-model"
    with pytest.raises(ModelUnavailable, match="no-such-model"):
        train_reranker(
            coll,
            {"q": {"a": 1, "b": 0}},
            tmp_path / "m",
            TrainConfig(base_model=str(missing), max_steps=1, validation_fraction=0.0),
            retrievers={"bm25": BM25Retriever(coll)},
        )


@requires_model
def test_auto_head_keeps_a_cross_encoders_head_and_gives_an_encoder_the_cosine_head(
    tiny_cross_encoder_dir: Path,
) -> None:
    from rankshift.training.train import resolve_head

    assert resolve_head(TrainConfig(base_model=str(tiny_cross_encoder_dir))) == "classifier"
    assert resolve_head(TrainConfig(base_model=BI_ENCODER)) == "cosine"
    assert resolve_head(TrainConfig(base_model=BI_ENCODER, head="mean")) == "mean"
