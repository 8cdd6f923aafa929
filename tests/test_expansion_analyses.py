"""The experiments' measurements against loop implementations and hand-made cases."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

from eelib.data import random_batch
from eelib.expansion import expand
from eelib.experiments.expansion_analyses import (
    candidate_synthetic_share,
    hard_anchor_share,
    mean_negative_distance,
    occlude,
    random_synthetic_share,
    synthetic_as_batch_members,
    synthetic_query_recall,
)
from eelib.experiments.memory import TensorMemoryPeak, peak_bytes
from eelib.losses import TripletLoss, multi_similarity_loss, triplet_loss
from eelib.oracles import pairs_loops, synthetic_points_loops

pytestmark = [pytest.mark.unit, pytest.mark.usefixtures("one_torch_thread")]


def _expanded_set(e, i: int) -> list[int]:
    """E(i) as rows of expand()'s output: original i and the synthetic rows with i as a parent."""
    return [i] + [r for r in range(len(e.labels)) if e.is_synthetic[r] and i in (int(e.parent_a[r]), int(e.parent_b[r]))]


def _loop_candidate_share(labels: torch.Tensor, n: int) -> float:
    """Per anchor: count (a in E(i), b of another class) pairs with a synthetic end, by loops over expand()."""
    x = torch.randn(len(labels), 3, dtype=torch.float64)
    e = expand(x, labels, n_synthetic=n)
    shares = []
    for i in range(len(labels)):
        own = _expanded_set(e, i)
        others = [r for r in range(len(e.labels)) if e.labels[r] != labels[i]]
        pairs = list(itertools.product(own, others))
        shares.append(sum(bool(e.is_synthetic[a] or e.is_synthetic[b]) for a, b in pairs) / len(pairs))
    return sum(shares) / len(shares)


@pytest.mark.parametrize("sizes, n", [([4] * 8, 2), ([2] * 5, 1), ([4, 6, 2], 3), ([3, 5], 2)])
def test_candidate_share_matches_loops(sizes, n) -> None:
    labels = torch.arange(len(sizes)).repeat_interleave(torch.tensor(sizes))
    assert candidate_synthetic_share(labels, n) == pytest.approx(_loop_candidate_share(labels, n))


def test_random_share_matches_loops_over_expanded_points() -> None:
    shares = []
    for b in range(3):
        x, y = random_batch([4] * 5, 8, seed=b)
        e = expand(x, y, n_synthetic=2)
        d = torch.cdist(e.embeddings, e.embeddings)
        involves = []
        for i in range(len(y)):
            own = _expanded_set(e, i)
            a, c = min(((a, c) for a in own for c in range(len(e.labels)) if e.labels[c] != y[i]), key=lambda p: d[p])
            involves.append(bool(e.is_synthetic[a] or e.is_synthetic[c]))
        shares.append(sum(involves) / len(involves))
    assert random_synthetic_share(5, 4, 2, 8, batches=3) == pytest.approx(sum(shares) / 3)


def test_batch_members_loss_is_the_base_loss_on_a_hand_expanded_batch() -> None:
    x, y = random_batch([2, 2, 2], 4, seed=1)
    midpoints = F.normalize(torch.stack([(x[0] + x[1]) / 2, (x[2] + x[3]) / 2, (x[4] + x[5]) / 2]), dim=1)
    by_hand = torch.cat([x, midpoints]), torch.cat([y, torch.tensor([0, 1, 2])])
    loss = synthetic_as_batch_members(TripletLoss(mining="hardest"), 1)
    assert loss(x, y) == pytest.approx(float(triplet_loss(*by_hand, mining="hardest")))
    ms = synthetic_as_batch_members(multi_similarity_loss, 1)
    assert ms(x, y) == pytest.approx(float(multi_similarity_loss(*by_hand)))
    with pytest.raises(ValueError, match="n_synthetic=0"):
        synthetic_as_batch_members(TripletLoss(n_synthetic=2), 1)
    with pytest.raises(ValueError, match="n_synthetic"):
        synthetic_as_batch_members(TripletLoss(), 0)


def test_synthetic_query_recall_matches_loops() -> None:
    generator = torch.Generator().manual_seed(0)
    centres = 3 * torch.randn(4, 5, generator=generator)
    labels = torch.tensor([2, 0, 1, 3, 0, 2, 1, 3, 0, 1, 2, 3, 3, 1])  # shuffled, uneven classes
    x = F.normalize(centres[labels] + 2.5 * torch.randn(len(labels), 5, generator=generator), dim=1)
    original, synthetic = synthetic_query_recall(x, labels, 2)
    # originals: leave-one-out nearest neighbour
    hits = [labels[min((j for j in range(len(x)) if j != i), key=lambda j: float((x[i] - x[j]).norm()))] == labels[i]
            for i in range(len(x))]
    assert original == pytest.approx(sum(map(bool, hits)) / len(x))
    # synthetic: EE's pairs within each class, two normalised points per pair, each against the other originals
    results = []
    for a, b in pairs_loops(labels):
        for s in synthetic_points_loops(x[a], x[b], 2, True):
            nearest = min((j for j in range(len(x)) if j not in (a, b)), key=lambda j: float((s - x[j]).norm()))
            results.append(bool(labels[nearest] == labels[a]))
    assert synthetic == pytest.approx(sum(results) / len(results))


def test_occlusion_blanks_a_square_of_the_asked_area() -> None:
    images = torch.ones(50, 64)
    out = occlude(images, 8, 0.25, torch.Generator().manual_seed(0))
    assert torch.equal((out == 0).sum(1), torch.full((50,), 16))  # round(8 · 0.5)² pixels each
    blank = (out == 0).view(50, 8, 8)
    rows, cols = blank.any(2), blank.any(1)
    assert torch.equal(rows.sum(1), torch.full((50,), 4)) and torch.equal(cols.sum(1), torch.full((50,), 4))
    assert torch.equal(occlude(images, 8, 0.0, torch.Generator()), images) and torch.equal(images, torch.ones(50, 64))
    with pytest.raises(ValueError, match="area"):
        occlude(images, 8, 1.0, torch.Generator())
    with pytest.raises(ValueError, match="columns"):
        occlude(images, 7, 0.1, torch.Generator())


def test_hard_anchor_share_is_zero_for_separated_classes_and_one_for_a_collapse() -> None:
    y = torch.arange(10).repeat_interleave(6)
    separated = F.one_hot(y, 10).float()
    assert hard_anchor_share(lambda index: separated[index], y, classes_per_batch=5) == 0.0
    collapsed = torch.ones(len(y), 3)
    assert hard_anchor_share(lambda index: collapsed[index], y, classes_per_batch=5) == 1.0


def test_mean_negative_distance_averages_off_the_diagonal() -> None:
    assert mean_negative_distance(torch.tensor([[9.0, 1.0, 2.0], [1.0, 9.0, 3.0], [2.0, 3.0, 9.0]])) == 2.0


def test_memory_peak_counts_new_storages_while_alive() -> None:
    x = torch.ones(1000, 250)  # 1 MB before the block: not counted
    with TensorMemoryPeak() as tracker:
        a = x * 2
        view = a[:10]  # a view: no new storage
        del a
        b = x + 1  # a's storage is still held by the view: 2 MB live
        del view, b
        c = x - 1  # 1 MB
    assert tracker.peak_bytes == 2_000_000 and tracker.live_bytes == 1_000_000
    del c


def test_memory_of_a_step_grows_with_ee() -> None:
    x, y = random_batch([4] * 16, 32, seed=0, dtype=torch.float32)
    x.requires_grad_(True)

    def step(n: int) -> int:
        return peak_bytes(lambda: triplet_loss(x, y, mining="hardest", n_synthetic=n).backward())

    plain, ee = step(0), step(2)
    expanded = 64 + 32 * 2  # N = B (1 + n/2)
    assert plain >= 4 * 64 * 64  # at least one B × B float32 matrix
    assert ee - plain >= 4 * (expanded**2 - 64**2)  # at least the extra entries of one N × N matrix
