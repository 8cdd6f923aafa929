"""Short training runs behind notebook 08's heat-map widget: the paper's heat-map figure, driven by n.

The paper shows, at several points of training, how far apart the hardest negative pairs
of every two classes are, for triplet and for EE + triplet (docs/paper.md §3). This module
makes the runs for a live version of that figure, small enough to commit:

* batch-hard triplet (the paper's Triplet†, margin 0.2) on the latent-class data
  (:func:`eelib.data.make_latent_classes`, the first 20 classes), a 64 → 128 → 32 MLP, the
  same seed and batches for every run, once without EE (``n = 0``) and once with EE for
  every ``n`` in :data:`N_VALUES`;
* before training and after every epoch, on one fixed probe batch of :data:`PROBE_CLASSES`
  training classes × 4, the class × class matrix of :func:`eelib.diagnostics.class_distance_matrix`
  twice: over the probe expanded with the run's ``n`` (what hard negative pair mining sees
  during training) and over its originals only (like with like across runs); and Recall@1
  on the 20 unseen classes.

One seed makes the picture; whether its message holds beyond that seed is checked on
:data:`CHECK_SEEDS` further paired runs (n = 0 against n = 2, same seed each): the mean
hardest-negative distance between classes at the last epoch, over the originals.

``python -m eelib.experiments.training_heatmaps`` trains the runs and writes
:data:`RESULTS_FILE` (a compressed ``.npz`` of float32 arrays, committed as package data);
:func:`load_training_heatmaps` reads it. The widget (:mod:`eelib.course.heatmap_widget`)
only receives the arrays: the course layer never imports this one.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from eelib.diagnostics import class_distance_matrix
from eelib.data import PKSampler, make_latent_classes, split_dataset
from eelib.experiments.models import MLPEmbedder
from eelib.experiments.train import History, embed, fit
from eelib.losses import make_loss
from eelib.metrics import recall_at_k

#: The numbers of synthetic points per pair the runs use (0: plain triplet).
N_VALUES = tuple(range(9))

#: Epochs per run (the maps are recorded before training and after every epoch).
EPOCHS = 10

#: Classes in the probe batch (4 samples each): the heat maps are PROBE_CLASSES × PROBE_CLASSES.
PROBE_CLASSES = 10

#: The loss and its settings: batch-hard triplet (Triplet†), FaceNet's margin.
LOSS, LOSS_KWARGS = "triplet", {"mining": "hardest", "margin": 0.2}

#: Seeds of the paired check (n = 0 vs n = 2), and the n it compares with plain triplet.
CHECK_SEEDS, CHECK_N = 10, 2

#: Where the committed runs live (package data of eelib.experiments).
RESULTS_FILE = Path(__file__).resolve().parent / "results" / "training_heatmaps.npz"


class HeatmapRuns(NamedTuple):
    """The recorded runs.

    Attributes
    ----------
    n_values : ndarray of int, shape (R,)
        Synthetic points per pair of each run; 0 is plain triplet.
    epochs : ndarray of int, shape (E + 1,)
        0 (before training), 1, ..., E.
    classes : ndarray of int, shape (C,)
        The probe's classes, in the order of the matrices' rows.
    expanded : ndarray of float32, shape (R, E + 1, C, C)
        :func:`~eelib.diagnostics.class_distance_matrix` of the probe with the run's ``n``:
        off the diagonal the closest pair of two classes over originals and synthetic
        points, on it the largest distance between two originals of the class.
    originals : ndarray of float32, shape (R, E + 1, C, C)
        The same over the originals only (``n_synthetic = 0``).
    recall_at_1 : ndarray of float32, shape (R, E + 1)
        Recall@1 on the unseen classes.
    seed_check : ndarray of float32, shape (S, 2)
        Per seed ``1..S``, the mean off-diagonal entry of ``originals`` at the last epoch
        for ``n = 0`` and ``n =`` :data:`CHECK_N` (paired runs; their own probe batches).
    """

    n_values: np.ndarray
    epochs: np.ndarray
    classes: np.ndarray
    expanded: np.ndarray
    originals: np.ndarray
    recall_at_1: np.ndarray
    seed_check: np.ndarray


def train_heatmap_runs(n_values: Sequence[int] = N_VALUES, *, epochs: int = EPOCHS,
                       probe_classes: int = PROBE_CLASSES, seed: int = 0, check_seeds: int = CHECK_SEEDS
                       ) -> HeatmapRuns:
    """Train one batch-hard triplet run per ``n`` and record the probe's class distance matrices.

    Parameters
    ----------
    n_values : sequence of int, default :data:`N_VALUES`
        Each value trains one run; 0 is plain triplet.
    epochs : int, default :data:`EPOCHS`
    probe_classes : int, default :data:`PROBE_CLASSES`
        Training classes in the probe batch (4 samples each), at most 20.
    seed : int, default 0
        Seeds the model, the batches and the probe; every run starts from the same model.
    check_seeds : int, default :data:`CHECK_SEEDS`
        Paired runs (n = 0 and n = :data:`CHECK_N`) for ``seed_check``, with seeds
        ``seed + 1 .. seed + check_seeds``; 0 skips the check.

    Returns
    -------
    HeatmapRuns
    """
    runs = [_run(n, epochs, probe_classes, seed) for n in n_values]
    off_diagonal = ~np.eye(probe_classes, dtype=bool)
    check = [[_run(n, epochs, probe_classes, seed + s)[1][-1][off_diagonal].mean() for n in (0, CHECK_N)]
             for s in range(1, check_seeds + 1)]
    expanded, originals, recall, classes = zip(*runs)
    return HeatmapRuns(np.array(list(n_values)), np.arange(epochs + 1), classes[0],
                       np.stack(expanded).astype(np.float32), np.stack(originals).astype(np.float32),
                       np.stack(recall).astype(np.float32), np.array(check, dtype=np.float32).reshape(-1, 2))


def _run(n: int, epochs: int, probe_classes: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One run: the probe's matrices (expanded, originals) and Recall@1 per epoch, and the probe's classes."""
    data = split_dataset(*make_latent_classes(seed=0))
    probe = torch.tensor(next(iter(PKSampler(data.y_train, probe_classes, 4, seed=seed + 123))))
    order = torch.argsort(data.y_train[probe], stable=True)
    x_probe, y_probe = data.x_train[probe[order]], data.y_train[probe[order]]
    torch.manual_seed(seed)
    model = MLPEmbedder(data.x_train.shape[1], 32, hidden=(128,))
    expanded, originals, recall = [], [], []

    def record(epoch: int | None = None, history: History | None = None) -> None:
        embeddings = embed(model, x_probe)
        expanded.append(class_distance_matrix(embeddings, y_probe, n).numpy())
        originals.append(class_distance_matrix(embeddings, y_probe, 0).numpy())
        recall.append(recall_at_k(embed(model, data.x_test), data.y_test, ks=(1,))[1])

    record()
    fit(model, data.x_train, data.y_train, loss=make_loss(LOSS, n_synthetic=n, **LOSS_KWARGS), epochs=epochs,
        seed=seed, progress=False, on_epoch_end=record)
    return np.stack(expanded), np.stack(originals), np.array(recall), torch.unique(y_probe).numpy()


def save_training_heatmaps(runs: HeatmapRuns, path: Path = RESULTS_FILE) -> None:
    """Write the runs as a compressed ``.npz`` (one array per field)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **runs._asdict())


def load_training_heatmaps(path: Path = RESULTS_FILE) -> HeatmapRuns:
    """Read the runs written by :func:`save_training_heatmaps` (by default the committed ones).

    Raises
    ------
    FileNotFoundError
        If there is no file at ``path`` (make it with ``python -m eelib.experiments.training_heatmaps``).
    ValueError
        If the file lacks a field or the arrays' shapes do not fit together.
    """
    if not Path(path).is_file():
        raise FileNotFoundError(f"no training heat maps at {path}; run: python -m eelib.experiments.training_heatmaps")
    with np.load(path) as stored:
        missing = [name for name in HeatmapRuns._fields if name not in stored.files]
        if missing:
            raise ValueError(f"{path} lacks the arrays {missing}")
        runs = HeatmapRuns(*(stored[name] for name in HeatmapRuns._fields))
    shape = (len(runs.n_values), len(runs.epochs), len(runs.classes), len(runs.classes))
    if (runs.expanded.shape != shape or runs.originals.shape != shape or runs.recall_at_1.shape != shape[:2]
            or runs.seed_check.ndim != 2 or runs.seed_check.shape[1] != 2):
        raise ValueError(f"{path}: expected matrices of shape {shape} and Recall@1 of shape {shape[:2]}, got "
                         f"{runs.expanded.shape}, {runs.originals.shape} and {runs.recall_at_1.shape} "
                         f"(and a seed check of shape (S, 2): {runs.seed_check.shape})")
    return runs


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS_FILE, help="the .npz file to write")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    start = time.perf_counter()
    runs = train_heatmap_runs(epochs=args.epochs)
    save_training_heatmaps(runs, args.out)
    gap = runs.seed_check[:, 1] - runs.seed_check[:, 0]
    print(f"{len(runs.n_values)} runs and {len(gap)} paired checks of {args.epochs} epochs in "
          f"{time.perf_counter() - start:.0f} s; wrote {args.out}")
    print(f"paired check, n = {CHECK_N} minus n = 0, mean hardest negative distance between classes: "
          f"{gap.mean():+.3f} ± {gap.std(ddof=1):.3f} (mean ± std over {len(gap)} seeds)")


__all__ = ["CHECK_N", "CHECK_SEEDS", "EPOCHS", "N_VALUES", "PROBE_CLASSES", "RESULTS_FILE", "HeatmapRuns", "load_training_heatmaps",
           "save_training_heatmaps", "train_heatmap_runs"]


if __name__ == "__main__":
    main()
