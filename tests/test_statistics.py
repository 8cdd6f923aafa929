"""Paired statistics and the verdict rule, against hand computations and scipy's reference values."""

from __future__ import annotations

import math

import pytest

import numpy as np
from scipy import stats

from eelib.experiments.statistics import (
    EXACT_UP_TO,
    HELPS,
    HURTS,
    NO_CLEAR_EFFECT,
    paired_difference,
    paired_rows,
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
    assert paired_difference([1, 2, 3, 4, 5], [0, 0, 0, 0, 0]).p_value == pytest.approx(2 / 32)
    # Ten of them: 2/1024.
    assert paired_difference(list(range(1, 11)), [0] * 10).p_value == pytest.approx(2 / 1024)


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
    assert (summary.delta, summary.ci_low, summary.ci_high, summary.p_value, summary.wins) == (0, 0, 0, 1.0, 0)
    assert summary.verdict == NO_CLEAR_EFFECT


def test_the_verdict_rule() -> None:
    assert verdict(0.01, 2.0) == HELPS
    assert verdict(-2.0, -0.01) == HURTS
    assert verdict(-0.01, 2.0) == NO_CLEAR_EFFECT
    assert verdict(0.0, 2.0) == NO_CLEAR_EFFECT  # an interval that touches 0 does not exclude it
    assert paired_difference([2, 3, 4, 5], [1, 1, 1, 1]).verdict == HELPS
    assert paired_difference([1, 1, 1, 1], [2, 3, 4, 5]).verdict == HURTS


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
