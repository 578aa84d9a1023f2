"""Training-data export: query-level splits, pair/triple/list rows, files, and a real fine-tune."""

from __future__ import annotations

import json

import pytest
from eval_fixtures import TEST_QRELS, TRAIN_QRELS, load_pets

from rankshift.training.data import (
    COLUMNS,
    QuerySplit,
    build_training_data,
    export_training_data,
    load_for_loss,
    split_by_qrels,
    split_seeded,
)


@pytest.fixture
def pets(tmp_path):
    return load_pets(tmp_path / "pets")


def test_seeded_split_is_reproducible_disjoint_and_order_free():
    ids = [f"q{i}" for i in range(20)]
    a = split_seeded(ids, eval_fraction=0.25, seed=3)
    b = split_seeded(list(reversed(ids)), eval_fraction=0.25, seed=3)
    assert a == b
    assert len(a.eval) == 5 and len(a.train) == 15
    assert set(a.train) | set(a.eval) == set(ids) and not set(a.train) & set(a.eval)
    assert split_seeded(ids, 0.25, seed=4).eval != a.eval
    assert len(split_seeded(["x", "y"], 0.1).eval) == 1  # at least one eval query


def test_qrels_split_keeps_shared_queries_out_of_training():
    split = split_by_qrels({"a": {"d": 1}, "b": {"d": 1}}, {"b": {"e": 1}, "c": {"e": 1}})
    assert split.train == ("a",) and split.eval == ("b", "c")
    assert split.removed_from_train == ("b",)
    with pytest.raises(ValueError, match="both train and eval"):
        QuerySplit(train=("a", "b"), eval=("b",), method="seeded")


def test_rows_use_judged_negatives_and_optional_unjudged_ones(pets):
    qrels = {"t1": TEST_QRELS["t1"]}  # bird1: 3, bird2: 1, bird3: 1, fish1: 0
    candidates = {"t1": ["bird1", "fish1", "cat1", "bird2", "dog1"]}
    data = build_training_data(pets, qrels, candidates, ["t1"], max_grade=3)
    text = pets.documents
    # Pairs: every judged pair, label = grade / 3; unjudged candidates are not used by default.
    assert [(p["passage"], p["label"], p["grade"]) for p in data.pairs] == [
        (text["bird1"].full_text, 1.0, 3),
        (text["fish1"].full_text, 0.0, 0),
        (text["bird2"].full_text, pytest.approx(1 / 3), 1),
        (text["bird3"].full_text, pytest.approx(1 / 3), 1),
    ]
    # Triples: each of the three positives with the one judged hard negative (fish1).
    assert len(data.triples) == 3
    assert {t["negative"] for t in data.triples} == {text["fish1"].full_text}
    assert all(list(t) == list(COLUMNS["triples"]) for t in data.triples)
    (lst,) = data.listwise
    assert lst["labels"] == [3, 0, 1, 1]  # first-stage order, bird3 (not retrieved) last

    more = build_training_data(pets, qrels, candidates, ["t1"], max_grade=3, unjudged_negatives=1)
    unjudged = [p for p in more.pairs if not p["judged"]]
    assert [(p["passage"], p["label"]) for p in unjudged] == [(text["cat1"].full_text, 0.0)]
    assert {t["negative"] for t in more.triples} == {
        text["fish1"].full_text,
        text["cat1"].full_text,
    }
    few = build_training_data(pets, qrels, candidates, ["t1"], unjudged_negatives=2,
                              negatives_per_positive=1)  # fmt: skip
    assert len(few.triples) == 3 and {t["negative"] for t in few.triples} == {
        text["fish1"].full_text
    }


def test_export_loads_with_datasets_and_fine_tunes_a_cross_encoder(
    pets, tiny_cross_encoder_dir, tmp_path
):
    import datasets
    from sentence_transformers import CrossEncoder
    from sentence_transformers.cross_encoder import (
        CrossEncoderTrainer,
        CrossEncoderTrainingArguments,
    )
    from sentence_transformers.cross_encoder.losses import MultipleNegativesRankingLoss

    split = split_by_qrels(pets.qrels["train"], pets.qrels["test"])
    candidates = {
        q: [d for d, _ in sorted(judged.items())] + ["turtle1", "snake1"]
        for q, judged in {**TRAIN_QRELS, **TEST_QRELS}.items()
    }
    out = tmp_path / "export"
    result = export_training_data(
        pets,
        split,
        pets.qrels["train"],
        pets.qrels["test"],
        candidates,
        out,
        formats=("jsonl", "parquet"),
        unjudged_negatives=1,
        source="test",
    )
    manifest = json.loads((out / "split.json").read_text())
    assert not set(manifest["train_queries"]) & set(manifest["eval_queries"])
    assert manifest["max_grade"] == 3 and result.counts["triples.train"] > 0
    eval_texts = {pets.queries[q].text for q in split.eval}
    cache = tmp_path / "hf-datasets"

    triples = datasets.load_dataset(
        "json", data_files=str(out / "triples.train.jsonl"), split="train", cache_dir=str(cache)
    )
    assert triples.column_names == ["query", "positive", "negative"]
    assert not set(triples["query"]) & eval_texts  # no evaluation query leaked into training
    pairs = load_for_loss(out, "pairs", "train", fmt="parquet", cache_dir=cache)
    assert pairs.column_names == ["query", "passage", "label"]
    assert all(0.0 <= x <= 1.0 for x in pairs["label"])
    lists = load_for_loss(out, "listwise", "eval", cache_dir=cache)
    assert lists.column_names == ["query", "docs", "labels"]

    model = CrossEncoder(str(tiny_cross_encoder_dir), device="cpu")
    args = CrossEncoderTrainingArguments(
        output_dir=str(tmp_path / "train"),
        max_steps=2,
        per_device_train_batch_size=2,
        learning_rate=1e-5,
        use_cpu=True,
        report_to="none",
        save_strategy="no",
        logging_strategy="no",
        disable_tqdm=True,
        dataloader_num_workers=0,
        seed=0,
    )
    trainer = CrossEncoderTrainer(
        model=model,
        args=args,
        train_dataset=triples.select(range(min(6, len(triples)))),
        loss=MultipleNegativesRankingLoss(model, num_negatives=1),
    )
    state = trainer.train()
    assert trainer.state.global_step == 2
    assert state.training_loss == state.training_loss  # a number, not NaN
