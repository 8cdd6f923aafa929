"""The machinery every self-check shares: cases, kinds of results, own-work detection, gradients.

A check (one module per notebook, :mod:`eelib.course.checks`) is a table of cases, a kind
of result and a table of typical mistakes; :func:`run_cases` is the one loop that compares
the student's function with the reference on those cases and turns the first disagreement
into a message with a hint. :func:`check_independent` makes the own-work check alone, for
instructors' hidden tests.
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
from torch import Tensor

from eelib.data import random_batch

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


def loss_batches(pairs_only: bool) -> list[tuple[str, Tensor, Tensor]]:
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


def loss_cases(settings: Sequence[dict[str, Any]], *, pairs_only: bool = False) -> list[Case]:
    """Every batch under every hyperparameter setting, plus the margin tie when there is a margin."""
    cases = [Case(name, (x, y), dict(kwargs)) for kwargs in settings for name, x, y in loss_batches(pairs_only)]
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


def _gradients(result: Any, leaves: Sequence[Tensor], probe: Tensor | None,
               symmetric: bool = False) -> list[Tensor] | None:
    """Gradient of the result (of ``(result · probe).sum()`` for points) with respect to each leaf.

    Returns None when the result carries no autograd graph. An input the result does not
    depend on gets a zero gradient. With ``symmetric`` the leaves are symmetric matrices and
    each gradient G is returned as G + Gᵀ: reading an entry as ``[i, k]`` or as ``[k, i]``
    gives the same value and the same G + Gᵀ, but not the same G.
    """
    result = _as_tensor_result(result)
    if not isinstance(result, Tensor) or not result.requires_grad:
        return None
    scalar = result.sum() if probe is None else (result.to(probe.dtype) * probe).sum()
    grads = torch.autograd.grad(scalar, list(leaves), allow_unused=True)
    grads = [torch.zeros_like(leaf) if g is None else g.detach() for g, leaf in zip(grads, leaves)]
    return [g + g.T for g in grads] if symmetric else grads


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
                      probe: Tensor | None, symmetric: bool = False) -> bool:
        try:
            args = _with_leaves(case.args, differentiable)
            grads = _gradients(self.variant(*args, **case.kwargs), [args[i] for i in differentiable], probe,
                               symmetric)
        except Exception:
            return False
        return grads is not None and _gradient_problem(got, grads) is None


def gives(variant: Callable[..., Any], kind: Kind) -> Symptom:
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
    symmetric: bool = False,
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
    symmetric : bool, default False
        The differentiable arguments are symmetric matrices (a matrix of squared distances):
        gradients are compared as G + Gᵀ, so that reading an entry as ``[i, k]`` or as
        ``[k, i]`` is the same.
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
        expected_grads = _gradients(reference_result, [reference_args[i] for i in differentiable], probe, symmetric)
        got_grads = _gradients(result, leaves, probe, symmetric)
        problem = _gradient_problem(got_grads, expected_grads)
        if problem is None:
            continue
        what, hint = problem
        if hint == GRADIENT_HINT:  # a wrong gradient: is it a known mistake?
            known = next((text for text, symptom in mistakes.items() if isinstance(symptom, _Gives)
                          and symptom.same_gradient(got_grads, case, differentiable, probe, symmetric)), None)
            hint = f"the value is right but the gradient is not: {known}" if known else hint
        raise AssertionError(f"{where}: {what}.\nHint: {hint}")
    what = " (values and gradients)" if differentiable else ""
    print(f"✓ {name}: all {len(cases)} cases agree with the reference{what}.")
    return True


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
