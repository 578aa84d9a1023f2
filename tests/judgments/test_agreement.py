"""Agreement coefficients on small examples computed by hand.

The running example: two annotators grade six documents on the 0-3 scale.

    doc     d1 d2 d3 d4 d5 d6
    alice    0  1  2  0  1  2
    bob      0  1  2  0  2  1

They agree on d1-d4 and swap 1 and 2 on d5 and d6.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from rankshift.judgments import SKIP, Judgment, JudgmentStore
from rankshift.judgments.agreement import (
    AgreementResult,
    agreement,
    agreement_frame,
    cohen_kappa,
    krippendorff_alpha,
)

ALICE = {"d1": 0, "d2": 1, "d3": 2, "d4": 0, "d5": 1, "d6": 2}
BOB = {"d1": 0, "d2": 1, "d3": 2, "d4": 0, "d5": 2, "d6": 1}


def test_cohen_kappa_by_hand() -> None:
    po = 4 / 6  # agreement on d1-d4
    # Each annotator uses 0, 1 and 2 twice each: pe = 3 * (2/6 * 2/6)
    pe = 3 * (2 / 6) * (2 / 6)
    result = cohen_kappa(ALICE, BOB)
    assert result.value == pytest.approx((po - pe) / (1 - pe))  # = 0.5
    assert result.value == pytest.approx(0.5)
    assert (result.n_items, result.reason) == (6, None)


def test_linear_weighted_kappa_by_hand() -> None:
    # kappa_w = 1 - sum(w * O) / sum(w * E) with w_ij = |i - j| over the scale 0..3.
    # Observed: the two swaps (1,2) and (2,1) each weigh 1 -> sum(w * O) = 2.
    # Expected counts: E_ij = row_i * col_j / n = 2 * 2 / 6 = 2/3 for i, j in {0, 1, 2};
    # sum over that 3x3 block of |i - j| is 8 -> sum(w * E) = 8 * 2/3 = 16/3.
    expected = 1 - 2 / (16 / 3)  # = 0.625
    result = cohen_kappa(ALICE, BOB, weights="linear", labels=[0, 1, 2, 3])
    assert result.value == pytest.approx(expected)


def test_krippendorff_alpha_nominal_by_hand() -> None:
    # Coincidence matrix (each two-value document adds 1 per ordered pair of its values):
    #   o_00 = 4 (d1, d4), o_11 = 2 (d2), o_22 = 2 (d3), o_12 = o_21 = 2 (d5, d6)
    # n_0 = n_1 = n_2 = 4, n = 12.
    # alpha = 1 - (n - 1) * sum_{c != k} o_ck / sum_{c != k} n_c n_k
    #       = 1 - 11 * 4 / (12^2 - 3 * 4^2) = 1 - 44 / 96
    result = krippendorff_alpha({"alice": ALICE, "bob": BOB}, level="nominal")
    assert result.value == pytest.approx(1 - 44 / 96)  # = 0.5417


def test_krippendorff_alpha_ordinal_by_hand() -> None:
    # Ordinal distance: delta_ck = (sum_{g=c..k} n_g - (n_c + n_k) / 2)^2 with n_g = 4:
    #   delta_01 = delta_12 = (8 - 4)^2 = 16,  delta_02 = (12 - 4)^2 = 64.
    # Observed: o_12 * delta_12 + o_21 * delta_21 = 2 * 16 + 2 * 16 = 64.
    # Expected: sum_{c != k} n_c n_k delta_ck = 2 * 16 * (16 + 16 + 64) = 3072.
    # alpha = 1 - (n - 1) * 64 / 3072 = 1 - 11 * 64 / 3072
    result = krippendorff_alpha(
        {"alice": ALICE, "bob": BOB}, level="ordinal", value_domain=[0, 1, 2, 3]
    )
    assert result.value == pytest.approx(1 - 11 * 64 / 3072)  # = 0.7708


def test_krippendorff_alpha_three_annotators_with_a_missing_grade() -> None:
    # doc   x  y  z
    # ann1  1  0  0
    # ann2  1  0  1
    # ann3  1  1  -      (ann3 did not grade z)
    # x (3 values, weight 1/(3-1)): 6 ordered (1,1) pairs -> o_11 += 3
    # y (3 values): (0,0) x2, (0,1) x2, (1,0) x2, each 1/2 -> o_00 += 1, o_01 += 1, o_10 += 1
    # z (2 values): (0,1), (1,0), weight 1 -> o_01 += 1, o_10 += 1
    # n_0 = 1 + 2 = 3, n_1 = 3 + 2 = 5, n = 8
    # alpha = 1 - (n - 1) * (o_01 + o_10) / (2 * n_0 * n_1) = 1 - 7 * 4 / 30 = 1/15
    ratings = {
        "ann1": {"x": 1, "y": 0, "z": 0},
        "ann2": {"x": 1, "y": 0, "z": 1},
        "ann3": {"x": 1, "y": 1},
    }
    assert krippendorff_alpha(ratings, level="nominal").value == pytest.approx(1 / 15)


@pytest.mark.parametrize(
    ("a", "b", "reason"),
    [
        ({"d1": 2, "d2": 2}, {"d1": 2, "d2": 2}, "chance agreement is 1"),
        ({"d1": 2}, {"d2": 2}, "no document was graded by both"),
        ({}, {}, "no document was graded by both"),
    ],
)
def test_kappa_degenerate_cases_give_none_and_a_reason(
    a: dict[str, int], b: dict[str, int], reason: str
) -> None:
    result = cohen_kappa(a, b)
    assert result.value is None
    assert reason in (result.reason or "")


def test_kappa_is_defined_when_only_one_annotator_varies() -> None:
    # pe = 1 * 0.5 = 0.5 (alice always 1; bob 1 half the time), po = 0.5 -> kappa = 0
    assert cohen_kappa({"d1": 1, "d2": 1}, {"d1": 1, "d2": 2}).value == pytest.approx(0.0)


@pytest.mark.parametrize(
    ("ratings", "reason"),
    [
        ({"alice": ALICE}, "at least two annotators"),
        ({"alice": ALICE, "bob": {}}, "at least two annotators"),
        ({"alice": {"d1": 1}, "bob": {"d2": 1}}, "two or more annotators"),
        ({"alice": {"d1": 1, "d2": 1}, "bob": {"d1": 1, "d2": 1}}, "no variation"),
    ],
)
def test_alpha_degenerate_cases_give_none_and_a_reason(
    ratings: dict[str, dict[str, int]], reason: str
) -> None:
    for level in ("ordinal", "nominal"):
        result = krippendorff_alpha(ratings, level=level, value_domain=[0, 1, 2, 3])
        assert result.value is None
        assert reason in (result.reason or "")


def _judgments(grades: dict[str, dict[str, int | str]], query_id: str = "q1") -> list[Judgment]:
    return [
        Judgment(
            "fp",
            query_id,
            doc,
            annotator,
            None if g == SKIP else g,  # type: ignore[arg-type]
            "skipped" if g == SKIP else "graded",
        )
        for annotator, docs in grades.items()
        for doc, g in docs.items()
    ]


def _find(results: list[AgreementResult], query_id: str | None, metric: str) -> AgreementResult:
    (found,) = [r for r in results if r.query_id == query_id and r.metric == metric]
    return found


def test_agreement_overall_and_per_query() -> None:
    judgments = _judgments({"alice": ALICE, "bob": BOB}, "q1") + _judgments(
        {"alice": {"d1": 3}, "bob": {"d1": 3}, "carol": {"d1": 3}}, "q2"
    )
    results = agreement(judgments)
    q1 = _find(results, "q1", "cohen_kappa")
    assert (q1.annotators, q1.value) == (("alice", "bob"), pytest.approx(0.5))
    assert _find(results, "q1", "krippendorff_alpha(ordinal)").value == pytest.approx(
        1 - 11 * 64 / 3072
    )
    # q2: everyone said 3 -> alpha undefined, with a reason instead of NaN
    q2_alpha = _find(results, "q2", "krippendorff_alpha(nominal)")
    assert q2_alpha.value is None and "no variation" in (q2_alpha.reason or "")
    assert {r.annotators for r in results if r.query_id == "q2" and r.metric == "cohen_kappa"} == {
        ("alice", "bob"),
        ("alice", "carol"),
        ("bob", "carol"),
    }
    overall = _find(results, None, "krippendorff_alpha(nominal)")
    assert overall.annotators == ("alice", "bob", "carol") and overall.n_items == 7
    assert results[0].query_id is None  # overall rows come first


def test_agreement_treats_skips_as_missing() -> None:
    with_skip = {**BOB, "d7": SKIP}
    results = agreement(_judgments({"alice": {**ALICE, "d7": 3}, "bob": with_skip}))
    kappa = _find(results, None, "cohen_kappa")
    assert (kappa.value, kappa.n_items) == (pytest.approx(0.5), 6)


def test_agreement_with_one_annotator_reports_why() -> None:
    results = agreement(_judgments({"alice": ALICE}), per_query=False)
    assert [r.value for r in results] == [None, None, None]
    assert all(r.reason for r in results)


def test_agreement_frame_is_tidy_and_has_no_surprise_nans() -> None:
    results = agreement(_judgments({"alice": ALICE, "bob": BOB}), kappa_weights="quadratic")
    frame = agreement_frame(results)
    assert list(frame.columns) == [
        "scope",
        "query_id",
        "metric",
        "annotators",
        "value",
        "n_items",
        "reason",
    ]
    assert set(frame["metric"]) == {
        "cohen_kappa(weights=quadratic)",
        "krippendorff_alpha(ordinal)",
        "krippendorff_alpha(nominal)",
    }
    assert list(frame["scope"].unique()) == ["overall", "query"]
    assert (frame["value"].isna() == frame["reason"].notna()).all()
    assert frame.loc[0, "annotators"] == "alice, bob"


def test_store_agreement_uses_its_judgments(tmp_path: Path) -> None:
    with JudgmentStore(tmp_path / "j.db") as store:
        for doc, grade in ALICE.items():
            store.save("fp", "q1", doc, "alice", grade)
        for doc, grade in BOB.items():
            store.save("fp", "q1", doc, "bob", grade)
        store.save("fp", "q1", "d1", "qrels:test", 3, source="qrels:test")
        results = store.agreement("fp", include_sources=["ui"], per_query=False)
        frame = store.agreement_frame("fp", annotators=["alice", "bob"])
    assert _find(results, None, "cohen_kappa").value == pytest.approx(0.5)
    assert not math.isnan(frame["value"].iloc[0])
