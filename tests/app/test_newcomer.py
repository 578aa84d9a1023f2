"""AppTest: a newcomer's first minute. With no loadable reranker the main area of Inspect and
Evaluate says so, and why, with buttons as ways out; the sidebar neither claims to rerank nor
quotes a cost. With a reranker that loads, the cost hint is an estimate until a query ran, then
the pair rate measured on this machine. An empty Inspect page offers two example queries.
"""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pytest
from inspector_fixture import QUERIES, QUERY, plain, write_collection

from rankshift.present import OTHER_RERANKER

DEFAULT_LABEL = "⚠ ms-marco-MiniLM-L-6-v2 (default, not available)"
NOTICE = "Reranking is unavailable"


@pytest.fixture
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache of this test's own: no pair rate measured before it, no trained models."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("RANKSHIFT_CACHE", str(cache))
    return cache


def _notices(at) -> list[str]:
    return [plain(w.value) for w in at.warning if NOTICE in w.value]


def _cost_captions(at) -> list[str]:
    return [plain(c.value) for c in at.sidebar.caption if c.value.startswith("K = ")]


def _ranking_frames(at) -> list:
    return [d.value for d in at.dataframe if {"rank", "snippet"} <= set(d.value.columns)]


TRAIN_QRELS = [("q3", "d10", 2), ("q3", "d02", 0)]


def _with_train_split(folder: Path) -> Path:
    """The fixture collection plus a ``train`` qrels split of another query (as the demo has)."""
    write_collection(folder)
    lines = ["query-id\tcorpus-id\tscore", *(f"{q}\t{d}\t{g}" for q, d, g in TRAIN_QRELS)]
    (folder / "qrels" / "train.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------- no reranker


def test_the_notice_says_why_and_the_sidebar_does_not_pretend(make_app, own_cache) -> None:
    at = make_app().run()  # the default Hub model is not on disk, downloads are off
    assert not at.exception, at.exception
    # Before any query, in the main area: reranking is unavailable, and the load error's sentence.
    [notice] = _notices(at)
    assert "Cannot load reranker 'cross-encoder/ms-marco-MiniLM-L-6-v2'" in notice
    assert "every list shows its first stage's order" in notice
    assert [b.label for b in at.main.button if b.key.startswith("inspect_notice_")] == [
        "Train a reranker",
        "Use another model id or folder…",
        "Use a reranker service",
    ]
    assert any("Type a query" in i.value for i in at.info)
    # The sidebar: the toggle is off and disabled, saying why; the model is marked; no cost.
    [toggle] = at.sidebar.toggle
    assert (toggle.key, toggle.value, toggle.disabled) == (
        "sidebar_rerank_unavailable",
        False,
        True,
    )
    assert "cannot load" in toggle.help
    box = at.sidebar.selectbox(key="sidebar_reranker_choice")
    assert box.options[0] == DEFAULT_LABEL
    assert not _cost_captions(at)

    # After a query: the lists are in first-stage order, the notice stays, still no cost.
    at.text_input(key="inspect_query").set_value(QUERY).run()
    assert not at.exception, at.exception
    assert len(_notices(at)) == 1
    frames = _ranking_frames(at)
    assert frames[-1]["doc_id"].tolist() == frames[-2]["doc_id"].tolist()
    assert not _cost_captions(at)


def test_other_id_and_service_buttons_open_the_sidebar_box(
    make_app, own_cache, tiny_cross_encoder_dir: Path
) -> None:
    at = make_app().run()
    at.button(key="inspect_notice_other").click().run()
    assert not at.exception, at.exception
    assert at.sidebar.selectbox(key="sidebar_reranker_choice").value == OTHER_RERANKER
    box = at.sidebar.text_input(key="sidebar_reranker")
    assert box.value == ""
    assert any("path of a model folder" in c.value for c in at.sidebar.caption)

    at.button(key="inspect_notice_service").click().run()
    assert not at.exception, at.exception
    hint = next(plain(c.value) for c in at.sidebar.caption if "backend:URL" in plain(c.value))
    for form in ("tei:http://127.0.0.1:8080", "cohere:", "voyage:", "mixedbread:"):
        assert form in hint, hint
    assert at.sidebar.text_input(key="sidebar_reranker").placeholder.startswith("e.g. tei:")

    # A folder that loads, typed into the box: the notice goes, the toggle is on again.
    at.sidebar.text_input(key="sidebar_reranker").set_value(str(tiny_cross_encoder_dir)).run()
    assert not at.exception, at.exception
    assert not _notices(at)
    assert at.sidebar.toggle(key="sidebar_rerank_on").value is True
    assert at.session_state["sidebar_context"].settings.reranker == str(tiny_cross_encoder_dir)


def test_train_button_opens_the_train_page_with_the_demo_recipe(
    make_app, own_cache, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = make_app()
    monkeypatch.setenv("RANKSHIFT_COLLECTION", str(_with_train_split(tmp_path / "coll")))
    at.run()
    at.button(key="inspect_notice_train").click().run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Train a reranker"
    assert any("Filled in with the demo recipe" in i.value for i in at.info)
    # `make demo-reranker`: split train (test kept out), validation on hybrid(zscore,w=0.5).
    assert at.multiselect(key="train_splits").value == ["train"]
    assert at.checkbox(key="train_exclude_test").value is True
    assert at.text_input(key="train_validation_stage").value == "hybrid(zscore,w=0.5)"
    assert not at.button(key="train_start").disabled
    assert any("validation" in plain(c.value).lower() for c in at.caption)  # the estimate


def test_a_bad_validation_stage_is_refused_on_the_train_page(make_app, own_cache) -> None:
    at = make_app().run()
    at.switch_page("app_pages/train.py").run()
    at.text_input(key="train_validation_stage").set_value("hybrid>ce").run()
    assert not at.exception, at.exception
    assert any("Not a first stage" in plain(e.value) for e in at.error)
    assert at.button(key="train_start").disabled


def test_evaluate_shows_the_notice_too(make_app, own_cache) -> None:
    at = make_app().run()
    at.switch_page("app_pages/evaluate.py").run()
    assert not at.exception, at.exception
    [notice] = _notices(at)
    assert "Reranked pipelines need a loadable reranker" in notice
    assert {b.key for b in at.main.button} >= {
        "evaluate_notice_train",
        "evaluate_notice_other",
        "evaluate_notice_service",
    }
    at.button(key="evaluate_notice_other").click().run()
    assert not at.exception, at.exception
    assert at.sidebar.selectbox(key="sidebar_reranker_choice").value == OTHER_RERANKER


def test_a_missing_folder_is_marked_and_named(make_app, own_cache, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-reranker"
    at = make_app(missing).run()
    assert not at.exception, at.exception
    [notice] = _notices(at)
    assert "no such folder" in notice
    assert at.sidebar.selectbox(key="sidebar_reranker_choice").options[0] == (
        "⚠ no-such-reranker (default, not available)"
    )
    assert at.sidebar.toggle(key="sidebar_rerank_unavailable").disabled


def test_a_service_that_is_down_is_marked_once_it_was_tried(make_app, own_cache) -> None:
    # Nothing predicts that a service is down: the first load says so, and the sidebar follows.
    spec = f"tei:http://127.0.0.1:{_closed_port()}"
    at = make_app(spec).run()
    assert not at.exception, at.exception
    [notice] = _notices(at)
    assert "cannot reach" in notice
    assert at.sidebar.toggle(key="sidebar_rerank_unavailable").value is False
    assert (
        at.sidebar.selectbox(key="sidebar_reranker_choice")
        .options[0]
        .endswith("(default, not available)")
    )
    assert not _cost_captions(at)


# ---------------------------------------------------------------------------- a reranker that loads


def test_cost_hint_is_an_estimate_then_the_measured_rate(
    make_app, own_cache: Path, tiny_cross_encoder_dir: Path
) -> None:
    at = make_app(tiny_cross_encoder_dir).run()
    assert not at.exception, at.exception
    assert not _notices(at)
    assert at.sidebar.toggle(key="sidebar_rerank_on").value is True
    [before] = _cost_captions(at)
    assert before.startswith("K = 50 means 50 query-document pairs")
    assert "by estimate" in before and "measured on this machine after the first query" in before

    # A query of this test's own: the app's result cache (one per process) has not seen it.
    at.text_input(key="inspect_query").set_value(f"{QUERY} {own_cache.parent.name}").run()
    assert not at.exception, at.exception
    metric = next(m for m in at.metric if m.label == "Rerank time")
    scored = int(re.match(r"(\d+) pairs scored", metric.help).group(1))
    assert scored > 0
    [after] = _cost_captions(at)
    record = json.loads((own_cache / "pair_rates.json").read_text())
    [entry] = record.values()
    rate = 1000 * entry["pairs"] / entry["ms"]
    assert entry["pairs"] == scored
    assert f"measured {rate:.0f} pairs/s on this machine over {scored} pairs" in after
    assert "estimate" not in after


def test_example_queries_are_one_click_from_the_rank_shift_view(
    make_app, own_cache, tiny_cross_encoder_dir: Path
) -> None:
    at = make_app(tiny_cross_encoder_dir).run()
    examples = [b for b in at.main.button if b.key.startswith("inspect_example_")]
    # Judged queries with a relevant document: q1 and q2 of the fixture's qrels.
    assert [b.label for b in examples] == [QUERIES["q1"], QUERIES["q2"]]
    examples[1].click().run()
    assert not at.exception, at.exception
    assert at.text_input(key="inspect_query").value == QUERIES["q2"]
    assert at.selectbox(key="inspect_pick").value == "q2"
    assert len(_ranking_frames(at)) == 4
    assert any(c.key == "inspect_shift_chart" for c in at.get("plotly_chart"))
    # With a query in the box the examples make way.
    assert not [b for b in at.main.button if b.key.startswith("inspect_example_")]


# ---------------------------------------------------------------------------- the words


def test_the_load_error_in_one_sentence_and_the_marked_label() -> None:
    from rankshift.present.first_minute import first_sentence, unavailable_label

    hub = (
        "Cannot load reranker 'x/y' (We couldn't connect to 'https://huggingface.co' to load the "
        "files, and couldn't find them in the cached files.). Provide it by running once online."
    )
    assert first_sentence(hub) == hub.split(" Provide")[0]
    assert first_sentence("tei: cannot reach http://h:1/info (refused); is it running?") == (
        "tei: cannot reach http://h:1/info (refused); is it running?"
    )
    assert unavailable_label("ms-marco (default)") == "⚠ ms-marco (default, not available)"
    assert unavailable_label("trained: demo") == "⚠ trained: demo (not available)"


def test_the_measured_rate_follows_the_latest_pairs(own_cache: Path) -> None:
    from rankshift.present.cost import RATE_WINDOW, measured_rate, record_rate

    assert measured_rate("m", 256) is None
    record_rate("m", 256, 100, 1000.0)  # 10 ms a pair
    record_rate("m", 256, 100, 3000.0)  # 30 ms a pair
    assert measured_rate("m", 256).ms_per_pair == pytest.approx(20.0)
    assert measured_rate("m", 512) is None  # per max_length
    record_rate("m", 256, RATE_WINDOW, RATE_WINDOW * 5.0)  # a window's worth at 5 ms
    rate = measured_rate("m", 256)
    assert rate.pairs <= RATE_WINDOW
    assert rate.ms_per_pair == pytest.approx(5.0)
