"""The shared plotting helpers draw what they claim: order, separators, markers, segments."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.collections import LineCollection, PathCollection  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402

from eelib.course.style import class_color  # noqa: E402
from eelib.course.figures import (  # noqa: E402
    HIGHLIGHT_COLOR,
    class_order,
    draw_segments,
    figure_image_bytes,
    highlight_pair,
    plot_distance_heatmap,
    plot_embedding_pca,
    plot_points_2d,
)

pytestmark = pytest.mark.unit


@pytest.fixture
def ax():
    fig, axes = plt.subplots()
    yield axes
    plt.close(fig)


def test_class_order_is_stable() -> None:
    assert class_order(torch.tensor([2, 0, 2, 1, 0])).tolist() == [1, 4, 3, 0, 2]


def test_heatmap_orders_by_class_and_separates_blocks(ax) -> None:
    labels = torch.tensor([1, 0, 1, 2, 0])
    distances = torch.arange(25, dtype=torch.float64).view(5, 5)
    plot_distance_heatmap(ax, distances, labels)
    shown = ax.images[0].get_array()
    order = [1, 4, 0, 2, 3]
    assert np.array_equal(shown, distances.numpy()[np.ix_(order, order)])
    separators = sorted({float(line.get_ydata()[0]) for line in ax.lines if line.get_ydata()[0] == line.get_ydata()[1]})
    assert separators == [1.5, 3.5]  # between class 0 | 1 | 2 blocks
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1", "2"]
    assert ax.get_xlabel() and ax.get_ylabel()
    assert len(ax.figure.axes) == 2, "a colorbar axis is expected"


def _warm_near_blue_far(image) -> None:
    """The paper's heat-map colours (docs/paper.md §3): a short distance red or yellow, a long one blue."""
    low, high = image.get_clim()
    near, far = image.to_rgba(np.array([low])), image.to_rgba(np.array([high]))
    assert near[0, 0] > near[0, 2] + 0.3, f"near should be red or yellow, got {near}"
    assert far[0, 2] > far[0, 0] + 0.3, f"far should be blue, got {far}"


def test_heatmap_draws_near_warm_and_far_blue_like_the_paper(ax) -> None:
    plot_distance_heatmap(ax, np.array([[0.0, 2.0], [2.0, 0.0]]), np.array([0, 1]))
    _warm_near_blue_far(ax.images[0])


def test_the_training_heatmap_widget_uses_the_same_colours() -> None:
    from eelib.course.heatmap_widget import TrainingHeatmaps

    maps = np.random.default_rng(0).uniform(0.1, 2.0, size=(2, 3, 4, 4))
    widget = TrainingHeatmaps(maps, maps, [0, 2], [1, 2, 3], [0, 1, 2, 3], np.full((2, 3), 0.5))
    for image in widget.figure.axes[0].images + widget.figure.axes[1].images:
        _warm_near_blue_far(image)


def test_heatmap_thins_out_the_class_ticks_of_many_classes(ax) -> None:
    plot_distance_heatmap(ax, np.ones((30, 30)), np.arange(30))
    assert [t.get_text() for t in ax.get_xticklabels()] == [str(c) for c in range(0, 30, 3)]


def test_heatmap_without_colorbar_and_with_fixed_scale(ax) -> None:
    plot_distance_heatmap(ax, np.ones((3, 3)), np.array([0, 0, 1]), vmax=2.0, colorbar=False)
    assert len(ax.figure.axes) == 1
    assert ax.images[0].get_clim() == (0.0, 2.0)


@pytest.mark.parametrize(
    ("distances", "labels", "message"),
    [(np.ones((3, 4)), np.zeros(3), "distances must be a square"),
     (np.ones((3, 3)), np.zeros(4), "labels must have shape")],
)
def test_heatmap_rejects_bad_shapes(ax, distances, labels, message) -> None:
    with pytest.raises(ValueError, match=message):
        plot_distance_heatmap(ax, distances, labels)


def test_heatmap_rejects_non_arrays(ax) -> None:
    with pytest.raises(TypeError, match="distances must be"):
        plot_distance_heatmap(ax, "not a matrix", np.zeros(2))


def test_points_2d_solid_originals_hollow_synthetic(ax) -> None:
    points = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.7, 0.7], [-1.0, 0.0]])
    labels = torch.tensor([0, 0, 0, 1])
    plot_points_2d(ax, points, labels, synthetic=torch.tensor([False, False, True, False]))
    scatters = [c for c in ax.collections if isinstance(c, PathCollection)]
    sizes = sorted(len(c.get_offsets()) for c in scatters)
    assert sizes == [1, 1, 2]  # class 0 solid (2), class 0 hollow (1), class 1 solid (1)
    hollow = next(c for c in scatters if np.allclose(c.get_facecolor()[0], to_rgba("white")))
    assert np.allclose(hollow.get_offsets(), [[0.7, 0.7]])
    assert np.allclose(hollow.get_edgecolor()[0], to_rgba(class_color(0)))
    assert len(ax.lines) == 1, "the unit circle"
    assert ax.get_xlabel() and ax.get_ylabel()


def test_points_2d_rejects_non_2d_points(ax) -> None:
    with pytest.raises(ValueError, match=r"points must have shape \(N, 2\)"):
        plot_points_2d(ax, torch.zeros(3, 3), torch.zeros(3, dtype=torch.long))


def test_segments_join_the_given_rows(ax) -> None:
    points = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    draw_segments(ax, points, torch.tensor([[0, 1], [2, 0]]))
    (lines,) = [c for c in ax.collections if isinstance(c, LineCollection)]
    assert [s.tolist() for s in lines.get_segments()] == [[[0.0, 0.0], [1.0, 0.0]], [[0.0, 1.0], [0.0, 0.0]]]
    with pytest.raises(ValueError, match="pairs must index rows 0..2"):
        draw_segments(ax, points, np.array([[0, 3]]))


def test_highlight_pair_draws_arrow_and_rings(ax) -> None:
    highlight_pair(ax, np.array([0.0, 0.0]), np.array([1.0, 1.0]), label="hardest")
    (arrow,) = ax.texts
    assert arrow.xy == (1.0, 1.0) and arrow.xyann == (0.0, 0.0)
    rings = ax.collections[0]
    assert np.allclose(rings.get_offsets(), [[0.0, 0.0], [1.0, 1.0]])
    assert np.allclose(rings.get_edgecolor()[0], to_rgba(HIGHLIGHT_COLOR))
    assert ax.get_legend_handles_labels()[1] == ["hardest"]
    with pytest.raises(ValueError, match="point_a and point_b"):
        highlight_pair(ax, np.zeros(3), np.zeros(2))


def test_pca_plot_limits_the_number_of_classes(ax) -> None:
    embeddings = torch.randn(40, 5, generator=torch.Generator().manual_seed(0))
    plot_embedding_pca(ax, embeddings, torch.arange(8).repeat_interleave(5), max_classes=3)
    assert len(ax.collections) == 3


def test_figure_image_bytes_tell_figures_apart() -> None:
    figs = []
    for y in (0.0, 0.0, 1.0):
        fig, axes = plt.subplots(figsize=(2, 2))
        axes.plot([0, 1], [0, y])
        figs.append(figure_image_bytes(fig))
        plt.close(fig)
    assert figs[0] == figs[1] != figs[2]


@pytest.mark.parametrize("label", [0, -3, np.int64(9), torch.tensor(2).item()])
def test_class_color_takes_any_integer_and_cycles(label):
    assert class_color(label) == class_color(int(label) + 8) == class_color(int(label) - 8)


@pytest.mark.parametrize("label", [1.5, 2.0, True, "1", None])
def test_class_color_refuses_what_is_not_an_integer(label):
    with pytest.raises(TypeError, match="label must be an int"):
        class_color(label)
