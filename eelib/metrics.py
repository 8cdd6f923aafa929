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

Scale. Retrieval metrics make one pass over blocks of queries: each block's distances to all
samples (``block_size × N``) are reduced to its top-k at once and scored, so memory stays
``O(block_size × N)`` whatever K is, e.g. about 0.5 GB for Stanford Online Products' test set
(60,502 × 512). k-means, for NMI and F1, runs scikit-learn's ``KMeans`` (``n_init`` restarts)
on small problems; with thousands of clusters that takes hours, so larger problems use faiss
when it is installed (as pytorch-metric-learning's ``AccuracyCalculator`` does: 20 Lloyd
iterations) and otherwise :func:`lloyd_kmeans`, the same algorithm in torch
(see :func:`kmeans_cluster_ids`; benchmarks/README.md gives the times).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence

import numpy as np
import torch
from numpy.typing import ArrayLike
from sklearn.cluster import KMeans
from sklearn.metrics import normalized_mutual_info_score
from torch import Tensor

from eelib._validation import (
    validate_batch,
    validate_choice,
    validate_count,
    validate_embeddings,
    validate_memory,
    validate_positive_int,
    validate_seed,
)

#: Number of queries whose distances to all samples are held in memory at once.
DEFAULT_BLOCK_SIZE = 1024

#: k-means restarts; 10 is the classic scikit-learn default used by the HDML evaluation code.
DEFAULT_N_INIT = 10

DEFAULT_KS = (1, 2, 4, 8)

#: ``method="auto"`` of :func:`kmeans_cluster_ids` keeps scikit-learn's KMeans up to this
#: many samples × clusters (every offline data set of the course), beyond it faiss or torch.
SKLEARN_KMEANS_LIMIT = 20_000_000

#: Lloyd iterations of the large-scale k-means (faiss's and PML's default is 20).
DEFAULT_KMEANS_ITERATIONS = 20

KMEANS_METHODS = ("auto", "sklearn", "faiss", "torch")


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
    if labels.device.type != "meta":
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


def _validate_block_size(block_size: object) -> int:
    return validate_count("block_size", block_size, minimum=1)


def _validate_neighbour_memory(embeddings: Tensor, depth: int, block_size: int, what: str, *, result: bool) -> None:
    """Refuse a neighbour search whose blocks (and, with ``result``, its N × depth answer) do not fit."""
    n = embeddings.shape[0]
    block = min(block_size, n)
    n_bytes = 3 * block * n * embeddings.element_size() + block * depth * 8 + (n * depth * 8 if result else 0)
    validate_memory(what, n_bytes, embeddings.device)


def _neighbour_blocks(embeddings: Tensor, k: int, block_size: int):
    """Yield ``(start, stop, indices)``: each block of queries' ``k`` nearest other samples.

    Distances are squared Euclidean, ``‖x_q‖² + ‖x_r‖² − 2 x_q·x_r``; the query itself is
    excluded (its distance is set to +inf, where the official EE evaluator uses 1e5).
    """
    n = embeddings.shape[0]
    squared_norms = (embeddings * embeddings).sum(dim=1)
    for start in range(0, n, block_size):
        stop = min(start + block_size, n)
        distances = torch.addmm(squared_norms[None, :], embeddings[start:stop], embeddings.T, alpha=-2.0)
        distances += squared_norms[start:stop, None]
        rows = torch.arange(stop - start, device=embeddings.device)
        distances[rows, rows + start] = float("inf")
        yield start, stop, torch.topk(distances, k, dim=1, largest=False).indices


def nearest_neighbours(
    embeddings: Tensor, k: int, *, block_size: int = DEFAULT_BLOCK_SIZE
) -> Tensor:
    """Indices of the ``k`` nearest other samples of every sample (leave-one-out).

    Distances are squared Euclidean, ``‖x_q‖² + ‖x_r‖² − 2 x_q·x_r``; the query itself is
    excluded (its distance is set to +inf, where the official EE evaluator uses 1e5). Queries
    are processed in blocks, so the distances take ``O(block_size × N)`` memory rather than
    ``O(N²)`` (the result itself is ``N × k``).

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
    block_size = _validate_block_size(block_size)
    _validate_neighbour_memory(embeddings, k, block_size, f"nearest_neighbours with N={n}, k={k} and "
                               f"block_size={block_size}", result=True)
    return torch.cat([indices for _, _, indices in _neighbour_blocks(embeddings, k, block_size)])


def _retrieval_scores(
    embeddings: Tensor, labels: Tensor, ks: tuple[int, ...], with_map: bool, block_size: int
) -> tuple[dict[int, float], float]:
    """Recall@K for every K in ``ks`` and MAP@R, in one pass over blocks of queries.

    Each block's neighbour lists are scored and dropped, so nothing of size N × K is kept.
    MAP@R is ``nan`` when it is not asked for or no class has two samples.
    """
    block_size = _validate_block_size(block_size)
    _, inverse, counts = torch.unique(labels, return_inverse=True, return_counts=True)
    others = counts[inverse] - 1  # R of every query
    max_r = int(others.max()) if with_map else 0
    depth = max(max(ks, default=0), max_r)
    _validate_neighbour_memory(embeddings, depth, block_size, f"retrieval metrics over N={embeddings.shape[0]} "
                               f"to depth {depth} with block_size={block_size}", result=False)
    hits_within = torch.zeros(len(ks), dtype=torch.float64)
    precision_sum, n_queries = 0.0, 0
    for start, stop, indices in _neighbour_blocks(embeddings, depth, block_size):
        block_labels = labels[start:stop]
        neighbour_labels = labels[indices]
        if ks:
            first_hit_within = (neighbour_labels == block_labels[:, None]).cumsum(dim=1) > 0
            hits_within += torch.stack([first_hit_within[:, k - 1].sum() for k in ks]).cpu().double()
        if max_r >= 1:
            total, count = _average_precision_sum(neighbour_labels[:, :max_r], block_labels, others[start:stop])
            precision_sum, n_queries = precision_sum + total, n_queries + count
    n = embeddings.shape[0]
    recalls = {k: float(hits_within[i]) / n for i, k in enumerate(ks)}
    return recalls, precision_sum / n_queries if n_queries else float("nan")


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
    return _retrieval_scores(embeddings.detach(), labels, ks, False, block_size)[0]


def _average_precision_sum(neighbour_labels: Tensor, labels: Tensor, others: Tensor) -> tuple[float, int]:
    """Σ AP@R over the queries with R ≥ 1, and their number.

    ``neighbour_labels`` holds each query's ``max(R)`` nearest neighbours' labels; ``others``
    is each query's R (the number of other samples of its class).
    """
    n_ranks = neighbour_labels.shape[1]
    ranks = torch.arange(1, n_ranks + 1, device=labels.device)
    relevant = (neighbour_labels == labels[:, None]) & (ranks[None, :] <= others[:, None])
    precision_at_hits = relevant.cumsum(dim=1).double() / ranks * relevant
    has_positives = others > 0
    average_precision = precision_at_hits.sum(dim=1)[has_positives] / others[has_positives]
    return float(average_precision.sum()), int(has_positives.sum())


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
    ``mean_average_precision_at_r``. Distances are squared Euclidean. Memory is one block
    of distances, ``O(block_size × N)``.

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
    _max_other_in_class(labels)
    return _retrieval_scores(embeddings.detach(), labels, (), True, block_size)[1]


def _max_other_in_class(labels: Tensor) -> int:
    """Largest R (other samples of the same class) over all queries; must be >= 1."""
    max_r = int(torch.unique(labels, return_counts=True)[1].max()) - 1
    if max_r < 1:
        raise ValueError("labels has no class with 2 or more samples, so MAP@R is undefined")
    return max_r


def retrieval_metrics(
    embeddings: Tensor | ArrayLike,
    labels: Tensor | ArrayLike,
    ks: Sequence[int] = DEFAULT_KS,
    *,
    block_size: int = DEFAULT_BLOCK_SIZE,
) -> dict[str, float]:
    """Recall@K for every K and MAP@R from one pass over blocks of queries.

    The same values as :func:`recall_at_k` and :func:`map_at_r`, for the cost of one
    nearest-neighbour search; memory is one block of distances, ``O(block_size × N)``.

    Returns
    -------
    dict[str, float]
        ``"R@K"`` for each K (in the order of ``ks``), then ``"MAP@R"`` (``nan`` when no
        class has 2 samples).
    """
    embeddings, labels = _as_batch(embeddings, labels)
    ks = _validate_ks(ks, embeddings.shape[0])
    recalls, mean_average_precision = _retrieval_scores(embeddings.detach(), labels, ks, True, block_size)
    return {**{f"R@{k}": value for k, value in recalls.items()}, "MAP@R": mean_average_precision}


def kmeans_cluster_ids(
    embeddings: Tensor | ArrayLike,
    n_clusters: int,
    *,
    seed: int = 0,
    n_init: int = DEFAULT_N_INIT,
    method: str = "auto",
    iterations: int = DEFAULT_KMEANS_ITERATIONS,
) -> np.ndarray:
    """Cluster embeddings with k-means.

    Parameters
    ----------
    embeddings : Tensor or ndarray, shape (N, D)
    n_clusters : int
        Number of clusters, ``1 <= n_clusters <= N``.
    seed : int, default 0
        Seed of the initialisation.
    n_init : int, default 10
        Restarts of scikit-learn's KMeans (the best inertia wins); the other methods run once.
    method : {"auto", "sklearn", "faiss", "torch"}, default "auto"
        * ``"sklearn"``: :class:`sklearn.cluster.KMeans` (k-means++ init, ``n_init`` restarts,
          to convergence): the reference, but hours for SOP's 11,316 clusters.
        * ``"faiss"``: ``faiss.Kmeans`` with ``iterations`` Lloyd steps, as
          pytorch-metric-learning's ``AccuracyCalculator`` (needs faiss).
        * ``"torch"``: :func:`lloyd_kmeans`, the same algorithm without faiss.
        * ``"auto"``: ``"sklearn"`` while ``N × n_clusters <= SKLEARN_KMEANS_LIMIT`` (so small
          evaluations keep their values), else ``"faiss"`` when it is installed, else ``"torch"``.
    iterations : int, default 20
        Lloyd iterations of ``"faiss"`` and ``"torch"``.

    Returns
    -------
    ndarray, shape (N,), dtype int64
        Cluster id of every sample.
    """
    tensor = _as_embeddings(embeddings)
    validate_embeddings(tensor)
    return _cluster_ids(tensor, n_clusters, seed=seed, n_init=n_init, method=method, iterations=iterations)


def _cluster_ids(tensor: Tensor, n_clusters: int, *, seed: int, n_init: int, method: str,
                 iterations: int = DEFAULT_KMEANS_ITERATIONS) -> np.ndarray:
    """:func:`kmeans_cluster_ids` for embeddings already checked (its other arguments are checked here)."""
    array = tensor.detach().cpu().numpy()
    n_clusters = validate_count("n_clusters", n_clusters, minimum=1, maximum=array.shape[0])
    n_init = validate_count("n_init", n_init, minimum=1)
    seed = validate_seed("seed", seed, maximum=2**32 - 1)  # scikit-learn's random_state range
    method = validate_choice("method", method, KMEANS_METHODS)
    iterations = validate_positive_int("iterations", iterations)
    if method == "auto":
        method = "sklearn" if array.shape[0] * n_clusters <= SKLEARN_KMEANS_LIMIT else (
            "faiss" if importlib.util.find_spec("faiss") is not None else "torch")
    if method == "sklearn":
        kmeans = KMeans(n_clusters=int(n_clusters), n_init=n_init, random_state=seed)
        return kmeans.fit_predict(array).astype(np.int64)
    if method == "faiss":
        import faiss  # optional: only this method needs it

        points = np.ascontiguousarray(array, dtype=np.float32)
        kmeans = faiss.Kmeans(points.shape[1], int(n_clusters), niter=iterations, seed=seed)
        kmeans.train(points)
        return kmeans.index.search(points, 1)[1][:, 0].astype(np.int64)
    points = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    return lloyd_kmeans(points, int(n_clusters), seed=seed, iterations=iterations).numpy()


def lloyd_kmeans(
    points: Tensor,
    n_clusters: int,
    *,
    seed: int = 0,
    iterations: int = DEFAULT_KMEANS_ITERATIONS,
    block_size: int = 4096,
) -> Tensor:
    """k-means by Lloyd's algorithm in torch, for thousands of clusters.

    The centroids start at ``n_clusters`` distinct samples drawn with ``seed``; each iteration
    assigns every point to its nearest centroid (squared Euclidean, ``‖c‖² − 2 x·c`` in blocks
    of ``block_size`` points, so memory is ``O(block_size × n_clusters)``) and moves each
    centroid to the mean of its points; an empty cluster keeps its centroid. It stops after
    ``iterations`` steps or when no assignment changes. Every step costs one
    ``N × n_clusters × D`` matrix product, like faiss's implementation.

    Parameters
    ----------
    points : Tensor, shape (N, D)
    n_clusters : int
    seed : int, default 0
    iterations : int, default 20
    block_size : int, default 4096

    Returns
    -------
    Tensor of int64, shape (N,)
        The final assignment.
    """
    generator = torch.Generator().manual_seed(seed)
    centroids = points[torch.randperm(points.shape[0], generator=generator)[:n_clusters].to(points.device)].clone()
    assignment = None
    for _ in range(iterations):
        new_assignment = _nearest_centroids(points, centroids, block_size)
        if assignment is not None and bool((new_assignment == assignment).all()):
            break
        assignment = new_assignment
        sums = torch.zeros_like(centroids).index_add_(0, assignment, points)
        counts = torch.bincount(assignment, minlength=n_clusters)
        filled = counts > 0
        centroids[filled] = sums[filled] / counts[filled, None].to(points.dtype)
    return assignment


def _nearest_centroids(points: Tensor, centroids: Tensor, block_size: int) -> Tensor:
    """Index of the nearest centroid of every point, block by block."""
    squared_norms = (centroids * centroids).sum(dim=1)
    return torch.cat([torch.addmm(squared_norms[None, :], points[start:start + block_size], centroids.T,
                                  alpha=-2.0).argmin(dim=1)
                      for start in range(0, points.shape[0], block_size)])


def nmi(
    embeddings: Tensor | ArrayLike,
    labels: Tensor | ArrayLike,
    *,
    seed: int = 0,
    n_init: int = DEFAULT_N_INIT,
    kmeans: str = "auto",
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
        k-means restarts (scikit-learn's KMeans only).
    kmeans : {"auto", "sklearn", "faiss", "torch"}, default "auto"
        The ``method`` of :func:`kmeans_cluster_ids`.

    Returns
    -------
    float
        NMI in [0, 1].
    """
    embeddings, labels = _as_batch(embeddings, labels)
    n_classes = int(torch.unique(labels).numel())
    cluster_ids = _cluster_ids(embeddings, n_classes, seed=seed, n_init=n_init, method=kmeans)
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
    kmeans: str = "auto",
) -> dict[str, float]:
    """All metrics of the paper's Table 1, plus MAP@R, for one evaluation set.

    The nearest-neighbour search runs once (one pass over blocks of queries, for
    ``max(max(ks), R_max)`` neighbours) and k-means runs once; its assignment serves both NMI
    and F1.

    Parameters
    ----------
    embeddings : Tensor or ndarray, shape (N, D)
    labels : Tensor or ndarray, shape (N,)
    ks : sequence of int, default (1, 2, 4, 8)
        Recall cut-offs, each ``<= N - 1``.
    seed : int, default 0
        Seed of k-means.
    n_init : int, default 10
        k-means restarts (scikit-learn's KMeans only).
    block_size : int, default 1024
        Queries per block of the distance computation.
    kmeans : {"auto", "sklearn", "faiss", "torch"}, default "auto"
        The ``method`` of :func:`kmeans_cluster_ids`.

    Returns
    -------
    dict[str, float]
        Keys ``"R@K"`` for each K (in the order of ``ks``), then ``"NMI"``, ``"F1"`` and
        ``"MAP@R"`` (``nan`` when no class has 2 samples). Values in [0, 1].
    """
    embeddings, labels = _as_batch(embeddings, labels)
    ks = _validate_ks(ks, embeddings.shape[0])
    recalls, mean_average_precision = _retrieval_scores(embeddings.detach(), labels, ks, True, block_size)
    results = {f"R@{k}": value for k, value in recalls.items()}
    n_classes = int(torch.unique(labels).numel())
    cluster_ids = _cluster_ids(embeddings, n_classes, seed=seed, n_init=n_init, method=kmeans)
    numpy_labels = labels.cpu().numpy()
    results["NMI"] = _nmi_of_assignment(cluster_ids, numpy_labels)
    results["F1"] = pairwise_f1(cluster_ids, numpy_labels)
    results["MAP@R"] = mean_average_precision
    return results


__all__ = [
    "DEFAULT_KS",
    "evaluate_embeddings",
    "kmeans_cluster_ids",
    "lloyd_kmeans",
    "map_at_r",
    "nearest_neighbours",
    "nmi",
    "pairwise_f1",
    "recall_at_k",
    "retrieval_metrics",
]
