"""The heat-map widget of notebook 08: the paper's figure driven by n and the epoch, from recorded arrays."""

from __future__ import annotations

import contextlib
import io

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from test_explorer import find_by_class  # noqa: E402

from eelib.course.heatmap_widget import build_heatmap_widget, mean_off_diagonal  # noqa: E402

pytestmark = pytest.mark.unit

RUNS, EPOCHS, CLASSES = 3, 4, 5


def arrays(seed: int = 0):
    generator = np.random.default_rng(seed)
    expanded = generator.uniform(0.1, 1.5, size=(RUNS, EPOCHS, CLASSES, CLASSES))
    originals = expanded + generator.uniform(0.0, 0.2, size=expanded.shape)
    originals[0] = expanded[0]
    recall = generator.uniform(0.2, 0.9, size=(RUNS, EPOCHS))
    return expanded, originals, [0, 2, 8], list(range(EPOCHS)), [3, 5, 7, 11, 13], recall


def widget(**initial):
    with contextlib.redirect_stdout(io.StringIO()):  # outside a kernel, display() prints
        return build_heatmap_widget(*arrays(), **initial)


def test_the_view_picks_the_recorded_maps() -> None:
    expanded, originals, n_values, epochs, _, recall = arrays()
    w = widget()
    view = w.view(8, 2)
    assert np.array_equal(view.plain, originals[0, 2]) and np.array_equal(view.ee, expanded[2, 2])
    assert (view.plain_recall, view.ee_recall) == (recall[0, 2], recall[2, 2])
    assert np.array_equal(w.view(8, 2, synthetic=False).ee, originals[2, 2])
    assert np.array_equal(w.view(0, 3).ee, w.view(0, 3).plain)  # n = 0: the plain run on both sides


def test_controls_and_readout() -> None:
    w = widget()
    found = {css: find_by_class(w.widget, css)
             for css in ("hm-n-slider", "hm-epoch-slider", "hm-synthetic", "hm-readout", "hm-output")}
    assert all(len(items) == 1 for items in found.values())
    n_slider, epoch_slider = found["hm-n-slider"][0], found["hm-epoch-slider"][0]
    assert n_slider.description == "n" and list(n_slider.options) == [0, 2, 8] and n_slider.value == 2
    assert epoch_slider.description == "epoch" and epoch_slider.value == EPOCHS - 1
    with contextlib.redirect_stdout(io.StringIO()):
        n_slider.value, epoch_slider.value = 8, 1
    view = w.view(8, 1)
    assert w.readout.value == w.readout_text(view)
    assert f"triplet {mean_off_diagonal(view.plain):.3f}, EE + triplet {mean_off_diagonal(view.ee):.3f}" \
        in w.readout.value
    assert w.readout.value.startswith("epoch 1 · n = 8 · ")


def test_every_move_changes_the_picture_and_a_return_repeats_it() -> None:
    w = widget()
    first = w.render(w.view(2, 3))[0]["image/png"]
    assert w.render(w.view(8, 3))[0]["image/png"] != first
    assert w.render(w.view(2, 1))[0]["image/png"] != first
    assert w.render(w.view(2, 3, synthetic=False))[0]["image/png"] != first
    assert w.render(w.view(2, 3))[0]["image/png"] == first


def test_mean_off_diagonal_leaves_the_diagonal_out() -> None:
    assert mean_off_diagonal(np.array([[9.0, 1.0], [3.0, 9.0]])) == 2.0


@pytest.mark.parametrize(("change", "message"), [
    (lambda a: (a[0][:, :2], *a[1:]), "must both have shape"),
    (lambda a: (*a[:2], [1, 2, 8], *a[3:]), "must contain 0"),
    (lambda a: (*a[:4], [1, 2], a[5]), "classes must name"),
    (lambda a: (*a[:5], a[5][:, :2]), "recall_at_1 must have shape"),
])
def test_inconsistent_arrays_are_refused(change, message) -> None:
    with pytest.raises(ValueError, match=message):
        build_heatmap_widget(*change(arrays()))


def test_initial_values_must_be_recorded_ones() -> None:
    with pytest.raises(ValueError, match="initial_n must be one of"):
        widget(initial_n=3)
    with pytest.raises(ValueError, match="initial_epoch must be one of"):
        widget(initial_epoch=9)
