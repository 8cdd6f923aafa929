"""Hidden tests: what is checked at grading time and not by the student's self-check.

nbgrader runs the ``### BEGIN HIDDEN TESTS`` … ``### END HIDDEN TESTS`` block of a check
cell when it autogrades a submission, and removes the block from the release (so does
``tools/make_student_versions.py``). :func:`hidden_check` is what such a block calls;
``tools/coursework.py init`` writes one under every visible check of a course's source
notebooks, e.g. under ``check_contrastive(my_contrastive_loss)``::

    ### BEGIN HIDDEN TESTS
    from eelib.course.grading import hidden_check
    assert hidden_check(check_contrastive, my_contrastive_loss)
    ### END HIDDEN TESTS

For the exercise that the visible check verifies, the hidden tests require

1. **independence**: the solution uses nothing from eelib
   (:func:`eelib.course.checks.check_independent`);
2. **fresh cases**: agreement with the reference on inputs drawn from seeds and layouts
   that no visible check uses, so that a solution tuned to the visible cases fails;
3. **gradients**: for a loss and for EE's synthetic points, a result connected to the
   input by autograd, whose float64 gradient is finite and equals the reference's.

A failure raises ``AssertionError`` naming the exercise and the case; nbgrader then scores
the check cell zero, exactly as for a failing visible check.

Examples
--------
>>> import torch
>>> from eelib.course.checks import check_pair_counts
>>> def counts(n_classes, per_class):
...     n = n_classes * per_class
...     positive = n_classes * per_class * (per_class - 1) // 2
...     return {"positive_pairs": positive, "negative_pairs": n * (n - 1) // 2 - positive,
...             "triplets": n * (per_class - 1) * (n - per_class)}
>>> hidden_check(check_pair_counts, counts)  # doctest: +ELLIPSIS
✓ check_independent: counts does not use eelib.
✓ hidden tests of check_pair_counts: all 4 cases agree with the reference.
True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import Tensor

from eelib.course import checks
from eelib.course.checks import COUNTS, MASKS, NUMBER, POINTS, Case, Kind
from eelib.data import random_batch
from eelib.losses import contrastive_loss, lifted_structure_loss, multi_similarity_loss, npair_loss, triplet_loss

class Exercise(NamedTuple):
    """The hidden tests of one exercise: its reference, fresh cases, and how results compare.

    The cases run through the self-checks' own comparison loop
    (:func:`eelib.course.checks.run_cases`), so values, gradients and messages are judged
    exactly as the visible check judges them.
    """

    reference: Callable[..., Any]
    cases: list[Case]
    kind: Kind
    differentiable: tuple[int, ...] = ()
    symmetric: bool = False
    forbid_autograd: bool = False


# --- fresh inputs -------------------------------------------------------------------------------

#: (description, class sizes, dimension, options of random_batch); seeds 101… are used by no visible check.
_LAYOUTS = [
    ("four classes of three, unit norm", [3, 3, 3, 3], 6, {}),
    ("unbalanced classes (4, 1, 3, 2), shuffled, labels not 0..C-1", [4, 1, 3, 2], 5,
     {"shuffle": True, "scramble_labels": True}),
    ("unnormalised embeddings (norms 0.5 to 2)", [3, 3, 2], 4, {"norm_range": (0.5, 2.0)}),
]
_PAIR_LAYOUTS = [
    ("five classes of two, unit norm", [2] * 5, 6, {}),
    ("four classes of two, shuffled, labels not 0..C-1", [2] * 4, 5, {"shuffle": True, "scramble_labels": True}),
    ("unnormalised embeddings (norms 0.5 to 2)", [2] * 3, 4, {"norm_range": (0.5, 2.0)}),
]


def _batches(pairs_only: bool = False) -> list[tuple[str, Tensor, Tensor]]:
    layouts = _PAIR_LAYOUTS if pairs_only else _LAYOUTS
    return [(name, *random_batch(sizes, dim, seed=101 + i, **options))
            for i, (name, sizes, dim, options) in enumerate(layouts)]


def _pair(description: str, seed: int, dim: int, unit: bool) -> tuple[str, Tensor, Tensor]:
    x = torch.randn(2, dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return description, *(torch.nn.functional.normalize(x, dim=1) if unit else 2 * x)


# --- the exercises, by the name of their visible check ------------------------------------------


def _loss(reference: Callable[..., Tensor], hyperparameters: dict[str, float], pairs_only: bool = False) -> Exercise:
    cases = [Case(name, (x, y), dict(hyperparameters)) for name, x, y in _batches(pairs_only)]
    return Exercise(reference, cases, NUMBER, differentiable=(0,))


def _ms_mining() -> Exercise:
    cases = [Case(f"{name}, epsilon={eps}", (x @ x.T, y, eps), {})
             for name, x, y in _batches() for eps in (0.2, 0.05)]
    return Exercise(checks.reference_ms_mining, cases, MASKS)


def _pair_counts() -> Exercise:
    cases = [Case(f"{c} classes × {k} per class", (c, k), {}) for c, k in ((3, 7), (64, 2), (5, 3), (2, 1))]
    return Exercise(checks.reference_pair_counts, cases, COUNTS)


def _expand() -> Exercise:
    """EE's ``n`` synthetic points between two points (Ko & Gu 2020, Eq. 1), from :func:`eelib.expansion.expand`."""
    pairs = [_pair("unit-norm pair, D=4", 103, 4, unit=True), _pair("unnormalised pair, D=6", 104, 6, unit=False)]
    cases = [Case(f"{name}, n={n}, normalize={normalize}", (x_i, x_j, n, normalize), {})
             for name, x_i, x_j in pairs for n in (3, 5) for normalize in (True, False)]
    return Exercise(checks.expand_reference, cases, POINTS, differentiable=(0, 1))


def _synthetic_distance() -> Exercise:
    """‖(1−w)x_i + w x_j − x_k‖² from squared distances, values and gradients (the check's reference)."""
    x = torch.randn(5, 4, generator=torch.Generator().manual_seed(106), dtype=torch.float64)
    squared = torch.cdist(x, x) ** 2
    cases = [Case(f"i={i}, j={j}, k={k}, w={w}", (squared, i, j, k, w), {})
             for i, j, k, w in ((1, 3, 0, 0.2), (4, 2, 3, 0.75), (0, 2, 2, 0.6), (3, 1, 4, 0.125))]
    return Exercise(checks.synthetic_distance_reference, cases, NUMBER, differentiable=(0,), symmetric=True)


def _parent_gradients() -> Exercise:
    """How a synthetic point's gradient reaches its parents; the reference is autograd."""
    generator = torch.Generator().manual_seed(107)
    cases = []
    for dim, w in ((3, 0.2), (6, 0.6)):
        x_i, x_j = torch.nn.functional.normalize(torch.randn(2, dim, generator=generator, dtype=torch.float64), dim=1)
        grad_s = torch.randn(dim, generator=generator, dtype=torch.float64)
        for normalize in (True, False):
            cases.append(Case(f"unit-norm parents, D={dim}, w={w}, normalize={normalize}",
                              (x_i, x_j, w, grad_s, normalize), {}))
    x_i, x_j = 3.0 * torch.randn(2, 4, generator=generator, dtype=torch.float64)
    cases.append(Case("unnormalised parents, D=4, w=0.4, normalize=True",
                      (x_i, x_j, 0.4, torch.randn(4, generator=generator, dtype=torch.float64), True), {}))
    return Exercise(checks.parent_gradients_reference, cases, POINTS, forbid_autograd=True)


#: The hidden tests of each exercise, by the name of its visible check; each builder gets the
#: check's keyword arguments. ``tools/coursework.py init`` refuses a check cell calling another check.
EXERCISES: dict[str, Callable[[dict[str, Any]], Exercise]] = {
    "check_contrastive": lambda kwargs: _loss(contrastive_loss, {"margin": 0.8}),
    "check_triplet": lambda kwargs: _loss(
        lambda x, y, margin: triplet_loss(x, y, margin=margin, mining=kwargs.get("mining", "hardest")), {"margin": 0.3}),
    "check_npair": lambda kwargs: _loss(npair_loss, {}, pairs_only=True),
    "check_lifted": lambda kwargs: _loss(lifted_structure_loss, {"margin": 0.8}),
    "check_multi_similarity": lambda kwargs: _loss(
        multi_similarity_loss, {"alpha": 3.0, "beta": 40.0, "base": 0.4, "epsilon": 0.2}),
    "check_ms_mining": lambda kwargs: _ms_mining(),
    "check_pair_counts": lambda kwargs: _pair_counts(),
    "check_expand": lambda kwargs: _expand(),
    "check_expanded_distances": lambda kwargs: _synthetic_distance(),
    "check_parent_gradients": lambda kwargs: _parent_gradients(),
}


# --- running them -------------------------------------------------------------------------------


def hidden_check(check: Callable[..., Any], fn: Callable[..., Any], **check_kwargs: Any) -> bool:
    """Run the hidden tests of the exercise that ``check`` verifies on the student's ``fn``.

    Parameters
    ----------
    check : callable
        The visible check of the exercise, e.g. :func:`eelib.course.checks.check_contrastive`
        (its name selects the hidden tests; see :data:`EXERCISES`).
    fn : callable
        The student's function, as passed to the visible check.
    **check_kwargs
        The visible check's keyword arguments (e.g. ``mining="hardest"`` for ``check_triplet``).

    Returns
    -------
    bool
        True (and one printed line) when every hidden test passes.

    Raises
    ------
    ValueError
        If ``check`` has no hidden tests.
    AssertionError
        On the first failing test, naming the exercise, the case and what differs.
    """
    name = getattr(check, "__name__", repr(check))
    if name not in EXERCISES:
        raise ValueError(f"check must be one of {sorted(EXERCISES)}, got {name!r}")
    checks.check_independent(fn)
    exercise = EXERCISES[name](check_kwargs)
    return checks.run_cases(f"hidden tests of {name}", fn, exercise.reference, exercise.cases, exercise.kind, {},
                            "compare your function with the notebook's formula on these inputs, which no "
                            "self-check uses.", differentiable=exercise.differentiable,
                            symmetric=exercise.symmetric, forbid_autograd=exercise.forbid_autograd)


__all__ = ["EXERCISES", "hidden_check"]
