"""EE's mined matrix computed segment by segment (:func:`eelib.pairs.hardest_pair_matrix`).

The reference is the definition applied to the whole expanded batch: every inner product
of the N expanded points from the Gram identity (:func:`eelib.expansion.expanded_inner_products`,
itself checked against explicit points in tests/test_expansion.py), then the min / max over
E(i) × E(k) read off :func:`eelib.expansion.expanded_sets`, with autograd through both. The
fast path shares neither the N × N matrix nor the reduction with it. Values and gradients must
agree to 1e-12 (float64) on every layout: official blocks, odd class sizes (an original that
ends two segments), shuffled classes, several blocks of rows, degenerate points.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor

import eelib.pairs as pairs
from eelib.data import random_batch
from eelib.distances import squared_distances_from_gram
from eelib.expansion import expanded_inner_products, expanded_sets, synthetic_provenance
from eelib.pairs import hardest_pair_matrix, segment_layout

pytestmark = [pytest.mark.unit, pytest.mark.usefixtures("one_torch_thread")]

MEASURES = ("squared_distance", "inner_product")


def reference(x: Tensor, labels: Tensor, n_synthetic: int, normalize: bool, measure: str) -> Tensor:
    """min / max over E(i) × E(k) of the whole expanded batch's matrix, written out."""
    provenance = synthetic_provenance(labels, n_synthetic)
    sets = expanded_sets(provenance, labels.shape[0])
    matrix = expanded_inner_products(x @ x.T, provenance, normalize=normalize)
    if measure == "squared_distance":
        matrix = squared_distances_from_gram(matrix)
    pick = torch.amin if measure == "squared_distance" else torch.amax
    batch, width = sets.shape
    blocks = matrix[sets.reshape(-1)][:, sets.reshape(-1)].view(batch, width, batch, width)
    return pick(blocks, dim=(1, 3))


def fast(x: Tensor, labels: Tensor, n_synthetic: int, normalize: bool, measure: str) -> Tensor:
    gram = x @ x.T
    base = squared_distances_from_gram(gram) if measure == "squared_distance" else gram
    return hardest_pair_matrix(gram, base, segment_layout(labels), n_synthetic=n_synthetic,
                               normalize_synthetic=normalize, measure=measure)


def assert_same_values_and_gradients(x: Tensor, labels: Tensor, n_synthetic: int, normalize: bool,
                                     measure: str, seed: int = 0) -> None:
    weights = torch.randn(labels.shape[0], labels.shape[0], dtype=x.dtype,
                          generator=torch.Generator().manual_seed(seed))
    results = []
    for fn in (reference, fast):
        leaf = x.detach().clone().requires_grad_(True)
        value = fn(leaf, labels, n_synthetic, normalize, measure)
        (grad,) = torch.autograd.grad((value * weights).sum(), leaf)
        results.append((value.detach(), grad))
    (ref_value, ref_grad), (value, grad) = results
    torch.testing.assert_close(value, ref_value, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grad, ref_grad, rtol=1e-10, atol=1e-10)


LAYOUTS = {
    "official-6x4": ([4] * 6, False),
    "pairs-5x2": ([2] * 5, False),
    "odd-3-2-5": ([3, 2, 5], False),
    "shuffled-odd": ([3, 4, 2, 6], True),
    "shuffled-even": ([4, 4, 2], True),
}


@pytest.fixture(params=[None, 8], ids=["one-block", "blocks-of-one-segment"])
def block_elements(request, monkeypatch):
    """Run with the default block size and with blocks of a single segment."""
    if request.param is not None:
        monkeypatch.setattr(pairs, "BLOCK_ELEMENTS", request.param)


@pytest.mark.parametrize("normalize", [True, False], ids=["normalized", "raw"])
@pytest.mark.parametrize("n_synthetic", [1, 2, 4])
@pytest.mark.parametrize("measure", MEASURES)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_equals_the_reduction_over_the_expanded_batch(layout, measure, n_synthetic, normalize, block_elements):
    sizes, shuffle = LAYOUTS[layout]
    x, y = random_batch(sizes, 6, seed=n_synthetic, shuffle=shuffle, norm_range=(0.5, 1.5), scramble_labels=True)
    assert_same_values_and_gradients(x, y, n_synthetic, normalize, measure)


@pytest.mark.parametrize("measure", MEASURES)
def test_degenerate_points(measure):
    """Duplicates (clipped zero distances), antipodal ends (a synthetic point at the origin), a zero.

    Such batches tie candidates exactly; the fast path then gives the whole gradient to one of
    them where the reference's amin / amax shares it, so only values are compared, and the
    gradient must be finite.
    """
    x = torch.tensor([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0],      # duplicate pair
                      [0.0, 1.0, 0.0], [0.0, -1.0, 0.0],     # antipodal pair: midpoint at 0
                      [1.0, 0.0, 0.0], [0.0, 0.0, 0.0],      # a duplicate of class 0 in class 2, a zero
                      [0.0, 0.0, 2.0], [0.0, 0.0, 2.0]], dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    for n_synthetic in (1, 3):
        for normalize in (True, False):
            value = fast(x, y, n_synthetic, normalize, measure)
            torch.testing.assert_close(value, reference(x, y, n_synthetic, normalize, measure), rtol=1e-12, atol=1e-12)
            (grad,) = torch.autograd.grad(value.sum(), x)
            assert bool(torch.isfinite(grad).all())


@settings(max_examples=40, deadline=None)
@given(sizes=st.lists(st.integers(2, 5), min_size=2, max_size=6), shuffle=st.booleans(),
       n_synthetic=st.integers(1, 3), measure=st.sampled_from(MEASURES), seed=st.integers(0, 10_000))
def test_random_layouts(sizes, shuffle, n_synthetic, measure, seed):
    x, y = random_batch(sizes, 4, seed=seed, shuffle=shuffle, norm_range=(0.5, 1.5))
    assert_same_values_and_gradients(x, y, n_synthetic, True, measure, seed)


def test_float32_agrees_with_float64():
    x, y = random_batch([4] * 8, 32, seed=3)
    for measure in MEASURES:
        torch.testing.assert_close(fast(x.float(), y, 2, True, measure), fast(x, y, 2, True, measure).float(),
                                   rtol=1e-5, atol=1e-5)


def test_gradcheck():
    x, y = random_batch([3, 2, 4], 3, seed=1, shuffle=True, norm_range=(0.5, 1.5))
    x.requires_grad_(True)
    weights = torch.randn(9, 9, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    for measure in MEASURES:
        assert torch.autograd.gradcheck(lambda e: (fast(e, y, 2, True, measure) * weights).sum(), (x,))


def test_layout_of_the_official_sampler_keeps_its_pairs():
    layout = segment_layout(torch.tensor([7, 7, 7, 7, 3, 3]))
    # classes are laid out in sorted label order (3 before 7), each class's pairs in batch order
    assert layout.rows.tolist() == [4, 5, 0, 1, 2, 3]
    assert layout.position.tolist() == [2, 3, 4, 5, 0, 1]
    assert layout.is_segment.tolist() == [True, True, True]


def test_layout_puts_the_originals_without_a_pair_last_and_pads_an_odd_batch():
    # class 5 at rows 0, 2, 4: segment (0, 2), row 4 alone; class 9 at rows 1, 3: segment (1, 3)
    layout = segment_layout(torch.tensor([5, 9, 5, 9, 5]))
    assert layout.rows.tolist() == [0, 2, 1, 3, 4, 0]
    assert layout.position.tolist() == [0, 2, 1, 3, 4]
    assert layout.is_segment.tolist() == [True, True, False]


def test_layout_shape_follows_from_the_batch_size_alone():
    """Whatever the labels, R = B rounded up to even: nothing about them is read to size it."""
    generator = torch.Generator().manual_seed(0)
    for batch in range(2, 40):
        for _ in range(5):
            labels = torch.randint(0, max(1, batch // 2), (batch,), generator=generator)
            if bool((torch.bincount(labels) == 1).any()):
                continue
            layout = segment_layout(labels)
            assert layout.rows.shape == (batch + batch % 2,)
            assert sorted(layout.rows[:batch].tolist()) == list(range(batch))
            assert torch.equal(layout.rows[layout.position], torch.arange(batch))
            segments = layout.rows.view(-1, 2)[layout.is_segment]
            assert bool((labels[segments[:, 0]] == labels[segments[:, 1]]).all())
            assert segments.shape[0] == sum(int(c) // 2 for c in torch.bincount(labels) if c)


def test_single_instance_class_is_named():
    with pytest.raises(ValueError, match=r"class\(es\) \[42\]"):
        segment_layout(torch.tensor([1, 1, 42]))


@pytest.mark.parametrize("measure", MEASURES)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_whole_matrix_kernel_equals_the_blocked_one(layout, measure, monkeypatch):
    """The functions that use_compiled_mining compiles, run eagerly: the blocked kernel's values and gradients.

    (The compiled run itself is in tests/test_hardest_pairs_compiled.py, slow tier.)
    """
    sizes, shuffle = LAYOUTS[layout]
    x, y = random_batch(sizes, 6, seed=3, shuffle=shuffle, norm_range=(0.5, 1.5), scramble_labels=True)
    whole_matrix = {"enabled": True, "forward": pairs._dense_forward, "backward": pairs._dense_backward}
    for n_synthetic in (1, 2, 3):
        weights = torch.randn(x.shape[0], x.shape[0], dtype=x.dtype, generator=torch.Generator().manual_seed(n_synthetic))
        results = []
        for kernels in ({"enabled": False}, whole_matrix):
            monkeypatch.setattr(pairs, "_compiled", kernels)
            leaf = x.detach().clone().requires_grad_(True)
            value = fast(leaf, y, n_synthetic, True, measure)
            results.append((value.detach(), torch.autograd.grad((value * weights).sum(), leaf)[0]))
        (blocked, blocked_grad), (whole, whole_grad) = results
        torch.testing.assert_close(whole, blocked, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(whole_grad, blocked_grad, rtol=1e-12, atol=1e-12)
