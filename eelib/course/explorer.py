"""The Embedding Expansion explorer of notebook 08: where EE mines, and how it trains.

A fixed 2-D batch of three classes of four unit vectors is expanded with ``n`` synthetic
points per pair (:func:`eelib.expand`: equal internal division at ``k / (n + 1)``,
``k = 1..n``), and EE + batch-hard triplet (the paper's Triplet†, margin :data:`MARGIN`) is
evaluated on it. For every ``n``, normalisation setting and batch the widget redraws

(a) the 2-D view: originals solid, synthetic points hollow on their dotted segments; the
    pairs of originals the loss pulls (solid blue) and pushes (dashed vermillion) and the
    ``−∇L`` arrows on the originals, read off autograd as in the playgrounds of notebooks
    02–06 (:func:`eelib.diagnostics.loss_geometry`): a push on a synthetic point reaches its
    two parents, so with EE the parents of a hard synthetic point move; every anchor's
    hardest negative pair with a synthetic end is drawn (for anchors whose loss term is
    not zero) as a thin vermillion line with the synthetic end ringed; when the closest
    pair of different classes has a synthetic end, a double arrow joins it;
(b) two distance heat maps ordered by class: the expanded batch (``N × N``), and the
    ``B × B`` matrix the loss actually uses (:func:`eelib.pairs.pair_matrices`:
    positives between originals, each negative pair mined as the closest pair of the
    two expanded sets).

Two batches: ``"compact classes"`` (three arcs of 52°, classes 0 and 1 close, class 2 far)
and ``"label noise"`` (the same, but one point labelled class 1 lies inside class 0: its
segment to its class-1 partner crosses the gap between the classes, the case the label
argument of EE excludes).

All computation lives in :func:`explore` and :func:`update`, so tests and the benchmark
call them without a browser; :class:`Explorer` wires them to the controls and keeps every
rendered state.
"""

from __future__ import annotations

from typing import NamedTuple

from eelib._extras import require

require("notebooks", "ipywidgets", "IPython", by=__name__)

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import display
from torch import Tensor

from eelib.diagnostics import Geometry, HardestNegatives, hardest_negative_pairs, loss_geometry, pushed_pairs
from eelib.course.display import Bundle, png_bundle
from eelib.course.figures import (
    HIGHLIGHT_COLOR,
    draw_gradient_arrows,
    draw_pair_weights,
    draw_segments,
    highlight_pair,
    plot_distance_heatmap,
    plot_points_2d,
)
from eelib.course.static_frames import Control, FrameSet, png_bytes, register
from eelib.course.static_frames import Frame as SiteFrame
from eelib.course.style import class_color
from eelib.data import toy_batch as circle_batch
from eelib.expansion import Expansion, expand, pair_within_classes
from eelib.losses.triplet import batch_hard
from eelib.pairs import pair_matrices

#: Largest n offered by the slider (the paper's range of useful values is about 2–8).
MAX_N = 8

#: Margin of the batch-hard triplet loss the explorer trains with (FaceNet's 0.2).
MARGIN = 0.2

#: Upper end of the heat maps' colour scale, fixed so that maps for different n compare.
HEATMAP_VMAX = 2.0

#: The batches (angles in degrees, one tuple per class, in batch order). Pairs are formed
#: in batch order, so each class's first two points and its last two are the segments:
#: both span their class. Classes 0 and 1 are 28° apart at their edges, class 2 is far.
BATCHES = {
    "compact classes": ((-66.0, -14.0, -52.0, -28.0), (14.0, 66.0, 28.0, 52.0), (144.0, 196.0, 158.0, 182.0)),
    "label noise": ((-66.0, -14.0, -52.0, -28.0), (14.0, 66.0, -36.0, 52.0), (144.0, 196.0, 158.0, 182.0)),
}
DEFAULT_BATCH = "compact classes"


def toy_batch(batch: str = DEFAULT_BATCH) -> tuple[Tensor, Tensor]:
    """One of the explorer's batches: 12 unit vectors in 2-D (float64), three classes in blocks of four.

    Raises
    ------
    ValueError
        If ``batch`` is not a key of :data:`BATCHES`.
    """
    if batch not in BATCHES:
        raise ValueError(f"batch must be one of {sorted(BATCHES)}, got {batch!r}")
    return circle_batch(BATCHES[batch])


class ExplorerState(NamedTuple):
    """Everything one redraw shows.

    Attributes
    ----------
    n : int
        Synthetic points per pair.
    normalize : bool
        Whether the synthetic points are L2-normalised.
    batch : str
        Name of the batch (a key of :data:`BATCHES`, or ``"custom"``).
    expansion : Expansion
        The expanded batch (originals first, as :func:`eelib.expand` returns it).
    distances : Tensor, shape (N, N)
        Pairwise Euclidean distances of the expanded batch.
    loss_distances : Tensor, shape (B, B)
        The distances the loss uses: between originals for positive pairs, the mined
        (closest) pair of the two expanded sets for negative pairs.
    hardest : HardestNegatives
        Every anchor's hardest negative pair over its expanded set (rows of the expansion).
    closest : tuple of int
        Rows ``(a, b)`` of the closest pair of points with different labels.
    closest_distance : float
    geometry : Geometry
        EE + batch-hard triplet on the originals: loss, gradient, pair weights.
    active : Tensor of bool, shape (B,)
        Anchors whose batch-hard triplet term is non-zero (``d⁺ − d⁻ + m > 0``).
    pushed : int
        Originals in at least one negative pair that the loss pushes apart.
    """

    n: int
    normalize: bool
    batch: str
    expansion: Expansion
    distances: Tensor
    loss_distances: Tensor
    hardest: HardestNegatives
    closest: tuple[int, int]
    closest_distance: float
    geometry: Geometry
    active: Tensor
    pushed: int


def explore(n: int, normalize: bool = True, batch: str = DEFAULT_BATCH, points: Tensor | None = None,
            labels: Tensor | None = None) -> ExplorerState:
    """Expand a batch, mine it as EE + batch-hard triplet does, and read the loss's gradient.

    Parameters
    ----------
    n : int
        Synthetic points per pair, ``n >= 0``.
    normalize : bool, default True
        L2-normalise the synthetic points.
    batch : str, default "compact classes"
        A key of :data:`BATCHES`; ignored when ``points`` and ``labels`` are given.
    points, labels : Tensor, optional
        Another batch (any dimension; the 2-D view needs 2). Give both or neither.

    Returns
    -------
    ExplorerState

    Raises
    ------
    ValueError
        If only one of ``points`` and ``labels`` is given, the batch is unknown, or the
        batch has one class only.
    """
    if (points is None) != (labels is None):
        raise ValueError("points and labels must be given together (or neither, for a named batch)")
    if points is None or labels is None:
        points, labels = toy_batch(batch)
    else:
        batch = "custom"
    # checks the batch, n, normalize and the memory of the N x N matrices before anything is expanded
    hardest = hardest_negative_pairs(points, labels, n, normalize_synthetic=normalize)
    if torch.unique(labels).numel() < 2:
        raise ValueError("labels must contain at least two classes: a negative pair needs two")
    expansion = expand(points, labels, n_synthetic=n, normalize_synthetic=normalize)
    distances = torch.cdist(expansion.embeddings, expansion.embeddings)
    matrices = pair_matrices(points, labels, n_synthetic=n, normalize_synthetic=normalize,
                             measure="squared_distance")
    positive, negative = (m.clamp_min(0.0).sqrt() for m in (matrices.positive, matrices.negative))
    loss_distances = torch.where(matrices.different_label, negative, positive).fill_diagonal_(0.0)
    selected = batch_hard(matrices, positive, negative)
    active = selected.valid & (selected.positive - selected.negative + MARGIN > 0)
    best = int(hardest.distance.argmin())
    settings = {"mining": "hardest", "margin": MARGIN, "n_synthetic": n, "normalize_synthetic": normalize}
    geometry = loss_geometry("triplet", points, labels, **settings)
    pushed = int(pushed_pairs(geometry, labels).any(dim=1).sum())  # originals with a pushed negative pair
    return ExplorerState(int(n), bool(normalize), batch, expansion, distances, loss_distances, hardest,
                         (int(hardest.row[best]), int(hardest.col[best])), float(hardest.distance[best]),
                         geometry, active, pushed)


def synthetic_hardest(state: ExplorerState) -> int:
    """How many anchors have a hardest negative pair with a synthetic end."""
    return int(state.hardest.involves_synthetic.sum())


def readout_text(state: ExplorerState) -> str:
    """The line under the controls, e.g. ``n = 2 · loss = 0.1973 · pushed originals: 8 of 12 · ...``."""
    originals = len(state.hardest.distance)
    return (f"n = {state.n} · loss = {state.geometry.loss:.4f} · pushed originals: {state.pushed} of {originals} · "
            f"hardest negatives with a synthetic end: {synthetic_hardest(state)} of {originals}")


def pair_kind(state: ExplorerState) -> str:
    """What the closest pair of different classes joins, e.g. ``"synthetic–original"`` (row order)."""
    return "–".join("synthetic" if bool(state.expansion.is_synthetic[r]) else "original" for r in state.closest)


def _name_classes(ax: plt.Axes, points: np.ndarray, labels: Tensor) -> None:
    """Write "class c" inside the circle, in the direction of the class's mean point."""
    for label in torch.unique(labels).tolist():
        direction = points[(labels == label).numpy()].mean(axis=0)
        x, y = 0.62 * direction / max(float(np.linalg.norm(direction)), 1e-12)
        ax.text(x, y, f"class {label}", color=class_color(label), fontsize=8, fontweight="bold",
                ha="center", va="center")


def draw_view(state: ExplorerState) -> plt.Figure:
    """The 2-D view: segments, synthetic points, the loss's pairs and arrows, the mined pairs.

    Returns
    -------
    matplotlib Figure
        The caller shows and closes it.
    """
    e = state.expansion
    pts = e.embeddings.detach().numpy()
    originals = int((~e.is_synthetic).sum())
    fig, ax = plt.subplots(figsize=(5.2, 5.2))
    draw_segments(ax, pts, pair_within_classes(e.labels[:originals]), label="segment of a pair")
    draw_pair_weights(ax, pts[:originals], state.geometry.pair_weights)
    shown = state.hardest.involves_synthetic & state.active
    mined = torch.stack([state.hardest.row[shown], state.hardest.col[shown]], dim=1)
    draw_segments(ax, pts, mined, color=HIGHLIGHT_COLOR, linestyle="-", linewidth=0.9,
                  label="an active anchor's hardest negative pair,\nsynthetic end ringed")
    plot_points_2d(ax, pts, e.labels, synthetic=e.is_synthetic,
                   title=f"n = {state.n}, {'normalised' if state.normalize else 'not normalised'}, {state.batch}\n"
                         f"EE + batch-hard triplet (m = {MARGIN}): loss {state.geometry.loss:.4f}")
    ends = np.unique(mined.numpy()[e.is_synthetic[mined].numpy()])
    ax.scatter(pts[ends, 0], pts[ends, 1], s=110, facecolor="none", edgecolor=HIGHLIGHT_COLOR, linewidth=1.4,
               zorder=3)
    draw_gradient_arrows(ax, pts[:originals], e.labels[:originals], state.geometry.gradient, longest=0.3)
    _name_classes(ax, pts[:originals], e.labels[:originals])
    if bool(e.is_synthetic[list(state.closest)].any()):  # only when EE created it (label noise)
        a, b = state.closest
        highlight_pair(ax, pts[a], pts[b], label=f"closest pair of two classes ({pair_kind(state)})")
    ax.scatter([], [], facecolor="white", edgecolor="0.3", linestyle=(0, (2, 1)), label="synthetic point")
    ax.set(xlim=(-1.3, 1.3), ylim=(-1.3, 1.3), xticks=(), yticks=(), xlabel="", ylabel="")  # ticks: slow text
    handles, labels = ax.get_legend_handles_labels()
    keep = [i for i, text in enumerate(labels) if not text.startswith("class ")]
    fig.legend([handles[i] for i in keep], [labels[i] for i in keep], loc="lower center", ncol=2, fontsize=7,
               frameon=False, handlelength=1.6, columnspacing=1.0)
    fig.subplots_adjust(left=0.15, right=0.95, top=0.89, bottom=0.24)  # fixed: no layout pass per redraw
    return fig


def draw_heatmap(state: ExplorerState, vmax: float = HEATMAP_VMAX) -> plt.Figure:
    """Two distance heat maps ordered by class: the expanded batch, and the B × B matrix the loss uses.

    Returns
    -------
    matplotlib Figure
        The caller shows and closes it.
    """
    fig, axes = plt.subplots(1, 2, figsize=(8.6, 4.4))
    size = len(state.expansion.labels)
    originals = len(state.loss_distances)
    plot_distance_heatmap(axes[0], state.distances, state.expansion.labels, vmax=vmax, colorbar=False,
                          title=f"expanded batch: {size} × {size}")
    plot_distance_heatmap(axes[1], state.loss_distances, state.expansion.labels[:originals], vmax=vmax,
                          title=f"what the loss uses: {originals} × {originals}\n(negatives mined over E(i) × E(k))")
    axes[1].set_ylabel("")
    fig.subplots_adjust(left=0.08, right=0.93, top=0.86, bottom=0.12, wspace=0.3)  # fixed: no layout pass
    return fig


def update(n: int, normalize: bool = True, batch: str = DEFAULT_BATCH
           ) -> tuple[ExplorerState, str, plt.Figure, plt.Figure]:
    """Everything the widget's callback computes: state, readout, 2-D view and heat maps.

    Returns
    -------
    state : ExplorerState
    readout : str
    view, heatmap : matplotlib Figure
        The caller shows and closes them.
    """
    state = explore(n, normalize, batch)
    return state, readout_text(state), draw_view(state), draw_heatmap(state)


class Frame(NamedTuple):
    """One rendered state of the explorer: the readout text and both figures."""

    readout: str
    view: Bundle
    heatmap: Bundle


class Explorer:
    """The notebook-08 widget: an n slider, a normalisation toggle, a batch choice, a readout, two figures.

    CSS classes (used by the browser tests): ``ee-n-slider``, ``ee-normalize``,
    ``ee-batch``, ``ee-readout``, ``ee-view-2d``, ``ee-heatmap``. The slider is
    ipywidgets' own, so its handle takes ArrowRight/ArrowLeft; it updates on release
    (``continuous_update=False``).

    Each state (n, normalise, batch) is computed and rendered by :func:`update` and
    :func:`eelib.course.display.png_bundle` (one drawing pass; the layout is fixed) on its
    first visit, or all at once with ``precompute``, and kept: showing a kept state only
    re-sends its images (benchmarks/bench_widgets.py times both).

    Parameters
    ----------
    initial_n : int, default 2
    precompute : bool, default False
        Render all states now instead of on first visit.
    """

    def __init__(self, initial_n: int = 2, *, precompute: bool = False) -> None:
        if not 0 <= initial_n <= MAX_N:
            raise ValueError(f"initial_n must be between 0 and {MAX_N}, got {initial_n}")
        self.slider = widgets.IntSlider(value=initial_n, min=0, max=MAX_N, step=1, description="n",
                                        continuous_update=False)
        self.toggle = widgets.Checkbox(value=True, description="L2-normalise synthetic points", indent=False,
                                       layout=widgets.Layout(width="auto"))
        self.batch = widgets.Dropdown(options=list(BATCHES), value=DEFAULT_BATCH, description="batch")
        self.readout = widgets.Label()
        self.view_out, self.heat_out = widgets.Output(), widgets.Output()
        for widget, css in ((self.slider, "ee-n-slider"), (self.toggle, "ee-normalize"), (self.batch, "ee-batch"),
                            (self.readout, "ee-readout"), (self.view_out, "ee-view-2d"),
                            (self.heat_out, "ee-heatmap")):
            widget.add_class(css)
        self.frames: dict[tuple[int, bool, str], Frame] = {}
        self.widget = widgets.VBox([widgets.HBox([self.slider, self.toggle, self.batch]), self.readout,
                                    widgets.HBox([self.view_out, self.heat_out])])
        for control in (self.slider, self.toggle, self.batch):
            control.observe(self.redraw, names="value")
        self.initial_n = initial_n
        if precompute:
            for batch in BATCHES:
                for normalize in (True, False):
                    for n in range(MAX_N + 1):
                        self.frame(n, normalize, batch)
        register(self.site_frames)
        self.redraw()

    def frame(self, n: int, normalize: bool, batch: str = DEFAULT_BATCH) -> Frame:
        """The rendered state for (n, normalize, batch), computed on first use."""
        key = (int(n), bool(normalize), str(batch))
        if key not in self.frames:
            _, text, view, heatmap = update(*key)
            bundles = []
            for fig in (view, heatmap):
                bundles.append(png_bundle(fig))
                plt.close(fig)
            self.frames[key] = Frame(text, *bundles)
        return self.frames[key]

    def site_frames(self) -> FrameSet:
        """Every state of the explorer (n, normalisation, batch) for the course site: the frames :meth:`redraw` shows."""
        controls = (Control("n", self.slider.description, "range", tuple(range(MAX_N + 1)), self.initial_n),
                    Control("normalize", self.toggle.description, "checkbox", (False, True), True),
                    Control("batch", self.batch.description, "select", tuple(BATCHES), DEFAULT_BATCH))
        frames = {}
        for n in controls[0].values:
            for normalize in controls[1].values:
                for batch in controls[2].values:
                    frame = self.frame(n, normalize, batch)
                    frames[(n, normalize, batch)] = SiteFrame(frame.readout, (png_bytes(frame.view),
                                                                               png_bytes(frame.heatmap)))
        return FrameSet("ee", controls, frames)

    def redraw(self, change: object = None) -> None:
        """Show the state of the current control values (the controls' callback)."""
        frame = self.frame(self.slider.value, self.toggle.value, self.batch.value)
        self.readout.value = frame.readout
        for out, (data, metadata) in ((self.view_out, frame.view), (self.heat_out, frame.heatmap)):
            with out:
                out.clear_output(wait=True)
                display(data, metadata=metadata, raw=True)

    def _ipython_display_(self) -> None:
        display(self.widget)


def build_explorer(initial_n: int = 2, *, precompute: bool = False) -> Explorer:
    """Build the notebook-08 widget (see :class:`Explorer`); display the result to show it."""
    return Explorer(initial_n, precompute=precompute)


__all__ = ["BATCHES", "DEFAULT_BATCH", "HEATMAP_VMAX", "MARGIN", "MAX_N", "Explorer", "ExplorerState", "Frame",
           "build_explorer", "draw_heatmap", "draw_view", "explore", "pair_kind", "readout_text",
           "synthetic_hardest", "toy_batch", "update"]
