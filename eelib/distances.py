"""Pairwise distances computed from inner products.

All losses in :mod:`eelib.losses` work from the Gram matrix ``G = X Xᵀ`` of a batch.
Squared Euclidean distances follow from it without any further D-dimensional work,

    ‖x_p − x_q‖² = G_pp + G_qq − 2 G_pq,

which is also what makes Embedding Expansion cheap (see :mod:`eelib.expansion`).
"""

from __future__ import annotations

from torch import Tensor

#: Squared distances are clipped at this value before the square root, as in the
#: official EE code (``euclidean_dist`` clamps at 1e-12). It keeps the gradient of
#: ``sqrt`` finite for coincident points; a clipped entry gets zero gradient.
SQRT_CLIP = 1e-12


def squared_distances_from_gram(gram: Tensor) -> Tensor:
    """Squared Euclidean distances from a Gram matrix.

    Parameters
    ----------
    gram : Tensor, shape (N, N)
        Inner products ``G_pq = x_p · x_q``.

    Returns
    -------
    Tensor, shape (N, N)
        ``G_pp + G_qq − 2 G_pq``, clamped at 0 against round-off.
    """
    norms = gram.diagonal()
    return (norms[:, None] + norms[None, :] - 2.0 * gram).clamp_min(0.0)


def euclidean_from_squared(squared: Tensor) -> Tensor:
    """Euclidean distances from squared ones, with a gradient-safe square root.

    Parameters
    ----------
    squared : Tensor
        Non-negative squared distances.

    Returns
    -------
    Tensor
        ``sqrt(max(squared, 1e-12))``.
    """
    return squared.clamp_min(SQRT_CLIP).sqrt()


def pairwise_distances(embeddings: Tensor, *, squared: bool = False) -> Tensor:
    """All pairwise Euclidean distances of a batch, through its Gram matrix.

    Parameters
    ----------
    embeddings : Tensor, shape (B, D)
    squared : bool, default False
        Return ``D²`` instead of ``D``.

    Returns
    -------
    Tensor, shape (B, B)
    """
    sq = squared_distances_from_gram(embeddings @ embeddings.T)
    return sq if squared else euclidean_from_squared(sq)


__all__ = [
    "SQRT_CLIP",
    "euclidean_from_squared",
    "pairwise_distances",
    "squared_distances_from_gram",
]

