"""Bad input is rejected with a ValueError/TypeError that names the argument.

And batches that are valid but have nothing to learn from (no positive pair, no
negative pair, a single sample) return a zero that carries a finite gradient.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import Tensor

from eelib import expand, oracles
from eelib.losses import (
    contrastive_loss,
    lifted_structure_loss,
    multi_similarity_loss,
    npair_loss,
    triplet_loss,
)

pytestmark = pytest.mark.unit

LOSSES = {
    "contrastive": (contrastive_loss, {}),
    "triplet-all": (triplet_loss, {"mining": "all"}),
    "triplet-semihard": (triplet_loss, {"mining": "semihard"}),
    "triplet-hardest": (triplet_loss, {"mining": "hardest"}),
    "npair": (npair_loss, {}),
    "lifted": (lifted_structure_loss, {}),
    "ms": (multi_similarity_loss, {}),
}
# expand() validates its batch like the losses do.
ENTRY_POINTS = {**LOSSES, "expand": (lambda e, y, **kw: expand(e, y, 1, **kw), {})}


def good_batch() -> tuple[Tensor, Tensor]:
    """Three classes, two samples each (valid for every loss, N-pair included)."""
    gen = torch.Generator().manual_seed(0)
    return torch.randn(6, 4, generator=gen), torch.tensor([0, 0, 1, 1, 2, 2])


# ------------------------------------------------------------ embeddings and labels

BAD_BATCHES = {
    "embeddings-1d": (lambda x, y: (x[:, 0], y), ValueError, "embeddings"),
    "embeddings-3d": (lambda x, y: (x[None], y), ValueError, "embeddings"),
    "embeddings-int": (lambda x, y: (x.round().long(), y), TypeError, "embeddings"),
    "embeddings-bool": (lambda x, y: (x > 0, y), TypeError, "embeddings"),
    "embeddings-numpy": (lambda x, y: (x.numpy(), y), TypeError, "embeddings"),
    "embeddings-list": (lambda x, y: (x.tolist(), y), TypeError, "embeddings"),
    "embeddings-nan": (lambda x, y: (torch.where(torch.arange(6)[:, None] == 2, float("nan"), x), y),
                       ValueError, "embeddings"),
    "embeddings-inf": (lambda x, y: (torch.where(torch.arange(6)[:, None] == 4, float("inf"), x), y),
                       ValueError, "embeddings"),
    "embeddings-neg-inf": (lambda x, y: (-torch.where(torch.arange(6)[:, None] == 0, float("inf"), x), y),
                           ValueError, "embeddings"),
    "empty-batch": (lambda x, y: (x[:0], y[:0]), ValueError, "embeddings"),
    "labels-too-few": (lambda x, y: (x, y[:5]), ValueError, "labels"),
    "labels-too-many": (lambda x, y: (x, torch.cat([y, y[:1]])), ValueError, "labels"),
    "labels-float": (lambda x, y: (x, y.float()), TypeError, "labels"),
    "labels-bool": (lambda x, y: (x, y > 0), TypeError, "labels"),
    "labels-2d": (lambda x, y: (x, y[:, None]), ValueError, "labels"),
    "labels-list": (lambda x, y: (x, y.tolist()), TypeError, "labels"),
    "labels-numpy": (lambda x, y: (x, np.asarray(y)), TypeError, "labels"),
}


@pytest.mark.parametrize("bad", BAD_BATCHES)
@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_bad_batches_are_rejected_naming_the_argument(entry, bad):
    fn, kw = ENTRY_POINTS[entry]
    make, error, name = BAD_BATCHES[bad]
    x, y = make(*good_batch())
    with pytest.raises(error, match=name):
        fn(x, y, **kw)


# -------------------------------------------------------------------- n_synthetic

BAD_N = {
    -1: (ValueError, "n_synthetic"),
    1.0: (TypeError, "n_synthetic"),
    2.5: (TypeError, "n_synthetic"),
    True: (TypeError, "n_synthetic"),
    False: (TypeError, "n_synthetic"),
    "2": (TypeError, "n_synthetic"),
    None: (TypeError, "n_synthetic"),
}


@pytest.mark.parametrize("n_synthetic", list(BAD_N), ids=repr)
@pytest.mark.parametrize("entry", LOSSES)
def test_bad_n_synthetic_is_rejected(entry, n_synthetic):
    fn, kw = LOSSES[entry]
    error, name = BAD_N[n_synthetic]
    with pytest.raises(error, match=name):
        fn(*good_batch(), n_synthetic=n_synthetic, **kw)


@pytest.mark.parametrize("n_synthetic", list(BAD_N), ids=repr)
def test_expand_rejects_bad_n_synthetic(n_synthetic):
    error, name = BAD_N[n_synthetic]
    with pytest.raises(error, match=name):
        expand(*good_batch(), n_synthetic)


def test_numpy_integer_n_synthetic_is_rejected():
    """Only a Python int is accepted (a numpy scalar is not silently truncated)."""
    with pytest.raises(TypeError, match="n_synthetic"):
        triplet_loss(*good_batch(), n_synthetic=np.float64(2.0))


@pytest.mark.parametrize("entry", LOSSES)
def test_a_single_sample_class_cannot_be_expanded(entry):
    """Classes 2 and 3 have one sample (for N-pair the batch is also not made of pairs)."""
    fn, kw = LOSSES[entry]
    with pytest.raises(ValueError, match="labels"):
        fn(good_batch()[0], torch.tensor([0, 0, 1, 1, 2, 3]), n_synthetic=1, **kw)


def test_single_sample_class_error_lists_the_classes():
    x, _ = good_batch()
    with pytest.raises(ValueError, match=r"\[2, 3\]"):
        expand(x, torch.tensor([0, 0, 1, 1, 2, 3]), 2)


@pytest.mark.parametrize("entry", [name for name in LOSSES if name != "npair"])
def test_single_sample_class_error_names_the_callers_labels(entry):
    """The losses cache EE's plan under canonical ids (0, 1, ...); the error must still
    name the labels the caller passed (9 and 3 here, not 2 and 3). N-pair rejects the
    batch earlier, as not made of pairs."""
    fn, kw = LOSSES[entry]
    with pytest.raises(ValueError, match=r"class\(es\) \[3, 9\]"):
        fn(good_batch()[0], torch.tensor([7, 7, 4, 4, 9, 3]), n_synthetic=1, **kw)


# ------------------------------------------------------------------ hyperparameters

BAD_HYPERPARAMETERS = [
    (contrastive_loss, {"margin": -0.1}, ValueError, "margin"),
    (contrastive_loss, {"margin": float("nan")}, ValueError, "margin"),
    (contrastive_loss, {"margin": "1"}, TypeError, "margin"),
    (triplet_loss, {"margin": -1e-3}, ValueError, "margin"),
    (triplet_loss, {"margin": float("inf")}, ValueError, "margin"),
    (triplet_loss, {"mining": "hard"}, ValueError, "mining"),
    (triplet_loss, {"mining": "batch_hard"}, ValueError, "mining"),
    (triplet_loss, {"mining": None}, ValueError, "mining"),
    (lifted_structure_loss, {"margin": -1.0}, ValueError, "margin"),
    (npair_loss, {"l2_reg": -0.002}, ValueError, "l2_reg"),
    (npair_loss, {"scale": 0.0}, ValueError, "scale"),
    (npair_loss, {"scale": float("inf")}, ValueError, "scale"),
    (multi_similarity_loss, {"alpha": 0.0}, ValueError, "alpha"),
    (multi_similarity_loss, {"beta": -50.0}, ValueError, "beta"),
    (multi_similarity_loss, {"epsilon": -0.1}, ValueError, "epsilon"),
    (multi_similarity_loss, {"base": float("nan")}, TypeError, "base"),
    (multi_similarity_loss, {"base": "0.5"}, TypeError, "base"),
]


@pytest.mark.parametrize(
    ("fn", "kw", "error", "name"), BAD_HYPERPARAMETERS,
    ids=[f"{fn.__name__}-{kw}" for fn, kw, _, _ in BAD_HYPERPARAMETERS],
)
def test_bad_hyperparameters_are_rejected(fn, kw, error, name):
    with pytest.raises(error, match=name):
        fn(*good_batch(), **kw)


@pytest.mark.parametrize("labels", [[0, 0, 0, 1, 1, 2], [0, 1, 2, 3, 4, 5], [0, 0, 1, 1, 1, 1]])
def test_npair_needs_a_batch_of_pairs(labels):
    x, _ = good_batch()
    with pytest.raises(ValueError, match="labels"):
        npair_loss(x, torch.tensor(labels))


# ------------------------------------------------- nothing to learn: a zero with a gradient

NO_POSITIVE = torch.tensor([0, 1, 2, 3, 4, 5])
NO_NEGATIVE = torch.tensor([7, 7, 7, 7, 7, 7])
# The contrastive loss sums independent per-pair terms: a batch of negatives only still
# has its push term, one of positives only its pull term. Only "no pair at all" is zero.
TRIPLET_BASED = [name for name in LOSSES if name not in ("npair", "contrastive")]


def assert_zero_with_gradient(fn, x: Tensor, labels: Tensor, **kw) -> None:
    x = x.clone().requires_grad_(True)
    value = fn(x, labels, **kw)
    assert value.dim() == 0 and value.requires_grad
    assert value.item() == 0.0
    value.backward()
    assert x.grad is not None and bool(torch.isfinite(x.grad).all())
    assert bool((x.grad == 0).all())


@pytest.mark.parametrize("entry", TRIPLET_BASED)
def test_no_positive_pair_gives_a_zero_with_gradient(entry):
    fn, kw = LOSSES[entry]
    assert_zero_with_gradient(fn, good_batch()[0], NO_POSITIVE, **kw)


@pytest.mark.parametrize("n_synthetic", [0, 1, 3])
@pytest.mark.parametrize("entry", TRIPLET_BASED)
def test_no_negative_pair_gives_a_zero_with_gradient(entry, n_synthetic):
    fn, kw = LOSSES[entry]
    assert_zero_with_gradient(fn, good_batch()[0], NO_NEGATIVE, n_synthetic=n_synthetic, **kw)


@pytest.mark.parametrize(("labels", "n_synthetic"), [(NO_POSITIVE, 0), (NO_NEGATIVE, 0), (NO_NEGATIVE, 2)])
def test_contrastive_with_one_kind_of_pair_keeps_its_other_term(labels, n_synthetic):
    x = 0.2 * good_batch()[0]  # close enough for the push term to be active too
    x.requires_grad_(True)
    value = contrastive_loss(x, labels, n_synthetic=n_synthetic)
    value.backward()
    torch.testing.assert_close(value, oracles.contrastive_loss_loops(x, labels, n_synthetic=n_synthetic))
    assert value > 0 and bool(torch.isfinite(x.grad).all())


@pytest.mark.parametrize("n_synthetic", [0, 1, 3])
def test_npair_with_a_single_pair_gives_a_zero_with_gradient(n_synthetic):
    """One class twice: no negative, so only the (here zero) L2 penalty remains."""
    x, _ = good_batch()
    assert_zero_with_gradient(npair_loss, x[:2], torch.tensor([4, 4]), n_synthetic=n_synthetic)


@pytest.mark.parametrize("entry", [name for name in LOSSES if name != "npair"])
def test_a_single_sample_gives_a_zero_with_gradient(entry):
    fn, kw = LOSSES[entry]
    x, _ = good_batch()
    assert_zero_with_gradient(fn, x[:1], torch.tensor([3]), **kw)


def test_no_semihard_triplet_gives_a_zero_with_gradient():
    """Well-separated classes: every negative is beyond the margin, none is semi-hard."""
    x = torch.tensor([[0.0, 0.0], [0.1, 0.0], [5.0, 0.0], [5.1, 0.0]])
    assert_zero_with_gradient(triplet_loss, x, torch.tensor([0, 0, 1, 1]), mining="semihard", margin=0.2)
