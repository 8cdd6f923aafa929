"""Each eelib loss as pytorch-metric-learning computes it: the independent reference of the tests.

pytorch-metric-learning (PML) implements the same five losses with other conventions: it
L2-normalises by default, averages only the non-zero terms by default, lists ordered pairs,
and mines through separate miners. :func:`pml_loss` configures PML so that it computes
*exactly* the formula eelib documents (docs/paper.md §5 gives the mapping), so that the
tests can compare values and gradients and the benchmarks can compare speed. It covers the
losses without Embedding Expansion (``n_synthetic = 0``); PML has no EE.

Needs pytorch-metric-learning (in the ``test`` extra); nothing else in eelib imports it.

Examples
--------
>>> import torch
>>> from eelib import contrastive_loss
>>> from eelib.data import random_batch
>>> x, y = random_batch([3, 3], dim=4)
>>> reference = pml_loss("contrastive", margin=1.0)
>>> torch.allclose(contrastive_loss(x, y, margin=1.0), reference(x, y))
True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pytorch_metric_learning import distances, losses, miners, reducers, regularizers
from torch import Tensor

from eelib._validation import validate_choice

PMLLoss = Callable[[Tensor, Tensor], Tensor]


def _lp(power: int = 1) -> distances.LpDistance:
    """Euclidean distance (``power=2``: squared) without PML's default normalisation."""
    return distances.LpDistance(normalize_embeddings=False, power=power)


def _dot() -> distances.DotProductSimilarity:
    """Plain inner products without PML's default normalisation."""
    return distances.DotProductSimilarity(normalize_embeddings=False)


def _contrastive(margin: float = 1.0) -> PMLLoss:
    """Hadsell's squared form from PML's hinges.

    PML returns ``[D]₊`` and ``[m − D]₊`` per *ordered* pair (i, j), i ≠ j (each unordered
    pair twice), so the squared-and-halved sum is divided by B(B − 1): the mean over the
    B(B − 1)/2 unordered pairs that eelib uses.
    """
    fn = losses.ContrastiveLoss(pos_margin=0, neg_margin=margin, distance=_lp(), reducer=reducers.DoNothingReducer())

    def loss(x: Tensor, y: Tensor) -> Tensor:
        out = fn(x, y)
        total = 0.5 * (out["pos_loss"]["losses"] ** 2).sum() + 0.5 * (out["neg_loss"]["losses"] ** 2).sum()
        return total / (x.shape[0] * (x.shape[0] - 1))

    return loss


def _triplet(margin: float = 0.2, mining: str = "all", squared: bool = False) -> PMLLoss:
    """``TripletMarginLoss`` with a mean over the mined triplets (PML's default averages non-zero ones)."""
    distance = _lp(2 if squared else 1)
    fn = losses.TripletMarginLoss(margin=margin, distance=distance, reducer=reducers.MeanReducer())
    if mining == "all":
        return lambda x, y: fn(x, y)
    if mining == "semihard":
        miner = miners.TripletMarginMiner(margin=margin, type_of_triplets="semihard", distance=distance)
    else:
        miner = miners.BatchHardMiner(distance=distance)
    return lambda x, y: fn(x, y, miner(x, y))


def _npair(l2_reg: float = 0.0) -> PMLLoss:
    """PML averages the L2 penalty over all 2N embeddings, hence the weight 0.5 λ."""
    fn = losses.NPairsLoss(distance=_dot(), embedding_regularizer=regularizers.LpRegularizer(p=2, power=2),
                           embedding_reg_weight=0.5 * l2_reg)
    return lambda x, y: fn(x, y)


def _lifted(margin: float = 1.0) -> PMLLoss:
    fn = losses.LiftedStructureLoss(neg_margin=margin, pos_margin=0, distance=_lp())
    return lambda x, y: fn(x, y)


def _multi_similarity(alpha: float = 2.0, beta: float = 50.0, base: float = 0.5, epsilon: float = 0.1,
                      cosine: bool = False) -> PMLLoss:
    """MS loss on MS-mined pairs; plain inner products (as eelib), or PML's default cosine."""
    if cosine:
        fn, miner = losses.MultiSimilarityLoss(alpha=alpha, beta=beta, base=base), miners.MultiSimilarityMiner(epsilon)
    else:
        fn = losses.MultiSimilarityLoss(alpha=alpha, beta=beta, base=base, distance=_dot())
        miner = miners.MultiSimilarityMiner(epsilon=epsilon, distance=_dot())
    return lambda x, y: fn(x, y, miner(x, y))


_BUILDERS = {"contrastive": _contrastive, "triplet": _triplet, "npair": _npair, "lifted": _lifted,
             "multi_similarity": _multi_similarity}

#: The losses :func:`pml_loss` knows, by their names in :data:`eelib.losses.LOSSES`.
NAMES = tuple(_BUILDERS)


def pml_loss(name: str, **hyperparameters: Any) -> PMLLoss:
    """PML configured to compute eelib's loss ``name`` with the given hyperparameters.

    Parameters
    ----------
    name : {"contrastive", "triplet", "npair", "lifted", "multi_similarity"}
    **hyperparameters
        The eelib loss's keyword arguments (``margin``, ``mining``, ``squared``, ``l2_reg``,
        ``alpha``, ``beta``, ``base``, ``epsilon``); for MS also ``cosine=True`` for PML's
        default cosine similarity.

    Returns
    -------
    callable
        ``loss(embeddings, labels) -> Tensor``, differentiable.
    """
    validate_choice("name", name, NAMES)
    return _BUILDERS[name](**hyperparameters)


__all__ = ["NAMES", "pml_loss"]
