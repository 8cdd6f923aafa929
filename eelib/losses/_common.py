"""What the five losses share: their entry (precision, hyperparameter checks), the module
form, an empty-batch zero, a stable log(1 + Σ exp), and batch layouts."""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import Callable, Iterator
from typing import Any, ClassVar, NamedTuple, TypeVar

import torch
from torch import Tensor, nn

from eelib._validation import (
    HALF_DTYPES,
    validate_choice,
    validate_flag,
    validate_n_synthetic,
    validate_non_negative,
    validate_positive,
    validate_signed,
)

F = TypeVar("F", bound=Callable[..., Tensor])

#: Accepted values of the triplet loss's ``mining``.
TRIPLET_MINING = ("all", "semihard", "hardest")

#: The check of every hyperparameter name, shared by all losses: one name, one meaning, one range.
HYPERPARAMETERS: dict[str, Callable[[str, Any], Any]] = {
    "margin": validate_non_negative,
    "mining": lambda name, value: validate_choice(name, value, TRIPLET_MINING),
    "squared": validate_flag,
    "l2_reg": validate_non_negative,
    "scale": validate_positive,
    "alpha": validate_positive,
    "beta": validate_positive,
    "base": validate_signed,
    "epsilon": validate_non_negative,
}


def check_hyperparameters(**values: Any) -> dict[str, Any]:
    """Each hyperparameter checked by :data:`HYPERPARAMETERS` under its own name, in a dict."""
    return {name: HYPERPARAMETERS[name](name, value) for name, value in values.items()}


def _autocast_off(embeddings: object) -> contextlib.AbstractContextManager:
    """A region where autocast is disabled on the embeddings' device (nothing to do off autocast)."""
    if isinstance(embeddings, Tensor) and embeddings.device.type in ("cpu", "cuda", "xpu", "mps") \
            and torch.is_autocast_enabled(embeddings.device.type):
        return torch.autocast(embeddings.device.type, enabled=False)
    return contextlib.nullcontext()


@contextlib.contextmanager
def full_precision(embeddings: object) -> Iterator[object]:
    """The body of a loss: half-precision embeddings as float32, with autocast disabled.

    Used as ``with full_precision(embeddings) as embeddings:`` around a loss's computation.
    float16 and bfloat16 embeddings are cast to float32 (autograd casts the gradient back to
    the input's dtype), and autocast is disabled so that the loss's matrix products stay in
    float32 too. Anything else passes unchanged, to be checked by the loss.
    """
    with _autocast_off(embeddings):
        half = isinstance(embeddings, Tensor) and embeddings.dtype in HALF_DTYPES
        yield embeddings.float() if half else embeddings


class PairLoss(nn.Module):
    """The module form of an eelib loss: ``loss_fn(embeddings, labels)``, settings fixed at construction.

    Subclasses name the loss function (``function``) and take its keyword arguments; the
    forward pass calls that function, so the module and the function are one
    implementation. Arguments are checked when the module is built. It has no parameters.

    Attributes
    ----------
    n_synthetic : int
        EE's synthetic points per pair (0: no EE).
    normalize_synthetic : bool
    hyperparameters : dict
        The loss's other keyword arguments.
    """

    function: ClassVar[Callable[..., Tensor]]

    def __init__(self, *, n_synthetic: int, normalize_synthetic: bool, **hyperparameters: Any) -> None:
        super().__init__()
        self.n_synthetic = validate_n_synthetic(n_synthetic)
        self.normalize_synthetic = validate_flag("normalize_synthetic", normalize_synthetic)
        self.hyperparameters = check_hyperparameters(**hyperparameters)

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        """The loss of a batch (see the loss function's documentation)."""
        return type(self).function(embeddings, labels, n_synthetic=self.n_synthetic,
                                   normalize_synthetic=self.normalize_synthetic, **self.hyperparameters)

    def extra_repr(self) -> str:  # noqa: D102
        settings = {**self.hyperparameters, "n_synthetic": self.n_synthetic,
                    "normalize_synthetic": self.normalize_synthetic}
        return ", ".join(f"{name}={value!r}" for name, value in settings.items())


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
        An eelib loss, its module (:class:`PairLoss`), a ``functools.partial`` of one, or
        any callable (which declares nothing and so accepts any layout).

    Returns
    -------
    BatchRequirement
    """
    if isinstance(loss, PairLoss):
        loss = type(loss).function
    while isinstance(loss, functools.partial):
        loss = loss.func
    loss = inspect.unwrap(loss)
    return getattr(loss, "batch_requirement", BatchRequirement())
