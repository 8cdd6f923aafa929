"""Input checks shared by the public functions of :mod:`eelib`.

Every public entry point validates its arguments here, so that a mistake is reported
in the caller's terms (which argument, what was expected) instead of as a NaN or a
shape error deep inside torch. The module holds the three limits that keep a valid call
finite and affordable:

* **Precision.** Batches are float32 or float64. Half precision (float16, bfloat16) and
  the float8 types are refused, naming the fix (``embeddings.float()``, as
  ``torch.autocast`` computes losses in float32): float16 cannot hold the 1e-12 clips of
  :mod:`eelib.distances` and :mod:`eelib.expansion`, overflows at 65504 (a sum of a few
  hundred squared distances), and the gradient of a float16 leaf overflows with it.
* **Magnitude.** Every loss combines squared distances (or inner products) with
  hyperparameters in products of two factors and in sums of up to ``B³`` terms. With
  ``Λ = finfo(dtype).max ** (1/3)`` (7.0e12 for float32, 5.6e102 for float64), squared
  distances ``≤ 4 max‖x_i‖² ≤ Λ``, hyperparameters ``≤ 1e12 < Λ`` and sums of fewer than
  ``Λ`` terms keep every intermediate value, and so the loss and its gradient, below
  ``finfo.max``. Hence :func:`norm_limit`: a row norm above ``sqrt(Λ) / 2`` (1.3e6 in
  float32) is refused instead of silently overflowing to Inf or NaN.
* **Memory.** A call whose estimated peak memory exceeds :func:`memory_limit_bytes` (by
  default 4 GiB or half the memory available, whichever is smaller) is refused before
  anything is allocated (:func:`validate_memory`); :func:`set_memory_limit` changes it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Collection
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

#: The dtypes a batch of embeddings may have.
BATCH_DTYPES = (torch.float32, torch.float64)


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
    :func:`eelib.mining.validate_expansion`.
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
            f"{name} has dtype {tensor.dtype}; eelib computes in float32 or float64 only: half precision "
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


def _validate_magnitude(name: str, embeddings: Tensor) -> None:
    """One reduction and one sync: the largest row norm is finite and within :func:`norm_limit`.

    NaN propagates through the norm (benchmarks/README.md: why not ``.all()``); only when the
    check fails is a second pass made, to say whether the values are non-finite or too large.
    """
    largest = float(torch.linalg.vector_norm(embeddings.detach(), dim=1).amax())
    limit = norm_limit(embeddings.dtype)
    if largest <= limit:
        return
    if not bool(torch.isfinite(embeddings.detach()).all()):
        raise ValueError(f"{name} contains NaN or Inf values")
    values = embeddings.detach().double()
    peak = values.abs().amax()
    largest = float(peak * torch.linalg.vector_norm(values / peak, dim=1).amax())  # scaled: no overflow
    raise ValueError(
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

#: Below this estimate a call is not checked against the memory available (no system query).
UNCHECKED_BYTES = 64 * 2**20

#: Share of the memory available at call time that one call may plan to use.
MEMORY_FRACTION = 0.5

#: The largest estimate allowed by default, whatever the memory available: it bounds the
#: time a call may take too (EE with n = 2000 on 8 samples, estimated 2.6 GB, runs for seconds).
DEFAULT_LIMIT_BYTES = 4 * 2**30

_memory_limit_override: int | None = None


def set_memory_limit(n_bytes: int | None) -> None:
    """Set the largest estimated memory one eelib call may use, or ``None`` for the default.

    The default is :data:`DEFAULT_LIMIT_BYTES` or :data:`MEMORY_FRACTION` of the memory
    available when the call is made, whichever is smaller (available: on Linux the smaller
    of ``MemAvailable`` and the cgroup's headroom; on CUDA the free device memory plus what
    torch's caching allocator holds unused; elsewhere it is not read).

    Parameters
    ----------
    n_bytes : int or None
        The new limit, in bytes (>= 1); ``None`` restores the default.
    """
    global _memory_limit_override
    _memory_limit_override = None if n_bytes is None else validate_count("n_bytes", n_bytes, minimum=1)


def _read_int(path: str) -> int | None:
    try:
        text = Path(path).read_text().split()[0]
    except (OSError, IndexError):
        return None
    return int(text) if text.isdigit() else None


def _available_cpu_bytes() -> int | None:
    """MemAvailable, capped by the cgroup (v2 or v1) limit minus its usage; None off Linux."""
    available = None
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    available = int(line.split()[1]) * 1024
                    break
    except OSError:
        return None
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        limit, usage = _read_int(limit_file), _read_int(usage_file)
        if limit is not None and usage is not None and limit < 2**60:
            headroom = max(limit - usage, 0)
            available = headroom if available is None else min(available, headroom)
            break
    return available


def memory_limit_bytes(device: torch.device | str = "cpu") -> int:
    """The largest estimated memory (bytes) one call may use on ``device`` (see :func:`set_memory_limit`)."""
    if _memory_limit_override is not None:
        return _memory_limit_override
    device = torch.device(device)
    available = None
    if device.type == "cpu":
        available = _available_cpu_bytes()
    elif device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        available = free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
    if available is None:
        return DEFAULT_LIMIT_BYTES
    return min(DEFAULT_LIMIT_BYTES, int(MEMORY_FRACTION * available))


def _format_bytes(n_bytes: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n_bytes < 1024 or unit == "PiB":
            return f"{n_bytes:.0f} {unit}" if unit == "bytes" else f"{n_bytes:.3g} {unit}"
        n_bytes /= 1024
    raise AssertionError("unreachable")


def needs_memory_check(n_bytes: int) -> bool:
    """Whether :func:`validate_memory` would compare ``n_bytes`` with the limit at all.

    A caller whose exact estimate costs work can first try a cheap upper bound.
    """
    return n_bytes > UNCHECKED_BYTES or _memory_limit_override is not None


def validate_memory(what: str, n_bytes: int, device: torch.device | str = "cpu") -> None:
    """Refuse a call whose estimated peak memory exceeds :func:`memory_limit_bytes`.

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
    if not needs_memory_check(n_bytes):
        return
    limit = memory_limit_bytes(device)
    if n_bytes > limit:
        raise ValueError(
            f"{what} would need about {_format_bytes(n_bytes)} of memory (estimated before allocating), "
            f"more than the limit of {_format_bytes(limit)} on {torch.device(device)}; make it smaller, "
            "or raise the limit with eelib.set_memory_limit(n_bytes)"
        )
