"""Paired statistics and the one verdict rule of the experiments, corrected for multiplicity.

Within a seed, a run with EE and a run without it share the data (the data seed), the
model's initialisation and the order of the batches: they differ only in the loss. Their
scores are therefore *paired*, and what matters is the distribution of the per-seed
differences, not the spread of each column on its own (the protocol is described in
eelib/experiments/results/results.md, which the runner generates).

For the differences ``d_s = with_s − without_s`` over ``S`` seeds this module reports

* ``delta``: their mean;
* ``ci_low``, ``ci_high``: the 95 % confidence interval of the mean difference, from the
  t distribution with ``S − 1`` degrees of freedom (``mean ± t · sd / √S``): the effect size;
* ``p_t``: the two-sided p-value of the paired t-test of "the mean difference is 0", the
  test that belongs to that interval (``p_t < 0.05`` exactly when the interval excludes 0);
* ``p_wilcoxon``: the two-sided Wilcoxon signed-rank test of "the differences are centred on
  zero" (:func:`wilcoxon_p`: zero differences dropped, exact over all sign patterns, ties
  included, for up to :data:`EXACT_UP_TO` non-zero differences; 1.0 when every difference is
  zero), reported beside it as a distribution-free view;
* ``wins``: in how many seeds the first run scored strictly higher.

A table states many verdicts at once, and each comparison at the 5 % level has a 5 % chance
of a false "clear" verdict: over a family of ``m`` true nulls, about ``0.05 · m`` of them.
The verdicts are therefore decided family by family (:data:`VERDICT_RULE`): the ``p_t`` of
the comparisons that one table states for one metric are adjusted by Holm's step-down
method (:func:`holm`), which keeps the chance of *any* false verdict in the family at 5 %
whatever the dependence between the comparisons (the rows of a table share seeds and data,
so they are dependent in ways nobody has measured). :func:`adjust_family` adds the adjusted
p-value, the verdict and a fragility flag (:func:`is_fragile`) to a family's rows.
"""

from __future__ import annotations

import math
import statistics as pystats
from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

import numpy as np
from scipy import stats

#: Family-wise error rate of the verdicts: the chance of any false "clear" verdict in a family.
ALPHA = 0.05

#: Confidence level of every interval.
CONFIDENCE = 1 - ALPHA

#: A clear verdict is fragile when its adjusted p-value is at least ALPHA / FRAGILE_FACTOR, and a
#: "no clear effect" when it is below ALPHA · FRAGILE_FACTOR: within a factor of two of the line.
FRAGILE_FACTOR = 2.0

#: The rule, stated once; notebooks, README and results.md quote it from here.
VERDICT_RULE = (
    "Each comparison is a paired t-test of the mean difference over seeds (with EE − without), "
    "whose 95 % confidence interval is the effect size. The p-values of all comparisons that one "
    "table states for one metric form a family and are adjusted together by Holm's method; EE "
    "**helps** when the adjusted p-value is below 0.05 and the mean difference is positive, "
    "**hurts** when it is below 0.05 and the difference is negative, and has **no clear effect** "
    "otherwise. A verdict is marked *fragile* when its adjusted p-value lies within a factor of two "
    "of 0.05 (from 0.025 to 0.1): a modest change in the runs could move it across the line."
)

HELPS, HURTS, NO_CLEAR_EFFECT = "helps", "hurts", "no clear effect"

#: Up to this many non-zero differences the Wilcoxon p-value enumerates every sign pattern.
EXACT_UP_TO = 16


class PairedDifference(NamedTuple):
    """Summary of per-seed differences ``treatment − baseline`` (see the module docstring)."""

    delta: float
    ci_low: float
    ci_high: float
    p_t: float
    p_wilcoxon: float
    n_seeds: int
    wins: int

    @property
    def verdict(self) -> str:
        """The verdict of this comparison as a family of its own (its p-value needs no adjustment)."""
        return verdict(self.delta, self.p_t)


def verdict(delta: float, p_adjusted: float) -> str:
    """The one verdict rule: "helps", "hurts" or "no clear effect" from a mean and its adjusted p-value.

    >>> verdict(0.8, 0.01), verdict(-0.8, 0.01), verdict(0.8, 0.2)
    ('helps', 'hurts', 'no clear effect')
    """
    if p_adjusted >= ALPHA or delta == 0:
        return NO_CLEAR_EFFECT
    return HELPS if delta > 0 else HURTS


def is_fragile(p_adjusted: float) -> bool:
    """Whether a verdict lies within a factor :data:`FRAGILE_FACTOR` of the line p = :data:`ALPHA`.

    >>> is_fragile(0.001), is_fragile(0.03), is_fragile(0.07), is_fragile(0.5)
    (False, True, True, False)
    """
    return ALPHA / FRAGILE_FACTOR <= p_adjusted < ALPHA * FRAGILE_FACTOR


def t_test_p(differences: Sequence[float]) -> float:
    """Two-sided p-value of the one-sample t-test of "the mean of ``differences`` is 0".

    Below 0.05 exactly when the 95 % t-interval of :func:`paired_difference` excludes 0.
    Differences that are all equal give 1.0 when they are 0 and 0.0 otherwise (no spread:
    the interval is the single point ``mean``).

    >>> round(t_test_p([1.0, 2.0, 3.0]), 4)  # t = 2 / (1 / √3) = 3.46 with 2 degrees of freedom
    0.0742
    """
    values = np.asarray(differences, dtype=float)
    mean, sd = float(values.mean()), float(values.std(ddof=1))
    if sd == 0:
        return 1.0 if mean == 0 else 0.0
    t = mean / (sd / math.sqrt(len(values)))
    return float(2 * stats.t.sf(abs(t), len(values) - 1))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the order given.

    The ``i``-th smallest of ``m`` p-values is multiplied by ``m − i + 1``; each adjusted
    value is the running maximum of these products over the smaller ones, capped at 1. A
    comparison is clear at family-wise level α exactly when its adjusted value is below α.

    >>> holm([0.01, 0.04, 0.03, 0.2])
    [0.04, 0.09, 0.09, 0.2]
    """
    values = [float(p) for p in p_values]
    order = sorted(range(len(values)), key=lambda i: values[i])
    adjusted, running = [0.0] * len(values), 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(values) - rank) * values[index]))
        adjusted[index] = running
    return adjusted


def adjust_family(rows: Sequence[dict], family: Sequence[str] = ("metric",), p_column: str = "p_t") -> list[dict]:
    """Rows with ``p_holm``, ``verdict`` and ``fragile`` added, Holm-adjusted within each family.

    Parameters
    ----------
    rows : sequence of dict
        Paired rows with ``delta`` and ``p_column``.
    family : sequence of str
        Columns whose values name a family: rows that agree on them are adjusted together
        (one table's rows for one metric: ``("metric",)``; ``()``: all rows form one family).
    p_column : str
        The column of unadjusted p-values.

    Returns
    -------
    list of dict
        New rows, in the order given.
    """
    groups: dict[tuple, list[int]] = {}
    for index, row in enumerate(rows):
        groups.setdefault(tuple(row[key] for key in family), []).append(index)
    out = [dict(row) for row in rows]
    for members in groups.values():
        for index, p in zip(members, holm([rows[i][p_column] for i in members])):
            out[index] |= {"p_holm": p, "verdict": verdict(rows[index]["delta"], p), "fragile": is_fragile(p)}
    return out


def wilcoxon_p(differences: Sequence[float]) -> float:
    """Two-sided p-value of the Wilcoxon signed-rank test, exact under ties.

    Zero differences are dropped (Wilcoxon's convention); the others are ranked by their
    absolute value (ties get their average rank) and the statistic is the sum of the ranks
    of the positive ones. Under the null hypothesis every sign pattern is equally likely, so
    up to :data:`EXACT_UP_TO` differences the p-value is counted over all ``2ⁿ`` patterns:
    ``min(1, 2 · min(P(T ≥ t), P(T ≤ t)))``. This is what :func:`scipy.stats.wilcoxon`
    returns by default, which reaches it by a slower permutation test when there are ties
    or zeros; beyond that size it is scipy's normal approximation.

    >>> wilcoxon_p([1.0, 2.0, 3.0, 4.0, 5.0])  # two of 32 sign patterns are as extreme
    0.0625
    """
    values = np.asarray(differences, dtype=float)
    values = values[values != 0]
    n = len(values)
    if n == 0:
        return 1.0
    if n > EXACT_UP_TO:
        return float(stats.wilcoxon(values).pvalue)
    ranks = stats.rankdata(np.abs(values))
    observed = ranks[values > 0].sum()
    patterns = (np.arange(2**n)[:, None] >> np.arange(n)) & 1
    null = patterns @ ranks  # rank sums are multiples of 1/2: exact in floating point
    greater, less = np.mean(null >= observed), np.mean(null <= observed)
    return float(min(1.0, 2 * min(greater, less)))


def paired_difference(treatment: Sequence[float], baseline: Sequence[float]) -> PairedDifference:
    """Mean, 95 % t-interval, t-test and Wilcoxon p-values and wins of ``treatment − baseline``.

    Parameters
    ----------
    treatment, baseline : sequence of float
        One value per seed, in the same seed order; at least two seeds.

    Returns
    -------
    PairedDifference

    Examples
    --------
    >>> d = paired_difference([2.0, 3.0, 4.0], [1.0, 1.0, 1.0])
    >>> d.delta, round(d.ci_low, 3), round(d.ci_high, 3), d.wins
    (2.0, -0.484, 4.484, 3)
    """
    if len(treatment) != len(baseline):
        raise ValueError(f"treatment and baseline must have one value per seed each, got "
                         f"{len(treatment)} and {len(baseline)}")
    if len(treatment) < 2:
        raise ValueError(f"a paired interval needs at least 2 seeds, got {len(treatment)}")
    differences = [float(a) - float(b) for a, b in zip(treatment, baseline)]
    if not all(math.isfinite(d) for d in differences):
        raise ValueError(f"the per-seed values must be finite, got differences {differences}")
    n = len(differences)
    mean = pystats.fmean(differences)
    half_width = float(stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1) * pystats.stdev(differences) / math.sqrt(n))
    return PairedDifference(mean, mean - half_width, mean + half_width, t_test_p(differences),
                            wilcoxon_p(differences), n, sum(d > 0 for d in differences))


def paired_rows(per_seed: Iterable[Mapping], metrics: Sequence[str], *, keys: Sequence[str],
                treatment: Mapping[str, object], baseline: Mapping[str, object]) -> list[dict]:
    """Pair per-seed rows that agree on ``keys`` and seed, and summarise each metric.

    Parameters
    ----------
    per_seed : iterable of mapping
        Rows with the columns ``keys``, the columns of ``treatment``/``baseline``, ``seed``
        and every metric.
    metrics : sequence of str
        Columns to compare.
    keys : sequence of str
        Columns that identify a comparison group (e.g. ``("dataset", "loss")``).
    treatment, baseline : mapping
        Column values selecting the two sides (e.g. ``{"n_synthetic": 2}`` and
        ``{"n_synthetic": 0}``).

    Returns
    -------
    list of dict
        One row per group with both sides present and per metric: the ``keys``, ``metric``
        and the fields of :class:`PairedDifference`. Seeds are paired by value; a group
        whose two sides hold different seeds raises ``ValueError``.
    """
    sides: dict[tuple, dict[str, dict]] = {}
    for row in per_seed:
        for side, selector in (("treatment", treatment), ("baseline", baseline)):
            if all(row[column] == value for column, value in selector.items()):
                group = tuple(row[key] for key in keys)
                seeds = sides.setdefault(group, {"treatment": {}, "baseline": {}})[side]
                if row["seed"] in seeds:
                    raise ValueError(f"two {side} rows for {dict(zip(keys, group))}, seed {row['seed']}")
                seeds[row["seed"]] = row
    out = []
    for group, by_side in sides.items():
        if not by_side["treatment"] or not by_side["baseline"]:
            continue
        if set(by_side["treatment"]) != set(by_side["baseline"]):
            raise ValueError(f"{dict(zip(keys, group))}: the two sides have different seeds "
                             f"{sorted(by_side['treatment'])} and {sorted(by_side['baseline'])}")
        seeds = sorted(by_side["treatment"])
        for metric in metrics:
            summary = paired_difference([by_side["treatment"][s][metric] for s in seeds],
                                        [by_side["baseline"][s][metric] for s in seeds])
            out.append(dict(zip(keys, group)) | {"metric": metric} | summary._asdict())
    return out


__all__ = ["ALPHA", "CONFIDENCE", "EXACT_UP_TO", "FRAGILE_FACTOR", "HELPS", "HURTS", "NO_CLEAR_EFFECT",
           "PairedDifference", "VERDICT_RULE", "adjust_family", "holm", "is_fragile", "paired_difference",
           "paired_rows", "t_test_p", "verdict", "wilcoxon_p"]
