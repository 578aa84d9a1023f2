"""Ranking quality end to end, once: a reranker trained here moves relevant documents up.

The other training tests check plumbing with a few steps. This one trains a small reranker (the
cosine head on the bi-encoder, a few dozen demo training queries) in a session fixture and
evaluates it the way a user would, with ``rankshift eval`` over BM25's top 20 on the demo's
held-out test queries: it must lift relevant documents from below BM25's top 10 into it, and
help more queries than it hurts. (A few steps do not make it beat BM25 on average: the demo's
full recipe, ``make demo-reranker``, takes 123 steps; the README gives its figures.)
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import BI_ENCODER, requires_model, tiny_train_config

from rankshift.cli import main
from rankshift.corpus import Collection
from rankshift.retrievers.bm25 import BM25Retriever
from rankshift.training.train import train_reranker

pytestmark = requires_model


@pytest.fixture(scope="session")
def trained_reranker(demo_collection: Collection, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A reranker trained on 32 of the demo's training queries (none of its test queries)."""
    test_ids = set(demo_collection.qrels["test"])
    train = {q: d for q, d in demo_collection.qrels["train"].items() if q not in test_ids}
    qrels = dict(sorted(train.items())[:32])
    out = tmp_path_factory.mktemp("models") / "quality-reranker"
    config = tiny_train_config(
        Path(BI_ENCODER),
        head="cosine",
        loss="lambda",
        max_steps=8,
        batch_size=4,
        max_length=128,
        unjudged_negatives=4,
        validation_fraction=0.0,
        candidate_depth=20,
        save_steps=100,
    )
    train_reranker(
        demo_collection,
        qrels,
        out,
        config,
        retrievers={"bm25": BM25Retriever(demo_collection)},
        exclude_queries=sorted(test_ids),
    )
    return out


def test_a_trained_reranker_lifts_relevant_documents_into_the_top_10(
    trained_reranker: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "eval"
    code = main(
        [
            "eval", "data/demo", "--split", "test", "--pipelines", "bm25,bm25>ce(blend=0.5)", "-k", "20",
            "--reranker", str(trained_reranker), "--max-length", "128", "--out", str(out),
            "--limit", "30",
        ]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    report = json.loads((out / "report.json").read_text())
    ndcg = {r["spec"]: r["mean"]["nDCG@10"] for r in report["runs"].values()}
    (comparison,) = report["comparisons"]
    assert comparison["counts"]["helped"] > comparison["counts"]["hurt"], (
        comparison["counts"],
        ndcg,
    )
    promoted = [m for v in comparison["verdicts"] for m in v["promoted"]]
    assert promoted, "no relevant document was moved into the top 10"
    assert all(m["grade"] >= 1 and m["reranked_rank"] <= 10 < m["first_rank"] for m in promoted)
