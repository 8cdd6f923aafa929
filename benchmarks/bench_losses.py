"""Time eelib's losses: against pytorch-metric-learning, EE's overhead, and the paper's claim.

Run by hand from the repository root (never collected by pytest)::

    .venv/bin/python benchmarks/bench_losses.py            # full run, about 1 minute
    .venv/bin/python benchmarks/bench_losses.py --quick    # fewer repetitions, ~15 s

Setting: B = 128 (32 classes x 4; N-pair 64 classes x 2), D = 512, float32, unit-norm
random embeddings, forward + backward on the CPU with ``torch.set_num_threads(2)``.
Every number is the median over repeated runs in this one process, after a warm-up;
competing variants are timed in interleaved rounds so that load from other processes
hits them alike.

Tables (printed as Markdown, and written to ``benchmarks/results/losses.md`` and
``losses.json``):

(a) eelib / PML time per loss, PML configured to compute the same formula
    (docs/paper.md §5; :mod:`eelib.pml_reference`, which the tests use too).
(b) EE overhead: time with ``n_synthetic = n`` over time with ``n = 0``, per loss, for
    n = 1, 2, 4, 8, and for n = 2 at D = 64, 512, 2048.
(c) The paper's comparison (UNVERIFIED numbers, docs/paper.md §2.2): generating 32
    synthetic points for a 32-sample batch versus computing the triplet loss on it.
(d) Where EE's extra time goes: the stages of the mining path for batch-hard triplet,
    B = 128, D = 512, n = 2.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import pytorch_metric_learning
import torch
import torch.nn.functional as F
from torch import Tensor

from eelib import expand, pml_reference
from eelib.data import random_batch
from eelib.distances import squared_distances_from_gram
from eelib.expansion import expanded_inner_products, expanded_sets, synthetic_provenance
from eelib.losses import (
    contrastive_loss,
    lifted_structure_loss,
    multi_similarity_loss,
    npair_loss,
    triplet_loss,
)
from eelib.mining import _reduce_over_sets

RESULTS = Path(__file__).resolve().parent / "results"
MARGIN = {"contrastive": 1.0, "triplet": 0.2, "lifted": 1.0}
MS = {"alpha": 2.0, "beta": 50.0, "base": 0.5, "epsilon": 0.1}
L2_REG = 0.002
LOSS_NAMES = ["contrastive", "triplet-all", "triplet-semihard", "triplet-hardest", "npair", "lifted", "ms"]
GOAL_PML_RATIO = 1.0
GOAL_EE_OVERHEAD = 1.5

Step = Callable[[], None]


# ------------------------------------------------------------------------ batches


def make_batch(classes: int, per_class: int, dim: int, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Unit-norm float32 embeddings (requiring grad) in class blocks, and their labels."""
    x, labels = random_batch([per_class] * classes, dim, seed=seed, dtype=torch.float32)
    return x.requires_grad_(True), labels


def batch_for(name: str, dim: int) -> tuple[Tensor, Tensor]:
    """B = 128: 32 x 4, or 64 x 2 for N-pair (which needs exactly two per class)."""
    return make_batch(64, 2, dim) if name == "npair" else make_batch(32, 4, dim)


# ------------------------------------------------------------------------- losses


def eelib_loss(name: str, labels: Tensor, n_synthetic: int = 0) -> Callable[[Tensor], Tensor]:
    """The eelib loss ``name`` as a function of the embeddings."""
    ee = {"n_synthetic": n_synthetic}
    if name == "contrastive":
        return lambda e: contrastive_loss(e, labels, margin=MARGIN["contrastive"], **ee)
    if name.startswith("triplet"):
        mining = name.split("-")[1]
        return lambda e: triplet_loss(e, labels, margin=MARGIN["triplet"], mining=mining, **ee)
    if name == "npair":
        return lambda e: npair_loss(e, labels, l2_reg=L2_REG, **ee)
    if name == "lifted":
        return lambda e: lifted_structure_loss(e, labels, margin=MARGIN["lifted"], **ee)
    return lambda e: multi_similarity_loss(e, labels, **MS, **ee)


def pml_loss(name: str, labels: Tensor) -> Callable[[Tensor], Tensor]:
    """PML configured to compute the same formula (:mod:`eelib.pml_reference`, docs/paper.md §5)."""
    if name.startswith("triplet"):
        fn = pml_reference.pml_loss("triplet", margin=MARGIN["triplet"], mining=name.split("-")[1])
    elif name == "npair":
        fn = pml_reference.pml_loss("npair", l2_reg=L2_REG)
    elif name == "ms":
        fn = pml_reference.pml_loss("multi_similarity", **MS)
    else:
        fn = pml_reference.pml_loss(name, margin=MARGIN[name])
    return lambda e: fn(e, labels)


def train_step(loss: Callable[[Tensor], Tensor], x: Tensor) -> Step:
    """Forward + backward of ``loss`` at ``x``, gradient cleared each time."""

    def step() -> None:
        x.grad = None
        loss(x).backward()

    return step


# ------------------------------------------------------------------------- timing


def interleaved_medians(steps: dict[str, Step], rounds: int, per_round: int) -> dict[str, float]:
    """Median milliseconds per call of each step, timed in alternating rounds."""
    samples: dict[str, list[float]] = {name: [] for name in steps}
    for step in steps.values():  # warm-up: allocator, thread pool, lazy imports
        for _ in range(3):
            step()
    for _ in range(rounds):
        for name, step in steps.items():
            for _ in range(per_round):
                start = time.perf_counter()
                step()
                samples[name].append(time.perf_counter() - start)
    return {name: 1e3 * statistics.median(values) for name, values in samples.items()}


# ------------------------------------------------------------------------- tables


def table(header: list[str], rows: list[list[object]]) -> str:
    """A Markdown table; floats printed with 4 significant digits."""

    def cell(value: object) -> str:
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def bench_vs_pml(rounds: int, per_round: int) -> list[dict]:
    """(a) eelib / PML, forward + backward, per loss."""
    results = []
    for name in LOSS_NAMES:
        x, labels = batch_for(name, 512)
        times = interleaved_medians(
            {"eelib": train_step(eelib_loss(name, labels), x), "pml": train_step(pml_loss(name, labels), x)},
            rounds, per_round,
        )
        results.append({"loss": name, "eelib_ms": times["eelib"], "pml_ms": times["pml"],
                        "ratio": times["eelib"] / times["pml"]})
    return results


def bench_ee_overhead(n_values: list[int], dims: list[int], rounds: int, per_round: int) -> dict[str, list[dict]]:
    """(b) time(n) / time(0) per loss, over n at D = 512 and over D at n = 2."""
    by_n, by_dim = [], []
    for name in LOSS_NAMES:
        x, labels = batch_for(name, 512)
        steps = {n: train_step(eelib_loss(name, labels, n), x) for n in [0, *n_values]}
        times = interleaved_medians({str(n): step for n, step in steps.items()}, rounds, per_round)
        by_n.append({"loss": name, "base_ms": times["0"],
                     **{f"n={n}": times[str(n)] / times["0"] for n in n_values}})
        for dim in dims:
            x, labels = batch_for(name, dim)
            times = interleaved_medians(
                {"0": train_step(eelib_loss(name, labels, 0), x), "2": train_step(eelib_loss(name, labels, 2), x)},
                rounds, per_round,
            )
            by_dim.append({"loss": name, "dim": dim, "base_ms": times["0"], "ee_ms": times["2"],
                           "extra_ms": times["2"] - times["0"], "ratio": times["2"] / times["0"]})
    return {"by_n": by_n, "by_dim": by_dim}


def bench_generation(rounds: int, per_round: int) -> dict[str, float]:
    """(c) 32 synthetic points (8 classes x 4 -> 16 pairs, n = 2) vs the triplet loss; forward only."""
    x, labels = make_batch(8, 4, 512)
    x = x.detach()

    def explicit() -> None:
        expand(x, labels, 2)

    prov = synthetic_provenance(labels, 2)
    weight, first, second = prov.weight[32:, None].float(), prov.parent_a[32:], prov.parent_b[32:]

    def arithmetic() -> None:  # pairs known in advance, as the official code's fixed swap
        F.normalize((1 - weight) * x[first] + weight * x[second], dim=1)

    def gram_path() -> None:
        expanded_inner_products(x @ x.T, synthetic_provenance(labels, 2))

    def triplet() -> None:
        triplet_loss(x, labels, margin=MARGIN["triplet"], mining="hardest")

    assert int(expand(x, labels, 2).is_synthetic.sum()) == 32
    with torch.no_grad():
        times = interleaved_medians(
            {"expand_ms": explicit, "arithmetic_ms": arithmetic, "gram_path_ms": gram_path, "triplet_ms": triplet},
            rounds, per_round,
        )
    return {**times, "expand_over_triplet": times["expand_ms"] / times["triplet_ms"],
            "arithmetic_over_triplet": times["arithmetic_ms"] / times["triplet_ms"],
            "paper_generation_ms": 0.0023, "paper_triplet_ms": 0.2734, "paper_ratio": 0.0023 / 0.2734}


def bench_ee_stages(rounds: int, per_round: int) -> dict[str, float]:
    """(d) The stages of EE's mining path (batch-hard triplet, B = 128, D = 512, n = 2)."""
    x, labels = batch_for("triplet-hardest", 512)
    gram = (x @ x.T).detach().requires_grad_(True)
    prov = synthetic_provenance(labels, 2)
    sets = expanded_sets(prov, labels.shape[0])
    inner = expanded_inner_products(gram, prov).detach().requires_grad_(True)
    squared = squared_distances_from_gram(inner).detach().requires_grad_(True)

    def backward_of(make: Callable[[], Tensor], leaf: Tensor) -> Step:
        def step() -> None:
            leaf.grad = None
            make().sum().backward()

        return step

    return interleaved_medians({
        "loss n=0": train_step(eelib_loss("triplet-hardest", labels, 0), x),
        "loss n=2": train_step(eelib_loss("triplet-hardest", labels, 2), x),
        "provenance + expanded sets (labels only)": lambda: expanded_sets(synthetic_provenance(labels, 2), 128),
        "Gram identity K = A G Aᵀ, normalised (fwd + bwd)": backward_of(
            lambda: expanded_inner_products(gram, prov), gram),
        "squared distances N x N (fwd + bwd)": backward_of(lambda: squared_distances_from_gram(inner), inner),
        "hardest pair over E(i) x E(k) (fwd + bwd)": backward_of(
            lambda: _reduce_over_sets(squared, sets, "squared_distance"), squared),
    }, rounds, per_round)


def report(results: dict) -> str:
    """All tables as one Markdown document."""
    env = results["environment"]
    parts = [
        "# Loss benchmarks",
        f"{env['date']}, torch {env['torch']}, pytorch-metric-learning {env['pml']}, "
        f"{env['threads']} threads, {env['cpus']} CPUs visible, {env['machine']}; "
        f"mode: {env['mode']}. Median ms of forward + backward unless stated.",
        "## (a) eelib vs PML (B = 128, D = 512)",
        table(["loss", "eelib ms", "PML ms", "eelib / PML", f"goal <= {GOAL_PML_RATIO}"],
              [[r["loss"], r["eelib_ms"], r["pml_ms"], r["ratio"], "met" if r["ratio"] <= GOAL_PML_RATIO else "MISSED"]
               for r in results["vs_pml"]]),
    ]
    by_n = results["ee_overhead"]["by_n"]
    n_columns = [key for key in by_n[0] if key.startswith("n=")]
    parts += [
        "## (b) EE overhead: time(n) / time(n = 0), D = 512",
        table(["loss", "n = 0 ms", *n_columns, f"n=2 goal <= {GOAL_EE_OVERHEAD}"],
              [[r["loss"], r["base_ms"], *[r[c] for c in n_columns],
                "met" if r.get("n=2", 0.0) <= GOAL_EE_OVERHEAD else "MISSED"] for r in by_n]),
        "## (b) EE overhead against the embedding dimension (n = 2)",
        "Through the Gram identity the extra work after `X Xᵀ` does not depend on D, so the "
        "extra milliseconds should stay flat while the ratio falls as D grows.",
        table(["loss", "D", "n = 0 ms", "n = 2 ms", "extra ms", "ratio"],
              [[r["loss"], r["dim"], r["base_ms"], r["ee_ms"], r["extra_ms"], r["ratio"]]
               for r in results["ee_overhead"]["by_dim"]]),
    ]
    gen = results["generation"]
    stages = results["ee_stages"]
    parts += [
        "## (c) Generating 32 synthetic points vs the triplet loss (forward only, 32 x 512)",
        "Paper numbers as reported by a secondary source (UNVERIFIED, docs/paper.md §2.2).",
        table(["what", "ms"], [
            ["`expand` (explicit points, n = 2, 16 pairs, incl. validation and pairing)", gen["expand_ms"]],
            ["interpolation + normalisation only (pairs known)", gen["arithmetic_ms"]],
            ["Gram path (`expanded_inner_products`, incl. X Xᵀ and provenance)", gen["gram_path_ms"]],
            ["batch-hard triplet loss, n = 0", gen["triplet_ms"]],
            ["ratio expand / triplet", gen["expand_over_triplet"]],
            ["ratio interpolation only / triplet", gen["arithmetic_over_triplet"]],
            ["paper: generation (UNVERIFIED)", gen["paper_generation_ms"]],
            ["paper: triplet loss (UNVERIFIED)", gen["paper_triplet_ms"]],
            ["paper: ratio", gen["paper_ratio"]],
        ]),
        "## (d) Where EE's time goes (batch-hard triplet, B = 128, D = 512, n = 2, N = 256)",
        table(["stage", "ms"], [[name, value] for name, value in stages.items()]),
    ]
    return "\n\n".join(parts) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions and configurations (~15 s)")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2)")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"output folder (default {RESULTS})")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    rounds, per_round = (3, 5) if args.quick else (8, 10)
    n_values = [1, 2, 4] if args.quick else [1, 2, 4, 8]
    dims = [64, 2048] if args.quick else [64, 512, 2048]
    results = {
        "environment": {
            "date": datetime.date.today().isoformat(), "torch": torch.__version__,
            "pml": pytorch_metric_learning.__version__, "threads": torch.get_num_threads(),
            "cpus": os.cpu_count(), "machine": platform.processor() or platform.machine(),
            "mode": "quick" if args.quick else "full", "rounds": rounds, "per_round": per_round,
        },
        "vs_pml": bench_vs_pml(rounds, per_round),
        "ee_overhead": bench_ee_overhead(n_values, dims, rounds, per_round),
        "generation": bench_generation(rounds, 20 * per_round),
        "ee_stages": bench_ee_stages(rounds, per_round),
    }
    markdown = report(results)
    print(markdown)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "losses.md").write_text(markdown)
    (args.out / "losses.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"written: {args.out / 'losses.md'} and {args.out / 'losses.json'}")


if __name__ == "__main__":
    main()
