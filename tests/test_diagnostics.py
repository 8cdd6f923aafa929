"""Tests of eelib.diagnostics: gradient usage of a batch and the share of violating triplets."""

from __future__ import annotations

import itertools

import pytest
import torch

from eelib.losses import triplet_loss
from eelib.diagnostics import gradient_usage, violating_triplet_share
from eelib.data import random_batch

pytestmark = pytest.mark.unit


def _batch(seed: int, classes: int = 4, per_class: int = 4, dim: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    return random_batch([per_class] * classes, dim, seed=seed)


def _separated_batch() -> tuple[torch.Tensor, torch.Tensor]:
    """Two tight classes far apart: every triplet satisfies a margin of 0.2."""
    x = torch.tensor([[1.0, 0.0], [0.99, 0.01], [-1.0, 0.0], [-0.99, -0.01]], dtype=torch.float64)
    return x, torch.tensor([0, 0, 1, 1])


def test_gradient_on_k_of_b_samples_equally_gives_share_k_over_b() -> None:
    x, y = _batch(0)
    usage = gradient_usage(lambda e, labels: e[:5].sum(), x, y)
    assert usage.active_share == pytest.approx(5 / 16)
    assert usage.effective_share == pytest.approx(5 / 16)
    torch.testing.assert_close(usage.sample_gradient[:5], torch.full((5,), 6**0.5, dtype=torch.float64))
    assert not usage.sample_gradient[5:].any()


def test_effective_share_is_the_participation_ratio() -> None:
    x, y = _batch(1)
    weights = torch.arange(1, 17, dtype=torch.float64)
    usage = gradient_usage(lambda e, labels: (weights[:, None] * e).sum(), x, y)
    norms = weights * 6**0.5
    assert usage.active_share == 1.0
    assert usage.effective_share == pytest.approx(float(norms.sum() ** 2 / (16 * norms.pow(2).sum())))
    assert usage.effective_share < 1.0


def test_a_loss_without_gradient_uses_no_sample() -> None:
    x, y = _separated_batch()
    for mining in ("all", "semihard", "hardest"):
        usage = gradient_usage("triplet", x, y, mining=mining, margin=0.2)
        assert (usage.active_share, usage.effective_share) == (0.0, 0.0)
        assert not usage.sample_gradient.any()
        assert usage.negative_pair_share == 0.0 and not usage.negative_pairs.any()


@pytest.mark.parametrize("seed", range(5))
def test_hardest_mining_reaches_no_more_samples_than_all(seed: int) -> None:
    x, y = _batch(seed)
    everything = gradient_usage("triplet", x, y, mining="all", margin=0.2)
    hardest = gradient_usage(triplet_loss, x, y, mining="hardest", margin=0.2)
    assert 0.0 < hardest.active_share <= everything.active_share <= 1.0
    assert 0.0 < hardest.effective_share <= 1.0


def _pushed_pairs_loops(x: torch.Tensor, y: torch.Tensor, margin: float) -> set[frozenset[int]]:
    """Negative pairs {a, n} of some violating triplet (a, p, n): those "all" mining pushes."""
    return {
        frozenset((a, n))
        for a, p, n in itertools.permutations(range(len(y)), 3)
        if y[a] == y[p] and y[a] != y[n] and float(torch.dist(x[a], x[p]) - torch.dist(x[a], x[n]) + margin) > 0
    }


@pytest.mark.parametrize("seed", range(3))
def test_negative_pairs_of_all_mining_are_those_of_violating_triplets(seed: int) -> None:
    x, y = _batch(seed, classes=3, per_class=3, dim=3)
    usage = gradient_usage("triplet", x, y, mining="all", margin=0.2)
    pushed = _pushed_pairs_loops(x, y, 0.2)
    assert usage.negative_pair_share == pytest.approx(len(pushed) / 27)  # 3 classes of 3: 27 negative pairs
    expected = torch.tensor([sum(i in pair for pair in pushed) for i in range(len(y))])
    torch.testing.assert_close(usage.negative_pairs, expected)


@pytest.mark.parametrize("seed", range(3))
def test_hardest_mining_pushes_at_most_one_negative_pair_per_anchor(seed: int) -> None:
    x, y = _batch(seed, classes=8, per_class=4, dim=8)
    usage = gradient_usage("triplet", x, y, mining="hardest", margin=0.2)
    n_negative_pairs = 32 * 28 // 2
    assert 0 < usage.negative_pair_share <= 32 / n_negative_pairs
    assert int(usage.negative_pairs.sum()) <= 2 * 32  # each unordered pair counted at both ends
    assert usage.negative_pair_share < gradient_usage("triplet", x, y, mining="all").negative_pair_share


def test_gradient_usage_leaves_the_input_alone() -> None:
    x, y = _batch(2)
    before = x.clone()
    gradient_usage("multi_similarity", x, y)
    assert not x.requires_grad and x.grad is None
    torch.testing.assert_close(x, before)


def _violating_share_loops(x: torch.Tensor, y: torch.Tensor, margin: float) -> float:
    violating = valid = 0
    for a, p, n in itertools.permutations(range(len(y)), 3):
        if y[a] == y[p] and y[a] != y[n]:
            valid += 1
            violating += float(torch.dist(x[a], x[p]) - torch.dist(x[a], x[n]) + margin) > 0
    return violating / valid


@pytest.mark.parametrize(("seed", "margin"), [(0, 0.0), (1, 0.2), (2, 0.5), (3, 1.0)])
def test_violating_share_matches_loops(seed: int, margin: float) -> None:
    x, y = _batch(seed, classes=3, per_class=3, dim=4)
    assert violating_triplet_share(x, y, margin) == pytest.approx(_violating_share_loops(x, y, margin))


def test_violating_share_extremes() -> None:
    x, y = _separated_batch()
    assert violating_triplet_share(x, y, 0.2) == 0.0
    assert violating_triplet_share(x, y, 3.0) == 1.0
    assert violating_triplet_share(x, torch.arange(4), 0.2) == 0.0  # no positive pair


def test_bad_arguments_are_named() -> None:
    x, y = _batch(0)
    with pytest.raises(ValueError, match="loss must be one of"):
        gradient_usage("quadruplet", x, y)
    with pytest.raises(TypeError, match="loss must be"):
        gradient_usage(3, x, y)
    with pytest.raises(ValueError, match="margin"):
        violating_triplet_share(x, y, -0.1)
    with pytest.raises(ValueError, match="labels"):
        violating_triplet_share(x, y[:-1])
