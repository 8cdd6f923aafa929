"""Bad input is rejected with a ValueError/TypeError that names the argument.

And batches that are valid but have nothing to learn from (no positive pair, no
negative pair, a single sample) return a zero that carries a finite gradient.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from torch import Tensor

from eelib import expand, oracles, set_memory_limit
from eelib._validation import HYPERPARAMETER_LIMIT, norm_limit
from eelib.distances import pairwise_distances
from eelib.pairs import expansion_bytes
from eelib.losses import (
    contrastive_loss,
    lifted_structure_loss,
    multi_similarity_loss,
    npair_loss,
    triplet_loss,
)

pytestmark = pytest.mark.unit

LOSSES = {
    "contrastive": (contrastive_loss, {}),
    "triplet-all": (triplet_loss, {"mining": "all"}),
    "triplet-semihard": (triplet_loss, {"mining": "semihard"}),
    "triplet-hardest": (triplet_loss, {"mining": "hardest"}),
    "npair": (npair_loss, {}),
    "lifted": (lifted_structure_loss, {}),
    "ms": (multi_similarity_loss, {}),
}
# expand() validates its batch like the losses do.
ENTRY_POINTS = {**LOSSES, "expand": (lambda e, y, **kw: expand(e, y, n_synthetic=1, **kw), {})}


def good_batch() -> tuple[Tensor, Tensor]:
    """Three classes, two samples each (valid for every loss, N-pair included)."""
    gen = torch.Generator().manual_seed(0)
    return torch.randn(6, 4, generator=gen), torch.tensor([0, 0, 1, 1, 2, 2])


# ------------------------------------------------------------ embeddings and labels

BAD_BATCHES = {
    "embeddings-1d": (lambda x, y: (x[:, 0], y), ValueError, "embeddings"),
    "embeddings-3d": (lambda x, y: (x[None], y), ValueError, "embeddings"),
    "embeddings-int": (lambda x, y: (x.round().long(), y), TypeError, "embeddings"),
    "embeddings-bool": (lambda x, y: (x > 0, y), TypeError, "embeddings"),
    "embeddings-numpy": (lambda x, y: (x.numpy(), y), TypeError, "embeddings"),
    "embeddings-list": (lambda x, y: (x.tolist(), y), TypeError, "embeddings"),
    "embeddings-nan": (lambda x, y: (torch.where(torch.arange(6)[:, None] == 2, float("nan"), x), y),
                       ValueError, "embeddings"),
    "embeddings-inf": (lambda x, y: (torch.where(torch.arange(6)[:, None] == 4, float("inf"), x), y),
                       ValueError, "embeddings"),
    "embeddings-neg-inf": (lambda x, y: (-torch.where(torch.arange(6)[:, None] == 0, float("inf"), x), y),
                           ValueError, "embeddings"),
    "empty-batch": (lambda x, y: (x[:0], y[:0]), ValueError, "embeddings"),
    "labels-too-few": (lambda x, y: (x, y[:5]), ValueError, "labels"),
    "labels-too-many": (lambda x, y: (x, torch.cat([y, y[:1]])), ValueError, "labels"),
    "labels-float": (lambda x, y: (x, y.float()), TypeError, "labels"),
    "labels-bool": (lambda x, y: (x, y > 0), TypeError, "labels"),
    "labels-2d": (lambda x, y: (x, y[:, None]), ValueError, "labels"),
    "labels-list": (lambda x, y: (x, y.tolist()), TypeError, "labels"),
    "labels-numpy": (lambda x, y: (x, np.asarray(y)), TypeError, "labels"),
}


@pytest.mark.parametrize("bad", BAD_BATCHES)
@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_bad_batches_are_rejected_naming_the_argument(entry, bad):
    fn, kw = ENTRY_POINTS[entry]
    make, error, name = BAD_BATCHES[bad]
    x, y = make(*good_batch())
    with pytest.raises(error, match=name):
        fn(x, y, **kw)


# -------------------------------------------------------------------- n_synthetic

# A list, not a dict: True == 1.0 would collapse two keys into one case.
BAD_N = [
    (-1, ValueError),
    (1.0, TypeError),
    (2.5, TypeError),
    (True, TypeError),
    (False, TypeError),
    ("2", TypeError),
    (None, TypeError),
]


@pytest.mark.parametrize(("n_synthetic", "error"), BAD_N, ids=[repr(n) for n, _ in BAD_N])
@pytest.mark.parametrize("entry", LOSSES)
def test_bad_n_synthetic_is_rejected(entry, n_synthetic, error):
    fn, kw = LOSSES[entry]
    with pytest.raises(error, match="n_synthetic"):
        fn(*good_batch(), n_synthetic=n_synthetic, **kw)


@pytest.mark.parametrize(("n_synthetic", "error"), BAD_N, ids=[repr(n) for n, _ in BAD_N])
def test_expand_rejects_bad_n_synthetic(n_synthetic, error):
    with pytest.raises(error, match="n_synthetic"):
        expand(*good_batch(), n_synthetic=n_synthetic)


@pytest.mark.parametrize("entry", LOSSES)
@pytest.mark.parametrize("integer", [np.int64(2), np.int32(2), np.uint8(2)], ids=repr)
def test_numpy_integer_n_synthetic_is_accepted(entry, integer):
    """A count is an integer of any kind: numpy's too (as data.py's counts), with the same result."""
    fn, kw = LOSSES[entry]
    torch.testing.assert_close(fn(*good_batch(), n_synthetic=integer, **kw), fn(*good_batch(), n_synthetic=2, **kw))


def test_numpy_float_n_synthetic_is_rejected():
    """An integral float is still not a count (it is not silently truncated)."""
    with pytest.raises(TypeError, match="n_synthetic"):
        triplet_loss(*good_batch(), n_synthetic=np.float64(2.0))


@pytest.mark.parametrize("entry", LOSSES)
def test_a_single_sample_class_cannot_be_expanded(entry):
    """Classes 2 and 3 have one sample (for N-pair the batch is also not made of pairs)."""
    fn, kw = LOSSES[entry]
    with pytest.raises(ValueError, match="labels"):
        fn(good_batch()[0], torch.tensor([0, 0, 1, 1, 2, 3]), n_synthetic=1, **kw)


def test_single_sample_class_error_lists_the_classes():
    x, _ = good_batch()
    with pytest.raises(ValueError, match=r"\[2, 3\]"):
        expand(x, torch.tensor([0, 0, 1, 1, 2, 3]), n_synthetic=2)


@pytest.mark.parametrize("entry", [name for name in LOSSES if name != "npair"])
def test_single_sample_class_error_names_the_callers_labels(entry):
    """The losses cache EE's plan under canonical ids (0, 1, ...); the error must still
    name the labels the caller passed (9 and 3 here, not 2 and 3). N-pair rejects the
    batch earlier, as not made of pairs."""
    fn, kw = LOSSES[entry]
    with pytest.raises(ValueError, match=r"class\(es\) \[3, 9\]"):
        fn(good_batch()[0], torch.tensor([7, 7, 4, 4, 9, 3]), n_synthetic=1, **kw)


# ------------------------------------------------------------------ hyperparameters

BAD_HYPERPARAMETERS = [
    (contrastive_loss, {"margin": -0.1}, ValueError, "margin"),
    (contrastive_loss, {"margin": float("nan")}, ValueError, "margin"),
    (contrastive_loss, {"margin": "1"}, TypeError, "margin"),
    (triplet_loss, {"margin": -1e-3}, ValueError, "margin"),
    (triplet_loss, {"margin": float("inf")}, ValueError, "margin"),
    (triplet_loss, {"mining": "hard"}, ValueError, "mining"),
    (triplet_loss, {"mining": "batch_hard"}, ValueError, "mining"),
    (triplet_loss, {"mining": None}, ValueError, "mining"),
    (lifted_structure_loss, {"margin": -1.0}, ValueError, "margin"),
    (npair_loss, {"l2_reg": -0.002}, ValueError, "l2_reg"),
    (npair_loss, {"scale": 0.0}, ValueError, "scale"),
    (npair_loss, {"scale": float("inf")}, ValueError, "scale"),
    (multi_similarity_loss, {"alpha": 0.0}, ValueError, "alpha"),
    (multi_similarity_loss, {"beta": -50.0}, ValueError, "beta"),
    (multi_similarity_loss, {"epsilon": -0.1}, ValueError, "epsilon"),
    (multi_similarity_loss, {"base": float("nan")}, ValueError, "base"),
    (multi_similarity_loss, {"base": "0.5"}, TypeError, "base"),
]


@pytest.mark.parametrize(
    ("fn", "kw", "error", "name"), BAD_HYPERPARAMETERS,
    ids=[f"{fn.__name__}-{kw}" for fn, kw, _, _ in BAD_HYPERPARAMETERS],
)
def test_bad_hyperparameters_are_rejected(fn, kw, error, name):
    with pytest.raises(error, match=name):
        fn(*good_batch(), **kw)


@pytest.mark.parametrize("labels", [[0, 0, 0, 1, 1, 2], [0, 1, 2, 3, 4, 5], [0, 0, 1, 1, 1, 1]])
def test_npair_needs_a_batch_of_pairs(labels):
    x, _ = good_batch()
    with pytest.raises(ValueError, match="labels"):
        npair_loss(x, torch.tensor(labels))


# ------------------------------------------------- nothing to learn: a zero with a gradient

NO_POSITIVE = torch.tensor([0, 1, 2, 3, 4, 5])
NO_NEGATIVE = torch.tensor([7, 7, 7, 7, 7, 7])
# The contrastive loss sums independent per-pair terms: a batch of negatives only still
# has its push term, one of positives only its pull term. Only "no pair at all" is zero.
TRIPLET_BASED = [name for name in LOSSES if name not in ("npair", "contrastive")]


def assert_zero_with_gradient(fn, x: Tensor, labels: Tensor, **kw) -> None:
    x = x.clone().requires_grad_(True)
    value = fn(x, labels, **kw)
    assert value.dim() == 0 and value.requires_grad
    assert value.item() == 0.0
    value.backward()
    assert x.grad is not None and bool(torch.isfinite(x.grad).all())
    assert bool((x.grad == 0).all())


@pytest.mark.parametrize("entry", TRIPLET_BASED)
def test_no_positive_pair_gives_a_zero_with_gradient(entry):
    fn, kw = LOSSES[entry]
    assert_zero_with_gradient(fn, good_batch()[0], NO_POSITIVE, **kw)


@pytest.mark.parametrize("n_synthetic", [0, 1, 3])
@pytest.mark.parametrize("entry", TRIPLET_BASED)
def test_no_negative_pair_gives_a_zero_with_gradient(entry, n_synthetic):
    fn, kw = LOSSES[entry]
    assert_zero_with_gradient(fn, good_batch()[0], NO_NEGATIVE, n_synthetic=n_synthetic, **kw)


@pytest.mark.parametrize(("labels", "n_synthetic"), [(NO_POSITIVE, 0), (NO_NEGATIVE, 0), (NO_NEGATIVE, 2)])
def test_contrastive_with_one_kind_of_pair_keeps_its_other_term(labels, n_synthetic):
    x = 0.2 * good_batch()[0]  # close enough for the push term to be active too
    x.requires_grad_(True)
    value = contrastive_loss(x, labels, n_synthetic=n_synthetic)
    value.backward()
    torch.testing.assert_close(value, oracles.contrastive_loss_loops(x, labels, n_synthetic=n_synthetic))
    assert value > 0 and bool(torch.isfinite(x.grad).all())


@pytest.mark.parametrize("n_synthetic", [0, 1, 3])
def test_npair_with_a_single_pair_gives_a_zero_with_gradient(n_synthetic):
    """One class twice: no negative, so only the (here zero) L2 penalty remains."""
    x, _ = good_batch()
    assert_zero_with_gradient(npair_loss, x[:2], torch.tensor([4, 4]), n_synthetic=n_synthetic)


@pytest.mark.parametrize("entry", [name for name in LOSSES if name != "npair"])
def test_a_single_sample_gives_a_zero_with_gradient(entry):
    fn, kw = LOSSES[entry]
    x, _ = good_batch()
    assert_zero_with_gradient(fn, x[:1], torch.tensor([3]), **kw)


def test_no_semihard_triplet_gives_a_zero_with_gradient():
    """Well-separated classes: every negative is beyond the margin, none is semi-hard."""
    x = torch.tensor([[0.0, 0.0], [0.1, 0.0], [5.0, 0.0], [5.1, 0.0]])
    assert_zero_with_gradient(triplet_loss, x, torch.tensor([0, 0, 1, 1]), mining="semihard", margin=0.2)


# ------------------------------------------------------------------------------ flags

NOT_FLAGS = ["no", "yes", "", 0, 1, 1.0, None, torch.tensor(True), [True]]


@pytest.mark.parametrize("value", NOT_FLAGS, ids=repr)
@pytest.mark.parametrize("entry", LOSSES)
def test_normalize_synthetic_must_be_a_boolean(entry, value):
    """``"no"`` is truthy: a flag that is not a boolean is refused, never interpreted."""
    fn, kw = LOSSES[entry]
    with pytest.raises(TypeError, match="normalize_synthetic must be True or False"):
        fn(*good_batch(), n_synthetic=1, normalize_synthetic=value, **kw)


@pytest.mark.parametrize("value", NOT_FLAGS, ids=repr)
def test_other_flags_must_be_booleans(value):
    x, y = good_batch()
    with pytest.raises(TypeError, match="squared must be True or False"):
        triplet_loss(x, y, squared=value)
    with pytest.raises(TypeError, match="squared must be True or False"):
        pairwise_distances(x, squared=value)
    with pytest.raises(TypeError, match="normalize_synthetic must be True or False"):
        expand(x, y, n_synthetic=1, normalize_synthetic=value)


def test_numpy_booleans_are_flags():
    x, y = good_batch()
    torch.testing.assert_close(triplet_loss(x, y, squared=np.bool_(True)), triplet_loss(x, y, squared=True))
    torch.testing.assert_close(
        contrastive_loss(x, y, n_synthetic=1, normalize_synthetic=np.bool_(False)),
        contrastive_loss(x, y, n_synthetic=1, normalize_synthetic=False),
    )


# ---------------------------------------------------------- dtypes, devices, layouts

@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_is_refused_with_the_fix_outside_the_losses(dtype):
    """float16 cannot hold the 1e-12 clips and overflows at 65504: expand refuses it, naming `.float()`
    (the losses compute it in float32: tests/test_mixed_precision.py)."""
    x, y = good_batch()
    with pytest.raises(TypeError, match=r"embeddings has dtype torch\.(b?float16).*embeddings\.float\(\)"):
        expand(x.to(dtype), y, n_synthetic=1)


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_meta_tensors_are_refused(entry):
    fn, kw = ENTRY_POINTS[entry]
    x, y = good_batch()
    with pytest.raises(ValueError, match="embeddings is a meta tensor"):
        fn(x.to("meta"), y, **kw)
    with pytest.raises(ValueError, match="labels is a meta tensor"):
        fn(x, y.to("meta"), **kw)


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_sparse_tensors_are_refused(entry):
    fn, kw = ENTRY_POINTS[entry]
    x, y = good_batch()
    with pytest.raises(TypeError, match="embeddings must be a dense"):
        fn(x.to_sparse(), y, **kw)


@pytest.mark.parametrize("entry", LOSSES)
def test_strided_views_give_the_contiguous_result(entry):
    """Non-contiguous (transposed, strided) and stride-0 (expanded) inputs are fine as they are."""
    fn, kw = LOSSES[entry]
    x, y = good_batch()
    transposed = x.T.contiguous().T
    sliced = torch.stack([x, -x], dim=2)[:, :, 0]  # every other element of a (6, 8) buffer
    assert not transposed.is_contiguous() and not sliced.is_contiguous()
    for view in (transposed, sliced):
        torch.testing.assert_close(fn(view, y, n_synthetic=1, **kw), fn(x, y, n_synthetic=1, **kw))
    repeated = x[:1].expand(6, 4)  # every row the same point (stride 0)
    value = fn(repeated, y, n_synthetic=1, **kw)
    torch.testing.assert_close(value, fn(repeated.contiguous(), y, n_synthetic=1, **kw))
    assert bool(torch.isfinite(value))


# ------------------------------------------------------------ magnitudes and limits

@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_rows_too_large_for_the_dtype_are_refused(entry, dtype):
    """float32 x 1e20 overflows the Gram matrix: refused, naming the norm and the limit."""
    fn, kw = ENTRY_POINTS[entry]
    x, y = good_batch()
    scale = 1e20 if dtype == torch.float32 else 1e200
    with pytest.raises(ValueError, match=r"embeddings has a row of norm .* above the limit"):
        fn(x.to(dtype) * scale, y, **kw)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("entry", LOSSES)
def test_rows_at_the_limit_give_finite_values_and_gradients(entry, dtype):
    """Just below the norm limit, with EE and the largest hyperparameters, nothing overflows."""
    fn, kw = LOSSES[entry]
    x, y = good_batch()
    x = x.to(dtype)
    x = (x / x.norm(dim=1, keepdim=True) * 0.999 * norm_limit(dtype)).requires_grad_(True)
    value = fn(x, y, n_synthetic=2, **kw, **LARGEST_HYPERPARAMETERS[fn])
    value.backward()
    assert bool(torch.isfinite(value)) and bool(torch.isfinite(x.grad).all())


LIMIT = HYPERPARAMETER_LIMIT
LARGEST_HYPERPARAMETERS = {
    contrastive_loss: {"margin": LIMIT},
    triplet_loss: {"margin": LIMIT},
    lifted_structure_loss: {"margin": LIMIT},
    npair_loss: {"l2_reg": LIMIT},
    multi_similarity_loss: {"alpha": LIMIT, "beta": LIMIT, "base": -LIMIT, "epsilon": LIMIT},
}
SMALLEST_HYPERPARAMETERS = {multi_similarity_loss: {"alpha": 1 / LIMIT, "beta": 1 / LIMIT, "base": LIMIT}}


@pytest.mark.parametrize("extremes", [LARGEST_HYPERPARAMETERS, SMALLEST_HYPERPARAMETERS])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("entry", LOSSES)
def test_hyperparameters_at_their_limits_give_finite_values_and_gradients(entry, dtype, extremes):
    fn, kw = LOSSES[entry]
    x, y = good_batch()
    x = x.to(dtype).requires_grad_(True)
    value = fn(x, y, n_synthetic=1, **kw, **extremes.get(fn, {}))
    value.backward()
    assert bool(torch.isfinite(value)) and bool(torch.isfinite(x.grad).all())


OUT_OF_RANGE = [
    (contrastive_loss, "margin", 1.01e12), (triplet_loss, "margin", float("-inf")),
    (lifted_structure_loss, "margin", float("inf")), (lifted_structure_loss, "margin", float("nan")),
    (npair_loss, "l2_reg", float("inf")), (multi_similarity_loss, "alpha", 1e-13),
    (multi_similarity_loss, "alpha", float("inf")), (multi_similarity_loss, "beta", 5e-324),
    (multi_similarity_loss, "base", float("inf")), (multi_similarity_loss, "base", -2e12),
    (multi_similarity_loss, "epsilon", float("inf")),
]


@pytest.mark.parametrize(("fn", "name", "value"), OUT_OF_RANGE, ids=[f"{f.__name__}-{n}={v}" for f, n, v in OUT_OF_RANGE])
def test_hyperparameters_beyond_their_limits_are_refused(fn, name, value):
    """MS with base = inf gave an Inf loss and a NaN gradient; every hyperparameter has a finite range."""
    with pytest.raises(ValueError, match=rf"{name} must be in \[-?1e\+12|{name} must be in \[1e-12, 1e\+12\]|{name} must be in \[0, 1e\+12\]"):
        fn(*good_batch(), **{name: value})


@pytest.mark.parametrize("value", [np.float32(0.3), np.float64(0.3), np.int64(1), 1])
def test_numpy_and_integer_hyperparameters_are_numbers(value):
    x, y = good_batch()
    torch.testing.assert_close(triplet_loss(x, y, margin=value), triplet_loss(x, y, margin=float(value)))


# -------------------------------------------------------------------------- memory

ON_LINUX = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc and ru_maxrss in KiB")


@ON_LINUX
@pytest.mark.parametrize("entry", LOSSES)
def test_a_huge_n_synthetic_is_refused_before_allocating(entry):
    """n = 10**6 on 8 samples once died in the allocator after seconds and kept 200 MB per call."""
    fn, kw = LOSSES[entry]
    x, y = good_batch()
    before = _resident_bytes()
    for _ in range(3):
        start = time.process_time()
        with pytest.raises(ValueError, match=r"n_synthetic=1000000 .* would need about .* more than the limit of"):
            fn(x, y, n_synthetic=10**6, **kw)
        assert time.process_time() - start < 1.0  # CPU time, with a wide margin (it is ~1 ms)
    assert _resident_bytes() - before < 16 * 2**20


def test_a_huge_batch_is_refused_before_allocating():
    """B = 2**20 rows of one dimension: a (B, B) matrix would be 4 TiB."""
    x = torch.zeros(2**20, 1)
    with pytest.raises(ValueError, match=r"a batch of 1048576 embeddings would need about 40 TiB"):
        contrastive_loss(x, torch.zeros(2**20, dtype=torch.long))
    with pytest.raises(ValueError, match="would need about"):
        pairwise_distances(x)


def test_the_memory_limit_can_be_set_and_restored():
    x, y = good_batch()
    try:
        set_memory_limit(1000)
        with pytest.raises(ValueError, match="n_synthetic=2 with a batch of 6 .* more than the limit of 1000 bytes"):
            triplet_loss(x, y, n_synthetic=2)
    finally:
        set_memory_limit(None)
    assert bool(torch.isfinite(triplet_loss(x, y, n_synthetic=2)))
    with pytest.raises(ValueError, match="n_bytes must be >= 1"):
        set_memory_limit(0)


PEAK_SCRIPT = """
import torch
from eelib.data import random_batch
from eelib.losses import {loss}

def status(field):
    with open("/proc/self/status") as lines:
        return next(int(line.split()[1]) * 1024 for line in lines if line.startswith(field))

x, y = random_batch([2] * 4, 16, dtype=torch.float32)
x.requires_grad_(True)
{loss}(x, y, n_synthetic=300).backward()  # warm-up: allocator, thread pool, the kernels' code pages
with open("/proc/self/clear_refs", "w") as clear:
    clear.write("5")  # resets the peak resident size (VmHWM) to the current one
before = status("VmRSS:")
{loss}(x, y, n_synthetic=600).backward()
print(status("VmHWM:") - before)
"""


@ON_LINUX
@pytest.mark.parametrize("loss", ["triplet_loss", "multi_similarity_loss"])
def test_the_memory_estimate_covers_what_is_allocated(loss):
    """The bound must not be below the measured peak (else refusing comes too late).

    Measured in a fresh process, whose peak resident memory is not yet raised by other tests.
    """
    result = subprocess.run([sys.executable, "-c", PEAK_SCRIPT.format(loss=loss)], capture_output=True,
                            text=True, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    grown = int(result.stdout.split()[-1])
    estimate = expansion_bytes(8, 600, itemsize=4)
    assert grown <= estimate, (grown, estimate)


def test_the_memory_guard_reads_no_labels_and_bounds_a_large_batch():
    """One bound on sizes alone: a batch the losses handle passes, four times larger is refused."""
    x = torch.zeros(4096, 1)
    y = torch.arange(4096) // 2
    assert expansion_bytes(4096, 2, itemsize=4) <= 4 * 2**30
    assert expansion_bytes(16384, 2, itemsize=4) > 4 * 2**30
    with pytest.raises(ValueError, match=r"n_synthetic=2 with a batch of 16384 \(at most 49152 expanded rows\)"):
        triplet_loss(torch.zeros(16384, 1), torch.arange(16384) // 2, n_synthetic=2)
    del x, y


def _resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
