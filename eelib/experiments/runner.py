"""The paper's experiments at laptop scale, with paired statistics: ``python -m eelib.experiments --help``.

Protocol (Ko & Gu 2020 §4; docs/paper.md §4.1): train on the first half of the classes,
evaluate retrieval and clustering on the unseen second half. Each of the paper's loss
rows runs without and with EE (n = 2) over ≥ 10 seeds, and once more without EE from a
second stream of initial weights and batch orders (the A/A control); within a seed both runs share the
data, the initialisation and the batch order, so they are compared *pair by pair*
(:mod:`eelib.experiments.inference`, one verdict rule, Holm-adjusted per table and metric). Offline data sets
(:mod:`eelib.experiments.protocol`): ``latent``, ``latent-240`` (many classes, few samples,
trained longer), ``glyphs`` (characters rendered from matplotlib's
fonts), ``digits`` (five training classes, nearly solved by raw pixels). On the analysis data set the runner also
sweeps n and runs the paper's analyses: normalisation on/off, EE without HNPM, a
DAML-style generator, the synthetic share of hardest negatives against chance, heat maps
measured like with like, synthetic labels with a control, occlusion (image data sets),
peak memory and time. With ``--data-dir`` the main grid runs on a real CUB-200-2011 /
CARS196 / SOP folder with an image model.

Outputs (a new folder; an existing one only with ``--force``, replaced atomically at the
end): ``per_seed.csv``, ``paired.csv``, ``ablations_per_seed.csv``,
``ablations_paired.csv``, ``aa_per_seed.csv``, ``aa_paired.csv``, ``training.csv``, ``synthetic_share.csv``, ``heatmaps.csv``,
``synthetic_labels.csv``, ``occlusion.csv``, ``memory.csv``/``.md``,
``timing.json``/``.md``, ``summary.json``, ``results.md`` (the account, generated from the
tables) and the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from functools import partial
from multiprocessing import get_context
from pathlib import Path

import matplotlib
import torch
from tqdm.auto import tqdm

from eelib.data import DataSplit
from eelib.experiments import committed_results
from eelib.experiments.expansion_analyses import candidate_synthetic_share, random_synthetic_share
from eelib.experiments.arguments import finite_number, int_at_least
from eelib.experiments.costs import memory_table, timing_table
from eelib.experiments.benchmark_folders import BENCHMARKS, load_benchmark
from eelib.experiments.models import IMAGE_MODELS, image_embedder
from eelib.experiments.protocol import (
    DATASETS,
    METHOD_BY_NAME,
    METHODS,
    SECOND_STREAM,
    DataSpec,
    Run,
    RunResult,
    execute,
)
from eelib.experiments.report import verdict_section, write_report
from eelib.experiments.tables import Tables

#: The paper's Table 1 (%, docs/paper.md §4): Recall@1, NMI and F1 per data set.
PAPER_TABLE = {
    "Triplet": {"CUB": (35.9, 49.8, 15.0), "CARS": (45.1, 52.9, 17.9), "SOP": (53.9, 86.3, 20.2)},
    "EE + Triplet": {"CUB": (44.3, 55.7, 22.4), "CARS": (57.2, 60.3, 25.1), "SOP": (62.4, 87.4, 24.8)},
    "Triplet†": {"CUB": (48.3, 58.1, 24.2), "CARS": (60.3, 57.4, 22.6), "SOP": (75.5, 91.4, 43.3)},
    "EE + Triplet†": {"CUB": (51.7, 60.5, 27.0), "CARS": (71.6, 63.1, 32.0), "SOP": (77.2, 91.5, 43.6)},
    "N-pair": {"CUB": (51.9, 60.2, 28.2), "CARS": (68.9, 62.7, 31.8), "SOP": (66.4, 87.9, 27.1)},
    "EE + N-pair": {"CUB": (55.2, 62.7, 32.4), "CARS": (72.5, 63.4, 32.6), "SOP": (73.5, 90.6, 38.8)},
    "Lifted-Struct": {"CUB": (46.9, 56.4, 22.6), "CARS": (59.9, 57.8, 25.1), "SOP": (62.6, 87.2, 25.3)},
    "EE + Lifted-Struct": {"CUB": (54.2, 61.2, 28.2), "CARS": (65.2, 59.1, 27.2), "SOP": (70.6, 89.6, 35.3)},
    "MS": {"CUB": (56.2, 62.8, 31.2), "CARS": (74.9, 62.4, 30.2), "SOP": (75.9, 91.3, 42.7)},
    "EE + MS": {"CUB": (57.4, 63.3, 32.5), "CARS": (75.8, 63.5, 32.8), "SOP": (78.1, 91.9, 46.1)},
    "DAML (Triplet)": {"CUB": (37.6, 51.3, 17.6), "CARS": (60.6, 56.5, 22.9), "SOP": (58.1, 87.1, 22.3)},
    "HDML (Triplet)": {"CUB": (43.6, 55.1, 21.9), "CARS": (61.0, 59.4, 27.2), "SOP": (58.5, 87.2, 22.5)},
    "DAML (N-pair)": {"CUB": (52.7, 61.3, 29.5), "CARS": (75.1, 66.0, 36.4), "SOP": (68.4, 89.4, 32.4)},
    "HDML (N-pair)": {"CUB": (53.7, 62.6, 31.6), "CARS": (79.1, 69.7, 41.6), "SOP": (68.7, 89.3, 32.2)},
}

#: The ablations: (variant, losses) run on the analysis data set with n = 2 (the generator: n = 0).
ABLATIONS = (("not normalised", ("Triplet†", "MS")), ("without HNPM", ("Triplet†", "MS")), ("generator", ("Triplet†",)))

#: The largest n the sweep accepts (the expanded batch grows as (1 + n/2)²).
MAX_N = 16


@dataclass(frozen=True)
class Config:
    """What an offline experiment runs; :meth:`quick` is a reduced run for tests and demos."""

    seeds: int = 10
    datasets: tuple[str, ...] = ("latent", "latent-240", "glyphs", "digits")
    analysis_dataset: str | None = "latent-240"  # None: no n sweep and no analyses
    methods: tuple[str, ...] = tuple(method.name for method in METHODS)
    n_values: tuple[int, ...] = (0, 1, 2, 4, 8)
    epochs: int | None = None  # None: each data set's own
    classes_per_batch: int | None = None  # None: each data set's own
    lr: float = 1e-3
    weight_decay: float = 0.0
    device: str = "cpu"
    timing_steps: int = 30
    memory_n_values: tuple[int, ...] = (0, 2, 4, 8)
    baseline_batches: int = 200  # random batches behind the chance baseline of the synthetic share
    umap: bool = True

    @classmethod
    def quick(cls) -> Config:
        return cls(seeds=2, datasets=("latent",), analysis_dataset="latent", n_values=(0, 2), epochs=2,
                   timing_steps=3, memory_n_values=(0, 2), baseline_batches=20, umap=False)


@dataclass
class Execution:
    """How the runs are executed: worker processes, torch threads each, a progress bar."""

    workers: int = 1
    threads: int = 1
    progress: bool = True


# --- planning and executing the runs -------------------------------------------------------


def plan(config: Config) -> list[Run]:
    """Every run of an experiment: the main grid, the A/A control, the n sweep and the ablations.

    The A/A control retrains every run without EE of the main grid from a second stream of
    initial weights and batch orders (variant :data:`~eelib.experiments.protocol.SECOND_STREAM`),
    on the same data and seeds.
    """
    def run(dataset: str, method: str, n: int, seed: int, variant: str = "", **flags) -> Run:
        spec = DATASETS[dataset]
        return Run(dataset, method, n, seed, epochs=config.epochs or spec.epochs,
                   classes_per_batch=config.classes_per_batch or spec.classes_per_batch, variant=variant,
                   lr=config.lr, weight_decay=config.weight_decay, device=config.device, **flags)

    runs = []
    analysis = config.analysis_dataset
    for dataset in config.datasets:
        for method in config.methods:
            n_values = set(config.n_values) | {0, 2} if dataset == analysis and method == "Triplet†" else {0, 2}
            for n in sorted(n_values):
                for seed in range(config.seeds):
                    probe = dataset == analysis and method == "Triplet†" and n in (0, 2)
                    runs.append(run(dataset, method, n, seed, probes=probe,
                                    keep_embeddings=probe and seed == 0 and config.umap))
            runs += [run(dataset, method, 0, seed, SECOND_STREAM) for seed in range(config.seeds)]
    if analysis is not None:
        for variant, losses in ABLATIONS:
            for method in (m for m in losses if m in config.methods):
                for seed in range(config.seeds):
                    runs.append(run(analysis, method, 0 if variant == "generator" else 2, seed, variant))
    return runs


@contextmanager
def torch_threads(threads: int):
    """Run a block with ``threads`` torch threads, restoring the previous count."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _init_worker(threads: int) -> None:
    torch.set_num_threads(threads)


def execute_all(runs: Sequence[Run], execution: Execution,
                task: Callable[[Run], RunResult] = execute) -> list[RunResult]:
    """Execute runs in this process or in worker processes, with one progress bar and its ETA.

    ``task`` trains one run (default :func:`~eelib.experiments.protocol.execute` on the
    offline data sets); with several workers it must be picklable.
    """
    order = list(runs)
    random.Random(0).shuffle(order)  # mixes cheap and costly runs, so the bar's ETA is fair
    bar = tqdm(total=len(order), desc="training runs", unit="run", disable=not execution.progress, smoothing=0.05)
    results = []
    try:
        if execution.workers == 1:
            with torch_threads(execution.threads):
                for run in order:
                    results.append(task(run))
                    bar.update()
        else:
            with ProcessPoolExecutor(execution.workers, mp_context=get_context("spawn"), initializer=_init_worker,
                                     initargs=(execution.threads,)) as pool:
                futures = [pool.submit(task, run) for run in order]
                try:
                    for future in as_completed(futures):
                        results.append(future.result())
                        bar.update()
                except BaseException:
                    for future in futures:
                        future.cancel()
                    raise
    finally:
        bar.close()
    return results


# --- one offline experiment ------------------------------------------------------------------


def share_baselines(results: Sequence[RunResult], batches: int = 200) -> dict:
    """Chance baselines of the synthetic share for every (data set, loss) trained with EE, n = 2."""
    out, cache = {}, {}
    for result in results:
        run = result.run
        if run.variant or run.n_synthetic != 2:
            continue
        k = METHOD_BY_NAME[run.method].samples_per_class
        layout = (run.classes_per_batch, k, DATASETS[run.dataset].embedding_dim)
        if layout not in cache:
            labels = torch.arange(layout[0]).repeat_interleave(k)
            cache[layout] = {"candidates": round(candidate_synthetic_share(labels, 2), 6),
                             "random": round(random_synthetic_share(*layout[:2], 2, layout[2], batches=batches), 6)}
        out[f"{run.dataset}/{run.method}"] = cache[layout]
    return out


def heatmap_matrices(results: Sequence[RunResult]) -> dict:
    """Seed 0's class-distance matrices, keyed ``"n/epoch/measured_with"`` (JSON-friendly)."""
    return {f"{r.run.n_synthetic}/{epoch}/{measured_with}": matrix for r in results if r.heatmap_matrices
            for (epoch, measured_with), matrix in r.heatmap_matrices.items()}


def umap_figure(results: Sequence[RunResult], out: Path) -> None:
    """UMAP of the unseen test classes' embeddings, Triplet† vs EE + Triplet† (seed 0)."""
    import matplotlib.pyplot as plt
    import numpy as np
    import umap

    kept = sorted((r for r in results if r.embeddings is not None), key=lambda r: r.run.n_synthetic)
    fig, axes = plt.subplots(1, len(kept), figsize=(4.5 * len(kept), 4), squeeze=False)
    for ax, result in zip(axes[0], kept):
        points = umap.UMAP(random_state=0, n_neighbors=15).fit_transform(np.array(result.embeddings))
        ax.scatter(points[:, 0], points[:, 1], c=result.labels, cmap="tab20", s=5)
        ax.set(title=("EE + " if result.run.n_synthetic else "") + f"Triplet† ({result.run.dataset})",
               xlabel="UMAP 1", ylabel="UMAP 2")
    fig.suptitle("unseen test classes, UMAP of the learned embedding (seed 0)")
    fig.tight_layout()
    fig.savefig(out / "umap.png", dpi=70)
    plt.close(fig)


def _cpu_seconds() -> float:
    """CPU time of this process and of its waited-for children (worker processes)."""
    try:
        import resource
    except ImportError:  # not on Windows: this process only
        return time.process_time()
    return sum(resource.getrusage(who).ru_utime + resource.getrusage(who).ru_stime
               for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"


def run_offline(config: Config, out: Path, execution: Execution | None = None, *, log=print) -> Tables:
    """Run an offline experiment and write every table, figure and ``results.md`` into ``out``.

    ``out`` must exist; :func:`main` hands over a fresh temporary folder and renames it at
    the end. Returns the tables.
    """
    execution = execution or Execution()
    matplotlib.use("Agg")
    runs = plan(config)
    wall, cpu, load_before = time.perf_counter(), _cpu_seconds(), _load()
    log(f"{len(runs)} training runs on {execution.workers} worker(s) × {execution.threads} thread(s)")
    results = execute_all(runs, execution)
    grid_wall, grid_cpu = time.perf_counter() - wall, _cpu_seconds() - cpu
    tables = Tables.from_runs(results)
    tables.write(out)
    matrices = heatmap_matrices(results)
    (out / "heatmaps.json").write_text(json.dumps(matrices), encoding="utf-8")
    log("timing, memory, figures")
    summary = {
        "config": asdict(config),
        "run": {"runs": len(runs), "wall_seconds": round(grid_wall, 1), "cpu_seconds": round(grid_cpu, 1),
                "workers": execution.workers, "threads": execution.threads, "load_before": load_before,
                "load_after": _load(), "cpus": os.cpu_count(), "python": platform.python_version(),
                "torch": torch.__version__, "machine": platform.machine()},
        "synthetic_share_baselines": share_baselines(results, config.baseline_batches),
        "timing": timing_table(out, steps=config.timing_steps, threads=execution.threads),
    }
    memory_table(out, n_values=config.memory_n_values)
    write_report(out, tables, summary, matrices)
    if config.umap and any(r.embeddings is not None for r in results):
        umap_figure(results, out)
    summary["run"]["total_wall_seconds"] = round(time.perf_counter() - wall, 1)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False), encoding="utf-8")
    return tables


def load_benchmark_split(name: str, data_dir: Path, image_size: int) -> DataSplit:
    """A benchmark folder's training and test splits, as :func:`run_benchmark` uses them."""
    train = load_benchmark(name, data_dir, "train", image_size)
    test = load_benchmark(name, data_dir, "test", image_size)
    return DataSplit(x_train=train, y_train=train.labels, x_test=test, y_test=test.labels)


def run_benchmark(name: str, data_dir: Path, data: DataSplit, config: Config, out: Path, *, model_kind: str,
                  execution: Execution | None = None) -> Tables:
    """The main grid (every loss without and with EE, paired over seeds) on a benchmark folder.

    ``data`` comes from :func:`load_benchmark_split`; the runs train one after another in this
    process (``execution.workers`` is not used: image data sets stay in one process).
    """
    execution = replace(execution or Execution(), workers=1)
    embedding_dim = 64 if model_kind == "small-cnn" else 512
    n_train_classes = int(torch.unique(data.y_train).numel())
    spec = DataSpec(name, f"{name} folder {data_dir}", n_train_classes, config.epochs or 10, (),
                    classes_per_batch=min(config.classes_per_batch or 8, n_train_classes), embedding_dim=embedding_dim)
    runs = [Run(name, method, n, seed, spec.epochs, spec.classes_per_batch, lr=config.lr,
                weight_decay=config.weight_decay, device=config.device)
            for method in config.methods for n in (0, 2) for seed in range(config.seeds)]
    task = partial(execute, spec=spec, data=data, model_factory=partial(image_embedder, model_kind, embedding_dim))
    tables = Tables.from_runs(execute_all(runs, execution, task))
    tables.write(out)
    (out / "results.md").write_text(verdict_section(tables) + "\n", encoding="utf-8")
    return tables


# --- the command line ------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m eelib.experiments", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--out", type=Path,
                        help="output folder, which must not exist or be empty (default: a new folder "
                             "experiment-runs/<UTC time>)")
    parser.add_argument("--force", action="store_true", help="replace an existing --out folder (atomically, at the end)")
    parser.add_argument("--quick", action="store_true",
                        help="a reduced run for demos and tests: latent data, 2 seeds, 2 epochs, n in {0, 2}")
    parser.add_argument("--seeds", type=int_at_least(2), help="paired seeds per configuration (default 10)")
    parser.add_argument("--epochs", type=int_at_least(1), help="training epochs of every data set "
                        "(default: each data set's own: latent and digits 10, latent-240 and glyphs 40)")
    parser.add_argument("--lr", type=finite_number(0, strict=True), help="Adam's learning rate (default 1e-3)")
    parser.add_argument("--weight-decay", type=finite_number(0, strict=False), help="Adam's weight decay (default 0)")
    parser.add_argument("--classes-per-batch", type=int_at_least(2),
                        help="P of the P x K batches (default: 8; digits 5)")
    parser.add_argument("--datasets", nargs="+", choices=list(DATASETS), help="offline data sets (default: all four)")
    parser.add_argument("--analysis-dataset", choices=list(DATASETS),
                        help="data set of the n sweep and the analyses (default latent-240; must be in --datasets)")
    parser.add_argument("--no-analyses", action="store_true", help="only the main grid: no n sweep, no analyses")
    parser.add_argument("--methods", nargs="+", choices=[m.name for m in METHODS], help="loss rows (default: all five)")
    parser.add_argument("--n-values", nargs="+", type=int_at_least(0),
                        help=f"n of the sweep (default 0 1 2 4 8; at most {MAX_N})")
    parser.add_argument("--timing-steps", type=int_at_least(1), help="timed training steps (default 30)")
    parser.add_argument("--no-umap", action="store_true", help="skip the UMAP figure (its first fit compiles UMAP's numba code)")
    parser.add_argument("--workers", type=int_at_least(1), default=min(2, os.cpu_count() or 1),
                        help="worker processes for the training runs")
    parser.add_argument("--threads", type=int_at_least(1), default=1,
                        help="torch threads per worker (the offline models are tiny: more threads only contend)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:1, mps")
    parser.add_argument("--data-dir", type=Path, help="a real benchmark folder; needs --dataset")
    parser.add_argument("--dataset", choices=list(BENCHMARKS), help="the benchmark in --data-dir")
    parser.add_argument("--model", default="small-cnn", choices=list(IMAGE_MODELS),
                        help="image model for --data-dir (pretrained ones need torchvision)")
    parser.add_argument("--image-size", type=int_at_least(16), default=227, help="image side for --data-dir")
    return parser


def _check_device(parser: argparse.ArgumentParser, text: str) -> str:
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        parser.error(f"--device: {text!r} is not a torch device (expected cpu, cuda, cuda:<index> or mps)")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            parser.error(f"--device {text}: this torch sees no CUDA GPU (torch.cuda.is_available() is False; "
                         f"torch {torch.__version__}, CUDA build: {torch.version.cuda is not None}); use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            parser.error(f"--device {text}: only {torch.cuda.device_count()} CUDA device(s) are visible")
    elif device.type == "mps":
        if not torch.backends.mps.is_available():
            parser.error(f"--device {text}: the MPS backend is not available on this machine; use --device cpu")
    elif device.type != "cpu":
        parser.error(f"--device: device type {device.type!r} is not supported (cpu, cuda, mps)")
    return text


def _check_out(parser: argparse.ArgumentParser, out: Path | None, force: bool) -> Path:
    if out is None:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
        out = Path("experiment-runs") / stamp
    out = out.expanduser().resolve()
    if out.exists():
        if not out.is_dir():
            parser.error(f"--out {out} is a file, not a folder")
        if any(out.iterdir()) and not force:
            what = "the committed results" if out == Path(str(committed_results())).resolve() else "a folder that is not empty"
            parser.error(f"--out {out} is {what}; choose a new folder, or pass --force to replace it")
    ancestor = out.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir() or not os.access(ancestor, os.W_OK):
        parser.error(f"--out {out}: cannot create it, {ancestor} is not a writable folder")
    return out


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse and check every argument; a problem ends the program with an argparse error, before any work."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if (args.data_dir is None) != (args.dataset is None):
        parser.error("--data-dir and --dataset go together")
    if args.data_dir is not None and not args.data_dir.is_dir():
        parser.error(f"--data-dir {args.data_dir} does not exist or is not a folder")
    args.device = _check_device(parser, args.device)
    args.out = _check_out(parser, args.out, args.force)
    base = Config.quick() if args.quick else Config()
    overrides = {key: getattr(args, key) for key in ("seeds", "epochs", "lr", "weight_decay", "classes_per_batch",
                                                     "timing_steps") if getattr(args, key) is not None}
    for key in ("datasets", "methods", "n_values"):
        if getattr(args, key) is not None:
            overrides[key] = tuple(dict.fromkeys(getattr(args, key)))
    if args.analysis_dataset is not None:
        overrides["analysis_dataset"] = args.analysis_dataset
    elif "datasets" in overrides and base.analysis_dataset not in overrides["datasets"]:
        overrides["analysis_dataset"] = overrides["datasets"][0]
    if args.no_analyses:
        overrides["analysis_dataset"] = None
    if args.no_umap:
        overrides["umap"] = False
    config = replace(base, device=args.device, **overrides)
    if config.analysis_dataset is not None and config.analysis_dataset not in config.datasets:
        parser.error(f"--analysis-dataset {config.analysis_dataset} must be one of --datasets {list(config.datasets)}")
    if max(config.n_values) > MAX_N:
        parser.error(f"--n-values: n must be at most {MAX_N} (the expanded batch grows as (1 + n/2)²), "
                     f"got {max(config.n_values)}")
    if args.data_dir is None:
        for name in config.datasets:
            p = config.classes_per_batch or DATASETS[name].classes_per_batch
            if p > DATASETS[name].n_train_classes:
                parser.error(f"--classes-per-batch {p} cannot fit {name}: it has only "
                             f"{DATASETS[name].n_train_classes} training classes")
    args.config = config
    args.parser = parser
    return args


@contextmanager
def atomic_folder(out: Path):
    """Yield a fresh temporary folder next to ``out``; on success it replaces ``out``, on failure it is removed."""
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    try:
        yield temporary
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    old = None
    if out.exists():
        old = out.parent / f"{temporary.name[:-len('.partial')]}.old"
        out.rename(old)
    temporary.rename(out)
    if old is not None:
        shutil.rmtree(old)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    execution = Execution(workers=args.workers, threads=args.threads, progress=not args.no_progress)
    if args.data_dir is not None:
        try:  # only reading the folder: an error while training is not an argument problem
            data = load_benchmark_split(args.dataset, args.data_dir, args.image_size)
        except (FileNotFoundError, ValueError) as error:
            args.parser.error(f"--data-dir {args.data_dir}: {error}")
    with atomic_folder(args.out) as folder:
        if args.data_dir is not None:
            run_benchmark(args.dataset, args.data_dir, data, args.config, folder, model_kind=args.model,
                          execution=execution)
        else:
            run_offline(args.config, folder, execution)
    print(f"results written to {args.out}", file=sys.stderr)
    return 0


__all__ = ["ABLATIONS", "Config", "Execution", "PAPER_TABLE", "atomic_folder", "execute_all", "main",
           "load_benchmark_split", "parse_args", "plan", "run_benchmark", "run_offline"]
