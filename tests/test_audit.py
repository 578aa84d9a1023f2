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
    assert rows["d05"] == ShiftRow("d05", 5, 2, 101.0 - 5, 101.0 - 2, "up", 5 - 2)
    assert rows["d01"] == ShiftRow("d01", 1, 13, 101.0 - 1, 101.0 - 13, "down", 1 - 13)
    expected = {
        "d02": "▲1",
        "d05": "▲3",
        "d03": "=",
        "d06": "▲1",
        "d01": "▼12",
        "d18": "new (was 18)",
        "d14": "▼1",
        "d15": "dropped (now 16)",
        "d16": "▼1",  # below the cut in both lists: a plain move
        "d19": "=",
    }
    assert {d: rows[d].marker for d in expected} == expected
    assert rows["d19"].status == "same"


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


def test_other_first_stage_with_different_documents() -> None:
    # The reranker reordered another stage's candidates (say, dense); BM25 found only some.
    bm25 = stage("bm25", ["x1", "x2", "x3", "x4"])
    reranked = stage("dense>ce", ["x3", "y1", "x1", "y2"], kind="rerank")
    result = audit(bm25, reranked, n=2)
    assert result.rows == [
        ShiftRow("x3", 3, 1, 98.0, 100.0, "new", 2),
        ShiftRow("y1", None, 2, None, 99.0, "new", None),  # BM25 never retrieved it
        ShiftRow("x1", 1, 3, 100.0, 98.0, "dropped", -2),
        ShiftRow("y2", None, 4, None, 97.0, "same", None),  # below the cut, not in BM25
        ShiftRow("x2", 2, None, 99.0, None, "dropped", None),  # the reranker never saw it
        ShiftRow("x4", 4, None, 97.0, None, "same", None),
    ]
    assert [r.marker for r in result.rows] == [
        "new (was 3)",
        "new",
        "dropped (now 3)",
        "=",
        "dropped",
        "=",
    ]
    assert [r.doc_id for r in result.dropped] == ["x1", "x2"]  # by first-stage rank
    assert [r.doc_id for r in result.promoted] == ["x3", "y1"]
    # Shared documents x3 (3 -> 1) and x1 (1 -> 3) swap: one discordant pair of one.
    assert result.kendall_tau == pytest.approx(-1.0)
    assert result.cutoff_score == 99.0


def test_unchanged_order() -> None:
    same = audit(FIRST, stage("bm25>ce", [r.doc_id for r in FIRST.ranking], "rerank"), n=10)
    assert same.dropped == [] and same.promoted == []
    assert {r.marker for r in same.rows} == {"="}
    assert same.kendall_tau == pytest.approx(1.0)
