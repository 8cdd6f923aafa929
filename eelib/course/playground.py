"""A 2-D loss playground: which pairs a loss pulls and pushes, with autograd's arrows.

The numbers come from :func:`eelib.diagnostics.loss_geometry` (the loss, its gradient on
every point, and the pair weights ``∂L/∂(x_i · x_j)``: negative for a pulled pair, positive
for a pushed one); this module draws them and wires them to sliders.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from eelib._extras import require

require("notebooks", "ipywidgets", "IPython", by=__name__)

import ipywidgets as widgets
import matplotlib.pyplot as plt
from IPython.display import display
from torch import Tensor

from eelib.diagnostics import Geometry, loss_geometry
from eelib.course.display import png_bundle
from eelib.course.figures import draw_gradient_arrows, draw_pair_weights, plot_points_2d
from eelib.course.static_frames import Control, Frame, FrameSet, control_from_widget, png_bytes, register
from eelib.data import toy_batch
from eelib.losses import get_loss


def plot_geometry(ax: plt.Axes, points: Tensor, labels: Tensor, geometry: Geometry, *, title: str = "") -> None:
    """Draw the batch, its active pulled and pushed pairs, and −∇ arrows."""
    plot_points_2d(ax, points.detach().numpy(), labels, unit_circle=True)
    draw_pair_weights(ax, points.detach(), geometry.pair_weights)
    draw_gradient_arrows(ax, points.detach(), labels, geometry.gradient)
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
        The batch, both or neither (default :func:`eelib.data.toy_batch`); :meth:`set_batch`
        replaces it later.
    fixed : mapping, optional
        Hyperparameters passed to the loss but not shown as controls.
    """

    def __init__(self, loss: str | Callable[..., Tensor], controls: Mapping[str, widgets.ValueWidget], *,
                 css_prefix: str, points: Tensor | None = None, labels: Tensor | None = None,
                 fixed: Mapping[str, Any] | None = None) -> None:
        self.loss = get_loss(loss)
        self.controls = dict(controls)
        self.fixed = dict(fixed or {})
        if (points is None) != (labels is None):
            raise ValueError("points and labels must be given together (or neither, for toy_batch())")
        if points is None:
            points, labels = toy_batch()
        self.points, self.labels = points, labels
        self.label = widgets.Label()
        self.output = widgets.Output()
        for name, control in self.controls.items():
            control.add_class(f"{css_prefix}-{name}")
            control.observe(lambda change: self.redraw(), names="value")
        self.label.add_class(f"{css_prefix}-loss-value")
        self.output.add_class(f"{css_prefix}-output")
        self.widget = widgets.VBox([widgets.HBox(list(self.controls.values())), self.label, self.output])
        self.css_prefix = css_prefix
        self.initial = ({name: c.value for name, c in self.controls.items()}, points, labels)
        register(self.frames)
        self.redraw()

    def update(self, **values: Any) -> tuple[Geometry, plt.Figure]:
        """Compute the geometry for the given hyperparameters and draw it (no widgets involved)."""
        return self._draw(self.points, self.labels, values)

    def _draw(self, points: Tensor, labels: Tensor, values: Mapping[str, Any]) -> tuple[Geometry, plt.Figure]:
        geometry = loss_geometry(self.loss, points, labels, **self.fixed, **values)
        fig, ax = plt.subplots(figsize=(5.2, 4.6))
        plot_geometry(ax, points, labels, geometry)
        fig.subplots_adjust(left=0.12, right=0.97, top=0.93, bottom=0.11)  # fixed: no layout pass per redraw
        return geometry, fig

    def set_batch(self, points: Tensor, labels: Tensor) -> None:
        """Replace the batch and redraw, e.g. when a control outside the loss changes its size."""
        if len(points) != len(labels):
            raise ValueError(f"points and labels must have the same length, got {len(points)} and {len(labels)}")
        self.points, self.labels = points, labels
        self.redraw()

    def render(self, points: Tensor, labels: Tensor, values: Mapping[str, Any]) -> tuple[str, tuple[dict, dict]]:
        """The loss label and the figure's PNG bundle for these hyperparameters and this batch."""
        geometry, fig = self._draw(points, labels, values)
        bundle = png_bundle(fig)
        plt.close(fig)
        return f"loss = {geometry.loss:.4f}", bundle

    def frames(self, control: str | None = None) -> FrameSet:
        """Every frame of one control (default: the first) for the course site, at the widget's first state.

        The other controls keep the values the widget was built with, and the batch is the
        one it was built with; each frame is what :meth:`redraw` shows at that setting.
        """
        name = next(iter(self.controls)) if control is None else control
        if name not in self.controls:
            raise ValueError(f"control must be one of {list(self.controls)}, got {name!r}")
        values, points, labels = self.initial
        offered = control_from_widget(name, self.controls[name])
        first = round(values[name], 10) if isinstance(values[name], float) else values[name]
        offered = Control(offered.name, offered.label, offered.kind, offered.values, first)
        frames = {}
        for value in offered.values:
            readout, bundle = self.render(points, labels, {**values, name: value})
            frames[(value,)] = Frame(readout, (png_bytes(bundle),))
        others = [c.description or key for key, c in self.controls.items() if key != name]
        verb = "stays at its first value" if len(others) == 1 else "stay at their first values"
        note = (f"Here only {offered.label} moves; {', '.join(others)} {verb} "
                "(open the notebook to move them)." if others else "")
        return FrameSet(self.css_prefix, (offered,), frames, note)

    def redraw(self) -> None:
        """Re-render the figure and the loss label from the current control values."""
        self.label.value, (data, metadata) = self.render(
            self.points, self.labels, {name: c.value for name, c in self.controls.items()})
        with self.output:
            self.output.clear_output(wait=True)
            display(data, metadata=metadata, raw=True)

    def _ipython_display_(self) -> None:
        display(self.widget)


def loss_playground(loss: str | Callable[..., Tensor], controls: Mapping[str, widgets.ValueWidget], *,
                    css_prefix: str, **kwargs: Any) -> Playground:
    """Build a :class:`Playground` (see there for the arguments)."""
    return Playground(loss, controls, css_prefix=css_prefix, **kwargs)


__all__ = ["Playground", "loss_playground", "plot_geometry"]
