"""Input checks shared by the public functions of :mod:`eelib`.

Every public entry point validates its arguments here, so that a mistake is reported
in the caller's terms (which argument, what was expected) instead of as a NaN or a
shape error deep inside torch.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
import torch
from numpy.typing import ArrayLike
from torch import Tensor


def validate_batch(embeddings: Tensor, labels: Tensor) -> None:
    """Check a batch of embeddings and its labels.

    Parameters
    ----------
    embeddings : Tensor, shape (B, D)
        Floating-point embeddings, one row per sample.
    labels : Tensor, shape (B,)
        Integer class labels.

    Raises
    ------
    TypeError
        If either argument is not a tensor, ``embeddings`` is not floating point or
        ``labels`` is not an integer tensor.
    ValueError
        If the shapes disagree, the batch is empty, or ``embeddings`` holds NaN or Inf.
    """
    if not isinstance(embeddings, Tensor):
        raise TypeError(f"embeddings must be a torch.Tensor, got {type(embeddings).__name__}")
    if not isinstance(labels, Tensor):
        raise TypeError(f"labels must be a torch.Tensor, got {type(labels).__name__}")
    if embeddings.dim() != 2:
        raise ValueError(
            f"embeddings must be 2-D with shape (batch, dim), got shape {tuple(embeddings.shape)}"
        )
    if not embeddings.is_floating_point():
        raise TypeError(f"embeddings must be a floating-point tensor, got dtype {embeddings.dtype}")
    if labels.dim() != 1:
        raise ValueError(f"labels must be 1-D with shape (batch,), got shape {tuple(labels.shape)}")
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise TypeError(f"labels must be an integer tensor, got dtype {labels.dtype}")
    if embeddings.shape[0] == 0:
        raise ValueError("embeddings is an empty batch: at least one row is needed")
    if embeddings.shape[1] == 0:
        raise ValueError("embeddings has zero columns: the embedding dimension must be >= 1")
    if labels.shape[0] != embeddings.shape[0]:
        raise ValueError(
            f"labels has {labels.shape[0]} entries but embeddings has {embeddings.shape[0]} rows; "
            "there must be one label per embedding"
        )
    if labels.device != embeddings.device:
        raise ValueError(
            f"labels is on {labels.device} but embeddings is on {embeddings.device}; "
            "move both to the same device"
        )
    if not bool(torch.isfinite(embeddings.abs().amax())):  # NaN propagates (benchmarks/README.md: why not .all())
        raise ValueError("embeddings contains NaN or Inf values")


def validate_n_synthetic(n_synthetic: object) -> int:
    """Check the number of synthetic points per pair (the paper's n).

    Parameters
    ----------
    n_synthetic : int
        Must be a non-negative Python integer (``bool`` is rejected).

    Returns
    -------
    int
        The validated value.
    """
    if isinstance(n_synthetic, bool) or not isinstance(n_synthetic, int):
        raise TypeError(
            f"n_synthetic must be a non-negative int, got {n_synthetic!r} "
            f"of type {type(n_synthetic).__name__}"
        )
    if n_synthetic < 0:
        raise ValueError(f"n_synthetic must be >= 0, got {n_synthetic}")
    return n_synthetic


def validate_choice(name: str, value: object, options: Collection[str]) -> str:
    """Check that ``value`` is one of ``options`` and return it."""
    if value not in options:
        raise ValueError(f"{name} must be one of {sorted(options)}, got {value!r}")
    return str(value)


def validate_non_negative(name: str, value: float) -> float:
    """Check that a hyperparameter is a finite number >= 0 and return it as float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not value >= 0 or value == float("inf"):
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    return float(value)


def validate_positive(name: str, value: float) -> float:
    """Check that a hyperparameter is a finite number > 0 and return it as float."""
    value = validate_non_negative(name, value)
    if value == 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    return value


def validate_positive_int(name: str, value: object) -> int:
    """Check that a count or size is an integer >= 1 (numpy integers included) and return it.

    ``bool`` is rejected although it is an ``int`` subclass: ``True`` is never meant as 1.
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a positive int, got {value!r} of type {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return int(value)


def as_label_tensor(labels: Tensor | ArrayLike, name: str = "labels") -> Tensor:
    """Return class labels as a non-empty 1-D int64 CPU tensor, or raise naming ``name``.

    Parameters
    ----------
    labels : Tensor or array-like, shape (N,)
        Integer labels (a tensor, a numpy array or a sequence).
    name : str, default "labels"
        The argument's name, for error messages.

    Returns
    -------
    Tensor of int64, shape (N,)
    """
    if isinstance(labels, Tensor):
        tensor = labels
    else:
        try:
            tensor = torch.as_tensor(np.asarray(labels))
        except (TypeError, ValueError) as error:
            raise TypeError(f"{name} must be a tensor or an array of integers, got {type(labels).__name__}") from error
    if tensor.dim() != 1:
        raise ValueError(f"{name} must be 1-D with shape (N,), got shape {tuple(tensor.shape)}")
    if tensor.numel() == 0:
        raise ValueError(f"{name} is empty: at least one sample is needed")
    if tensor.is_floating_point() or tensor.is_complex() or tensor.dtype == torch.bool:
        raise TypeError(f"{name} must hold integers, got dtype {tensor.dtype}")
    return tensor.to(device="cpu", dtype=torch.int64)
