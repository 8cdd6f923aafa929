"""Time eelib's losses at training-size batches: eelib, eelib + EE (n = 2) and PML.

Run by hand from the repository root (never collected by pytest)::

    .venv/bin/python benchmarks/bench_losses.py             # the full grid, 20-60 min on 2 busy cores
    .venv/bin/python benchmarks/bench_losses.py --quick     # B in {128, 1024}, D = 512, a few minutes
    .venv/bin/python benchmarks/bench_losses.py --compiled  # also EE with the compiled mining kernel
    .venv/bin/python benchmarks/bench_losses.py --device cuda   # on a GPU (see gpu_check.py)

Setting: for every loss, B ∈ {128, 1024, 2048, 4096} (P classes × 4; N-pair P × 2) and
D ∈ {128, 512}, float32, unit-norm random embeddings, forward + backward, one torch thread by
default. The variants of each (loss, B, D) are timed in interleaved rounds, so that load from
other processes hits them alike: eelib without EE, eelib with EE (``n_synthetic = 2``; with
``--compiled`` also with :func:`eelib.pairs.use_compiled_mining`, its compilation in the
untimed warm-up), and pytorch-metric-learning configured to compute the same formula
(:mod:`eelib.pml_reference`; skipped where PML's implementation needs more than
``--pml-limit-gb``, e.g. its lifted structure loss, which forms a positive-pairs ×
negative-pairs matrix). Every number is a median; both wall time and process CPU time (all
threads) are recorded, and the verdicts use CPU time, which moves less under load. On the
CPU, (d) times what bounds EE's cost apart: ``X Xᵀ``, N-pair's anchor-positive block and the
mining kernel's forward and backward, with the operators one block of it runs.

Peak memory is measured in a fresh child process per (loss, B, D, variant): the growth of
the resident set's high-water mark (Linux's ``VmHWM``, reset before the step) over one forward +
backward after a warm-up step, with ``MALLOC_MMAP_THRESHOLD_`` fixed so that glibc maps every
large block and unmaps it when freed. On a GPU it is ``torch.cuda.max_memory_allocated``.

Outputs: Markdown tables printed and written to ``benchmarks/results/losses.md``, every number
in ``losses.json``, and ``losses_vs_batch.png`` (time against B).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from eelib import expand, pml_reference
from eelib.data import random_batch
from eelib import pairs
from eelib.distances import squared_distances_from_gram
from eelib.expansion import expanded_inner_products, synthetic_provenance
from eelib.losses import (
    contrastive_loss,
    lifted_structure_loss,
    multi_similarity_loss,
    npair_loss,
    triplet_loss,
)

RESULTS = Path(__file__).resolve().parent / "results"
MARGIN = {"contrastive": 1.0, "triplet": 0.2, "lifted": 1.0}
MS = {"alpha": 2.0, "beta": 50.0, "base": 0.5, "epsilon": 0.1}
L2_REG = 0.002
LOSS_NAMES = ["contrastive", "triplet-all", "triplet-semihard", "triplet-hardest", "npair", "lifted", "ms"]
VARIANTS = ("eelib", "eelib+EE", "eelib+EE compiled", "PML")
#: Goals of issues 16 and 23: EE (n = 2) over the base loss, and peak memory of EE over the base.
GOAL_EE_RATIO = {128: 2.0}  # and 1.5 for every larger B, 1.25 at D = 512
GOAL_EE_RATIO_LARGE = 1.5
GOAL_EE_RATIO_LARGE_BY_DIM = {512: 1.25}
GOAL_MEMORY_RATIO = 2.0
MMAP_THRESHOLD = "131072"
#: Embedding dimensions of the bound (d): both of the full grid's, whatever part of the grid runs.
BOUND_DIMS = [128, 512]

Step = Callable[[], None]


# ------------------------------------------------------------------------ batches and losses


def make_batch(name: str, batch: int, dim: int, device: str) -> tuple[Tensor, Tensor]:
    """Unit-norm float32 embeddings (requiring grad) in class blocks of 4 (N-pair: 2), and labels."""
    per_class = 2 if name == "npair" else 4
    x, labels = random_batch([per_class] * (batch // per_class), dim, seed=batch + dim, dtype=torch.float32)
    return x.to(device).requires_grad_(True), labels.to(device)


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


def pml_bytes(name: str, batch: int) -> float:
    """A lower bound on the largest tensor PML's implementation allocates (bytes, float32 + indices)."""
    if name == "lifted":  # one row per positive pair, one column per negative pair
        positive_pairs, negative_pairs = batch * 3 / 2, batch * (batch - 4)
        return 4.0 * positive_pairs * negative_pairs
    if name in ("triplet-all", "triplet-semihard"):  # every triplet's three int64 indices
        return 3 * 8.0 * batch * 3 * (batch - 4)
    return 4.0 * batch * batch


def train_step(loss: Callable[[Tensor], Tensor], x: Tensor) -> Step:
    """Forward + backward of ``loss`` at ``x``, gradient cleared each time, synchronised on a GPU."""
    cuda = x.is_cuda

    def step() -> None:
        x.grad = None
        loss(x).backward()
        if cuda:
            torch.cuda.synchronize()

    return step


# ------------------------------------------------------------------------ timing and memory


def interleaved_medians(steps: dict[str, Step], rounds: int, per_round: int) -> dict[str, dict[str, float]]:
    """Median wall and CPU milliseconds per call of each step, timed in alternating rounds."""
    wall: dict[str, list[float]] = {name: [] for name in steps}
    cpu: dict[str, list[float]] = {name: [] for name in steps}
    for step in steps.values():  # warm-up: allocator, thread pool, caches of label patterns
        step()
    for _ in range(rounds):
        for name, step in steps.items():
            for _ in range(per_round):
                start, start_cpu = time.perf_counter(), time.process_time()
                step()
                wall[name].append(time.perf_counter() - start)
                cpu[name].append(time.process_time() - start_cpu)
    return {name: {"wall_ms": 1e3 * statistics.median(wall[name]), "cpu_ms": 1e3 * statistics.median(cpu[name])}
            for name in steps}


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as handle:
        return next(int(line.split()[1]) for line in handle if line.startswith(field + ":"))


def peak_memory_mb(step: Step, device: str) -> float:
    """Peak memory growth (MB) during one call of ``step``; see :func:`peak_memory_in_child`.

    On the CPU: Linux's high-water mark of the resident set (``VmHWM``), reset just before the
    step (writing 5 to ``/proc/self/clear_refs``), minus the resident set then. On a GPU:
    ``torch.cuda.max_memory_allocated`` minus what was allocated before.
    """
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        step()
        return (torch.cuda.max_memory_allocated() - before) / 2**20
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")
    before = _status_kb("VmRSS")
    step()
    return (_status_kb("VmHWM") - before) / 1024


def peak_memory_in_child(name: str, batch: int, dim: int, variant: str, device: str) -> float:
    """:func:`peak_memory_mb` of one step (after one warm-up step) in a fresh process.

    A fresh process, because after other steps the allocator keeps freed memory resident and
    reuses it, so the resident set no longer grows with what a step allocates; glibc's
    ``MALLOC_MMAP_THRESHOLD_`` is fixed there so that every large block is mapped and unmapped.
    """
    command = [sys.executable, __file__, "--peak-memory", name, str(batch), str(dim), variant, "--device", device,
               "--threads", str(torch.get_num_threads())]
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": MMAP_THRESHOLD}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def _peak_memory_of(name: str, batch: int, dim: int, variant: str, device: str) -> float:
    x, labels = make_batch(name, batch, dim, device)
    loss = pml_loss(name, labels) if variant == "PML" else eelib_loss(name, labels, 2 if variant == "eelib+EE" else 0)
    step = train_step(loss, x)
    step()
    return peak_memory_mb(step, device)


# ------------------------------------------------------------------------ the grid


def with_compiled_mining(step: Step) -> Step:
    """``step`` with EE's mining compiled (:func:`eelib.pairs.use_compiled_mining`), eager again after it."""

    def compiled_step() -> None:
        pairs.use_compiled_mining(True)
        try:
            step()
        finally:
            pairs.use_compiled_mining(False)

    return compiled_step


def bench_grid(sizes: list[int], dims: list[int], names: list[str], device: str, pml_limit_gb: float,
               log: Callable[[str], None], compiled: bool = False, memory: bool = True) -> list[dict]:
    """Every (loss, B, D): time and peak memory of eelib, eelib + EE (n = 2), PML and, with ``compiled``,
    eelib + EE with the compiled mining kernel (its first call, which compiles, is the untimed warm-up).
    Without ``memory`` no peak memory is measured (each measurement starts a process)."""
    rows = []
    for dim in dims:
        for batch in sizes:
            rounds, per_round = (5, 3) if batch <= 128 else (3, 1) if batch >= 2048 else (3, 2)
            for name in names:
                x, labels = make_batch(name, batch, dim, device)
                steps = {"eelib": train_step(eelib_loss(name, labels), x),
                         "eelib+EE": train_step(eelib_loss(name, labels, 2), x)}
                if compiled:
                    steps["eelib+EE compiled"] = with_compiled_mining(train_step(eelib_loss(name, labels, 2), x))
                if pml_bytes(name, batch) <= pml_limit_gb * 2**30:
                    steps["PML"] = train_step(pml_loss(name, labels), x)
                times = interleaved_medians(steps, rounds, per_round)
                row = {"loss": name, "B": batch, "D": dim}
                for variant in VARIANTS:
                    if variant in steps:
                        row[f"{variant} wall ms"] = times[variant]["wall_ms"]
                        row[f"{variant} cpu ms"] = times[variant]["cpu_ms"]
                        if memory and variant != "eelib+EE compiled":  # a fresh process would compile again
                            row[f"{variant} peak MB"] = peak_memory_in_child(name, batch, dim, variant, device)
                rows.append(row)
                log(f"  B={batch:5d} D={dim:4d} {name:17s} " + "  ".join(
                    f"{v} {row[f'{v} wall ms']:.1f} ms" for v in VARIANTS if f"{v} wall ms" in row))
    return rows


def bench_ee_against_n(batch: int, dim: int, n_values: list[int], device: str, rounds: int) -> list[dict]:
    """EE's cost against the number of synthetic points n, one size, every loss."""
    rows = []
    for name in LOSS_NAMES:
        x, labels = make_batch(name, batch, dim, device)
        steps = {str(n): train_step(eelib_loss(name, labels, n), x) for n in [0, *n_values]}
        times = interleaved_medians(steps, rounds, 1)
        base = times["0"]["cpu_ms"]
        rows.append({"loss": name, "base ms": base, **{f"n={n}": times[str(n)]["cpu_ms"] / base for n in n_values}})
    return rows


def count_kernels(fn: Callable[[], object]) -> int:
    """How many ATen operators other than views ``fn`` runs: eager kernels, each a pass over its tensors."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Counter(TorchDispatchMode):
        count = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            Counter.count += not func.is_view
            return func(*args, **(kwargs or {}))

    with Counter():
        fn()
    return Counter.count


def bench_mining_bound(sizes: list[int], dims: list[int], rounds: int) -> list[dict]:
    """What bounds EE's cost: X Xᵀ, the anchor-positive block, EE's mining forward and backward, timed apart.

    CPU time, medians of interleaved rounds: ``X Xᵀ`` forward + backward (every loss pays it),
    the N-pair base loss's ``X_a X_pᵀ`` (a quarter of it), and
    :func:`eelib.pairs.mine_in_layout` (squared distances, n = 2) on a given Gram matrix in layout order,
    forward alone and forward + backward; with the ATen operators one block of the mining runs.
    """
    rows = []
    for dim in dims:
        for batch in sizes:
            x, labels = make_batch("triplet-hardest", batch, dim, "cpu")
            layout = pairs.segment_layout(labels)
            anchors, positives = x.detach()[0::2].requires_grad_(True), x.detach()[1::2].requires_grad_(True)
            laid_out = x.detach().index_select(0, layout.rows)  # the order the losses build their matrices in
            gram_leaf = (laid_out @ laid_out.T).requires_grad_(True)
            base = squared_distances_from_gram(gram_leaf.detach(), check_finite=False)

            def mine(gram=gram_leaf):
                return pairs.mine_in_layout(gram, base, layout.is_segment, n_synthetic=2, normalize_synthetic=True,
                                            measure="squared_distance")

            def forward_backward(fn: Callable[[], Tensor], *leaves: Tensor) -> Step:
                def step() -> None:
                    for leaf in leaves:
                        leaf.grad = None
                    fn().sum().backward()
                return step

            def mine_forward() -> None:
                with torch.no_grad():
                    mine()

            steps = {"gram": forward_backward(lambda: x @ x.T, x),
                     "anchor-positive block": forward_backward(lambda: anchors @ positives.T, anchors, positives),
                     "mining forward": mine_forward,
                     "mining forward + backward": forward_backward(mine, gram_leaf)}
            times = interleaved_medians(steps, rounds, 1)
            n_pairs = batch // 2
            n_blocks = -(-n_pairs // max(1, min(n_pairs, pairs.block_elements("cpu") // batch)))
            kernels_forward = count_kernels(mine_forward)
            kernels_total = count_kernels(forward_backward(mine, gram_leaf))
            rows.append({"B": batch, "D": dim, **{f"{k} cpu ms": v["cpu_ms"] for k, v in times.items()},
                         "blocks": n_blocks, "kernels per block forward": kernels_forward / n_blocks,
                         "kernels per block backward": (kernels_total - kernels_forward) / n_blocks})
    return rows


def bench_generation(rounds: int, per_round: int) -> dict[str, float]:
    """32 synthetic points (8 classes x 4 -> 16 pairs, n = 2) vs the triplet loss; forward only."""
    x, labels = random_batch([4] * 8, 512, dtype=torch.float32)
    prov = synthetic_provenance(labels, 2)
    weight, first, second = prov.weight[32:, None].float(), prov.parent_a[32:], prov.parent_b[32:]
    steps = {
        "expand_ms": lambda: expand(x, labels, n_synthetic=2),
        "arithmetic_ms": lambda: F.normalize((1 - weight) * x[first] + weight * x[second], dim=1),
        "gram_path_ms": lambda: expanded_inner_products(x @ x.T, synthetic_provenance(labels, 2)),
        "triplet_ms": lambda: triplet_loss(x, labels, margin=MARGIN["triplet"], mining="hardest"),
    }
    with torch.no_grad():
        times = {k: v["wall_ms"] for k, v in interleaved_medians(steps, rounds, per_round).items()}
    return {**times, "expand_over_triplet": times["expand_ms"] / times["triplet_ms"],
            "arithmetic_over_triplet": times["arithmetic_ms"] / times["triplet_ms"],
            "paper_generation_ms": 0.0023, "paper_triplet_ms": 0.2734, "paper_ratio": 0.0023 / 0.2734}


# ------------------------------------------------------------------------ report


def table(header: list[str], rows: list[list[object]]) -> str:
    """A Markdown table; floats printed with 3 significant digits."""

    def cell(value: object) -> str:
        return f"{value:.3g}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def goal(batch: int, dim: int) -> float:
    return GOAL_EE_RATIO.get(batch, GOAL_EE_RATIO_LARGE_BY_DIM.get(dim, GOAL_EE_RATIO_LARGE))


def ratio(row: dict, numerator: str, denominator: str, unit: str) -> float | str:
    key_n, key_d = f"{numerator} {unit}", f"{denominator} {unit}"
    if key_n not in row or key_d not in row or row[key_d] <= 0:
        return "n/a"
    return row[key_n] / row[key_d]


def grid_tables(rows: list[dict]) -> list[str]:
    parts = []
    compiled = any("eelib+EE compiled cpu ms" in r for r in rows)
    for dim in sorted({r["D"] for r in rows}):
        body = []
        for r in (r for r in rows if r["D"] == dim):
            ee_cpu = ratio(r, "eelib+EE", "eelib", "cpu ms")
            verdict = "met" if isinstance(ee_cpu, float) and ee_cpu <= goal(r["B"], r["D"]) else "MISSED"
            body.append([r["loss"], r["B"], r["eelib cpu ms"], ee_cpu, ratio(r, "eelib+EE", "eelib", "wall ms"),
                         f"≤ {goal(r['B'], r['D'])}: {verdict}",
                         *([ratio(r, "eelib+EE compiled", "eelib", "cpu ms")] if compiled else []),
                         ratio(r, "eelib", "PML", "cpu ms"), ratio(r, "eelib", "PML", "wall ms"),
                         ratio(r, "eelib+EE", "PML", "cpu ms"), r.get("eelib peak MB", "n/a"),
                         ratio(r, "eelib+EE", "eelib", "peak MB")])
        parts += [f"### D = {dim}", table(
            ["loss", "B", "eelib CPU ms", "EE / eelib (CPU)", "EE / eelib (wall)", "goal (CPU)",
             *(["EE compiled / eelib (CPU)"] if compiled else []), "eelib / PML (CPU)", "eelib / PML (wall)",
             "EE / PML (CPU)", "eelib peak MB", "EE / eelib peak memory"], body)]
    return parts


def report(results: dict) -> str:
    env = results["environment"]
    parts = [
        "# Loss benchmarks",
        f"{env['date']}, torch {env['torch']}, pytorch-metric-learning {env['pml']}, device {env['device']}, "
        f"{env['threads']} threads, {env['cpus']} CPUs visible, load average {env['load_before']} before and "
        f"{env['load_after']} after; {env['seconds']:.0f} s. Forward + backward, medians of interleaved "
        "rounds. Ratios: EE / eelib is eelib with n = 2 over eelib with n = 0 (goal "
        f"≤ {GOAL_EE_RATIO[128]:g} at B = 128, ≤ {GOAL_EE_RATIO_LARGE:g} above, ≤ {GOAL_EE_RATIO_LARGE_BY_DIM[512]:g} "
        "there at D = 512, on CPU time); eelib / PML below 1 means "
        f"eelib is faster; peak memory goal ≤ {GOAL_MEMORY_RATIO:g}.",
        "## (a) Time and memory against the batch size",
        *grid_tables(results["grid"]),
    ]
    if results.get("ee_against_n"):
        by_n = results["ee_against_n"]
        n_columns = [key for key in by_n[0] if key.startswith("n=")]
        spec = results["ee_against_n_setting"]
        parts += [f"## (b) EE's cost against n (B = {spec['B']}, D = {spec['D']}, CPU time / n = 0)",
                  table(["loss", "n = 0 ms", *n_columns], [[r["loss"], r["base ms"], *[r[c] for c in n_columns]]
                                                          for r in by_n])]
    if results.get("generation"):
        gen = results["generation"]
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
                ["paper: ratio generation / triplet (UNVERIFIED)", gen["paper_ratio"]],
            ]),
        ]
    if results.get("bound"):
        parts += [
            "## (d) What bounds EE's cost (CPU time, ms; mining: squared distances, n = 2, on a given Gram matrix)",
            table(["B", "D", "X Xᵀ fwd + bwd", "X_a X_pᵀ fwd + bwd (N-pair base)", "mining fwd", "mining fwd + bwd",
                   "blocks", "ATen ops per block fwd", "ATen ops per block bwd"],
                  [[r["B"], r["D"], r["gram cpu ms"], r["anchor-positive block cpu ms"], r["mining forward cpu ms"],
                    r["mining forward + backward cpu ms"], r["blocks"], r["kernels per block forward"],
                    r["kernels per block backward"]] for r in results["bound"]]),
        ]
    return "\n\n".join(parts) + "\n"


def plot(rows: list[dict], path: Path) -> None:
    """Time against B, one panel per loss, D = 512 solid and D = 128 dashed."""
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n in LOSS_NAMES if any(r["loss"] == n for r in rows)]
    fig, axes = plt.subplots(2, (len(names) + 1) // 2, figsize=(3.3 * ((len(names) + 1) // 2), 6.4), squeeze=False)
    colors = {"eelib": "C0", "eelib+EE": "C3", "eelib+EE compiled": "C1", "PML": "C7"}
    for ax, name in zip(axes.flat, names):
        for dim, style in ((512, "-"), (128, "--")):
            for variant in VARIANTS:
                points = sorted((r["B"], r[f"{variant} wall ms"]) for r in rows
                                if r["loss"] == name and r["D"] == dim and f"{variant} wall ms" in r)
                if points:
                    ax.plot(*zip(*points), style, marker="o", ms=3, color=colors[variant],
                            label=f"{variant}, D = {dim}")
        ax.set(xscale="log", yscale="log", title=name, xlabel="batch size B", ylabel="ms (fwd + bwd)")
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.set_xticks(sorted({r["B"] for r in rows}), [str(b) for b in sorted({r["B"] for r in rows})])
    for ax in axes.flat[len(names):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=6)
    fig.suptitle("forward + backward time against the batch size (log-log)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="B in {128, 1024}, D = 512, no n sweep")
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 1024, 2048, 4096])
    parser.add_argument("--dims", type=int, nargs="+", default=[128, 512])
    parser.add_argument("--losses", nargs="+", default=LOSS_NAMES, choices=LOSS_NAMES)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads (default 1: on a shared machine a second thread's waits land on "
                             "whichever variant runs; see benchmarks/README.md)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--pml-limit-gb", type=float, default=2.0,
                        help="skip PML where its largest tensor would exceed this (default 2 GB)")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"output folder (default {RESULTS})")
    parser.add_argument("--compiled", action="store_true",
                        help="also time eelib + EE with the compiled mining kernel (eelib.pairs.use_compiled_mining)")
    parser.add_argument("--no-memory", action="store_true",
                        help="skip the peak-memory measurements (a process each: slow on a loaded machine)")
    parser.add_argument("--grid-only", action="store_true",
                        help="only the grid (a): no n sweep, generation or bound (to run the grid in parts)")
    parser.add_argument("--peak-memory", nargs=4, metavar=("LOSS", "B", "D", "VARIANT"),
                        help="(used by the script itself) print the peak memory of one step and exit")
    args = parser.parse_args()
    if args.peak_memory:
        torch.set_num_threads(args.threads)
        name, batch, dim, variant = args.peak_memory
        print(_peak_memory_of(name, int(batch), int(dim), variant, args.device))
        return

    import pytorch_metric_learning

    torch.set_num_threads(args.threads)
    sizes, dims = ([128, 1024], [512]) if args.quick else (args.sizes, args.dims)
    start, load_before = time.perf_counter(), round(os.getloadavg()[0], 1)
    grid = bench_grid(sizes, dims, args.losses, args.device, args.pml_limit_gb, log=lambda line: print(line, flush=True),
                      compiled=args.compiled, memory=not args.no_memory)
    results = {
        "grid": grid,
        "ee_against_n": [] if args.quick or args.grid_only else bench_ee_against_n(1024, 512, [1, 2, 4, 8],
                                                                                   args.device, 3),
        "ee_against_n_setting": {"B": 1024, "D": 512},
        "generation": None if args.device != "cpu" or args.grid_only else bench_generation(5, 20),
        "bound": [] if args.device != "cpu" or args.grid_only else bench_mining_bound(sizes, BOUND_DIMS, 3),
    }
    results["environment"] = {
        "date": datetime.date.today().isoformat(), "torch": torch.__version__,
        "pml": pytorch_metric_learning.__version__, "threads": torch.get_num_threads(), "device": args.device,
        "cpus": os.cpu_count(), "machine": platform.processor() or platform.machine(),
        "load_before": load_before, "load_after": round(os.getloadavg()[0], 1),
        "seconds": time.perf_counter() - start, "mode": "quick" if args.quick else "full",
    }
    markdown = report(results)
    print(markdown)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "losses.md").write_text(markdown)
    (args.out / "losses.json").write_text(json.dumps(results, indent=2) + "\n")
    plot(grid, args.out / "losses_vs_batch.png")
    print(f"written: {args.out / 'losses.md'}, losses.json and losses_vs_batch.png")


if __name__ == "__main__":
    main()
