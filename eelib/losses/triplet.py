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

    For a positive pair (a, p) the negatives with a non-zero hinge, ``d(a,n) − d(a,p) < m``,
    are those at most the largest distance that passes that very comparison
    (:func:`_largest_passing`); semi-hard triplets, ``0 < d(a,n) − d(a,p) ≤ m``, lie between
    two such bounds. :func:`_ranks` counts, with one sort per anchor and bound, the negatives
    under every positive's bound (``k_p``) and the positives whose bound is over every
    negative (``w_n``); the hinges then sum to ``Σ_p k_p (m + d(a,p)) − Σ_n w_n d(a,n)``, one
    product with a matrix of constant coefficients, whose gradient is that matrix. No
    B × B × B tensor is formed and the shapes never depend on the labels, so nothing is read
    back to the host.
    """
    with torch.no_grad():
        anchor_positive = d_pos.detach()
        below = _largest_passing(anchor_positive, margin, strict=True)  # d(a,n) − d(a,p) < m
        if semihard:  # d(a,p) < d(a,n) <= below: under `below` and not under d(a,p)
            positive_bits = _bits(anchor_positive)
            below = torch.maximum(below, positive_bits)
            end_bound = _largest_passing(anchor_positive, margin, strict=False, start=below)
            negative_bits = _bits(d_neg.detach())
            start, _ = _ranks(pm, _negative_keys(pm, negative_bits, positive_bits, positive_bits), positive_bits)
            negative_keys = _negative_keys(pm, negative_bits, below, end_bound)
            under, order = _ranks(pm, negative_keys, below)
            end, _ = _ranks(pm, negative_keys, end_bound, presorted=order)
            coefficients = under - start
            counted = (end - start).clamp_min(0).sum()  # d(a,n) − d(a,p) <= m, on positive pairs
        else:
            coefficients, _ = _ranks(pm, _negative_keys(pm, _bits(d_neg.detach()), below, below), below)
            counted = (pm.same_label.sum(1) * pm.different_label.sum(1)).sum()
        coefficients = coefficients.to(d_pos.dtype)
        on_positives = coefficients.clamp_min(0)  # k_p on positive pairs, 0 elsewhere
    if pm.mined:
        total = (on_positives * (d_pos + margin)).sum() + ((coefficients - on_positives) * d_neg).sum()
    else:
        total = (coefficients * d_pos).sum() + margin * on_positives.sum()
    return total, counted


#: For the float dtypes the losses compute in, the integer type of their bits.
_BITS = {torch.float32: torch.int32, torch.float64: torch.int64}
#: Per integer type, the bits of infinity, and half of them.
_INFINITY_BITS = {torch.int32: 0x7F800000, torch.int64: 0x7FF0000000000000}
_HALF_INFINITY = {integer: bits // 2 for integer, bits in _INFINITY_BITS.items()}


def _bits(distances: Tensor) -> Tensor:
    """Non-negative floats as integers that order as they do: their bits (``-0.0`` made ``+0.0``)."""
    return (distances + 0.0).view(_BITS[distances.dtype])


def _sort_keys(bits: Tensor, *, bound: bool) -> Tensor:
    """Keys that sort as :func:`_bits` do, a bound just after the distances equal to it.

    The bits, shifted by half those of infinity so that doubling them stays within the
    integer type, are doubled; the last bit says whether the entry is a bound.
    """
    return (bits - _HALF_INFINITY[bits.dtype]) * 2 + int(bound)


def _negative_keys(pm: PairMatrices, negative_bits: Tensor, lowest: Tensor, highest: Tensor) -> Tensor:
    """:func:`_sort_keys` of the negative distances' bits, those outside the row's range of bounds collapsed.

    A negative below every bound of its anchor (``lowest`` on the positive pairs) counts for
    all of them and one above every bound (``highest``) for none, whatever its value: such
    negatives get the key of the lowest bound's value, or the one after the highest bound, and
    the rows, full of equal keys, sort faster.
    """
    low = torch.where(pm.same_label, lowest, _INFINITY_BITS[lowest.dtype]).amin(1, keepdim=True)
    high = torch.where(pm.same_label, highest, -1).amax(1, keepdim=True)  # -1: a row without positives
    keys = _sort_keys(negative_bits, bound=False)
    return keys.clamp_(_sort_keys(low, bound=False), _sort_keys(high, bound=False) + 2)


def _ranks(pm: PairMatrices, negative_keys: Tensor, bound: Tensor,
           presorted: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Per anchor, how the positives' bounds and the negatives' distances interleave.

    Parameters
    ----------
    pm : PairMatrices
        For the pair masks.
    negative_keys : Tensor, shape (B, B)
        :func:`_negative_keys`, for a range that holds ``bound``.
    bound : Tensor, shape (B, B)
        Bits (:func:`_bits`) of every positive pair's bound; -1 for a bound below every distance.
    presorted : Tensor of int64, shape (B, B), optional
        The order of an earlier call with other bounds: only the positives move, so the rows
        are sorted from it, nearly in order already, which is several times faster.

    Returns
    -------
    ranks : Tensor of int32, shape (B, B)
        At a positive pair (a, p), ``k_p``: the number of negatives n of a with
        ``d(a,n) <= bound(a,p)``. At a negative pair (a, n), ``−w_n``: minus the number of
        positives p of a with ``bound(a,p) >= d(a,n)``. Zero on the diagonal (the anchor sorts last).
    order : Tensor of int64, shape (B, B)
        Per row, the columns in the order sorted.
    """
    keys = torch.where(pm.same_label, _sort_keys(bound, bound=True), negative_keys)
    keys.diagonal().fill_(torch.iinfo(keys.dtype).max - 1)  # even: not a bound; after every other key
    if presorted is None:
        ordered, order = keys.sort(dim=1)
    else:
        ordered, within = keys.gather(1, presorted).sort(dim=1, stable=True)
        order = presorted.gather(1, within)
    is_bound = (ordered & 1).bool()
    bounds_so_far = is_bound.cumsum(1, dtype=torch.int32)
    position = torch.arange(1, keys.shape[1] + 1, dtype=torch.int32, device=keys.device)
    ranked = torch.where(is_bound, position - bounds_so_far, bounds_so_far - bounds_so_far[:, -1:])
    return torch.empty_like(ranked).scatter_(1, order, ranked), order


#: Steps of one unit in the last place that :func:`_largest_passing` may take each way: the
#: rounded ``d(a,p) + m`` lies within two of the boundary it looks for.
ULP_STEPS = 4


def _largest_passing(d_pos: Tensor, margin: float, *, strict: bool, start: Tensor | None = None) -> Tensor:
    """For every entry, the largest float ``x`` with ``x − d(a,p) < m`` (``<=`` if not ``strict``), as rounded.

    The comparison is made exactly as the hinge makes it, so a distance at the boundary is
    counted as the B × B × B formulation would count it. The rounded ``d(a,p) + m`` is within
    a few units in the last place of the answer; it is moved down while it fails and then up
    while its successor passes, one unit in the last place being one step of the float's
    bits. A ``start`` known to pass (the strict answer, for the non-strict one, which is never
    smaller) is only moved up.

    Returns
    -------
    Tensor of int, shape of ``d_pos``
        The answer's bits (:func:`_bits`), or -1 where no non-negative float passes.
    """
    gap, passing, successor = torch.empty_like(d_pos), torch.empty_like(d_pos, dtype=torch.bool), None
    compare = torch.lt if strict else torch.le

    def passes(bits: Tensor) -> Tensor:  # into buffers: these loops are most of the loss's elementwise passes
        torch.sub(bits.view(d_pos.dtype), d_pos, out=gap)  # below 0 the bits are NaNs, which fail
        return compare(gap, margin, out=passing)

    if start is None:
        bits = _bits(d_pos + margin)
        for _ in range(ULP_STEPS):
            bits.add_(passes(bits)).sub_(1)
    else:
        bits = start.clone()
    for _ in range(ULP_STEPS):
        successor = torch.add(bits, 1, out=successor)
        bits.add_(passes(successor))
    return bits.clamp_min_(-1)


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
