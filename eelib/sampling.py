"""Why sampling matters: which triplets still teach, and which samples a mined loss learns from.

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

from eelib._validation import validate_batch, validate_non_negative
from eelib.distances import pairwise_distances
from eelib.playground import loss_geometry

#: A gradient row or pair weight counts as non-zero above this fraction of the largest one
#: (round-off from cancelling terms is far below it).
RELATIVE_ZERO = 1e-9


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
        (:func:`eelib.playground.loss_geometry`; the pair weights of Wang et al.'s general
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
    negative = labels[:, None] != labels[None, :]
    pushed = negative & _nonzero(geometry.pair_weights)
    n_negative = int(negative.sum())
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
    validate_non_negative("margin", margin)
    distances = pairwise_distances(embeddings.detach())
    same = labels[:, None] == labels[None, :]
    positive = same & ~torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    valid = positive[:, :, None] & ~same[:, None, :]
    if not valid.any():
        return 0.0
    hinge = distances[:, :, None] - distances[:, None, :] + margin
    return float((valid & (hinge > 0)).sum() / valid.sum())


__all__ = ["GradientUsage", "gradient_usage", "violating_triplet_share"]
