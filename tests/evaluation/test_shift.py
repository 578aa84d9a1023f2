"""Judgment-free shift metrics: RBO, Jaccard, tau_AP against their formulas and against `rbo`."""

from __future__ import annotations

import random

import pytest

from rankshift.evaluation.shift import jaccard, most_changed, rbo, shift, tau_ap


def test_rbo_of_identical_and_disjoint_lists() -> None:
    assert rbo(list("abcde"), list("abcde")) == pytest.approx(1.0)
    assert rbo(list("abc"), list("xyz")) == pytest.approx(0.0)
    assert rbo([], []) == 1.0 and rbo(["a"], []) == 0.0


def test_rbo_of_even_lists_follows_the_closed_form() -> None:
    # Even lengths (k = 3): RBO_ext = X_k / k * p^k + (1 - p) / p * sum_d X_d / d * p^d.
    # a = [a, b, c], b = [b, a, d]: X_1 = 0, X_2 = 2, X_3 = 2.
    p = 0.9
    expected = 2 / 3 * p**3 + (1 - p) / p * (0 / 1 * p + 2 / 2 * p**2 + 2 / 3 * p**3)
    assert rbo(["a", "b", "c"], ["b", "a", "d"], p) == pytest.approx(expected, abs=1e-12)


def test_rbo_weights_the_top_more_than_the_bottom() -> None:
    base = list("abcdefghij")
    top_swap = ["b", "a", *base[2:]]
    bottom_swap = [*base[:8], "j", "i"]
    assert rbo(base, top_swap) < rbo(base, bottom_swap) < 1.0


@pytest.mark.parametrize("seed", range(12))
def test_rbo_agrees_with_the_rbo_package(seed: int) -> None:
    import rbo as reference

    rng = random.Random(seed)
    pool = [f"d{i}" for i in range(40)]
    a = rng.sample(pool, rng.randint(1, 20))
    b = rng.sample(pool, rng.randint(1, 20))  # uneven lengths too (eq. 32)
    p = rng.choice([0.5, 0.8, 0.9, 0.95])
    assert rbo(a, b, p) == pytest.approx(reference.RankingSimilarity(a, b).rbo_ext(p), abs=1e-9)


def test_jaccard() -> None:
    assert jaccard("abc", "bcd") == pytest.approx(2 / 4)
    assert jaccard([], []) == 1.0


def test_tau_ap_by_hand() -> None:
    ref = ["a", "b", "c", "d"]
    assert tau_ap(ref, ref) == pytest.approx(1.0)
    assert tau_ap(ref, ref[::-1]) == pytest.approx(-1.0)
    # One swap: at the top it costs more than at the bottom (Kendall's tau: 2/3 for both).
    # Top: C = [0/1, 2/2, 3/3] -> 2/3 * 2 - 1 = 1/3. Bottom: [1, 1, 2/3] -> 2/3 * 8/3 - 1 = 7/9.
    assert tau_ap(ref, ["b", "a", "c", "d"]) == pytest.approx(1 / 3)
    assert tau_ap(ref, ["a", "b", "d", "c"]) == pytest.approx(7 / 9)
    assert tau_ap(ref, ["a", "x"]) is None  # one shared document: undefined


def test_shift_counts_unjudged_documents_moved_into_the_top_n() -> None:
    first = ["a", "b", "c", "d", "e", "f"]
    reranked = ["e", "a", "f", "b", "c", "d"]
    s = shift(first, reranked, n=3, judged={"e"})
    assert s.moved_in == 2  # e and f entered the top-3
    assert s.unjudged_moved_in == 1  # f has no judgment
    assert s.jaccard == pytest.approx(jaccard(["a", "b", "c"], ["e", "a", "f"]))
    assert s.kendall_tau is not None and s.tau_ap is not None


def test_most_changed_orders_by_lowest_agreement_then_unjudged() -> None:
    same = shift(list("abc"), list("abc"), n=3)
    moved = shift(list("abcd"), list("dcba"), n=3)
    ordered = most_changed({"q1": same, "q2": moved})
    assert [q for q, _ in ordered] == ["q2", "q1"]
    with pytest.raises(ValueError):
        most_changed({}, by="ndcg")
