"""Hostile arguments to the rest of the public API: a clear error naming the argument, never a
raw traceback from torch, numpy, scikit-learn or the allocator, and never a silent NaN.

The losses, EE and the data set loaders have their own files (test_validation.py,
test_losses_properties.py, test_benchmark_folders.py); here: the training loop, the metrics, the
batch and data factories, the models, the analyses and the course figures.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from eelib import data, diagnostics, metrics  # noqa: E402
from eelib.course import explorer, figures  # noqa: E402
from eelib.distances import euclidean_from_squared, squared_distances_from_gram  # noqa: E402
from eelib.expansion import expanded_inner_products, synthetic_provenance  # noqa: E402
from eelib.experiments import models  # noqa: E402
from eelib.experiments.train import embed, fit  # noqa: E402
from eelib.losses import TripletLoss  # noqa: E402

pytestmark = [pytest.mark.unit, pytest.mark.usefixtures("one_torch_thread")]

X = torch.randn(40, 6, generator=torch.Generator().manual_seed(0))
Y = torch.arange(8).repeat_interleave(5)


def _fit(**kwargs):
    options = {"epochs": 1, "classes_per_batch": 2, "samples_per_class": 2, "progress": False, **kwargs}
    return fit(nn.Linear(6, 3), X, Y, **options)


FIT_CASES = {
    # the three: ZeroDivisionError, ZeroDivisionError, a raw TypeError from range
    "steps_per_epoch=0": ({"steps_per_epoch": 0}, ValueError, "steps_per_epoch must be >= 1"),
    "stats_batches=0": ({"stats_batches": 0}, ValueError, "stats_batches must be >= 1"),
    "epochs=1.5": ({"epochs": 1.5}, TypeError, "epochs must be a positive int"),
    "epochs=True": ({"epochs": True}, TypeError, "epochs must be a positive int"),
    "steps_per_epoch=2.0": ({"steps_per_epoch": 2.0}, TypeError, "steps_per_epoch must be a positive int"),
    "classes_per_batch=1": ({"classes_per_batch": 1}, ValueError, "classes_per_batch must be >= 2"),
    "samples_per_class=1 with EE": ({"samples_per_class": 1, "loss": TripletLoss(n_synthetic=2)}, ValueError,
                                    "samples_per_class must be >= 2"),
    "lr=nan": ({"lr": float("nan")}, ValueError, "lr must be a finite number > 0"),
    "lr=0": ({"lr": 0.0}, ValueError, "lr must be a finite number > 0"),
    "weight_decay=-1": ({"weight_decay": -1.0}, ValueError, "weight_decay must be a finite number >= 0"),
    "seed=-1": ({"seed": -1}, ValueError, "seed must be in"),
    "seed='a'": ({"seed": "a"}, TypeError, "seed must be an int"),
    "progress='no'": ({"progress": "no"}, TypeError, "progress must be True or False"),
    "loss=1": ({"loss": 1}, TypeError, "loss must be a loss module or a callable"),
    "eval_set=tensor": ({"eval_set": X}, TypeError, "eval_set must be a pair"),
    "on_epoch_end=1": ({"on_epoch_end": 1}, TypeError, "on_epoch_end must be callable"),
    "device='gpu'": ({"device": "gpu"}, ValueError, "device must name a torch device"),
    "loss='hinge'": ({"loss": "hinge"}, TypeError, "loss must be a configured loss"),
}


@pytest.mark.parametrize("case", FIT_CASES)
def test_fit_refuses_bad_arguments_before_training(case):
    kwargs, error, message = FIT_CASES[case]
    with pytest.raises(error, match=message):
        _fit(**kwargs)


def test_fit_accepts_numpy_integers_and_checks_its_data():
    history = _fit(epochs=np.int64(1), steps_per_epoch=np.int32(2), loss=TripletLoss(n_synthetic=np.int64(1)))
    assert len(history.loss) == 1 and np.isfinite(history.loss[0])
    with pytest.raises(ValueError, match="x has 40 samples but y has 39 labels"):
        fit(nn.Linear(6, 3), X, Y[:-1], progress=False)
    with pytest.raises(TypeError, match="y must hold integers"):
        fit(nn.Linear(6, 3), X, Y.float(), progress=False)
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        fit(lambda x: x, X, Y, progress=False)
    with pytest.raises(ValueError, match="model has no trainable parameters"):
        fit(nn.Identity(), X, Y, progress=False)


def test_fit_reports_a_diverging_model_instead_of_training_on_nan():
    model = nn.Linear(6, 3)
    with torch.no_grad():
        model.weight.fill_(float("nan"))
    with pytest.raises(ValueError, match="embeddings contains NaN or Inf"):
        fit(model, X, Y, epochs=1, progress=False)


def test_embed_checks_its_arguments():
    assert embed(nn.Identity(), X[:3]).shape == (3, 6)  # a model without parameters embeds on the CPU
    with pytest.raises(ValueError, match="x is empty"):
        embed(nn.Linear(6, 3), X[:0])
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        embed(nn.Linear(6, 3), X, batch_size=0)
    with pytest.raises(TypeError, match="x must be a torch.Tensor or a Dataset"):
        embed(nn.Linear(6, 3), X.numpy())


METRIC_CASES = {
    "nn k=1.5": (lambda: metrics.nearest_neighbours(X, 1.5), TypeError, "k must be an int"),
    "nn k=N": (lambda: metrics.nearest_neighbours(X, 40), ValueError, r"k must be in \[1, 39\]"),
    "nn nan": (lambda: metrics.nearest_neighbours(X * float("nan"), 1), ValueError, "embeddings contains NaN"),
    "nn fp32 x 1e20": (lambda: metrics.nearest_neighbours(X * 1e20, 1), ValueError, "embeddings has a row of norm"),
    "nn block_size=np.int64": (lambda: metrics.nearest_neighbours(X, 1, block_size=np.int64(7)).shape, None, (40, 1)),
    "recall fp32 x 1e20": (lambda: metrics.recall_at_k(X * 1e20, Y), ValueError, "embeddings has a row of norm"),
    "recall ks=np.int64": (lambda: metrics.recall_at_k(X, Y, ks=np.int64(1)), TypeError, "ks must be a non-empty"),
    "kmeans seed=2**40": (lambda: metrics.kmeans_cluster_ids(X, 2, seed=2**40), ValueError, "seed must be in"),
    "kmeans n_init=0": (lambda: metrics.kmeans_cluster_ids(X, 2, n_init=0), ValueError, "n_init must be >= 1"),
    "kmeans nan": (lambda: metrics.kmeans_cluster_ids(X * float("nan"), 2), ValueError, "embeddings contains NaN"),
    "map_at_r labels on meta": (lambda: metrics.map_at_r(X, Y.to("meta")), ValueError, "labels is a meta tensor"),
}


@pytest.mark.parametrize("case", METRIC_CASES)
def test_metrics_check_their_arguments(case):
    call, error, expected = METRIC_CASES[case]
    if error is None:
        assert call() == expected
        return
    with pytest.raises(error, match=expected):
        call()


def test_metrics_evaluate_half_precision_in_float32():
    assert metrics.recall_at_k(X.half(), Y) == metrics.recall_at_k(X.half().float(), Y)
    assert metrics.recall_at_k(X.bfloat16(), Y) == metrics.recall_at_k(X.bfloat16().float(), Y)


def test_pairwise_f1_does_not_build_the_classes_by_clusters_table():
    """10**5 distinct classes and clusters: a dense table would hold 10**10 counts (80 GB)."""
    ids = np.arange(10**5)
    assert metrics.pairwise_f1(ids, ids) == 0.0
    assert metrics.pairwise_f1(ids // 2, ids // 2) == 1.0


DATA_CASES = {
    "random_batch sizes=5": (lambda: data.random_batch(5, 4), TypeError, "class_sizes must be a sequence"),
    "random_batch seed=-1": (lambda: data.random_batch([2], 4, seed=-1), ValueError, "seed must be in"),
    "random_batch norm inf": (lambda: data.random_batch([2], 4, norm_range=(1, float("inf"))), ValueError,
                              r"norm_range\[1\] must be in"),
    "random_batch norm too large": (lambda: data.random_batch([2], 4, norm_range=(1, 1e7), dtype=torch.float32),
                                    ValueError, r"norm_range\[1\] must be in"),
    "random_batch dtype int": (lambda: data.random_batch([2], 4, dtype=torch.int64), TypeError, "dtype must be"),
    "random_batch shuffle='no'": (lambda: data.random_batch([2], 4, shuffle="no"), TypeError, "shuffle must be True"),
    "random_batch huge": (lambda: data.random_batch([10**6], 10**5), ValueError, "would need about"),
    "toy_batch angles nan": (lambda: data.toy_batch([[0.0, float("nan")]]), ValueError, "angles must be"),
    "toy_batch angles str": (lambda: data.toy_batch(["ab"]), TypeError, "angles must be a non-empty sequence"),
    "toy_batch on_circle=1": (lambda: data.toy_batch(on_circle=1), TypeError, "on_circle must be True"),
    "glyphs difficulty np": (lambda: data.make_glyphs(4, 2, difficulty=np.float32(0.5))[0].shape, None, (8, 64)),
    "glyphs image_size huge": (lambda: data.make_glyphs(4, 2, image_size=10**4), ValueError, "would need about"),
    "latent std inf": (lambda: data.make_latent_classes(within_class_std=float("inf")), ValueError,
                       "within_class_std must be in"),
    "latent nuisance_dim=np": (lambda: data.make_latent_classes(2, 2, nuisance_dim=np.int64(3))[0].shape, None,
                               (4, 11)),
    "latent dims huge": (lambda: data.make_latent_classes(2, 2, nuisance_dim=10**6), ValueError, "would need about"),
    "split x nan": (lambda: data.split_dataset([[0.0], [float("nan")]], [0, 1]), ValueError, "x contains NaN"),
    "split x complex": (lambda: data.split_dataset(np.ones((2, 1), complex), [0, 1]), TypeError, "x must hold real"),
    "split x strings": (lambda: data.split_dataset([["a"], ["b"]], [0, 1]), TypeError, "x must"),
    "PKSampler drop_last='no'": (lambda: data.PKSampler([0, 0, 1, 1], 2, 2, drop_last="no"), TypeError,
                                 "drop_last must be True"),
    "PKSampler seed=2**64": (lambda: data.PKSampler([0, 0, 1, 1], 2, 2, seed=2**64), ValueError, "seed must be in"),
}


@pytest.mark.parametrize("case", DATA_CASES)
def test_data_factories_check_their_arguments(case):
    call, error, expected = DATA_CASES[case]
    if error is None:
        assert tuple(call()) == expected
        return
    with pytest.raises(error, match=expected):
        call()


MODEL_CASES = {
    "MLP normalize='no'": (lambda: models.MLPEmbedder(4, normalize="no"), TypeError, "normalize must be True"),
    "MLP hidden=8": (lambda: models.MLPEmbedder(4, hidden=8), TypeError, "hidden must be a sequence"),
    "MLP in_dim huge": (lambda: models.MLPEmbedder(10**9), ValueError, "MLPEmbedder with .* parameters would need"),
    "conv widths huge": (lambda: models.SmallConvEmbedder(widths=(10**5, 10**5)), ValueError, "would need about"),
    "backbone not a module": (lambda: models.BackboneEmbedder("resnet", 8), TypeError, "backbone must be"),
    "count trainable_only=1": (lambda: models.count_parameters(nn.Linear(2, 2), trainable_only=1), TypeError,
                               "trainable_only must be True"),
}


@pytest.mark.parametrize("case", MODEL_CASES)
def test_models_check_their_arguments(case):
    call, error, expected = MODEL_CASES[case]
    with pytest.raises(error, match=expected):
        call()


def test_analyses_check_their_batches_and_memory():
    x, y = X[:8].double(), Y[:8]
    with pytest.raises(TypeError, match="embeddings has dtype torch.float16"):
        diagnostics.loss_geometry("triplet", x.half(), y)
    with pytest.raises(TypeError, match="normalize_synthetic must be True or False"):
        diagnostics.hardest_negative_pairs(x, y, 1, normalize_synthetic="yes")
    with pytest.raises(ValueError, match="n_synthetic=1000000 .* would need about"):
        diagnostics.class_distance_matrix(x, y, 10**6)
    with pytest.raises(ValueError, match="violating_triplet_share on a batch of 4096 .* would need about"):
        diagnostics.violating_triplet_share(torch.zeros(4096, 1), torch.arange(4096) % 2)
    with pytest.raises(TypeError, match="loss must return a 0-dim floating-point tensor"):
        diagnostics.loss_geometry(lambda e, labels: 1.0, x, y)
    with pytest.raises(ValueError, match="loss returned a non-finite value"):
        diagnostics.loss_geometry(lambda e, labels: e.sum() * float("inf"), x, y)


def test_building_blocks_check_types_and_stay_finite_in_every_float_dtype():
    """The public building blocks under the losses: a clear TypeError for a wrong input, and
    clips that do not round to 0 (float16's smallest normal number where 1e-12 would)."""
    with pytest.raises(TypeError, match="squared must be a dense floating-point tensor"):
        euclidean_from_squared(torch.tensor([4]))
    with pytest.raises(ValueError, match="gram must be a square matrix"):
        squared_distances_from_gram(torch.zeros(3, 2))
    with pytest.raises(TypeError, match="provenance must be a Provenance"):
        expanded_inner_products(torch.eye(2), (0, 1))
    labels = torch.tensor([0, 0, 1, 1])
    for dtype in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
        points = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, 1.0]], dtype=dtype, requires_grad=True)
        gram = points @ points.T  # an antipodal pair: its midpoint has norm 0
        inner = expanded_inner_products(gram, synthetic_provenance(labels, 1))
        distances = euclidean_from_squared(squared_distances_from_gram(inner))
        distances.sum().backward()
        assert bool(torch.isfinite(distances).all()) and bool(torch.isfinite(points.grad).all()), dtype


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_building_blocks_refuse_non_finite_input_naming_where(bad):
    gram = torch.eye(4, dtype=torch.float64)
    gram[1, 2] = bad
    with pytest.raises(ValueError, match=r"gram must be finite, got (nan|-?inf) at index \(1, 2\)"):
        squared_distances_from_gram(gram)
    with pytest.raises(ValueError, match=r"squared must be finite, got (nan|-?inf) at index \(1, 2\)"):
        euclidean_from_squared(gram)
    with pytest.raises(ValueError, match=r"gram must be finite"):
        expanded_inner_products(gram, synthetic_provenance(torch.tensor([0, 0, 1, 1]), 1))
    with pytest.raises(TypeError, match="check_finite must be True or False"):
        euclidean_from_squared(gram, check_finite="no")
    # the losses' own calls skip the check: their embeddings were checked, and NaN passes through
    assert torch.isnan(euclidean_from_squared(gram, check_finite=False)).any() == (bad != bad)


FIGURE_CASES = {
    "points nan": (lambda ax: figures.plot_points_2d(ax, torch.full((2, 2), float("nan")), [0, 1]), ValueError,
                   "points contains NaN"),
    "points complex": (lambda ax: figures.plot_points_2d(ax, np.ones((2, 2), complex), [0, 1]), TypeError,
                       "points must hold real numbers"),
    "heatmap inf": (lambda ax: figures.plot_distance_heatmap(ax, np.full((2, 2), np.inf), [0, 1]), ValueError,
                    "distances contains NaN"),
    "heatmap vmax nan": (lambda ax: figures.plot_distance_heatmap(ax, np.ones((2, 2)), [0, 1], vmax=float("nan")),
                         ValueError, "vmax must be"),
    "pca one row": (lambda ax: figures.plot_embedding_pca(ax, np.ones((1, 3)), [0]), ValueError,
                    "embeddings must have at least 2 rows"),
    "explore k huge": (lambda ax: explorer.explore(10**6), ValueError, "n_synthetic=1000000 .* would need about"),
    "explore k=-1": (lambda ax: explorer.explore(-1), ValueError, "n_synthetic must be >= 0"),
}


@pytest.mark.parametrize("case", FIGURE_CASES)
def test_course_figures_check_their_inputs(case):
    call, error, expected = FIGURE_CASES[case]
    fig, ax = plt.subplots()
    try:
        with pytest.raises(error, match=expected):
            call(ax)
    finally:
        plt.close(fig)


def test_timing_and_generator_check_their_counts():
    from eelib.experiments.generators import TripletGenerator
    from eelib.experiments.timing import median_ms

    with pytest.raises(ValueError, match="repeats must be >= 1"):  # statistics.median([]) before
        median_ms(lambda: None, repeats=0)
    with pytest.raises(TypeError, match="fn must be callable"):
        median_ms(None)
    with pytest.raises(ValueError, match="hidden must be >= 1"):
        TripletGenerator(8, hidden=0)
    with pytest.raises(ValueError, match="TripletGenerator with embedding_dim=100000 .* would need about"):
        TripletGenerator(10**5, hidden=10**5)
