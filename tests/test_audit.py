"""The audit of a reranked list against a first stage, on hand-made rankings."""

from __future__ import annotations

import pytest

from rankshift.audit import audit, kendall_tau
from rankshift.types import ScoredDoc, ShiftRow, StageResult


def stage(name: str, doc_ids: list[str], kind: str = "first_stage") -> StageResult:
    # Scores fall with rank: 100, 99, 98...
    ranking = [ScoredDoc(d, i, 101.0 - i) for i, d in enumerate(doc_ids, 1)]
    return StageResult(name=name, kind=kind, ranking=ranking, ms=0.0)  # type: ignore[arg-type]


# Twenty candidates; the reranker keeps the same twenty and moves a few (cut at n = 15):
#   d01 falls 1 -> 13 (still in the top 15), d05 rises 5 -> 2, d18 rises 18 -> 14 (into the
#   top 15), d14 and d15 slide down by one (d15 out of the top 15); d06..d13 move up by one.
FIRST = stage("bm25", [f"d{i:02d}" for i in range(1, 21)])
RERANKED_ORDER = [
    "d02", "d05", "d03", "d04", "d06", "d07", "d08", "d09", "d10", "d11",
    "d12", "d13", "d01", "d18", "d14", "d15", "d16", "d17", "d19", "d20",
]  # fmt: skip
RERANKED = stage("bm25>ce", RERANKED_ORDER, kind="rerank")


@pytest.fixture
def shifted():
    return audit(FIRST, RERANKED, n=15)


def test_rows_follow_the_reranked_order(shifted) -> None:
    assert [r.doc_id for r in shifted.rows] == RERANKED_ORDER
    assert (shifted.first_stage, shifted.reranked_stage, shifted.n) == ("bm25", "bm25>ce", 15)


def test_rank_shifts_and_markers(shifted) -> None:
    rows = {r.doc_id: r for r in shifted.rows}
    assert rows["d05"] == ShiftRow("d05", 5, 2, 101.0 - 5, 101.0 - 2, "up", 5 - 2, 101.0 - 2)
    assert rows["d01"] == ShiftRow("d01", 1, 13, 101.0 - 1, 101.0 - 13, "down", 1 - 13, 88.0)
    expected = {
        "d02": "▲1",
        "d05": "▲3",
        "d03": "=",
        "d06": "▲1",
        "d01": "▼12",
        "d18": "new (was 18)",
        "d14": "▼1",
        "d15": "dropped (now 16)",
        "d16": "▼1, below the cut",
        "d19": "=, below the cut",
    }
    assert {d: rows[d].marker for d in expected} == expected


def test_below_the_cut_in_both_lists_is_not_same(shifted) -> None:
    rows = {r.doc_id: r for r in shifted.rows}
    # d19 and d20 keep their ranks (19, 20) but never reached the top-15 in either list:
    # "unchanged" would claim the reranker kept them where the user sees them.
    assert (rows["d19"].status, rows["d19"].shift) == ("below", 0)
    assert rows["d16"].status == "below"  # 16 -> 17, below the cut both times
    assert {r.doc_id for r in shifted.rows if r.status == "below"} == {"d16", "d17", "d19", "d20"}
    assert {r.doc_id for r in shifted.rows if r.status == "same"} == {"d03", "d04"}


def test_dropped_and_promoted(shifted) -> None:
    assert [r.doc_id for r in shifted.dropped] == ["d15"]
    assert [r.doc_id for r in shifted.promoted] == ["d18"]
    assert shifted.promoted[0].shift == 18 - 14


def test_kendall_tau_by_hand(shifted) -> None:
    # Discordant pairs (ordered one way by the first stage, the other way after reranking):
    #   d01 against each of d02..d13, which now sit above it: 12
    #   d05 against d03 and d04: 2
    #   d18 against d14, d15, d16, d17: 4
    # 20 documents make 20 * 19 / 2 = 190 pairs and no ties, so
    #   tau = (concordant - discordant) / pairs = (190 - 2 * 18) / 190.
    assert shifted.kendall_tau == pytest.approx((190 - 2 * 18) / 190)
    assert kendall_tau([1, 2, 3], [1, 2, 3]) == pytest.approx(1.0)
    assert kendall_tau([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert kendall_tau([1], [1]) is None  # fewer than two shared documents
    assert kendall_tau([], []) is None


def test_cutoff_score(shifted) -> None:
    # The 15th reranked document (d14) scored 101 - 15.
    assert shifted.cutoff_score == 101.0 - 15
    assert audit(FIRST, RERANKED, n=20).cutoff_score == 101.0 - 20
    assert audit(FIRST, stage("short>ce", ["d01", "d02"], "rerank"), n=3).cutoff_score is None


def test_a_document_the_reranker_never_saw_is_not_a_candidate_not_dropped() -> None:
    # The reranker reordered another stage's candidates (say, dense): x3, y1, x1, y2.
    # BM25's top-2 is x1, x2; x2 was never among the reranker's candidates.
    bm25 = stage("bm25", ["x1", "x2", "x3", "x4"])
    reranked = stage("dense>ce", ["x3", "y1", "x1", "y2"], kind="rerank")
    result = audit(bm25, reranked, n=2)
    assert result.rows == [
        ShiftRow("x3", 3, 1, 98.0, 100.0, "new", 2, 100.0),
        ShiftRow("y1", None, 2, None, 99.0, "new", None, 99.0),  # BM25 never retrieved it
        ShiftRow("x1", 1, 3, 100.0, 98.0, "dropped", -2, 98.0),  # the reranker put it at 3
        ShiftRow("y2", None, 4, None, 97.0, "below", None, 97.0),  # below the cut, not in BM25
        ShiftRow("x2", 2, None, 99.0, None, "not_candidate", None, None),
        ShiftRow("x4", 4, None, 97.0, None, "not_candidate", None, None),
    ]
    assert [r.marker for r in result.rows] == [
        "new (was 3)",
        "new",
        "dropped (now 3)",
        "below the cut",
        "not a candidate",
        "not a candidate",
    ]
    # Dropped counts only what the reranker saw; x2 is counted apart (x4 was below BM25's cut).
    assert [r.doc_id for r in result.dropped] == ["x1"]
    assert [r.doc_id for r in result.not_candidates] == ["x2"]
    assert [r.doc_id for r in result.promoted] == ["x3", "y1"]
    assert result.candidates == 4
    # Shared documents x3 (3 -> 1) and x1 (1 -> 3) swap: one discordant pair of one.
    assert result.kendall_tau == pytest.approx(-1.0)
    assert result.cutoff_score == 99.0


def test_the_reranker_input_has_no_non_candidates(shifted) -> None:
    assert shifted.not_candidates == []
    assert all(r.status != "not_candidate" for r in shifted.rows)


def test_with_a_blend_rows_keep_the_cross_encoder_score_and_the_cut_is_on_the_blended() -> None:
    first = stage("hybrid", ["a", "b", "c"])
    blended = StageResult(
        name="hybrid>ce(blend=0.5)",
        kind="rerank",
        ranking=[ScoredDoc("b", 1, 0.9), ScoredDoc("a", 2, 0.2), ScoredDoc("c", 3, -1.1)],
        ms=0.0,
        params={"blend": 0.5, "input_stage": "hybrid"},
    )
    ce = {"a": 4.0, "b": 3.5, "c": -2.0}  # the model alone preferred a; the blend put b first
    result = audit(first, blended, n=1, ce_scores=ce)
    rows = {r.doc_id: r for r in result.rows}
    assert (rows["a"].ce_score, rows["a"].rerank_score) == (4.0, 0.2)
    assert (rows["b"].ce_score, rows["b"].rerank_score) == (3.5, 0.9)
    assert result.blend == 0.5 and result.rerank_input == "hybrid"
    # The cut-off is the blended score of the 1st reranked document, not a model score.
    assert result.cutoff_score == 0.9
    assert [r.doc_id for r in result.dropped] == ["a"]
    # Without the pair scores, a blended audit does not pass a blended score off as the model's.
    assert all(r.ce_score is None for r in audit(first, blended, n=1).rows)


def test_unchanged_order() -> None:
    same = audit(FIRST, stage("bm25>ce", [r.doc_id for r in FIRST.ranking], "rerank"), n=10)
    assert same.dropped == [] and same.promoted == [] and same.not_candidates == []
    assert {r.marker for r in same.rows[:10]} == {"="}
    assert {r.status for r in same.rows[10:]} == {"below"}
    assert same.kendall_tau == pytest.approx(1.0)
