"""The five pair-based losses, each with optional Embedding Expansion.

Every loss has the signature
``loss(embeddings, labels, *, n_synthetic=0, normalize_synthetic=True, **hyperparameters)``
and returns a 0-dim differentiable tensor. With ``n_synthetic=0`` each is the original
paper's formulation; with ``n_synthetic > 0`` negatives are mined from the expanded batch
as described in :mod:`eelib.mining`. A loss that needs a particular batch layout declares
it (:func:`batch_requirement`), so that a training loop can ask instead of guessing.

Every argument is checked before any work (:mod:`eelib._validation`): embeddings are
float32 or float64 (half precision is refused, naming ``.float()``) with every row norm
within the dtype's limit (1.3e6 in float32), so that the value and its gradient are always
finite; hyperparameters are finite, within ±1e12 (positive ones at least 1e-12); flags are
booleans; ``n_synthetic`` is an integer whose memory (with the batch size) is estimated and
refused above :func:`eelib.set_memory_limit`'s limit before anything is allocated.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

from eelib.losses._common import BatchRequirement, batch_requirement
from eelib.losses.contrastive import contrastive_loss
from eelib.losses.lifted import lifted_structure_loss
from eelib.losses.multi_similarity import multi_similarity_loss
from eelib.losses.npair import npair_loss
from eelib.losses.triplet import TRIPLET_MINING, triplet_loss

LOSSES = {
    "contrastive": contrastive_loss,
    "triplet": triplet_loss,
    "npair": npair_loss,
    "lifted": lifted_structure_loss,
    "multi_similarity": multi_similarity_loss,
}

LossFn = Callable[..., Tensor]


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
    "LOSSES",
    "TRIPLET_MINING",
    "BatchRequirement",
    "LossFn",
    "batch_requirement",
    "contrastive_loss",
    "get_loss",
    "lifted_structure_loss",
    "multi_similarity_loss",
    "npair_loss",
    "triplet_loss",
]
