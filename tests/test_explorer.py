"""The EE explorer of notebook 08 shows eelib's expansion and the true hardest negative pair."""

from __future__ import annotations

import itertools
import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from eelib import expand  # noqa: E402
from eelib.course.explorer import (  # noqa: E402
    MAX_K,
    build_explorer,
    draw_heatmap,
    draw_view,
    explore,
    pair_kind,
    readout_text,
    toy_batch,
    update,
)
from eelib.course.figures import figure_image_bytes  # noqa: E402

pytestmark = pytest.mark.unit

SETTINGS = [(k, normalize) for normalize in (True, False) for k in range(MAX_K + 1)]
READOUT = re.compile(r"^k = (\d+) · hardest negative distance = (\d+\.\d{4})$")


def brute_force_hardest(distances: torch.Tensor, labels: torch.Tensor) -> float:
    n = len(labels)
    return min(float(distances[a, b]) for a in range(n) for b in range(n) if labels[a] != labels[b])


def random_batch(seed: int, dim: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    points = F.normalize(torch.randn(12, dim, generator=generator, dtype=torch.float64), dim=1)
    return points, torch.arange(3).repeat_interleave(4)


@pytest.mark.parametrize(("k", "normalize"), SETTINGS)
def test_shown_expansion_is_eelib_expand(k, normalize) -> None:
    state = explore(k, normalize)
    points, labels = toy_batch()
    reference = expand(points, labels, k, normalize=normalize)
    assert torch.equal(state.expansion.embeddings, reference.embeddings)
    assert torch.equal(state.expansion.labels, reference.labels)
    assert torch.equal(state.expansion.is_synthetic, reference.is_synthetic)
    assert len(state.expansion.labels) == 12 + 6 * k  # 6 pairs of 4-instance classes, k points each
    assert torch.allclose(state.distances, torch.cdist(reference.embeddings, reference.embeddings))


@pytest.mark.parametrize(("k", "normalize"), SETTINGS)
def test_hardest_pair_is_the_closest_pair_of_different_classes(k, normalize) -> None:
    state = explore(k, normalize)
    a, b = state.hardest
    labels = state.expansion.labels
    assert labels[a] != labels[b]
    points = state.expansion.embeddings
    assert state.hardest_distance == pytest.approx(float((points[a] - points[b]).norm()))
    assert state.hardest_distance == pytest.approx(brute_force_hardest(state.distances, labels), abs=1e-12)
    assert min(pair.distance for pair in state.class_pairs) == pytest.approx(state.hardest_distance, abs=1e-12)


def test_class_pairs_are_the_closest_pair_between_each_two_classes() -> None:
    state = explore(4, True)
    labels = state.expansion.labels
    assert [pair.classes for pair in state.class_pairs] == [(0, 1), (0, 2), (1, 2)]
    for pair in state.class_pairs:
        p, q = pair.classes
        block = state.distances[labels == p][:, labels == q]
        assert pair.distance == pytest.approx(float(block.min()))
        assert (int(labels[pair.rows[0]]), int(labels[pair.rows[1]])) == (p, q)
        assert float(state.distances[pair.rows]) == pytest.approx(pair.distance)


def test_a_batch_of_higher_dimension_can_be_explored() -> None:
    points, labels = random_batch(3, dim=8)
    state = explore(3, True, points, labels)
    expected = brute_force_hardest(state.distances, state.expansion.labels)
    assert state.hardest_distance == pytest.approx(expected, abs=1e-12)


def test_readout_format() -> None:
    state = explore(3, True)
    assert readout_text(state._replace(hardest_distance=0.43214)) == "k = 3 · hardest negative distance = 0.4321"
    for k, normalize in SETTINGS:
        state = explore(k, normalize)
        match = READOUT.match(readout_text(state))
        assert match and int(match.group(1)) == k
        assert float(match.group(2)) == pytest.approx(state.hardest_distance, abs=5e-5)


def test_pair_kind_names_original_and_synthetic_ends() -> None:
    assert pair_kind(explore(0)) == "original–original"
    assert "synthetic" in pair_kind(explore(2))  # the toy batch's synthetic points create the hardest pair


def hardest_along(k_values, normalize: bool, points=None, labels=None) -> list[float]:
    return [explore(k, normalize, points, labels).hardest_distance for k in k_values]


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("seed", [None, 0, 1, 2, 3, 4])
def test_hardest_distance_never_grows_along_nested_grids(normalize, seed) -> None:
    # The grid j/(k+1) contains the grid j/(k'+1) when (k'+1) divides (k+1): 0 -> 1 -> 3 -> 7
    # (and 0 -> 2 -> 5, 0 -> 4 -> 9). HNPM minimises over a superset, so it cannot grow.
    points, labels = (None, None) if seed is None else random_batch(seed)
    for chain in ((0, 1, 3, 7), (0, 2, 5), (0, 4, 9)):
        distances = hardest_along(chain, normalize, points, labels)
        assert all(later <= earlier + 1e-12 for earlier, later in itertools.pairwise(distances)), (chain, distances)


def test_hardest_distance_is_not_monotone_in_k_in_general() -> None:
    # k = 2 (points at 1/3, 2/3) and k = 3 (1/4, 1/2, 3/4) share no point: the toy batch
    # has its hardest pair at k = 2 closer than at k = 3. The widget must not claim monotonicity.
    two, three = hardest_along((2, 3), True)
    assert two < three


def test_figures_differ_between_k_values_and_repeat_exactly() -> None:
    images = {}
    for k in (0, 1, 2, 5):
        _, _, view, heatmap = update(k, True)
        images[k] = (figure_image_bytes(view), figure_image_bytes(heatmap))
        plt.close(view)
        plt.close(heatmap)
    for first, second in itertools.combinations(images, 2):
        assert images[first][0] != images[second][0], f"2-D view identical for k = {first} and {second}"
        assert images[first][1] != images[second][1], f"heat map identical for k = {first} and {second}"
    again = draw_view(explore(2, True)), draw_heatmap(explore(2, True))
    assert (figure_image_bytes(again[0]), figure_image_bytes(again[1])) == images[2]
    plt.close("all")


def test_normalisation_toggle_changes_the_view() -> None:
    on, off = draw_view(explore(3, True)), draw_view(explore(3, False))
    assert figure_image_bytes(on) != figure_image_bytes(off)
    plt.close("all")


def find_by_class(widget, css: str) -> list:
    found = [widget] if css in getattr(widget, "_dom_classes", ()) else []
    for child in getattr(widget, "children", ()):
        found += find_by_class(child, css)
    return found


def test_widget_has_the_css_classes_and_reacts_to_its_controls() -> None:
    explorer = build_explorer(initial_k=2)
    found = {css: find_by_class(explorer.widget, css)
             for css in ("ee-k-slider", "ee-normalize", "ee-view-2d", "ee-heatmap", "ee-readout")}
    assert all(len(widgets) == 1 for widgets in found.values()), {css: len(w) for css, w in found.items()}
    slider, toggle, readout = found["ee-k-slider"][0], found["ee-normalize"][0], found["ee-readout"][0]
    assert (slider.min, slider.max, slider.value, slider.step) == (0, MAX_K, 2, 1)
    assert toggle.value is True
    assert readout.value == readout_text(explore(2, True))
    slider.value = 5
    assert readout.value == readout_text(explore(5, True))
    toggle.value = False
    assert readout.value == readout_text(explore(5, False))
    assert set(explorer.frames) == {(2, True), (5, True), (5, False)}
    plt.close("all")


def test_revisiting_a_state_reuses_its_rendered_frame() -> None:
    explorer = build_explorer(initial_k=1)
    first = explorer.frame(1, True)
    explorer.slider.value = 4
    explorer.slider.value = 1
    assert explorer.frame(1, True) is first
    assert explorer.readout.value == first.readout == readout_text(explore(1, True))
    assert explorer.frame(4, True).readout != first.readout


def test_precompute_renders_every_state_once() -> None:
    explorer = build_explorer(initial_k=0, precompute=True)
    assert set(explorer.frames) == set(SETTINGS)
    kept = dict(explorer.frames)
    explorer.slider.value = 7
    explorer.toggle.value = False
    assert all(explorer.frames[key] is frame for key, frame in kept.items())
    assert explorer.readout.value == readout_text(explore(7, False))
    plt.close("all")


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [(lambda: explore(-1), ValueError, "n_synthetic"),
     (lambda: explore(2, True, torch.zeros(4, 2)), ValueError, "points and labels must be given together"),
     (lambda: explore(1, True, torch.eye(2, dtype=torch.float64), torch.tensor([0, 0])), ValueError,
      "at least two classes"),
     (lambda: build_explorer(initial_k=11), ValueError, "initial_k must be between 0 and 10")],
)
def test_bad_arguments_are_named(call, error, message) -> None:
    with pytest.raises(error, match=message):
        call()
