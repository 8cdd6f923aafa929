"""Triplet loss with all, semi-hard and batch-hard mining (Schroff et al. 2015; Hermans et al. 2017)."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

from eelib.distances import euclidean_from_squared
from eelib.losses._common import TRIPLET_MINING, PairLoss, check_hyperparameters, full_precision
from eelib.pairs import PairMatrices, pair_matrices


def triplet_loss(
    embeddings: Tensor,
    labels: Tensor,
    *,
    n_synthetic: int = 0,
    normalize_synthetic: bool = True,
    margin: float = 0.2,
    mining: str = "all",
    squared: bool = False,
) -> Tensor:
    r"""Triplet loss :math:`[d(a,p) - d(a,n) + m]_+` with a choice of mining.

    Parameters
    ----------
    embeddings : Tensor, shape (B, D)
        Not normalised by the loss. float16 and bfloat16 are computed in float32.
    labels : Tensor of int, shape (B,)
    n_synthetic : int, default 0
        Embedding Expansion's synthetic points per pair. With EE, :math:`d(a, n)` is the
        hardest-pair distance between the expanded sets of a and n
        (:mod:`eelib.pairs`); positives stay original. For ``mining="hardest"`` this is
        exactly the official EE + HPHN code (per anchor, the closest negative over the
        anchor and the synthetic points of its segment), except that we average over
        anchors where the official trainer sums. For "all" and "semihard" the paper's
        exact form is UNVERIFIED (docs/paper.md §1.6).
    normalize_synthetic : bool, default True
        L2-normalise synthetic points.
    margin : float, default 0.2
        :math:`m` (FaceNet's 0.2; the official EE recipe passes 1e-5).
    mining : {"all", "semihard", "hardest"}, default "all"
        * ``"all"``: mean of the hinge over every valid triplet (a ≠ p same label,
          n different label).
        * ``"semihard"``: the triplets with :math:`0 < d(a,n) - d(a,p) \le m`
          (pytorch-metric-learning's ``TripletMarginMiner`` definition), mean over them.
        * ``"hardest"``: batch-hard / HPHN (Hermans et al. 2017): per anchor
          :math:`[\max_p d(a,p) - \min_n d(a,n) + m]_+`, mean over anchors that have at
          least one positive and one negative.
    squared : bool, default False
        Use :math:`d = D^2` (FaceNet and the source review's formula) instead of the
        Euclidean distance :math:`d = D` (the official EE code).

    Returns
    -------
    Tensor
        0-dim loss. With no valid triplet (no positive or no negative pair, or no
        semi-hard triplet) it returns a zero that carries a (zero) gradient.

    References
    ----------
    F. Schroff, D. Kalenichenko, J. Philbin. FaceNet. CVPR 2015, Eq. 1.
    A. Hermans, L. Beyer, B. Leibe. In Defense of the Triplet Loss for Person
    Re-Identification. arXiv:1703.07737, Eq. 5.
    """
    with full_precision(embeddings) as embeddings:
        checked = check_hyperparameters(margin=margin, mining=mining, squared=squared)
        margin, mining, squared = checked["margin"], checked["mining"], checked["squared"]
        pm = pair_matrices(
            embeddings, labels, n_synthetic=n_synthetic,
            normalize_synthetic=normalize_synthetic, measure="squared_distance", batch_order=False,
        )
        if squared:
            d_pos, d_neg = pm.positive, pm.negative
        else:
            d_pos = euclidean_from_squared(pm.positive, check_finite=False)
            d_neg = euclidean_from_squared(pm.negative, check_finite=False) if pm.mined else d_pos

        if mining == "hardest":
            hard = batch_hard(pm, d_pos, d_neg)
            hinge = torch.where(hard.valid, torch.relu(hard.positive - hard.negative + margin), 0.0)
            return hinge.sum() / hard.valid.sum().clamp_min(1)
        total, count = _triplet_sums(pm, d_pos, d_neg, margin, semihard=mining == "semihard")
        return total / count.clamp_min(1)


def _triplet_sums(pm: PairMatrices, d_pos: Tensor, d_neg: Tensor, margin: float, *,
                  semihard: bool) -> tuple[Tensor, Tensor]:
    """Sum of the hinge over the valid (semi-hard) triplets, and their number, in O(B² log B).

    Every anchor's negative distances are sorted once. For a positive pair (a, p) the
    negatives with a non-zero hinge, ``d(a,n) − d(a,p) < m``, are a prefix of that order
    (the rounded difference grows with ``d(a,n)``), counted by a search for the largest
    distance that passes that very comparison (:func:`_largest_passing`); their hinges sum
    to ``k (m + d(a,p)) − Σ_prefix d(a,n)``. Semi-hard triplets, ``0 < d(a,n) − d(a,p) ≤ m``,
    are the range between two such counts. No B × B × B tensor is formed and the shapes
    never depend on the labels, so nothing is read back to the host.
    """
    batch = d_neg.shape[0]
    ordered = d_neg.masked_fill(~pm.different_label, math.inf).sort(dim=1).values  # negatives first
    n_negatives = pm.different_label.sum(1, keepdim=True)
    ordered_finite = torch.where(n_negatives > torch.arange(batch, device=d_neg.device), ordered, 0.0)
    prefix = torch.cat([ordered_finite.new_zeros(batch, 1), ordered_finite.cumsum(1)], dim=1)
    with torch.no_grad():
        search, anchor_positive = ordered.detach(), d_pos.detach().contiguous()

        def count(largest: Tensor) -> Tensor:
            return torch.searchsorted(search, largest, right=True)

        below = count(_largest_passing(anchor_positive, margin, strict=True))  # d(a,n) − d(a,p) < m
        if semihard:
            start = count(anchor_positive)  # d(a,n) − d(a,p) <= 0, i.e. d(a,n) <= d(a,p)
            counted = (count(_largest_passing(anchor_positive, margin, strict=False)) - start).clamp_min(0)
        else:
            start = torch.zeros_like(below)
            counted = n_negatives.expand(batch, batch)
    active = (below - start).clamp_min(0)
    per_pair = active * (margin + d_pos) - (prefix.gather(1, below.clamp_min(start)) - prefix.gather(1, start))
    total = torch.where(pm.same_label, per_pair, 0.0).sum()
    return total, torch.where(pm.same_label, counted, 0).sum()


#: Steps of one unit in the last place that :func:`_largest_passing` may take each way: the
#: rounded ``d(a,p) + m`` lies within two of the boundary it looks for.
ULP_STEPS = 4


def _largest_passing(d_pos: Tensor, margin: float, *, strict: bool) -> Tensor:
    """For every entry, the largest float ``x`` with ``x − d(a,p) < m`` (``<=`` if not ``strict``), as rounded.

    The comparison is made exactly as the hinge makes it, so a distance at the boundary is
    counted as the B × B × B formulation would count it. The rounded ``d(a,p) + m`` is within
    a few units in the last place of the answer; it is moved down while it fails and then up
    while its successor passes.
    """
    def passes(x: Tensor) -> Tensor:
        return x - d_pos < margin if strict else x - d_pos <= margin

    largest = d_pos + margin
    down, up = torch.full_like(largest, -math.inf), torch.full_like(largest, math.inf)
    for _ in range(ULP_STEPS):
        largest = torch.where(passes(largest), largest, torch.nextafter(largest, down))
    for _ in range(ULP_STEPS):
        successor = torch.nextafter(largest, up)
        largest = torch.where(passes(successor), successor, largest)
    return largest


class BatchHard(NamedTuple):
    """Per anchor, its farthest positive and its closest (possibly mined) negative.

    Attributes
    ----------
    valid : Tensor of bool, shape (B,)
        Anchors with at least one positive and one negative.
    positive, negative : Tensor, shape (B,)
        The two distances (meaningless where ``valid`` is false).
    positive_index, negative_index : Tensor of int64, shape (B,)
        The columns they come from.
    """

    valid: Tensor
    positive: Tensor
    negative: Tensor
    positive_index: Tensor
    negative_index: Tensor


def batch_hard(pm: PairMatrices, d_pos: Tensor, d_neg: Tensor) -> BatchHard:
    """Batch-hard selection (Hermans et al. 2017): the hardest positive and negative per anchor.

    Parameters
    ----------
    pm : PairMatrices
        For the pair masks.
    d_pos, d_neg : Tensor, shape (B, B)
        Distances (or any measure that grows with distance) on positive and negative pairs.

    Returns
    -------
    BatchHard
    """
    valid = pm.same_label.any(1) & pm.different_label.any(1)
    positive, positive_index = d_pos.masked_fill(~pm.same_label, float("-inf")).max(1)
    negative, negative_index = d_neg.masked_fill(~pm.different_label, float("inf")).min(1)
    return BatchHard(valid, positive, negative, positive_index, negative_index)


class TripletLoss(PairLoss):
    """:func:`triplet_loss` as a module: ``TripletLoss(margin=0.2, mining="hardest")(embeddings, labels)``."""

    function = staticmethod(triplet_loss)

    def __init__(self, *, margin: float = 0.2, mining: str = "all", squared: bool = False,
                 n_synthetic: int = 0, normalize_synthetic: bool = True) -> None:
        super().__init__(margin=margin, mining=mining, squared=squared, n_synthetic=n_synthetic,
                         normalize_synthetic=normalize_synthetic)
