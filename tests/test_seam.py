"""The seam between EE and the losses is explicit: the pair matrices say whether negatives
were mined, and each loss declares the batch layout it needs."""

from __future__ import annotations

import functools

import pytest
import torch

from eelib.data import random_batch
from eelib.experiments.train import fit
from eelib.losses import LOSSES, BatchRequirement, batch_requirement, get_loss, npair_loss, triplet_loss
from eelib.pairs import pair_matrices

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("measure", ["squared_distance", "inner_product"])
def test_pair_matrices_say_whether_negatives_were_mined(measure) -> None:
    x, y = random_batch([4] * 3, 5, seed=1)
    plain = pair_matrices(x, y, n_synthetic=0, normalize_synthetic=True, measure=measure)
    mined = pair_matrices(x, y, n_synthetic=2, normalize_synthetic=True, measure=measure)
    assert not plain.mined and mined.mined
    assert torch.equal(plain.negative, plain.positive)
    # mining moves negatives only, towards harder: smaller distances, larger inner products
    harder = mined.negative <= plain.negative + 1e-12 if measure == "squared_distance" \
        else mined.negative >= plain.negative - 1e-12
    assert bool(harder[mined.different_label].all())
    assert bool((mined.negative != plain.negative)[mined.different_label].any())
    torch.testing.assert_close(mined.positive, plain.positive)


def test_a_mined_matrix_equal_to_the_plain_one_is_still_reported_as_mined() -> None:
    """Identity cannot tell: two classes far apart, where no synthetic point is closer."""
    x = torch.tensor([[1.0, 0.0], [1.0, 0.0], [-1.0, 0.0], [-1.0, 0.0]], dtype=torch.float64)
    y = torch.tensor([0, 0, 1, 1])
    pm = pair_matrices(x, y, n_synthetic=1, normalize_synthetic=True, measure="squared_distance")
    assert pm.mined
    torch.testing.assert_close(pm.negative[pm.different_label], pm.positive[pm.different_label])


@pytest.mark.parametrize("measure", ["squared_distance", "inner_product"])
@pytest.mark.parametrize("sizes", [[4] * 3, [3, 4, 2, 6], [5, 3, 2]])
def test_matrices_in_layout_order_are_the_batch_order_ones_moved(sizes, measure) -> None:
    """batch_order=False (what the losses ask for) moves rows and columns together, nothing else."""
    x, y = random_batch(sizes, 5, seed=2, shuffle=True, scramble_labels=True)
    settings = {"n_synthetic": 2, "normalize_synthetic": True, "measure": measure}
    batch = pair_matrices(x, y, **settings)
    layout = pair_matrices(x, y, **settings, batch_order=False)
    assert batch.position is None and sorted(layout.position.tolist()) == list(range(x.shape[0]))
    at = layout.position
    for name in ("positive", "negative", "same_label", "different_label"):
        moved = getattr(layout, name)[at][:, at]
        torch.testing.assert_close(moved, getattr(batch, name), rtol=1e-12, atol=1e-12)
    without_ee = pair_matrices(x, y, **{**settings, "n_synthetic": 0}, batch_order=False)
    assert without_ee.position is None  # without EE nothing is reordered


def test_losses_declare_their_batch_layout() -> None:
    assert batch_requirement(npair_loss) == BatchRequirement(samples_per_class=2)
    for name, loss in LOSSES.items():
        if name != "npair":
            assert batch_requirement(loss) == BatchRequirement(), name


def test_the_requirement_is_found_through_partials_and_wrappers() -> None:
    partial = functools.partial(npair_loss, l2_reg=0.002)

    @functools.wraps(npair_loss)
    def wrapped(*args, **kwargs):
        return npair_loss(*args, **kwargs)

    assert batch_requirement(partial).samples_per_class == 2
    assert batch_requirement(functools.partial(partial)).samples_per_class == 2
    assert batch_requirement(wrapped).samples_per_class == 2
    assert batch_requirement(lambda e, y, **kw: triplet_loss(e, y, **kw)) == BatchRequirement()


def test_the_training_loop_asks_the_loss_not_its_identity() -> None:
    x, y = random_batch([6] * 8, 4, seed=0, dtype=torch.float32)
    model = torch.nn.Linear(4, 3)
    partial = functools.partial(npair_loss, l2_reg=0.002)
    history = fit(model, x, y, loss=partial, epochs=1, classes_per_batch=4, progress=False)
    assert len(history.loss) == 1
    with pytest.raises(ValueError, match="samples_per_class must be 2"):
        fit(model, x, y, loss=partial, epochs=1, classes_per_batch=4, samples_per_class=4, progress=False)


def test_get_loss_by_name_or_callable() -> None:
    assert get_loss("triplet") is triplet_loss
    assert get_loss(npair_loss) is npair_loss
    with pytest.raises(ValueError, match="loss must be one of"):
        get_loss("arcface")
    with pytest.raises(TypeError, match="loss must be a loss name or a callable"):
        get_loss(3)
