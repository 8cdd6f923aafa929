"""Each eelib loss as pytorch-metric-learning computes it, and EE for any pytorch-metric-learning loss.

pytorch-metric-learning (PML) implements the same five losses with other conventions: it
L2-normalises by default, averages only the non-zero terms by default, lists ordered pairs,
and mines through separate miners. :func:`pml_loss` configures PML so that it computes
*exactly* the formula eelib documents (docs/paper.md §5 gives the mapping), so that the
tests can compare values and gradients and the benchmarks can compare speed.

PML has no Embedding Expansion. :class:`ExpandedLoss` gives it to a PML loss (and its
miner): they read their distances from EE's mined matrix instead of PML's own, so every
negative pair is measured as the hardest pair between the two expanded sets and every
positive pair as it is (the rule of :mod:`eelib.pairs`). ``pml_loss(name, n_synthetic=2)``
is eelib's loss with EE computed by PML this way (tests/test_pml_expansion.py).

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

EE for a PML user, with the loss and miner they already have:

>>> from pytorch_metric_learning import losses, miners
>>> loss_fn = ExpandedLoss(losses.TripletMarginLoss(margin=0.1), miner=miners.BatchHardMiner(), n_synthetic=2)
>>> bool(torch.isfinite(loss_fn(x, y)))
True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from pytorch_metric_learning import distances, losses, miners, reducers, regularizers
from torch import Tensor, nn

from eelib._validation import validate_choice, validate_flag, validate_n_synthetic
from eelib.distances import euclidean_from_squared
from eelib.pairs import pair_matrices

PMLLoss = Callable[[Tensor, Tensor], Tensor]


def _lp(power: int = 1) -> distances.LpDistance:
    """Euclidean distance (``power=2``: squared) without PML's default normalisation."""
    return distances.LpDistance(normalize_embeddings=False, power=power)


def _dot() -> distances.DotProductSimilarity:
    """Plain inner products without PML's default normalisation."""
    return distances.DotProductSimilarity(normalize_embeddings=False)


Built = tuple[nn.Module, nn.Module | None, Callable[[Any, Tensor], Tensor]]


def _value(out: Any, x: Tensor) -> Tensor:
    """PML's reduced loss as it is."""
    return out


def _contrastive(margin: float = 1.0) -> Built:
    """Hadsell's squared form from PML's hinges.

    PML returns ``[D]₊`` and ``[m − D]₊`` per *ordered* pair (i, j), i ≠ j (each unordered
    pair twice), so the squared-and-halved sum is divided by B(B − 1): the mean over the
    B(B − 1)/2 unordered pairs that eelib uses.
    """
    fn = losses.ContrastiveLoss(pos_margin=0, neg_margin=margin, distance=_lp(), reducer=reducers.DoNothingReducer())

    def finish(out: Any, x: Tensor) -> Tensor:
        total = 0.5 * (out["pos_loss"]["losses"] ** 2).sum() + 0.5 * (out["neg_loss"]["losses"] ** 2).sum()
        return total / (x.shape[0] * (x.shape[0] - 1))

    return fn, None, finish


def _triplet(margin: float = 0.2, mining: str = "all", squared: bool = False) -> Built:
    """``TripletMarginLoss`` with a mean over the mined triplets (PML's default averages non-zero ones)."""
    distance = _lp(2 if squared else 1)
    fn = losses.TripletMarginLoss(margin=margin, distance=distance, reducer=reducers.MeanReducer())
    if mining == "all":
        return fn, None, _value
    if mining == "semihard":
        miner = miners.TripletMarginMiner(margin=margin, type_of_triplets="semihard", distance=distance)
    else:
        miner = miners.BatchHardMiner(distance=distance)
    return fn, miner, _value


def _npair(l2_reg: float = 0.0) -> Built:
    """PML averages the L2 penalty over all 2N embeddings, hence the weight 0.5 λ."""
    fn = losses.NPairsLoss(distance=_dot(), embedding_regularizer=regularizers.LpRegularizer(p=2, power=2),
                           embedding_reg_weight=0.5 * l2_reg)
    return fn, None, _value


def _lifted(margin: float = 1.0) -> Built:
    return losses.LiftedStructureLoss(neg_margin=margin, pos_margin=0, distance=_lp()), None, _value


def _multi_similarity(alpha: float = 2.0, beta: float = 50.0, base: float = 0.5, epsilon: float = 0.1,
                      cosine: bool = False) -> Built:
    """MS loss on MS-mined pairs; plain inner products (as eelib), or PML's default cosine."""
    if cosine:
        fn, miner = losses.MultiSimilarityLoss(alpha=alpha, beta=beta, base=base), miners.MultiSimilarityMiner(epsilon)
    else:
        fn = losses.MultiSimilarityLoss(alpha=alpha, beta=beta, base=base, distance=_dot())
        miner = miners.MultiSimilarityMiner(epsilon=epsilon, distance=_dot())
    return fn, miner, _value


_BUILDERS = {"contrastive": _contrastive, "triplet": _triplet, "npair": _npair, "lifted": _lifted,
             "multi_similarity": _multi_similarity}

#: The losses :func:`pml_loss` knows, by their names in :data:`eelib.losses.LOSSES`.
NAMES = tuple(_BUILDERS)


def pml_loss(name: str, *, n_synthetic: int = 0, normalize_synthetic: bool = True,
             **hyperparameters: Any) -> PMLLoss:
    """PML configured to compute eelib's loss ``name`` with the given settings.

    Parameters
    ----------
    name : {"contrastive", "triplet", "npair", "lifted", "multi_similarity"}
    n_synthetic, normalize_synthetic
        EE, through :class:`ExpandedLoss` (not for "npair": PML's N-pair loss measures
        anchors against positives, not the whole batch).
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
    fn, miner, finish = _BUILDERS[name](**hyperparameters)
    if validate_n_synthetic(n_synthetic):
        expanded = ExpandedLoss(fn, miner=miner, n_synthetic=n_synthetic, normalize_synthetic=normalize_synthetic)
        return lambda x, y: finish(expanded(x, y), x)
    return lambda x, y: finish(fn(x, y, None if miner is None else miner(x, y)), x)


class _MinedDistance(distances.BaseDistance):
    """A PML distance holding one batch's EE-mined matrix, in the measure of the distance it stands for.

    Positive pairs and the diagonal hold the original measure, negative pairs the hardest
    pair between the two expanded sets (:func:`eelib.pairs.pair_matrices`): Euclidean or
    squared distances for an ``LpDistance`` (p = 2, power 1 or 2), inner products for a
    ``DotProductSimilarity`` or ``CosineSimilarity`` (the embeddings normalised first where
    the replaced distance normalises them).
    """

    def __init__(self, replaced: distances.BaseDistance, embeddings: Tensor, labels: Tensor, n_synthetic: int,
                 normalize_synthetic: bool) -> None:
        inner = isinstance(replaced, distances.DotProductSimilarity)
        if not (inner or isinstance(replaced, distances.LpDistance) and replaced.p == 2) \
                or replaced.power not in (1, 2):
            raise TypeError(f"ExpandedLoss supports a Euclidean LpDistance (power 1 or 2), DotProductSimilarity and "
                            f"CosineSimilarity, got {replaced!r}")
        super().__init__(normalize_embeddings=False, is_inverted=replaced.is_inverted)
        pm = pair_matrices(replaced.maybe_normalize(embeddings), labels, n_synthetic=n_synthetic,
                           normalize_synthetic=normalize_synthetic,
                           measure="inner_product" if inner else "squared_distance")
        matrix = torch.where(pm.different_label, pm.negative, pm.positive)
        if inner:
            matrix = matrix if replaced.power == 1 else matrix ** 2
        elif replaced.power == 1:
            matrix = euclidean_from_squared(matrix, check_finite=False)
        self.batch, self.matrix = embeddings, matrix

    def compute_mat(self, query_emb: Tensor, ref_emb: Tensor) -> Tensor:  # noqa: D102
        if query_emb is not self.batch or ref_emb is not self.batch:
            raise TypeError("ExpandedLoss: this loss or miner measures part of the batch (or another batch); only "
                            "losses and miners that measure the whole batch against itself can be expanded")
        return self.matrix.clone()  # PML's miners write into the matrix they are given


class ExpandedLoss(nn.Module):
    """Any pytorch-metric-learning loss (with its miner) trained with eelib's Embedding Expansion.

    Called as ``loss_fn(embeddings, labels)``. Each call mines the batch's expanded sets once
    (:func:`eelib.pairs.pair_matrices`), and the loss and the miner read their distances
    from that matrix instead of their own distance's: negatives are the hardest pairs
    between expanded sets, positives stay original, exactly as in eelib's losses. The
    loss's and miner's ``distance`` are swapped for the call only.

    Parameters
    ----------
    loss : pytorch_metric_learning.losses.BaseMetricLossFunction
        A loss that measures the whole batch against itself (contrastive, triplet margin,
        lifted structure, multi-similarity, and most of PML's pair and tuple losses; not
        ``NPairsLoss``, which measures anchors against positives: refused when called).
    miner : pytorch_metric_learning.miners.BaseMiner, optional
        Mines on the same expanded matrix; its output goes to the loss.
    n_synthetic : int, default 2
    normalize_synthetic : bool, default True
    """

    def __init__(self, loss: nn.Module, *, miner: nn.Module | None = None, n_synthetic: int = 2,
                 normalize_synthetic: bool = True) -> None:
        super().__init__()
        for name, value in (("loss", loss), ("miner", miner)):
            if value is not None and not isinstance(getattr(value, "distance", None), distances.BaseDistance):
                raise TypeError(f"{name} must be a pytorch-metric-learning {name} with a distance, got "
                                f"{type(value).__name__}")
        self.loss, self.miner = loss, miner
        self.n_synthetic = validate_n_synthetic(n_synthetic)
        self.normalize_synthetic = validate_flag("normalize_synthetic", normalize_synthetic)

    def forward(self, embeddings: Tensor, labels: Tensor) -> Any:  # noqa: D102
        parts = [part for part in (self.loss, self.miner) if part is not None]
        originals = [part.distance for part in parts]
        mined = _MinedDistance(self.loss.distance, embeddings, labels, self.n_synthetic, self.normalize_synthetic)
        try:
            for part in parts:
                part.distance = mined
            indices = None if self.miner is None else self.miner(embeddings, labels)
            return self.loss(embeddings, labels, indices)
        finally:
            for part, original in zip(parts, originals):
                part.distance = original

    def extra_repr(self) -> str:  # noqa: D102
        return f"n_synthetic={self.n_synthetic}, normalize_synthetic={self.normalize_synthetic}"


__all__ = ["NAMES", "ExpandedLoss", "pml_loss"]
