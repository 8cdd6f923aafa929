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

import dis
import importlib.util
import math
import os
import sys
import types
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from eelib.data import random_batch
from eelib.distances import pairwise_distances
from eelib.expansion import expand
from eelib.losses import (
    contrastive_loss,
    lifted_structure_loss,
    multi_similarity_loss,
    npair_loss,
    triplet_loss,
)
from eelib.losses._common import log1p_sum_exp
from eelib.losses.multi_similarity import ms_mining
from eelib.losses.npair import npair_anchor_positive
from eelib.mining import label_masks

#: Relative and absolute tolerance for numbers; absolute tolerance for points.
TOLERANCE = 1e-6

#: The argument a loss is differentiated by: its embeddings.
EMBEDDINGS = (0,)


# --- cases ------------------------------------------------------------------------------------


class Case(NamedTuple):
    """One input on which the student's function and the reference are compared."""

    description: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


def _random_batch(classes: int, per_class: int, dim: int, seed: int, *, unit: bool = True,
                  shuffle: bool = False) -> tuple[Tensor, Tensor]:
    """A float64 batch of ``classes × per_class``: unit-norm, or of norms 0.5..3.5 when not ``unit``."""
    norms = (1.0, 1.0) if unit else (0.5, 3.5)
    return random_batch([per_class] * classes, dim, seed=seed, shuffle=shuffle, norm_range=norms)


def _points(*rows: Sequence[float]) -> Tensor:
    return torch.tensor(rows, dtype=torch.float64)


def _batches(pairs_only: bool) -> list[tuple[str, Tensor, Tensor]]:
    """(description, embeddings, labels) for a loss check; two per class when ``pairs_only``.

    Edge cases use small integer coordinates, so that every distance and inner product is
    exact and an implementation with ``torch.cdist`` sees the same ties as the reference.
    """
    first_x, first_y = _random_batch(4, 2, 5, 1) if pairs_only else _random_batch(4, 4, 5, 1)
    permutation = torch.randperm(len(first_y), generator=torch.Generator().manual_seed(7))
    collapsed = torch.zeros(len(first_y), 3, dtype=torch.float64)
    collapsed[:, 0] = 1.0
    batches = [
        ("random unit-norm batch", first_x, first_y),
        ("the same batch, permuted (the result must not depend on the order)",
         first_x[permutation], first_y[permutation]),
        ("unnormalised embeddings", *_random_batch(3, 2 if pairs_only else 3, 3, 2, unit=False)),
        ("shuffled classes", *_random_batch(5, 2, 4, 3, shuffle=True)),
        ("all points equal (a collapsed embedding)", collapsed, first_y),
    ]
    if pairs_only:
        batches.append(("a single class (one pair, no negative)", _random_batch(1, 2, 3, 6)[0],
                        torch.zeros(2, dtype=torch.long)))
        return batches
    tight = _random_batch(2, 3, 2, 5)[0] * 0.01
    batches += [
        ("unbalanced classes (5, 2, 2) and a class of one",
         _random_batch(1, 10, 4, 4)[0], torch.tensor([0, 0, 0, 0, 0, 1, 1, 2, 2, 3])),
        ("two tight clusters far apart (every margin met)",
         torch.cat([tight[:3] + 1.0, tight[3:] - 1.0]), torch.tensor([0, 0, 0, 1, 1, 1])),
        ("a single class (no negative pair)", _random_batch(1, 4, 3, 6)[0], torch.zeros(4, dtype=torch.long)),
    ]
    return batches


def _margin_tie_case(kwargs: dict[str, Any]) -> Case:
    """Points on a line at 0, 1 | 1.5, 2, 3 with margin 1: negatives exactly at the margin.

    For the anchor at 0 the positive is at distance 1, one negative inside the margin
    (1.5) and one exactly at 1 + m (2); for the anchor at 1 the negative at 2 is exactly
    as far as the positive. All coordinates and distances are exact in binary.
    """
    x = _points([0, 0], [1, 0], [1.5, 0], [2, 0], [3, 0])
    return Case("a negative exactly at the margin (margin=1)", (x, torch.tensor([0, 0, 1, 1, 1])),
                {**kwargs, "margin": 1.0})


def _loss_cases(settings: Sequence[dict[str, Any]], *, pairs_only: bool = False) -> list[Case]:
    """Every batch under every hyperparameter setting, plus the margin tie when there is a margin."""
    cases = [Case(name, (x, y), dict(kwargs)) for kwargs in settings for name, x, y in _batches(pairs_only)]
    if "margin" in settings[0]:
        cases.append(_margin_tie_case(settings[0]))
    return cases


# --- kinds of results: conversion, agreement, description -------------------------------------


class Kind(NamedTuple):
    """How to read, compare and describe one kind of result."""

    convert: Callable[[Any], Any]  # raises TypeError/ValueError with a message for the student
    agree: Callable[[Any, Any], bool]
    describe: Callable[[Any, Any], str]  # (expected, got) -> what differs


def _to_number(value: Any) -> float:
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise ValueError(f"your function returned a tensor of shape {tuple(value.shape)}; "
                             "a single number (a 0-dim tensor or a float) is expected")
        return float(value.detach())
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"your function returned {type(value).__name__}; a number is expected") from None


def _close(got: float, expected: float) -> bool:
    return math.isclose(got, expected, rel_tol=TOLERANCE, abs_tol=TOLERANCE)


NUMBER = Kind(_to_number, _close, lambda expected, got: f"expected {expected:.6f}, got {got:.6f}")


def _to_points(value: Any) -> Tensor:
    if value is None:
        raise TypeError("your function returned None; an n × D tensor of points is expected")
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, Tensor) for v in value):
        value = torch.stack(list(value))
    return torch.as_tensor(value).detach().to(torch.float64)


def _points_agree(got: Tensor, expected: Tensor) -> bool:
    return got.shape == expected.shape and torch.allclose(got, expected, rtol=0.0, atol=TOLERANCE)


def _describe_points(expected: Tensor, got: Tensor) -> str:
    if got.shape != expected.shape:
        return f"expected shape {tuple(expected.shape)}, got {tuple(got.shape)}"
    return f"your rows differ from the reference's (largest error {float((got - expected).abs().max()):.3g})"


POINTS = Kind(_to_points, _points_agree, _describe_points)


def _to_masks(value: Any) -> tuple[Tensor, Tensor]:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise TypeError("your function should return two boolean masks: (keep_pos, keep_neg)")
    return tuple(torch.as_tensor(mask).to(torch.bool) for mask in value)


def _masks_agree(got: tuple[Tensor, Tensor], expected: tuple[Tensor, Tensor]) -> bool:
    return all(g.shape == e.shape and torch.equal(g, e) for g, e in zip(got, expected))


def _describe_masks(expected: tuple[Tensor, Tensor], got: tuple[Tensor, Tensor]) -> str:
    parts = []
    for name, g, e in zip(("keep_pos", "keep_neg"), got, expected):
        if g.shape != e.shape:
            parts.append(f"{name} has shape {tuple(g.shape)}, expected {tuple(e.shape)}")
        elif not torch.equal(g, e):
            parts.append(f"{name} differs from the reference in {int((g != e).sum())} of {g.numel()} entries")
    return "; ".join(parts)


MASKS = Kind(_to_masks, _masks_agree, _describe_masks)

COUNT_KEYS = ("positive_pairs", "negative_pairs", "triplets")


def _to_counts(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise TypeError(f"your function returned {type(value).__name__}; a dict with keys {COUNT_KEYS} is expected")
    return dict(value)


def _counts_agree(got: dict[str, Any], expected: dict[str, int]) -> bool:
    return all(key in got and got[key] == value for key, value in expected.items())


def _describe_counts(expected: dict[str, int], got: dict[str, Any]) -> str:
    return "; ".join(f"{key}: expected {value}, got {got.get(key, 'no such key')}"
                     for key, value in expected.items() if got.get(key) != value)


COUNTS = Kind(_to_counts, _counts_agree, _describe_counts)


# --- own work: the student's function must not run eelib ---------------------------------

#: Packages whose code a solution must not run: eelib, and pytorch-metric-learning (its
#: losses compute several of the exercises' results; notebook 05 times one of them).
REFERENCE_PACKAGES = ("eelib", "pytorch_metric_learning")


def _package_dir(name: str) -> str | None:
    """The folder of an installed package (without importing it), or None."""
    spec = importlib.util.find_spec(name)
    origin = spec.origin if spec is not None else None
    return os.path.dirname(os.path.abspath(origin)) + os.sep if origin else None


#: Folders of the reference packages that are installed.
REFERENCE_DIRS = tuple(folder for folder in map(_package_dir, REFERENCE_PACKAGES) if folder)

_LOADS = {"LOAD_GLOBAL", "LOAD_NAME"}


def _globals_used(fn: types.FunctionType) -> Iterator[tuple[str, Any]]:
    """(name, object) for every global and closure variable that ``fn``'s code loads.

    Read from the bytecode (``LOAD_GLOBAL``/``LOAD_NAME``, nested functions and
    comprehensions included), so that an attribute such as ``x.expand`` is not mistaken
    for a global ``expand``.
    """
    codes = [fn.__code__]
    while codes:
        code = codes.pop()
        for instruction in dis.get_instructions(code):
            if instruction.opname in _LOADS and instruction.argval in fn.__globals__:
                yield instruction.argval, fn.__globals__[instruction.argval]
        codes.extend(const for const in code.co_consts if isinstance(const, types.CodeType))
    for name, cell in zip(fn.__code__.co_freevars, fn.__closure__ or ()):
        try:
            yield name, cell.cell_contents
        except ValueError:  # an empty cell: a closure variable not yet assigned
            continue


def _reference_origin(obj: Any) -> str | None:
    """The module ``obj`` comes from when that is eelib or another reference package, else None."""
    origin = obj.__name__ if isinstance(obj, types.ModuleType) else getattr(obj, "__module__", None)
    if isinstance(origin, str) and any(origin == name or origin.startswith(name + ".") for name in REFERENCE_PACKAGES):
        return origin
    return None


def _eelib_references(fn: Callable[..., Any]) -> list[str]:
    """``"name from module"`` for every reference object (eelib, PML) ``fn`` or its notebook's functions load.

    Only Python functions can be read; anything else (a builtin, a ``functools.partial``)
    is left to the watch of :func:`_call_watched`.
    """
    if not isinstance(fn, types.FunctionType):
        return []
    found, seen, todo = set(), set(), [fn]
    while todo:
        current = todo.pop()
        seen.add(current)
        for name, obj in _globals_used(current):
            origin = _reference_origin(obj)
            if origin:
                found.add(f"{name} from {origin}")
            elif isinstance(obj, types.FunctionType) and obj.__globals__ is fn.__globals__ and obj not in seen:
                todo.append(obj)
    return sorted(found)


#: The source file of ``torch.autograd.grad`` and ``torch.autograd.backward`` (which
#: ``Tensor.backward`` calls): a check that asks for a gradient by hand may forbid it.
AUTOGRAD_FILE = os.path.abspath(torch.autograd.__file__)


class _Call(NamedTuple):
    """What one watched call of the student's function gave."""

    result: Any
    error: Exception | None
    forbidden: str | None  # "module.function" of the first forbidden function that ran


def _call_watched(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
                  forbidden: tuple[str, ...]) -> _Call:
    """Call ``fn`` and record the first forbidden function entered meanwhile (``sys.setprofile``).

    Every Python function that starts running while ``fn`` runs is looked at, however it
    was reached; it is forbidden when its code comes from a file whose path starts with
    one of ``forbidden`` (the eelib package folder; ``torch.autograd``'s ``__init__.py``).
    The previous profile function is restored afterwards.
    """
    entered: list[str] = []

    def profile(frame: types.FrameType, event: str, arg: Any) -> None:
        if event == "call" and not entered and frame.f_code.co_filename.startswith(forbidden):
            entered.append(f"{frame.f_globals.get('__name__', '?')}.{frame.f_code.co_name}")

    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        result, error = fn(*args, **kwargs), None
    except Exception as raised:
        result, error = None, raised
    finally:
        sys.setprofile(previous)
    return _Call(result, error, entered[0] if entered else None)


def _own_work_message(used: Sequence[str]) -> str:
    if any(name.startswith("torch.autograd") for name in used):
        return (f"your function calls autograd ({', '.join(used)}). Derive the gradient by hand: "
                "autograd is what this self-check compares your formula with.")
    if any("pytorch_metric_learning" in name for name in used):
        return (f"your function uses pytorch-metric-learning ({', '.join(used)}). Write the computation "
                "yourself with torch: a library's loss proves nothing about yours.")
    return (f"your function uses eelib ({', '.join(used)}). Write the computation yourself with torch: "
            "this self-check compares your function with eelib, so calling eelib would prove nothing.")


# --- gradients ---------------------------------------------------------------------------

NO_GRAPH_HINT = (
    "no autograd graph: your result is not connected to the input, so training could not "
    "backpropagate through it. Build it from the input tensors with torch operations only: no "
    ".item(), float(), .tolist(), numpy or torch.tensor(...) around computed values, no .detach(). "
    "When the loss is zero, return a zero connected to the input, e.g. embeddings.sum() * 0.")
NAN_GRADIENT_HINT = (
    "the value is right but the gradient is not finite (NaN or inf): √ at zero distance. The "
    "derivative of √ is infinite at 0, and a point's distance to itself (or between two coincident "
    "points) is 0; masking that entry afterwards does not help, because 0 · ∞ = NaN in the backward "
    "pass. Use torch.cdist, or clamp before the root: sq.clamp_min(1e-12).sqrt().")
GRADIENT_HINT = (
    "the value is right but the gradient differs from the reference's: part of the computation is "
    "cut from the graph (.detach(), .data, a value turned into a Python number and back), or a term "
    "enters as a constant.")


def _with_leaves(args: tuple[Any, ...], differentiable: Sequence[int]) -> tuple[Any, ...]:
    """A copy of ``args`` whose differentiable positions are fresh float64 leaves."""
    return tuple(arg.detach().clone().to(torch.float64).requires_grad_(True) if index in differentiable else arg
                 for index, arg in enumerate(args))


def _as_tensor_result(result: Any) -> Any:
    """The student's result as one tensor when it is a list or tuple of tensors (points)."""
    if isinstance(result, (list, tuple)) and result and all(isinstance(r, Tensor) for r in result):
        return torch.stack(list(result))
    return result


def _gradients(result: Any, leaves: Sequence[Tensor], probe: Tensor | None) -> list[Tensor] | None:
    """Gradient of the result (of ``(result · probe).sum()`` for points) with respect to each leaf.

    Returns None when the result carries no autograd graph. An input the result does not
    depend on gets a zero gradient.
    """
    result = _as_tensor_result(result)
    if not isinstance(result, Tensor) or not result.requires_grad:
        return None
    scalar = result.sum() if probe is None else (result.to(probe.dtype) * probe).sum()
    grads = torch.autograd.grad(scalar, list(leaves), allow_unused=True)
    return [torch.zeros_like(leaf) if g is None else g.detach() for g, leaf in zip(grads, leaves)]


def _gradient_problem(got: list[Tensor] | None, expected: list[Tensor]) -> tuple[str, str] | None:
    """What is wrong with the student's gradients and its hint; None if nothing."""
    if got is None:
        return "the result has no gradient", NO_GRAPH_HINT
    if not all(bool(torch.isfinite(g).all()) for g in got):
        return "the gradient has non-finite entries", NAN_GRADIENT_HINT
    for g, e in zip(got, expected):
        tolerance = TOLERANCE * (1.0 + float(e.abs().max()) if e.numel() else 1.0)
        if g.shape != e.shape or not torch.allclose(g, e, rtol=TOLERANCE, atol=tolerance):
            error = float((g - e).abs().max()) if g.shape == e.shape else float("nan")
            return f"the gradient differs from the reference's (largest error {error:.3g})", GRADIENT_HINT
    return None


# --- the shared comparison loop ---------------------------------------------------------------

#: A typical mistake: does the student's (converted) result on a case show it?
Symptom = Callable[[Any, Case], bool]


class _Gives:
    """The symptom "the result equals this wrong variant of the reference".

    Called as a :data:`Symptom` it compares values; :meth:`same_gradient` compares
    gradients, for a mistake whose value is right but whose gradient is not (e.g.
    normalising embeddings that are already unit vectors).
    """

    def __init__(self, variant: Callable[..., Any], kind: Kind) -> None:
        self.variant, self.kind = variant, kind

    def __call__(self, got: Any, case: Case) -> bool:
        try:
            return self.kind.agree(got, self.kind.convert(self.variant(*case.args, **case.kwargs)))
        except Exception:  # a variant need not apply to every case (e.g. a single class)
            return False

    def same_gradient(self, got: list[Tensor], case: Case, differentiable: Sequence[int],
                      probe: Tensor | None) -> bool:
        try:
            args = _with_leaves(case.args, differentiable)
            grads = _gradients(self.variant(*args, **case.kwargs), [args[i] for i in differentiable], probe)
        except Exception:
            return False
        return grads is not None and _gradient_problem(got, grads) is None


def _gives(variant: Callable[..., Any], kind: Kind) -> Symptom:
    """The symptom "the result equals this wrong variant of the reference" (see :class:`_Gives`)."""
    return _Gives(variant, kind)


def run_cases(
    name: str,
    student: Callable[..., Any],
    reference: Callable[..., Any],
    cases: Sequence[Case],
    kind: Kind,
    mistakes: Mapping[str, Symptom],
    general_hint: str,
    *,
    differentiable: Sequence[int] = (),
    forbid_autograd: bool = False,
) -> bool:
    """Compare ``student`` with ``reference`` case by case; raise on the first disagreement.

    Parameters
    ----------
    differentiable : sequence of int
        Positions of the arguments the result is differentiated by (fresh float64 leaves
        on every call). When given, the result must carry an autograd graph and its
        gradient must be finite and agree with the reference's (for points, the gradient
        of the result against a fixed random weighting of its entries).
    forbid_autograd : bool, default False
        Refuse a function that calls ``torch.autograd`` (for an exercise that asks for a
        gradient by hand). eelib is always refused.

    Raises
    ------
    AssertionError
        If the student's function uses eelib; otherwise naming the case and its arguments,
        expected vs got, and the hint of the first mistake in ``mistakes`` whose symptom
        matches (``general_hint`` otherwise), or what is wrong with the gradient. An
        exception raised by ``student`` is reported with the case.
    """
    used = _eelib_references(student)
    if used:
        raise AssertionError(f"{name}: {_own_work_message(used)}")
    forbidden = REFERENCE_DIRS + ((AUTOGRAD_FILE,) if forbid_autograd else ())
    for case in cases:
        where = f"{name}: case '{case.description}'" + (f" with {case.kwargs}" if case.kwargs else "")
        reference_args = _with_leaves(case.args, differentiable)
        reference_result = reference(*reference_args, **case.kwargs)
        expected = kind.convert(reference_result)
        student_args = _with_leaves(case.args, differentiable)
        call = _call_watched(student, student_args, case.kwargs, forbidden)
        if call.forbidden:
            raise AssertionError(f"{where}: {_own_work_message([call.forbidden])}")
        if call.error is not None:
            raise AssertionError(f"{where}: your function raised {type(call.error).__name__}: "
                                 f"{call.error}") from call.error
        result = call.result
        try:
            got = kind.convert(result)
        except (TypeError, ValueError) as error:
            raise AssertionError(f"{where}: {error}") from None
        if not kind.agree(got, expected):
            hint = next((text for text, symptom in mistakes.items() if symptom(got, case)), general_hint)
            raise AssertionError(f"{where}: {kind.describe(expected, got)}.\nHint: {hint}")
        if not differentiable or (isinstance(expected, Tensor) and expected.numel() == 0):
            continue
        leaves = [student_args[i] for i in differentiable]
        probe = None  # points: differentiate a fixed random weighting of their entries
        if kind is POINTS:
            probe = torch.randn(expected.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        expected_grads = _gradients(reference_result, [reference_args[i] for i in differentiable], probe)
        got_grads = _gradients(result, leaves, probe)
        problem = _gradient_problem(got_grads, expected_grads)
        if problem is None:
            continue
        what, hint = problem
        if hint == GRADIENT_HINT:  # a wrong gradient: is it a known mistake?
            known = next((text for text, symptom in mistakes.items() if isinstance(symptom, _Gives)
                          and symptom.same_gradient(got_grads, case, differentiable, probe)), None)
            hint = f"the value is right but the gradient is not: {known}" if known else hint
        raise AssertionError(f"{where}: {what}.\nHint: {hint}")
    what = " (values and gradients)" if differentiable else ""
    print(f"✓ {name}: all {len(cases)} cases agree with the reference{what}.")
    return True


# --- contrastive --------------------------------------------------------------------------


def _contrastive_variant(x: Tensor, y: Tensor, margin: float = 1.0, *, square: bool = True,
                         hinge: bool = True, margin_on_squared: bool = False,
                         diagonal: bool = False, per_kind: bool = False) -> Tensor:
    """The contrastive loss with one typical mistake switched on."""
    d = pairwise_distances(x)
    pos, neg = label_masks(y)
    gap = margin - (d**2 if margin_on_squared else d)
    push = torch.relu(gap) if hinge else gap
    pull, push = (0.5 * d**2, 0.5 * push**2) if square else (0.5 * d, 0.5 * push)
    if per_kind:
        return pull[pos].mean() + push[neg].mean()
    terms = torch.where(pos | torch.eye(len(y), dtype=torch.bool), pull, push)
    return terms.mean() if diagonal else terms[torch.ones_like(pos).triu(1)].mean()


def check_contrastive(fn: Callable[..., Any]) -> bool:
    """Check ``fn(embeddings, labels, margin=...)`` against :func:`eelib.losses.contrastive_loss`.

    The reference is Hadsell et al. (2006), Eq. 4, averaged over unordered pairs i < j.
    """
    def reference(x: Tensor, y: Tensor, margin: float) -> Tensor:
        return contrastive_loss(x, y, margin=margin)

    def variant(**flags: bool) -> Symptom:
        return _gives(lambda x, y, margin: _contrastive_variant(x, y, margin, **flags), NUMBER)

    mistakes = {
        "your value is twice the reference: did you halve (½D², ½[m − D]₊²)? "
        "Or did you count each pair twice (i, j and j, i) while dividing by the unordered pairs?":
            _gives(lambda x, y, margin: 2 * reference(x, y, margin), NUMBER),
        "you used D instead of D²: both terms are squared.": variant(square=False),
        "you forgot the hinge: a negative farther than m contributes 0, [m − D]₊ = max(m − D, 0).": variant(hinge=False),
        "the margin is compared with the distance D, not with D²: [m − D]₊².": variant(margin_on_squared=True),
        "you averaged positives and negatives separately; average over all unordered pairs at once.": variant(per_kind=True),
        "you averaged over the whole B × B matrix, diagonal included; average over the pairs i < j.": variant(diagonal=True),
    }
    cases = _loss_cases([{"margin": 1.0}, {"margin": 0.5}])
    return run_cases("check_contrastive", fn, reference, cases, NUMBER, mistakes,
                      "compare one pair by hand: ½D² for equal labels, ½ max(0, m − D)² otherwise.",
                      differentiable=EMBEDDINGS)


# --- triplet ------------------------------------------------------------------------------


def _triplet_hardest_variant(x: Tensor, y: Tensor, margin: float = 0.2, *, hinge: bool = True,
                             all_anchors: bool = False, min_positive: bool = False) -> Tensor:
    """Batch-hard triplet with one typical mistake switched on."""
    d = pairwise_distances(x)
    pos, neg = label_masks(y)
    if min_positive:
        hard_pos = d.masked_fill(~pos, math.inf).amin(1)
    else:
        hard_pos = d.masked_fill(~pos, -math.inf).amax(1)
    hard_neg = d.masked_fill(~neg, math.inf).amin(1)
    valid = pos.any(1) & neg.any(1)
    terms = hard_pos - hard_neg + margin
    terms = torch.relu(terms) if hinge else terms
    if all_anchors:
        return torch.where(valid, terms, torch.zeros_like(terms)).mean()
    return terms[valid].mean()


def _triplet_enumerated_variant(x: Tensor, y: Tensor, margin: float = 0.2, *, semihard: bool = False,
                                strict_margin: bool = False, nonstrict_zero: bool = False,
                                nonzero_only: bool = False, divide_by_all: bool = False) -> Tensor:
    """All / semi-hard triplet over the B × B × B triplets, with one mistake switched on."""
    d = pairwise_distances(x)
    pos, neg = label_masks(y)
    valid = pos[:, :, None] & neg[:, None, :]
    gap = d[:, None, :] - d[:, :, None]  # d(a, n) − d(a, p), indexed [a, p, n]
    terms = torch.relu(margin - gap)
    chosen = valid
    if semihard:
        above = gap >= 0 if nonstrict_zero else gap > 0
        below = gap < margin if strict_margin else gap <= margin
        chosen = valid & above & below
    if nonzero_only:
        chosen = chosen & (terms > 0)
    return terms[chosen].sum() / (valid if divide_by_all else chosen).sum()


def check_triplet(fn: Callable[..., Any], mining: str = "hardest") -> bool:
    """Check ``fn(embeddings, labels, margin=...)`` against :func:`eelib.losses.triplet_loss`.

    Parameters
    ----------
    fn : callable
        The student's loss, with Euclidean (not squared) distances.
    mining : {"all", "semihard", "hardest"}, default "hardest"
        The mining the student implemented: the mean over all valid triplets, over the
        semi-hard ones (0 < d(a,n) − d(a,p) ≤ m), or batch-hard (Hermans et al. 2017, Eq. 5).
    """
    if mining not in ("all", "semihard", "hardest"):
        raise ValueError(f"mining must be 'all', 'semihard' or 'hardest', got {mining!r}")

    def reference(x: Tensor, y: Tensor, margin: float) -> Tensor:
        return triplet_loss(x, y, margin=margin, mining=mining)

    def hardest(**flags: bool) -> Symptom:
        return _gives(lambda x, y, margin: _triplet_hardest_variant(x, y, margin, **flags), NUMBER)

    def enumerated(**flags: bool) -> Symptom:
        return _gives(lambda x, y, margin: _triplet_enumerated_variant(x, y, margin, **flags), NUMBER)

    mistakes = {"you used squared distances; this exercise uses the Euclidean distance D.":
                _gives(lambda x, y, margin: triplet_loss(x, y, margin=margin, mining=mining, squared=True), NUMBER)}
    if mining == "hardest":
        mistakes |= {
            "you forgot the hinge [·]₊ = max(·, 0).": hardest(hinge=False),
            "you averaged over all anchors, including those without a positive or a negative; leave them out.":
                hardest(all_anchors=True),
            "the hardest positive is the *farthest* one (max), not the closest.": hardest(min_positive=True),
        }
    elif mining == "all":
        mistakes |= {"you averaged only the triplets with a positive loss; average over every valid triplet.":
                     enumerated(nonzero_only=True)}
    else:
        mistakes |= {
            "semi-hard is 0 < d(a,n) − d(a,p) ≤ m: a negative exactly at the margin counts (with loss 0).":
                enumerated(semihard=True, strict_margin=True),
            "semi-hard is 0 < d(a,n) − d(a,p): a negative exactly as far as the positive is not semi-hard.":
                enumerated(semihard=True, nonstrict_zero=True),
            "you divided by the number of all triplets; average over the semi-hard ones only.":
                enumerated(semihard=True, divide_by_all=True),
            "you kept every triplet: select the semi-hard ones first.": enumerated(),
        }
    cases = _loss_cases([{"margin": 0.2}, {"margin": 1.0}])
    return run_cases(f"check_triplet[{mining}]", fn, reference, cases, NUMBER, mistakes,
                      "per anchor and positive, d(a,p) and d(a,n) are Euclidean distances; "
                      "compare one anchor by hand with the formula of the notebook.", differentiable=EMBEDDINGS)


# --- N-pair -------------------------------------------------------------------------------


def _npair_variant(x: Tensor, y: Tensor, *, distances: bool = False, normalise: bool = False,
                   anchor_rows: bool = False, swapped: bool = False) -> Tensor:
    """N-pair (Sohn 2016, Eq. 6) with one typical mistake switched on."""
    anchors, positives = npair_anchor_positive(y)
    if swapped:
        anchors, positives = positives, anchors
    x = F.normalize(x, dim=1) if normalise else x
    other = x[anchors] if anchor_rows else x[positives]
    logits = -torch.cdist(x[anchors], other) if distances else x[anchors] @ other.T
    return F.cross_entropy(logits, torch.arange(len(anchors)))


def check_npair(fn: Callable[..., Any]) -> bool:
    """Check ``fn(embeddings, labels)`` (every class exactly twice) against :func:`eelib.losses.npair_loss`."""
    def reference(x: Tensor, y: Tensor) -> Tensor:
        return npair_loss(x, y)

    def variant(**flags: bool) -> Symptom:
        return _gives(lambda x, y: _npair_variant(x, y, **flags), NUMBER)

    mistakes = {
        "the logits are inner products f_iᵀf_j⁺, not negative distances.": variant(distances=True),
        "do not normalise: the N-pair loss works on the raw inner products.": variant(normalise=True),
        "the logits pair anchors with positives, f_iᵀf_j⁺, not anchors with anchors.": variant(anchor_rows=True),
        "the anchor of a class is its *first* occurrence in batch order, the positive its second.": variant(swapped=True),
        "you summed over the anchors; average them.": _gives(lambda x, y: reference(x, y) * (len(y) // 2), NUMBER),
    }
    return run_cases("check_npair", fn, reference, _loss_cases([{}], pairs_only=True), NUMBER, mistakes,
                      "build the N × N matrix of anchor·positive inner products and apply the cross-entropy "
                      "with the diagonal as the target; the batch may be shuffled.", differentiable=EMBEDDINGS)


# --- lifted structured --------------------------------------------------------------------


def _lifted_variant(x: Tensor, y: Tensor, margin: float = 1.0, *, both_ends: bool = True,
                    hinge: bool = True, square: bool = True) -> Tensor:
    """Lifted structured loss (Oh Song et al. 2016, Eq. 4) with one typical mistake switched on."""
    d = pairwise_distances(x)
    pos, neg = label_masks(y)
    push = (margin - d).masked_fill(~neg, -math.inf).logsumexp(1)
    i, j = torch.nonzero(pos.triu(1), as_tuple=True)
    j_ij = (torch.logaddexp(push[i], push[j]) if both_ends else push[i]) + d[i, j]
    j_ij = torch.relu(j_ij) if hinge else j_ij
    return (j_ij**2 if square else j_ij).sum() / (2 * len(i))


def check_lifted(fn: Callable[..., Any]) -> bool:
    """Check ``fn(embeddings, labels, margin=...)`` against :func:`eelib.losses.lifted_structure_loss`."""
    def reference(x: Tensor, y: Tensor, margin: float) -> Tensor:
        return lifted_structure_loss(x, y, margin=margin)

    def variant(**flags: bool) -> Symptom:
        return _gives(lambda x, y, margin: _lifted_variant(x, y, margin, **flags), NUMBER)

    mistakes = {
        "your value is twice the reference: the formula divides by 2|P| with P the unordered positive "
        "pairs; if you loop over ordered pairs (i, j) and (j, i), divide by twice as much.":
            _gives(lambda x, y, margin: 2 * reference(x, y, margin), NUMBER),
        "J_ij uses the negatives of both ends: log(Σ_k e^(m − D_ik) + Σ_l e^(m − D_jl)).": variant(both_ends=False),
        "did you forget to square the hinge, [J]₊²?": variant(square=False),
        "you forgot the hinge: a negative J_ij contributes 0, [J]₊ = max(J, 0), before squaring.": variant(hinge=False),
    }
    cases = _loss_cases([{"margin": 1.0}, {"margin": 0.5}])
    return run_cases("check_lifted", fn, reference, cases, NUMBER, mistakes,
                      "J_ij = log(Σ_k∈N(i) e^(m−D_ik) + Σ_l∈N(j) e^(m−D_jl)) + D_ij; loss = Σ [J_ij]₊² / (2|P|).",
                      differentiable=EMBEDDINGS)


# --- multi-similarity ---------------------------------------------------------------------


def reference_ms_mining(similarity: Tensor, labels: Tensor, epsilon: float) -> tuple[Tensor, Tensor]:
    """MS mining on one similarity matrix: :func:`eelib.losses.multi_similarity.ms_mining`.

    Returns
    -------
    keep_pos, keep_neg : Tensor of bool, shape (B, B)
    """
    return ms_mining(similarity, similarity, *label_masks(labels), epsilon)


def _ms_mining_variant(similarity: Tensor, labels: Tensor, epsilon: float, *, diagonal: bool = False,
                       non_strict: bool = False, wrong_extremes: bool = False) -> tuple[Tensor, Tensor]:
    """MS mining with one typical mistake switched on."""
    pos, neg = label_masks(labels)
    if diagonal:
        pos = pos | torch.eye(len(labels), dtype=torch.bool)
    if wrong_extremes:
        pos_ref = similarity.masked_fill(~pos, -math.inf).amax(1, keepdim=True)
        neg_ref = similarity.masked_fill(~neg, math.inf).amin(1, keepdim=True)
    else:
        pos_ref = similarity.masked_fill(~pos, math.inf).amin(1, keepdim=True)
        neg_ref = similarity.masked_fill(~neg, -math.inf).amax(1, keepdim=True)
    if non_strict:
        return pos & (similarity - epsilon <= neg_ref), neg & (similarity + epsilon >= pos_ref)
    return pos & (similarity - epsilon < neg_ref), neg & (similarity + epsilon > pos_ref)


def check_ms_mining(fn: Callable[..., Any]) -> bool:
    """Check ``fn(similarity, labels, epsilon) -> (keep_pos, keep_neg)``, two boolean B × B masks."""
    def variant(**flags: bool) -> Symptom:
        return _gives(lambda s, y, eps: _ms_mining_variant(s, y, eps, **flags), MASKS)

    mistakes = {
        "a point is never its own positive: leave the diagonal out of keep_pos.": variant(diagonal=True),
        "the inequalities are strict (S + ε > min S⁺, S − ε < max S⁻): ties are not kept.": variant(non_strict=True),
        "compare negatives with the anchor's *weakest* positive (min) and positives with its "
        "*hardest* negative (max).": variant(wrong_extremes=True),
    }
    cases = [Case(f"{name}, epsilon={eps}", (x @ x.T, y, eps), {})
             for eps in (0.1, 0.0, 0.5) for name, x, y in _batches(pairs_only=False)]
    return run_cases("check_ms_mining", fn, reference_ms_mining, cases, MASKS, mistakes,
                      "per anchor: keep negative k when S_ik + ε > min over positives S_ij; keep positive j "
                      "when S_ij − ε < max over negatives S_ik.")


def _ms_loss_unmined(x: Tensor, y: Tensor, alpha: float, beta: float, base: float, epsilon: float) -> Tensor:
    """The MS loss (Eq. 12) over every positive and negative pair, without the mining step."""
    similarity = x @ x.T
    pos, neg = label_masks(y)
    return (log1p_sum_exp(-alpha * (similarity - base), pos) / alpha
            + log1p_sum_exp(beta * (similarity - base), neg) / beta).mean()


def check_multi_similarity(fn: Callable[..., Any]) -> bool:
    """Check ``fn(embeddings, labels, alpha=, beta=, base=, epsilon=)`` against the MS loss (Eq. 12)."""
    def reference(x: Tensor, y: Tensor, **params: float) -> Tensor:
        return multi_similarity_loss(x, y, **params)

    mistakes = {
        "you skipped the mining step: keep negatives with S + ε > min positive S and positives with "
        "S − ε < max negative S.": _gives(_ms_loss_unmined, NUMBER),
        "α scales the positive term and β the negative one; you swapped them.":
            _gives(lambda x, y, **p: reference(x, y, **{**p, "alpha": p["beta"], "beta": p["alpha"]}), NUMBER),
        "you summed over the anchors; average them (an anchor with nothing mined counts as 0).":
            _gives(lambda x, y, **p: reference(x, y, **p) * len(y), NUMBER),
    }
    settings = [{"alpha": 2.0, "beta": 50.0, "base": 0.5, "epsilon": 0.1},
                {"alpha": 1.0, "beta": 10.0, "base": 0.3, "epsilon": 0.3}]
    return run_cases("check_multi_similarity", fn, reference, _loss_cases(settings), NUMBER, mistakes,
                      "per anchor: (1/α) log(1 + Σ_P e^(−α(S−λ))) + (1/β) log(1 + Σ_N e^(β(S−λ))) over the "
                      "mined pairs, mean over the batch.", differentiable=EMBEDDINGS)


# --- counting pairs and triplets ------------------------------------------------------------


def reference_pair_counts(n_classes: int, per_class: int) -> dict[str, int]:
    """Unordered positive and negative pairs, and triplets (ordered a ≠ p), in ``n_classes × per_class``."""
    n = n_classes * per_class
    positive = n_classes * per_class * (per_class - 1) // 2
    negative = n * (n - 1) // 2 - positive
    triplets = n * (per_class - 1) * (n - per_class)
    return {"positive_pairs": positive, "negative_pairs": negative, "triplets": triplets}


def check_pair_counts(fn: Callable[[int, int], Mapping[str, int]]) -> bool:
    """Check ``fn(n_classes, per_class)`` returns the numbers of pairs and triplets of a batch."""
    def changed(**values: Callable[[int, int], int]) -> Symptom:
        return _gives(lambda c, k: {**reference_pair_counts(c, k), **{key: f(c, k) for key, f in values.items()}},
                      COUNTS)

    mistakes = {
        "(a, p) is ordered: (a, p, n) and (p, a, n) are two different triplets.":
            changed(triplets=lambda c, k: reference_pair_counts(c, k)["triplets"] // 2),
        "a triplet needs a ≠ p: each anchor has K − 1 positives, not K.":
            changed(triplets=lambda c, k: c * k * k * (c * k - k)),
        "count unordered pairs: a class of K samples has K(K − 1)/2 positive pairs.":
            changed(positive_pairs=lambda c, k: c * k * (k - 1)),
        "count unordered pairs: the negative pairs are N(N − 1)/2 minus the positive ones.":
            changed(negative_pairs=lambda c, k: 2 * reference_pair_counts(c, k)["negative_pairs"]),
    }
    cases = [Case(f"{c} classes × {k} per class", (c, k), {}) for c, k in ((2, 2), (4, 4), (32, 4), (10, 1), (1, 5), (100, 8))]
    return run_cases("check_pair_counts", fn, reference_pair_counts, cases, COUNTS, mistakes,
                      "with N = C·K: positive pairs C·K(K−1)/2, negative pairs N(N−1)/2 minus those, "
                      "triplets N·(K−1)·(N−K).")


# --- Embedding Expansion ------------------------------------------------------------------


def expand_reference(x_i: Tensor, x_j: Tensor, n: int, normalize: bool) -> Tensor:
    """The reference: EE's n synthetic points of one pair (Ko & Gu 2020, Eq. 1)."""
    pair = torch.stack([x_i, x_j])
    return expand(pair, torch.zeros(2, dtype=torch.long), n_synthetic=n, normalize_synthetic=normalize).embeddings[2:]


def _division(x_i: Tensor, x_j: Tensor, weights: Sequence[float], normalize: bool) -> Tensor:
    w = torch.tensor(list(weights), dtype=x_i.dtype)[:, None]
    points = x_i + w * (x_j - x_i)
    return F.normalize(points, dim=1) if normalize else points


def check_expand(fn: Callable[[Tensor, Tensor, int, bool], Tensor]) -> bool:
    """Check ``fn(x_i, x_j, n, normalize) -> Tensor[n, D]``: EE's synthetic points of one pair.

    The reference points are ``x_i + k/(n+1) (x_j − x_i)``, k = 1..n (Ko & Gu 2020, Eq. 1),
    divided by their L2 norm when ``normalize``.
    """
    mistakes = {
        "weights should be k/(n+1), k = 1..n, not including the endpoints (k = 0 and k = n + 1 are the originals).":
            lambda got, case: got.ndim == 2 and got.shape[0] == case.args[2] + 2,
        "with normalize=True, divide each synthetic point by its L2 norm (did you normalise?).":
            _gives(lambda a, b, n, normalize: expand_reference(a, b, n, False), POINTS),
        "normalise only when normalize=True.": _gives(lambda a, b, n, normalize: expand_reference(a, b, n, True), POINTS),
        "order the points from x_i towards x_j: k = 1 is the closest to x_i.":
            _gives(lambda a, b, n, normalize: expand_reference(a, b, n, normalize).flip(0), POINTS),
        "weights should be k/(n+1), k = 1..n; k/n puts the last point on x_j.":
            _gives(lambda a, b, n, normalize: _division(a, b, [k / n for k in range(1, n + 1)], normalize), POINTS),
    }
    generator = torch.Generator().manual_seed(0)
    pairs = [(f"unit-norm pair, D={dim}", *F.normalize(torch.randn(2, dim, generator=generator, dtype=torch.float64), dim=1))
             for dim in (2, 5)]
    pairs.append(("unnormalised pair, D=3", *(3 * torch.randn(2, 3, generator=generator, dtype=torch.float64))))
    cases = [Case(f"{name}, n={n}, normalize={normalize}", (x_i, x_j, n, normalize), {})
             for name, x_i, x_j in pairs for n in (1, 2, 4, 0) for normalize in (True, False)]
    return run_cases("check_expand", fn, expand_reference, cases, POINTS, mistakes,
                      "x_i + k/(n+1) (x_j − x_i) for k = 1..n, one point per row.", differentiable=(0, 1))


def check_expanded_distances(fn: Callable[[Tensor, int, int, int, float], Any]) -> bool:
    """Check ``fn(sq_dist, i, j, k, w)`` = ‖(1−w)x_i + w x_j − x_k‖² from squared distances only.

    The identity is ‖s − x_k‖² = (1−w)D²_ik + w D²_jk − w(1−w)D²_ij (EE's Gram trick, Ko & Gu
    2020, Sec. 3.3); the reference computes the point s explicitly instead.
    """
    x = torch.randn(6, 7, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    sq = pairwise_distances(x, squared=True)

    def reference(sq_dist: Tensor, i: int, j: int, k: int, w: float) -> float:
        return float(((1 - w) * x[i] + w * x[j] - x[k]).pow(2).sum())

    def identity(i: int, j: int, k: int, w: float, *, ij: float = -1.0, ik: float = 1.0, jk: float = 1.0) -> Tensor:
        return ik * (1 - w) * sq[i, k] + jk * w * sq[j, k] + ij * w * (1 - w) * sq[i, j]

    mistakes = {
        "the cross term has a minus sign and weight w(1−w): (1−w)D²_ik + w D²_jk − w(1−w)D²_ij.":
            _gives(lambda s, i, j, k, w: identity(i, j, k, w, ij=1.0), NUMBER),
        "return the *squared* distance ‖s − x_k‖², not its square root.":
            _gives(lambda s, i, j, k, w: reference(s, i, j, k, w) ** 0.5, NUMBER),
        "expanding the square leaves a cross term 2w(1−w)(x_i − x_k)ᵀ(x_j − x_k); express it "
        "through D²_ik + D²_jk − D²_ij.":
            _gives(lambda s, i, j, k, w: identity(i, j, k, w, ij=0.0, ik=1 - w, jk=w), NUMBER),
    }
    cases = [Case(f"i={i}, j={j}, k={k}, w={w:.3g}", (sq, i, j, k, w), {})
             for i, j, k, w in ((0, 1, 2, 0.5), (0, 1, 3, 1 / 3), (2, 4, 5, 0.25), (1, 2, 0, 0.9),
                                (3, 5, 3, 0.5), (0, 4, 2, 0.0), (0, 4, 2, 1.0))]
    return run_cases("check_expanded_distances", fn, reference, cases, NUMBER, mistakes,
                      "start from s − x_k = (1−w)(x_i − x_k) + w(x_j − x_k), expand the square, and write "
                      "(x_i − x_k)ᵀ(x_j − x_k) with squared distances.")


def parent_gradients_reference(x_i: Tensor, x_j: Tensor, w: float, grad_s: Tensor, normalize: bool) -> tuple[Tensor, Tensor]:
    """The reference: autograd carries ``grad_s`` from s = (1−w)x_i + w x_j (normalised) to x_i and x_j."""
    parents = [x.detach().clone().requires_grad_(True) for x in (x_i, x_j)]
    point = _division(*parents, [w], normalize)[0]
    grads = torch.autograd.grad(point, parents, grad_outputs=grad_s)
    return grads[0].detach(), grads[1].detach()


def _parent_gradients_variant(x_i: Tensor, x_j: Tensor, w: float, grad_s: Tensor, normalize: bool, *,
                              project: bool = True, divide: bool = True, swap: bool = False) -> Tensor:
    """The parents' gradients, (2, D), written out by hand with one typical mistake switched on."""
    raw = (1 - w) * x_i + w * x_j
    g = grad_s
    if normalize:
        norm = raw.norm()
        unit = raw / norm
        g = g - unit * (unit @ g) if project else g
        g = g / norm if divide else g
    shares = (w, 1 - w) if swap else (1 - w, w)
    return torch.stack([shares[0] * g, shares[1] * g])


def check_parent_gradients(fn: Callable[..., Any]) -> bool:
    """Check ``fn(x_i, x_j, w, grad_s, normalize) -> (grad_i, grad_j)``: how EE trains through a synthetic point.

    For the synthetic point ``s = x̄ / ‖x̄‖`` with ``x̄ = (1 − w) x_i + w x_j`` (``s = x̄``
    without normalisation), the gradient ``grad_s = ∂L/∂s`` reaches the parents as
    ``∂L/∂x_i = (1 − w) Jᵀ grad_s`` and ``∂L/∂x_j = w Jᵀ grad_s``, with the normalisation's
    Jacobian ``J = (I − s sᵀ) / ‖x̄‖`` (the identity without normalisation). The reference
    is autograd; the student's function must not call autograd itself.
    """
    def variant(**flags: bool) -> Symptom:
        return _gives(lambda a, b, w, g, normalize: _parent_gradients_variant(a, b, w, g, normalize, **flags), POINTS)

    mistakes = {
        "x_i's share is 1 − w and x_j's is w: the point is closer to x_i when w is small.": variant(swap=True),
        "you passed grad_s straight through the normalisation: the parents receive Jᵀ grad_s with "
        "J = (I − s sᵀ)/‖x̄‖, not grad_s itself.": variant(project=False, divide=False),
        "remove the radial part of grad_s (its component along s): moving along s changes x̄'s "
        "length, which the normalisation undoes.": variant(project=False),
        "after removing the radial part, divide by ‖x̄‖ (the length before normalisation): "
        "a short x̄ turns more per unit of change.": variant(divide=False),
        "without normalisation (normalize=False) s = x̄ and the Jacobian is the identity.":
            lambda got, case: not case.args[4] and POINTS.agree(
                got, _parent_gradients_variant(*case.args[:4], True)),
    }
    generator = torch.Generator().manual_seed(3)

    def random(*shape: int) -> Tensor:
        return torch.randn(*shape, generator=generator, dtype=torch.float64)

    cases = []
    for dim in (2, 5):
        x_i, x_j = F.normalize(random(2, dim), dim=1)
        for w in (1 / 3, 0.5, 0.75):
            g = random(dim)
            for normalize in (True, False):
                cases.append(Case(f"unit-norm parents, D={dim}, w={w:.3g}, normalize={normalize}",
                                  (x_i, x_j, w, g, normalize), {}))
    x_i, x_j = 2.0 * random(2, 3)
    cases.append(Case("unnormalised parents, D=3, w=0.25, normalize=True", (x_i, x_j, 0.25, random(3), True), {}))
    x_i, x_j = F.normalize(random(2, 3), dim=1)
    radial = F.normalize(0.5 * x_i + 0.5 * x_j, dim=0)
    cases.append(Case("grad_s along s itself (radial), w=0.5, normalize=True", (x_i, x_j, 0.5, radial, True), {}))
    return run_cases("check_parent_gradients", fn, parent_gradients_reference, cases, POINTS, mistakes,
                      "∂L/∂x_i = (1 − w) Jᵀ grad_s and ∂L/∂x_j = w Jᵀ grad_s, with J = (I − s sᵀ)/‖x̄‖ "
                      "when normalize is true and J = I otherwise.", forbid_autograd=True)


# --- for hidden tests: the student did not call the reference ---------------------------------


def check_independent(fn: Callable[..., Any]) -> bool:
    """Check that ``fn`` (and the notebook functions it calls) uses nothing from eelib.

    Meant for hidden tests (``### BEGIN HIDDEN TESTS``): the self-checks compare a
    student's function with eelib's reference, so a function that merely calls the
    reference would pass them (every self-check refuses such a function too). This
    inspects the names the function's code loads, following the functions defined in
    the same notebook.

    Raises
    ------
    TypeError
        If ``fn`` is not a Python function.
    AssertionError
        Naming the eelib objects the function refers to.
    """
    if not isinstance(fn, types.FunctionType):
        raise TypeError(f"fn must be a Python function, got {type(fn).__name__}")
    found = _eelib_references(fn)
    if found:
        raise AssertionError(f"check_independent: {fn.__name__} uses {found} from eelib; "
                             "write the computation yourself with torch.")
    print(f"✓ check_independent: {fn.__name__} does not use eelib.")
    return True


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
]
