"""The Embedding Expansion explorer of notebook 08 (the paper's Fig. 1 and heat map, live).

A fixed 2-D batch of three classes on the unit circle is expanded with k synthetic points
per pair (:func:`eelib.expand`, equal internal division at ``j / (k + 1)``), and hard
negative pair mining (HNPM) finds the closest pair of points of different classes over the
expanded batch. The widget redraws, for every k and normalisation setting,

(a) the 2-D view: originals solid, synthetic points hollow on their dotted segments, the
    hardest negative pair of the batch ringed and joined by a red arrow, and the closest
    pair of each other two classes as a faint line (easy by comparison);
(b) the pairwise-distance heat map of the expanded batch ordered by class, positive blocks
    on the diagonal.

All computation lives in :func:`explore` and :func:`update`, so tests and the benchmark
call them without a browser; :class:`Explorer` wires them to the controls and keeps every
rendered state.
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import display
from torch import Tensor

from eelib.analysis import hardest_negative_pairs
from eelib.course.display import Bundle, png_bundle
from eelib.course.figures import draw_segments, highlight_pair, plot_distance_heatmap, plot_points_2d
from eelib.course.style import class_color
from eelib.data import toy_batch as circle_batch
from eelib.expansion import Expansion, expand, pair_within_classes

#: Largest k offered by the slider.
MAX_K = 10

#: Upper end of the heat map's colour scale, fixed so that maps for different k compare.
HEATMAP_VMAX = 2.0

#: Angles (degrees) of the originals: three classes of four points each, as early in
#: training: class 2's first point (167°) strays into the arc spanned by a pair of class 1
#: (127°–198°), so synthetic points of that segment become the hardest negatives.
TOY_ANGLES = {0: (17.0, -60.0, -10.0, -19.0), 1: (148.0, 105.0, 198.0, 127.0), 2: (167.0, 279.0, 276.0, 268.0)}


def toy_batch() -> tuple[Tensor, Tensor]:
    """The explorer's fixed batch: 12 unit vectors in 2-D (float64), three classes in blocks of four."""
    return circle_batch([TOY_ANGLES[c] for c in sorted(TOY_ANGLES)])


class ClassPair(NamedTuple):
    """The closest pair of points between two classes of the expanded batch (HNPM, Fig. 1).

    Attributes
    ----------
    classes : tuple of int
        The two labels ``(p, q)``, ``p < q``.
    rows : tuple of int
        Rows ``(a, b)`` of the expanded batch, ``a`` of class ``p``, ``b`` of class ``q``.
    distance : float
        Their Euclidean distance.
    """

    classes: tuple[int, int]
    rows: tuple[int, int]
    distance: float


class ExplorerState(NamedTuple):
    """Everything one redraw shows.

    Attributes
    ----------
    k : int
        Synthetic points per pair (the paper's n).
    normalize : bool
        Whether the synthetic points are L2-normalised.
    expansion : Expansion
        The expanded batch (originals first, as :func:`eelib.expand` returns it).
    distances : Tensor, shape (N, N)
        Pairwise Euclidean distances of the expanded batch.
    hardest : tuple of int
        Rows ``(a, b)`` of the closest pair of points with different labels.
    hardest_distance : float
    class_pairs : tuple of ClassPair
        The closest pair between every two classes; ``hardest`` is the closest of them.
    """

    k: int
    normalize: bool
    expansion: Expansion
    distances: Tensor
    hardest: tuple[int, int]
    hardest_distance: float
    class_pairs: tuple[ClassPair, ...]


def _closest_pairs_between_classes(distances: Tensor, labels: Tensor) -> tuple[ClassPair, ...]:
    """HNPM between every two classes: the argmin of the distance block of each class pair."""
    classes = torch.unique(labels).tolist()
    found = []
    for p, q in itertools.combinations(classes, 2):
        rows_p = torch.nonzero(labels == p).squeeze(1)
        rows_q = torch.nonzero(labels == q).squeeze(1)
        block = distances.index_select(0, rows_p).index_select(1, rows_q)
        flat = int(block.argmin())
        a, b = int(rows_p[flat // len(rows_q)]), int(rows_q[flat % len(rows_q)])
        found.append(ClassPair((int(p), int(q)), (a, b), float(block.flatten()[flat])))
    return tuple(found)


def explore(k: int, normalize: bool = True, points: Tensor | None = None,
            labels: Tensor | None = None) -> ExplorerState:
    """Expand the toy batch (or the given one) and locate its hardest negative pair.

    The hardest pair comes from :func:`eelib.analysis.hardest_negative_pairs` (per anchor,
    the closest pair between its expanded set and another class; here the closest over
    all anchors), i.e. the same HNPM the losses use.

    Parameters
    ----------
    k : int
        Synthetic points per pair (the paper's n), ``k >= 0``.
    normalize : bool, default True
        L2-normalise the synthetic points.
    points, labels : Tensor, optional
        A batch other than :func:`toy_batch` (any dimension; the 2-D view needs 2).
        Give both or neither.

    Returns
    -------
    ExplorerState

    Raises
    ------
    ValueError
        If only one of ``points`` and ``labels`` is given, or the batch has one class only.
    """
    if (points is None) != (labels is None):
        raise ValueError("points and labels must be given together (or neither, for the toy batch)")
    if points is None or labels is None:
        points, labels = toy_batch()
    # checks the batch, k, normalize and the memory of the N x N matrices before anything is expanded
    per_anchor = hardest_negative_pairs(points, labels, k, normalize_synthetic=normalize)
    if torch.unique(labels).numel() < 2:
        raise ValueError("labels must contain at least two classes: a negative pair needs two")
    expansion = expand(points, labels, k, normalize=normalize)
    distances = torch.cdist(expansion.embeddings, expansion.embeddings)
    best = int(per_anchor.distance.argmin())
    pair = (int(per_anchor.row[best]), int(per_anchor.col[best]))
    class_pairs = _closest_pairs_between_classes(distances, expansion.labels)
    return ExplorerState(int(k), bool(normalize), expansion, distances, pair, float(per_anchor.distance[best]),
                         class_pairs)


def readout_text(state: ExplorerState) -> str:
    """The line under the slider, e.g. ``k = 3 · hardest negative distance = 0.4321``."""
    return f"k = {state.k} · hardest negative distance = {state.hardest_distance:.4f}"


def pair_kind(state: ExplorerState) -> str:
    """What the hardest pair joins, e.g. ``"synthetic–original"`` (ends in row order)."""
    return "–".join("synthetic" if bool(state.expansion.is_synthetic[r]) else "original" for r in state.hardest)


def _name_classes(ax: plt.Axes, points: np.ndarray, labels: Tensor) -> None:
    """Write "class c" inside the circle, in the direction of the class's mean point."""
    for label in torch.unique(labels).tolist():
        direction = points[(labels == label).numpy()].mean(axis=0)
        x, y = 0.72 * direction / max(float(np.linalg.norm(direction)), 1e-12)
        ax.text(x, y, f"class {label}", color=class_color(label), fontsize=8, fontweight="bold",
                ha="center", va="center")


def draw_view(state: ExplorerState) -> plt.Figure:
    """The 2-D view, like the paper's Fig. 1: segments, synthetic points, hardest pair in red.

    Returns
    -------
    matplotlib Figure
        The caller shows and closes it.
    """
    e = state.expansion
    pts = e.embeddings.detach().numpy()
    originals = int((~e.is_synthetic).sum())
    fig, ax = plt.subplots(figsize=(5.0, 4.9))
    draw_segments(ax, pts, pair_within_classes(e.labels[:originals]), label="segment of a pair")
    hardest_classes = tuple(sorted(int(e.labels[r]) for r in state.hardest))
    easy = [pair.rows for pair in state.class_pairs if pair.classes != hardest_classes]
    draw_segments(ax, pts, torch.tensor(easy).reshape(-1, 2), color="0.35", linestyle="-", linewidth=1.2, alpha=0.35)
    plot_points_2d(ax, pts, e.labels, synthetic=e.is_synthetic,
                   title=f"k = {state.k} per pair, {'normalised' if state.normalize else 'not normalised'}\n"
                         f"hardest negative pair: {pair_kind(state)}, {state.hardest_distance:.3f}")
    _name_classes(ax, pts[:originals], e.labels[:originals])
    a, b = state.hardest
    highlight_pair(ax, pts[a], pts[b], label="hardest negative pair")
    ax.scatter([], [], facecolor="white", edgecolor="0.3", linestyle=(0, (2, 1)), label="synthetic point")
    ax.set(xlim=(-1.25, 1.25), ylim=(-1.25, 1.25), xticks=(-1, 0, 1), yticks=(-1, 0, 1))
    handles, labels = ax.get_legend_handles_labels()
    keep = [i for i, text in enumerate(labels) if not text.startswith("class ")]
    fig.legend([handles[i] for i in keep], [labels[i] for i in keep], loc="lower center", ncol=3, fontsize=7,
               frameon=False, handlelength=1.6, columnspacing=1.0)
    fig.subplots_adjust(left=0.17, right=0.93, top=0.88, bottom=0.17)  # fixed: no layout pass per redraw
    return fig


def draw_heatmap(state: ExplorerState, vmax: float = HEATMAP_VMAX) -> plt.Figure:
    """Pairwise distances of the expanded batch ordered by class (positive blocks on the diagonal).

    Returns
    -------
    matplotlib Figure
        The caller shows and closes it.
    """
    fig, ax = plt.subplots(figsize=(4.8, 4.4))
    n = len(state.expansion.labels)
    plot_distance_heatmap(ax, state.distances, state.expansion.labels, vmax=vmax,
                          title=f"expanded batch: {n} points")
    fig.subplots_adjust(left=0.14, right=0.86, top=0.93, bottom=0.11)  # fixed: no layout pass per redraw
    return fig


def update(k: int, normalize: bool = True) -> tuple[ExplorerState, str, plt.Figure, plt.Figure]:
    """Everything the widget's callback computes: state, readout, 2-D view and heat map.

    Returns
    -------
    state : ExplorerState
    readout : str
    view, heatmap : matplotlib Figure
        The caller shows and closes them.
    """
    state = explore(k, normalize)
    return state, readout_text(state), draw_view(state), draw_heatmap(state)


class Frame(NamedTuple):
    """One rendered state of the explorer: the readout text and both figures."""

    readout: str
    view: Bundle
    heatmap: Bundle


class Explorer:
    """The notebook-08 widget: a k slider, a normalisation toggle, a readout and two figures.

    CSS classes (used by the browser tests): ``ee-k-slider``, ``ee-normalize``,
    ``ee-readout``, ``ee-view-2d``, ``ee-heatmap``. The slider is ipywidgets' own, so its
    handle takes ArrowRight/ArrowLeft; it updates on release (``continuous_update=False``).

    Each of the 22 states (k, normalise) is computed and rendered by :func:`update` and
    :func:`eelib.course.display.png_bundle` (one drawing pass; the layout is fixed) on its first
    visit, or all at once with ``precompute``, and kept: showing a kept state only re-sends
    its images. Rendering one state costs about 0.14 s of CPU (two matplotlib figures), so
    precomputing (about 3 s) makes every slider move immediate.

    Parameters
    ----------
    initial_k : int, default 2
    precompute : bool, default False
        Render all states now instead of on first visit.
    """

    def __init__(self, initial_k: int = 2, *, precompute: bool = False) -> None:
        if not 0 <= initial_k <= MAX_K:
            raise ValueError(f"initial_k must be between 0 and {MAX_K}, got {initial_k}")
        self.slider = widgets.IntSlider(value=initial_k, min=0, max=MAX_K, step=1, description="k",
                                        continuous_update=False)
        self.toggle = widgets.Checkbox(value=True, description="L2-normalise synthetic points", indent=False,
                                      layout=widgets.Layout(width="auto"))
        self.readout = widgets.Label()
        self.view_out, self.heat_out = widgets.Output(), widgets.Output()
        for widget, css in ((self.slider, "ee-k-slider"), (self.toggle, "ee-normalize"), (self.readout, "ee-readout"),
                            (self.view_out, "ee-view-2d"), (self.heat_out, "ee-heatmap")):
            widget.add_class(css)
        self.frames: dict[tuple[int, bool], Frame] = {}
        self.widget = widgets.VBox([widgets.HBox([self.slider, self.toggle]), self.readout,
                                    widgets.HBox([self.view_out, self.heat_out])])
        self.slider.observe(self.redraw, names="value")
        self.toggle.observe(self.redraw, names="value")
        if precompute:
            for normalize in (True, False):
                for k in range(MAX_K + 1):
                    self.frame(k, normalize)
        self.redraw()

    def frame(self, k: int, normalize: bool) -> Frame:
        """The rendered state for (k, normalize), computed on first use."""
        key = (int(k), bool(normalize))
        if key not in self.frames:
            _, text, view, heatmap = update(*key)
            bundles = []
            for fig in (view, heatmap):
                bundles.append(png_bundle(fig))
                plt.close(fig)
            self.frames[key] = Frame(text, *bundles)
        return self.frames[key]

    def redraw(self, change: object = None) -> None:
        """Show the state of the current control values (the controls' callback)."""
        frame = self.frame(self.slider.value, self.toggle.value)
        self.readout.value = frame.readout
        for out, (data, metadata) in ((self.view_out, frame.view), (self.heat_out, frame.heatmap)):
            with out:
                out.clear_output(wait=True)
                display(data, metadata=metadata, raw=True)

    def _ipython_display_(self) -> None:
        display(self.widget)


def build_explorer(initial_k: int = 2, *, precompute: bool = False) -> Explorer:
    """Build the notebook-08 widget (see :class:`Explorer`); display the result to show it."""
    return Explorer(initial_k, precompute=precompute)


__all__ = ["HEATMAP_VMAX", "MAX_K", "ClassPair", "Explorer", "ExplorerState", "Frame", "build_explorer",
           "draw_heatmap", "draw_view", "explore", "pair_kind", "readout_text", "toy_batch", "update"]
