"""What the app says about a collection as users bring it: the summary with the documents left
out, the first open's stages with their estimates, and progress with the time left."""

from __future__ import annotations

from dataclasses import replace

import pytest

from rankshift.corpus import collection_from_documents
from rankshift.evaluation.metrics import check_qrels
from rankshift.present.collection import (
    ENCODE_DOCS_PER_SECOND_AT_256,
    MODEL_LOAD_S,
    collection_summary,
    collection_warnings,
    encode_seconds,
    first_open_plan,
    plan_title,
    progress_text,
    stage_line,
)
from rankshift.present.evaluate import no_judgments_message, qrels_problems_markdown
from rankshift.types import Document


@pytest.fixture
def collection():
    # 300 documents of 2,375 characters: 500 tokens each, so encoding is capped at 256 tokens.
    docs = [Document(f"d{i}", "word " * 475) for i in range(300)]
    return replace(collection_from_documents(docs, name="big"), empty_documents=("x", "y"))


def test_the_summary_counts_what_was_left_out(collection):
    assert collection_summary(collection) == (
        "300 documents · 0 queries · 2 empty documents left out"
    )
    assert collection_warnings(collection) == [
        "2 empty documents left out: 'x', 'y': their text is empty, so no first stage can "
        "return them."
    ]
    assert collection_warnings(replace(collection, empty_documents=())) == []


def test_the_first_open_plan_estimates_each_stage(collection):
    plan = first_open_plan(
        collection, ["bm25", "dense", "reranker"], bi_encoder="mini", reranker="ce"
    )
    assert [(s.key, s.label) for s in plan] == [
        ("bm25", "BM25 index over 300 documents"),
        ("bi-encoder", "Loading the bi-encoder mini"),
        ("dense", "Encoding 300 documents with the bi-encoder"),
        ("reranker", "Loading the reranker ce"),
    ]
    encode = 300 / ENCODE_DOCS_PER_SECOND_AT_256  # every document at the 256-token cap
    assert plan[2].seconds == pytest.approx(encode) == encode_seconds(collection)
    assert plan[1].seconds == MODEL_LOAD_S
    assert plan_title(plan) == (
        f"Preparing the search: about {sum(s.seconds for s in plan):.0f} s, once per "
        "collection and model"
    )


def test_a_second_open_reads_the_indexes_from_disk(collection):
    plan = first_open_plan(collection, ["bm25", "dense"], bi_encoder="m", cached=["bm25", "dense"])
    assert [(s.label, s.cached) for s in plan] == [
        ("BM25 index, from the cache on disk", True),
        ("Loading the bi-encoder m", False),
        ("Dense index, from the cache on disk", True),
    ]
    assert sum(s.seconds for s in plan) < 10
    assert first_open_plan(collection, []) == []  # nothing pending: no status box at all


def test_stage_lines_wait_run_and_finish(collection):
    stage = first_open_plan(collection, ["dense"], bi_encoder="m")[1]
    assert stage_line(stage) == (
        ":material/schedule: Encoding 300 documents with the bi-encoder: about 21 s"
    )
    assert stage_line(stage, active=True).startswith(":material/progress_activity: Encoding")
    assert stage_line(stage, 9.04) == (
        ":material/check: Encoding 300 documents with the bi-encoder: 9.0 s"
    )


def test_progress_text_gives_the_rate_and_the_time_left():
    assert progress_text("Encoding documents", 0, 408, 0.0) == "Encoding documents: 0 of 408"
    assert progress_text("Encoding documents", 100, 400, 4.0) == (
        "Encoding documents: 100 of 400 · 25 per second · about 12 s left"
    )
    assert progress_text("Encoding documents", 400, 400, 16.0) == "Encoding documents: 400 of 400"


def test_the_evaluate_page_texts(collection):
    problems = check_qrels({"q": {"d1": 1, "nope": 2}}, collection, "split test")
    warning = qrels_problems_markdown(problems, strict=False)
    assert warning.startswith("**Some judged ids are not in this collection**")
    assert warning.count("\n- ") == 2  # unknown document, unknown query
    error = qrels_problems_markdown(problems, strict=True)
    assert "strict mode is on" in error and error.split("\n\n")[1] == warning.split("\n\n")[1]
    assert "Judge page" in no_judgments_message(True)
    assert "qrels/*.tsv" in no_judgments_message(False)
