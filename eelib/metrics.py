"""Retrieval and clustering metrics for deep metric learning.

The protocol follows the one the Embedding Expansion paper reports (Ko & Gu, CVPR 2020,
Table 1), which is that of Oh Song et al. (2016):

* **Recall@K** (official EE code, ``runner/evaluator.py``): every test sample is a query
  against all *other* test samples, ranked by squared Euclidean distance; a query is a hit
  when one of its K nearest neighbours has its label.
* **NMI**: k-means with one cluster per class, then the normalised mutual information
  between clusters and classes (arithmetic mean of the entropies).
* **F1**: the pairwise clustering F-measure of the same k-means assignment.
* **MAP@R** (Musgrave, Belongie & Lim, "A Metric Learning Reality Check", ECCV 2020), which
  the paper does not report but which is a less saturated summary of the ranking.

All functions accept torch tensors or numpy arrays and return Python floats in [0, 1]
(the paper prints them as percentages). Embeddings in half precision (float16, bfloat16)
are evaluated in float32; otherwise they are checked like a loss's batch
(:func:`eelib._validation.validate_batch`: finite, row norms within the dtype's limit).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from numpy.typing import ArrayLike
from sklearn.cluster import KMeans
from sklearn.metrics import normalized_mutual_info_score
from torch import Tensor

from eelib._validation import (
    validate_batch,
    validate_count,
    validate_embeddings,
    validate_memory,
    validate_seed,
)

#: Number of queries whose distances to all samples are held in memory at once.
DEFAULT_BLOCK_SIZE = 1024

#: k-means restarts; 10 is the classic scikit-learn default used by the HDML evaluation code.
DEFAULT_N_INIT = 10

DEFAULT_KS = (1, 2, 4, 8)


def _as_tensor(value: Tensor | ArrayLike, name: str) -> Tensor:
    """Convert a numpy array (or nested sequence) to a tensor; pass tensors through."""
    if isinstance(value, Tensor):
        return value
    try:
        return torch.as_tensor(np.asarray(value))
    except (TypeError, ValueError, RuntimeError) as err:
        raise TypeError(
            f"{name} must be a torch.Tensor or a numeric numpy array, got {type(value).__name__}"
        ) from err


def _as_embeddings(value: Tensor | ArrayLike) -> Tensor:
    """Embeddings as a tensor, half precision widened to float32 (no gradient flows here)."""
    embeddings = _as_tensor(value, "embeddings")
    if embeddings.dtype in (torch.float16, torch.bfloat16):
        embeddings = embeddings.float()
    return embeddings


def _as_batch(
    embeddings: Tensor | ArrayLike, labels: Tensor | ArrayLike
) -> tuple[Tensor, Tensor]:
    """Validate and convert an evaluation set to (embeddings (N, D), labels (N,)) tensors."""
    embeddings = _as_embeddings(embeddings)
    labels = _as_tensor(labels, "labels")
    if isinstance(embeddings, Tensor) and isinstance(labels, Tensor) and labels.device.type != "meta":
        labels = labels.to(embeddings.device)
    validate_batch(embeddings, labels)
    if embeddings.shape[0] < 2:
        raise ValueError(
            f"embeddings has {embeddings.shape[0]} row; at least 2 samples are needed "
            "(each query is compared with the other samples)"
        )
    return embeddings, labels


def _as_labels(labels: Tensor | ArrayLike, name: str) -> np.ndarray:
    """Convert a 1-D integer label vector to a numpy int64 array."""
    array = _as_tensor(labels, name).detach().cpu().numpy()
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D with shape (N,), got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"{name} must hold integers, got dtype {array.dtype}")
    return array.astype(np.int64)


def _validate_ks(ks: Sequence[int], n_samples: int) -> tuple[int, ...]:
    """Check the list of K values against the number of samples N (each K <= N - 1)."""
    if isinstance(ks, (int, np.integer, str)) or not isinstance(ks, Sequence) or len(ks) == 0:
        raise TypeError(f"ks must be a non-empty sequence of positive ints, got {ks!r}")
    for k in ks:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"ks must hold positive ints, got {k!r} in {ks!r}")
        if k > n_samples - 1:
            raise ValueError(
                f"K={k} in ks is larger than N-1={n_samples - 1}: with {n_samples} samples each "
                "query has only N-1 others to retrieve"
            )
    return tuple(int(k) for k in ks)


def nearest_neighbours(
    embeddings: Tensor, k: int, *, block_size: int = DEFAULT_BLOCK_SIZE
) -> Tensor:
    """Indices of the ``k`` nearest other samples of every sample (leave-one-out).

    Distances are squared Euclidean, ``‖x_q‖² + ‖x_r‖² − 2 x_q·x_r``; the query itself is
    excluded (its distance is set to +inf, where the official EE evaluator uses 1e5). Queries
    are processed in blocks, so memory is ``O(block_size × N)`` rather than ``O(N²)``.

    Parameters
    ----------
    embeddings : Tensor, shape (N, D)
    k : int
        Number of neighbours, ``1 <= k <= N - 1``.
    block_size : int, default 1024
        Number of queries per block.

    Returns
    -------
    Tensor, shape (N, k), dtype int64
        Row q lists the neighbours of q, nearest first.
    """
    validate_embeddings(embeddings)
    n = embeddings.shape[0]
    if n < 2:
        raise ValueError(f"embeddings has {n} row; at least 2 samples are needed (a query needs another sample)")
    k = validate_count("k", k, minimum=1, maximum=n - 1)
    block_size = validate_count("block_size", block_size, minimum=1)
    block = min(block_size, n)
    validate_memory(f"nearest_neighbours with N={n}, k={k} and block_size={block_size}",
                    n * k * 8 + 3 * block * n * embeddings.element_size(), embeddings.device)
    squared_norms = (embeddings * embeddings).sum(dim=1)
    blocks = []
    for start in range(0, n, block_size):
        stop = min(start + block_size, n)
        queries = embeddings[start:stop]
        distances = squared_norms[start:stop, None] + squared_norms[None, :]
        distances -= 2.0 * queries @ embeddings.T
        rows = torch.arange(stop - start, device=embeddings.device)
        distances[rows, rows + start] = float("inf")
        blocks.append(torch.topk(distances, k, dim=1, largest=False).indices)
    return torch.cat(blocks)


def _recall_from_neighbours(
    neighbour_labels: Tensor, labels: Tensor, ks: tuple[int, ...]
) -> dict[int, float]:
    """R@K for each K from the labels of the sorted neighbours, shape (N, max(ks))."""
    hits = neighbour_labels == labels[:, None]
    first_hit_within = hits.cumsum(dim=1) > 0
    return {k: first_hit_within[:, k - 1].double().mean().item() for k in ks}


def recall_at_k(
    embeddings: Tensor | ArrayLike,
    labels: Tensor | ArrayLike,
    ks: Sequence[int] = DEFAULT_KS,
    *,
    block_size: int = DEFAULT_BLOCK_SIZE,
) -> dict[int, float]:
    """Leave-one-out Recall@K.

    ``R@K = (1/N) Σ_q 1[∃ r ∈ NN_K(q) : y_r = y_q]``, where ``NN_K(q)`` are the K samples
    other than q with the smallest squared Euclidean distance to q (docs/paper.md §4.1; official
    EE ``runner/evaluator.py``). Every sample is a query, including those whose class has no
    other sample (they always miss).

    Parameters
    ----------
    embeddings : Tensor or ndarray, shape (N, D)
    labels : Tensor or ndarray, shape (N,)
        Integer class labels.
    ks : sequence of int, default (1, 2, 4, 8)
        Each K must satisfy ``1 <= K <= N - 1``. The paper uses (1, 10, 100) for SOP.
    block_size : int, default 1024
        Queries per block of the distance computation.

    Returns
    -------
    dict[int, float]
        ``{K: R@K}`` in [0, 1].

    Raises
    ------
    ValueError
        If shapes disagree, there are fewer than 2 samples, or some K exceeds N − 1.
    """
    embeddings, labels = _as_batch(embeddings, labels)
    ks = _validate_ks(ks, embeddings.shape[0])
    neighbours = nearest_neighbours(embeddings.detach(), max(ks), block_size=block_size)
    return _recall_from_neighbours(labels[neighbours], labels, ks)


def _map_at_r_from_neighbours(neighbour_labels: Tensor, labels: Tensor) -> float:
    """MAP@R from the labels of each query's ``max(R)`` nearest neighbours."""
    _, inverse, counts = torch.unique(labels, return_inverse=True, return_counts=True)
    r = counts[inverse] - 1
    n_ranks = neighbour_labels.shape[1]
    ranks = torch.arange(1, n_ranks + 1, device=labels.device)
    relevant = (neighbour_labels == labels[:, None]) & (ranks[None, :] <= r[:, None])
    precision_at_hits = relevant.cumsum(dim=1).double() / ranks * relevant
    has_positives = r > 0
    average_precision = precision_at_hits.sum(dim=1)[has_positives] / r[has_positives]
    return average_precision.mean().item()


def map_at_r(
    embeddings: Tensor | ArrayLike,
    labels: Tensor | ArrayLike,
    *,
    block_size: int = DEFAULT_BLOCK_SIZE,
) -> float:
    """Mean average precision at R (MAP@R), leave-one-out.

    For a query q with ``R`` other samples of its class,

        ``AP@R(q) = (1/R) Σ_{i=1..R} P(i) · rel(i)``,

    where ``rel(i)`` is 1 when the i-th nearest other sample has q's label and ``P(i)`` is the
    precision among the first i neighbours (Musgrave, Belongie & Lim, "A Metric Learning
    Reality Check", ECCV 2020). MAP@R averages over queries with ``R >= 1``; queries whose
    class has a single sample are skipped, as in pytorch-metric-learning's
    ``mean_average_precision_at_r``. Distances are squared Euclidean. Memory is
    ``O(N × max R)`` for the neighbour lists, plus one block of distances.

    Parameters
    ----------
    embeddings : Tensor or ndarray, shape (N, D)
    labels : Tensor or ndarray, shape (N,)
    block_size : int, default 1024
        Queries per block of the distance computation.

    Returns
    -------
    float
        MAP@R in [0, 1].

    Raises
    ------
    ValueError
        If shapes disagree, there are fewer than 2 samples, or no class has 2 samples.
    """
    embeddings, labels = _as_batch(embeddings, labels)
    max_r = _max_other_in_class(labels)
    neighbours = nearest_neighbours(embeddings.detach(), max_r, block_size=block_size)
    return _map_at_r_from_neighbours(labels[neighbours], labels)


def _max_other_in_class(labels: Tensor) -> int:
    """Largest R (other samples of the same class) over all queries; must be >= 1."""
    max_r = int(torch.unique(labels, return_counts=True)[1].max()) - 1
    if max_r < 1:
        raise ValueError("labels has no class with 2 or more samples, so MAP@R is undefined")
    return max_r


def kmeans_cluster_ids(
    embeddings: Tensor | ArrayLike,
    n_clusters: int,
    *,
    seed: int = 0,
    n_init: int = DEFAULT_N_INIT,
) -> np.ndarray:
    """Cluster embeddings with k-means (scikit-learn, k-means++ init, fixed seed).

    Parameters
    ----------
    embeddings : Tensor or ndarray, shape (N, D)
    n_clusters : int
        Number of clusters, ``1 <= n_clusters <= N``.
    seed : int, default 0
        ``random_state`` of :class:`sklearn.cluster.KMeans`.
    n_init : int, default 10
        Number of restarts; the best inertia wins.

    Returns
    -------
    ndarray, shape (N,), dtype int64
        Cluster id of every sample.
    """
    tensor = _as_embeddings(embeddings)
    validate_embeddings(tensor)
    array = tensor.detach().cpu().numpy()
    n_clusters = validate_count("n_clusters", n_clusters, minimum=1, maximum=array.shape[0])
    n_init = validate_count("n_init", n_init, minimum=1)
    seed = validate_seed("seed", seed, maximum=2**32 - 1)  # scikit-learn's random_state range
    kmeans = KMeans(n_clusters=n_clusters, n_init=n_init, random_state=seed)
    return kmeans.fit_predict(array).astype(np.int64)


def nmi(
    embeddings: Tensor | ArrayLike,
    labels: Tensor | ArrayLike,
    *,
    seed: int = 0,
    n_init: int = DEFAULT_N_INIT,
) -> float:
    """Normalised mutual information of a k-means clustering with one cluster per class.

    ``NMI = 2 I(Y; C) / (H(Y) + H(C))`` (arithmetic averaging, scikit-learn's default), with
    C the k-means assignment for K = number of distinct labels (docs/paper.md §4.1, as in
    HDML's evaluation code; EE's own NMI code is not published, so its exact implementation
    is UNVERIFIED).

    Parameters
    ----------
    embeddings : Tensor or ndarray, shape (N, D)
    labels : Tensor or ndarray, shape (N,)
    seed : int, default 0
        Seed of k-means.
    n_init : int, default 10
        k-means restarts.

    Returns
    -------
    float
        NMI in [0, 1].
    """
    embeddings, labels = _as_batch(embeddings, labels)
    n_classes = int(torch.unique(labels).numel())
    cluster_ids = kmeans_cluster_ids(embeddings, n_classes, seed=seed, n_init=n_init)
    return _nmi_of_assignment(cluster_ids, labels.cpu().numpy())


def _nmi_of_assignment(cluster_ids: np.ndarray, labels: np.ndarray) -> float:
    return float(normalized_mutual_info_score(labels, cluster_ids, average_method="arithmetic"))


def _pairs(counts: np.ndarray) -> int:
    """Σ C(n, 2) over an integer array of counts."""
    counts = counts.astype(np.int64)
    return int((counts * (counts - 1) // 2).sum())


def pairwise_f1(cluster_ids: Tensor | ArrayLike, labels: Tensor | ArrayLike) -> float:
    """Pairwise clustering F-measure, from the contingency table.

    Over all unordered pairs of samples: TP = same class and same cluster, FP = different
    class but same cluster, FN = same class but different clusters. With ``n_ij`` the number
    of samples of class i in cluster j, ``a_j`` the cluster sizes and ``b_i`` the class sizes,

        ``TP = Σ_ij C(n_ij, 2)``, ``TP + FP = Σ_j C(a_j, 2)``, ``TP + FN = Σ_i C(b_i, 2)``,

    ``P = TP / (TP + FP)``, ``R = TP / (TP + FN)``, ``F1 = 2PR / (P + R)`` (docs/paper.md §4.1).
    Only the non-zero cells of the table are formed, so the cost is ``O(N log N)``,
    whatever the numbers of classes and clusters.

    Parameters
    ----------
    cluster_ids : Tensor or ndarray, shape (N,)
        Integer cluster assignment.
    labels : Tensor or ndarray, shape (N,)
        Integer class labels.

    Returns
    -------
    float
        F1 in [0, 1]; 0.0 when there is no true-positive pair (which includes the degenerate
        cases where P or R is 0/0).
    """
    cluster_ids = _as_labels(cluster_ids, "cluster_ids")
    labels = _as_labels(labels, "labels")
    if cluster_ids.shape != labels.shape:
        raise ValueError(
            f"cluster_ids has {cluster_ids.shape[0]} entries but labels has {labels.shape[0]}; "
            "there must be one cluster id per label"
        )
    if labels.shape[0] == 0:
        raise ValueError("labels is empty: at least one sample is needed")
    _, class_index, class_sizes = np.unique(labels, return_inverse=True, return_counts=True)
    clusters, cluster_index, cluster_sizes = np.unique(cluster_ids, return_inverse=True, return_counts=True)
    # the non-zero cells n_ij of the contingency table, without the (classes x clusters) table
    _, cells = np.unique(class_index.astype(np.int64) * len(clusters) + cluster_index, return_counts=True)
    true_positives = _pairs(cells)
    if true_positives == 0:
        return 0.0
    precision = true_positives / _pairs(cluster_sizes)
    recall = true_positives / _pairs(class_sizes)
    return 2.0 * precision * recall / (precision + recall)


def evaluate_embeddings(
    embeddings: Tensor | ArrayLike,
    labels: Tensor | ArrayLike,
    ks: Sequence[int] = DEFAULT_KS,
    *,
    seed: int = 0,
    n_init: int = DEFAULT_N_INIT,
    block_size: int = DEFAULT_BLOCK_SIZE,
) -> dict[str, float]:
    """All metrics of the paper's Table 1, plus MAP@R, for one evaluation set.

    The nearest-neighbour search runs once (for ``max(max(ks), R_max)`` neighbours) and
    k-means runs once; its assignment serves both NMI and F1.

    Parameters
    ----------
    embeddings : Tensor or ndarray, shape (N, D)
    labels : Tensor or ndarray, shape (N,)
    ks : sequence of int, default (1, 2, 4, 8)
        Recall cut-offs, each ``<= N - 1``.
    seed : int, default 0
        Seed of k-means.
    n_init : int, default 10
        k-means restarts.
    block_size : int, default 1024
        Queries per block of the distance computation.

    Returns
    -------
    dict[str, float]
        Keys ``"R@K"`` for each K (in the order of ``ks``), then ``"NMI"``, ``"F1"`` and
        ``"MAP@R"`` (``nan`` when no class has 2 samples). Values in [0, 1].
    """
    embeddings, labels = _as_batch(embeddings, labels)
    ks = _validate_ks(ks, embeddings.shape[0])
    class_sizes = torch.unique(labels, return_counts=True)[1]
    max_r = int(class_sizes.max()) - 1
    neighbours = nearest_neighbours(
        embeddings.detach(), max(max(ks), max_r), block_size=block_size
    )
    neighbour_labels = labels[neighbours]
    recalls = _recall_from_neighbours(neighbour_labels, labels, ks)
    results = {f"R@{k}": value for k, value in recalls.items()}
    cluster_ids = kmeans_cluster_ids(embeddings, len(class_sizes), seed=seed, n_init=n_init)
    numpy_labels = labels.cpu().numpy()
    results["NMI"] = _nmi_of_assignment(cluster_ids, numpy_labels)
    results["F1"] = pairwise_f1(cluster_ids, numpy_labels)
    results["MAP@R"] = (
        _map_at_r_from_neighbours(neighbour_labels[:, :max_r], labels)
        if max_r >= 1
        else float("nan")
    )
    return results


__all__ = [
    "DEFAULT_KS",
    "evaluate_embeddings",
    "kmeans_cluster_ids",
    "map_at_r",
    "nearest_neighbours",
    "nmi",
    "pairwise_f1",
    "recall_at_k",
]
