"""A 2-D loss playground: which pairs a loss pulls and pushes, with autograd's arrows.

Every eelib loss depends on a batch only through its inner products ``G = X Xᵀ`` (the
distances follow from them). So the gradient with respect to ``G`` tells, for every pair
``(i, j)``, whether the loss wants the two points closer (``∂L/∂G_ij < 0``: a *pull*) or
farther apart (``∂L/∂G_ij > 0``: a *push*), and how strongly: the *pair weights* of the
general pair weighting view of Wang et al. (CVPR 2019, Eq. 3). We read ``∂L/∂G`` off
autograd without touching the loss's code: append ``ε·I`` to the embeddings, so that
``G`` becomes ``X Xᵀ + ε² I``, and the gradient of the appended block is ``ε (∂L/∂G + ∂L/∂Gᵀ)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch
from IPython.display import display
from torch import Tensor

from eelib.losses import LOSSES
from eelib.style import class_color
from eelib.viz import plot_points_2d, png_bundle

#: Size of the probe block appended to the embeddings; it shifts squared norms by ε² = 1e-12.
PROBE_EPS = 1e-6
PULL_COLOR = "#0072B2"
PUSH_COLOR = "#D55E00"


def toy_points(n_classes: int = 3, per_class: int = 3, *, on_circle: bool = True, seed: int = 0) -> tuple[Tensor, Tensor]:
    """A small deterministic 2-D batch: classes as loose clusters, in class blocks.

    Parameters
    ----------
    n_classes, per_class : int
    on_circle : bool, default True
        Put the points on the unit circle (as an L2-normalising model would).
    seed : int, default 0

    Returns
    -------
    points : Tensor, shape (n_classes * per_class, 2), float64
    labels : Tensor, shape (n_classes * per_class,), int64
    """
    generator = torch.Generator().manual_seed(seed)
    centres = torch.arange(n_classes, dtype=torch.float64) * (2 * math.pi / n_classes)
    angles = centres.repeat_interleave(per_class) + 2.2 * (torch.rand(n_classes * per_class, generator=generator, dtype=torch.float64) - 0.5)
    radius = torch.ones_like(angles) if on_circle else 0.6 + 0.8 * torch.rand(len(angles), generator=generator, dtype=torch.float64)
    points = torch.stack([radius * torch.cos(angles), radius * torch.sin(angles)], dim=1)
    return points, torch.arange(n_classes).repeat_interleave(per_class)


class Geometry(NamedTuple):
    """The state of a loss on a batch.

    Attributes
    ----------
    loss : float
    gradient : Tensor, shape (B, 2)
        ``∂L/∂x_i``; gradient descent moves each point along ``−gradient``.
    pair_weights : Tensor, shape (B, B)
        ``∂L/∂(x_i · x_j)``, the inner product of a pair taken as one variable
        (``∂L/∂G_ij + ∂L/∂G_ji``): negative for pairs the loss pulls together, positive for
        pairs it pushes apart, zero for inactive pairs (diagonal set to zero). The
        gradient on a point is ``∂L/∂x_i = Σ_j w_ij x_j`` plus its own norm's term.
    """

    loss: float
    gradient: Tensor
    pair_weights: Tensor


def resolve(loss: str | Callable[..., Tensor]) -> Callable[..., Tensor]:
    """An eelib loss by name, or the callable itself."""
    if callable(loss):
        return loss
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {sorted(LOSSES)} or a callable, got {loss!r}")
    return LOSSES[loss]


def loss_geometry(loss: str | Callable[..., Tensor], points: Tensor, labels: Tensor, **hyperparameters: Any) -> Geometry:
    """Evaluate a loss on a batch and read off its gradients and pair weights.

    Parameters
    ----------
    loss : str or callable
        A name in :data:`eelib.losses.LOSSES` or a loss with the eelib signature.
    points : Tensor, shape (B, D)
    labels : Tensor, shape (B,)
    **hyperparameters
        Passed to the loss (``margin``, ``mining``, ``n_synthetic``, ...).

    Returns
    -------
    Geometry
    """
    fn = resolve(loss)
    x = points.detach().to(torch.float64).requires_grad_(True)
    value = fn(x, labels, **hyperparameters)
    (gradient,) = torch.autograd.grad(value, x)
    probe = (PROBE_EPS * torch.eye(len(labels), dtype=torch.float64)).requires_grad_(True)
    (probe_grad,) = torch.autograd.grad(fn(torch.cat([x.detach(), probe], dim=1), labels, **hyperparameters), probe)
    weights = (probe_grad + probe_grad.T) / (2 * PROBE_EPS)
    weights.fill_diagonal_(0.0)
    return Geometry(float(value.detach()), gradient, weights)


def plot_geometry(ax: plt.Axes, points: Tensor, labels: Tensor, geometry: Geometry, *, title: str = "") -> None:
    """Draw the batch, its active pulled and pushed pairs, and −∇ arrows."""
    pts = points.detach().numpy()
    weights = geometry.pair_weights
    scale = float(weights.abs().max())
    plot_points_2d(ax, pts, labels, unit_circle=True)
    if scale > 0:
        rows, cols = torch.nonzero(torch.triu(weights.abs() > 1e-9 * scale, 1), as_tuple=True)
        for i, j in zip(rows.tolist(), cols.tolist()):
            w = float(weights[i, j])
            ax.plot(*pts[[i, j]].T, color=PULL_COLOR if w < 0 else PUSH_COLOR,
                    linestyle="-" if w < 0 else "--", linewidth=0.6 + 3.0 * abs(w) / scale, alpha=0.8, zorder=1)
    arrows = -geometry.gradient.numpy()
    length = max(float(abs(arrows).max()), 1e-12)
    ax.quiver(pts[:, 0], pts[:, 1], arrows[:, 0] / length, arrows[:, 1] / length, angles="xy",
              scale_units="xy", scale=2.5, color=[class_color(int(c)) for c in labels], width=0.012, zorder=4)
    ax.plot([], [], color=PULL_COLOR, label="pulled pair")
    ax.plot([], [], color=PUSH_COLOR, linestyle="--", label="pushed pair")
    ax.legend(loc="lower left", fontsize=7, framealpha=0.9)
    ax.set_xlim(-1.6, 1.6)
    ax.set_ylim(-1.6, 1.6)
    ax.set_title(title or f"loss = {geometry.loss:.4f}  (arrows: −∇, longest scaled to 0.4)")


class Playground:
    """A loss playground widget; :meth:`update` is its callback, callable without a browser.

    Parameters
    ----------
    loss : str or callable
    controls : mapping of str to ipywidgets
        One widget per hyperparameter, keyed by the loss's keyword.
    css_prefix : str
        Controls get the CSS class ``f"{css_prefix}-{name}"``, the figure's Output
        ``f"{css_prefix}-output"`` and the loss label ``f"{css_prefix}-loss-value"``.
    points, labels : Tensor, optional
        The batch, both or neither (default :func:`toy_points`); :meth:`set_batch`
        replaces it later.
    fixed : mapping, optional
        Hyperparameters passed to the loss but not shown as controls.
    """

    def __init__(self, loss: str | Callable[..., Tensor], controls: Mapping[str, widgets.ValueWidget], *,
                 css_prefix: str, points: Tensor | None = None, labels: Tensor | None = None,
                 fixed: Mapping[str, Any] | None = None) -> None:
        self.loss = resolve(loss)
        self.controls = dict(controls)
        self.fixed = dict(fixed or {})
        if (points is None) != (labels is None):
            raise ValueError("points and labels must be given together (or neither, for toy_points())")
        if points is None:
            points, labels = toy_points()
        self.points, self.labels = points, labels
        self.label = widgets.Label()
        self.output = widgets.Output()
        for name, control in self.controls.items():
            control.add_class(f"{css_prefix}-{name}")
            control.observe(lambda change: self.redraw(), names="value")
        self.label.add_class(f"{css_prefix}-loss-value")
        self.output.add_class(f"{css_prefix}-output")
        self.widget = widgets.VBox([widgets.HBox(list(self.controls.values())), self.label, self.output])
        self.redraw()

    def update(self, **values: Any) -> tuple[Geometry, plt.Figure]:
        """Compute the geometry for the given hyperparameters and draw it (no widgets involved)."""
        geometry = loss_geometry(self.loss, self.points, self.labels, **self.fixed, **values)
        fig, ax = plt.subplots(figsize=(5.2, 4.6))
        plot_geometry(ax, self.points, self.labels, geometry)
        fig.subplots_adjust(left=0.12, right=0.97, top=0.93, bottom=0.11)  # fixed: no layout pass per redraw
        return geometry, fig

    def set_batch(self, points: Tensor, labels: Tensor) -> None:
        """Replace the batch and redraw, e.g. when a control outside the loss changes its size."""
        if len(points) != len(labels):
            raise ValueError(f"points and labels must have the same length, got {len(points)} and {len(labels)}")
        self.points, self.labels = points, labels
        self.redraw()

    def redraw(self) -> None:
        """Re-render the figure and the loss label from the current control values."""
        geometry, fig = self.update(**{name: c.value for name, c in self.controls.items()})
        self.label.value = f"loss = {geometry.loss:.4f}"
        data, metadata = png_bundle(fig)
        plt.close(fig)
        with self.output:
            self.output.clear_output(wait=True)
            display(data, metadata=metadata, raw=True)

    def _ipython_display_(self) -> None:
        display(self.widget)


def loss_playground(loss: str | Callable[..., Tensor], controls: Mapping[str, widgets.ValueWidget], *,
                    css_prefix: str, **kwargs: Any) -> Playground:
    """Build a :class:`Playground` (see there for the arguments)."""
    return Playground(loss, controls, css_prefix=css_prefix, **kwargs)


__all__ = ["Geometry", "Playground", "loss_geometry", "loss_playground", "plot_geometry", "toy_points"]
