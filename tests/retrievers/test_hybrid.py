"""Fusion formulas, written out by hand."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest

from rankshift.retrievers.base import top_k
from rankshift.retrievers.fusion import normalise, rrf, weighted_fusion
from rankshift.retrievers.hybrid import HybridRetriever
from rankshift.types import ScoredDoc


def ranking(*pairs: tuple[str, float]) -> list[ScoredDoc]:
    return [ScoredDoc(d, i, s) for i, (d, s) in enumerate(pairs, 1)]


# BM25 ranks a, b, c; dense ranks c, a, d.
SPARSE = ranking(("a", 12.0), ("b", 8.0), ("c", 2.0))
DENSE = ranking(("c", 0.9), ("a", 0.6), ("d", 0.3))


def test_rrf() -> None:
    fused = rrf([SPARSE, DENSE], k=60)
    assert fused == pytest.approx(
        {
            "a": 1 / (60 + 1) + 1 / (60 + 2),
            "b": 1 / (60 + 2),  # absent from dense: contributes nothing there
            "c": 1 / (60 + 3) + 1 / (60 + 1),
            "d": 1 / (60 + 3),
        }
    )
    assert rrf([SPARSE, DENSE], k=1)["a"] == pytest.approx(1 / (1 + 1) + 1 / (1 + 2))


def test_minmax_fusion() -> None:
    w = 0.3
    fused = weighted_fusion(SPARSE, DENSE, weight=w, norm="minmax", missing="min")
    s = lambda x: (x - 2.0) / (12.0 - 2.0)  # noqa: E731
    d = lambda x: (x - 0.3) / (0.9 - 0.3)  # noqa: E731
    assert fused == pytest.approx(
        {
            "a": (1 - w) * s(12.0) + w * d(0.6),
            "b": (1 - w) * s(8.0) + w * 0.0,  # missing from dense: the list's min, 0
            "c": (1 - w) * s(2.0) + w * d(0.9),
            "d": (1 - w) * 0.0 + w * d(0.3),
        }
    )
    # With min-max the lowest normalised score is 0, so "zero" is the same rule.
    assert weighted_fusion(SPARSE, DENSE, w, "minmax", "zero") == pytest.approx(fused)


def zscores(values: Sequence[float]) -> list[float]:
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))  # population std
    return [(v - mean) / std for v in values]


def test_zscore_fusion_missing_min_and_zero() -> None:
    w = 0.5
    za, zb, zc = zscores([12.0, 8.0, 2.0])
    yc, ya, yd = zscores([0.9, 0.6, 0.3])
    by_min = weighted_fusion(SPARSE, DENSE, weight=w, norm="zscore", missing="min")
    assert by_min == pytest.approx(
        {
            "a": (1 - w) * za + w * ya,
            "b": (1 - w) * zb + w * yd,  # missing from dense: dense's lowest z-score
            "c": (1 - w) * zc + w * yc,
            "d": (1 - w) * zc + w * yd,  # missing from BM25: BM25's lowest z-score
        }
    )
    by_zero = weighted_fusion(SPARSE, DENSE, weight=w, norm="zscore", missing="zero")
    assert by_zero["b"] == pytest.approx((1 - w) * zb + w * 0.0)  # 0 is the list's mean
    assert by_zero["d"] == pytest.approx((1 - w) * 0.0 + w * yd)
    assert by_zero["a"] == pytest.approx(by_min["a"])


def test_weight_ends_select_one_list() -> None:
    only_bm25 = weighted_fusion(SPARSE, DENSE, weight=0.0)
    assert [d for d, _ in sorted(only_bm25.items(), key=lambda x: -x[1])][:2] == ["a", "b"]
    only_dense = weighted_fusion(SPARSE, DENSE, weight=1.0)
    assert max(only_dense, key=only_dense.__getitem__) == "c"


@pytest.mark.parametrize("weight", [-0.01, 1.01, float("nan")])
def test_weight_out_of_bounds(weight: float) -> None:
    with pytest.raises(ValueError, match="weight must be in"):
        weighted_fusion(SPARSE, DENSE, weight=weight)
    with pytest.raises(ValueError, match="weight must be in"):
        HybridRetriever(FixedRetriever(SPARSE), FixedRetriever(DENSE), "minmax", weight=weight)


def test_normalise_constant_and_empty_lists() -> None:
    assert normalise({"x": 3.0, "y": 3.0}, "minmax") == {"x": 0.0, "y": 0.0}
    assert normalise({"x": 3.0, "y": 3.0}, "zscore") == {"x": 0.0, "y": 0.0}
    assert normalise({}, "minmax") == {}
    assert weighted_fusion([], DENSE, weight=0.5)["c"] == pytest.approx(0.5 * 1.0)


def test_ties_break_on_doc_id() -> None:
    # b and a each appear once at rank 1 of one list: equal RRF scores, "a" first.
    fused = rrf([ranking(("b", 5.0)), ranking(("a", 0.5))], k=60)
    assert fused["a"] == fused["b"]
    assert [r.doc_id for r in top_k(fused.items(), 10)] == ["a", "b"]
    assert top_k([("z", 1.0), ("y", 1.0), ("x", 2.0)], 2) == [
        ScoredDoc("x", 1, 2.0),
        ScoredDoc("y", 2, 1.0),
    ]


class FixedRetriever:
    """A first stage that always returns the same list (the fusion is what is under test)."""

    key = "fixed"
    name = "fixed"

    def __init__(self, rows: list[ScoredDoc]) -> None:
        self.rows = rows

    def search(self, query: str, k: int) -> list[ScoredDoc]:
        return self.rows[:k]

    def search_many(self, queries: Sequence[str], k: int) -> list[list[ScoredDoc]]:
        return [self.search(q, k) for q in queries]


def test_hybrid_retriever_names_and_order() -> None:
    sparse, dense = FixedRetriever(SPARSE), FixedRetriever(DENSE)
    rrf_hybrid = HybridRetriever(sparse, dense)
    assert rrf_hybrid.name == "hybrid(rrf,k=60)"
    assert HybridRetriever(sparse, dense, "minmax", weight=0.3).name == "hybrid(minmax,w=0.3)"
    assert HybridRetriever(sparse, dense, "zscore", weight=0.5).name == "hybrid(zscore,w=0.5)"
    assert HybridRetriever(sparse, dense, rrf_k=10).name == "hybrid(rrf,k=10)"
    # RRF: a = 1/61 + 1/62 > c = 1/63 + 1/61 > b = 1/62 > d = 1/63.
    results = rrf_hybrid.search("anything", 3)
    assert [(r.doc_id, r.rank) for r in results] == [("a", 1), ("c", 2), ("b", 3)]
    assert results[0].score == pytest.approx(1 / 61 + 1 / 62)
    with pytest.raises(ValueError, match="unknown fusion"):
        HybridRetriever(sparse, dense, "borda")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="rrf_k must be at least 0"):
        HybridRetriever(sparse, dense, rrf_k=-1)  # 1 / (-1 + 1) would divide by zero
