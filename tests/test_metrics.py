"""Tests for eelib.metrics: brute-force loops, PML's AccuracyCalculator, edge cases."""

from __future__ import annotations

import importlib.util
import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from pytorch_metric_learning.distances import LpDistance
from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator
from pytorch_metric_learning.utils.inference import CustomKNN
from sklearn.metrics import normalized_mutual_info_score

import eelib.metrics as metrics
from eelib.metrics import (
    evaluate_embeddings,
    kmeans_cluster_ids,
    lloyd_kmeans,
    map_at_r,
    nearest_neighbours,
    nmi,
    pairwise_f1,
    recall_at_k,
)

pytestmark = pytest.mark.unit


def random_set(n: int, dim: int, n_classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random Gaussian embeddings with every class present at least twice."""
    rng = np.random.default_rng(seed)
    labels = np.concatenate([np.repeat(np.arange(n_classes), 2), rng.integers(0, n_classes, n)])
    embeddings = rng.standard_normal((len(labels), dim))
    return embeddings, labels


def ranking_loops(embeddings: np.ndarray) -> list[list[int]]:
    """Other samples of each query sorted by squared distance, with plain loops."""
    n = len(embeddings)
    rankings = []
    for q in range(n):
        distances = [
            (float(np.sum((embeddings[q] - embeddings[r]) ** 2)), r) for r in range(n) if r != q
        ]
        rankings.append([r for _, r in sorted(distances)])
    return rankings


def recall_loops(embeddings: np.ndarray, labels: np.ndarray, k: int) -> float:
    rankings = ranking_loops(embeddings)
    hits = [any(labels[r] == labels[q] for r in ranking[:k]) for q, ranking in enumerate(rankings)]
    return sum(hits) / len(hits)


def map_at_r_loops(embeddings: np.ndarray, labels: np.ndarray) -> float:
    rankings = ranking_loops(embeddings)
    scores = []
    for q, ranking in enumerate(rankings):
        r = sum(1 for j in range(len(labels)) if j != q and labels[j] == labels[q])
        if r == 0:
            continue
        correct, total = 0, 0.0
        for i, neighbour in enumerate(ranking[:r], start=1):
            if labels[neighbour] == labels[q]:
                correct += 1
                total += correct / i
        scores.append(total / r)
    return sum(scores) / len(scores)


def f1_loops(cluster_ids: np.ndarray, labels: np.ndarray) -> float:
    tp = fp = fn = 0
    for i, j in itertools.combinations(range(len(labels)), 2):
        same_class = labels[i] == labels[j]
        same_cluster = cluster_ids[i] == cluster_ids[j]
        tp += same_class and same_cluster
        fp += same_cluster and not same_class
        fn += same_class and not same_cluster
    if tp == 0:
        return 0.0
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    return 2 * precision * recall / (precision + recall)


def perfect_set() -> tuple[torch.Tensor, torch.Tensor]:
    """Five tight, far-apart clusters of 6 points each."""
    generator = torch.Generator().manual_seed(0)
    centres = 10.0 * torch.eye(5, 8)
    labels = torch.arange(5).repeat_interleave(6)
    embeddings = centres[labels] + 0.01 * torch.randn(30, 8, generator=generator)
    return embeddings, labels


def pml_calculator(**kwargs) -> AccuracyCalculator:
    """AccuracyCalculator without faiss (not installed): torch k-NN, eelib k-means."""
    return AccuracyCalculator(
        device=torch.device("cpu"),
        knn_func=CustomKNN(LpDistance(normalize_embeddings=False)),
        kmeans_func=lambda x, n: torch.as_tensor(kmeans_cluster_ids(x, n, seed=0)),
        **kwargs,
    )


# --- recall_at_k -----------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
def test_recall_matches_loops(seed: int) -> None:
    embeddings, labels = random_set(30, 4, 6, seed)
    ks = (1, 2, 4, 8, 16)
    result = recall_at_k(embeddings, labels, ks)
    assert list(result) == list(ks)
    for k in ks:
        assert result[k] == pytest.approx(recall_loops(embeddings, labels, k))


def test_recall_chunking_does_not_change_the_result() -> None:
    embeddings, labels = random_set(50, 5, 7, 3)
    x = torch.as_tensor(embeddings, dtype=torch.float32)
    assert recall_at_k(x, labels, block_size=7) == recall_at_k(x, labels, block_size=1000)


def test_nearest_neighbours_excludes_self_and_sorts() -> None:
    embeddings, _ = random_set(20, 3, 4, 1)
    neighbours = nearest_neighbours(torch.as_tensor(embeddings), 5, block_size=3)
    expected = [ranking[:5] for ranking in ranking_loops(embeddings)]
    assert neighbours.tolist() == expected


def test_recall_counts_singleton_queries_as_misses() -> None:
    embeddings = torch.tensor([[0.0], [0.1], [5.0]])
    labels = torch.tensor([0, 0, 1])
    assert recall_at_k(embeddings, labels, ks=(1,))[1] == pytest.approx(2 / 3)


def test_recall_at_1_equals_pml_precision_at_1() -> None:
    embeddings, labels = random_set(40, 6, 8, 5)
    calculator = pml_calculator(include=("precision_at_1",))
    pml = calculator.get_accuracy(torch.as_tensor(embeddings), torch.as_tensor(labels))
    ours = recall_at_k(embeddings, labels, ks=(1,))[1]
    assert ours == pytest.approx(pml["precision_at_1"])


def test_recall_accepts_numpy_and_torch_alike() -> None:
    embeddings, labels = random_set(20, 3, 4, 2)
    from_numpy = recall_at_k(embeddings, labels, ks=(1, 3))
    from_torch = recall_at_k(torch.as_tensor(embeddings), torch.as_tensor(labels), ks=(1, 3))
    assert from_numpy == from_torch


# --- map_at_r --------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
def test_map_at_r_matches_loops(seed: int) -> None:
    embeddings, labels = random_set(30, 4, 5, seed)
    assert map_at_r(embeddings, labels) == pytest.approx(map_at_r_loops(embeddings, labels))


def test_map_at_r_equals_pml() -> None:
    embeddings, labels = random_set(50, 6, 7, 11)
    calculator = pml_calculator(include=("mean_average_precision_at_r",), k="max_bin_count")
    pml = calculator.get_accuracy(torch.as_tensor(embeddings), torch.as_tensor(labels))
    assert map_at_r(embeddings, labels) == pytest.approx(pml["mean_average_precision_at_r"])


def test_map_at_r_skips_singleton_classes() -> None:
    embeddings = torch.tensor([[0.0], [0.1], [5.0], [-0.5]])
    labels = torch.tensor([0, 0, 1, 2])
    # Queries 0 and 1 (R = 1) find each other first: AP = 1. Queries 2 and 3 have R = 0 and
    # are skipped; counting them as 0 would give 0.5.
    assert map_at_r(embeddings, labels) == pytest.approx(1.0)


def test_map_at_r_needs_a_class_with_two_samples() -> None:
    with pytest.raises(ValueError, match="no class with 2 or more samples"):
        map_at_r(torch.eye(3), torch.tensor([0, 1, 2]))


# --- clustering metrics ----------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 4)), min_size=1, max_size=25)
)
def test_pairwise_f1_matches_loops(pairs: list[tuple[int, int]]) -> None:
    cluster_ids = np.array([c for c, _ in pairs])
    labels = np.array([y for _, y in pairs])
    assert pairwise_f1(cluster_ids, labels) == pytest.approx(f1_loops(cluster_ids, labels))


def test_pairwise_f1_ignores_the_values_of_ids() -> None:
    labels = np.array([3, 3, 9, 9, 9, 7])
    clusters = np.array([0, 0, 1, 1, 2, 2])
    relabelled = np.array([50, 50, -4, -4, 8, 8])
    assert pairwise_f1(clusters, labels) == pairwise_f1(relabelled, labels)


def test_pairwise_f1_known_value() -> None:
    # Clusters {0,1,2} {3,4}; classes {0,1} {2,3,4}: TP = 1 + 1, TP+FP = 3 + 1, TP+FN = 1 + 3.
    f1 = pairwise_f1([0, 0, 0, 1, 1], [0, 0, 1, 1, 1])
    assert f1 == pytest.approx(0.5)


def test_pairwise_f1_errors() -> None:
    with pytest.raises(ValueError, match="one cluster id per label"):
        pairwise_f1([0, 1], [0, 1, 1])
    with pytest.raises(TypeError, match="labels must hold integers"):
        pairwise_f1([0, 1], [0.5, 1.0])
    with pytest.raises(ValueError, match="cluster_ids must be 1-D"):
        pairwise_f1([[0, 1]], [0, 1])


def test_nmi_matches_sklearn_on_the_same_assignment() -> None:
    embeddings, labels = random_set(40, 3, 4, 7)
    cluster_ids = kmeans_cluster_ids(embeddings, 4, seed=0)
    expected = normalized_mutual_info_score(labels, cluster_ids)
    assert nmi(embeddings, labels, seed=0) == pytest.approx(expected)


def test_nmi_equals_pml_with_the_same_kmeans() -> None:
    embeddings, labels = random_set(40, 3, 4, 8)
    calculator = pml_calculator(include=("NMI",))
    pml = calculator.get_accuracy(torch.as_tensor(embeddings), torch.as_tensor(labels))
    assert nmi(embeddings, labels, seed=0) == pytest.approx(pml["NMI"])


def test_nmi_is_deterministic_for_a_seed() -> None:
    embeddings, labels = random_set(40, 3, 6, 9)
    assert nmi(embeddings, labels, seed=3) == nmi(embeddings, labels, seed=3)


def blobs(n_clusters: int, per_cluster: int, dim: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Tight clusters around far-apart random centres, shuffled."""
    generator = torch.Generator().manual_seed(seed)
    centres = 10.0 * torch.randn(n_clusters, dim, generator=generator)
    labels = torch.arange(n_clusters).repeat_interleave(per_cluster)
    points = centres[labels] + 0.05 * torch.randn(len(labels), dim, generator=generator)
    order = torch.randperm(len(labels), generator=generator)
    return points[order], labels[order]


def test_lloyd_kmeans_ends_at_a_fixed_point() -> None:
    """Converged: every point is nearest to the mean of its own cluster."""
    points, _ = blobs(12, 10, 6, seed=1)
    points = points + torch.randn(points.shape, generator=torch.Generator().manual_seed(1))
    ids = lloyd_kmeans(points, 12, seed=0, iterations=500, block_size=7)
    assert ids.shape == (120,) and ids.dtype == torch.int64
    used = torch.unique(ids)
    means = torch.stack([points[ids == c].mean(dim=0) for c in used])
    assert torch.equal(used[torch.cdist(points, means).argmin(dim=1)], ids)


def test_lloyd_kmeans_steps_are_lloyd_steps() -> None:
    """One iteration = assign to the nearest initial centroid (brute force), as documented."""
    points, _ = blobs(5, 8, 3, seed=2)
    generator = torch.Generator().manual_seed(4)
    start = points[torch.randperm(len(points), generator=generator)[:5]]
    expected = torch.cdist(points, start).argmin(dim=1)
    assert lloyd_kmeans(points, 5, seed=4, iterations=1, block_size=3).tolist() == expected.tolist()


def test_lloyd_kmeans_is_deterministic_for_a_seed() -> None:
    points, _ = blobs(6, 9, 4, seed=3)
    noisy = points + torch.randn(points.shape, generator=torch.Generator().manual_seed(0))
    assert torch.equal(lloyd_kmeans(noisy, 6, seed=2), lloyd_kmeans(noisy, 6, seed=2))


def test_kmeans_auto_keeps_sklearn_for_small_sets(monkeypatch) -> None:
    embeddings, _ = random_set(40, 3, 5, 1)
    assert np.array_equal(kmeans_cluster_ids(embeddings, 5, seed=0),
                          kmeans_cluster_ids(embeddings, 5, seed=0, method="sklearn"))
    monkeypatch.setattr(metrics, "SKLEARN_KMEANS_LIMIT", 10)  # now "large": faiss or torch
    expected = "faiss" if importlib.util.find_spec("faiss") else "torch"
    assert np.array_equal(kmeans_cluster_ids(embeddings, 5, seed=0),
                          kmeans_cluster_ids(embeddings, 5, seed=0, method=expected))


def test_kmeans_faiss_finds_separated_clusters() -> None:
    pytest.importorskip("faiss")
    points, labels = blobs(10, 12, 5, seed=5)
    ids = kmeans_cluster_ids(points, 10, method="faiss")
    assert normalized_mutual_info_score(labels, ids) > 0.9


def test_kmeans_method_is_checked() -> None:
    with pytest.raises(ValueError, match="method must be one of"):
        kmeans_cluster_ids(torch.randn(6, 2), 2, method="fast")
    with pytest.raises(ValueError, match="iterations"):
        kmeans_cluster_ids(torch.randn(6, 2), 2, method="torch", iterations=0)


def test_retrieval_in_blocks_equals_pml_on_a_larger_set() -> None:
    """R@1 and MAP@R against PML's AccuracyCalculator, several blocks, classes of 1 to 12 samples."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 150, 700)
    embeddings = rng.standard_normal((150, 16))[labels] + 0.8 * rng.standard_normal((700, 16))
    calculator = pml_calculator(include=("precision_at_1", "mean_average_precision_at_r"), k="max_bin_count")
    pml = calculator.get_accuracy(torch.as_tensor(embeddings), torch.as_tensor(labels))
    # PML leaves out queries whose class has no other sample; eelib counts them as misses
    counts = np.bincount(labels)[labels]
    assert (counts == 1).any()
    for block_size in (64, 1000):
        ours = evaluate_embeddings(embeddings, labels, ks=(1, 10), block_size=block_size)
        assert ours["R@1"] * len(labels) == pytest.approx(pml["precision_at_1"] * (counts > 1).sum())
        assert ours["MAP@R"] == pytest.approx(pml["mean_average_precision_at_r"])
    assert ours["R@10"] == pytest.approx(recall_loops(embeddings, labels, 10))


# --- evaluate_embeddings ---------------------------------------------------------------


def test_perfect_embeddings_score_one_everywhere() -> None:
    embeddings, labels = perfect_set()
    result = evaluate_embeddings(embeddings, labels)
    assert list(result) == ["R@1", "R@2", "R@4", "R@8", "NMI", "F1", "MAP@R"]
    for name, value in result.items():
        assert value == pytest.approx(1.0), name


def test_evaluate_agrees_with_the_single_metrics() -> None:
    embeddings, labels = random_set(40, 4, 5, 4)
    result = evaluate_embeddings(embeddings, labels, ks=(1, 10), seed=2)
    recalls = recall_at_k(embeddings, labels, ks=(1, 10))
    assert result["R@1"] == recalls[1] and result["R@10"] == recalls[10]
    assert result["NMI"] == pytest.approx(nmi(embeddings, labels, seed=2))
    cluster_ids = kmeans_cluster_ids(embeddings, 5, seed=2)
    assert result["F1"] == pytest.approx(pairwise_f1(cluster_ids, labels))
    assert result["MAP@R"] == pytest.approx(map_at_r(embeddings, labels))


def test_evaluate_without_repeated_classes_gives_nan_map() -> None:
    result = evaluate_embeddings(torch.eye(4), torch.arange(4), ks=(1,))
    assert result["R@1"] == 0.0 and math.isnan(result["MAP@R"])


# --- input errors ----------------------------------------------------------------------


def test_shape_mismatch_is_reported() -> None:
    with pytest.raises(ValueError, match="one label per embedding"):
        recall_at_k(torch.zeros(5, 2), torch.zeros(4, dtype=torch.long))


def test_k_larger_than_n_minus_one_is_reported() -> None:
    with pytest.raises(ValueError, match="K=5 in ks is larger than N-1=4"):
        recall_at_k(torch.randn(5, 2), torch.tensor([0, 0, 1, 1, 1]), ks=(1, 5))


def test_single_sample_is_reported() -> None:
    with pytest.raises(ValueError, match="at least 2 samples"):
        recall_at_k(torch.zeros(1, 2), torch.zeros(1, dtype=torch.long), ks=(1,))
    with pytest.raises(ValueError, match="at least 2 samples"):
        evaluate_embeddings(torch.zeros(1, 2), torch.zeros(1, dtype=torch.long), ks=(1,))


@pytest.mark.parametrize("ks", [(), (0,), (1.5,), 3, (True,)])
def test_bad_ks_are_reported(ks: object) -> None:
    with pytest.raises((TypeError, ValueError), match="ks must"):
        recall_at_k(torch.randn(6, 2), torch.tensor([0, 0, 1, 1, 2, 2]), ks=ks)


def test_wrong_types_are_reported() -> None:
    with pytest.raises(TypeError, match="labels must be an integer tensor"):
        recall_at_k(torch.randn(4, 2), torch.tensor([0.0, 0.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match="embeddings must be 2-D"):
        recall_at_k(torch.randn(4), torch.tensor([0, 0, 1, 1]))
    with pytest.raises(TypeError, match="embeddings must be a torch.Tensor or a numeric"):
        recall_at_k(object(), torch.tensor([0, 0, 1, 1]))
