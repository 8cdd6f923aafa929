"""The five pair-based losses, each with optional Embedding Expansion, as functions and modules.

Every loss has the signature
``loss(embeddings, labels, *, n_synthetic=0, normalize_synthetic=True, **hyperparameters)``
and returns a 0-dim differentiable tensor. Each has a module form, configured once and
called as pytorch-metric-learning's losses are (``loss_fn = TripletLoss(margin=0.2,
n_synthetic=2)``, then ``loss_fn(embeddings, labels)``), whose forward pass calls the
function. With ``n_synthetic=0`` each is the original
paper's formulation; with ``n_synthetic > 0`` negatives are mined from the expanded batch
as described in :mod:`eelib.pairs`. A loss that needs a particular batch layout declares
it (:func:`batch_requirement`), so that a training loop can ask instead of guessing.

Every argument is checked before any work (:mod:`eelib._validation`): embeddings are
float32 or float64, or float16 and bfloat16 computed in float32 (also under
``torch.autocast``), with every row norm within the dtype's limit, so that the value and its
gradient are always finite (checked on the device: a loss step reads nothing back to the
host); hyperparameters are finite, within ±1e12 (positive ones at least 1e-12), one check
per name (:data:`HYPERPARAMETERS`); flags are booleans; ``n_synthetic`` is an integer
whose memory (with the batch size) is bounded and refused above
:func:`eelib.set_memory_limit`'s limit before anything is allocated.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

from eelib.losses._common import HYPERPARAMETERS, TRIPLET_MINING, BatchRequirement, PairLoss, batch_requirement
from eelib.losses.contrastive import ContrastiveLoss, contrastive_loss
from eelib.losses.lifted import LiftedStructureLoss, lifted_structure_loss
from eelib.losses.multi_similarity import MultiSimilarityLoss, multi_similarity_loss
from eelib.losses.npair import NPairLoss, npair_loss
from eelib.losses.triplet import TripletLoss, triplet_loss

LOSSES = {
    "contrastive": contrastive_loss,
    "triplet": triplet_loss,
    "npair": npair_loss,
    "lifted": lifted_structure_loss,
    "multi_similarity": multi_similarity_loss,
}

#: The module of each loss, by the same names.
LOSS_MODULES: dict[str, type[PairLoss]] = {
    "contrastive": ContrastiveLoss,
    "triplet": TripletLoss,
    "npair": NPairLoss,
    "lifted": LiftedStructureLoss,
    "multi_similarity": MultiSimilarityLoss,
}

LossFn = Callable[..., Tensor]


def make_loss(name: str, **settings: object) -> PairLoss:
    """The module of the loss ``name`` (in :data:`LOSS_MODULES`), built with ``settings``.

    Raises
    ------
    ValueError
        If ``name`` names no loss, or a setting is out of range.
    TypeError
        If a setting is not one of the loss's keyword arguments, or of the wrong type.
    """
    if not isinstance(name, str) or name not in LOSS_MODULES:
        raise ValueError(f"loss must be one of {sorted(LOSS_MODULES)}, got {name!r}")
    return LOSS_MODULES[name](**settings)


def get_loss(loss: str | LossFn) -> LossFn:
    """An eelib loss by its name in :data:`LOSSES`, or the given callable itself.

    Raises
    ------
    ValueError
        If ``loss`` is a string that names no loss.
    TypeError
        If ``loss`` is neither a string nor callable.
    """
    if isinstance(loss, str):
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {sorted(LOSSES)} or a callable, got {loss!r}")
        return LOSSES[loss]
    if callable(loss):
        return loss
    raise TypeError(f"loss must be a loss name or a callable, got {type(loss).__name__}")


__all__ = [
    "HYPERPARAMETERS",
    "LOSSES",
    "LOSS_MODULES",
    "TRIPLET_MINING",
    "BatchRequirement",
    "ContrastiveLoss",
    "LiftedStructureLoss",
    "LossFn",
    "MultiSimilarityLoss",
    "NPairLoss",
    "PairLoss",
    "TripletLoss",
    "batch_requirement",
    "contrastive_loss",
    "get_loss",
    "make_loss",
    "lifted_structure_loss",
    "multi_similarity_loss",
    "npair_loss",
    "triplet_loss",
]
