"""Contrastive loss (Hadsell, Chopra & LeCun, CVPR 2006)."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from eelib.distances import euclidean_from_squared, sqrt_clip
from eelib.losses._common import PairLoss, check_hyperparameters, full_precision, zero_loss
from eelib.pairs import pair_matrices


def contrastive_loss(
    embeddings: Tensor,
    labels: Tensor,
    *,
    n_synthetic: int = 0,
    normalize_synthetic: bool = True,
    margin: float = 1.0,
) -> Tensor:
    r"""Contrastive loss: pull positives together, push negatives beyond a margin.

    Over all unordered pairs :math:`i < j` of the batch,

    .. math::
        L = \frac{1}{|\{i<j\}|} \sum_{i<j} \begin{cases}
            \tfrac12 D_{ij}^2 & y_i = y_j \\
            \tfrac12 [m - D_{ij}]_+^2 & y_i \ne y_j
        \end{cases}

    with :math:`D` the Euclidean distance (Hadsell et al. 2006, Eq. 4).

    Parameters
    ----------
    embeddings : Tensor, shape (B, D)
        Not normalised by the loss. float16 and bfloat16 are computed in float32.
    labels : Tensor of int, shape (B,)
    n_synthetic : int, default 0
        Embedding Expansion's synthetic points per pair. With EE the negative distance
        :math:`D_{ij}` is replaced by the hardest pair between the expanded sets of i
        and j (:mod:`eelib.pairs`). The EE paper does not use the contrastive loss;
        this combination is our own, following the same rule as the other losses.
    normalize_synthetic : bool, default True
        L2-normalise synthetic points.
    margin : float, default 1.0
        :math:`m`, the distance beyond which negatives stop contributing.

    Returns
    -------
    Tensor
        0-dim loss. A batch of one sample has no pair and returns a zero that carries
        a (zero) gradient.

    References
    ----------
    R. Hadsell, S. Chopra, Y. LeCun. Dimensionality Reduction by Learning an Invariant
    Mapping. CVPR 2006.
    """
    with full_precision(embeddings) as embeddings:
        margin = check_hyperparameters(margin=margin)["margin"]
        pm = pair_matrices(
            embeddings, labels, n_synthetic=n_synthetic,
            normalize_synthetic=normalize_synthetic, measure="squared_distance", batch_order=False,
        )
        batch = embeddings.shape[0]
        if batch < 2:
            return zero_loss(embeddings)
        # The matrices are symmetric, so every unordered pair is summed twice over i ≠ j: no
        # triangle mask to build.
        total = _PairSums.apply(pm.positive, pm.negative, pm.same_label, pm.different_label, margin)
        return 0.25 * total / (batch * (batch - 1) // 2)


class _PairSums(torch.autograd.Function):
    r"""``Σ_{same} D² + Σ_{different} [m − D]_+²`` from the squared distances, and its gradient.

    What ``where``, ``relu`` and ``** 2`` compute, with fewer new B × B matrices (each costs its
    pages on the CPU): the backward pass is one coefficient per pair, 1 on positive pairs and
    ``−[m − D]_+ / D`` on negative ones, zero where the squared distance is below the square
    root's clip (:func:`eelib.distances.euclidean_from_squared`), as the clamp's own gradient is.
    """

    @staticmethod
    def forward(ctx, positive: Tensor, negative: Tensor, same_label: Tensor, different_label: Tensor,
                margin: float) -> Tensor:
        distance = euclidean_from_squared(negative, check_finite=False)
        short = torch.where(different_label, (margin - distance).clamp_min_(0.0), 0.0)
        ctx.save_for_backward(short, distance, negative, same_label)
        return torch.where(same_label, positive, 0.0).sum() + (short * short).sum()

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, ...]:
        short, distance, negative, same_label = ctx.saved_tensors
        grad_positive = grad_negative = None
        if ctx.needs_input_grad[0]:
            grad_positive = torch.where(same_label, grad, 0.0)
        if ctx.needs_input_grad[1]:
            slope = torch.div(short, distance).mul_(-grad)
            grad_negative = slope.masked_fill_(negative < sqrt_clip(negative.dtype), 0.0)
        return grad_positive, grad_negative, None, None, None


class ContrastiveLoss(PairLoss):
    """:func:`contrastive_loss` as a module: ``ContrastiveLoss(margin=0.5)(embeddings, labels)``."""

    function = staticmethod(contrastive_loss)

    def __init__(self, *, margin: float = 1.0, n_synthetic: int = 0, normalize_synthetic: bool = True) -> None:
        super().__init__(margin=margin, n_synthetic=n_synthetic, normalize_synthetic=normalize_synthetic)
