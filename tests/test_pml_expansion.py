"""EE for pytorch-metric-learning users: a PML loss and miner wrapped by ExpandedLoss compute
eelib's loss with EE (values and float64 gradients)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from pytorch_metric_learning import distances, losses, miners

from eelib.data import random_batch
from eelib.losses import LOSSES
from eelib.pml_reference import ExpandedLoss, pml_loss

pytestmark = pytest.mark.unit

CASES = {
    "contrastive": ("contrastive", {"margin": 0.8}),
    "triplet-all": ("triplet", {"mining": "all", "margin": 0.3}),
    "triplet-semihard": ("triplet", {"mining": "semihard", "margin": 0.3}),
    "triplet-hardest": ("triplet", {"mining": "hardest", "margin": 0.3}),
    "triplet-hardest-squared": ("triplet", {"mining": "hardest", "squared": True}),
    "lifted": ("lifted", {"margin": 1.0}),
    "multi_similarity": ("multi_similarity", {"base": 0.4}),
}
LAYOUTS = {"official": ([4, 4, 2, 6], False), "shuffled, odd classes": ([3, 4, 2, 5], True)}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("n_synthetic", [1, 2, 3])
@pytest.mark.parametrize("normalize_synthetic", [True, False])
def test_a_pml_loss_with_expanded_loss_is_eelibs_loss_with_ee(case, layout, n_synthetic, normalize_synthetic):
    name, settings = CASES[case]
    sizes, shuffle = LAYOUTS[layout]
    x, y = random_batch(sizes, 6, seed=n_synthetic, shuffle=shuffle, norm_range=(0.6, 1.4))
    a, b = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    ours = LOSSES[name](a, y, n_synthetic=n_synthetic, normalize_synthetic=normalize_synthetic, **settings)
    theirs = pml_loss(name, n_synthetic=n_synthetic, normalize_synthetic=normalize_synthetic, **settings)(b, y)
    ours.backward()
    theirs.backward()
    torch.testing.assert_close(theirs, ours, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(b.grad, a.grad, rtol=1e-10, atol=1e-12)
    if "semihard" not in case:  # EE moved the negatives: the loss without it differs (the wrapper did expand)
        assert not torch.allclose(pml_loss(name, **settings)(x, y), theirs)


def test_pml_defaults_cosine_similarity_expand_the_normalised_batch():
    """PML's MS with its default cosine similarity: EE on the L2-normalised embeddings."""
    x, y = random_batch([4, 4, 4], 5, seed=0, norm_range=(0.5, 2.0))
    loss_fn = ExpandedLoss(losses.MultiSimilarityLoss(), miner=miners.MultiSimilarityMiner(), n_synthetic=2)
    expected = LOSSES["multi_similarity"](F.normalize(x, dim=1), y, n_synthetic=2, alpha=2.0, beta=50.0, base=0.5)
    torch.testing.assert_close(loss_fn(x, y), expected)


def test_the_wrapper_leaves_the_pml_objects_as_they_were():
    x, y = random_batch([3, 3, 3], 4, seed=2)
    loss, miner = losses.TripletMarginLoss(), miners.BatchHardMiner()
    own = loss.distance, miner.distance
    plain = loss(x, y, miner(x, y))
    ExpandedLoss(loss, miner=miner, n_synthetic=2)(x, y)
    assert (loss.distance, miner.distance) == own
    torch.testing.assert_close(loss(x, y, miner(x, y)), plain)
    with pytest.raises(TypeError, match="measures part of the batch"):
        ExpandedLoss(losses.NPairsLoss(), n_synthetic=2)(x[:6], torch.tensor([0, 0, 1, 1, 2, 2]))
    assert isinstance(losses.NPairsLoss().distance, distances.DotProductSimilarity)


def test_unsupported_settings_are_refused():
    x, y = random_batch([3, 3], 4, seed=2)
    with pytest.raises(TypeError, match="supports a Euclidean LpDistance"):
        ExpandedLoss(losses.ContrastiveLoss(distance=distances.SNRDistance()), n_synthetic=1)(x, y)
    with pytest.raises(TypeError, match="loss must be a pytorch-metric-learning loss"):
        ExpandedLoss(lambda e, labels: e.sum())
    with pytest.raises(ValueError, match="n_synthetic must be >= 0"):
        ExpandedLoss(losses.ContrastiveLoss(), n_synthetic=-1)
    with pytest.raises(ValueError, match="labels"):
        ExpandedLoss(losses.ContrastiveLoss(), n_synthetic=1)(x[:5], torch.tensor([0, 0, 1, 1, 2]))
