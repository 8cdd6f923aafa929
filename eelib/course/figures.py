"""Plots shared by the notebooks: distance heat maps and 2-D embedding views.

Every function draws into a given matplotlib ``Axes`` and returns nothing, so that a
notebook (or a widget callback) decides the layout and when to render. Colours come from
:mod:`eelib.course.style` (Okabe–Ito, colour-blind safe).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.ticker import MaxNLocator
import torch
from torch import Tensor

from eelib._validation import validate_embeddings, validate_flag, validate_positive_int, validate_real
from eelib.diagnostics import RELATIVE_ZERO
from eelib.course.style import DISTANCE_CMAP, SEPARATOR_COLOR, class_color

#: At most this many class tick labels on a heat map axis.
MAX_CLASS_TICKS = 12

#: Colour of a highlighted pair (Okabe–Ito vermillion, the course's "red").
HIGHLIGHT_COLOR = "#D55E00"

#: Pairs a loss pulls together (Okabe–Ito blue, solid) and pushes apart (vermillion, dashed).
PULL_COLOR = "#0072B2"
PUSH_COLOR = HIGHLIGHT_COLOR


def _numpy(values: Tensor | np.ndarray, name: str) -> np.ndarray:
    if isinstance(values, Tensor):
        return values.detach().cpu().numpy()
    if isinstance(values, (np.ndarray, list, tuple)):
        return np.asarray(values)
    raise TypeError(f"{name} must be a torch.Tensor or a numpy array, got {type(values).__name__}")


def _finite(values: Tensor | np.ndarray, name: str) -> np.ndarray:
    """Real, finite numbers as a float64 array (NaN or Inf would be drawn as nothing, silently)."""
    array = _numpy(values, name)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {array.dtype}")
    array = array.astype(np.float64)
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or Inf values")
    return array


def _points_2d(points: Tensor | np.ndarray) -> np.ndarray:
    array = _finite(points, "points")
    if array.ndim != 2 or array.shape[1] != 2:
        raise ValueError(f"points must have shape (N, 2), got {array.shape}")
    return array


def _labels_for(labels: Tensor | np.ndarray, n_rows: int, what: str) -> np.ndarray:
    array = _numpy(labels, "labels")
    if array.shape != (n_rows,):
        raise ValueError(f"labels must have shape ({n_rows},) to match {what}, got {array.shape}")
    return array


def class_order(labels: Tensor | np.ndarray) -> np.ndarray:
    """Indices that sort a batch by class, keeping batch order inside a class."""
    return np.argsort(_numpy(labels, "labels"), kind="stable")


def plot_distance_heatmap(
    ax: Axes,
    distances: Tensor | np.ndarray,
    labels: Tensor | np.ndarray,
    *,
    title: str = "pairwise distances",
    vmax: float | None = None,
    colorbar: bool = True,
) -> None:
    """Heat map of a pairwise-distance matrix ordered by class, like the EE paper's figure.

    Rows and columns are sorted by label, so positive pairs form the blocks on the
    diagonal and everything off the blocks is a negative pair. Dark lines separate the
    classes and the ticks name them. Colours follow the paper's figure (docs/paper.md §3):
    red and yellow mean close, blue far, so hard negatives are red or yellow cells off the
    blocks.

    Parameters
    ----------
    ax : matplotlib Axes
    distances : (N, N) array
    labels : (N,) array
    title : str
    vmax : float, optional
        Upper end of the colour scale (fix it to compare several maps).
    colorbar : bool, default True

    Raises
    ------
    ValueError
        If ``distances`` is not square or ``labels`` does not have one entry per row.
    """
    matrix = _finite(distances, "distances")
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] == 0:
        raise ValueError(f"distances must be a square (N, N) matrix with N >= 1, got shape {matrix.shape}")
    if vmax is not None:
        vmax = validate_real("vmax", vmax, minimum=0.0, exclusive_minimum=True)
    colorbar = validate_flag("colorbar", colorbar)
    sorted_labels = _labels_for(labels, matrix.shape[0], "distances")
    order = np.argsort(sorted_labels, kind="stable")
    matrix, sorted_labels = matrix[np.ix_(order, order)], sorted_labels[order]
    image = ax.imshow(matrix, cmap=DISTANCE_CMAP, vmin=0.0, vmax=vmax, interpolation="nearest")
    edges = np.flatnonzero(np.diff(sorted_labels)) + 0.5
    for edge in edges:
        ax.axhline(edge, color=SEPARATOR_COLOR, linewidth=0.8)
        ax.axvline(edge, color=SEPARATOR_COLOR, linewidth=0.8)
    bounds = np.concatenate([[-0.5], edges, [len(sorted_labels) - 0.5]])
    step = -(-(len(bounds) - 1) // MAX_CLASS_TICKS)  # ceil(classes / MAX_CLASS_TICKS): thin out many classes
    centres = ((bounds[:-1] + bounds[1:]) / 2)[::step]
    names = [str(label) for label in np.unique(sorted_labels)][::step]
    ax.set_xticks(centres, names)
    ax.set_yticks(centres, names)
    ax.set_title(title)
    ax.set_xlabel("class (points ordered by class)")
    ax.set_ylabel("class (points ordered by class)")
    ax.grid(False)
    if colorbar:
        bar = plt.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="Euclidean distance")
        bar.locator = MaxNLocator(5)
        bar.update_ticks()


def plot_points_2d(
    ax: Axes,
    points: Tensor | np.ndarray,
    labels: Tensor | np.ndarray,
    *,
    synthetic: Tensor | np.ndarray | None = None,
    unit_circle: bool = True,
    title: str | None = None,
) -> None:
    """Scatter 2-D embeddings coloured by class; synthetic points drawn hollow and dotted.

    Parameters
    ----------
    ax : matplotlib Axes
    points : (N, 2) array
    labels : (N,) array
    synthetic : (N,) bool array, optional
        Rows drawn as hollow markers with a dotted edge (EE's synthetic points); the
        rest solid.
    unit_circle : bool, default True
        Draw the unit circle on which L2-normalised embeddings live.
    title : str, optional
    """
    points = _points_2d(points)
    labels = _labels_for(labels, len(points), "points")
    if synthetic is None:
        synthetic = np.zeros(len(labels), dtype=bool)
    else:
        synthetic = _labels_for(synthetic, len(points), "points").astype(bool)
    if unit_circle:
        angle = np.linspace(0, 2 * np.pi, 200)
        ax.plot(np.cos(angle), np.sin(angle), color="0.8", linewidth=1, zorder=0)
    for label in np.unique(labels):
        color = class_color(int(label))
        solid = (labels == label) & ~synthetic
        hollow = (labels == label) & synthetic
        ax.scatter(points[solid, 0], points[solid, 1], s=60, color=color, edgecolor="black",
                   linewidth=0.6, label=f"class {label}", zorder=3)
        if hollow.any():
            ax.scatter(points[hollow, 0], points[hollow, 1], s=38, facecolor="white",
                       edgecolor=color, linewidth=1.6, linestyle=(0, (2, 1)), zorder=2)
    ax.set_aspect("equal")
    ax.set_xlabel("embedding dimension 1")
    ax.set_ylabel("embedding dimension 2")
    if title:
        ax.set_title(title)


def draw_segments(
    ax: Axes,
    points: Tensor | np.ndarray,
    pairs: Tensor | np.ndarray,
    *,
    color: str = "0.5",
    linestyle: str | tuple = ":",
    linewidth: float = 1.0,
    alpha: float = 1.0,
    label: str | None = None,
) -> None:
    """Draw one line segment per pair of rows (e.g. EE's same-class segments).

    Parameters
    ----------
    ax : matplotlib Axes
    points : (N, 2) array
    pairs : (P, 2) int array
        Row indices into ``points`` of each segment's two ends.
    color, linestyle, linewidth, alpha
        Line style, shared by all segments (one ``LineCollection``, fast to draw).
    label : str, optional
        Legend entry for the whole set of segments.
    """
    points = _points_2d(points)
    pairs = _numpy(pairs, "pairs").astype(int).reshape(-1, 2)
    if pairs.size and (pairs.min() < 0 or pairs.max() >= len(points)):
        raise ValueError(f"pairs must index rows 0..{len(points) - 1} of points, got {pairs.min()}..{pairs.max()}")
    lines = LineCollection(points[pairs], colors=color, linestyles=linestyle, linewidths=linewidth,
                           alpha=alpha, zorder=1, label=label)
    ax.add_collection(lines)


def highlight_pair(
    ax: Axes,
    point_a: Tensor | np.ndarray,
    point_b: Tensor | np.ndarray,
    *,
    label: str | None = None,
    color: str = HIGHLIGHT_COLOR,
) -> None:
    """Mark a pair of points with rings and a double-headed arrow (e.g. the hardest negative pair).

    The rings keep a very short pair visible, where the arrow alone would vanish.

    Parameters
    ----------
    ax : matplotlib Axes
    point_a, point_b : (2,) arrays
    label : str, optional
        Legend entry for the arrow.
    color : str, default vermillion
    """
    a, b = _finite(point_a, "point_a"), _finite(point_b, "point_b")
    if a.shape != (2,) or b.shape != (2,):
        raise ValueError(f"point_a and point_b must be 2-D points of shape (2,), got {a.shape} and {b.shape}")
    ax.annotate("", xy=tuple(b), xytext=tuple(a),
                arrowprops={"arrowstyle": "<->", "color": color, "linewidth": 2.2, "shrinkA": 0, "shrinkB": 0},
                zorder=4)
    ax.scatter([a[0], b[0]], [a[1], b[1]], s=190, facecolor="none", edgecolor=color, linewidth=1.8, zorder=4,
               label=label)


def draw_pair_weights(ax: Axes, points: Tensor | np.ndarray, pair_weights: Tensor | np.ndarray) -> None:
    """Draw every pair a loss acts on: pulled pairs solid blue, pushed pairs dashed vermillion.

    Parameters
    ----------
    ax : matplotlib Axes
    points : (B, 2) array
    pair_weights : (B, B) array
        ``∂L/∂(x_i · x_j)`` (:func:`eelib.diagnostics.loss_geometry`): negative for a pulled
        pair, positive for a pushed one. Line width grows with ``|weight|``; pairs below
        ``RELATIVE_ZERO`` times the largest weight are not drawn.
    """
    pts = _points_2d(points)
    weights = _numpy(pair_weights, "pair_weights")
    scale = float(np.abs(weights).max()) if weights.size else 0.0
    if scale > 0:
        rows, cols = np.nonzero(np.triu(np.abs(weights) > RELATIVE_ZERO * scale, 1))
        for i, j in zip(rows.tolist(), cols.tolist()):
            w = float(weights[i, j])
            ax.plot(*pts[[i, j]].T, color=PULL_COLOR if w < 0 else PUSH_COLOR,
                    linestyle="-" if w < 0 else "--", linewidth=0.6 + 3.0 * abs(w) / scale, alpha=0.8, zorder=1)
    ax.plot([], [], color=PULL_COLOR, label="pulled pair")
    ax.plot([], [], color=PUSH_COLOR, linestyle="--", label="pushed pair")


def draw_gradient_arrows(ax: Axes, points: Tensor | np.ndarray, labels: Tensor | np.ndarray,
                         gradient: Tensor | np.ndarray, *, longest: float = 0.4) -> None:
    """Draw ``−∇L`` on every point (where gradient descent moves it), the longest arrow ``longest`` long.

    Parameters
    ----------
    ax : matplotlib Axes
    points : (B, 2) array
    labels : (B,) array
        Arrows take their point's class colour.
    gradient : (B, 2) array
        ``∂L/∂x_i``.
    longest : float, default 0.4
        Length of the longest arrow in data units (all arrows share one scale).
    """
    pts = _points_2d(points)
    arrows = -_numpy(gradient, "gradient")
    labels = _labels_for(labels, len(pts), "points")
    length = max(float(np.abs(arrows).max()) if arrows.size else 0.0, 1e-12)
    ax.quiver(pts[:, 0], pts[:, 1], arrows[:, 0] / length, arrows[:, 1] / length, angles="xy",
              scale_units="xy", scale=1.0 / longest, color=[class_color(int(c)) for c in labels], width=0.012,
              zorder=4)


def plot_embedding_pca(
    ax: Axes,
    embeddings: Tensor | np.ndarray,
    labels: Tensor | np.ndarray,
    *,
    max_classes: int = 6,
    title: str = "test embeddings (unseen classes), PCA",
) -> None:
    """Scatter the first two principal components of embeddings, a few classes at a time.

    Only the first ``max_classes`` classes are drawn so that colours stay distinguishable.
    """
    from sklearn.decomposition import PCA

    embeddings = _finite(embeddings, "embeddings")
    validate_embeddings(torch.as_tensor(embeddings))  # 2-D, rows within float64's norm limit
    max_classes = validate_positive_int("max_classes", max_classes)
    labels = _labels_for(labels, len(embeddings), "embeddings")
    keep = np.isin(labels, np.unique(labels)[:max_classes])
    if keep.sum() < 2 or embeddings.shape[1] < 2:
        raise ValueError("embeddings must have at least 2 rows (in the classes drawn) and 2 columns for a 2-D PCA, "
                         f"got {int(keep.sum())} rows and {embeddings.shape[1]} columns")
    projected = PCA(n_components=2, random_state=0).fit_transform(embeddings[keep])
    for index, label in enumerate(np.unique(labels[keep])):
        rows = labels[keep] == label
        ax.scatter(projected[rows, 0], projected[rows, 1], s=14, color=class_color(index), label=f"class {label}")
    ax.set_xlabel("principal component 1")
    ax.set_ylabel("principal component 2")
    ax.set_title(title)
    ax.legend(fontsize=7, ncol=2)


def figure_image_bytes(fig: plt.Figure) -> bytes:
    """Rendered RGBA pixels of a figure (to compare two renders in tests)."""
    fig.canvas.draw()
    return bytes(fig.canvas.buffer_rgba())


__all__ = ["HIGHLIGHT_COLOR", "PULL_COLOR", "PUSH_COLOR", "class_order", "draw_gradient_arrows",
           "draw_pair_weights", "draw_segments", "figure_image_bytes", "highlight_pair", "plot_distance_heatmap",
           "plot_embedding_pca", "plot_points_2d"]
