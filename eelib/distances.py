"""Pairwise distances computed from inner products.

All losses in :mod:`eelib.losses` work from the Gram matrix ``G = X Xᵀ`` of a batch.
Squared Euclidean distances follow from it without any further D-dimensional work,

    ‖x_p − x_q‖² = G_pp + G_qq − 2 G_pq,

which is also what makes Embedding Expansion cheap (see :mod:`eelib.expansion`).
"""

from __future__ import annotations

from functools import lru_cache

import torch
from torch import Tensor

from eelib._validation import validate_embeddings, validate_finite, validate_flag, validate_memory

#: Squared distances are clipped at this value before the square root, as in the
#: official EE code (``euclidean_dist`` clamps at 1e-12). It keeps the gradient of
#: ``sqrt`` finite for coincident points; a clipped entry gets zero gradient.
SQRT_CLIP = 1e-12


@lru_cache(maxsize=None)
def sqrt_clip(dtype: torch.dtype) -> float:
    """:data:`SQRT_CLIP`, or the smallest normal number of ``dtype`` where that is larger.

    1e-12 is a normal number in float32, float64 and bfloat16, so for them the clip is the
    official one; in float16 it would round to 0 (and the gradient of ``sqrt`` at 0 is
    infinite), so there the clip is float16's smallest normal number, 6.1e-5.
    """
    return max(SQRT_CLIP, float(torch.finfo(dtype).tiny))


#: The dtypes the building blocks below compute in (the losses accept float32 and float64).
FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def _require_float_tensor(name: str, value: object) -> Tensor:
    if not isinstance(value, Tensor) or value.dtype not in FLOAT_DTYPES or value.layout != torch.strided:
        kind = f"a {value.layout} tensor of dtype {value.dtype}" if isinstance(value, Tensor) else type(value).__name__
        raise TypeError(f"{name} must be a dense floating-point tensor (float16 to float64), got {kind}")
    return value


def _require_finite(name: str, value: Tensor, check_finite: object) -> None:
    if validate_flag("check_finite", check_finite):
        validate_finite(name, value)


def squared_distances_from_gram(gram: Tensor, *, check_finite: bool = True) -> Tensor:
    """Squared Euclidean distances from a Gram matrix.

    Parameters
    ----------
    gram : Tensor, shape (N, N)
        Inner products ``G_pq = x_p · x_q``.
    check_finite : bool, default True
        Refuse NaN or Inf in ``gram``. The losses pass False: their Gram matrices come from
        embeddings already checked (:func:`eelib._validation.validate_embeddings`).

    Returns
    -------
    Tensor, shape (N, N)
        ``G_pp + G_qq − 2 G_pq``, clamped at 0 against round-off.
    """
    _require_float_tensor("gram", gram)
    if gram.dim() != 2 or gram.shape[0] != gram.shape[1]:
        raise ValueError(f"gram must be a square matrix (N, N), got shape {tuple(gram.shape)}")
    _require_finite("gram", gram, check_finite)
    norms = gram.diagonal()
    # One new N × N matrix, the rest in place: on the CPU every new large matrix costs its pages.
    return torch.add(norms[:, None], norms[None, :]).sub_(gram, alpha=2.0).clamp_min_(0.0)


def euclidean_from_squared(squared: Tensor, *, check_finite: bool = True) -> Tensor:
    """Euclidean distances from squared ones, with a gradient-safe square root.

    Parameters
    ----------
    squared : Tensor
        Non-negative squared distances.
    check_finite : bool, default True
        Refuse NaN or Inf in ``squared``; the losses pass False (their input is checked).

    Returns
    -------
    Tensor
        ``sqrt(max(squared, clip))`` with ``clip = sqrt_clip(squared.dtype)`` (1e-12 except
        in float16).
    """
    squared = _require_float_tensor("squared", squared)
    _require_finite("squared", squared, check_finite)
    return squared.clamp_min(sqrt_clip(squared.dtype)).sqrt()


def pairwise_distances(embeddings: Tensor, *, squared: bool = False) -> Tensor:
    """All pairwise Euclidean distances of a batch, through its Gram matrix.

    Parameters
    ----------
    embeddings : Tensor, shape (B, D)
        float32 or float64, checked like a loss's batch
        (:func:`eelib._validation.validate_embeddings`).
    squared : bool, default False
        Return ``D²`` instead of ``D``.

    Returns
    -------
    Tensor, shape (B, B)
    """
    squared = validate_flag("squared", squared)
    validate_embeddings(embeddings)
    batch = embeddings.shape[0]
    validate_memory(f"pairwise_distances of {batch} embeddings (a {batch} x {batch} matrix and its temporaries)",
                    4 * batch * batch * embeddings.element_size(), embeddings.device)
    sq = squared_distances_from_gram(embeddings @ embeddings.T, check_finite=False)
    return sq if squared else euclidean_from_squared(sq, check_finite=False)


__all__ = [
    "SQRT_CLIP",
    "euclidean_from_squared",
    "pairwise_distances",
    "sqrt_clip",
    "squared_distances_from_gram",
]

