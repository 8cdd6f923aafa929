"""eelib: pair-based deep metric learning losses and Embedding Expansion (Ko & Gu, CVPR 2020).

A small, tested reference library behind the course in ``notebooks/``.
"""

from eelib._validation import set_memory_limit
from eelib.expansion import EmbeddingExpansion, Expansion, expand
from eelib.losses import (
    ContrastiveLoss,
    LiftedStructureLoss,
    MultiSimilarityLoss,
    NPairLoss,
    TripletLoss,
    contrastive_loss,
    lifted_structure_loss,
    multi_similarity_loss,
    npair_loss,
    triplet_loss,
)

__version__ = "0.1.0"

__all__ = [
    "ContrastiveLoss",
    "EmbeddingExpansion",
    "Expansion",
    "LiftedStructureLoss",
    "MultiSimilarityLoss",
    "NPairLoss",
    "TripletLoss",
    "__version__",
    "contrastive_loss",
    "expand",
    "lifted_structure_loss",
    "multi_similarity_loss",
    "npair_loss",
    "set_memory_limit",
    "triplet_loss",
]
