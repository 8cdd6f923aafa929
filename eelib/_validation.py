"""Input checks shared by the public functions of :mod:`eelib`.

Every public entry point validates its arguments here, so that a mistake is reported
in the caller's terms (which argument, what was expected) instead of as a NaN or a
shape error deep inside torch. The module holds the three limits that keep a valid call
finite and affordable:

* **Precision.** Batches are computed in float32 or float64. The losses accept float16 and
  bfloat16 and compute them in float32, outside any ``torch.autocast`` region (autograd
  returns the gradient in the input's dtype): float16 cannot hold the 1e-12 clips of
  :mod:`eelib.distances` and :mod:`eelib.expansion` and overflows at 65504 (a sum of a few
  hundred squared distances). Other entry points refuse half precision, naming ``.float()``.
* **Magnitude.** Every loss combines squared distances (or inner products) with
  hyperparameters in products of two factors and in sums of up to ``B³`` terms. With
  ``Λ = finfo(dtype).max ** (1/3)`` (7.0e12 for float32, 5.6e102 for float64), squared
  distances ``≤ 4 max‖x_i‖² ≤ Λ``, hyperparameters ``≤ 1e12 < Λ`` and sums of fewer than
  ``Λ`` terms keep every intermediate value, and so the loss and its gradient, below
  ``finfo.max``. Hence :func:`norm_limit`: a row norm above ``sqrt(Λ) / 2`` (1.3e6 in
  float32) is refused instead of silently overflowing to Inf or NaN.
* **Memory.** A call whose estimated peak memory exceeds :func:`memory_limit_bytes` (4 GiB
  unless :func:`set_memory_limit` says otherwise) is refused before anything is allocated
  (:func:`validate_memory`). Estimates are arithmetic on sizes, made once at the public
  entry: for the losses, a bound on the size of the expanded problem
  (:func:`eelib.pairs.expansion_bytes`).

Checks on values (finite, within the norm limit, a batch layout) run on the tensor's device
(:func:`check_on_device`): a loss step reads nothing back to the host.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Collection
from functools import lru_cache
from numbers import Real
from pathlib import Path

import numpy as np
import torch
from numpy.typing import ArrayLike
from torch import Tensor

#: Loss hyperparameters (margins, scales, thresholds) must lie in [−1e12, 1e12]; the
#: positive ones (MS's alpha and beta, N-pair's scale) in [1e-12, 1e12]. The bound is below
#: float32's cube-root budget (see the module docstring), so that no product of a
#: hyperparameter with a distance overflows, and a positive one never underflows to 0.
HYPERPARAMETER_LIMIT = 1e12

#: The dtypes a batch of embeddings is computed in.
BATCH_DTYPES = (torch.float32, torch.float64)

#: Half-precision dtypes the losses accept and compute in float32.
HALF_DTYPES = (torch.float16, torch.bfloat16)


# --- flags, counts, numbers, choices ------------------------------------------------------


def validate_flag(name: str, value: object) -> bool:
    """Check that a flag is a real boolean (``bool`` or ``numpy.bool_``) and return it as ``bool``.

    Strings (``"no"`` is truthy), numbers and tensors are refused: a flag that is not a
    boolean is a mistake, never an intent.
    """
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r} of type {type(value).__name__}")
    return bool(value)


def _is_int(value: object) -> bool:
    """A Python or numpy integer; ``bool`` is not one (``True`` is never meant as 1), nor is ``2.0``."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def validate_int(name: str, value: object) -> int:
    """Check that a value is an integer of any sign (Python or numpy, not bool) and return it."""
    if not _is_int(value):
        raise TypeError(f"{name} must be an int, got {value!r} of type {type(value).__name__}")
    return int(value)


def validate_count(name: str, value: object, *, minimum: int = 0, maximum: int | None = None) -> int:
    """Check that a count is an integer (Python or numpy) in ``[minimum, maximum]`` and return it.

    ``bool`` is rejected although it is an ``int`` subclass (``True`` is never meant as 1),
    and so are floats, even integral ones (``2.0``): a count is not a measurement.
    """
    if not _is_int(value):
        if maximum is not None:
            expected = f"an int in [{minimum}, {maximum}]"
        else:
            expected = {0: "a non-negative int", 1: "a positive int"}.get(minimum, f"an int >= {minimum}")
        raise TypeError(f"{name} must be {expected}, got {value!r} of type {type(value).__name__}")
    value = int(value)
    if value < minimum or (maximum is not None and value > maximum):
        expected = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
        raise ValueError(f"{name} must be {expected}, got {value}")
    return value


def validate_positive_int(name: str, value: object) -> int:
    """Check that a count or size is an integer >= 1 (numpy integers included) and return it."""
    return validate_count(name, value, minimum=1)


def validate_n_synthetic(n_synthetic: object) -> int:
    """Check the number of synthetic points per pair (the paper's n): an integer >= 0.

    How large it may be depends on the batch and on memory: see
    :func:`eelib.pairs.validate_expansion`.
    """
    return validate_count("n_synthetic", n_synthetic, minimum=0)


#: Seeds go to ``torch.Generator.manual_seed``, which takes integers in [0, 2**64 − 1].
SEED_MAXIMUM = 2**64 - 1


def validate_seed(name: str, value: object, maximum: int = SEED_MAXIMUM) -> int:
    """Check a random seed: an integer in ``[0, maximum]`` (scikit-learn's limit is 2**32 − 1)."""
    return validate_count(name, value, minimum=0, maximum=maximum)


def validate_real(
    name: str, value: object, *, minimum: float = -math.inf, maximum: float = math.inf,
    exclusive_minimum: bool = False,
) -> float:
    """Check that ``value`` is a finite real number in ``[minimum, maximum]`` and return it as float.

    Python and numpy numbers are accepted (``bool`` and strings are not); NaN and ±Inf
    never are, whatever the bounds. ``exclusive_minimum`` makes the lower bound strict.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a number, got {value!r} of type {type(value).__name__}")
    number = float(value)
    below = number <= minimum if exclusive_minimum else number < minimum
    if not math.isfinite(number) or below or number > maximum:
        raise ValueError(f"{name} must be {_range_text(minimum, maximum, exclusive_minimum)}, got {value!r}")
    return number


def _range_text(minimum: float, maximum: float, exclusive_minimum: bool) -> str:
    low = ">" if exclusive_minimum else ">="
    if math.isinf(minimum) and math.isinf(maximum):
        return "a finite number"
    if math.isinf(maximum):
        return f"a finite number {low} {minimum:g}"
    if math.isinf(minimum):
        return f"a finite number <= {maximum:g}"
    return f"in {'(' if exclusive_minimum else '['}{minimum:g}, {maximum:g}]"


def validate_non_negative(name: str, value: object) -> float:
    """Check a loss hyperparameter that may be zero: a number in [0, 1e12]."""
    return validate_real(name, value, minimum=0.0, maximum=HYPERPARAMETER_LIMIT)


def validate_positive(name: str, value: object) -> float:
    """Check a positive loss hyperparameter: a number in [1e-12, 1e12].

    The lower bound keeps ``1 / value`` (MS divides by alpha and beta) finite and the value
    itself non-zero in float32.
    """
    return validate_real(name, value, minimum=1.0 / HYPERPARAMETER_LIMIT, maximum=HYPERPARAMETER_LIMIT)


def validate_signed(name: str, value: object) -> float:
    """Check a loss hyperparameter of any sign (MS's threshold): a number in [−1e12, 1e12]."""
    return validate_real(name, value, minimum=-HYPERPARAMETER_LIMIT, maximum=HYPERPARAMETER_LIMIT)


def validate_choice(name: str, value: object, options: Collection[str]) -> str:
    """Check that ``value`` is one of the strings ``options`` and return it."""
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{name} must be one of {sorted(options)}, got {value!r}")
    return value


def validate_path(name: str, value: object) -> Path:
    """Check that ``value`` is a file-system path (``str`` or ``os.PathLike``) and return a :class:`Path`."""
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be a str or a pathlib.Path, got {type(value).__name__}")
    path = Path(value)
    if "\x00" in str(path):
        raise ValueError(f"{name} contains a NUL character: {str(path)!r}")
    return path


# --- tensors -------------------------------------------------------------------------------


def _validate_tensor(name: str, value: object) -> Tensor:
    """A dense tensor with data: not a list or array, not sparse, not on the ``meta`` device."""
    if not isinstance(value, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if value.layout != torch.strided:
        raise TypeError(f"{name} must be a dense (strided) tensor, got layout {value.layout}; call .to_dense()")
    if value.device.type == "meta":
        raise ValueError(f"{name} is a meta tensor, which has a shape but no values; pass a tensor with data")
    return value


def validate_finite(name: str, tensor: Tensor) -> None:
    """Refuse NaN or Inf anywhere in ``tensor`` (one reduction, one sync), naming the first one."""
    finite = torch.isfinite(tensor.detach())
    if not bool(finite.all()):
        where = tuple((~finite).nonzero()[0].tolist())
        raise ValueError(f"{name} must be finite, got {tensor.detach()[where].item()} at index {where}")


def _validate_dtype(name: str, tensor: Tensor) -> None:
    if tensor.dtype in BATCH_DTYPES:
        return
    if tensor.is_floating_point():
        raise TypeError(
            f"{name} has dtype {tensor.dtype}; eelib computes in float32 or float64 (the losses take float16 "
            "and bfloat16 and compute them in float32): half precision "
            "cannot represent its 1e-12 clips, and its squared distances and gradients overflow at "
            f"{torch.finfo(tensor.dtype).max:g}. Pass {name}.float(): the loss then runs in float32 and "
            "autograd still returns gradients in the original dtype (as under torch.autocast)"
        )
    raise TypeError(f"{name} must be a floating-point tensor (float32 or float64), got dtype {tensor.dtype}")


@lru_cache(maxsize=None)
def norm_limit(dtype: torch.dtype) -> float:
    """Largest row norm accepted in a batch of ``dtype``: ``sqrt(finfo.max ** (1/3)) / 2``.

    Then squared distances stay below ``Λ = finfo.max ** (1/3)`` (the module docstring
    explains the budget): 1.3e6 for float32, 1.2e51 for float64.
    """
    return math.sqrt(float(torch.finfo(dtype).max) ** (1.0 / 3.0)) / 2.0


def check_on_device(ok: Tensor, summary: str, detail: Callable[[], str]) -> None:
    """Refuse an input when the 0-dim boolean tensor ``ok`` is false, without reading it on the host.

    A check on values (finite, within a limit, a batch layout) would otherwise stop a GPU
    on every call to copy one boolean back. The check is queued instead, with
    ``torch._assert_async``: on the CPU it runs at once and fails here, raising
    ``ValueError(detail())`` (``detail`` is only called then, so it may read values); on
    an accelerator a failure is a device-side assertion carrying ``summary``, reported at
    the next synchronisation (CUDA then needs a restart of the process, as after any
    device-side assertion).

    Parameters
    ----------
    ok : Tensor of bool, 0-dim
    summary : str
        What was expected, for the device-side assertion.
    detail : callable
        Returns the full message (which argument, what it holds, what to do).
    """
    try:
        torch._assert_async(ok, f"eelib: {summary}")
    except (RuntimeError, NotImplementedError):
        if not bool(ok):  # the check failed (or a backend without device-side assertions: read it)
            raise ValueError(detail()) from None


def _validate_magnitude(name: str, embeddings: Tensor) -> None:
    """One reduction, checked on the device: the largest row norm is finite and within :func:`norm_limit`.

    NaN propagates through the norm (benchmarks/README.md: why not ``.all()``), so one
    comparison covers NaN, Inf and values too large.
    """
    limit = norm_limit(embeddings.dtype)
    largest = torch.linalg.vector_norm(embeddings.detach(), dim=1).amax()
    check_on_device(largest <= limit, f"{name} must be finite with row norms <= {limit:.3g}",
                    lambda: _magnitude_message(name, embeddings, limit))


def _magnitude_message(name: str, embeddings: Tensor, limit: float) -> str:
    """Why :func:`_validate_magnitude` refused ``embeddings``: non-finite values, or the largest norm."""
    if not bool(torch.isfinite(embeddings.detach()).all()):
        return f"{name} contains NaN or Inf values"
    values = embeddings.detach().double()
    peak = values.abs().amax()
    largest = float(peak * torch.linalg.vector_norm(values / peak, dim=1).amax())  # scaled: no overflow
    return (
        f"{name} has a row of norm {largest:.3g}, above the limit {limit:.3g} for {embeddings.dtype}: "
        "its squared distances and the sums over pairs would overflow. Rescale the embeddings "
        "(e.g. L2-normalise them)" + (" or use float64" if embeddings.dtype == torch.float32 else "")
    )


def validate_embeddings(embeddings: object, name: str = "embeddings") -> None:
    """Check a matrix of embeddings alone (no labels): see :func:`validate_batch`."""
    _validate_tensor(name, embeddings)
    if embeddings.dim() != 2:
        raise ValueError(f"{name} must be 2-D with shape (batch, dim), got shape {tuple(embeddings.shape)}")
    _validate_dtype(name, embeddings)
    if embeddings.shape[0] == 0:
        raise ValueError(f"{name} is an empty batch: at least one row is needed")
    if embeddings.shape[1] == 0:
        raise ValueError(f"{name} has zero columns: the embedding dimension must be >= 1")
    _validate_magnitude(name, embeddings)


def validate_batch(embeddings: Tensor, labels: Tensor) -> None:
    """Check a batch of embeddings and its labels.

    Parameters
    ----------
    embeddings : Tensor, shape (B, D)
        float32 or float64 embeddings, one row per sample, with data (not ``meta``), dense,
        finite, every row norm at most :func:`norm_limit` of the dtype.
    labels : Tensor, shape (B,)
        Integer class labels on the same device.

    Raises
    ------
    TypeError
        If either argument is not a dense tensor, ``embeddings`` is not float32/float64 or
        ``labels`` is not an integer tensor.
    ValueError
        If the shapes or devices disagree, the batch is empty, a tensor has no data
        (``meta``), or ``embeddings`` holds NaN, Inf or rows too large for its dtype.
    """
    _validate_tensor("embeddings", embeddings)
    _validate_tensor("labels", labels)
    if embeddings.dim() != 2:
        raise ValueError(
            f"embeddings must be 2-D with shape (batch, dim), got shape {tuple(embeddings.shape)}"
        )
    _validate_dtype("embeddings", embeddings)
    _validate_label_dtype("labels", labels)
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
    _validate_magnitude("embeddings", embeddings)


def _validate_label_dtype(name: str, labels: Tensor) -> None:
    if labels.dim() != 1:
        raise ValueError(f"{name} must be 1-D with shape (N,), got shape {tuple(labels.shape)}")
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise TypeError(f"{name} must be an integer tensor, got dtype {labels.dtype}")


def validate_labels(labels: object, name: str = "labels") -> Tensor:
    """Check a non-empty 1-D integer label tensor (on any device) and return it unchanged."""
    _validate_tensor(name, labels)
    _validate_label_dtype(name, labels)
    if labels.numel() == 0:
        raise ValueError(f"{name} is empty: at least one sample is needed")
    return labels


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
        except (TypeError, ValueError, RuntimeError) as error:
            raise TypeError(f"{name} must be a tensor or an array of integers, got {type(labels).__name__}") from error
    _validate_tensor(name, tensor)
    if tensor.dim() != 1:
        raise ValueError(f"{name} must be 1-D with shape (N,), got shape {tuple(tensor.shape)}")
    if tensor.numel() == 0:
        raise ValueError(f"{name} is empty: at least one sample is needed")
    if tensor.is_floating_point() or tensor.is_complex() or tensor.dtype == torch.bool:
        raise TypeError(f"{name} must hold integers, got dtype {tensor.dtype}")
    return tensor.to(device="cpu", dtype=torch.int64)


# --- memory --------------------------------------------------------------------------------

#: The largest estimated memory one call may use unless :func:`set_memory_limit` says otherwise.
#: It bounds the time a call may take too.
DEFAULT_LIMIT_BYTES = 4 * 2**30

_memory_limit_override: int | None = None


def set_memory_limit(n_bytes: int | None) -> None:
    """Set the largest estimated memory one eelib call may use, or ``None`` for :data:`DEFAULT_LIMIT_BYTES`.

    Parameters
    ----------
    n_bytes : int or None
        The new limit, in bytes (>= 1); ``None`` restores the default.
    """
    global _memory_limit_override
    _memory_limit_override = None if n_bytes is None else validate_count("n_bytes", n_bytes, minimum=1)


def memory_limit_bytes() -> int:
    """The largest estimated memory (bytes) one call may use (see :func:`set_memory_limit`)."""
    return DEFAULT_LIMIT_BYTES if _memory_limit_override is None else _memory_limit_override


def _format_bytes(n_bytes: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n_bytes < 1024 or unit == "PiB":
            return f"{n_bytes:.0f} {unit}" if unit == "bytes" else f"{n_bytes:.3g} {unit}"
        n_bytes /= 1024
    raise AssertionError("unreachable")


def validate_memory(what: str, n_bytes: int, device: torch.device | str = "cpu") -> None:
    """Refuse a call whose estimated peak memory exceeds :func:`memory_limit_bytes`.

    The estimate is arithmetic on sizes (nothing is read from the system or the device),
    so the check costs nothing and needs no synchronisation.

    Call it with the estimate BEFORE allocating: a refused call then leaves nothing behind.

    Parameters
    ----------
    what : str
        The arguments responsible, for the message (e.g. ``"n_synthetic=3000 with a batch of 8"``).
    n_bytes : int
        The estimate.
    device : torch.device or str, default "cpu"
        Where the memory would be allocated.

    Raises
    ------
    ValueError
        Naming ``what``, the estimate and the limit.
    """
    limit = memory_limit_bytes()
    if n_bytes > limit:
        raise ValueError(
            f"{what} would need about {_format_bytes(n_bytes)} of memory (estimated before allocating), "
            f"more than the limit of {_format_bytes(limit)} on {torch.device(device)}; make it smaller, "
            "or raise the limit with eelib.set_memory_limit(n_bytes)"
        )
