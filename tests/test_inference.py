"""Paired statistics, Holm's adjustment and the verdict rule, against hand computations and scipy's reference values."""

from __future__ import annotations

import math

import pytest

import numpy as np
from scipy import stats

from eelib.experiments.inference import (
    EXACT_UP_TO,
    HELPS,
    HURTS,
    NO_CLEAR_EFFECT,
    adjust_family,
    holm,
    is_fragile,
    paired_difference,
    paired_rows,
    t_test_p,
    verdict,
    wilcoxon_p,
)

pytestmark = pytest.mark.unit


def test_interval_is_the_t_interval_of_the_differences() -> None:
    treatment = [10.0, 12.0, 11.0, 15.0, 13.0]
    baseline = [9.0, 10.0, 11.5, 12.0, 10.5]
    d = [1.0, 2.0, -0.5, 3.0, 2.5]
    mean = sum(d) / 5
    sd = math.sqrt(sum((x - mean) ** 2 for x in d) / 4)
    t_975_4 = 2.7764451051977987  # Student t, 97.5 % quantile, 4 degrees of freedom
    summary = paired_difference(treatment, baseline)
    assert summary.delta == pytest.approx(mean)
    assert summary.ci_low == pytest.approx(mean - t_975_4 * sd / math.sqrt(5))
    assert summary.ci_high == pytest.approx(mean + t_975_4 * sd / math.sqrt(5))
    assert summary.wins == 4 and summary.n_seeds == 5


def test_wilcoxon_p_value_is_exact_for_small_samples() -> None:
    # Five positive differences with distinct ranks: only 2 of the 2⁵ sign patterns are as
    # extreme (all + or all −), so the exact two-sided p-value is 2/32.
    assert paired_difference([1, 2, 3, 4, 5], [0, 0, 0, 0, 0]).p_wilcoxon == pytest.approx(2 / 32)
    # Ten of them: 2/1024.
    assert paired_difference(list(range(1, 11)), [0] * 10).p_wilcoxon == pytest.approx(2 / 1024)


def test_wilcoxon_p_agrees_with_scipy_with_ties_and_zeros() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        n = int(rng.integers(2, 11))
        differences = np.round(rng.normal(0.3, 1.0, n), int(rng.integers(0, 2)))  # rounding makes ties
        if rng.random() < 0.3:
            differences[:2] = 0.0
        if differences.any():
            assert wilcoxon_p(differences) == pytest.approx(stats.wilcoxon(differences).pvalue)
    many = rng.normal(0.2, 1.0, EXACT_UP_TO + 4)
    assert wilcoxon_p(many) == pytest.approx(stats.wilcoxon(many).pvalue)


def test_all_equal_runs_have_no_effect_and_p_one() -> None:
    summary = paired_difference([3.0, 4.0, 5.0], [3.0, 4.0, 5.0])
    assert (summary.delta, summary.ci_low, summary.ci_high, summary.p_t, summary.p_wilcoxon, summary.wins) == (
        0, 0, 0, 1.0, 1.0, 0)
    assert summary.verdict == NO_CLEAR_EFFECT


def test_the_t_test_p_value_is_scipy_s_and_matches_the_interval() -> None:
    rng = np.random.default_rng(1)
    for _ in range(200):
        n = int(rng.integers(2, 12))
        treatment, baseline = rng.normal(0.5, 1.0, n), rng.normal(0.0, 1.0, n)
        summary = paired_difference(treatment, baseline)
        assert summary.p_t == pytest.approx(stats.ttest_rel(treatment, baseline).pvalue, rel=1e-9)
        # The interval excludes 0 exactly when p < 0.05 (away from the boundary, where rounding could decide).
        if abs(summary.p_t - 0.05) > 1e-9:
            assert (summary.ci_low > 0 or summary.ci_high < 0) == (summary.p_t < 0.05)
    assert t_test_p([2.0, 2.0, 2.0]) == 0.0 and t_test_p([0.0, 0.0]) == 1.0  # no spread


def test_the_verdict_rule() -> None:
    assert verdict(0.5, 0.049) == HELPS
    assert verdict(-0.5, 0.049) == HURTS
    assert verdict(0.5, 0.05) == NO_CLEAR_EFFECT  # the line itself is not below it
    assert verdict(0.0, 0.0) == NO_CLEAR_EFFECT
    assert paired_difference([2, 3, 4, 5], [1, 1, 1, 1]).verdict == HELPS
    assert paired_difference([1, 1, 1, 1], [2, 3, 4, 5]).verdict == HURTS
    assert [is_fragile(p) for p in (0.0249, 0.025, 0.049, 0.05, 0.0999, 0.1)] == [False, True, True, True, True,
                                                                                   False]


def _holm_by_rejection(p_values, alpha):
    """Holm's procedure as a sequence of decisions: reject in increasing order while p_(i) <= alpha / (m - i)."""
    order = np.argsort(p_values, kind="stable")
    rejected = np.zeros(len(p_values), dtype=bool)
    for i, index in enumerate(order):
        if p_values[index] > alpha / (len(p_values) - i):
            break
        rejected[index] = True
    return rejected


def test_holm_adjusted_p_values_decide_as_holm_s_procedure_at_every_level() -> None:
    rng = np.random.default_rng(2)
    for _ in range(300):
        m = int(rng.integers(1, 25))
        p = np.where(rng.random(m) < 0.4, rng.random(m) * 0.01, rng.random(m))
        adjusted = np.array(holm(p))
        assert np.all(adjusted >= p - 1e-15) and np.all(adjusted <= 1)
        order = np.argsort(p, kind="stable")
        assert np.all(np.diff(adjusted[order]) >= -1e-15)  # monotone in the raw p-values
        for alpha in (0.01, 0.05, 0.1, float(rng.random())):
            expected = _holm_by_rejection(p, alpha)
            decided = adjusted <= alpha
            assert np.array_equal(decided, expected), (p, alpha)
    assert holm([0.03]) == [0.03]  # a family of one needs no adjustment


def test_families_are_adjusted_separately() -> None:
    rows = [{"metric": "a", "delta": 1.0, "p_t": 0.01}, {"metric": "a", "delta": -1.0, "p_t": 0.02},
            {"metric": "b", "delta": 1.0, "p_t": 0.04}]
    out = adjust_family(rows, ("metric",))
    assert [r["p_holm"] for r in out] == pytest.approx([0.02, 0.02, 0.04])
    assert [r["verdict"] for r in out] == [HELPS, HURTS, HELPS]
    assert [r["fragile"] for r in out] == [False, False, True]
    assert [r["p_holm"] for r in adjust_family(rows, ())] == pytest.approx([0.03, 0.04, 0.04])
    assert rows[0].keys() == {"metric", "delta", "p_t"}  # the input rows are left alone


@pytest.mark.parametrize("treatment, baseline, message", [
    ([1.0], [0.0], "at least 2 seeds"),
    ([1.0, 2.0], [0.0], "one value per seed"),
    ([1.0, float("nan")], [0.0, 0.0], "finite"),
])
def test_bad_input_is_refused(treatment, baseline, message) -> None:
    with pytest.raises(ValueError, match=message):
        paired_difference(treatment, baseline)


def test_rows_are_paired_by_seed_not_by_order() -> None:
    rows = [
        {"dataset": "d", "loss": "l", "n_synthetic": 2, "seed": 1, "m": 5.0},
        {"dataset": "d", "loss": "l", "n_synthetic": 0, "seed": 0, "m": 1.0},
        {"dataset": "d", "loss": "l", "n_synthetic": 2, "seed": 0, "m": 2.0},
        {"dataset": "d", "loss": "l", "n_synthetic": 0, "seed": 1, "m": 1.0},
        {"dataset": "e", "loss": "l", "n_synthetic": 0, "seed": 0, "m": 1.0},  # no treatment side: left out
    ]
    (row,) = paired_rows(rows, ["m"], keys=("dataset", "loss"), treatment={"n_synthetic": 2},
                         baseline={"n_synthetic": 0})
    assert row["dataset"] == "d" and row["metric"] == "m"
    assert row["delta"] == pytest.approx(2.5) and row["wins"] == 2  # differences 1 and 4


def test_rows_with_different_seeds_on_the_two_sides_are_refused() -> None:
    rows = [{"g": "a", "n": 0, "seed": 0, "m": 1.0}, {"g": "a", "n": 0, "seed": 1, "m": 1.0},
            {"g": "a", "n": 2, "seed": 0, "m": 1.0}, {"g": "a", "n": 2, "seed": 2, "m": 1.0}]
    with pytest.raises(ValueError, match="different seeds"):
        paired_rows(rows, ["m"], keys=("g",), treatment={"n": 2}, baseline={"n": 0})
