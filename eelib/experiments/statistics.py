"""Paired statistics and the one verdict rule of the experiments.

Within a seed, a run with EE and a run without it share the data (the data seed), the
model's initialisation and the order of the batches: they differ only in the loss. Their
scores are therefore *paired*, and what matters is the distribution of the per-seed
differences, not the spread of each column on its own (the protocol is described in
eelib/experiments/results/results.md, which the runner generates).

For the differences ``d_s = with_s − without_s`` over ``S`` seeds this module reports

* ``delta``: their mean;
* ``ci_low``, ``ci_high``: the 95 % confidence interval of the mean difference, from the
  t distribution with ``S − 1`` degrees of freedom (``mean ± t · sd / √S``);
* ``p_value``: the two-sided Wilcoxon signed-rank test of "the differences are centred on
  zero" (:func:`wilcoxon_p`: zero differences dropped, exact over all sign patterns, ties
  included, for up to :data:`EXACT_UP_TO` non-zero differences; 1.0 when every difference is zero);
* ``wins``: in how many seeds the first run scored strictly higher.

The verdict is decided by the interval alone (:data:`VERDICT_RULE`, :func:`verdict`); the
p-value is reported next to it as a second, distribution-free view.
"""

from __future__ import annotations

import math
import statistics as pystats
from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

import numpy as np
from scipy import stats

#: Confidence level of every interval.
CONFIDENCE = 0.95

#: The rule, stated once; notebooks, README and results.md quote it from here.
VERDICT_RULE = (
    "EE **helps** when the 95 % confidence interval of the mean paired difference "
    "(with EE − without, over seeds) lies entirely above 0, **hurts** when it lies entirely "
    "below 0, and has **no clear effect** otherwise."
)

HELPS, HURTS, NO_CLEAR_EFFECT = "helps", "hurts", "no clear effect"

#: Up to this many non-zero differences the Wilcoxon p-value enumerates every sign pattern.
EXACT_UP_TO = 16


class PairedDifference(NamedTuple):
    """Summary of per-seed differences ``treatment − baseline`` (see the module docstring)."""

    delta: float
    ci_low: float
    ci_high: float
    p_value: float
    n_seeds: int
    wins: int

    @property
    def verdict(self) -> str:
        return verdict(self.ci_low, self.ci_high)


def verdict(ci_low: float, ci_high: float) -> str:
    """The one verdict rule: "helps", "hurts" or "no clear effect" from a 95 % interval.

    >>> verdict(0.2, 1.4), verdict(-1.0, -0.1), verdict(-0.3, 0.8)
    ('helps', 'hurts', 'no clear effect')
    """
    if ci_low > 0:
        return HELPS
    if ci_high < 0:
        return HURTS
    return NO_CLEAR_EFFECT


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
    """Mean, 95 % t-interval, Wilcoxon p-value and wins of ``treatment − baseline``.

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
    return PairedDifference(mean, mean - half_width, mean + half_width, wilcoxon_p(differences), n,
                            sum(d > 0 for d in differences))


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


__all__ = ["CONFIDENCE", "EXACT_UP_TO", "HELPS", "HURTS", "NO_CLEAR_EFFECT", "PairedDifference", "VERDICT_RULE",
           "paired_difference", "paired_rows", "verdict", "wilcoxon_p"]
