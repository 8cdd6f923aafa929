"""The training loop: reproducible, learning, recording what the notebooks plot."""

from __future__ import annotations

import pytest
import torch

from eelib.data import make_latent_classes, split_dataset
from eelib.losses import MultiSimilarityLoss, TripletLoss, make_loss, triplet_loss
from eelib.diagnostics import hardest_negative_pairs
from eelib.experiments.models import MLPEmbedder
from eelib.experiments.train import embed, fit

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def data():
    x, y = make_latent_classes(n_classes=16, per_class=20, seed=0)
    return split_dataset(x, y)


def _train(data, **kwargs):
    torch.manual_seed(0)
    model = MLPEmbedder(64, 16, hidden=(32,))
    options = dict(epochs=3, classes_per_batch=4, eval_set=(data.x_test, data.y_test), progress=False)
    options.update(kwargs)
    return fit(model, data.x_train, data.y_train, **options)


def test_rerun_is_bit_identical(data) -> None:
    first = _train(data, loss=TripletLoss(mining="hardest", n_synthetic=2))
    second = _train(data, loss=TripletLoss(mining="hardest", n_synthetic=2))
    assert first.loss == second.loss
    assert first.recall_at_1 == second.recall_at_1
    for a, b in zip(first.model.parameters(), second.model.parameters()):
        assert torch.equal(a, b)


def test_training_lowers_the_loss_and_helps_unseen_classes(data) -> None:
    history = _train(data, epochs=8, loss=MultiSimilarityLoss())
    assert history.loss[-1] < history.loss[0]
    assert history.recall_at_1[-1] > history.recall_at_1[0]


@pytest.mark.parametrize("loss", ["contrastive", "triplet", "npair", "lifted", "multi_similarity"])
def test_every_loss_trains_with_and_without_ee(data, loss) -> None:
    for n in (0, 2):
        history = _train(data, loss=make_loss(loss, n_synthetic=n), epochs=2)
        assert len(history.loss) == len(history.recall_at_1) == len(history.seconds) == 2
        assert all(torch.isfinite(torch.tensor(history.loss)))
        share = history.hardest_negative_synthetic_share
        assert all(0.0 <= s <= 1.0 for s in share)
        assert (max(share) == 0.0) == (n == 0)


def test_npair_needs_pairs(data) -> None:
    with pytest.raises(ValueError, match="samples_per_class"):
        _train(data, loss=make_loss("npair"), samples_per_class=4)


def test_a_loss_is_an_object_not_a_name(data) -> None:
    with pytest.raises(TypeError, match=r"loss must be a configured loss such as .*make_loss\('triplet', \.\.\.\)"):
        _train(data, loss="triplet")
    with pytest.raises(ValueError, match="loss must be one of"):
        make_loss("arcface")
    with pytest.raises(TypeError, match="margin"):
        make_loss("npair", margin=0.2)


def test_the_loss_module_is_the_configuration_the_loop_uses(data) -> None:
    """Training with a module equals training with the function and the same settings."""
    module = _train(data, loss=TripletLoss(margin=0.1, mining="hardest", n_synthetic=2), epochs=2)
    function = _train(data, loss=lambda e, y: triplet_loss(e, y, margin=0.1, mining="hardest", n_synthetic=2), epochs=2)
    assert module.loss == function.loss
    assert max(module.hardest_negative_synthetic_share) > 0 == max(function.hardest_negative_synthetic_share)


def test_on_epoch_end_sees_each_epoch(data) -> None:
    seen = []
    _train(data, epochs=3, on_epoch_end=lambda epoch, history: seen.append((epoch, len(history.loss))))
    assert seen == [(0, 1), (1, 2), (2, 3)]


def test_embed_matches_the_model_in_eval_mode(data) -> None:
    torch.manual_seed(0)
    model = MLPEmbedder(64, 8)
    with torch.no_grad():
        assert torch.allclose(embed(model, data.x_test, batch_size=7), model.eval()(data.x_test), atol=1e-6)


@pytest.mark.parametrize("n", [0, 1, 2, 3])
def test_hardest_negative_pair_is_the_one_batch_hard_triplet_uses(n) -> None:
    torch.manual_seed(n)
    x = torch.nn.functional.normalize(torch.randn(24, 5, dtype=torch.float64), dim=1)
    y = torch.arange(6).repeat_interleave(4)
    hardest = hardest_negative_pairs(x, y, n)
    # A margin large enough that no hinge clips: loss = mean(m + d_pos - d_neg).
    d_pos = torch.cdist(x, x).masked_fill(y[:, None] != y[None, :], 0).amax(1)
    expected = (10.0 + d_pos - hardest.distance).mean()
    got = triplet_loss(x, y, margin=10.0, mining="hardest", n_synthetic=n)
    assert torch.allclose(got, expected, atol=1e-9)
    assert bool(hardest.involves_synthetic.any()) == (n > 0)


def test_a_non_finite_loss_stops_training_before_the_step_naming_where(data) -> None:
    calls = []

    def loss_that_diverges(embeddings, labels):
        calls.append(len(calls))
        value = triplet_loss(embeddings, labels)
        return value * float("inf") if len(calls) == 5 else value

    torch.manual_seed(0)
    model = MLPEmbedder(64, 16, hidden=(32,))
    with pytest.raises(ValueError, match=r"the loss is inf at epoch 2, step 1; the model was not updated"):
        fit(model, data.x_train, data.y_train, loss=loss_that_diverges, epochs=3, steps_per_epoch=4,
            classes_per_batch=4, progress=False)
    assert all(bool(torch.isfinite(p).all()) for p in model.parameters())
