"""The experiments' tidy tables: built from runs, written and read as CSV, and paired.

Every table is a list of dicts, one row per observation, with the columns of
:data:`COLUMNS`. The two tables the verdicts rest on:

``per_seed.csv``
    ``dataset, loss, n_synthetic, seed`` and one column per metric (``recall@1`` …
    ``map@r``, in %): one row per run of the main grid and of the n sweep.
``paired.csv``
    ``dataset, loss, n_synthetic, metric, delta, ci_low, ci_high, p_t, p_wilcoxon, p_holm,
    verdict, fragile, n_seeds, wins``: for every run with ``n_synthetic > 0``, its difference
    from the run with ``n_synthetic = 0`` of the same data set, loss and seed
    (:mod:`eelib.experiments.inference`). ``p_holm`` is ``p_t`` adjusted over the table's
    rows of the same metric, and ``verdict`` and ``fragile`` follow from it.

Two more paired tables have the same columns: ``ablations_paired.csv`` (each variant of EE
against EE and against no EE) and ``aa_paired.csv``, the A/A control: the runs without EE
of the main grid against the same runs retrained with a second stream of initial weights
and batch orders (``aa_per_seed.csv``, variant ``"second stream"``), where nothing differs
but chance. Each table is a family of its own for each metric.

:func:`main_paired`, :func:`ablation_paired` and :func:`aa_paired` compute the paired
tables from the per-seed ones; a test recomputes them from the committed CSV files.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path

from eelib.experiments.inference import adjust_family, paired_rows
from eelib.experiments.protocol import METRICS, SECOND_STREAM, RunResult

METRIC_COLUMNS = tuple(METRICS)
PAIRED_COLUMNS = ("metric", "delta", "ci_low", "ci_high", "p_t", "p_wilcoxon", "p_holm", "verdict", "fragile",
                  "n_seeds", "wins")

#: Columns of every table, in file order.
COLUMNS = {
    "per_seed": ("dataset", "loss", "n_synthetic", "seed", *METRIC_COLUMNS),
    "paired": ("dataset", "loss", "n_synthetic", *PAIRED_COLUMNS),
    "ablations_per_seed": ("dataset", "loss", "variant", "n_synthetic", "seed", *METRIC_COLUMNS),
    "ablations_paired": ("dataset", "loss", "variant", "baseline", *PAIRED_COLUMNS),
    "aa_per_seed": ("dataset", "loss", "variant", "n_synthetic", "seed", *METRIC_COLUMNS),
    "aa_paired": ("dataset", "loss", *PAIRED_COLUMNS),
    "training": ("dataset", "loss", "variant", "n_synthetic", "seed", "final_loss", "hard_anchor_share",
                 "train_seconds"),
    "synthetic_share": ("dataset", "loss", "n_synthetic", "seed", "epoch", "share"),
    "heatmaps": ("dataset", "loss", "n_synthetic", "seed", "epoch", "measured_with", "mean_negative_distance"),
    "synthetic_labels": ("dataset", "loss", "n_synthetic", "seed", "original", "synthetic"),
    "occlusion": ("dataset", "loss", "n_synthetic", "seed", "area", "recall@1"),
}
#: Columns holding text; ``seed``, ``n_synthetic`` & co. are integers, everything else a float.
TEXT_COLUMNS = {"dataset", "loss", "variant", "baseline", "metric", "verdict"}
INT_COLUMNS = {"n_synthetic", "seed", "n_seeds", "wins", "epoch", "measured_with"}
BOOL_COLUMNS = {"fragile"}

#: Names of the ablation baselines, taken from the main grid.
NO_EE, WITH_EE = "no EE", "EE"


@dataclass
class Tables:
    """All tidy tables of one experiment (attribute names are the CSV files' stems)."""

    per_seed: list[dict] = field(default_factory=list)
    paired: list[dict] = field(default_factory=list)
    ablations_per_seed: list[dict] = field(default_factory=list)
    ablations_paired: list[dict] = field(default_factory=list)
    aa_per_seed: list[dict] = field(default_factory=list)
    aa_paired: list[dict] = field(default_factory=list)
    training: list[dict] = field(default_factory=list)
    synthetic_share: list[dict] = field(default_factory=list)
    heatmaps: list[dict] = field(default_factory=list)
    synthetic_labels: list[dict] = field(default_factory=list)
    occlusion: list[dict] = field(default_factory=list)

    @classmethod
    def from_runs(cls, results: Iterable[RunResult]) -> Tables:
        """Tidy rows of every run, and the paired tables computed from them."""
        tables = cls()
        for result in sorted(results, key=_run_order):
            run = result.run
            ids = {"dataset": run.dataset, "loss": run.method, "n_synthetic": run.n_synthetic, "seed": run.seed}
            if run.variant == SECOND_STREAM:
                tables.aa_per_seed.append(_ordered("aa_per_seed", ids | {"variant": run.variant} | result.metrics))
            elif run.variant:
                tables.ablations_per_seed.append(_ordered("ablations_per_seed", ids | {"variant": run.variant}
                                                          | result.metrics))
            else:
                tables.per_seed.append(_ordered("per_seed", ids | result.metrics))
            tables.training.append(_ordered("training", ids | {
                "variant": run.variant, "final_loss": round(result.final_loss, 6),
                "hard_anchor_share": round(result.hard_anchor_share, 6),
                "train_seconds": round(result.train_seconds, 3)}))
            if not run.variant:
                tables.synthetic_share += [ids | {"epoch": epoch, "share": round(share, 6)}
                                           for epoch, share in enumerate(result.synthetic_share, start=1)]
            tables.heatmaps += [ids | {key: round(value, 6) if isinstance(value, float) else value
                                       for key, value in record.items()} for record in result.heatmaps]
            if result.synthetic_labels is not None:
                original, synthetic = result.synthetic_labels
                tables.synthetic_labels.append(ids | {"original": round(100 * original, 4),
                                                      "synthetic": round(100 * synthetic, 4)})
            if not run.variant:
                tables.occlusion += [ids | {"area": area, "recall@1": round(value, 4)}
                                     for area, value in result.occlusion.items()]
        tables.paired = main_paired(tables.per_seed)
        tables.ablations_paired = ablation_paired(tables.per_seed, tables.ablations_per_seed)
        tables.aa_paired = aa_paired(tables.per_seed, tables.aa_per_seed)
        return tables

    def write(self, folder: Path) -> None:
        """One CSV file per table, ``<name>.csv``, with the columns of :data:`COLUMNS`."""
        for spec in fields(self):
            write_csv(folder / f"{spec.name}.csv", getattr(self, spec.name), COLUMNS[spec.name])

    @classmethod
    def read(cls, folder: Path) -> Tables:
        """The tables written by :meth:`write` (a missing file reads as an empty table)."""
        return cls(**{spec.name: read_csv(folder / f"{spec.name}.csv") for spec in fields(cls)
                      if (folder / f"{spec.name}.csv").is_file()})


def _run_order(result: RunResult) -> tuple:
    run = result.run
    return run.dataset, run.method, run.variant, run.n_synthetic, run.seed


def _ordered(table: str, row: dict) -> dict:
    return {column: row[column] for column in COLUMNS[table]}


def _written(table: str, rows: Sequence[dict]) -> list[dict]:
    """A paired table as written: Holm-adjusted per metric (the table's families), then 4 decimals for
    the differences and 4 significant digits for the p-values (the verdicts come from the unrounded ones)."""
    out = []
    for row in adjust_family(rows, ("metric",)):
        row |= {key: round(row[key], 4) for key in ("delta", "ci_low", "ci_high")}
        row |= {key: float(f"{row[key]:.4g}") for key in ("p_t", "p_wilcoxon", "p_holm")}
        out.append(_ordered(table, row))
    return out


def main_paired(per_seed: Sequence[dict]) -> list[dict]:
    """``paired.csv``: every n > 0 against n = 0, per data set, loss and metric."""
    rows = []
    for n in sorted({row["n_synthetic"] for row in per_seed} - {0}):
        rows += [summary | {"n_synthetic": n} for summary in paired_rows(
            per_seed, METRIC_COLUMNS, keys=("dataset", "loss"), treatment={"n_synthetic": n},
            baseline={"n_synthetic": 0})]
    return sorted(_written("paired", rows), key=lambda r: (r["dataset"], r["loss"], r["n_synthetic"]))


def ablation_paired(per_seed: Sequence[dict], ablations: Sequence[dict], n_synthetic: int = 2) -> list[dict]:
    """``ablations_paired.csv``: every variant against EE (n = 2) and against no EE, same seeds."""
    labelled = [row | {"variant": NO_EE if row["n_synthetic"] == 0 else WITH_EE} for row in per_seed
                if row["n_synthetic"] in (0, n_synthetic)]
    labelled += list(ablations)
    rows = []
    for variant in sorted({row["variant"] for row in ablations}):
        for baseline in (WITH_EE, NO_EE):
            rows += [summary | {"variant": variant, "baseline": baseline} for summary in paired_rows(
                labelled, METRIC_COLUMNS, keys=("dataset", "loss"), treatment={"variant": variant},
                baseline={"variant": baseline})]
    return sorted(_written("ablations_paired", rows), key=lambda r: (r["dataset"], r["loss"], r["variant"],
                                                                     r["baseline"]))


def aa_paired(per_seed: Sequence[dict], aa_per_seed: Sequence[dict]) -> list[dict]:
    """``aa_paired.csv``: the second stream's runs without EE against the main grid's, same data and seeds."""
    labelled = [row | {"variant": ""} for row in per_seed if row["n_synthetic"] == 0] + list(aa_per_seed)
    rows = paired_rows(labelled, METRIC_COLUMNS, keys=("dataset", "loss"), treatment={"variant": SECOND_STREAM},
                       baseline={"variant": ""})
    return sorted(_written("aa_paired", rows), key=lambda r: (r["dataset"], r["loss"]))


def write_csv(path: Path, rows: Sequence[dict], columns: Sequence[str]) -> None:
    """A CSV file with a header row, UTF-8."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns))
        writer.writeheader()
        writer.writerows(rows)


def read_csv(path: Path) -> list[dict]:
    """Rows of a CSV file, with integer and float columns converted (see :data:`INT_COLUMNS`)."""
    with path.open(newline="", encoding="utf-8") as handle:
        return [{key: _convert(key, value) for key, value in row.items()} for row in csv.DictReader(handle)]


def _convert(column: str, value: str):
    if column in TEXT_COLUMNS:
        return value
    if column in INT_COLUMNS:
        return int(value)
    if column in BOOL_COLUMNS:
        if value not in ("True", "False"):
            raise ValueError(f"column {column!r} must hold True or False, got {value!r}")
        return value == "True"
    return float(value)


__all__ = ["COLUMNS", "METRIC_COLUMNS", "NO_EE", "Tables", "WITH_EE", "aa_paired", "ablation_paired", "main_paired",
           "read_csv",
           "write_csv"]
