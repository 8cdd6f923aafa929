"""Hidden tests (eelib.course.grading): they refuse what the self-checks may let through.

Each kind of submission below is built from an independent solution (the notebooks'
reference solutions, tests/coursework/students.py) and changed in one way: it calls eelib,
it cuts its result off the autograd graph, it keeps the value but not the gradient, it
has a NaN gradient, or it is tuned to the visible cases. The reference solutions pass
(tests/test_coursework_fixtures.py).
"""

from __future__ import annotations

import io
from contextlib import redirect_stdout
from pathlib import Path

import nbformat
import pytest
import torch

from coursework.students import run_solutions
from eelib.course import checks
from eelib.course.grading import EXERCISES, hidden_check
from eelib.losses import contrastive_loss

pytestmark = [pytest.mark.unit, pytest.mark.usefixtures("one_torch_thread")]

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = {path.stem[:2]: path for path in (ROOT / "notebooks").glob("*.ipynb")}


@pytest.fixture(scope="module")
def solutions() -> dict:
    """The reference solutions of notebooks 02, 06 and 08 (one namespace)."""
    namespace = {}
    for number in ("02", "06", "08"):
        namespace |= run_solutions(nbformat.read(NOTEBOOK[number], as_version=4))
    return namespace


def _quiet(function, *args, **kwargs):
    with redirect_stdout(io.StringIO()):
        return function(*args, **kwargs)


def test_every_check_of_eelib_has_hidden_tests() -> None:
    visible = {name for name in checks.__all__ if name.startswith("check_") and name != "check_independent"}
    assert visible == set(EXERCISES)


def test_a_solution_that_calls_eelib_fails() -> None:
    def my_contrastive_loss(embeddings, labels, margin=1.0):
        return contrastive_loss(embeddings, labels, margin=margin)

    with pytest.raises(AssertionError, match="your function uses eelib"):
        _quiet(checks.check_contrastive, my_contrastive_loss)  # the self-check refuses it too
    with pytest.raises(AssertionError, match=r"uses \['contrastive_loss from eelib.losses.contrastive'\] from eelib"):
        _quiet(hidden_check, checks.check_contrastive, my_contrastive_loss)


def test_a_result_off_the_autograd_graph_fails(solutions: dict) -> None:
    def my_contrastive_loss(embeddings, labels, margin=1.0):
        return torch.tensor(solutions["my_contrastive_loss"](embeddings, labels, margin).detach().item())

    with pytest.raises(AssertionError, match="(?s)case 'four classes of three.*no autograd graph"):
        _quiet(hidden_check, checks.check_contrastive, my_contrastive_loss)


def test_the_right_value_with_the_wrong_gradient_fails(solutions: dict) -> None:
    def my_contrastive_loss(embeddings, labels, margin=1.0):
        value = solutions["my_contrastive_loss"](embeddings, labels, margin)
        return value.detach() + 0.0 * embeddings.sum()  # a graph, but a zero gradient

    with pytest.raises(AssertionError, match="the value is right but the gradient"):
        _quiet(hidden_check, checks.check_contrastive, my_contrastive_loss)


def test_a_nan_gradient_fails(solutions: dict) -> None:
    def my_expand(x_i, x_j, n, normalize):
        points = solutions["my_expand"](x_i, x_j, n, normalize)
        return points + 0.0 * torch.sqrt(-(x_i - x_i)).sum()  # value unchanged, d√0 = inf, 0·inf = nan

    with pytest.raises(AssertionError, match="not finite"):
        _quiet(hidden_check, checks.check_expand, my_expand)


def test_a_solution_tuned_to_the_visible_cases_fails(solutions: dict) -> None:
    def my_ms_mining(similarity, labels, epsilon):
        keep_pos, keep_neg = solutions["my_ms_mining"](similarity, labels, epsilon)
        return (keep_pos, keep_neg) if epsilon in (0.0, 0.1, 0.5) else (keep_pos, keep_neg & False)

    _quiet(checks.check_ms_mining, my_ms_mining)
    with pytest.raises(AssertionError, match="hidden tests of check_ms_mining: case .*epsilon=0.2.*keep_neg differ"):
        _quiet(hidden_check, checks.check_ms_mining, my_ms_mining)


def test_an_exception_is_reported_with_the_case() -> None:
    def my_expand(x_i, x_j, n, normalize):
        return expand_points(x_i, x_j, n)  # noqa: F821 (undefined on purpose)

    with pytest.raises(AssertionError, match="case 'unit-norm pair.*raised NameError"):
        _quiet(hidden_check, checks.check_expand, my_expand)


def test_an_unknown_check_is_refused() -> None:
    with pytest.raises(ValueError, match="check must be one of"):
        hidden_check(checks.check_independent, lambda: None)

