"""rankshift.present: the frames and strings the Inspect page renders, on a hand-built result.

Five documents a..e. BM25 ranks them a b c d e; the cross-encoder reorders BM25's list to
c a e b d. At N = 2, BM25's top-2 is {a, b} and the reranked top-2 is {c, a}: b is dropped
and c is promoted.
"""

from __future__ import annotations

import math
import re
from dataclasses import replace
from types import SimpleNamespace

import pandas as pd
import pytest
from inspector_fixture import plain

from rankshift import present as views
from rankshift.audit import audit
from rankshift.corpus import collection_from_documents
from rankshift.pipeline import SECOND_KEY, SecondRerank
from rankshift.rerank import sigmoid
from rankshift.types import (
    Document,
    PairScore,
    PipelineResult,
    Query,
    RerankInfo,
    ScoredDoc,
    StageResult,
)

CE = {"c": 3.0, "a": 2.0, "e": 1.0, "b": 0.5, "d": -1.0}


def _stage(name: str, order: str, scores: list[float], kind: str = "first_stage") -> StageResult:
    ranking = [ScoredDoc(d, i, s) for i, (d, s) in enumerate(zip(order, scores, strict=True), 1)]
    return StageResult(name=name, kind=kind, ranking=ranking, ms=1.0)  # type: ignore[arg-type]


@pytest.fixture
def collection():
    docs = [
        Document("a", "Vitamin D and bones.", title="Alpha"),
        Document("b", "Bone density <script>window.__pwned=1</script>", title="Beta <b>bold</b>"),
        Document("c", "Calcium and vitamin D together.", title="Gamma"),
        Document("d", "Unrelated text about coffee.", title="Delta"),
        Document("e", "Exercise builds bone.", title=""),
    ]
    return collection_from_documents(
        docs,
        queries={"q1": Query("q1", "vitamin d bone")},
        qrels={"test": {"q1": {"a": 2, "b": 1}}},
    )


def _result(ce: dict[str, float] = CE, n: int = 2) -> PipelineResult:
    bm25 = _stage("bm25(lucene)", "abcde", [5, 4, 3, 2, 1])
    dense = _stage("dense(x,flat)", "baecd", [0.9, 0.8, 0.7, 0.6, 0.5])
    order = sorted(ce, key=lambda d: (-ce[d], d))
    reranked = _stage("bm25>ce(x)", "".join(order), [ce[d] for d in order], kind="rerank")
    pairs = [
        PairScore(d, ce[d], sigmoid(ce[d]), n_tokens=300 if d == "b" else 40, truncated=d == "b")
        for d in "abcde"
    ]
    info = RerankInfo(
        "x", "ok", max_length=256, input_stage="bm25(lucene)", k=5, pairs=pairs, scored_pairs=5
    )
    return PipelineResult(
        query=Query("q1", "vitamin d bone"),
        collection="fp",
        settings={"k": 5, "n": n, "rerank_input": "bm25", "reranker": "x", "max_length": 256},
        stages={"bm25": bm25, "dense": dense, "reranked": reranked},
        rerank=info,
        audits={"bm25": audit(bm25, reranked, n), "dense": audit(dense, reranked, n)},
        timings_ms={
            "bm25": 2.0,
            "dense": 8.0,
            "retrieve": 10.0,
            "rerank": 500.0,
            "total": 511.0,
            "per_pair": 100.0,
        },
    )


# ---------------------------------------------------------------------------- safe text


@pytest.mark.parametrize(
    "text",
    [
        "<script>window.__pwned=1</script>",
        '<img src=x onerror="window.__pwned=2">',
        "[click](javascript:alert(1)) ![img](x.png)",
        "**bold** _em_ `code` ~~strike~~ # heading",
        ":smile: :red[red text] :material/home:",
        "$x^2$ and $$y$$",
        "| a | b |\n|---|---|",
        "back\\slash",
    ],
)
def test_escape_markdown_leaves_no_markup(text: str) -> None:
    escaped = views.escape_markdown(text)
    # Every ASCII punctuation character is escaped, and unescaping gives the text back.
    assert not re.search(r"(?<!\\)[<>\[\]()*_`~#$:|!]", escaped.replace("\\\\", "")), escaped
    assert plain(escaped).replace("  \n", "\n") == text


def test_escape_markdown_keeps_lines_in_one_paragraph() -> None:
    escaped = views.escape_markdown("    indented\n\nafter a blank line")
    assert escaped == "indented  \n\u00a0  \nafter a blank line"


def test_escape_plotly() -> None:
    assert views.escape_plotly('<b x="1">&') == "&lt;b x=&quot;1&quot;&gt;&amp;"


# ---------------------------------------------------------------------------- queries


def test_query_problem() -> None:
    assert "Type a query" in views.query_problem("  ")
    assert "only stopwords" in views.query_problem("the of and")
    assert "no words" in views.query_problem("?! .")
    assert views.query_problem("vitamin") is None


def test_resolve_query_finds_the_collections_query(collection) -> None:
    assert views.resolve_query(collection, " vitamin d bone ").query_id == "q1"
    assert views.resolve_query(collection, "something else").query_id == "adhoc"


def test_grades_for(collection) -> None:
    assert views.grades_for(collection, "q1") == {"a": 2, "b": 1}
    assert views.grades_for(collection, "q1", extra={"b": 3, "e": 0}) == {"a": 2, "b": 3, "e": 0}
    assert views.grades_for(collection, "q1", split="train") == {}


def test_snippet_starts_near_the_first_query_term() -> None:
    text = "Lorem ipsum dolor sit amet " * 10 + "and then vitamin appears here."
    out = views.snippet(text, views.query_terms("vitamins"), width=60)
    assert out.startswith("…") and "vitamin" in out
    assert views.snippet("short text", set()) == "short text"


# ---------------------------------------------------------------------------- rankings


def test_ranking_frame_of_the_reranked_list(collection) -> None:
    frame = views.ranking_frame(_result(), "reranked", collection, grades={"a": 2})
    assert frame.columns.tolist() == [
        "rank",
        "shift",
        "score",
        "grade",
        "title",
        "BM25",
        "Dense",
        "snippet",
        "doc_id",
    ]
    assert frame["doc_id"].tolist() == ["c", "a"]
    # c: BM25 rank 3 -> 1 crosses the top-2 cut ("new"); a: 1 -> 2 is one place down.
    assert frame["shift"].tolist() == ["new", "▼1"]
    assert frame["BM25"].tolist() == [3, 1]
    assert frame["Dense"].tolist() == [4, 2]
    assert frame["grade"].isna().tolist() == [True, False]
    assert frame["score"].tolist() == [3.0, 2.0]


def test_ranking_frames_depth_and_untitled_documents(collection) -> None:
    frames = views.ranking_frames(_result(), collection, depth=5)
    assert list(frames) == ["bm25", "dense", "reranked"]
    assert all(len(f) == 5 for f in frames.values())
    assert "grade" not in frames["bm25"]
    # Document e has no title: its text stands in.
    assert frames["bm25"].set_index("doc_id").loc["e", "title"] == "Exercise builds bone."
    # The <script> in b's text is kept as plain text in the cell, not removed or rendered.
    assert "<script>" in frames["bm25"].set_index("doc_id").loc["b", "snippet"]


def test_stored_labels_get_their_own_column_next_to_the_qrels_grade(collection) -> None:
    result = _result()
    frame = views.ranking_frame(result, "reranked", collection, {"a": 2}, labels={"a": 3, "c": 1})
    assert frame.columns.tolist()[3:5] == ["grade", "label"]
    assert frame[["doc_id", "grade", "label"]].astype(object).values.tolist() == [
        ["c", pd.NA, 1],
        ["a", 2, 3],
    ]
    assert "label" not in views.ranking_frame(result, "reranked", collection, {"a": 2})
    dropped = views.dropped_frame(result, "bm25", collection, {"b": 1}, labels={"b": 0})
    assert dropped.iloc[0][["grade", "label"]].tolist() == [1, 0]
    view = views.document_view(
        collection.documents["a"], "vitamin", grades={"a": 2}, labels={"a": 3}
    )
    assert views.document_facts(view).endswith("grade 2 · label 3")


def test_marker_colors() -> None:
    assert views.STATUS_COLORS["up"] in views.marker_color("▲3")
    assert views.STATUS_COLORS["down"] in views.marker_color("▼12")
    assert views.STATUS_COLORS["new"] in views.marker_color("new")
    assert views.STATUS_COLORS["dropped"] in views.marker_color("dropped")


# ---------------------------------------------------------------------------- dropped


def test_dropped_and_promoted_frames(collection) -> None:
    result = _result()
    cutoff = CE["a"]  # the 2nd reranked score
    dropped = views.dropped_frame(result, "bm25", collection, grades={"b": 1})
    assert dropped["doc_id"].tolist() == ["b"]
    row = dropped.iloc[0]
    assert row["first_rank"] == 2 and row["now"] == 4
    assert row["margin"] == pytest.approx(cutoff - CE["b"])
    assert bool(row["truncated"]) is True
    assert row["grade"] == 1
    assert "ranked it 4, below the top-2" in row["why"]

    promoted = views.promoted_frame(result, "bm25", collection, grades=None)
    assert promoted["doc_id"].tolist() == ["c"]
    assert promoted.iloc[0]["margin"] == pytest.approx(CE["c"] - cutoff)
    assert "grade" not in promoted.columns


def test_frames_are_empty_when_nothing_was_reranked(collection) -> None:
    result = _result()
    info = RerankInfo("x", "unavailable", message="Cannot load reranker 'x'")
    result = PipelineResult(**{**result.__dict__, "audits": {}, "rerank": info})
    assert views.dropped_frame(result, "bm25", collection).empty
    assert views.shift_frame(result, "bm25", collection).empty
    assert views.diagnostics(result).reranked is False


def test_shift_frame_covers_every_candidate(collection) -> None:
    frame = views.shift_frame(_result(), "dense", collection)
    assert sorted(frame["doc_id"]) == list("abcde")
    assert set(frame["status"]) <= {"up", "down", "same", "new", "dropped", "below"}
    # Every document is one of the reranker's candidates here (it reordered BM25's five).
    assert frame["ce_score"].tolist() == [CE[d] for d in frame["doc_id"]]


def _with_outsider(collection, blend: float = 0.0) -> tuple[PipelineResult, object]:
    """_result(), but dense's top-2 holds "f", which the reranker (reordering BM25's five) never
    saw; with ``blend``, the reranked order is by a blended score (here: CE / 10 + a constant)."""
    docs = [*collection.documents.values(), Document("f", "Fish oil and vitamin D.", "Zeta")]
    coll = collection_from_documents(docs, queries=collection.queries, qrels=collection.qrels)
    result = _result()
    dense = _stage("dense(x,flat)", "fbaec", [0.95, 0.9, 0.8, 0.7, 0.6])
    reranked = result.stages["reranked"]
    info = result.rerank
    if blend:
        blended = {r.doc_id: r.score / 10 + 1.0 for r in reranked.ranking}
        reranked = replace(
            reranked,
            name="bm25>ce(x)(blend=0.5)",
            ranking=[ScoredDoc(r.doc_id, r.rank, blended[r.doc_id]) for r in reranked.ranking],
            params={"blend": blend, "input_stage": "bm25(lucene)"},
        )
        info = replace(info, blend=blend)
    ce = {p.doc_id: p.score for p in info.pairs}
    stages = {"bm25": result.stages["bm25"], "dense": dense, "reranked": reranked}
    audits = {k: audit(stages[k], reranked, 2, ce) for k in ("bm25", "dense")}
    result = replace(result, stages=stages, rerank=info, audits=audits)
    return result, coll


def test_a_document_the_reranker_never_saw_is_not_a_candidate(collection) -> None:
    result, coll = _with_outsider(collection)
    # Dense's top-2 is f, b. f was never among the reranker's candidates: not dropped.
    dropped = views.dropped_frame(result, "dense", coll)
    assert "f" not in dropped["doc_id"].tolist()
    assert dropped["doc_id"].tolist() == ["b"]  # a candidate, put at 4 by the reranker
    assert "BM25 had it at #2" in dropped.iloc[0]["why"]
    outside = views.not_candidate_frame(result, "dense", coll, grades={"f": 1})
    assert outside[["doc_id", "first_rank", "grade"]].values.tolist() == [["f", 1, 1]]
    assert outside.iloc[0]["why"] == "not a candidate of the reranker: not in BM25's top-5"
    assert views.not_candidate_frame(result, "bm25", coll).empty  # the reranker's own input
    # Counted apart, in numbers and in words.
    diag = views.diagnostics(result)
    assert (diag.dropped["dense"], diag.not_candidates["dense"]) == (1, 1)
    assert diag.not_candidates["bm25"] == 0
    note = views.not_candidate_note(result)
    assert "1 of Dense's top-2" in note and "not counted as dropped" in note
    labels = views.cut_labels(result, "dense")
    assert labels.not_candidate_title == "Not a candidate of the reranker (1)"
    assert labels.dropped_title == "Dropped from the top-2 by the reranker (1)"
    # The slope chart's frame keeps the status too.
    shifts = views.shift_frame(result, "dense", coll).set_index("doc_id")
    assert shifts.loc["f", "status"] == "not_candidate"
    assert shifts.loc["f", "marker"] == "not a candidate"
    assert views.not_candidate_note(_result()) is None


def test_with_a_blend_both_scores_are_kept_and_the_margin_is_on_the_blended(collection) -> None:
    result, coll = _with_outsider(collection, blend=0.5)
    blended = {r.doc_id: r.score for r in result.stages["reranked"].ranking}
    cutoff = blended["a"]  # the 2nd reranked document's blended score
    dropped = views.dropped_frame(result, "bm25", coll)
    row = dropped.set_index("doc_id").loc["b"]
    assert row["ce_score"] == CE["b"]  # the cross-encoder's own score
    assert row["blended_score"] == pytest.approx(blended["b"])
    assert row["margin"] == pytest.approx(cutoff - blended["b"])
    assert row["margin"] != pytest.approx(CE["a"] - CE["b"])
    assert "on the blended score (blend 0.5)" in row["why"]
    labels = views.cut_labels(result, "bm25")
    assert labels.order_score == labels.blended_score == "blended score (blend 0.5)"
    assert labels.ce_score == "cross-encoder score"
    assert labels.margin_below == "margin below the cut, on the blended score"
    assert "blended score (blend 0.5)" in labels.dropped_caption
    # The reranked table keeps both scores, each headed by what it is.
    frame = views.ranking_frame(result, "reranked", coll)
    assert frame["score"].tolist() == [blended["c"], blended["a"]]
    assert frame["ce_score"].tolist() == [CE["c"], CE["a"]]
    assert views.score_labels(result)["reranked"] == {
        "score": "blended score (blend 0.5)",
        "ce_score": "cross-encoder score",
    }
    # Without a blend there is one score, and it is the cross-encoder's.
    plain_result, _ = _with_outsider(collection)
    assert "blended_score" not in views.dropped_frame(plain_result, "bm25", coll)
    assert "ce_score" not in views.ranking_frame(plain_result, "reranked", coll)
    assert views.score_labels(plain_result)["reranked"] == {"score": "cross-encoder score"}
    assert views.cut_labels(plain_result, "bm25").margin_below == (
        "margin below the cut, on the cross-encoder score"
    )


# ---------------------------------------------------------------------------- scores


def test_score_and_pair_frames(collection) -> None:
    scores = views.score_frame(_result())
    assert scores.groupby("stage").size().to_dict() == {
        "BM25": 5,
        "Dense": 5,
        "Cross-encoder (raw)": 5,
        "Cross-encoder (probability)": 5,
    }
    probs = scores[scores["key"] == "ce_prob"].set_index("doc_id")["score"]
    assert probs["c"] == pytest.approx(1 / (1 + math.exp(-3.0)))
    pairs = views.pair_frame(_result(), "bm25", collection)
    assert len(pairs) == 5
    assert pairs.set_index("doc_id").loc["b", "truncated"]


def test_diagnostics_flat_scores_and_agreement() -> None:
    healthy = views.diagnostics(_result())
    assert healthy.reranked and not healthy.warnings
    assert healthy.dropped["bm25"] == 1 and healthy.promoted["bm25"] == 1
    assert healthy.truncated == 1
    assert any("longer than the reranker's 256-token window" in n for n in healthy.notes)

    # Nearly equal scores that keep BM25's order: flat, and in agreement (tau = 1).
    flat = {d: 0.01 * (5 - i) for i, d in enumerate("abcde")}
    diag = views.diagnostics(_result(flat))
    assert diag.kendall_tau["bm25"] == pytest.approx(1.0)
    assert any("scores are flat" in w for w in diag.warnings)
    assert any("nearly the same order as BM25" in w and "τ = 1.00" in w for w in diag.warnings)


def test_latency_frame() -> None:
    frame = views.latency_frame(_result())
    assert frame["step"].tolist() == [
        "BM25",
        "Dense",
        "retrieve (all first stages)",
        "rerank",
        "total",
        "per scored pair",
    ]
    assert frame.set_index("step").loc["rerank", "detail"] == "5 pairs scored, 0 from the cache"


def test_rerank_cost() -> None:
    from rankshift.present.cost import PAIRS_PER_SECOND_AT_256 as RATE

    torch_wait = 40 / RATE["torch"]  # 40 pairs: about a second on torch at 256 tokens
    assert f"about {torch_wait:.1f} s" in views.rerank_cost(40, 256, reranker="some/model")
    assert f"about {2 * torch_wait:.0f} s" in views.rerank_cost(40, 512, reranker="some/model")
    fast = views.rerank_cost(40, 256, reranker="openvino-auto:some/model")
    assert f"{RATE['openvino-auto']:.0f} pairs/s on openvino-auto" in fast
    text = views.rerank_cost(40, 256, ms_per_pair=50)
    assert "about 2 s" in text and "measured 20 pairs/s" in text
    # A service's speed is its own: no estimate from this CPU.
    service = views.rerank_cost(40, 256, reranker="tei:http://127.0.0.1:8080")
    assert "service's own speed" in service and "pairs/s" not in service


# ---------------------------------------------------------------------------- document view


def test_highlight_segments_split_at_the_window() -> None:
    text = "Vitamin D helps bones. Vitamins again."
    terms = views.query_terms("vitamin bone")
    segments = views.highlight_segments(text, terms, window_end=25)
    assert "".join(s.text for s in segments) == text
    assert [s.text for s in segments if s.match] == ["Vitamin", "bones", "Vi", "tamins"]
    assert all(s.seen for s in segments if text.index(s.text) < 23)
    seen = views.segments_markdown(segments, seen=True)
    assert seen.startswith(":orange-background[Vitamin] D helps :orange-background[bones]\\.")


def test_document_view_maps_the_window_past_the_title(collection) -> None:
    doc = collection.documents["c"]
    # A test double: the reranker reads "Gamma\n" and then ten characters of the text.
    fake = SimpleNamespace(max_length=16, window_end=lambda q, t: len("Gamma\n") + 10)
    view = views.document_view(doc, "vitamin", _result(), fake, grades={"c": 3})
    assert view.window_end == 10
    assert view.seen_text + view.unseen_text == doc.text
    assert view.unseen_text == doc.text[10:]
    assert view.ranks == {"bm25": 3, "dense": 4, "reranked": 1}
    assert view.grade == 3 and view.ce_score == CE["c"]
    assert views.document_facts(view) == (
        "doc c · BM25 #3 · Dense #4 · Reranked #1 · CE score 3.000 (p = 0.95) · "
        "40 tokens with the query · grade 3"
    )


def test_document_view_with_a_real_cross_encoder(tiny_cross_encoder_dir) -> None:
    from rankshift.rerank import CrossEncoderReranker

    reranker = CrossEncoderReranker(str(tiny_cross_encoder_dir), max_length=64)
    long_doc = Document("x", "Vitamin D matters for bone. " * 40, title="Long")
    view = views.document_view(long_doc, "vitamin d", reranker=reranker)
    assert 0 < view.window_end < len(long_doc.text)
    assert view.seen_text + view.unseen_text == long_doc.text
    assert view.seen_text.startswith("Vitamin D matters")
    short = views.document_view(Document("y", "Short."), "vitamin", reranker=reranker)
    assert short.unseen_text == "" and short.window_end == len("Short.")


def test_labels_are_plain_text(collection) -> None:
    assert views.document_label(collection, "b") == "Beta <b>bold</b> (b)"
    assert views.query_label(collection, "q1") == "q1: vitamin d bone · 2 judged"
    assert views.collection_summary(collection).startswith("5 documents · 1 queries")


# ---------------------------------------------------------------------------- second reranker


def _second(label: str = "demo-tiny") -> SecondRerank:
    """A second cross-encoder that orders BM25's list b a c e d."""
    result = _result()
    scores = {"b": 3.0, "a": 2.0, "c": 1.0, "e": 0.0, "d": -1.0}
    stage = _stage(f"bm25>ce({label})", "baced", [3.0, 2.0, 1.0, 0.0, -1.0], "rerank")
    assert [r.doc_id for r in stage.ranking] == sorted(scores, key=lambda d: -scores[d])
    info = RerankInfo(f"/models/{label}", "ok", max_length=256, k=5, scored_pairs=5)
    first = {k: result.stages[k] for k in ("bm25", "dense")}
    return SecondRerank(
        model_id=f"/models/{label}",
        label=label,
        stage=stage,
        info=info,
        audits={k: audit(s, stage, 2) for k, s in first.items()},
        agreement=audit(result.stages["reranked"], stage, 2),
    )


def test_a_second_reranker_gets_its_own_table_with_markers(collection) -> None:
    frames = views.ranking_frames(_result(), collection, second=_second())
    assert list(frames) == ["bm25", "dense", "reranked", SECOND_KEY]
    second = frames[SECOND_KEY]
    assert second["doc_id"].tolist() == ["b", "a"]
    # Against the same first stage as the first reranker (BM25, the reranker input):
    # b 2 -> 1, a 1 -> 2.
    assert second["shift"].tolist() == ["▲1", "▼1"]
    assert frames["reranked"]["shift"].tolist() == ["new", "▼1"]
    # Every other table has a rank column for it, headed by its short name, and it has one
    # for the first reranker's list.
    assert frames["reranked"]["demo-tiny"].tolist() == [3, 2]
    assert frames["bm25"]["demo-tiny"].tolist() == [2, 1]
    assert second["Reranked"].tolist() == [4, 2]
    assert views.ranking_labels(_result(), _second())[SECOND_KEY] == "demo-tiny"
    # A short name that is already a heading is told apart.
    assert views.ranking_labels(_result(), _second("BM25"))[SECOND_KEY] == "BM25 (2nd)"
    caption = views.second_rerank_caption(_second(), 2)
    # The first reranker's top-2 is {c, a}; the second's {b, a}: one of its two is new.
    assert "Kendall's τ = " in caption and "1 of its top-2 are not in the other's top-2" in caption


def test_a_second_reranker_that_did_not_rerank_has_no_markers(collection) -> None:
    s = _second()
    failed = SecondRerank(
        s.model_id,
        s.label,
        _stage("bm25 (not reranked)", "abcde", [5, 4, 3, 2, 1], "rerank"),
        RerankInfo(s.model_id, "unavailable", message="Cannot load it."),
        {},
        None,
    )
    frame = views.ranking_frames(_result(), collection, second=failed)[SECOND_KEY]
    assert "shift" not in frame and frame["doc_id"].tolist() == ["a", "b"]
    assert views.second_rerank_caption(failed, 2) == "demo-tiny did not rerank: Cannot load it."


def test_reranker_choices() -> None:
    trained = ["/cache/models/demo-reranker", "/cache/models/mine"]
    options = views.reranker_options("/cache/models/demo-reranker", trained)
    assert options == [*trained, views.OTHER_RERANKER]
    assert views.reranker_options("hub/model", trained, exclude=["/cache/models/mine"]) == [
        "hub/model",
        "/cache/models/demo-reranker",
        views.OTHER_RERANKER,
    ]
    assert views.reranker_options(None, []) == [views.OTHER_RERANKER]
    label = views.reranker_option_label
    assert label(trained[0], trained[0], trained) == "trained: demo-reranker (default)"
    assert label(trained[1], "hub/model", trained) == "trained: mine"
    assert label("cross-encoder/ms-marco", "cross-encoder/ms-marco") == "ms-marco (default)"
    assert label(views.OTHER_RERANKER) == "other id or folder…"


def test_training_frame_and_caption() -> None:
    from rankshift.training.data import QuerySplit
    from rankshift.training.train import StageMetrics, TrainConfig, TrainResult

    result = TrainResult(
        output_dir="/cache/models/demo-lambda",
        config=TrainConfig(),
        split=QuerySplit(("q1", "q2", "q3"), ("q4",), "seeded", 0),
        train_rows=3,
        steps=12,
        resumed_from_step=4,
        train_seconds=90.0,
        validation=[
            StageMetrics("hybrid(rrf,k=60) (first stage)", 0.5, 0.4),
            StageMetrics("base: all-MiniLM-L6-v2 (k=30)", 0.25, 0.2),
            StageMetrics("trained (k=30)", 0.75, 1.0),
        ],
    )
    frame = views.training_frame(result)
    assert frame["ranking"].tolist() == ["first stage", "base", "trained"]
    assert frame["Δ nDCG@10"].tolist() == [0.0, 0.25 - 0.5, 0.75 - 0.5]
    assert frame["MRR@10"].tolist() == [0.4, 0.2, 1.0]
    caption = views.training_caption(result)
    assert "3 training rows from 3 queries · 12 steps in 1.5 min (resumed at step 4)" in caption
    assert views.training_frame(replace(result, validation=[])).empty
    # Rows that say what they are (new records) keep it, the blended row included.
    tagged = replace(
        result,
        validation=[
            StageMetrics("hybrid(zscore,w=0.5) (first stage)", 0.5, 0.4, "first stage"),
            StageMetrics("trained (k=50)", 0.45, 0.5, "trained"),
            StageMetrics("trained, blend=0.4", 0.6, 0.55, "blended"),
        ],
    )
    assert views.training_frame(tagged)["ranking"].tolist() == ["first stage", "trained", "blended"]


def test_job_progress_text() -> None:
    text = views.job_progress_text("Training", 3, 40, 62.0, 300.0)
    assert text == "Training: step 3 of 40 · 1:02 elapsed · about 5 min left in this phase"
    assert views.job_progress_text("Mining hard negatives", 5, 8, 3, None) == (
        "Mining hard negatives: 5 of 8 · 0:03 elapsed"
    )
