"""Embedding Expansion: synthetic points, pairing rule, expanded sets and the Gram identity.

References: docs/paper.md §1.1 (internal division, L2-normalisation, inherited labels),
§1.2 (the official swap-adjacent pairing and its duplicated rows), §2.3 (the Gram
identity) and the pairing rule of CONTRIBUTING.md.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor

from eelib import expand, oracles
from eelib.data import random_batch
from eelib.expansion import (
    expanded_inner_products,
    expanded_sets,
    pair_within_classes,
    synthetic_provenance,
)


pytestmark = [pytest.mark.unit, pytest.mark.usefixtures("one_torch_thread")]


def make_batch(sizes: list[int], dim: int, *, seed: int = 0, shuffle: bool = False) -> tuple[Tensor, Tensor]:
    """Unit-norm float64 embeddings with ``sizes[c]`` instances of class c, scrambled label values."""
    return random_batch(sizes, dim, seed=seed, shuffle=shuffle, scramble_labels=True)


LAYOUTS = {
    "official-4x4": ([4] * 4, False),
    "official-8x2": ([2] * 8, False),
    "odd-3-5-2": ([3, 5, 2], False),
    "shuffled-odd": ([3, 4, 2, 5], True),
}


def synthetic_rows(out) -> Tensor:
    return torch.nonzero(out.is_synthetic).squeeze(1)


# ------------------------------------------------------------- the synthetic points


@pytest.mark.parametrize("n_synthetic", [1, 2, 3, 4])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_points_divide_their_segment_equally(layout, n_synthetic):
    """Before normalisation: collinear with the parents, between them, at k/(n+1)."""
    sizes, shuffle = LAYOUTS[layout]
    x, y = make_batch(sizes, 6, seed=n_synthetic, shuffle=shuffle)
    out = expand(x, y, n_synthetic=n_synthetic, normalize_synthetic=False)
    rows = synthetic_rows(out)
    a, b, w = out.parent_a[rows], out.parent_b[rows], out.weight[rows]
    point, x_a, x_b = out.embeddings[rows], x[a], x[b]
    seg = (x_b - x_a).norm(dim=1)
    to_a, to_b = (point - x_a).norm(dim=1), (point - x_b).norm(dim=1)
    torch.testing.assert_close(to_a + to_b, seg, rtol=1e-12, atol=1e-12)  # on the segment
    torch.testing.assert_close(to_a / seg, w, rtol=1e-12, atol=1e-12)  # at fraction w from x_a
    expected_w = torch.arange(1, n_synthetic + 1, dtype=torch.float64) / (n_synthetic + 1)
    torch.testing.assert_close(w, expected_w.repeat(rows.shape[0] // n_synthetic))  # k = 1..n per pair
    assert bool((a != b).all())


@pytest.mark.parametrize("n_synthetic", [1, 2, 4])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_normalised_points_are_on_the_sphere_in_the_same_direction(layout, n_synthetic):
    sizes, shuffle = LAYOUTS[layout]
    x, y = make_batch(sizes, 5, seed=n_synthetic, shuffle=shuffle)
    raw = expand(x, y, n_synthetic=n_synthetic, normalize_synthetic=False).embeddings
    unit = expand(x, y, n_synthetic=n_synthetic, normalize_synthetic=True).embeddings
    batch = x.shape[0]
    torch.testing.assert_close(unit[batch:].norm(dim=1), torch.ones(unit.shape[0] - batch, dtype=x.dtype))
    torch.testing.assert_close(unit[batch:], raw[batch:] / raw[batch:].norm(dim=1, keepdim=True))
    assert bool((raw[batch:].norm(dim=1) < 1).all())  # interpolation pulls points inside the sphere


def test_normalisation_leaves_the_originals_alone():
    x, y = make_batch([3, 3], 4)
    x = 2.5 * x
    out = expand(x, y, n_synthetic=2, normalize_synthetic=True)
    torch.testing.assert_close(out.embeddings[: x.shape[0]], x, rtol=0, atol=0)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_labels_provenance_and_count(layout):
    sizes, shuffle = LAYOUTS[layout]
    x, y = make_batch(sizes, 3, shuffle=shuffle)
    n_pairs = sum(size // 2 for size in sizes)  # floor(m / 2) pairs per class
    for n_synthetic in range(5):
        out = expand(x, y, n_synthetic=n_synthetic)
        assert out.embeddings.shape == (x.shape[0] + n_synthetic * n_pairs, x.shape[1])
        assert int(out.is_synthetic.sum()) == n_synthetic * n_pairs
        assert torch.equal(out.labels, y[out.parent_a])
        assert torch.equal(out.labels, y[out.parent_b])  # both parents share the label
        assert torch.equal(out.labels[: x.shape[0]], y)
        originals = torch.arange(x.shape[0])
        assert torch.equal(out.parent_a[: x.shape[0]], originals)
        assert torch.equal(out.parent_b[: x.shape[0]], originals)
        assert bool((out.weight[: x.shape[0]] == 0).all())


def test_zero_synthetic_points_returns_the_batch():
    x, y = make_batch([2, 3], 4)
    out = expand(x, y, n_synthetic=0)
    assert torch.equal(out.embeddings, x)
    assert not bool(out.is_synthetic.any())


def test_docstring_example():
    out = expand(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 0]), n_synthetic=1, normalize_synthetic=False)
    torch.testing.assert_close(out.embeddings[2], torch.tensor([0.5, 0.5]))


def test_gradient_reaches_both_parents():
    """As in the official code, nothing stops the gradient through a synthetic point."""
    x, y = make_batch([2, 2], 3)
    x.requires_grad_(True)
    out = expand(x, y, n_synthetic=1)
    out.embeddings[4].sum().backward()  # the midpoint of rows 0 and 1
    assert bool((x.grad[0] != 0).any()) and bool((x.grad[1] != 0).any())
    assert bool((x.grad[2:] == 0).all())


@pytest.mark.parametrize("normalize", [True, False])
def test_points_match_the_loop_oracle(normalize):
    x, y = make_batch([3, 4, 2], 7, shuffle=True, seed=4)
    out = expand(x, y, n_synthetic=3, normalize_synthetic=normalize)
    pairs = oracles.pairs_loops(y)
    expected = torch.cat([
        torch.stack(oracles.synthetic_points_loops(x[i], x[j], 3, normalize)) for i, j in pairs
    ])
    torch.testing.assert_close(out.embeddings[x.shape[0]:], expected, rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------ the pairing rule


def test_pairing_rule_on_a_hand_worked_batch():
    """Batch-order pairs inside each class; the last instance of an odd-sized class forms none."""
    labels = torch.tensor([7, 3, 7, 7, 3, 5, 5, 5, 5, 5])
    # class 7: rows 0, 2, 3 -> (0, 2), row 3 alone; class 3: rows 1, 4 -> (1, 4);
    # class 5: rows 5..9 -> (5, 6), (7, 8), row 9 alone
    expected = [[0, 2], [1, 4], [5, 6], [7, 8]]
    assert pair_within_classes(labels).tolist() == expected


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(0, 5), min_size=2, max_size=30))
def test_pairing_matches_the_loop_oracle(raw_labels):
    labels = torch.tensor(raw_labels)
    if bool((torch.bincount(labels) == 1).any()):
        with pytest.raises(ValueError, match="labels"):
            pair_within_classes(labels)
        return
    assert [tuple(p) for p in pair_within_classes(labels).tolist()] == oracles.pairs_loops(labels)


@pytest.mark.parametrize("n_synthetic", [1, 2, 3, 4])
@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("sizes", [[2] * 6, [4] * 3, [6, 2, 8]])
def test_official_layout_gives_the_official_synthetic_set(sizes, normalize, n_synthetic):
    """The official code's n·B synthetic rows hold n·B/2 distinct points: exactly ours."""
    x, y = make_batch(sizes, 5, seed=n_synthetic)
    batch = x.shape[0]
    official, official_labels = oracles.official_embedding_aug(x, y, n_synthetic, normalize)
    ours = expand(x, y, n_synthetic=n_synthetic, normalize_synthetic=normalize)
    official_synthetic, ours_synthetic = official[batch:], ours.embeddings[batch:]
    assert official_synthetic.shape[0] == n_synthetic * batch
    assert ours_synthetic.shape[0] == n_synthetic * batch // 2
    tol = 1e-9 if normalize else 1e-12  # MXNet's L2Normalization adds 1e-10 under the root
    # every official row is one of ours, with the same label ...
    gap = (official_synthetic[:, None, :] - ours_synthetic[None, :, :]).norm(dim=2)
    nearest = gap.argmin(1)
    assert bool((gap.min(1).values < tol).all())
    assert torch.equal(official_labels[batch:], ours.labels[batch:][nearest])
    # ... and each of ours is hit by exactly two official rows (the duplicates)
    hits = torch.bincount(nearest, minlength=ours_synthetic.shape[0])
    assert bool((hits == 2).all())


# -------------------------------------------------------------------- expanded sets


@pytest.mark.parametrize("n_synthetic", [0, 1, 3])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_expanded_sets_hold_the_original_and_its_segments(layout, n_synthetic):
    sizes, shuffle = LAYOUTS[layout]
    _, y = make_batch(sizes, 2, shuffle=shuffle)
    prov = synthetic_provenance(y, n_synthetic)
    table = expanded_sets(prov, y.shape[0])
    for i in range(y.shape[0]):
        owns = (prov.is_synthetic & ((prov.parent_a == i) | (prov.parent_b == i))).nonzero().squeeze(1)
        assert set(table[i].tolist()) == {i} | set(owns.tolist())
    if layout.startswith("official"):
        assert table.shape[1] == 1 + n_synthetic  # one segment per original


# ------------------------------------------------------------------ the Gram identity


@pytest.mark.parametrize("dim", [2, 7, 512])
@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("n_synthetic", [0, 1, 2, 3, 4])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_gram_identity(layout, n_synthetic, normalize, dim):
    """K = A G Aᵀ (rescaled when normalising) equals E Eᵀ of the explicit points."""
    sizes, shuffle = LAYOUTS[layout]
    x, y = make_batch(sizes, dim, seed=dim + n_synthetic, shuffle=shuffle)
    x = x * (0.5 + torch.rand(x.shape[0], 1, dtype=x.dtype, generator=torch.Generator().manual_seed(1)))
    explicit = expand(x, y, n_synthetic=n_synthetic, normalize_synthetic=normalize).embeddings
    implicit = expanded_inner_products(x @ x.T, synthetic_provenance(y, n_synthetic), normalize=normalize)
    torch.testing.assert_close(implicit, explicit @ explicit.T, rtol=1e-12, atol=1e-12)


def test_distance_identity_for_a_synthetic_point():
    """‖s − x_k‖² = (1 − w) D²_ik + w D²_jk − w(1 − w) D²_ij (docs/paper.md §2.3)."""
    x, y = make_batch([4, 3, 2], 6, seed=9, shuffle=True)
    out = expand(x, y, n_synthetic=3, normalize_synthetic=False)
    sq = ((x[:, None, :] - x[None, :, :]) ** 2).sum(2)
    for r in synthetic_rows(out).tolist():
        i, j, w = int(out.parent_a[r]), int(out.parent_b[r]), float(out.weight[r])
        direct = ((out.embeddings[r] - x) ** 2).sum(1)
        identity = (1 - w) * sq[i] + w * sq[j] - w * (1 - w) * sq[i, j]
        torch.testing.assert_close(direct, identity, rtol=1e-12, atol=1e-12)


def test_gram_identity_is_finite_for_a_synthetic_point_at_the_origin():
    """Antipodal parents put the midpoint at 0; its normalisation must not produce NaN."""
    x = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, 2.0]], requires_grad=True)
    y = torch.tensor([0, 0, 1, 1])
    inner = expanded_inner_products(x @ x.T, synthetic_provenance(y, 1), normalize=True)
    inner.sum().backward()
    assert bool(torch.isfinite(inner).all()) and bool(torch.isfinite(x.grad).all())
