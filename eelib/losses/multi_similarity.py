"""Multi-similarity loss with its own pair mining (Wang et al., CVPR 2019)."""

from __future__ import annotations

import torch
from torch import Tensor

from eelib.losses._common import PairLoss, check_hyperparameters, full_precision, log1p_sum_exp
from eelib.pairs import pair_matrices


@torch.no_grad()
def ms_mining(similarity_pos: Tensor, similarity_neg: Tensor, same_label: Tensor, different_label: Tensor,
              epsilon: float) -> tuple[Tensor, Tensor]:
    r"""MS pair mining (Wang et al. 2019, Eq. 7–8): which pairs of every anchor the loss keeps.

    For anchor i keep the negatives with :math:`S_{ik} + \epsilon > \min_{y_j = y_i} S_{ij}`
    and the positives with :math:`S_{ij} - \epsilon < \max_{y_k \ne y_i} S_{ik}` (strict, as
    pytorch-metric-learning's ``MultiSimilarityMiner``).

    Parameters
    ----------
    similarity_pos, similarity_neg : Tensor, shape (B, B)
        Similarities read on positive and on negative pairs (the same matrix without EE).
    same_label, different_label : Tensor of bool, shape (B, B)
        Positive pairs (diagonal excluded) and negative pairs.
    epsilon : float
        The mining margin.

    Returns
    -------
    keep_pos, keep_neg : Tensor of bool, shape (B, B)
    """
    weakest_pos = similarity_pos.masked_fill(~same_label, float("inf")).amin(1, keepdim=True)
    hardest_neg = similarity_neg.masked_fill(~different_label, float("-inf")).amax(1, keepdim=True)
    keep_pos = same_label & (similarity_pos - epsilon < hardest_neg)
    keep_neg = different_label & (similarity_neg + epsilon > weakest_pos)
    return keep_pos, keep_neg


def multi_similarity_loss(
    embeddings: Tensor,
    labels: Tensor,
    *,
    n_synthetic: int = 0,
    normalize_synthetic: bool = True,
    alpha: float = 2.0,
    beta: float = 50.0,
    base: float = 0.5,
    epsilon: float = 0.1,
) -> Tensor:
    r"""Multi-similarity loss on inner products, with MS pair mining.

    Mining (Wang et al. 2019, Eq. 7–8; pytorch-metric-learning's
    ``MultiSimilarityMiner``): for anchor i keep the negatives with
    :math:`S_{ik} + \epsilon > \min_{y_j = y_i} S_{ij}` and the positives with
    :math:`S_{ij} - \epsilon < \max_{y_k \ne y_i} S_{ik}`. Then (Eq. 12)

    .. math::
        L = \frac1B \sum_i \Big\{ \frac1\alpha \log\big[1 + \textstyle\sum_{j \in \mathcal P_i}
              e^{-\alpha (S_{ij} - \lambda)}\big]
            + \frac1\beta \log\big[1 + \sum_{k \in \mathcal N_i} e^{\beta (S_{ik} - \lambda)}\big]\Big\},

    an anchor with nothing mined contributing 0.

    Parameters
    ----------
    embeddings : Tensor, shape (B, D)
        Not normalised by the loss: :math:`S` is the plain inner product, which is the
        cosine similarity of the paper when the model L2-normalises its output. float16
        and bfloat16 are computed in float32.
    labels : Tensor of int, shape (B,)
    n_synthetic : int, default 0
        Embedding Expansion's synthetic points per pair. With EE, :math:`S_{ik}` on
        negative pairs is the largest inner product between the expanded sets of i and
        k (:mod:`eelib.pairs`), before MS's own mining; positives stay original. The
        paper's exact EE form for MS is UNVERIFIED (docs/paper.md §1.6).
    normalize_synthetic : bool, default True
        L2-normalise synthetic points.
    alpha, beta : float, default 2.0 and 50.0
        Scales of the positive and negative terms.
    base : float, default 0.5
        :math:`\lambda`, the similarity threshold (0.5 in the official code; 1 in the
        paper per PML's documentation).
    epsilon : float, default 0.1
        Mining margin :math:`\epsilon`.

    Returns
    -------
    Tensor
        0-dim loss; zero (carrying a gradient) when nothing is mined, which includes
        batches without a positive or without a negative pair.

    References
    ----------
    X. Wang, X. Han, W. Huang, D. Dong, M. R. Scott. Multi-Similarity Loss with General
    Pair Weighting for Deep Metric Learning. CVPR 2019.
    """
    with full_precision(embeddings) as embeddings:
        checked = check_hyperparameters(alpha=alpha, beta=beta, base=base, epsilon=epsilon)
        alpha, beta, base, epsilon = checked["alpha"], checked["beta"], checked["base"], checked["epsilon"]
        pm = pair_matrices(
            embeddings, labels, n_synthetic=n_synthetic,
            normalize_synthetic=normalize_synthetic, measure="inner_product", batch_order=False,
        )
        sim_pos, sim_neg = pm.positive, pm.negative
        keep_pos, keep_neg = ms_mining(sim_pos, sim_neg, pm.same_label, pm.different_label, epsilon)
        pos_term = log1p_sum_exp(-alpha * (sim_pos - base), keep_pos) / alpha
        neg_term = log1p_sum_exp(beta * (sim_neg - base), keep_neg) / beta
        return (pos_term + neg_term).mean()


class MultiSimilarityLoss(PairLoss):
    """:func:`multi_similarity_loss` (with its MS mining) as a module: ``MultiSimilarityLoss(alpha=2, beta=50)``."""

    function = staticmethod(multi_similarity_loss)

    def __init__(self, *, alpha: float = 2.0, beta: float = 50.0, base: float = 0.5, epsilon: float = 0.1,
                 n_synthetic: int = 0, normalize_synthetic: bool = True) -> None:
        super().__init__(alpha=alpha, beta=beta, base=base, epsilon=epsilon, n_synthetic=n_synthetic,
                         normalize_synthetic=normalize_synthetic)
