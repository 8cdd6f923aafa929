"""The EE explorer of notebook 08 shows eelib's expansion, the mining the loss uses, and autograd's arrows."""

from __future__ import annotations

import itertools
import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from eelib import expand  # noqa: E402
from eelib.diagnostics import loss_geometry  # noqa: E402
import eelib.course.explorer as explorer_module  # noqa: E402
from eelib.course.explorer import (  # noqa: E402
    BATCHES,
    MARGIN,
    MAX_N,
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
from eelib.data import random_batch  # noqa: E402
from eelib.losses import triplet_loss  # noqa: E402

pytestmark = [pytest.mark.unit, pytest.mark.usefixtures("one_torch_thread")]

SETTINGS = [(n, normalize) for normalize in (True, False) for n in range(MAX_N + 1)]
#: A few settings for the slower checks: no points, one, two, a grid that contains n = 1's, the most.
SOME = [(n, normalize) for normalize in (True, False) for n in (0, 1, 2, 3, MAX_N)]
READOUT = re.compile(r"^n = (\d+) · loss = (\d+\.\d{4}) · pushed originals: (\d+) of 12 · "
                     r"hardest negatives with a synthetic end: (\d+) of 12$")


def brute_force_closest(distances: torch.Tensor, labels: torch.Tensor) -> float:
    n = len(labels)
    return min(float(distances[a, b]) for a in range(n) for b in range(n) if labels[a] != labels[b])


def three_classes_of_four(seed: int, dim: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """Twelve random unit vectors, three classes in blocks of four."""
    return random_batch([4] * 3, dim, seed=seed)


def angles_of(batch: str) -> torch.Tensor:
    points, labels = toy_batch(batch)
    degrees = torch.rad2deg(torch.atan2(points[:, 1], points[:, 0]))
    return (degrees + 90) % 360 - 90, labels  # in [-90°, 270°): no class straddles the cut


@pytest.mark.parametrize(("n", "normalize"), SETTINGS)
def test_shown_expansion_is_eelib_expand(n, normalize) -> None:
    state = explore(n, normalize)
    points, labels = toy_batch()
    reference = expand(points, labels, n_synthetic=n, normalize_synthetic=normalize)
    assert torch.equal(state.expansion.embeddings, reference.embeddings)
    assert torch.equal(state.expansion.is_synthetic, reference.is_synthetic)
    assert len(state.expansion.labels) == 12 + 6 * n  # 6 pairs of 4-instance classes, n points each
    assert torch.allclose(state.distances, torch.cdist(reference.embeddings, reference.embeddings))


@pytest.mark.parametrize(("n", "normalize"), SOME)
def test_the_loss_matrix_is_the_closest_pair_of_the_expanded_sets(n, normalize) -> None:
    # Written out: E(i) is i and the synthetic points of its own segment (not its partner).
    state = explore(n, normalize)
    e = state.expansion
    members = [[i] + [r for r in range(12, len(e.labels)) if i in (int(e.parent_a[r]), int(e.parent_b[r]))]
               for i in range(12)]
    for i, k in itertools.product(range(12), repeat=2):
        if i == k:
            assert state.loss_distances[i, k] == 0
        elif e.labels[i] == e.labels[k]:
            assert float(state.loss_distances[i, k]) == pytest.approx(float((e.embeddings[i] - e.embeddings[k]).norm()))
        else:
            mined = min(float(state.distances[a, b]) for a in members[i] for b in members[k])
            assert float(state.loss_distances[i, k]) == pytest.approx(mined, abs=1e-7)


@pytest.mark.parametrize("batch", sorted(BATCHES))
@pytest.mark.parametrize(("n", "normalize"), SOME)
def test_closest_pair_and_loss_are_what_they_claim(batch, n, normalize) -> None:
    state = explore(n, normalize, batch)
    a, b = state.closest
    labels = state.expansion.labels
    assert labels[a] != labels[b]
    assert state.closest_distance == pytest.approx(float((state.expansion.embeddings[a]
                                                           - state.expansion.embeddings[b]).norm()))
    assert state.closest_distance == pytest.approx(brute_force_closest(state.distances, labels), abs=1e-7)
    points, labels = toy_batch(batch)
    x = points.clone().requires_grad_()
    loss = triplet_loss(x, labels, mining="hardest", margin=MARGIN, n_synthetic=n, normalize_synthetic=normalize)
    loss.backward()
    assert state.geometry.loss == pytest.approx(loss.item())
    assert torch.allclose(state.geometry.gradient, x.grad)


def test_active_anchors_are_those_with_a_nonzero_hinge() -> None:
    for n in (0, 2):
        state = explore(n)
        d_plus = state.loss_distances.masked_fill(state.expansion.labels[:12, None] != state.expansion.labels[None, :12],
                                                  -1.0).amax(1)
        assert torch.equal(state.active, d_plus - state.hardest.distance + MARGIN > 0)


def test_the_compact_batch_is_compact_and_the_noisy_one_is_not() -> None:
    # Compact: every class occupies its own arc, so no segment crosses another class.
    angles, labels = angles_of("compact classes")
    spans = [(float(angles[labels == c].min()), float(angles[labels == c].max())) for c in range(3)]
    for (low, high), (other_low, other_high) in itertools.permutations(spans, 2):
        assert high < other_low or other_high < low
    noisy, noisy_labels = angles_of("label noise")
    assert torch.equal(noisy_labels, labels)
    moved = torch.nonzero(~torch.isclose(noisy, angles)).flatten().tolist()
    assert len(moved) == 1 and int(labels[moved[0]]) == 1
    assert spans[0][0] < float(noisy[moved[0]]) < spans[0][1]  # a class-1 point inside class 0


def test_what_notebook_08_says_about_the_compact_batch() -> None:
    counts = {n: explore(n) for n in (0, 1, 2, 8)}
    # At n = 0 the border points only; from n = 2 every point of classes 0 and 1 is pushed.
    assert [counts[n].pushed for n in (0, 1, 2, 8)] == [4, 6, 8, 8]
    assert int(counts[0].active.sum()) == 4 and int(counts[2].active.sum()) == 8
    # The far ends (rows 2 and 7) get an arrow only with EE: through their synthetic points.
    assert counts[0].geometry.gradient[[2, 7]].abs().max() == 0
    assert counts[2].geometry.gradient[[2, 7]].norm(dim=1).min() > 0.01
    # In 2-D compact arcs the closest pair of two classes stays original-original.
    assert all(pair_kind(state) == "original–original" for state in counts.values())
    assert len({round(state.closest_distance, 12) for state in counts.values()}) == 1


def share_closer(matrix: torch.Tensor, negative: torch.Tensor, threshold: float = 1.0) -> float:
    return float((matrix[negative] < threshold).float().mean())


def test_the_loss_matrix_darkens_while_the_expanded_map_does_not() -> None:
    states = [explore(n) for n in (0, 2, 8)]
    loss_shares, expanded_shares, expanded_counts = [], [], []
    for state in states:
        labels = state.expansion.labels
        negative = labels[:, None] != labels[None, :]
        loss_shares.append(share_closer(state.loss_distances, negative[:12, :12]))
        expanded_shares.append(share_closer(state.distances, negative))
        expanded_counts.append(int((state.distances[negative] < 1.0).sum()) // 2)
    assert loss_shares[0] < loss_shares[1] < loss_shares[2]
    assert expanded_shares[0] > expanded_shares[1] > expanded_shares[2]
    assert expanded_counts[0] < expanded_counts[1] < expanded_counts[2]
    for state in states:  # never farther than the original pair: x_i is in E(i)
        assert bool((state.loss_distances <= states[0].loss_distances + 1e-12).all())


def test_label_noise_puts_a_synthetic_point_next_to_another_class() -> None:
    assert pair_kind(explore(0, True, "label noise")) == "original–original"
    for n in (1, 2, 8):
        state = explore(n, True, "label noise")
        assert "synthetic" in pair_kind(state)
        assert state.closest_distance < explore(0, True, "label noise").closest_distance


def test_a_batch_of_higher_dimension_can_be_explored() -> None:
    points, labels = three_classes_of_four(3, dim=8)
    state = explore(3, True, points=points, labels=labels)
    assert state.batch == "custom"
    assert state.closest_distance == pytest.approx(brute_force_closest(state.distances, state.expansion.labels),
                                                   abs=1e-7)
    assert state.geometry.loss == pytest.approx(loss_geometry("triplet", points, labels, mining="hardest",
                                                              margin=MARGIN, n_synthetic=3).loss)


def test_readout_format() -> None:
    for batch in BATCHES:
        for n, normalize in SOME:
            state = explore(n, normalize, batch)
            match = READOUT.match(readout_text(state))
            assert match, readout_text(state)
            assert int(match.group(1)) == n
            assert float(match.group(2)) == pytest.approx(state.geometry.loss, abs=5e-5)
            assert int(match.group(3)) == state.pushed
            assert int(match.group(4)) == int(state.hardest.involves_synthetic.sum())


def hardest_along(n_values, normalize: bool, points=None, labels=None) -> list[float]:
    return [explore(n, normalize, points=points, labels=labels).closest_distance for n in n_values]


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_closest_distance_never_grows_along_nested_grids(normalize, seed) -> None:
    # The grid k/(n+1) contains the grid k/(n'+1) when (n'+1) divides (n+1): 0 -> 1 -> 3 -> 7
    # (and 0 -> 2 -> 5). HNPM minimises over a superset, so it cannot grow.
    points, labels = three_classes_of_four(seed)
    for chain in ((0, 1, 3, 7), (0, 2, 5)):
        distances = hardest_along(chain, normalize, points, labels)
        assert all(later <= earlier + 1e-12 for earlier, later in itertools.pairwise(distances)), (chain, distances)


def test_figures_differ_between_n_values_and_repeat_exactly() -> None:
    images = {}
    for n in (0, 1, 2, 5):
        _, _, view, heatmap = update(n, True)
        images[n] = (figure_image_bytes(view), figure_image_bytes(heatmap))
        plt.close(view)
        plt.close(heatmap)
    for first, second in itertools.combinations(images, 2):
        assert images[first][0] != images[second][0], f"2-D view identical for n = {first} and {second}"
        assert images[first][1] != images[second][1], f"heat map identical for n = {first} and {second}"
    again = draw_view(explore(2, True)), draw_heatmap(explore(2, True))
    assert (figure_image_bytes(again[0]), figure_image_bytes(again[1])) == images[2]
    plt.close("all")


def test_normalisation_and_batch_change_the_view() -> None:
    base = figure_image_bytes(draw_view(explore(3, True)))
    assert base != figure_image_bytes(draw_view(explore(3, False)))
    assert base != figure_image_bytes(draw_view(explore(3, True, "label noise")))
    plt.close("all")


def find_by_class(widget, css: str) -> list:
    found = [widget] if css in getattr(widget, "_dom_classes", ()) else []
    for child in getattr(widget, "children", ()):
        found += find_by_class(child, css)
    return found


def test_widget_has_the_css_classes_and_reacts_to_its_controls() -> None:
    explorer = build_explorer(initial_n=2)
    found = {css: find_by_class(explorer.widget, css)
             for css in ("ee-n-slider", "ee-normalize", "ee-batch", "ee-view-2d", "ee-heatmap", "ee-readout")}
    assert all(len(widgets) == 1 for widgets in found.values()), {css: len(w) for css, w in found.items()}
    slider, toggle, batch, readout = (found[css][0] for css in ("ee-n-slider", "ee-normalize", "ee-batch",
                                                                  "ee-readout"))
    assert (slider.description, slider.min, slider.max, slider.value, slider.step) == ("n", 0, MAX_N, 2, 1)
    assert toggle.value is True and batch.value == "compact classes"
    assert readout.value == readout_text(explore(2, True))
    slider.value = 5
    assert readout.value == readout_text(explore(5, True))
    toggle.value = False
    assert readout.value == readout_text(explore(5, False))
    batch.value = "label noise"
    assert readout.value == readout_text(explore(5, False, "label noise"))
    assert set(explorer.frames) == {(2, True, "compact classes"), (5, True, "compact classes"),
                                    (5, False, "compact classes"), (5, False, "label noise")}
    plt.close("all")


def test_revisiting_a_state_reuses_its_rendered_frame() -> None:
    explorer = build_explorer(initial_n=1)
    first = explorer.frame(1, True)
    explorer.slider.value = 4
    explorer.slider.value = 1
    assert explorer.frame(1, True) is first
    assert explorer.readout.value == first.readout == readout_text(explore(1, True))
    assert explorer.frame(4, True).readout != first.readout
    plt.close("all")


def test_precompute_renders_every_state_once(monkeypatch) -> None:
    rendered = []

    def small_update(n, normalize=True, batch="compact classes"):  # the real one is timed in benchmarks/
        rendered.append((n, normalize, batch))
        return None, f"n = {n} {normalize} {batch}", *(plt.figure() for _ in range(2))

    monkeypatch.setattr(explorer_module, "update", small_update)
    monkeypatch.setattr(explorer_module, "png_bundle", lambda fig: ({"text/plain": "figure"}, {}))
    explorer = build_explorer(initial_n=0, precompute=True)
    every = {(n, normalize, batch) for n, normalize in SETTINGS for batch in BATCHES}
    assert set(explorer.frames) == every and sorted(rendered) == sorted(every)
    kept = dict(explorer.frames)
    explorer.slider.value = 7
    explorer.toggle.value = False
    explorer.batch.value = "label noise"
    assert all(explorer.frames[key] is frame for key, frame in kept.items()) and len(rendered) == len(every)
    assert explorer.readout.value == "n = 7 False label noise"
    plt.close("all")


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [(lambda: explore(-1), ValueError, "n_synthetic"),
     (lambda: explore(2, True, points=torch.zeros(4, 2)), ValueError, "points and labels must be given together"),
     (lambda: explore(1, True, points=torch.eye(2, dtype=torch.float64), labels=torch.tensor([0, 0])), ValueError,
      "at least two classes"),
     (lambda: explore(1, True, "noisy"), ValueError, "batch must be one of"),
     (lambda: build_explorer(initial_n=9), ValueError, "initial_n must be between 0 and 8")],
)
def test_bad_arguments_are_named(call, error, message) -> None:
    with pytest.raises(error, match=message):
        call()
