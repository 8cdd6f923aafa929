"""The short training runs behind notebook 08's heat-map widget: what they record, and the committed file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from eelib.experiments.training_heatmaps import (
    CHECK_N,
    EPOCHS,
    N_VALUES,
    PROBE_CLASSES,
    HeatmapRuns,
    load_training_heatmaps,
    save_training_heatmaps,
    train_heatmap_runs,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def small_runs() -> HeatmapRuns:
    return train_heatmap_runs((0, 2), epochs=2, probe_classes=4, check_seeds=2)


@pytest.mark.unit
def test_a_small_run_records_every_epoch_and_run(small_runs) -> None:
    assert list(small_runs.n_values) == [0, 2] and list(small_runs.epochs) == [0, 1, 2]
    assert small_runs.expanded.shape == small_runs.originals.shape == (2, 3, 4, 4)
    assert small_runs.recall_at_1.shape == (2, 3) and small_runs.seed_check.shape == (2, 2)
    assert len(small_runs.classes) == 4 and np.all(np.diff(small_runs.classes) > 0)
    # The same start: before training both runs see the same model and probe.
    assert np.array_equal(small_runs.originals[0, 0], small_runs.originals[1, 0])
    assert small_runs.recall_at_1[0, 0] == small_runs.recall_at_1[1, 0]


@pytest.mark.unit
def test_plain_triplet_has_no_synthetic_points_and_ee_only_brings_pairs_closer(small_runs) -> None:
    assert np.array_equal(small_runs.expanded[0], small_runs.originals[0])
    off = ~np.eye(4, dtype=bool)
    ee_expanded, ee_originals = small_runs.expanded[1], small_runs.originals[1]
    assert np.all(ee_expanded[:, off] <= ee_originals[:, off] + 1e-6)  # more points: a closer closest pair
    assert np.allclose(ee_expanded[:, ~off], ee_originals[:, ~off])  # the diagonal uses originals only


@pytest.mark.unit
def test_save_and_load_round_trip(small_runs, tmp_path: Path) -> None:
    path = tmp_path / "runs.npz"
    save_training_heatmaps(small_runs, path)
    loaded = load_training_heatmaps(path)
    for name in HeatmapRuns._fields:
        assert np.array_equal(getattr(loaded, name), getattr(small_runs, name)), name


@pytest.mark.unit
def test_load_refuses_a_missing_or_inconsistent_file(small_runs, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="python -m eelib.experiments.training_heatmaps"):
        load_training_heatmaps(tmp_path / "none.npz")
    fields = small_runs._asdict()
    np.savez(tmp_path / "partial.npz", **{k: v for k, v in fields.items() if k != "recall_at_1"})
    with pytest.raises(ValueError, match="lacks the arrays \\['recall_at_1'\\]"):
        load_training_heatmaps(tmp_path / "partial.npz")
    np.savez(tmp_path / "shapes.npz", **{**fields, "expanded": fields["expanded"][:, :2]})
    with pytest.raises(ValueError, match="expected matrices of shape"):
        load_training_heatmaps(tmp_path / "shapes.npz")


@pytest.mark.unit
def test_the_committed_runs_have_the_documented_layout() -> None:
    runs = load_training_heatmaps()
    assert list(runs.n_values) == list(N_VALUES) and list(runs.epochs) == list(range(EPOCHS + 1))
    assert runs.expanded.shape[2:] == (PROBE_CLASSES, PROBE_CLASSES) and runs.seed_check.shape == (10, 2)
    assert np.array_equal(runs.expanded[0], runs.originals[0])
    off = ~np.eye(PROBE_CLASSES, dtype=bool)
    assert np.all(runs.expanded[:, :, off] <= runs.originals[:, :, off] + 1e-6)


@pytest.mark.unit
def test_what_notebook_08_says_about_the_committed_runs() -> None:
    runs = load_training_heatmaps()
    off = ~np.eye(PROBE_CLASSES, dtype=bool)
    plain, ee = runs.originals[0, -1][off].mean(), runs.originals[CHECK_N, -1][off].mean()
    assert ee < plain  # the picture's seed: EE's negatives end closer, on the originals alone
    gap = runs.seed_check[:, 1] - runs.seed_check[:, 0]
    assert np.all(gap < 0)  # and on every one of the 10 further seeds


@pytest.mark.slow
def test_the_committed_runs_are_what_the_code_trains() -> None:
    # Bit-identical on one thread (the module's one_torch_thread) with the same torch; a tolerance covers
    # other CPUs' rounding.
    runs, committed = train_heatmap_runs((0, CHECK_N), check_seeds=0), load_training_heatmaps()
    for index, n in enumerate((0, CHECK_N)):
        assert np.allclose(runs.expanded[index], committed.expanded[list(committed.n_values).index(n)], atol=1e-3)
