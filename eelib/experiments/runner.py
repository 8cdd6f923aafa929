"""The paper's experiments at laptop scale: ``python -m eelib.experiments --help``.

Protocol (Ko & Gu 2020 §4; docs/paper.md §4.1): train on the first half of the classes,
evaluate retrieval and clustering on the unseen second half (Recall@K, NMI, F1), each loss
without and with EE (n = 2), over several seeds, reported as mean ± std. Offline data sets:
``latent`` (:func:`eelib.data.make_latent_classes`, 40 classes) and ``digits``
(scikit-learn's digits, 0–4 vs 5–9). With ``--data-dir`` the same protocol runs on the
real CUB-200-2011 / CARS196 / SOP folders with an image model (on a GPU: ``--device cuda``).

Outputs, in ``--out`` (default ``results/``): ``results.csv``, ``results.json``,
``results.md`` (laid out like the paper's table), ``heatmaps.png``, ``recall_vs_n.png``,
``synthetic_share.png``, ``synthetic_labels.json``/``.png``, ``timing.md``/``timing.json``,
``umap.png`` (offline sets only).
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import torch
from torch import Tensor, nn

from eelib.analysis import class_distance_matrix
from eelib.course.figures import plot_distance_heatmap
from eelib.course.style import apply_course_style, class_color
from eelib.data import DataSplit, PKSampler, load_digits_split, make_latent_classes, split_dataset
from eelib.expansion import expand, synthetic_provenance
from eelib.experiments.generators import time_training_steps
from eelib.experiments.models import MLPEmbedder, SmallConvEmbedder, pretrained_backbone_embedder
from eelib.experiments.timing import median_ms
from eelib.experiments.train import embed, fit
from eelib.losses import triplet_loss
from eelib.metrics import evaluate_embeddings, recall_at_k


@dataclass(frozen=True)
class Method:
    """One row group of the paper's table: a loss, its settings, and its batch shape."""

    name: str
    loss: str
    kwargs: dict
    samples_per_class: int = 4


#: The paper's rows (Table 1): "Triplet" (all triplets), "Triplet†" (HPHN, batch-hard),
#: N-pair, Lifted-Struct and MS; each is run without and with EE.
METHODS = (
    Method("Triplet", "triplet", {"margin": 0.2, "mining": "all"}),
    Method("Triplet†", "triplet", {"margin": 0.2, "mining": "hardest"}),
    Method("N-pair", "npair", {}, samples_per_class=2),
    Method("Lifted-Struct", "lifted", {"margin": 1.0}),
    Method("MS", "multi_similarity", {}),
)
METRICS = ("R@1", "R@2", "R@4", "R@8", "NMI", "F1")

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


@dataclass(frozen=True)
class Config:
    """Sizes and optimiser settings of a run; ``quick`` shrinks everything for a live demo or a test."""

    seeds: int = 3
    epochs: int = 10
    classes_per_batch: int = 8
    n_values: tuple[int, ...] = (0, 1, 2, 4, 8)
    timing_steps: int = 30
    lr: float = 1e-3
    weight_decay: float = 0.0

    @classmethod
    def quick(cls) -> Config:
        return cls(seeds=1, epochs=3, n_values=(0, 2), timing_steps=5)


def offline_data(name: str) -> DataSplit:
    """The offline data sets: ``latent`` or ``digits``."""
    if name == "latent":
        return split_dataset(*make_latent_classes(seed=0))
    if name == "digits":
        return load_digits_split()
    raise ValueError(f"dataset must be 'latent' or 'digits' for offline runs, got {name!r}")


def make_model(kind: str, in_dim: int, embedding_dim: int) -> nn.Module:
    """An embedding model: ``mlp`` for vectors; ``small-cnn``, ``googlenet``, ``resnet18`` for images."""
    if kind == "mlp":
        return MLPEmbedder(in_dim, embedding_dim, hidden=(128,))
    if kind == "small-cnn":
        return SmallConvEmbedder(embedding_dim)
    return pretrained_backbone_embedder(kind, embedding_dim)


def train_and_evaluate(data: DataSplit, method: Method, n_synthetic: int, seed: int, config: Config, *,
                       model_kind: str = "mlp", embedding_dim: int = 32, device: str = "cpu"):
    """Train one model and evaluate it on the unseen classes; returns (metrics, history, model)."""
    torch.manual_seed(seed)
    in_dim = data.x_train.shape[1] if isinstance(data.x_train, Tensor) else 0
    model = make_model(model_kind, in_dim, embedding_dim)
    classes_per_batch = min(config.classes_per_batch, int(torch.unique(data.y_train).numel()))
    history = fit(model, data.x_train, data.y_train, loss=method.loss, loss_kwargs=method.kwargs,
                  n_synthetic=n_synthetic, epochs=config.epochs, classes_per_batch=classes_per_batch,
                  samples_per_class=method.samples_per_class, lr=config.lr, weight_decay=config.weight_decay,
                  seed=seed, progress=False, device=device)
    metrics = evaluate_embeddings(embed(model, data.x_test), data.y_test, seed=seed)
    return metrics, history, model


def summarise(values: Sequence[float]) -> tuple[float, float]:
    """Mean and (sample) standard deviation, 0 for a single value."""
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def results_table(data: DataSplit, config: Config, *, model_kind: str = "mlp", device: str = "cpu",
                  log=print) -> tuple[list[dict], dict]:
    """Every method without and with EE (n = 2) over the seeds; rows of mean ± std."""
    rows, histories = [], {}
    for method in METHODS:
        for n in (0, 2):
            runs = []
            for seed in range(config.seeds):
                metrics, history, _ = train_and_evaluate(data, method, n, seed, config,
                                                         model_kind=model_kind, device=device)
                runs.append(metrics)
                histories[(method.name, n, seed)] = history
            name = method.name if n == 0 else f"EE + {method.name}"
            row = {"method": name, "seeds": config.seeds}
            for key in METRICS:
                mean, std = summarise([100 * r[key] for r in runs])
                row[key], row[f"{key} std"] = round(mean, 2), round(std, 2)
            rows.append(row)
            log(f"  {name:>22}: R@1 {row['R@1']:.1f} ± {row['R@1 std']:.1f}")
    return rows, histories


def write_table(rows: list[dict], out: Path, stem: str = "results") -> None:
    """CSV, JSON and a Markdown table laid out like the paper's (mean ± std, in %)."""
    with (out / f"{stem}.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (out / f"{stem}.json").write_text(json.dumps(rows, indent=2))
    lines = ["| Method | " + " | ".join(METRICS) + " |", "|---|" + "---|" * len(METRICS)]
    for row in rows:
        cells = " | ".join(f"{row[k]:.1f} ± {row[f'{k} std']:.1f}" for k in METRICS)
        lines.append(f"| {row['method']} | {cells} |")
    (out / f"{stem}.md").write_text("\n".join(lines) + "\n")


def heatmaps_over_training(data: DataSplit, config: Config, out: Path) -> None:
    """Figure 1: class × class hardest-negative distances over training, Triplet† vs EE + Triplet†."""
    method = METHODS[1]
    probe = torch.tensor(next(iter(PKSampler(data.y_train, config.classes_per_batch, 4, seed=123))))
    x_probe, y_probe = data.x_train[probe], data.y_train[probe]
    checkpoints = sorted({1, max(1, config.epochs // 2), config.epochs})
    fig, axes = plt.subplots(2, len(checkpoints), figsize=(3.4 * len(checkpoints), 6.4), squeeze=False)
    for row, n in enumerate((0, 2)):
        torch.manual_seed(0)
        model = make_model("mlp", data.x_train.shape[1], 32)
        snapshots = {}

        def snapshot(epoch: int, history, model=model, n=n, snapshots=snapshots) -> None:
            if epoch + 1 in checkpoints:
                snapshots[epoch + 1] = class_distance_matrix(embed(model, x_probe), y_probe, n)

        fit(model, data.x_train, data.y_train, loss=method.loss, loss_kwargs=method.kwargs, n_synthetic=n,
            epochs=config.epochs, classes_per_batch=config.classes_per_batch, lr=config.lr,
            weight_decay=config.weight_decay, progress=False, on_epoch_end=snapshot)
        for col, epoch in enumerate(checkpoints):
            name = "Triplet†" if n == 0 else "EE + Triplet†"
            plot_distance_heatmap(axes[row, col], snapshots[epoch], torch.arange(len(snapshots[epoch])),
                                  title=f"{name}, epoch {epoch}", vmax=2.0, colorbar=col == len(checkpoints) - 1)
            axes[row, col].set_xlabel("class")
            axes[row, col].set_ylabel("class")
    fig.suptitle("hardest distance between classes (off-diagonal: negatives; dark = hard)")
    fig.tight_layout()
    fig.savefig(out / "heatmaps.png", dpi=80)
    plt.close(fig)


def recall_against_n(data: DataSplit, config: Config, out: Path) -> dict:
    """Figure 2: Recall@1 of EE + Triplet† against n."""
    method = METHODS[1]
    curve = {}
    for n in config.n_values:
        values = [100 * train_and_evaluate(data, method, n, seed, config)[0]["R@1"] for seed in range(config.seeds)]
        curve[n] = summarise(values)
    fig, ax = plt.subplots(figsize=(5, 3.4))
    ns = list(curve)
    ax.errorbar(ns, [curve[n][0] for n in ns], yerr=[curve[n][1] for n in ns], marker="o", capsize=3)
    ax.set(xlabel="synthetic points per pair n", ylabel="Recall@1 (%) on unseen classes",
           title="EE + Triplet†: the number of synthetic points", xticks=ns)
    fig.tight_layout()
    fig.savefig(out / "recall_vs_n.png", dpi=80)
    plt.close(fig)
    return {str(n): {"mean": round(m, 2), "std": round(s, 2)} for n, (m, s) in curve.items()}


def synthetic_share_figure(histories: dict, out: Path) -> None:
    """Figure 3: share of hardest negative pairs involving a synthetic point, over training."""
    fig, ax = plt.subplots(figsize=(5.4, 3.4))
    for method in METHODS:
        runs = [h.hardest_negative_synthetic_share for (name, n, _), h in histories.items() if name == method.name and n == 2]
        mean = [statistics.fmean(epoch) for epoch in zip(*runs)]
        ax.plot(range(1, len(mean) + 1), mean, marker="o", label=f"EE + {method.name}")
    ax.set(xlabel="epoch", ylabel="share of hardest negatives\nthat are synthetic", ylim=(0, 1),
           title="synthetic points as hardest negatives")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "synthetic_share.png", dpi=80)
    plt.close(fig)


def synthetic_label_check(data: DataSplit, config: Config, n_synthetic: int = 2) -> dict:
    """Figure 4's numbers: Recall@1 of synthetic vs original test points as queries.

    After training EE + Triplet†, the unseen test classes are embedded and expanded; each
    original queries the other originals (leave-one-out) and each synthetic point queries
    the originals without its own two parents. A synthetic point whose label is right is
    retrieved next to its class.
    """
    values = {"original": [], "synthetic": []}
    for seed in range(config.seeds):
        _, _, model = train_and_evaluate(data, METHODS[1], n_synthetic, seed, config)
        gallery = embed(model, data.x_test)
        values["original"].append(100 * recall_at_k(gallery, data.y_test, ks=(1,))[1])
        order = torch.argsort(data.y_test, stable=True)
        expanded = expand(gallery[order], data.y_test[order], n_synthetic)
        queries = expanded.embeddings[expanded.is_synthetic]
        d = torch.cdist(queries, gallery[order])
        rows = torch.arange(len(queries))
        d[rows, expanded.parent_a[expanded.is_synthetic]] = float("inf")
        d[rows, expanded.parent_b[expanded.is_synthetic]] = float("inf")
        hits = data.y_test[order][d.argmin(1)] == expanded.labels[expanded.is_synthetic]
        values["synthetic"].append(100 * float(hits.float().mean()))
    return {k: {"mean": round(summarise(v)[0], 2), "std": round(summarise(v)[1], 2)} for k, v in values.items()}


def synthetic_labels_figure(labels: dict, out: Path) -> None:
    """Figure 4: Recall@1 with original vs synthetic test points as queries (mean ± std)."""
    kinds = list(labels)
    fig, ax = plt.subplots(figsize=(4.2, 3.4))
    ax.bar(kinds, [labels[k]["mean"] for k in kinds], yerr=[labels[k]["std"] for k in kinds], capsize=4,
           color=[class_color(i) for i in range(len(kinds))])
    for i, kind in enumerate(kinds):
        ax.text(i, labels[kind]["mean"] / 2, f"{labels[kind]['mean']:.1f}", ha="center")
    ax.set(xlabel="queries (unseen test classes)", ylabel="Recall@1 (%) against the originals", ylim=(0, 100),
           title="are the synthetic labels right?")
    fig.tight_layout()
    fig.savefig(out / "synthetic_labels.png", dpi=80)
    plt.close(fig)


def timing_table(config: Config, out: Path, threads: int = 1) -> dict:
    """Figure 5: EE generation vs loss time, and training steps of EE vs a generator baseline."""
    torch.manual_seed(0)
    torch.set_num_threads(threads)  # set here again: importing umap/numba can change it

    x = torch.nn.functional.normalize(torch.randn(32, 512), dim=1)
    y = torch.arange(8).repeat_interleave(4)
    generation = median_ms(lambda: expand(x, y, 2))  # 16 pairs × 2 = 32 synthetic points
    provenance = synthetic_provenance(y, 2)
    a, b = provenance.parent_a[32:], provenance.parent_b[32:]
    w = provenance.weight[32:, None].float()
    interpolation = median_ms(lambda: torch.nn.functional.normalize((1 - w) * x[a] + w * x[b], dim=1))
    loss = median_ms(lambda: triplet_loss(x, y, mining="hardest"))
    data_x, data_y = make_latent_classes(seed=0)
    batch = torch.tensor(next(iter(PKSampler(data_y, 32, 4))))
    steps = time_training_steps(lambda: MLPEmbedder(64, 128, hidden=(512,)), data_x[batch], data_y[batch],
                                embedding_dim=128, steps=config.timing_steps)
    result = {
        "threads": threads,
        "generate_32_synthetic_ms": round(generation, 4),
        "interpolate_32_synthetic_ms": round(interpolation, 4),
        "triplet_loss_ms": round(loss, 4),
        "paper_generate_32_synthetic_ms": 0.0023,
        "paper_triplet_loss_ms": 0.2734,
        "steps": [{"method": s.method, "ms": round(s.milliseconds, 3), "parameters": s.parameters} for s in steps],
    }
    base = steps[0].milliseconds
    lines = [
        f"Measured on CPU with {threads} thread{'s' if threads != 1 else ''}, medians; "
        "the paper's figures (GPU, unverified) for comparison.",
        "",
        "| what | ours (ms) | paper (ms) |",
        "|---|---:|---:|",
        f"| interpolate and normalise 32 synthetic points (pairs known, D = 512) | {interpolation:.4f} | 0.0023 |",
        f"| the same through `expand` (input checks and pairing included) | {generation:.4f} | |",
        f"| batch-hard triplet loss, forward (B = 32, D = 512) | {loss:.4f} | 0.2734 |",
        "",
        "| training step (B = 128, MLP 64→512→128) | ms | × triplet | parameters |",
        "|---|---:|---:|---:|",
    ]
    lines += [f"| {s.method} | {s.milliseconds:.2f} | {s.milliseconds / base:.2f} | {s.parameters:,} |" for s in steps]
    (out / "timing.md").write_text("\n".join(lines) + "\n")
    (out / "timing.json").write_text(json.dumps(result, indent=2))
    return result


def umap_figure(data: DataSplit, config: Config, out: Path) -> None:
    """UMAP of the unseen test classes' embeddings, Triplet† vs EE + Triplet† (precomputed here)."""
    import umap

    fig, axes = plt.subplots(1, 2, figsize=(9, 4))
    for ax, n in zip(axes, (0, 2)):
        _, _, model = train_and_evaluate(data, METHODS[1], n, 0, config)
        points = umap.UMAP(random_state=0, n_neighbors=15).fit_transform(embed(model, data.x_test).numpy())
        ax.scatter(points[:, 0], points[:, 1], c=data.y_test.numpy(), cmap="tab20", s=6)
        ax.set(title="Triplet†" if n == 0 else "EE + Triplet†", xlabel="UMAP 1", ylabel="UMAP 2")
    fig.suptitle("unseen test classes, UMAP of the learned embedding")
    fig.tight_layout()
    fig.savefig(out / "umap.png", dpi=80)
    plt.close(fig)


def run_offline(datasets: Sequence[str], config: Config, out: Path, *, with_umap: bool = True,
                threads: int = 1, log=print) -> dict:
    """Everything of the offline experiment; returns a summary (also written as summary.json)."""
    apply_course_style()
    out.mkdir(parents=True, exist_ok=True)
    summary: dict = {"config": config.__dict__ | {"n_values": list(config.n_values)}}
    start = time.perf_counter()
    for index, name in enumerate(datasets):
        log(f"[{name}] results table")
        data = offline_data(name)
        rows, histories = results_table(data, config, log=log)
        write_table(rows, out, stem="results" if index == 0 else f"results_{name}")
        summary[name] = {"table": rows}
        if index == 0:  # the figures use the first (main) data set
            synthetic_share_figure(histories, out)
            log(f"[{name}] heat maps, Recall@1 vs n, synthetic labels")
            heatmaps_over_training(data, config, out)
            summary[name]["recall_vs_n"] = recall_against_n(data, config, out)
            labels = synthetic_label_check(data, config)
            (out / "synthetic_labels.json").write_text(json.dumps(labels, indent=2))
            synthetic_labels_figure(labels, out)
            summary[name]["synthetic_labels"] = labels
            if with_umap:
                log(f"[{name}] UMAP")
                umap_figure(data, config, out)
    log("[timing]")
    summary["timing"] = timing_table(config, out, threads)
    summary["wall_seconds"] = round(time.perf_counter() - start, 1)
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    log(f"done in {summary['wall_seconds']} s; results in {out}")
    return summary


def run_benchmark(name: str, data_dir: Path, config: Config, out: Path, *, model_kind: str, image_size: int,
                  device: str, log=print) -> list[dict]:
    """The same protocol on a real benchmark folder (CUB-200-2011, CARS196, SOP)."""
    from eelib.experiments.datasets import load_benchmark

    train = load_benchmark(name, data_dir, "train", image_size)
    test = load_benchmark(name, data_dir, "test", image_size)
    data = DataSplit(x_train=train, y_train=train.labels, x_test=test, y_test=test.labels)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for method in METHODS:
        for n in (0, 2):
            runs = [train_and_evaluate(data, method, n, seed, config, model_kind=model_kind,
                                       embedding_dim=512 if model_kind != "small-cnn" else 64, device=device)[0]
                    for seed in range(config.seeds)]
            row = {"method": method.name if n == 0 else f"EE + {method.name}", "seeds": config.seeds}
            for key in METRICS:
                mean, std = summarise([100 * r[key] for r in runs])
                row[key], row[f"{key} std"] = round(mean, 2), round(std, 2)
            rows.append(row)
            log(f"  {row['method']:>22}: R@1 {row['R@1']:.1f}")
    write_table(rows, out, stem=f"results_{name}")
    return rows


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m eelib.experiments", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("results"), help="output folder (default: results/)")
    parser.add_argument("--quick", action="store_true", help="a reduced run (1 seed, 3 epochs, n in {0, 2}) for demos and tests")
    parser.add_argument("--seeds", type=int, help="seeds per configuration (default 3)")
    parser.add_argument("--epochs", type=int, help="training epochs (default 10)")
    parser.add_argument("--lr", type=float, help="Adam's learning rate (default 1e-3; the official recipe: 1e-4)")
    parser.add_argument("--weight-decay", type=float, help="Adam's weight decay (default 0; the official recipe: 5e-4)")
    parser.add_argument("--classes-per-batch", type=int, help="P of the P x K batches (default 8)")
    parser.add_argument("--datasets", nargs="+", default=["latent", "digits"], choices=["latent", "digits"],
                        help="offline data sets; the first one also gets the figures")
    parser.add_argument("--no-umap", action="store_true", help="skip the UMAP figure (its first fit compiles for ~20 s)")
    parser.add_argument("--data-dir", type=Path, help="a real benchmark folder; needs --dataset")
    parser.add_argument("--dataset", choices=["cub200", "cars196", "sop"], help="the benchmark in --data-dir")
    parser.add_argument("--model", default="small-cnn", choices=["small-cnn", "googlenet", "resnet18"],
                        help="image model for --data-dir (pretrained ones need torchvision)")
    parser.add_argument("--image-size", type=int, default=227, help="image side for --data-dir (the paper: 227)")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cuda")
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads for torch (default 1: the offline models are tiny, and more "
                             "threads only contend; raise it for image models on CPU)")
    args = parser.parse_args(argv)
    if (args.data_dir is None) != (args.dataset is None):
        parser.error("--data-dir and --dataset go together")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    matplotlib.use("Agg")  # figures go to files; set here, not at import, so notebooks keep their backend
    torch.set_num_threads(args.threads)
    config = Config.quick() if args.quick else Config()
    overrides = {k: v for k, v in (("seeds", args.seeds), ("epochs", args.epochs), ("lr", args.lr),
                                   ("weight_decay", args.weight_decay),
                                   ("classes_per_batch", args.classes_per_batch)) if v is not None}
    config = Config(**(config.__dict__ | overrides))
    if args.data_dir is not None:
        run_benchmark(args.dataset, args.data_dir, config, args.out, model_kind=args.model,
                      image_size=args.image_size, device=args.device)
    else:
        run_offline(args.datasets, config, args.out, with_umap=not (args.no_umap or args.quick), threads=args.threads)
    return 0


__all__ = ["METHODS", "Config", "Method", "main", "run_benchmark", "run_offline"]
