"""AppTest: the Inspect page, driven through its widgets, checked on what it renders.

The real bi-encoder and an untrained cross-encoder built from it (``tiny_cross_encoder_dir``)
load offline; the collection is a dozen documents, so every run takes about a second once
the models are cached in this process.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from inspector_fixture import IMG_TEXT, QUERY, SCRIPT_TEXT, plain

from rankshift import Pipeline, load_collection
from rankshift.pipeline import make_hybrid
from rankshift.rerank import CrossEncoderReranker
from rankshift.retrievers.bm25 import BM25Retriever
from rankshift.retrievers.dense import DenseRetriever

MARKER = re.compile(r"^(▲\d+|▼\d+|=|new|dropped)$")


def _frames(at, column: str) -> list:
    return [d.value for d in at.dataframe if column in d.value.columns]


def _table(at, key: str):
    """The table with widget key ``key``: its frame, and its column headings as shown."""
    table = next(d for d in at.dataframe if d.key == key)
    config = json.loads(table.proto.columns or "{}")
    headings = {c: config.get(c, {}).get("label", c) for c in table.value.columns}
    return table.value, headings


def _ranking_frames(at) -> list:
    """The side-by-side rankings: the frames with a rank column and a snippet."""
    return [d.value for d in at.dataframe if {"rank", "snippet"} <= set(d.value.columns)]


def _search(at, text: str = QUERY):
    at.text_input(key="inspect_query").set_value(text).run()
    assert not at.exception, at.exception
    return at


def test_first_load_asks_for_a_query(make_app) -> None:
    at = make_app().run()
    assert not at.exception
    assert any("Type a query" in i.value for i in at.info)
    # The shared sidebar loaded the collection named by RANKSHIFT_COLLECTION.
    assert any("12 documents" in plain(c.value) for c in at.sidebar.caption)


@pytest.mark.parametrize("text", ["the of and", "   ", "?!"])
def test_empty_or_stopword_query_gets_a_friendly_message(make_app, text: str) -> None:
    at = _search(make_app().run(), text)
    assert at.info, "expected a friendly message"
    assert not _ranking_frames(at)


def test_missing_reranker_shows_banner_and_first_stage_order(make_app) -> None:
    at = _search(make_app().run())
    banners = [plain(w.value) for w in at.warning]
    assert any(
        "Reranking is unavailable" in b
        and "Cannot load reranker 'cross-encoder/ms-marco-MiniLM-L-6-v2'" in b
        for b in banners
    ), banners
    frames = _ranking_frames(at)
    assert len(frames) == 4
    hybrid, reranked = frames[2], frames[3]
    assert reranked["doc_id"].tolist() == hybrid["doc_id"].tolist()
    assert any("Nothing was reranked" in i.value for i in at.info)
    # The notice offers the ways out (tests/app/test_newcomer.py follows each of them).
    assert "Train a reranker" in [b.label for b in at.button]


def test_four_rankings_with_markers_ranks_and_grades(make_app, tiny_cross_encoder_dir) -> None:
    at = make_app(tiny_cross_encoder_dir).run()
    at.selectbox(key="inspect_pick").select("q1").run()  # a judged query: grades appear
    assert at.text_input(key="inspect_query").value == QUERY
    assert not at.exception
    frames = _ranking_frames(at)
    assert len(frames) == 4
    n = at.slider(key="sidebar_n").value
    for frame in frames:
        # BM25 returns only documents that share a term with the query; the others fill N.
        assert frame["rank"].tolist() == list(range(1, len(frame) + 1))
        assert len(frame) <= n
        assert "grade" in frame.columns
    assert len(frames[2]) == len(frames[3]) == n
    reranked = frames[3]
    assert all(MARKER.match(m) for m in reranked["shift"]), reranked["shift"].tolist()
    # d01 is judged 2 for q1 wherever it appears.
    bm25 = frames[0]
    assert bm25.loc[bm25["doc_id"] == "d01", "grade"].tolist() == [2]
    # Each row knows the document's rank in the other lists.
    hybrid = frames[2]
    first = reranked.iloc[0]
    assert first["Hybrid"] == hybrid.loc[hybrid["doc_id"] == first["doc_id"], "rank"].item()
    assert next(m.label for m in at.metric).startswith("Kendall's τ")


def _library_result(settings, collection_path: str, bi_encoder, tmp_path: Path):
    """The same query through the library alone: fresh indexes, its own reranker."""
    collection = load_collection(collection_path)
    bm25 = BM25Retriever(collection, cache_dir=tmp_path)
    dense = DenseRetriever(collection, settings.bi_encoder, cache_dir=tmp_path, model=bi_encoder)
    reranker = CrossEncoderReranker(settings.reranker, settings.max_length)
    retrievers = {"bm25": bm25, "dense": dense, "hybrid": make_hybrid(bm25, dense, settings)}
    return Pipeline(collection, settings, retrievers, reranker).run(QUERY)


def test_dropped_table_lists_what_the_library_audit_dropped(
    make_app, tiny_cross_encoder_dir, bi_encoder, tmp_path: Path
) -> None:
    at = make_app(tiny_cross_encoder_dir).run()
    at.slider(key="sidebar_n").set_value(3).run()
    _search(at)
    context = at.session_state["sidebar_context"]
    settings = context.settings
    assert settings.n == 3

    expected = _library_result(settings, context.collection.path, bi_encoder, tmp_path)
    audit = expected.audits[settings.rerank_input]
    assert audit.dropped, "the fixture should make the untrained reranker drop something"

    dropped, headings = _table(at, "inspect_dropped")
    promoted, _ = _table(at, "inspect_promoted") if audit.promoted else (None, None)
    assert dropped["doc_id"].tolist() == [r.doc_id for r in audit.dropped]
    if promoted is not None:
        assert promoted["doc_id"].tolist() == [r.doc_id for r in audit.promoted]
    # Margin below the cut-off is the N-th reranked score minus the document's score; with
    # no blend both are the cross-encoder's, and the heading says so.
    row = dropped.iloc[0]
    assert row["margin"] == pytest.approx(audit.cutoff_score - audit.dropped[0].rerank_score)
    assert row["first_rank"] == audit.dropped[0].first_rank
    assert headings["margin"] == "margin below the cut, on the cross-encoder score"
    assert headings["ce_score"] == "cross-encoder score"
    assert "blended_score" not in dropped
    titles = [plain(m.value) for m in at.markdown]
    assert f"**Dropped from the top-3 by the reranker ({len(audit.dropped)})**" in titles
    # Against the stage the reranker reordered, every document was its candidate.
    assert not any(t.startswith("**Not a candidate") for t in titles)
    # The slope chart and the score figures are there.
    charts = at.get("plotly_chart")
    assert len(charts) >= 4


def test_comparing_with_another_first_stage(make_app, tiny_cross_encoder_dir) -> None:
    at = _search(make_app(tiny_cross_encoder_dir).run())
    at.segmented_control(key="inspect_against").set_value("bm25").run()
    assert not at.exception
    assert any("Rank shifts: BM25" in m.value for m in at.markdown)


def test_flat_untrained_reranker_is_flagged(make_app, tiny_cross_encoder_dir) -> None:
    at = _search(make_app(tiny_cross_encoder_dir).run())
    assert any("scores are flat" in plain(w.value) for w in at.warning)
    tau = next(m for m in at.metric if m.label.startswith("Kendall"))
    assert re.match(r"^-?\d\.\d\d$", tau.value)


def test_document_view_shows_untrusted_text_literally(make_app, tiny_cross_encoder_dir) -> None:
    at = _search(make_app(tiny_cross_encoder_dir).run())
    for doc_id, needle in (("d05", SCRIPT_TEXT), ("d06", IMG_TEXT)):
        at.selectbox(key="inspect_doc").set_value(doc_id).run()
        assert not at.exception
        bodies = [m for m in at.markdown if "pwned" in m.value]
        assert bodies, f"{doc_id}'s text is not shown"
        for m in bodies:
            assert not m.proto.allow_html
            # Every < is backslash-escaped, so markdown cannot read it as a tag.
            assert not re.search(r"(?<!\\)<", m.value), m.value
            assert needle in plain(m.value).replace(":orange-background[", "").replace("]", "")
    # Nothing anywhere on the page is rendered as raw HTML.
    assert not at.get("html")
    assert all(not m.proto.allow_html for m in at.markdown)


def test_document_view_marks_text_beyond_the_window(make_app, tiny_cross_encoder_dir) -> None:
    at = make_app(tiny_cross_encoder_dir).run()
    at.select_slider(key="sidebar_max_length").set_value(128).run()
    _search(at)
    at.selectbox(key="inspect_doc").set_value("d08").run()
    assert any("Not seen by the reranker" in m.value for m in at.markdown)
    at.selectbox(key="inspect_doc").set_value("d10").run()
    assert any("saw all of this document" in c.value for c in at.caption)


def test_settings_change_reuses_indexes(
    make_app, tiny_cross_encoder_dir, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _search(make_app(tiny_cross_encoder_dir).run())

    def rebuilt(*args, **kwargs):
        raise AssertionError("an index was rebuilt for a setting that does not affect it")

    from rankshift.retrievers.bm25 import BM25Retriever
    from rankshift.retrievers.dense import DenseRetriever

    monkeypatch.setattr(BM25Retriever, "__init__", rebuilt)
    monkeypatch.setattr(DenseRetriever, "__init__", rebuilt)
    at.selectbox(key="sidebar_fusion").set_value("minmax").run()
    assert not at.exception, at.exception
    assert any("hybrid(minmax,w=0.5)" in plain(c.value) for c in at.caption)
    at.slider(key="sidebar_k").set_value(10).run()
    at.slider(key="sidebar_n").set_value(4).run()
    assert not at.exception, at.exception
    assert all(len(f) == 4 for f in _ranking_frames(at))


def test_repeated_query_comes_from_the_caches(make_app, tiny_cross_encoder_dir) -> None:
    at = _search(make_app(tiny_cross_encoder_dir).run())
    # Changing N reruns the pipeline, but every pair score is already cached.
    at.slider(key="sidebar_n").set_value(5).run()
    assert next(m for m in at.metric if m.label == "Rerank time").value == "cached"
    # The same query with the same settings is served whole from the result cache.
    at.text_input(key="inspect_query").set_value(QUERY + " ").run()
    at.text_input(key="inspect_query").set_value(QUERY).run()
    assert any("Served from the result cache" in c.value for c in at.caption)
    # The sidebar now quotes the measured cost of K.
    assert any("pairs/s" in c.value for c in at.sidebar.caption)


def test_bi_encoder_that_cannot_load_falls_back_to_bm25(make_app) -> None:
    at = make_app().run()
    at.text_input(key="sidebar_bi_encoder").set_value("/no/such/bi-encoder").run()
    _search(at)
    assert any("Dense and hybrid retrieval are off" in plain(w.value) for w in at.warning)
    frames = _ranking_frames(at)
    assert len(frames) == 2  # BM25 and the (not) reranked list


def test_a_second_reranker_gets_its_own_column(
    make_app, tiny_cross_encoder_dir, trained_model_dir, bi_encoder, tmp_path: Path
) -> None:
    at = _search(make_app(tiny_cross_encoder_dir).run())
    assert len(_ranking_frames(at)) == 4
    at.toggle(key="inspect_compare_on").set_value(True).run()
    assert not at.exception, at.exception
    picker = at.selectbox(key="inspect_compare_model")
    # The sidebar's reranker is not offered against itself.
    assert str(tiny_cross_encoder_dir) not in picker.options
    picker.set_value(str(trained_model_dir)).run()
    assert not at.exception, at.exception

    frames = _ranking_frames(at)
    assert len(frames) == 5
    first, second = frames[3], frames[4]
    # Both reranked lists carry shift markers against the same first stage.
    for frame in (first, second):
        assert all(MARKER.match(m) for m in frame["shift"]), frame["shift"].tolist()
    assert any(m.value == "**tiny\\-reseeded**" for m in at.markdown)
    assert "tiny-reseeded" in first.columns and "Reranked" in second.columns

    # The second list is the library's: the same candidates reranked by that model.
    context = at.session_state["sidebar_context"]
    settings = context.settings
    expected = _library_result(settings, context.collection.path, bi_encoder, tmp_path)
    collection = load_collection(context.collection.path)
    other = CrossEncoderReranker(str(trained_model_dir), settings.max_length)
    bm25 = BM25Retriever(collection, cache_dir=tmp_path)
    dense = DenseRetriever(collection, settings.bi_encoder, cache_dir=tmp_path, model=bi_encoder)
    retrievers = {"bm25": bm25, "dense": dense, "hybrid": make_hybrid(bm25, dense, settings)}
    library = Pipeline(collection, settings, retrievers).rerank_second(expected, other)
    n = settings.n
    assert second["doc_id"].tolist() == [r.doc_id for r in library.stage.ranking[:n]]
    assert first["doc_id"].tolist() == [r.doc_id for r in expected.stages["reranked"].ranking[:n]]
    assert any("against the sidebar's reranker" in plain(c.value) for c in at.caption)


def test_blend_slider_mixes_the_first_stage_back_in(make_app, tiny_cross_encoder_dir) -> None:
    at = _search(make_app(tiny_cross_encoder_dir).run())
    hybrid, reranked = _ranking_frames(at)[2:4]
    assert at.session_state["sidebar_context"].settings.blend == 0.0
    at.slider(key="sidebar_blend").set_value(1.0).run()
    assert not at.exception
    assert at.session_state["sidebar_context"].settings.blend == 1.0
    hybrid_after, blended = _ranking_frames(at)[2:4]
    # All the weight on the first stage: the reranked column is the hybrid's order again.
    assert blended["doc_id"].tolist() == hybrid_after["doc_id"].tolist()
    assert hybrid_after["doc_id"].tolist() == hybrid["doc_id"].tolist()
    assert reranked["doc_id"].tolist() != hybrid["doc_id"].tolist()  # it was not, unblended
    # The column says it is blended.
    assert any(plain(m.value) == "**Reranked (blend 1)**" for m in at.markdown), [
        m.value for m in at.markdown
    ]


def test_a_document_the_reranker_never_saw_is_not_a_candidate_not_dropped(
    make_app, tiny_cross_encoder_dir, bi_encoder, tmp_path: Path
) -> None:
    at = make_app(tiny_cross_encoder_dir).run()
    # The reranker reorders dense's top-5; BM25's top-5 holds documents dense ranks lower.
    at.selectbox(key="sidebar_rerank_input").set_value("dense").run()
    at.slider(key="sidebar_k").set_value(5).run()
    at.slider(key="sidebar_n").set_value(5).run()
    _search(at)
    context = at.session_state["sidebar_context"]
    settings = context.settings
    assert (settings.rerank_input, settings.k, settings.n) == ("dense", 5, 5)
    expected = _library_result(settings, context.collection.path, bi_encoder, tmp_path)
    bm25 = expected.audits["bm25"]
    candidates = {r.doc_id for r in expected.stages["reranked"].ranking}
    outsiders = [
        r.doc_id for r in expected.stages["bm25"].ranking[:5] if r.doc_id not in candidates
    ]
    assert outsiders, "the fixture should give BM25 a top-5 document outside dense's top-5"
    assert [r.doc_id for r in bm25.not_candidates] == outsiders

    # Counted apart under the headline numbers.
    note = next(
        plain(c.value) for c in at.caption if "Not a candidate of the reranker" in plain(c.value)
    )
    assert f"{len(outsiders)} of BM25's top-5" in note and "not counted as dropped" in note

    at.segmented_control(key="inspect_against").set_value("bm25").run()
    assert not at.exception, at.exception
    titles = [plain(m.value) for m in at.markdown]
    assert f"**Not a candidate of the reranker ({len(outsiders)})**" in titles
    assert f"**Dropped from the top-5 by the reranker ({len(bm25.dropped)})**" in titles
    outside, _ = _table(at, "inspect_not_candidates")
    assert outside["doc_id"].tolist() == outsiders
    assert set(outside["why"]) == {"not a candidate of the reranker: not in Dense's top-5"}
    dropped = [d.value for d in at.dataframe if d.key == "inspect_dropped"]
    assert not set(outsiders) & {d for frame in dropped for d in frame["doc_id"]}
    assert any(
        "the reranker never saw them: it reordered Dense's top-5" in plain(c.value)
        for c in at.caption
    )


def test_with_a_blend_both_scores_are_shown_and_the_margin_is_on_the_blended(
    make_app, tiny_cross_encoder_dir
) -> None:
    at = make_app(tiny_cross_encoder_dir).run()
    at.slider(key="sidebar_n").set_value(3).run()
    at.slider(key="sidebar_blend").set_value(0.5).run()
    _search(at)
    assert at.session_state["sidebar_context"].settings.blend == 0.5
    # The reranked table keeps the cross-encoder's own score beside the blended one.
    reranked, headings = _table(at, "inspect_table_reranked")
    assert headings["score"] == "blended score (blend 0.5)"
    assert headings["ce_score"] == "cross-encoder score"
    assert not (reranked["score"] == reranked["ce_score"]).all()

    dropped, headings = _table(at, "inspect_dropped")
    assert not dropped.empty, "the fixture should make the blended reranker drop something"
    assert headings["ce_score"] == "cross-encoder score"
    assert headings["blended_score"] == "blended score (blend 0.5)"
    assert headings["margin"] == "margin below the cut, on the blended score"
    # The margin is measured on the blended score: the cut-off's blended score minus the row's.
    cutoff = reranked["score"].iloc[2]
    for _, row in dropped.iterrows():
        assert row["margin"] == pytest.approx(cutoff - row["blended_score"])
        assert row["ce_score"] != pytest.approx(row["blended_score"])
    assert any(
        "The reranked order is by the blended score (blend 0.5)" in plain(c.value)
        for c in at.caption
    )


def test_backend_default_is_openvino_auto_and_the_page_says_what_ran(
    make_app, tiny_cross_encoder_dir
) -> None:
    at = make_app(tiny_cross_encoder_dir, backend=None).run()
    assert at.selectbox(key="sidebar_backend").value == "openvino-auto"
    at.selectbox(key="inspect_pick").select("q1").run()
    assert not at.exception
    reranked = _ranking_frames(at)[3]
    assert all(MARKER.match(m) for m in reranked["shift"])
    # Every caption that names the reranker names the backend it ran on.
    said = " ".join(c.value for c in [*at.caption, *at.markdown]).replace("\\", "")
    assert "openvino-auto:tiny-cross-encoder" in said, said
    # Switching the box to torch reloads the same model on torch.
    at.selectbox(key="sidebar_backend").select("torch").run()
    assert not at.exception
    said = " ".join(c.value for c in [*at.caption, *at.markdown]).replace("\\", "")
    assert "ce(tiny-cross-encoder,len=256)" in said and "openvino-auto" not in said
