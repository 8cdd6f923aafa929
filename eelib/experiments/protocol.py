"""What the experiments run: data sets, the paper's loss rows, variants of EE, and one run.

The protocol (Ko & Gu 2020; docs/paper.md §4.1): train an embedding on the first half of
the classes, evaluate retrieval and clustering on the unseen second half. A *run* trains
one model for one (data set, loss, n, seed, variant) and measures it; :func:`execute` is
the only function that does so, whether the runner calls it in this process or in a
worker process. Within a seed, every run uses the same data (the data seed is the seed),
the same initialisation and the same batch order, so runs that differ only in EE are
paired.

Data sets (:data:`DATASETS`):

``latent``
    40 classes hidden in 8 of 64 dimensions (:func:`eelib.data.make_latent_classes`),
    40 samples each; 20 train, 20 test; 10 epochs.
``latent-240``
    The regime closer to the paper's: 240 such classes with 10 samples each (120 train,
    120 unseen), trained for 40 epochs, four times as long as ``latent``. How far hard
    negatives have run out is measured, not assumed: the share of training anchors whose
    batch-hard triplet still violates the margin at the end is reported per run.
``glyphs``
    Real characters rendered from matplotlib's fonts (:mod:`eelib.experiments.glyphs`):
    240 characters × 10 samples, 16 × 16 pixels, 120 train characters, 120 unseen; 40 epochs.
``digits``
    scikit-learn's 8 × 8 digits, 0–4 train, 5–9 test: five training classes, nearly solved
    by raw pixels; 10 epochs. Its data do not depend on the seed. It is not a negative
    control: nothing guarantees that EE leaves it unchanged, and the verdict table says
    whether it does. The control for chance is the A/A comparison (variant
    :data:`SECOND_STREAM`) on every data set.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

import torch
from torch import nn

from eelib.diagnostics import class_distance_matrix
from eelib.data import DataSplit, PKSampler, load_digits_split, make_latent_classes, split_dataset
from eelib.experiments.expansion_analyses import (
    hard_anchor_share,
    mean_negative_distance,
    occlude,
    synthetic_as_batch_members,
    synthetic_query_recall,
)
from eelib.experiments.generators import GeneratorTripletLoss, TripletGenerator
from eelib.experiments.glyphs import make_font_glyphs
from eelib.experiments.models import MLPEmbedder
from eelib.experiments.train import embed, fit, gather
from eelib.losses import make_loss
from eelib.metrics import evaluate_embeddings, recall_at_k


@dataclass(frozen=True)
class Method:
    """One row group of the paper's table: a loss, its settings, its batch shape, and a note.

    Every model L2-normalises its output, so each loss works on unit vectors.
    """

    name: str
    loss: str
    kwargs: dict
    samples_per_class: int = 4
    note: str = ""


#: The paper's rows (Table 1): "Triplet" (all triplets), "Triplet†" (HPHN, batch-hard),
#: N-pair, Lifted-Struct and MS; each is run without and with EE.
METHODS = (
    Method("Triplet", "triplet", {"margin": 0.2, "mining": "all"}, note="all valid triplets, margin 0.2"),
    Method("Triplet†", "triplet", {"margin": 0.2, "mining": "hardest"},
           note="batch-hard (HPHN), margin 0.2, Euclidean distances: the official EE recipe's loss, "
                "averaged over anchors"),
    Method("N-pair", "npair", {}, samples_per_class=2,
           note="P classes × 2 per batch; logits are plain cosines (unit embeddings, no scale, no L2 "
                "penalty), so the loss cannot fall below log(1 + (P − 1)·e⁻²), 0.67 for P = 8: its "
                "gradient never vanishes. Sohn's N-pair and the Symmetrical Synthesis code use raw "
                "inner products instead (docs/paper.md §5.3, §6.3)"),
    Method("Lifted-Struct", "lifted", {"margin": 1.0}, note="margin α = 1"),
    Method("MS", "multi_similarity", {}, note="α = 2, β = 50, λ = 0.5, ε = 0.1 (the official MS code)"),
)
METHOD_BY_NAME = {method.name: method for method in METHODS}

#: Metric columns of the per-seed table, in %, and the keys of :func:`eelib.metrics.evaluate_embeddings`.
METRICS = {"recall@1": "R@1", "recall@2": "R@2", "recall@4": "R@4", "recall@8": "R@8", "nmi": "NMI",
           "f1": "F1", "map@r": "MAP@R"}

#: Variants of a run. "" is the main grid: the base loss (n = 0) or EE with hard negative pair
#: mining and normalised synthetic points (n > 0).
VARIANTS = {
    "": "base loss (n = 0) or EE with HNPM, normalised synthetic points (n > 0)",
    "not normalised": "EE with HNPM, synthetic points not L2-normalised (they lie inside the sphere)",
    "without HNPM": "EE's synthetic points as ordinary batch members, no hard negative pair mining",
    "generator": "no EE: a DAML-style generator (hidden width 128) adds synthetic hard negatives "
                 "(eelib.experiments.generators)",
    "second stream": "no EE (n = 0), the same data, a second stream of initial weights and batch orders: "
                     "compared with the main grid's runs without EE, an A/A comparison in which nothing differs "
                     "but chance",
}

#: The A/A variant: the base loss retrained from another initialisation and batch order.
SECOND_STREAM = "second stream"

#: Its seeds of initial weights and batch orders are the run's seed plus this offset (torch's CPU
#: generator keeps the low 32 bits of a seed, so the offset stays below 2**32).
SECOND_STREAM_OFFSET = 1_000_000

#: Occluded areas of the robustness test (image data sets).
OCCLUSION_AREAS = (0.0, 0.05, 0.1, 0.2, 0.3)

#: Classes per probe batch of the heat maps (4 instances each).
PROBE_CLASSES = 16

#: Hidden width of the DAML-style generator in training runs (4 × the 32-d embedding; the timing
#: table times the 512-wide default next to a 128-d model).
GENERATOR_HIDDEN = 128


@dataclass(frozen=True)
class DataSpec:
    """A data set of the experiments and how it is trained (see the module docstring)."""

    name: str
    description: str
    n_train_classes: int
    epochs: int
    hidden: tuple[int, ...]
    classes_per_batch: int = 8
    embedding_dim: int = 32
    image_side: int | None = None


DATASETS = {
    spec.name: spec for spec in (
        DataSpec("latent", "40 latent classes (20 train / 20 unseen), 40 samples each", 20, 10, (128,)),
        DataSpec("latent-240", "240 latent classes (120 train / 120 unseen), 10 samples each, trained 4 times "
                 "as long as latent", 120, 40, (128,)),
        DataSpec("glyphs", "240 characters rendered from matplotlib's fonts (120 train / 120 unseen), "
                 "10 samples each, 16 × 16 px", 120, 40, (256,), image_side=16),
        DataSpec("digits", "scikit-learn digits, 0–4 train / 5–9 unseen (few classes)", 5, 10, (128,),
                 classes_per_batch=5, image_side=8),
    )
}


@lru_cache(maxsize=None)
def load_split(name: str, seed: int) -> DataSplit:
    """The class split of a data set of :data:`DATASETS` for a data seed (cached per process).

    Unbounded: the full plan asks for about 40 small splits, in shuffled order, each many times.
    """
    if name == "latent":
        return split_dataset(*make_latent_classes(seed=seed))
    if name == "latent-240":
        return split_dataset(*make_latent_classes(n_classes=240, per_class=10, seed=seed))
    if name == "glyphs":
        return split_dataset(*make_font_glyphs(n_classes=240, per_class=10, seed=seed))
    if name == "digits":
        return load_digits_split()
    raise ValueError(f"dataset must be one of {sorted(DATASETS)}, got {name!r}")


@dataclass(frozen=True)
class Run:
    """One training run, fully specified; ``probes`` adds the heat-map and synthetic-label measurements."""

    dataset: str
    method: str
    n_synthetic: int
    seed: int
    epochs: int
    classes_per_batch: int
    variant: str = ""
    lr: float = 1e-3
    weight_decay: float = 0.0
    device: str = "cpu"
    probes: bool = False
    keep_embeddings: bool = False


@dataclass
class RunResult:
    """Everything one run measured (plain Python values, so that it crosses processes)."""

    run: Run
    metrics: dict[str, float]
    final_loss: float
    hard_anchor_share: float
    train_seconds: float
    synthetic_share: list[float] = field(default_factory=list)
    heatmaps: list[dict] = field(default_factory=list)
    heatmap_matrices: dict = field(default_factory=dict)
    synthetic_labels: tuple[float, float] | None = None
    occlusion: dict[float, float] = field(default_factory=dict)
    embeddings: list | None = None
    labels: list | None = None


def make_model(spec: DataSpec, in_dim: int) -> nn.Module:
    """The embedding model of a data set: an MLP with an L2-normalised output."""
    return MLPEmbedder(in_dim, spec.embedding_dim, hidden=spec.hidden)


def training_seed(run: Run) -> int:
    """The seed of a run's initial weights and batch order.

    The run's own seed, except for the A/A variant (:data:`SECOND_STREAM`), which draws both
    from a second stream that no seed of the main grid reaches (``seed +`` :data:`SECOND_STREAM_OFFSET`). The data,
    the evaluation's k-means and the occluding squares keep the run's seed in every variant.
    """
    return run.seed + SECOND_STREAM_OFFSET if run.variant == SECOND_STREAM else run.seed


def _loss_for(run: Run, method: Method, spec: DataSpec):
    """The configured loss of a run's variant, for fit."""
    if run.variant in ("", SECOND_STREAM, "not normalised"):
        return make_loss(method.loss, n_synthetic=run.n_synthetic, normalize_synthetic=run.variant != "not normalised",
                         **method.kwargs)
    if run.variant == "without HNPM":
        return synthetic_as_batch_members(make_loss(method.loss, **method.kwargs), run.n_synthetic)
    if run.variant == "generator":
        generator = TripletGenerator(spec.embedding_dim, hidden=GENERATOR_HIDDEN).to(run.device)
        optimizer = torch.optim.Adam(generator.parameters(), lr=run.lr)
        return GeneratorTripletLoss(generator, optimizer, margin=method.kwargs["margin"])
    raise ValueError(f"variant must be one of {sorted(VARIANTS)}, got {run.variant!r}")


def execute(run: Run, *, spec: DataSpec | None = None, data: DataSplit | None = None,
            model_factory: Callable[[], nn.Module] | None = None) -> RunResult:
    """Train and measure one run (deterministic on CPU for a given run and thread count).

    Parameters
    ----------
    run : Run
    spec, data, model_factory : optional
        For a data set outside :data:`DATASETS` (a benchmark folder): its description, its
        split (tensors or Datasets) and its model. By default all three come from
        :data:`DATASETS`, :func:`load_split` and :func:`make_model`.
    """
    spec = spec or DATASETS[run.dataset]
    method = METHOD_BY_NAME[run.method]
    data = data or load_split(run.dataset, run.seed)
    torch.manual_seed(training_seed(run))
    model = model_factory() if model_factory is not None else make_model(spec, data.x_train.shape[1])
    loss = _loss_for(run, method, spec)
    heatmaps, matrices = [], {}
    checkpoints = sorted({1, max(1, run.epochs // 2), run.epochs})
    if run.probes:
        probe = torch.tensor(next(iter(PKSampler(data.y_train, min(PROBE_CLASSES, spec.n_train_classes), 4,
                                                 seed=10_000 + run.seed))))
        x_probe, y_probe = gather(data.x_train, probe), data.y_train[probe]

    def probe_heatmaps(epoch: int, history) -> None:
        if not run.probes or epoch + 1 not in checkpoints:
            return
        probe_embeddings = embed(model, x_probe)
        for measured_with in (0, 2):
            matrix = class_distance_matrix(probe_embeddings, y_probe, measured_with)
            heatmaps.append({"epoch": epoch + 1, "measured_with": measured_with,
                             "mean_negative_distance": mean_negative_distance(matrix)})
            matrices[(epoch + 1, measured_with)] = matrix.tolist()

    history = fit(model, data.x_train, data.y_train, loss=loss, epochs=run.epochs,
                  classes_per_batch=run.classes_per_batch, samples_per_class=method.samples_per_class,
                  lr=run.lr, weight_decay=run.weight_decay, seed=training_seed(run), progress=False,
                  device=run.device, on_epoch_end=probe_heatmaps)
    test = embed(model, data.x_test)
    scores = evaluate_embeddings(test, data.y_test, seed=run.seed)
    result = RunResult(
        run=run,
        metrics={column: round(100 * scores[key], 4) for column, key in METRICS.items()},
        final_loss=history.loss[-1],
        hard_anchor_share=hard_anchor_share(lambda index: embed(model, gather(data.x_train, index)), data.y_train,
                                            classes_per_batch=run.classes_per_batch, seed=run.seed),
        train_seconds=sum(history.seconds),
        synthetic_share=history.hardest_negative_synthetic_share if getattr(loss, "n_synthetic", 0) > 0 else [],
        heatmaps=heatmaps,
        heatmap_matrices=matrices if run.seed == 0 else {},
    )
    if run.probes:
        result.synthetic_labels = synthetic_query_recall(test, data.y_test, 2)
    if spec.image_side is not None:
        generator = torch.Generator().manual_seed(20_000 + run.seed)  # the same squares with and without EE
        for area in OCCLUSION_AREAS:
            occluded = occlude(data.x_test, spec.image_side, area, generator)
            result.occlusion[area] = 100 * recall_at_k(embed(model, occluded), data.y_test, ks=(1,))[1]
    if run.keep_embeddings:
        result.embeddings, result.labels = test.tolist(), data.y_test.tolist()
    return result


__all__ = ["DATASETS", "GENERATOR_HIDDEN", "METHODS", "METHOD_BY_NAME", "METRICS", "OCCLUSION_AREAS", "SECOND_STREAM",
           "SECOND_STREAM_OFFSET",
           "VARIANTS", "DataSpec", "Method", "Run", "RunResult", "execute", "load_split", "make_model", "training_seed"]
