"""AppTest: the Train page (a tiny real training job) and the sidebar's reranker choices.

The fixture collection has three queries and only a ``test`` split; the tests train on it
(the page keeps it out by default, as ``rankshift train`` does) plus one stored label, with
the tiny cross-encoder as base model: two steps at 64 tokens.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from inspector_fixture import plain

from rankshift.judgments import JudgmentStore
from rankshift.present import OTHER_RERANKER

PAGE = "app_pages/train.py"
TIMEOUT = 300


def _open(at):
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def _progress_texts(at) -> list[str]:
    return [p.proto.text for p in at.get("progress")]


def _wait(at, done, timeout: float = TIMEOUT):
    """Rerun the page (as its polling fragment would) until ``done(at)``."""
    deadline = time.monotonic() + timeout
    while not done(at):
        assert time.monotonic() < deadline, "the training job did not get there in time"
        time.sleep(1.0)
        at.run()
        assert not at.exception, at.exception
    return at


def _tiny_job(at, base: Path, max_steps: int) -> None:
    at.multiselect(key="train_splits").set_value(["test"]).run()
    at.text_input(key="train_base_model").set_value(str(base))
    at.number_input(key="train_max_steps").set_value(max_steps)
    at.select_slider(key="train_max_length").set_value(64)
    at.number_input(key="train_batch_size").set_value(2)
    at.number_input(key="train_negatives").set_value(2)
    at.number_input(key="train_validation").set_value(0.35).run()
    assert not at.exception, at.exception


@pytest.fixture
def judgments_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    db = tmp_path / "judgments.sqlite"
    monkeypatch.setenv("RANKSHIFT_JUDGMENTS", str(db))
    return db


def test_a_tiny_job_trains_and_its_model_becomes_the_reranker(
    make_app, tiny_cross_encoder_dir: Path, judgments_db: Path
) -> None:
    at = _open(make_app().run())
    assert at.title[0].value == "Train a reranker"
    # Only a test split, kept out by default: nothing to train on yet.
    assert at.checkbox(key="train_exclude_test").value is True
    assert any("Nothing to train on" in i.value for i in at.info)
    assert at.button(key="train_start").disabled

    collection = at.session_state["sidebar_context"].collection
    with JudgmentStore(judgments_db) as store:
        store.save(collection.name, "q3", "d10", "alice", 2)
    # Choosing the test split to train on lifts the guard, as `rankshift train --split test`.
    _tiny_job(at, tiny_cross_encoder_dir, max_steps=2)
    assert at.checkbox(key="train_exclude_test").value is False
    captions = [plain(c.value) for c in at.caption]
    assert any("From split test (4 judgments), stored labels (1 judgments)" in c for c in captions)
    # Three queries, 35 % held out: one for validation, two to train on, two steps.
    estimate = next(c for c in captions if "held out for validation" in c)
    assert "2 queries train and 1 are held out" in estimate and "2 steps" in estimate

    at.button(key="train_start").click().run()
    assert not at.exception, at.exception
    job_dir = Path(at.session_state["train_job"])
    assert job_dir.parent.name == "models" and job_dir.name.startswith(f"{collection.name}-lambda")
    assert at.button(key="train_start").disabled  # one job at a time

    _wait(at, lambda at: any(b.key == "train_use" for b in at.button))
    assert not _progress_texts(at)
    assert any("Trained:" in s.value for s in at.success)
    summary = next(d.value for d in at.dataframe if "nDCG@10" in d.value.columns)
    ranking = summary["ranking"].tolist()
    assert ranking[:3] == ["first stage", "base", "trained"]
    assert ranking[3:] in ([], ["blended"])  # the best blend, when it beats the model alone
    assert summary.loc[0, "name"].endswith("(first stage)")
    assert summary["MRR@10"].between(0, 1).all()
    assert any("2 steps in" in plain(c.value) for c in at.caption)
    assert (job_dir / "model.safetensors").exists()

    # "Use this reranker" makes it the sidebar's cross-encoder, listed as a trained model.
    at.button(key="train_use").click().run()
    assert not at.exception, at.exception
    box = at.sidebar.selectbox(key="sidebar_reranker_choice")
    assert box.value == str(job_dir)
    assert f"trained: {job_dir.name}" in box.options
    assert at.session_state["sidebar_context"].settings.reranker == str(job_dir)
    assert at.button(key="train_use").disabled


def test_stop_keeps_the_checkpoint_and_offers_resume(
    make_app, tiny_cross_encoder_dir: Path, judgments_db: Path
) -> None:
    at = _open(make_app().run())
    _tiny_job(at, tiny_cross_encoder_dir, max_steps=40)
    at.button(key="train_start").click().run()
    assert not at.exception, at.exception
    _wait(at, lambda at: any("Training: step" in t for t in _progress_texts(at)))
    at.button(key="train_stop").click().run()
    assert not at.exception, at.exception
    _wait(at, lambda at: any("Stopped at step" in w.value for w in at.warning))
    warning = next(w.value for w in at.warning if "Stopped at step" in w.value)
    assert "the checkpoint is kept" in warning
    job_dir = Path(at.session_state["train_job"])
    assert list((job_dir / "checkpoints").glob("checkpoint-*"))
    assert not (job_dir / "model.safetensors").exists()
    assert any(b.key == "train_resume" for b in at.button)
    assert not at.button(key="train_start").disabled


def test_sidebar_lists_trained_models_and_any_id(make_app, trained_model_dir: Path) -> None:
    at = make_app().run()
    at.switch_page("app_pages/about.py").run()  # only the sidebar matters here
    box = at.sidebar.selectbox(key="sidebar_reranker_choice")
    # The default comes from config.preferred_reranker(), with its reason.
    assert box.value == "cross-encoder/ms-marco-MiniLM-L-6-v2"
    assert box.options[0] == "⚠ ms-marco-MiniLM-L-6-v2 (default, not available)"
    assert "trained: tiny-reseeded" in box.options
    assert box.options[-1] == "other id or folder…"
    assert any(c.value.startswith("Default:") for c in at.sidebar.caption)

    box.set_value(str(trained_model_dir)).run()
    assert not at.exception
    assert at.session_state["sidebar_context"].settings.reranker == str(trained_model_dir)

    at.sidebar.selectbox(key="sidebar_reranker_choice").set_value(OTHER_RERANKER).run()
    at.sidebar.text_input(key="sidebar_reranker").set_value("some/other-model").run()
    assert not at.exception
    assert at.session_state["sidebar_context"].settings.reranker == "some/other-model"


def test_rankshift_reranker_sets_the_default(make_app, tiny_cross_encoder_dir: Path) -> None:
    at = make_app(tiny_cross_encoder_dir).run()
    assert at.sidebar.selectbox(key="sidebar_reranker_choice").value == str(tiny_cross_encoder_dir)
    assert any("set by RANKSHIFT\\_RERANKER" in c.value for c in at.sidebar.caption)
    assert at.session_state["sidebar_context"].settings.reranker == str(tiny_cross_encoder_dir)
