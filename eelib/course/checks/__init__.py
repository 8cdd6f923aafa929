"""Self-checks for the exercises: compare a student's function with the reference.

Every ``check_*`` runs the student's function and eelib's reference on a small table of
cases (random float64 batches in several layouts, and edge cases: a negative exactly at
the margin, all points equal, a single class, unnormalised input, a shuffled batch). On
the first disagreement it raises ``AssertionError`` naming the case, the expected and the
obtained result, and a hint. Hints are diagnostic: each check lists the typical mistakes
as small wrong variants of the reference, and when the student's result equals one of
them the message names that mistake. On success it prints one line and returns True.

Three things are checked on every case, in this order:

1. **Own work.** The student's function must not run eelib (nor pytorch-metric-learning,
   whose losses compute several of the results): the names its code loads are inspected
   before the first case (following the notebook functions it calls), and every call
   runs under a watch that notices any function of those packages being entered,
   however it was reached (an alias, ``getattr``, ``importlib``). The self-checks
   compare with eelib, so a function that calls eelib would prove nothing.
2. **The value** (number, points, masks or counts), against the reference.
3. **The gradient**, for the exercises whose result is differentiable (the losses and
   EE's points): the result must carry an autograd graph back to the input, its gradient
   must be finite — coincident points included, where a square root of a zero distance
   gives NaN — and equal to the reference's.

All checks share one comparison loop, :func:`run_cases`; what differs between them is
the table of cases, the kind of result (a number, points, two masks, a dict of counts)
and the table of mistakes. :func:`check_independent`, for instructors' hidden tests,
makes the first of the three checks on its own.

Layout: ``_core`` holds the shared loop, the kinds of results, the own-work detection and
the gradient comparison; each notebook's checks sit in a module of their own
(``ch02_contrastive``, ``ch03_triplet``, ``ch04_npair``, ``ch05_lifted``,
``ch06_multi_similarity``, ``ch07_sampling``, ``ch08_expansion``). Import them from here.

Examples
--------
>>> import torch
>>> from eelib.course.checks import check_contrastive
>>> def my_contrastive_loss(e, y, margin=1.0):
...     d = torch.cdist(e, e)
...     same = y[:, None] == y[None, :]
...     terms = torch.where(same, 0.5 * d**2, 0.5 * torch.relu(margin - d) ** 2)
...     return terms[torch.ones_like(same).triu(1)].mean()
>>> check_contrastive(my_contrastive_loss)  # doctest: +ELLIPSIS
✓ check_contrastive: all ... cases agree with the reference (values and gradients).
True
"""

from __future__ import annotations

from eelib.course.checks._core import COUNTS, MASKS, NUMBER, POINTS, Case, Kind, check_independent, run_cases
from eelib.course.checks.ch02_contrastive import check_contrastive
from eelib.course.checks.ch03_triplet import check_triplet
from eelib.course.checks.ch04_npair import check_npair
from eelib.course.checks.ch05_lifted import check_lifted
from eelib.course.checks.ch06_multi_similarity import check_ms_mining, check_multi_similarity, reference_ms_mining
from eelib.course.checks.ch07_sampling import check_pair_counts, reference_pair_counts
from eelib.course.checks.ch08_expansion import (
    check_expand,
    check_expanded_distances,
    check_parent_gradients,
    expand_reference,
    parent_gradients_reference,
    synthetic_distance_reference,
)


__all__ = [
    "COUNTS",
    "MASKS",
    "NUMBER",
    "POINTS",
    "Case",
    "Kind",
    "check_contrastive",
    "check_independent",
    "check_expand",
    "check_expanded_distances",
    "check_lifted",
    "check_ms_mining",
    "check_multi_similarity",
    "check_npair",
    "check_pair_counts",
    "check_parent_gradients",
    "check_triplet",
    "expand_reference",
    "parent_gradients_reference",
    "reference_ms_mining",
    "reference_pair_counts",
    "run_cases",
    "synthetic_distance_reference",
]
