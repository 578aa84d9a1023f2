"""rankshift.judgments.queue: the pool, the queue, blind order and what a label records.

A hand-built result over five documents a..e (after tests/app/test_views.py), K = 5, N = 2:

    BM25      a b c d e
    Dense     b a e c d
    Reranked  c a e b d     (the cross-encoder reordering BM25's list)

At N = 2 both first stages' top-2 is {a, b} and the reranked top-2 is {c, a}: b is dropped
from both, c is promoted over both. The qrels grade a and b.
"""

from __future__ import annotations

import csv
import io
import json

import pytest

from rankshift.audit import audit
from rankshift.judgments import Judgment, JudgmentContext, JudgmentStore
from rankshift.judgments import queue as judging
from rankshift.judgments.queue import QueueWeights
from rankshift.types import PipelineResult, Query, RerankInfo, ScoredDoc, StageResult

FP = "fp"
QRELS = {"a": 2, "b": 1}


def _stage(name: str, order: str, kind: str = "first_stage") -> StageResult:
    ranking = [ScoredDoc(d, i, float(10 - i)) for i, d in enumerate(order, 1)]
    return StageResult(name=name, kind=kind, ranking=ranking, ms=1.0)  # type: ignore[arg-type]


def _result(reranked: bool = True) -> PipelineResult:
    bm25 = _stage("bm25(lucene)", "abcde")
    dense = _stage("dense(x,flat)", "baecd")
    rr = _stage("bm25>ce(x)", "caebd" if reranked else "abcde", kind="rerank")
    info = RerankInfo("ce-model", "ok" if reranked else "unavailable", revision="abc123")
    return PipelineResult(
        query=Query("q1", "vitamin d bone"),
        collection=FP,
        settings={"k": 5, "n": 2, "rerank_input": "bm25", "reranker": "ce-model"},
        stages={"bm25": bm25, "dense": dense, "reranked": rr},
        rerank=info,
        audits={"bm25": audit(bm25, rr, 2), "dense": audit(dense, rr, 2)} if reranked else {},
        timings_ms={},
    )


def _j(doc_id: str, annotator: str, grade: int | None, **kw) -> Judgment:
    kw.setdefault("collection", FP)
    kw.setdefault("query_id", "q1")
    return Judgment(
        doc_id=doc_id,
        annotator=annotator,
        grade=grade,
        status="graded" if grade is not None else "skipped",
        **kw,
    )


# ---------------------------------------------------------------------------- pool


def test_pool_is_first_stages_top_k_and_reranked_top_n() -> None:
    pool = judging.judging_pool(_result())
    # Best rank first: a, b and c are each first somewhere; e is third at best, d fourth.
    assert [e.doc_id for e in pool] == ["a", "b", "c", "e", "d"]
    c = next(e for e in pool if e.doc_id == "c")
    assert c.ranks == {"bm25": 3, "dense": 4, "reranked": 1}
    assert c.best_rank == 1
    assert c.scores["reranked"] == 9.0


def test_shallow_pool_takes_the_reranked_top_n_not_its_top_k() -> None:
    # Depth 2 into the first stages ({a, b} and {b, a}), reranked top-2 ({c, a}).
    pool = judging.judging_pool(_result(), depth=2)
    assert {e.doc_id for e in pool} == {"a", "b", "c"}
    # The reranked list's top-1 would leave out a, but both first stages hold it.
    assert {e.doc_id for e in judging.judging_pool(_result(), depth=1, n=1)} == {"a", "b", "c"}
    # Ranks are still the true ranks in every list, beyond the pool's cut.
    assert next(e for e in pool if e.doc_id == "b").ranks == {"bm25": 2, "dense": 1, "reranked": 4}


# ---------------------------------------------------------------------------- queue


def test_queue_priorities_follow_the_formula() -> None:
    queue = judging.judging_queue(_result(), qrels=QRELS, annotator="alice")
    by_doc = {i.doc_id: i for i in queue}
    w = QueueWeights()
    # spread = (largest rank - smallest rank) / K, K = 5.
    assert by_doc["a"].priority == pytest.approx(w.spread * (2 - 1) / 5)
    # b: dropped from both first stages' top-2; ranks 2, 1, 4.
    assert by_doc["b"].priority == pytest.approx(w.dropped * 2 / 2 + w.spread * (4 - 1) / 5)
    # c: promoted over both; ranks 3, 4, 1; in the reranked top-2 and graded by nobody.
    assert by_doc["c"].priority == pytest.approx(
        w.promoted * 2 / 2 + w.spread * (4 - 1) / 5 + w.unjudged
    )
    # d and e: below every top-2, so no unjudged bonus even without a grade.
    assert by_doc["d"].priority == pytest.approx(w.spread * (5 - 4) / 5)
    assert by_doc["e"].priority == pytest.approx(w.spread * (5 - 3) / 5)
    # Highest priority first; a and d tie at 0.2 and a's best rank (1) beats d's (4).
    assert [i.doc_id for i in queue] == ["c", "b", "e", "a", "d"]
    assert not any(i.done for i in queue)
    assert [i.graded for i in queue] == [False, True, False, True, False]


def test_queue_reasons_name_the_disagreement() -> None:
    by_doc = {i.doc_id: i for i in judging.judging_queue(_result(), qrels=QRELS)}
    assert by_doc["b"].reasons[0] == "dropped from BM25 and Dense's top-2 by the reranker (now #4)"
    assert by_doc["c"].reasons == (
        "promoted into the reranked top-2 over BM25 and Dense",
        "#1 in Reranked but Dense #4",
        "nobody has graded it; in the top-2 of Reranked",
    )
    assert by_doc["a"].reasons == ()


def test_labelled_documents_go_last_and_stored_grades_count_as_graded() -> None:
    judgments = [
        _j("c", "alice", 1),  # alice's own: c is done, and graded now
        _j("e", "bob", None),  # a skip by someone else grades nothing
        _j("d", "alice", 3, collection="other"),  # another collection: ignored
        _j("d", "alice", 3, query_id="q2"),  # another query: ignored
    ]
    queue = judging.judging_queue(
        _result(), judgments, annotator="alice", qrels=QRELS, collection=FP
    )
    assert [i.doc_id for i in queue] == ["b", "e", "a", "d", "c"]
    c = queue[-1]
    w = QueueWeights()
    # Alice's own label moves c last but leaves its priority alone (the list stays put).
    assert c.done and not c.graded
    assert c.priority == pytest.approx(w.promoted + w.spread * 3 / 5 + w.unjudged)
    assert not next(i for i in queue if i.doc_id == "e").graded
    # The same judgments seen by bob: c is graded (by alice), so it loses the unjudged bonus;
    # bob's own skip of e makes e done.
    bob = judging.judging_queue(_result(), judgments, annotator="bob", qrels=QRELS)
    by_doc = {i.doc_id: i for i in bob}
    assert by_doc["c"].graded and not by_doc["c"].done
    assert by_doc["c"].priority == pytest.approx(w.promoted + w.spread * 3 / 5)
    assert [i.doc_id for i in bob] == ["b", "c", "a", "d", "e"]


def test_queue_without_reranking_ranks_by_spread_and_holes() -> None:
    queue = judging.judging_queue(_result(reranked=False), qrels={})
    by_doc = {i.doc_id: i for i in queue}
    # No audits: nothing dropped or promoted. a and b sit in a top-2 ungraded.
    assert by_doc["a"].priority == pytest.approx(2.0 + 1 / 5)
    assert by_doc["b"].priority == pytest.approx(2.0 + 1 / 5)
    assert by_doc["c"].priority == pytest.approx((4 - 3) / 5)
    assert [i.doc_id for i in queue][:2] == ["a", "b"]


def test_custom_weights_change_the_order() -> None:
    only_spread = QueueWeights(dropped=0, promoted=0, unjudged=0, spread=1)
    queue = judging.judging_queue(_result(), qrels=QRELS, weights=only_spread)
    # b and c both span 3 ranks; b's best rank is 1 (Dense), c's is 1 (Reranked): doc_id decides.
    assert [i.doc_id for i in queue] == ["b", "c", "e", "a", "d"]


def test_next_unjudged() -> None:
    queue = judging.judging_queue(_result(), [_j("c", "alice", 1)], annotator="alice", qrels=QRELS)
    assert judging.next_unjudged(queue) == "b"
    assert judging.next_unjudged(queue, after="b") == "e"
    # The display order stays put as documents get done; the queue moves done ones last.
    assert [i.doc_id for i in queue] == ["b", "e", "a", "d", "c"]
    fresh = judging.judging_queue(_result(), qrels=QRELS)
    assert (
        judging.priority_order(queue) == judging.priority_order(fresh) == ["c", "b", "e", "a", "d"]
    )
    done = [_j(d, "alice", 0) for d in "abcde"]
    full = judging.judging_queue(_result(), done, annotator="alice")
    assert judging.next_unjudged(full) is None


# ---------------------------------------------------------------------------- blind mode


def test_blind_order_is_stable_and_seeded_by_query_and_annotator() -> None:
    ids = list("abcdefgh")
    order = judging.blind_order(ids, "q1", "alice")
    assert sorted(order) == ids
    assert judging.blind_order(reversed(ids), "q1", "alice") == order
    assert order != ids  # shuffled (fixed by the hash; not a coin flip)
    assert judging.blind_order(ids, "q1", "bob") != order
    assert judging.blind_order(ids, "q2", "alice") != order
    # A bigger pool keeps the others' relative order.
    bigger = judging.blind_order([*ids, "z"], "q1", "alice")
    assert [d for d in bigger if d != "z"] == order


def test_label_context_records_shown_rank_and_true_ranks() -> None:
    result = _result()
    item = next(i for i in judging.judging_queue(result, qrels=QRELS) if i.doc_id == "c")
    ctx = judging.label_context(result, item, rank_shown=4, blind=True)
    assert ctx.stage == "pool(shuffled)"
    assert ctx.rank == 4
    assert (ctx.model_id, ctx.model_revision) == ("ce-model", "abc123")
    assert ctx.settings["true_ranks"] == {"bm25": 3, "dense": 4, "reranked": 1}
    assert ctx.settings["blind"] is True
    assert ctx.settings["k"] == 5 and ctx.settings["n"] == 2
    assert ctx.settings["stage_names"]["reranked"] == "bm25>ce(x)"
    assert ctx.settings["priority"] == pytest.approx(item.priority)
    json.dumps(ctx.to_dict())  # storable
    open_ctx = judging.label_context(result, item, rank_shown=1, blind=False, view="list")
    assert open_ctx.stage == "pool(priority)" and open_ctx.settings["view"] == "list"


@pytest.mark.parametrize(
    ("name", "cleaned"),
    [("  Ada   Lovelace ", "Ada Lovelace"), ("", None), ("   ", None), ("qrels:test", None)],
)
def test_clean_annotator(name: str, cleaned: str | None) -> None:
    assert judging.clean_annotator(name) == cleaned


# ---------------------------------------------------------------------------- reading labels


LABELS = [
    _j("a", "alice", 3, source="ui"),
    _j("a", "bob", 2, source="ui"),
    _j("b", "alice", None, source="ui"),
    _j("b", "qrels:test", 1, source="qrels:test"),
    _j("x", "alice", 0, query_id="q2", source="ui"),
]


def test_label_grades_combine_annotators_and_drop_skips() -> None:
    # mean of 3 and 2 is 2.5, rounded half up.
    assert judging.label_grades(LABELS, "q1") == {"a": 3, "b": 1}
    assert judging.label_grades(LABELS, "q1", "min") == {"a": 2, "b": 1}
    assert judging.label_grades(LABELS, "q9") == {}
    assert judging.labels_per_query(LABELS) == {"q1": 4, "q2": 1}


def test_facets_and_filters() -> None:
    f = judging.facets(LABELS)
    assert f.query_ids == ["q1", "q2"]
    assert f.annotators == ["alice", "bob", "qrels:test"]
    assert f.sources == ["qrels:test", "ui"]
    assert f.grades == [0, 1, 2, 3, "skip"]
    keep = judging.filter_judgments
    assert len(keep(LABELS)) == 5
    assert [j.doc_id for j in keep(LABELS, query_ids=["q2"])] == ["x"]
    assert len(keep(LABELS, annotators=["alice"], sources=["ui"])) == 3
    assert [j.annotator for j in keep(LABELS, grades=["skip"])] == ["alice"]
    assert [j.grade for j in keep(LABELS, grades=[2, 3])] == [3, 2]


def test_exports() -> None:
    trec = judging.export_text(LABELS, "trec")
    assert trec.splitlines() == ["q1 0 a 3", "q1 0 b 1", "q2 0 x 0"]
    rows = list(csv.DictReader(io.StringIO(judging.export_text(LABELS, "csv"))))
    assert [r["doc_id"] for r in rows] == ["a", "a", "b", "b", "x"]
    assert rows[2]["status"] == "skipped" and rows[2]["grade"] == ""
    lines = judging.export_text(LABELS, "jsonl").splitlines()
    assert [json.loads(line)["annotator"] for line in lines][:2] == ["alice", "bob"]
    with pytest.raises(ValueError):
        judging.export_text(LABELS, "xml")  # type: ignore[arg-type]


def test_history_and_agreement_frames(tmp_path) -> None:
    with JudgmentStore(tmp_path / "j.sqlite") as store:
        first = store.save(FP, "q1", "a", "alice", 1, context=JudgmentContext(rank=3))
        store.save(FP, "q1", "a", "alice", 2, expected_version=first.version, note="on reflection")
        store.save(FP, "q1", "a", "bob", 2)
        store.save(FP, "q1", "b", "alice", 0)
        store.save(FP, "q1", "b", "bob", 1)
        history = judging.history_frame(store.history(FP, "q1", "a"))
        judgments = store.list_judgments(FP)
    assert history["action"].tolist() == ["create", "update", "create"]
    assert history["grade"].tolist() == [1, 2, 2]
    assert history["label"].tolist() == ["related", "relevant", "relevant"]
    assert history["rank_shown"].iloc[0] == 3
    assert history["expected_version"].iloc[1] == 1
    overall, per_query = judging.agreement_frames(judgments)
    assert set(overall["metric"]) == {
        "cohen_kappa",
        "krippendorff_alpha(ordinal)",
        "krippendorff_alpha(nominal)",
    }
    assert set(per_query["query_id"]) == {"q1"}
    kappa = overall.loc[overall["metric"] == "cohen_kappa"].iloc[0]
    assert kappa["annotators"] == "alice, bob" and kappa["n_items"] == 2


def test_a_document_the_reranker_never_saw_is_queued_as_not_a_candidate() -> None:
    """Dense's top-2 holds f, which BM25 (the reranker's input) never retrieved."""
    bm25 = _stage("bm25(lucene)", "abcde")
    dense = _stage("dense(x,flat)", "fbaec")
    rr = _stage("bm25>ce(x)", "caebd", kind="rerank")
    result = PipelineResult(
        query=Query("q1", "vitamin d bone"),
        collection=FP,
        settings={"k": 5, "n": 2, "rerank_input": "bm25", "reranker": "ce-model"},
        stages={"bm25": bm25, "dense": dense, "reranked": rr},
        rerank=RerankInfo("ce-model", "ok", revision="abc123"),
        audits={"bm25": audit(bm25, rr, 2), "dense": audit(dense, rr, 2)},
        timings_ms={},
    )
    by_doc = {i.doc_id: i for i in judging.judging_queue(result, qrels=QRELS)}
    f = by_doc["f"]
    assert "in Dense's top-2 but never a candidate of the reranker" in f.reasons
    assert not any("dropped" in r for r in f.reasons)
    w = QueueWeights()
    # Not a candidate for one of two audits; spread: #1 in Dense, absent (K + 1 = 6) elsewhere;
    # in Dense's top-2 and graded by nobody.
    assert f.priority == pytest.approx(
        w.not_candidate * 1 / 2 + w.spread * (6 - 1) / 5 + w.unjudged
    )
