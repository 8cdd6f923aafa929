"""Lifted structured loss (Oh Song, Xiang, Jegelka & Savarese, CVPR 2016)."""

from __future__ import annotations

import torch
from torch import Tensor

from eelib.distances import euclidean_from_squared
from eelib.losses._common import PairLoss, check_hyperparameters, full_precision
from eelib.pairs import pair_matrices


def lifted_structure_loss(
    embeddings: Tensor,
    labels: Tensor,
    *,
    n_synthetic: int = 0,
    normalize_synthetic: bool = True,
    margin: float = 1.0,
) -> Tensor:
    r"""Lifted structured loss: each positive pair against all negatives of both ends.

    Oh Song et al. 2016, Eq. 4:

    .. math::
        J_{ij} = \log\Big(\sum_{(i,k)\in\mathcal N} e^{m - D_{ik}}
                        + \sum_{(j,l)\in\mathcal N} e^{m - D_{jl}}\Big) + D_{ij},
        \qquad
        L = \frac{1}{2|\mathcal P|} \sum_{(i,j)\in\mathcal P} [J_{ij}]_+^2,

    over unordered positive pairs :math:`\mathcal P`, with Euclidean :math:`D`. Computed
    in O(B²): each row's log-sum-exp over its negatives is formed once and the two ends
    of a pair are combined with ``logaddexp``. A row without negatives holds the dtype's
    most negative finite number instead of ``-inf`` (whose log-sum-exp has a NaN gradient),
    so that its pairs' hinges are 0 without a test on the host.

    Parameters
    ----------
    embeddings : Tensor, shape (B, D)
        Not normalised by the loss. float16 and bfloat16 are computed in float32.
    labels : Tensor of int, shape (B,)
    n_synthetic : int, default 0
        Embedding Expansion's synthetic points per pair. With EE each negative distance
        :math:`D_{ik}` is the hardest pair between the expanded sets of i and k
        (:mod:`eelib.pairs`); the paper's exact EE form for this loss is UNVERIFIED
        (docs/paper.md §1.6).
    normalize_synthetic : bool, default True
        L2-normalise synthetic points.
    margin : float, default 1.0
        :math:`m` (called α in the paper).

    Returns
    -------
    Tensor
        0-dim loss; zero (carrying a gradient) when the batch has no positive or no
        negative pair.

    References
    ----------
    H. Oh Song, Y. Xiang, S. Jegelka, S. Savarese. Deep Metric Learning via Lifted
    Structured Feature Embedding. CVPR 2016.
    """
    with full_precision(embeddings) as embeddings:
        margin = check_hyperparameters(margin=margin)["margin"]
        pm = pair_matrices(
            embeddings, labels, n_synthetic=n_synthetic,
            normalize_synthetic=normalize_synthetic, measure="squared_distance", batch_order=False,
        )
        d_pos = euclidean_from_squared(pm.positive, check_finite=False)
        d_neg = euclidean_from_squared(pm.negative, check_finite=False) if pm.mined else d_pos
        lowest = torch.finfo(d_neg.dtype).min
        push = (margin - d_neg).masked_fill(~pm.different_label, lowest).logsumexp(1)
        pairs = pm.same_label.triu(1)
        j_ij = torch.logaddexp(push[:, None], push[None, :]) + d_pos
        hinge = torch.where(pairs, torch.relu(j_ij) ** 2, 0.0)
        return hinge.sum() / (2 * pairs.sum().clamp_min(1))


class LiftedStructureLoss(PairLoss):
    """:func:`lifted_structure_loss` as a module: ``LiftedStructureLoss(margin=1.0)(embeddings, labels)``."""

    function = staticmethod(lifted_structure_loss)

    def __init__(self, *, margin: float = 1.0, n_synthetic: int = 0, normalize_synthetic: bool = True) -> None:
        super().__init__(margin=margin, n_synthetic=n_synthetic, normalize_synthetic=normalize_synthetic)
