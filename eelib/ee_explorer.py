"""The Embedding Expansion explorer of notebook 08 (the paper's Fig. 1 and heat map, live).

A fixed 2-D batch of three classes on the unit circle is expanded with k synthetic points
per pair (:func:`eelib.expand`), and hard negative pair mining finds the closest pair of
points of different classes. The widget redraws, for every k and normalisation setting,
(a) the 2-D view with the hardest negative pair in red, and (b) the pairwise-distance heat
map of the expanded batch ordered by class. All computation lives in :func:`explore`, so
tests and the benchmark call it without a browser.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch
from IPython.display import display
from torch import Tensor

from eelib.expansion import Expansion, expand
from eelib.mining import hardest_negative_pairs
from eelib.viz import plot_distance_heatmap, plot_points_2d

#: Largest k offered by the slider.
MAX_K = 10

#: Angles (degrees) of the originals: three classes of four points each, as early in
#: training: class 2's first point (167°) strays into the arc spanned by a pair of class 1
#: (127°–198°), so synthetic points of that segment become the hardest negatives.
TOY_ANGLES = {0: (17.0, -60.0, -10.0, -19.0), 1: (148.0, 105.0, 198.0, 127.0), 2: (167.0, 279.0, 276.0, 268.0)}


def toy_batch(radius_jitter: float = 0.0) -> tuple[Tensor, Tensor]:
    """The explorer's fixed batch: 12 unit vectors in 2-D, three classes in blocks of four.

    Parameters
    ----------
    radius_jitter : float, default 0.0
        Scale the points of odd rows by ``1 + radius_jitter`` (to show the batch off the
        circle); 0 keeps every point on the unit circle, as an L2-normalised model would.
    """
    angles = torch.tensor([a for c in sorted(TOY_ANGLES) for a in TOY_ANGLES[c]], dtype=torch.float64)
    points = torch.stack([torch.cos(angles * math.pi / 180), torch.sin(angles * math.pi / 180)], dim=1)
    points[1::2] *= 1 + radius_jitter
    labels = torch.tensor([c for c in sorted(TOY_ANGLES) for _ in TOY_ANGLES[c]])
    return points, labels


class ExplorerState(NamedTuple):
    """Everything one redraw shows.

    Attributes
    ----------
    k : int
        Synthetic points per pair.
    normalize : bool
    expansion : Expansion
        The expanded batch.
    distances : Tensor, shape (N, N)
        Pairwise Euclidean distances of the expanded batch.
    hardest : tuple of int
        Rows ``(a, b)`` of the closest pair of points with different labels.
    hardest_distance : float
    """

    k: int
    normalize: bool
    expansion: Expansion
    distances: Tensor
    hardest: tuple[int, int]
    hardest_distance: float


def explore(k: int, normalize: bool = True, points: Tensor | None = None, labels: Tensor | None = None) -> ExplorerState:
    """Expand the toy batch (or the given one) and locate its hardest negative pair.

    Parameters
    ----------
    k : int
        Synthetic points per pair (the paper's n).
    normalize : bool, default True
        L2-normalise the synthetic points.
    points, labels : Tensor, optional
        A batch other than :func:`toy_batch`.
    """
    if points is None or labels is None:
        points, labels = toy_batch()
    expansion = expand(points, labels, k, normalize=normalize)
    distances = torch.cdist(expansion.embeddings, expansion.embeddings)
    per_anchor = hardest_negative_pairs(points, labels, k, normalize_synthetic=normalize)
    best = int(per_anchor.distance.argmin())
    pair = (int(per_anchor.row[best]), int(per_anchor.col[best]))
    return ExplorerState(k, normalize, expansion, distances, pair, float(per_anchor.distance[best]))


def readout_text(state: ExplorerState) -> str:
    """The line under the slider, e.g. ``k = 3 · hardest negative distance = 0.4321``."""
    return f"k = {state.k} · hardest negative distance = {state.hardest_distance:.4f}"


def draw_view(state: ExplorerState) -> plt.Figure:
    """The 2-D view, like the paper's Fig. 1: segments, synthetic points, hardest pair."""
    fig, ax = plt.subplots(figsize=(4.6, 4.4))
    e = state.expansion
    pts = e.embeddings.numpy()
    for row in range(len(e.labels)):
        if e.is_synthetic[row] and e.weight[row] == e.weight[e.is_synthetic].min():
            a, b = int(e.parent_a[row]), int(e.parent_b[row])
            ax.plot(*pts[[a, b]].T, linestyle=":", color="0.5", linewidth=1, zorder=1)
    plot_points_2d(ax, pts, e.labels, synthetic=e.is_synthetic,
                   title=f"k = {state.k} synthetic points per pair")
    a, b = state.hardest
    ax.annotate("", xy=pts[b], xytext=pts[a],
                arrowprops={"arrowstyle": "<->", "color": "#D55E00", "linewidth": 2.2})
    ax.plot([], [], color="#D55E00", linewidth=2.2, label=f"hardest negative pair ({state.hardest_distance:.3f})")
    ax.plot([], [], linestyle=":", color="0.5", label="segment of a pair")
    ax.scatter([], [], facecolor="white", edgecolor="0.3", label="synthetic point")
    ax.legend(loc="center", fontsize=7, framealpha=0.9)
    lim = 1.25
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    fig.tight_layout()
    return fig


def draw_heatmap(state: ExplorerState, vmax: float = 2.0) -> plt.Figure:
    """Pairwise distances of the expanded batch ordered by class (positive blocks on the diagonal)."""
    fig, ax = plt.subplots(figsize=(4.8, 4.4))
    n = len(state.expansion.labels)
    plot_distance_heatmap(ax, state.distances, state.expansion.labels, vmax=vmax,
                          title=f"expanded batch: {n} points")
    fig.tight_layout()
    return fig


def build_explorer(initial_k: int = 2) -> widgets.VBox:
    """The notebook-08 widget: a k slider, a normalisation toggle, a readout and two figures.

    CSS classes (used by the browser tests): ``ee-k-slider``, ``ee-normalize``,
    ``ee-readout``, ``ee-view-2d``, ``ee-heatmap``.
    """
    slider = widgets.IntSlider(value=initial_k, min=0, max=MAX_K, step=1, description="k",
                               continuous_update=False)
    toggle = widgets.Checkbox(value=True, description="L2-normalise synthetic points")
    readout = widgets.Label()
    view_out, heat_out = widgets.Output(), widgets.Output()
    for widget, css in ((slider, "ee-k-slider"), (toggle, "ee-normalize"), (readout, "ee-readout"),
                        (view_out, "ee-view-2d"), (heat_out, "ee-heatmap")):
        widget.add_class(css)

    def redraw(change: object = None) -> None:
        state = explore(slider.value, toggle.value)
        readout.value = readout_text(state)
        for out, draw in ((view_out, draw_view), (heat_out, draw_heatmap)):
            fig = draw(state)
            with out:
                out.clear_output(wait=True)
                display(fig)
            plt.close(fig)

    slider.observe(redraw, names="value")
    toggle.observe(redraw, names="value")
    redraw()
    return widgets.VBox([widgets.HBox([slider, toggle]), readout, widgets.HBox([view_out, heat_out])])


__all__ = ["MAX_K", "ExplorerState", "build_explorer", "draw_heatmap", "draw_view", "explore",
           "readout_text", "toy_batch"]
