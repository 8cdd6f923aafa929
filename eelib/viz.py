"""Plots shared by the notebooks: distance heat maps and 2-D embedding views."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from torch import Tensor

from eelib.style import DISTANCE_CMAP, class_color


def _numpy(values: Tensor | np.ndarray) -> np.ndarray:
    return values.detach().cpu().numpy() if isinstance(values, Tensor) else np.asarray(values)


def class_order(labels: Tensor | np.ndarray) -> np.ndarray:
    """Indices that sort a batch by class, keeping batch order inside a class."""
    return np.argsort(_numpy(labels), kind="stable")


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
    diagonal and everything off the blocks is a negative pair. Thin lines separate the
    classes. Dark means close (viridis): hard negatives show as dark cells off the blocks.

    Parameters
    ----------
    ax : matplotlib Axes
    distances : (N, N) array
    labels : (N,) array
    title : str
    vmax : float, optional
        Upper end of the colour scale (fix it to compare several maps).
    colorbar : bool, default True
    """
    order = class_order(labels)
    matrix = _numpy(distances)[np.ix_(order, order)]
    sorted_labels = _numpy(labels)[order]
    image = ax.imshow(matrix, cmap=DISTANCE_CMAP, vmin=0.0, vmax=vmax, interpolation="nearest")
    for edge in np.flatnonzero(np.diff(sorted_labels)) + 0.5:
        ax.axhline(edge, color="white", linewidth=0.8)
        ax.axvline(edge, color="white", linewidth=0.8)
    ax.set_title(title)
    ax.set_xlabel("points, ordered by class")
    ax.set_ylabel("points, ordered by class")
    ax.grid(False)
    if colorbar:
        plt.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="Euclidean distance")


def plot_points_2d(
    ax: Axes,
    points: Tensor | np.ndarray,
    labels: Tensor | np.ndarray,
    *,
    synthetic: Tensor | np.ndarray | None = None,
    unit_circle: bool = True,
    title: str | None = None,
) -> None:
    """Scatter 2-D embeddings coloured by class; synthetic points drawn hollow.

    Parameters
    ----------
    ax : matplotlib Axes
    points : (N, 2) array
    labels : (N,) array
    synthetic : (N,) bool array, optional
        Rows drawn as hollow markers (EE's synthetic points); the rest solid.
    unit_circle : bool, default True
        Draw the unit circle on which L2-normalised embeddings live.
    title : str, optional
    """
    points, labels = _numpy(points), _numpy(labels)
    synthetic = np.zeros(len(labels), dtype=bool) if synthetic is None else _numpy(synthetic).astype(bool)
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

    embeddings, labels = _numpy(embeddings), _numpy(labels)
    keep = np.isin(labels, np.unique(labels)[:max_classes])
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


__all__ = ["class_order", "figure_image_bytes", "plot_distance_heatmap", "plot_embedding_pca", "plot_points_2d"]
