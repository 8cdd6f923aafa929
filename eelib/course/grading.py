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
✓ hidden tests of check_pair_counts: 4 fresh cases agree with the reference.
True
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import torch
from torch import Tensor

from eelib.course import checks
from eelib.data import random_batch
from eelib.expansion import expand
from eelib.losses import contrastive_loss, lifted_structure_loss, multi_similarity_loss, npair_loss, triplet_loss
from eelib.losses.multi_similarity import ms_mining
from eelib.mining import label_masks

#: Relative and absolute tolerance for values and gradients (float64 throughout).
TOLERANCE = 1e-6


class HiddenCase(NamedTuple):
    """One fresh input; ``differentiable`` names the positions in ``args`` to differentiate by."""

    description: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    differentiable: tuple[int, ...] = ()


class Exercise(NamedTuple):
    """The hidden tests of one exercise: its reference, its fresh cases and how to compare."""

    reference: Callable[..., Any]
    cases: list[HiddenCase]
    compare: Callable[[Any, Any], str | None]  # (got, expected) -> what differs, or None


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


# --- comparisons --------------------------------------------------------------------------------


def _close(got: Tensor, expected: Tensor) -> bool:
    return got.shape == expected.shape and torch.allclose(got, expected, rtol=TOLERANCE, atol=TOLERANCE)


def _compare_tensors(what: str) -> Callable[[Any, Any], str | None]:
    """Agreement of a number or an array; a one-element result is read as a number, as the checks do."""
    def compare(got: Any, expected: Tensor) -> str | None:
        got = torch.as_tensor(got, dtype=torch.float64)
        if expected.ndim == 0 and got.numel() == 1:
            got = got.reshape(())
        if _close(got, expected):
            return None
        if got.shape != expected.shape:
            return f"{what} has shape {tuple(got.shape)}, expected {tuple(expected.shape)}"
        return f"{what} differs from the reference (largest error {float((got - expected).abs().max()):.3g})"
    return compare


def _compare_masks(got: Any, expected: tuple[Tensor, Tensor]) -> str | None:
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        return "your function should return two boolean masks: (keep_pos, keep_neg)"
    wrong = [name for name, g, e in zip(("keep_pos", "keep_neg"), got, expected)
             if not torch.equal(torch.as_tensor(g).to(torch.bool), e)]
    return f"{' and '.join(wrong)} differ from the reference" if wrong else None


def _compare_counts(got: Any, expected: dict[str, int]) -> str | None:
    if not isinstance(got, Mapping):
        return f"your function returned {type(got).__name__}; a dict is expected"
    wrong = [f"{key}: expected {value}, got {got.get(key, 'no such key')}"
             for key, value in expected.items() if got.get(key) != value]
    return "; ".join(wrong) or None


# --- the exercises, by the name of their visible check ------------------------------------------


def _loss(reference: Callable[..., Tensor], hyperparameters: dict[str, float], pairs_only: bool = False) -> Exercise:
    cases = [HiddenCase(name, (x, y), dict(hyperparameters), differentiable=(0,))
             for name, x, y in _batches(pairs_only)]
    return Exercise(reference, cases, _compare_tensors("the loss"))


def _ms_mining() -> Exercise:
    def reference(similarity: Tensor, labels: Tensor, epsilon: float) -> tuple[Tensor, Tensor]:
        return ms_mining(similarity, similarity, *label_masks(labels), epsilon)

    cases = [HiddenCase(f"{name}, epsilon={eps}", (x @ x.T, y, eps), {})
             for name, x, y in _batches() for eps in (0.2, 0.05)]
    return Exercise(reference, cases, _compare_masks)


def _pair_counts() -> Exercise:
    cases = [HiddenCase(f"{c} classes × {k} per class", (c, k), {}) for c, k in ((3, 7), (64, 2), (5, 3), (2, 1))]
    return Exercise(checks.reference_pair_counts, cases, _compare_counts)


def _expand() -> Exercise:
    """EE's ``n`` synthetic points between two points (Ko & Gu 2020, Eq. 1), from :func:`eelib.expansion.expand`."""
    def reference(x_i: Tensor, x_j: Tensor, n: int, normalize: bool) -> Tensor:
        pair = torch.stack([x_i, x_j])
        return expand(pair, torch.zeros(2, dtype=torch.long), n, normalize=normalize).embeddings[2:]

    pairs = [_pair("unit-norm pair, D=4", 103, 4, unit=True), _pair("unnormalised pair, D=6", 104, 6, unit=False)]
    cases = [HiddenCase(f"{name}, n={n}, normalize={normalize}", (x_i, x_j, n, normalize), {}, differentiable=(0, 1))
             for name, x_i, x_j in pairs for n in (3, 5) for normalize in (True, False)]
    return Exercise(reference, cases, _compare_tensors("the points"))


def _synthetic_distance() -> Exercise:
    """‖(1−w)x_i + w x_j − x_k‖² from squared distances; the reference builds the point itself."""
    x = torch.randn(5, 4, generator=torch.Generator().manual_seed(106), dtype=torch.float64)
    squared = torch.cdist(x, x) ** 2

    def reference(sq_dist: Tensor, i: int, j: int, k: int, w: float) -> Tensor:
        return ((1 - w) * x[i] + w * x[j] - x[k]).pow(2).sum()

    cases = [HiddenCase(f"i={i}, j={j}, k={k}, w={w}", (squared, i, j, k, w), {})
             for i, j, k, w in ((1, 3, 0, 0.2), (4, 2, 3, 0.75), (0, 2, 2, 0.6), (3, 1, 4, 0.125))]
    return Exercise(reference, cases, _compare_tensors("the squared distance"))


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
}


# --- running them -------------------------------------------------------------------------------


def _gradients(result: Any, inputs: list[Tensor], where: str) -> list[Tensor]:
    """d(result · fixed random weights)/d(inputs); the result must be a tensor on the autograd graph."""
    if not isinstance(result, Tensor):
        raise AssertionError(f"{where}: your function returned {type(result).__name__}; it must return a tensor "
                             "computed from the input with torch operations, so that training can differentiate it")
    if result.grad_fn is None:
        raise AssertionError(f"{where}: your result has no autograd graph (did you use float(), .item(), "
                             ".detach() or torch.tensor(...) on an intermediate value?); training needs its gradient")
    weights = torch.randn(result.shape, generator=torch.Generator().manual_seed(105), dtype=result.dtype)
    return list(torch.autograd.grad((result * weights).sum(), inputs, allow_unused=True))


def _run_case(fn: Callable[..., Any], exercise: Exercise, case: HiddenCase, where: str) -> None:
    """Compare ``fn`` with the exercise's reference on one case: the value, then the gradients."""
    def call(function: Callable[..., Any]) -> tuple[Any, list[Tensor]]:
        args = [arg.detach().clone().requires_grad_(True) if i in case.differentiable else arg
                for i, arg in enumerate(case.args)]
        return function(*args, **case.kwargs), [args[i] for i in case.differentiable]

    expected, reference_inputs = call(exercise.reference)
    try:
        got, inputs = call(fn)
    except Exception as error:
        raise AssertionError(f"{where}: your function raised {type(error).__name__}: {error}") from error
    difference = exercise.compare(got.detach() if isinstance(got, Tensor) else got,
                         expected.detach() if isinstance(expected, Tensor) else expected)
    if difference:
        raise AssertionError(f"{where}: {difference}.")
    if not case.differentiable:
        return
    expected_grads = _gradients(expected, reference_inputs, where)
    for position, grad, expected_grad in zip(case.differentiable, _gradients(got, inputs, where), expected_grads):
        grad = torch.zeros_like(expected_grad) if grad is None else grad
        if not torch.isfinite(grad).all():
            raise AssertionError(f"{where}: the gradient with respect to argument {position + 1} is not finite "
                                 "(a square root or a division at zero distance?)")
        if not _close(grad, expected_grad):
            raise AssertionError(f"{where}: the gradient with respect to argument {position + 1} differs from the "
                                 f"reference's (largest error {float((grad - expected_grad).abs().max()):.3g}), "
                                 "although the value agrees: part of the result is cut off the autograd graph")


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
    for case in exercise.cases:
        where = f"hidden test of {name}: case '{case.description}'" + (f" with {case.kwargs}" if case.kwargs else "")
        _run_case(fn, exercise, case, where)
    gradients = " (values and gradients)" if exercise.cases[0].differentiable else ""
    print(f"✓ hidden tests of {name}: {len(exercise.cases)} fresh cases agree with the reference{gradients}.")
    return True


__all__ = ["EXERCISES", "hidden_check"]
