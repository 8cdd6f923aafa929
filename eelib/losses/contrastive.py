"""Contrastive loss (Hadsell, Chopra & LeCun, CVPR 2006)."""

from __future__ import annotations

import torch
from torch import Tensor

from eelib.distances import euclidean_from_squared
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
            normalize_synthetic=normalize_synthetic, measure="squared_distance",
        )
        batch = embeddings.shape[0]
        if batch < 2:
            return zero_loss(embeddings)
        # The matrices are symmetric, so every unordered pair is summed twice over i ≠ j: no
        # triangle mask to build. The hinge is clamped in place (fewer new B × B matrices).
        pull = torch.where(pm.same_label, pm.positive, 0.0)
        short = (margin - euclidean_from_squared(pm.negative, check_finite=False)).clamp_min_(0.0)
        push = torch.where(pm.different_label, short, 0.0)
        return 0.25 * (pull.sum() + (push * push).sum()) / (batch * (batch - 1) // 2)


class ContrastiveLoss(PairLoss):
    """:func:`contrastive_loss` as a module: ``ContrastiveLoss(margin=0.5)(embeddings, labels)``."""

    function = staticmethod(contrastive_loss)

    def __init__(self, *, margin: float = 1.0, n_synthetic: int = 0, normalize_synthetic: bool = True) -> None:
        super().__init__(margin=margin, n_synthetic=n_synthetic, normalize_synthetic=normalize_synthetic)
