"""Analyses the course shows, computed on one batch: pair weights, gradient usage, hard negatives.

* :func:`loss_geometry`: a loss's value, its gradient on every point, and its *pair
  weights*: the gradient with respect to every pair's inner product ``G_ij`` tells whether
  the loss pulls the pair together (``∂L/∂G_ij < 0``) or pushes it apart (``> 0``), and how
  strongly (the general pair weighting view of Wang et al., CVPR 2019, Eq. 3). It is read off
  autograd without touching the loss's code: append ``ε·I`` to the embeddings, so that
  ``G`` becomes ``X Xᵀ + ε² I``; the gradient of the appended block is ``ε (∂L/∂G + ∂L/∂Gᵀ)``.
* :func:`gradient_usage`, :func:`violating_triplet_share`: why sampling matters (below).
* :func:`hardest_negative_pairs`, :func:`class_distance_matrix`: where EE's hard negative
  pair mining finds its pairs, per anchor and between classes.

Why sampling matters: which triplets still teach, and which samples a mined loss learns from.

The EE paper motivates synthesis with two observations about pair-based losses (Ko & Gu,
CVPR 2020, as the source review reports them; the paper's own wording is not checked here):
as training goes on most tuples satisfy the margin and carry no gradient, and hard-sample
mining, which restores the signal, spends each update on a few hard samples while the many
easy ones contribute nothing. The functions here measure both on one batch, for any eelib
loss, so that notebook 07 can follow them over a training run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import Tensor

from eelib._validation import validate_batch, validate_memory, validate_non_negative
from eelib.distances import pairwise_distances, squared_distances_from_gram
from eelib.expansion import expanded_inner_products
from eelib.losses import get_loss
from eelib.pairs import expansion_plan, validate_expansion

#: Size of the probe block appended to the embeddings; it shifts squared norms by ε² = 1e-12.
PROBE_EPS = 1e-6

#: A gradient row or pair weight counts as non-zero above this fraction of the largest one
#: (round-off from cancelling terms is far below it).
RELATIVE_ZERO = 1e-9


class Geometry(NamedTuple):
    """The state of a loss on a batch.

    Attributes
    ----------
    loss : float
    gradient : Tensor, shape (B, 2)
        ``∂L/∂x_i``; gradient descent moves each point along ``−gradient``.
    pair_weights : Tensor, shape (B, B)
        ``∂L/∂(x_i · x_j)``, the inner product of a pair taken as one variable
        (``∂L/∂G_ij + ∂L/∂G_ji``): negative for pairs the loss pulls together, positive for
        pairs it pushes apart, zero for inactive pairs (diagonal set to zero). The
        gradient on a point is ``∂L/∂x_i = Σ_j w_ij x_j`` plus its own norm's term.
    """

    loss: float
    gradient: Tensor
    pair_weights: Tensor


def loss_geometry(loss: str | Callable[..., Tensor], points: Tensor, labels: Tensor, **hyperparameters: Any) -> Geometry:
    """Evaluate a loss on a batch and read off its gradients and pair weights.

    Parameters
    ----------
    loss : str or callable
        A name in :data:`eelib.losses.LOSSES` or a loss with the eelib signature.
    points : Tensor, shape (B, D)
    labels : Tensor, shape (B,)
    **hyperparameters
        Passed to the loss (``margin``, ``mining``, ``n_synthetic``, ...).

    Returns
    -------
    Geometry
    """
    fn = get_loss(loss)
    validate_batch(points, labels)
    x = points.detach().to(torch.float64).requires_grad_(True)
    value = _scalar_loss(fn(x, labels, **hyperparameters))
    (gradient,) = torch.autograd.grad(value, x, allow_unused=True)
    probe = (PROBE_EPS * torch.eye(len(labels), dtype=torch.float64)).requires_grad_(True)
    probed = _scalar_loss(fn(torch.cat([x.detach(), probe], dim=1), labels, **hyperparameters))
    (probe_grad,) = torch.autograd.grad(probed, probe, allow_unused=True)
    if gradient is None or probe_grad is None:
        raise ValueError("loss does not depend on the embeddings it is given: there is no gradient to read")
    weights = (probe_grad + probe_grad.T) / (2 * PROBE_EPS)
    weights.fill_diagonal_(0.0)
    return Geometry(float(value.detach()), gradient, weights)


def _scalar_loss(value: object) -> Tensor:
    """A loss's output, checked: a finite 0-dim tensor that autograd can differentiate."""
    if not isinstance(value, Tensor) or value.dim() != 0 or not value.is_floating_point():
        raise TypeError(f"loss must return a 0-dim floating-point tensor, got {value!r:.80}")
    if not value.requires_grad:
        raise ValueError("loss returned a tensor without a gradient (is it detached from the embeddings?)")
    if not bool(torch.isfinite(value)):
        raise ValueError(f"loss returned a non-finite value ({value.detach().item()})")
    return value


class GradientUsage(NamedTuple):
    """How a loss spreads its gradient over the samples and negative pairs of a batch.

    Attributes
    ----------
    sample_gradient : Tensor, shape (B,)
        ``‖∂L/∂x_i‖`` for every sample ``i``.
    active_share : float
        Share of the batch whose gradient is non-zero: the samples the update moves.
    effective_share : float
        Participation ratio ``(Σ_i g_i)² / (B Σ_i g_i²)`` of the norms ``g_i``: 1 when every
        sample receives the same gradient, ``k / B`` when ``k`` samples share it equally and
        the rest get none, 0 for a zero gradient. Unlike ``active_share`` it notices when
        a few samples carry most of the gradient and many others only a trace.
    negative_pairs : Tensor of int, shape (B,)
        For every sample, how many of its negative pairs (partners of another label)
        receive a gradient, i.e. have a non-zero pair weight ``∂L/∂(x_i · x_k)``
        (:func:`loss_geometry`; the pair weights of Wang et al.'s general
        pair weighting view, CVPR 2019).
    negative_pair_share : float
        Share of the batch's unordered negative pairs with a non-zero pair weight.
    """

    sample_gradient: Tensor
    active_share: float
    effective_share: float
    negative_pairs: Tensor
    negative_pair_share: float


def _nonzero(values: Tensor) -> Tensor:
    """Entries above ``RELATIVE_ZERO`` times the largest magnitude (none if all are zero)."""
    magnitude = values.abs()
    largest = float(magnitude.max())
    return magnitude > RELATIVE_ZERO * largest if largest > 0 else torch.zeros_like(magnitude, dtype=torch.bool)


def pushed_pairs(geometry: Geometry, labels: Tensor) -> Tensor:
    """The negative pairs a loss pushes apart: (B, B) bool, a non-zero pair weight between classes.

    Parameters
    ----------
    geometry : Geometry
        From :func:`loss_geometry` on the batch.
    labels : Tensor of int, shape (B,)
    """
    return (labels[:, None] != labels[None, :]) & _nonzero(geometry.pair_weights)


def gradient_usage(
    loss: str | Callable[..., Tensor], embeddings: Tensor, labels: Tensor, **hyperparameters: Any
) -> GradientUsage:
    """Measure which samples and negative pairs of a batch receive gradient from a loss.

    Hard mining keeps a loss informative by selecting a few pairs per anchor; this shows
    how few: batch-hard triplet mining gives a gradient to at most one negative pair per
    anchor, "all" mining to every negative pair of a violating triplet.

    Parameters
    ----------
    loss : str or callable
        A name in :data:`eelib.losses.LOSSES` (e.g. ``"triplet"``) or a function with the
        eelib signature ``loss(embeddings, labels, **hyperparameters) -> Tensor``. The pair
        counts assume, like every eelib loss, that it depends on the batch only through
        inner products (and distances derived from them).
    embeddings : Tensor, shape (B, D)
        The batch's embeddings (differentiated as a float64 copy; the input is untouched).
    labels : Tensor of int, shape (B,)
    **hyperparameters
        Passed to the loss, e.g. ``mining="hardest", margin=0.2``.

    Returns
    -------
    GradientUsage

    Raises
    ------
    ValueError
        If ``loss`` is an unknown name or the batch is invalid.
    TypeError
        If ``loss`` is neither a name nor a callable.
    """
    if not isinstance(loss, str) and not callable(loss):
        raise TypeError(f"loss must be a loss name or a callable, got {type(loss).__name__}")
    validate_batch(embeddings, labels)
    geometry = loss_geometry(loss, embeddings, labels, **hyperparameters)
    norms = geometry.gradient.norm(dim=1)
    active = _nonzero(norms)
    effective = float(norms.sum() ** 2 / (len(norms) * norms.pow(2).sum())) if active.any() else 0.0
    pushed = pushed_pairs(geometry, labels)
    n_negative = int((labels[:, None] != labels[None, :]).sum())
    share = float(pushed.sum() / n_negative) if n_negative else 0.0
    return GradientUsage(norms, float(active.float().mean()), effective, pushed.sum(dim=1), share)


def violating_triplet_share(embeddings: Tensor, labels: Tensor, margin: float = 0.2) -> float:
    r"""Share of a batch's triplets that still violate the margin (non-zero hinge).

    A triplet :math:`(a, p, n)`, with :math:`a \ne p` of the same label and :math:`n` of
    another, violates the margin when :math:`d(a,p) - d(a,n) + m > 0` (the triplet hinge of
    Schroff et al. 2015, with the Euclidean distance of the official EE code): only those
    carry a gradient.

    Parameters
    ----------
    embeddings : Tensor, shape (B, D)
    labels : Tensor of int, shape (B,)
    margin : float, default 0.2
        :math:`m`, >= 0.

    Returns
    -------
    float
        Violating triplets over valid triplets; 0.0 when the batch has no valid triplet.
    """
    validate_batch(embeddings, labels)
    margin = validate_non_negative("margin", margin)
    batch = labels.shape[0]
    validate_memory(f"violating_triplet_share on a batch of {batch} (B x B x B triplets)",
                    batch**3 * (2 * embeddings.element_size() + 2), embeddings.device)
    distances = pairwise_distances(embeddings.detach())
    same = labels[:, None] == labels[None, :]
    positive = same & ~torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    valid = positive[:, :, None] & ~same[:, None, :]
    if not valid.any():
        return 0.0
    hinge = distances[:, :, None] - distances[:, None, :] + margin
    return float((valid & (hinge > 0)).sum() / valid.sum())


class HardestNegatives(NamedTuple):
    """The hardest negative pair of every original anchor, found over the expanded batch.

    Attributes
    ----------
    row, col : Tensor of int64, shape (B,)
        Rows of the expanded batch (:func:`eelib.expansion.expand` layout): ``row`` is in
        the anchor's expanded set E(i), ``col`` is any point of another class.
    distance : Tensor, shape (B,)
        Their Euclidean distance (``inf`` for an anchor without negatives).
    involves_synthetic : Tensor of bool, shape (B,)
        Whether either end of the pair is a synthetic point.
    """

    row: Tensor
    col: Tensor
    distance: Tensor
    involves_synthetic: Tensor


@torch.no_grad()
def hardest_negative_pairs(
    embeddings: Tensor, labels: Tensor, n_synthetic: int, *, normalize_synthetic: bool = True
) -> HardestNegatives:
    """Per anchor, the closest pair between its expanded set and another class (HNPM).

    This is the pair whose distance :func:`eelib.pairs.pair_matrices` feeds to batch-hard triplet as
    ``min_k D̃(i, k)``; here it is located, for plots and training statistics (e.g. the
    share of hardest negatives that are synthetic).

    Parameters
    ----------
    embeddings : Tensor, shape (B, D)
    labels : Tensor of int, shape (B,)
    n_synthetic : int
        0 gives the plain hardest negative of each anchor.
    normalize_synthetic : bool, default True

    Returns
    -------
    HardestNegatives
    """
    validate_batch(embeddings, labels)
    n_synthetic, normalize_synthetic = validate_expansion(embeddings, n_synthetic, normalize_synthetic, whole=True)
    provenance, sets = expansion_plan(labels, n_synthetic)
    gram = embeddings @ embeddings.T
    expanded = expanded_inner_products(gram, provenance, normalize=normalize_synthetic)
    sq = squared_distances_from_gram(expanded, check_finite=False)
    sq = sq.masked_fill(provenance.labels[:, None] == provenance.labels[None, :], float("inf"))
    candidates = sq[sets]  # (B, L, N): rows of each anchor's expanded set
    flat = candidates.flatten(1).argmin(1)
    n_rows = sq.shape[1]
    row = sets.gather(1, (flat // n_rows)[:, None]).squeeze(1)
    col = flat % n_rows
    distance = sq[row, col].sqrt()
    synthetic = provenance.is_synthetic
    return HardestNegatives(row, col, distance, synthetic[row] | synthetic[col])


@torch.no_grad()
def class_distance_matrix(
    embeddings: Tensor, labels: Tensor, n_synthetic: int = 0, *, normalize_synthetic: bool = True
) -> Tensor:
    """Hardest (smallest) distance between every two classes of a batch, over its expanded points.

    Off the diagonal, entry (p, q) is the distance of the closest pair of points, one of
    class p and one of class q, original or synthetic (the paper's Fig. 1: HNPM keeps the
    closest pair between two classes' points). On the diagonal it is the largest distance
    between two originals of the class (positives stay original). With ``n_synthetic = 0``
    only the originals are compared, so two models can be compared like with like either on
    their originals or both with the same ``n``.

    Parameters
    ----------
    embeddings : Tensor, shape (B, D)
    labels : Tensor of int, shape (B,)
    n_synthetic : int, default 0
    normalize_synthetic : bool, default True

    Returns
    -------
    Tensor, shape (C, C)
        Classes in sorted label order; computed in float64, returned in the embeddings' dtype.
    """
    validate_batch(embeddings, labels)
    n_synthetic, normalize_synthetic = validate_expansion(embeddings, n_synthetic, normalize_synthetic, whole=True)
    provenance, _ = expansion_plan(labels, n_synthetic)
    gram = embeddings.detach().to(torch.float64) @ embeddings.detach().to(torch.float64).T
    distances = squared_distances_from_gram(
        expanded_inner_products(gram, provenance, normalize=normalize_synthetic), check_finite=False).sqrt()
    classes, member = torch.unique(labels[provenance.parent_a], return_inverse=True)
    n_classes, n_points = len(classes), len(member)
    by_row = torch.full((n_classes, n_points), float("inf"), dtype=distances.dtype)
    by_row = by_row.scatter_reduce(0, member[:, None].expand(n_points, n_points), distances, "amin")
    hardest = torch.full((n_classes, n_classes), float("inf"), dtype=distances.dtype)
    hardest = hardest.scatter_reduce(1, member[None, :].expand(n_classes, n_points), by_row, "amin")
    original = ~provenance.is_synthetic
    within = distances[original][:, original].masked_fill(member[original][:, None] != member[original][None, :], 0.0)
    spread = torch.zeros(n_classes, dtype=distances.dtype).scatter_reduce(0, member[original], within.amax(1), "amax")
    return (hardest.fill_diagonal_(0.0) + torch.diag(spread)).to(embeddings.dtype)


__all__ = ["Geometry", "GradientUsage", "HardestNegatives", "class_distance_matrix", "gradient_usage",
           "hardest_negative_pairs", "loss_geometry", "pushed_pairs", "violating_triplet_share"]
