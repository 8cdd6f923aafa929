"""The short training runs behind notebook 08's heat-map widget: what they record, and the committed file.

A rerun reproduces the committed arrays bit for bit only on the machine that trained them,
with the same torch and one thread: on another CPU, or with another thread count, the first
step differs in the last bit and ten epochs amplify that far beyond float precision. So bits
are compared only between two runs on this machine, and a rerun is compared with the committed
file on what the course states (each epoch's mean hardest-negative distance between classes,
the sign and size of the EE − triplet gap) within the seed-to-seed spread of the committed
10-seed check. The slow tier reruns that comparison on a second floating-point path.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from eelib.course.heatmap_widget import mean_off_diagonal
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


def _departures(runs: HeatmapRuns, committed: HeatmapRuns) -> list[str]:
    """What the course states about ``runs`` that departs from ``committed`` by more than seed noise.

    The tolerance is one standard deviation over the committed check's seeds of the same
    quantity at the last epoch: for each run (n = 0 and n = CHECK_N) its mean hardest-negative
    distance between classes, for the gap their paired difference. Compared: that mean at every
    epoch, over the expanded and over the originals' matrices, and at the last epoch the gap
    (n = CHECK_N minus n = 0, originals), whose sign must also agree.
    """
    spread = committed.seed_check.std(axis=0, ddof=1)
    gap_spread = float(np.std(committed.seed_check[:, 1] - committed.seed_check[:, 0], ddof=1))
    found = []
    for column, n in enumerate((0, CHECK_N)):
        mine, theirs = list(runs.n_values).index(n), list(committed.n_values).index(n)
        for field in ("expanded", "originals"):
            got = np.array([mean_off_diagonal(m) for m in getattr(runs, field)[mine]])
            expected = np.array([mean_off_diagonal(m) for m in getattr(committed, field)[theirs]])
            worst = int(np.argmax(np.abs(got - expected)))
            if abs(got[worst] - expected[worst]) > spread[column]:
                found.append(f"n = {n}, {field}, epoch {worst}: mean hardest-negative distance {got[worst]:.4f}, "
                             f"committed {expected[worst]:.4f}, seed-to-seed spread {spread[column]:.4f}")

    def last_gap(r: HeatmapRuns) -> float:
        plain, ee = (mean_off_diagonal(r.originals[list(r.n_values).index(n), -1]) for n in (0, CHECK_N))
        return ee - plain

    got, expected = last_gap(runs), last_gap(committed)
    if np.sign(got) != np.sign(expected) or abs(got - expected) > gap_spread:
        found.append(f"gap n = {CHECK_N} minus n = 0 at the last epoch {got:+.4f}, committed {expected:+.4f}, "
                     f"seed-to-seed spread {gap_spread:.4f}")
    return found


@pytest.mark.unit
def test_a_rerun_on_the_same_machine_is_bit_identical(small_runs) -> None:
    again = train_heatmap_runs((0, 2), epochs=2, probe_classes=4, check_seeds=2)
    for name in HeatmapRuns._fields:
        assert np.array_equal(getattr(again, name), getattr(small_runs, name)), name


@pytest.mark.unit
def test_the_comparison_with_the_committed_runs_sees_a_run_that_trained_differently() -> None:
    committed = load_training_heatmaps()
    assert _departures(committed, committed) == []
    # Runs labelled the other way round: "plain triplet" that trained like EE and the reverse.
    plain, ee = (list(committed.n_values).index(n) for n in (0, CHECK_N))
    swapped = committed._replace(n_values=np.array([0, CHECK_N]), expanded=committed.originals[[ee, plain]],
                                 originals=committed.originals[[ee, plain]])
    found = _departures(swapped, committed)
    assert any(line.startswith("n = 0, originals") for line in found), found
    assert any(line.startswith(f"n = {CHECK_N}, originals") for line in found), found
    assert any(line.startswith("gap") for line in found), found


@pytest.fixture(scope="module")
def rerun() -> HeatmapRuns:
    """Plain triplet and EE with CHECK_N, the committed file's seed, trained here on one thread."""
    return train_heatmap_runs((0, CHECK_N), check_seeds=0)


@pytest.mark.slow
def test_the_code_still_trains_what_the_committed_runs_record(rerun) -> None:
    assert _departures(rerun, load_training_heatmaps()) == []


#: The second floating-point path: two intra-op threads, so BLAS and ATen split their sums
#: into other partial sums. Idle OpenMP threads sleep instead of spinning on CPU time.
OTHER_PATH_ENV = {"OMP_WAIT_POLICY": "PASSIVE"}
OTHER_PATH_SCRIPT = """
import sys
from pathlib import Path
import torch
from eelib.experiments.training_heatmaps import CHECK_N, save_training_heatmaps, train_heatmap_runs
torch.set_num_threads(2)
save_training_heatmaps(train_heatmap_runs((0, CHECK_N), check_seeds=0), Path(sys.argv[1]))
"""


@pytest.mark.slow
def test_another_floating_point_path_changes_the_bits_but_not_what_the_course_states(rerun, tmp_path: Path) -> None:
    out = tmp_path / "other_path.npz"
    subprocess.run([sys.executable, "-c", OTHER_PATH_SCRIPT, str(out)], env={**os.environ, **OTHER_PATH_ENV},
                   check=True, capture_output=True, timeout=600)
    other = load_training_heatmaps(out)
    # Unchanged bits would make the statistical check below vacuous: it must face a real difference.
    assert not np.array_equal(other.expanded, rerun.expanded), "the second path trained the same bits"
    assert not np.array_equal(other.originals, rerun.originals)
    assert _departures(other, load_training_heatmaps()) == []

