"""The five pair-based losses, each with optional Embedding Expansion.

Every loss has the signature
``loss(embeddings, labels, *, n_synthetic=0, normalize_synthetic=True, **hyperparameters)``
and returns a 0-dim differentiable tensor. With ``n_synthetic=0`` each is the original
paper's formulation; with ``n_synthetic > 0`` negatives are mined from the expanded batch
as described in :mod:`eelib.mining`.
"""

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

__all__ = [
    "LOSSES",
    "TRIPLET_MINING",
    "contrastive_loss",
    "lifted_structure_loss",
    "multi_similarity_loss",
    "npair_loss",
    "triplet_loss",
]
