"""The compiled mining kernel (:func:`eelib.pairs.use_compiled_mining`) against the eager one.

The compiled kernel is a whole-matrix form of the eager, blocked one, compiled by
``torch.compile``: same formula and tie rule, another order of summation. Values and
gradients must agree to 1e-12 in float64 and 1e-6 in float32 (relative to the largest entry)
on the official layout, odd class sizes and shuffled classes; the eager kernel is itself
checked against the expanded batch (tests/test_hardest_pairs.py). Compiling takes minutes on
a busy CPU: the slow tier.
"""

from __future__ import annotations

import shutil

import pytest
import torch

import eelib.pairs as pairs
from eelib.data import random_batch
from eelib.distances import squared_distances_from_gram
from eelib.pairs import hardest_pair_matrix, segment_layout

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]

LAYOUTS = {"official-6x4": ([4] * 6, False), "odd-3-2-5": ([3, 2, 5], False), "shuffled-odd": ([3, 4, 2, 6], True)}


def values_and_gradients(x, labels, n_synthetic, measure):
    leaf = x.detach().clone().requires_grad_(True)
    gram = leaf @ leaf.T
    base = squared_distances_from_gram(gram) if measure == "squared_distance" else gram
    value = hardest_pair_matrix(gram, base, segment_layout(labels), n_synthetic=n_synthetic,
                                normalize_synthetic=True, measure=measure)
    weights = torch.randn(value.shape, dtype=x.dtype, generator=torch.Generator().manual_seed(0))
    (grad,) = torch.autograd.grad((value * weights).sum(), leaf)
    return value.detach(), grad


def assert_agree(eager, compiled, tolerance):
    for a, b in zip(eager, compiled):
        scale = float(a.abs().max()) or 1.0
        assert float((a - b).abs().max()) <= tolerance * scale


@pytest.fixture
def compiled():
    if shutil.which("c++") is None and shutil.which("g++") is None:
        pytest.skip("no C++ compiler for torch.compile on the CPU")
    pairs.use_compiled_mining(True)
    yield
    pairs.use_compiled_mining(False)


@pytest.mark.parametrize(("dtype", "measure", "tolerance"), [
    (torch.float64, "squared_distance", 1e-12),
    (torch.float64, "inner_product", 1e-12),
    (torch.float32, "squared_distance", 1e-6),
])
def test_compiled_equals_eager(compiled, dtype, measure, tolerance):
    for sizes, shuffle in LAYOUTS.values():
        for n_synthetic in (1, 2, pairs.COMPILED_MAX_SYNTHETIC):
            x, y = random_batch(sizes, 6, seed=n_synthetic, shuffle=shuffle, norm_range=(0.5, 1.5), dtype=dtype)
            pairs.use_compiled_mining(False)
            eager = values_and_gradients(x, y, n_synthetic, measure)
            pairs.use_compiled_mining(True)
            assert_agree(eager, values_and_gradients(x, y, n_synthetic, measure), tolerance)


def test_compiled_falls_back_above_its_largest_n(compiled, monkeypatch):
    """Above COMPILED_MAX_SYNTHETIC the eager kernel runs (the compiled one is never called)."""
    def refuse(*args):
        raise AssertionError("the compiled kernel ran")

    monkeypatch.setitem(pairs._compiled, "forward", refuse)
    x, y = random_batch([4] * 4, 6, seed=1, dtype=torch.float64)
    values_and_gradients(x, y, pairs.COMPILED_MAX_SYNTHETIC + 1, "squared_distance")
