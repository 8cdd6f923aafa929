"""Measurements behind the paper's analyses (docs/paper.md §1.7, §3), for the experiments.

* :func:`synthetic_as_batch_members`: EE *without* hard negative pair mining, the
  ablation's other arm: synthetic points join the batch as ordinary members.
* :func:`candidate_synthetic_share`, :func:`random_synthetic_share`: chance baselines for
  the share of hardest negative pairs that have a synthetic end.
* :func:`synthetic_query_recall`: are synthetic labels right? Recall@1 with synthetic
  points of the test classes as queries.
* :func:`occlude`: square occlusions for the robustness test.
* :func:`hard_anchor_share`: have hard negatives run out? The share of training anchors
  whose batch-hard triplet still violates the margin.
* :func:`mean_negative_distance`: the number a class-distance heat map is summarised by.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from eelib._validation import validate_positive_int
from eelib.diagnostics import hardest_negative_pairs
from eelib.data import PKSampler, random_batch
from eelib.distances import euclidean_from_squared
from eelib.expansion import EmbeddingExpansion, expand
from eelib.losses.triplet import batch_hard
from eelib.metrics import recall_at_k
from eelib.pairs import expansion_plan, pair_matrices


def synthetic_as_batch_members(loss: Callable[[Tensor, Tensor], Tensor], n_synthetic: int, *,
                               normalize_synthetic: bool = True) -> Callable[[Tensor, Tensor], Tensor]:
    """A loss that expands the batch with EE's points and treats them as ordinary samples.

    This is EE without HNPM: the ``n`` synthetic points of every same-class pair are
    appended to the batch with their parents' label (:func:`eelib.expansion.expand`), and
    the base loss runs on the expanded batch without EE. Synthetic points then serve as
    anchors, positives and negatives like real samples, and nothing selects the hardest
    pair between two expanded sets. Pass it to ``fit(..., loss=...)``.

    Parameters
    ----------
    loss : callable
        A configured base loss without EE (e.g. ``TripletLoss(mining="hardest")``), called
        as ``loss(embeddings, labels)``; it must accept any number of instances per class
        (N-pair, whose batches are pairs, cannot be used).
    n_synthetic : int
        Synthetic points per pair (>= 1).
    normalize_synthetic : bool, default True
        L2-normalise the synthetic points.
    """
    if not callable(loss):
        raise TypeError(f"loss must be a configured loss, called as loss(embeddings, labels), got {type(loss).__name__}")
    if getattr(loss, "n_synthetic", 0):
        raise ValueError("loss must not use EE itself (n_synthetic=0): this loss expands the batch instead")
    expansion = EmbeddingExpansion(n_synthetic=validate_positive_int("n_synthetic", n_synthetic),
                                   normalize_synthetic=normalize_synthetic)

    def loss_on_expanded_batch(embeddings: Tensor, labels: Tensor) -> Tensor:
        expanded = expansion(embeddings, labels)
        return loss(expanded.embeddings, expanded.labels)

    return loss_on_expanded_batch


def candidate_synthetic_share(labels: Tensor, n_synthetic: int) -> float:
    """Share of the candidate pairs of hard negative pair mining that have a synthetic end.

    For every original anchor ``i``, HNPM compares every point of its expanded set E(i)
    with every point of the other classes in the expanded batch; if the hardest pair were
    drawn uniformly from these candidates, it would involve a synthetic point with this
    probability (averaged over anchors).

    Examples
    --------
    8 classes × 4 instances, n = 2: E(i) holds 3 points, each other class 8 (4 synthetic),
    so 1 − (1 · 4) / (3 · 8) = 5/6 of the candidates have a synthetic end.

    >>> round(candidate_synthetic_share(torch.arange(8).repeat_interleave(4), 2), 4)
    0.8333
    """
    provenance, sets = expansion_plan(labels, n_synthetic)
    shares = []
    for i in range(len(labels)):
        members = sets[i].unique()
        others = provenance.labels != provenance.labels[i]
        synthetic_members = int(provenance.is_synthetic[members].sum())
        original_members = len(members) - synthetic_members
        original_others = int((others & ~provenance.is_synthetic).sum())
        shares.append(1 - original_members * original_others / (len(members) * int(others.sum())))
    return sum(shares) / len(shares)


def random_synthetic_share(classes_per_batch: int, samples_per_class: int, n_synthetic: int, dim: int,
                           *, batches: int = 200, seed: int = 0) -> float:
    """Share of hardest negative pairs with a synthetic end when the embeddings are random.

    Unit vectors drawn uniformly on the sphere (:func:`eelib.data.random_batch`), in the
    P × K layout; the mean over ``batches`` batches of the share of anchors whose HNPM pair
    (:func:`eelib.diagnostics.hardest_negative_pairs`) involves a synthetic point.
    """
    shares = []
    for b in range(batches):
        x, y = random_batch([samples_per_class] * classes_per_batch, dim, seed=seed + b)
        shares.append(float(hardest_negative_pairs(x, y, n_synthetic).involves_synthetic.double().mean()))
    return sum(shares) / len(shares)


def synthetic_query_recall(embeddings: Tensor, labels: Tensor, n_synthetic: int = 2) -> tuple[float, float]:
    """Recall@1 of original and of synthetic points as queries against the originals.

    The originals query each other, leaving themselves out. EE's synthetic points are
    generated between same-class originals (the samples are first sorted by label, so each
    class is a block) and each queries the originals without its own two parents; it counts
    as a hit when its nearest original has the label it inherited. A synthetic point is an
    average of two samples of its class, so it can beat the originals through averaging
    alone: compare the gap with the same measurement on a model trained without EE.

    Returns
    -------
    original, synthetic : float
        Recall@1 in [0, 1].
    """
    original = recall_at_k(embeddings, labels, ks=(1,))[1]
    order = torch.argsort(labels, stable=True)
    gallery, gallery_labels = embeddings[order], labels[order]
    expanded = expand(gallery, gallery_labels, n_synthetic=n_synthetic)
    synthetic = expanded.is_synthetic
    distances = torch.cdist(expanded.embeddings[synthetic], gallery)
    rows = torch.arange(int(synthetic.sum()))
    distances[rows, expanded.parent_a[synthetic]] = float("inf")
    distances[rows, expanded.parent_b[synthetic]] = float("inf")
    hits = gallery_labels[distances.argmin(1)] == expanded.labels[synthetic]
    return original, float(hits.double().mean())


def occlude(images: Tensor, side: int, area: float, generator: torch.Generator) -> Tensor:
    """Blank a random square covering ``area`` of each flattened ``side × side`` image.

    Parameters
    ----------
    images : Tensor, shape (N, side²)
    side : int
    area : float in [0, 1)
        Fraction of the image the square covers (its side is ``round(side · √area)``).
    generator : torch.Generator
        Draws the squares' positions.

    Returns
    -------
    Tensor, shape (N, side²)
        A copy with the squares set to 0 (the background).
    """
    if not 0 <= area < 1:
        raise ValueError(f"area must be in [0, 1), got {area}")
    if images.shape[1] != side * side:
        raise ValueError(f"images must have side² = {side * side} columns, got {images.shape[1]}")
    width = round(side * math.sqrt(area))
    out = images.clone().view(-1, side, side)
    if width == 0:
        return out.view(images.shape)
    corners = torch.randint(side - width + 1, (len(images), 2), generator=generator)
    rows = torch.arange(side)
    inside_r = (rows[None, :] >= corners[:, :1]) & (rows[None, :] < corners[:, :1] + width)
    inside_c = (rows[None, :] >= corners[:, 1:]) & (rows[None, :] < corners[:, 1:] + width)
    out[inside_r[:, :, None] & inside_c[:, None, :]] = 0.0
    return out.view(images.shape)


@torch.no_grad()
def hard_anchor_share(embeddings_of: Callable[[Tensor], Tensor], y: Tensor, *, classes_per_batch: int,
                      samples_per_class: int = 4, margin: float = 0.2, batches: int = 20, seed: int = 0) -> float:
    """Share of training anchors whose batch-hard triplet still violates the margin.

    For P × K batches of the training data, each anchor's farthest positive and closest
    negative (originals only) are found and the hinge ``d(a, p) − d(a, n) + margin`` is
    read; the share of anchors with a positive hinge tells whether hard negatives have run
    out (it falls towards 0 as training separates the training classes).

    Parameters
    ----------
    embeddings_of : callable
        Maps a tensor of sample indices to their embeddings, e.g.
        ``lambda index: embed(model, x_train[index])``; it is called once, for the
        samples of all the batches.
    y : Tensor
        Labels of the training samples.
    classes_per_batch, samples_per_class : int
    margin : float, default 0.2
    batches : int, default 20
    seed : int, default 0
    """
    sampler = PKSampler(y, classes_per_batch, samples_per_class, seed=seed)
    drawn: list[Tensor] = []
    while len(drawn) < batches:  # successive epochs of the sampler
        drawn += [torch.tensor(batch) for batch in sampler][: batches - len(drawn)]
    seen = torch.cat(drawn).unique()  # sorted: each sample is embedded once
    embeddings = embeddings_of(seen)
    violating, anchors = 0, 0
    for index in drawn:
        rows = torch.searchsorted(seen, index)
        pm = pair_matrices(embeddings[rows], y[index], n_synthetic=0, normalize_synthetic=True,
                           measure="squared_distance")
        distances = euclidean_from_squared(pm.positive, check_finite=False)
        hard = batch_hard(pm, distances, distances)
        hinge = hard.positive - hard.negative + margin
        violating += int((hinge[hard.valid] > 0).sum())
        anchors += int(hard.valid.sum())
    return violating / anchors


def mean_negative_distance(class_distances: Tensor) -> float:
    """Mean off-diagonal entry of a class × class matrix of hardest distances."""
    off_diagonal = ~torch.eye(len(class_distances), dtype=torch.bool)
    return float(class_distances[off_diagonal].double().mean())


__all__ = ["candidate_synthetic_share", "hard_anchor_share", "mean_negative_distance", "occlude",
           "random_synthetic_share", "synthetic_as_batch_members", "synthetic_query_recall"]
