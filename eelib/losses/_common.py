"""What the five losses share: an empty-batch zero, a stable log(1 + Σ exp), and batch layouts."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import NamedTuple, TypeVar

import torch
from torch import Tensor

F = TypeVar("F", bound=Callable[..., Tensor])


def zero_loss(embeddings: Tensor) -> Tensor:
    """A 0-dim zero that is connected to ``embeddings`` (its gradient is zero)."""
    return embeddings.sum() * 0.0


def log1p_sum_exp(values: Tensor, keep: Tensor) -> Tensor:
    """Row-wise ``log(1 + Σ_{keep} exp(values))``, stable for large values.

    Parameters
    ----------
    values : Tensor, shape (B, M)
    keep : Tensor of bool, shape (B, M)
        Which entries enter the sum; a row with none gives ``log 1 = 0``.
    """
    masked = values.masked_fill(~keep, float("-inf"))
    zero = torch.zeros(values.shape[0], 1, dtype=values.dtype, device=values.device)
    return torch.cat([zero, masked], dim=1).logsumexp(1)


class BatchRequirement(NamedTuple):
    """What a loss needs of the batches it is given.

    Attributes
    ----------
    samples_per_class : int or None
        The exact number of instances of every class in a batch (2 for N-pair, whose
        batches are anchor–positive pairs); ``None`` when any number of at least one works.
    """

    samples_per_class: int | None = None


def requires(requirement: BatchRequirement) -> Callable[[F], F]:
    """Declare a loss's :class:`BatchRequirement` (read back by :func:`batch_requirement`)."""
    def declare(loss: F) -> F:
        loss.batch_requirement = requirement  # type: ignore[attr-defined]
        return loss
    return declare


def batch_requirement(loss: Callable[..., Tensor]) -> BatchRequirement:
    """The batch layout a loss declared, looking through ``functools.partial`` and wrappers.

    Parameters
    ----------
    loss : callable
        An eelib loss, a ``functools.partial`` of one, or any callable (which declares
        nothing and so accepts any layout).

    Returns
    -------
    BatchRequirement
    """
    while isinstance(loss, functools.partial):
        loss = loss.func
    loss = inspect.unwrap(loss)
    return getattr(loss, "batch_requirement", BatchRequirement())
