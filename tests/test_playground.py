"""The 2-D loss playground reads gradients and pair weights correctly."""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib
import pytest
import torch

from eelib.losses import LOSSES
from eelib.diagnostics import loss_geometry
from eelib.course.playground import loss_playground
from eelib.data import toy_batch
from eelib.course.figures import figure_image_bytes

pytestmark = [pytest.mark.unit, pytest.mark.usefixtures("one_torch_thread")]

matplotlib.use("Agg")


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_gradient_is_autograd_and_weights_rebuild_it(name) -> None:
    points, labels = toy_batch(n_classes=4, per_class=2) if name == "npair" else toy_batch()
    geometry = loss_geometry(name, points, labels)
    x = points.clone().requires_grad_()
    LOSSES[name](x, labels).backward()
    assert torch.allclose(geometry.gradient, x.grad)
    # dL/dx_i = sum_j w_ij x_j + (own-norm term along x_i): the off-diagonal part must
    # account for the whole gradient component orthogonal to x_i.
    rebuilt = geometry.pair_weights @ points
    own = points / points.norm(dim=1, keepdim=True)
    residual = (geometry.gradient - rebuilt)
    orthogonal = residual - (residual * own).sum(1, keepdim=True) * own
    assert orthogonal.abs().max() < 1e-6


def test_contrastive_activity_by_hand() -> None:
    points = torch.tensor([[0.0, 0.0], [0.1, 0.0], [2.0, 0.0], [0.5, 0.0]], dtype=torch.float64)
    labels = torch.tensor([0, 0, 1, 2])
    weights = loss_geometry("contrastive", points, labels, margin=1.0).pair_weights
    assert weights[0, 1] < 0  # positive pair: pulled
    assert weights[0, 2] == 0  # negative at distance 2 > margin: inactive
    assert weights[0, 3] > 0  # negative at distance 0.5 < margin: pushed
    assert torch.equal(weights, weights.T)


def test_update_is_deterministic_and_reacts_to_the_margin() -> None:
    slider = widgets.FloatSlider(value=0.2, min=0, max=1)
    mining = widgets.Dropdown(options=["all", "semihard", "hardest"], value="all")
    playground = loss_playground("triplet", {"margin": slider, "mining": mining}, css_prefix="triplet")
    first, fig_a = playground.update(margin=0.2, mining="all")
    again, fig_b = playground.update(margin=0.2, mining="all")
    other, fig_c = playground.update(margin=0.8, mining="all")
    assert first.loss == again.loss and figure_image_bytes(fig_a) == figure_image_bytes(fig_b)
    assert other.loss > first.loss and figure_image_bytes(fig_a) != figure_image_bytes(fig_c)
    assert playground.label.value == f"loss = {first.loss:.4f}"


def test_css_classes_for_the_browser_tests() -> None:
    slider = widgets.FloatSlider(value=2.0, min=1, max=4)
    playground = loss_playground("multi_similarity", {"alpha": slider}, css_prefix="ms")
    assert "ms-alpha" in slider._dom_classes
    assert "ms-output" in playground.output._dom_classes
    assert "ms-loss-value" in playground.label._dom_classes


def test_unknown_loss_is_named() -> None:
    with pytest.raises(ValueError, match="loss must be one of"):
        loss_geometry("arcface", *toy_batch())


def test_set_batch_redraws_with_the_new_batch() -> None:
    slider = widgets.FloatSlider(value=0.0, min=0, max=0.5)
    four_points, four_labels = toy_batch(n_classes=4, per_class=2)
    playground = loss_playground("npair", {"l2_reg": slider}, css_prefix="npair", points=four_points, labels=four_labels)
    four = playground.label.value
    points, labels = toy_batch(n_classes=6, per_class=2)
    playground.set_batch(points, labels)
    expected = loss_geometry("npair", points, labels, l2_reg=0.0).loss
    assert playground.label.value == f"loss = {expected:.4f}" != four
    with pytest.raises(ValueError, match="same length"):
        playground.set_batch(points, labels[:-1])


def test_points_without_labels_is_refused() -> None:
    with pytest.raises(ValueError, match="points and labels must be given together"):
        loss_playground("contrastive", {}, css_prefix="c", points=toy_batch()[0])
