"""Properties every loss must have, on constructed and on random (hypothesis) batches.

* permutation invariance of the base losses (n_synthetic = 0);
* zero loss when every margin is met (tight, well-separated clusters);
* EE never makes contrastive, all/hardest triplet, N-pair, lifted or MS easier
  (CONTRIBUTING.md: x_i ∈ E(i), so mined negatives are never farther than the original
  ones), while it can make semi-hard triplet easier (a batch where it does is shown);
* hundreds of random batches, including degenerate ones (zeros, duplicates, antipodal
  pairs, one-hot and collinear points), in every floating dtype, at scales from 1e-40 to
  1e40 and with hyperparameters at the ends of their ranges: finite values and finite
  gradients, or a clear refusal (half precision, rows too large for the dtype).
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor

from eelib._validation import HYPERPARAMETER_LIMIT, norm_limit
from eelib.data import random_batch
from eelib.losses import (
    contrastive_loss,
    lifted_structure_loss,
    multi_similarity_loss,
    npair_loss,
    triplet_loss,
)


pytestmark = [pytest.mark.unit, pytest.mark.usefixtures("one_torch_thread")]


# Every loss except N-pair, which needs batches made of pairs (handled separately).
PAIR_LOSSES = {
    "contrastive": (contrastive_loss, {"margin": 1.0}),
    "triplet-all": (triplet_loss, {"margin": 0.3, "mining": "all"}),
    "triplet-all-squared": (triplet_loss, {"margin": 0.3, "mining": "all", "squared": True}),
    "triplet-semihard": (triplet_loss, {"margin": 0.3, "mining": "semihard"}),
    "triplet-hardest": (triplet_loss, {"margin": 0.3, "mining": "hardest"}),
    "lifted": (lifted_structure_loss, {"margin": 1.0}),
    "ms": (multi_similarity_loss, {"alpha": 2.0, "beta": 50.0, "base": 0.5, "epsilon": 0.1}),
}
NPAIR = (npair_loss, {"l2_reg": 0.002})


def shuffled_batch(sizes: list[int], dim: int, seed: int) -> tuple[Tensor, Tensor]:
    """Shuffled float64 embeddings, norms 0.5..1.5, ``sizes[c]`` instances of class c."""
    return random_batch(sizes, dim, seed=seed, shuffle=True, norm_range=(0.5, 1.5))


def pair_batch(classes: int, dim: int, seed: int) -> tuple[Tensor, Tensor]:
    """An N-pair batch: every class exactly twice, classes interleaved."""
    x, _ = shuffled_batch([2] * classes, dim, seed)
    labels = torch.arange(classes).repeat(2)
    return x, labels


# ------------------------------------------------------------ permutation invariance


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("case", PAIR_LOSSES)
def test_base_losses_are_permutation_invariant(case, seed):
    loss, kw = PAIR_LOSSES[case]
    x, y = shuffled_batch([3, 4, 2, 5], 8, seed)
    perm = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(100 + seed))
    value = loss(x, y, **kw)
    assert value > 0
    torch.testing.assert_close(loss(x[perm], y[perm], **kw), value, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_npair_is_invariant_to_permutations_that_keep_anchor_before_positive(seed):
    """Sohn's loss is asymmetric in (anchor, positive): the first of a class is the anchor.

    Any permutation that keeps each class's first instance first leaves it unchanged;
    here the pairs are reordered and anchors and positives are interleaved differently.
    """
    loss, kw = NPAIR
    x, y = pair_batch(6, 8, seed)
    gen = torch.Generator().manual_seed(100 + seed)
    class_order = torch.randperm(6, generator=gen)
    anchors, positives = class_order, class_order[torch.randperm(6, generator=gen)] + 6
    perm = torch.cat([anchors, positives])
    torch.testing.assert_close(loss(x[perm], y[perm], **kw), loss(x, y, **kw), rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------- zero when margins are met


def separated_clusters(noise: float, sizes: list[int]) -> tuple[Tensor, Tensor]:
    """Classes at orthogonal centres 10 e_c, instances within ``noise`` of their centre."""
    gen = torch.Generator().manual_seed(0)
    labels = torch.cat([torch.full((size,), c) for c, size in enumerate(sizes)])
    centres = 10.0 * torch.eye(len(sizes), dtype=torch.float64)[labels]
    return centres + noise * torch.randn(centres.shape, generator=gen, dtype=torch.float64), labels


@pytest.mark.parametrize("n_synthetic", [0, 2])
@pytest.mark.parametrize("case", PAIR_LOSSES)
def test_zero_loss_when_every_margin_is_met(case, n_synthetic):
    """Contrastive also pulls positives to distance 0, so its clusters are single points."""
    loss, kw = PAIR_LOSSES[case]
    x, y = separated_clusters(0.0 if case == "contrastive" else 1e-3, [3, 4, 2])
    x.requires_grad_(True)
    value = loss(x, y, n_synthetic=n_synthetic, normalize_synthetic=False, **kw)
    value.backward()
    assert value == 0
    assert float(x.grad.abs().max()) < 1e-12  # zero up to the Gram route's round-off
    # guard: the same batch with the classes merged into overlapping clusters is not free
    assert loss(x.detach() * 1e-3, y, **kw) > 0


@pytest.mark.parametrize("n_synthetic", [0, 2])
def test_npair_vanishes_on_separated_clusters(n_synthetic):
    """N-pair has no margin: its softmax loss only tends to 0 as the classes separate."""
    x, y = separated_clusters(1e-3, [2, 2, 2, 2])
    assert npair_loss(x, y, n_synthetic=n_synthetic, normalize_synthetic=False) < 1e-12
    assert npair_loss(x * 0.1, y) > 1e-12


# ------------------------------------------- EE never makes the monotone losses easier

MONOTONE = {name: PAIR_LOSSES[name] for name in PAIR_LOSSES if name != "triplet-semihard"}
MONOTONE["npair"] = NPAIR
# Semi-hard triplet is left out on purpose: EE changes *which* triplets are semi-hard
# (some leave the band through its lower edge), so its mean can go either way.


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    n_synthetic=st.integers(1, 4),
    normalize=st.booleans(),
    case=st.sampled_from(sorted(MONOTONE)),
)
def test_ee_never_makes_a_loss_easier(seed, n_synthetic, normalize, case):
    loss, kw = MONOTONE[case]
    if case == "npair":
        x, y = pair_batch(5, 4, seed)
    else:
        x, y = shuffled_batch([3, 2, 4], 4, seed)
    base = loss(x, y, **kw)
    expanded = loss(x, y, n_synthetic=n_synthetic, normalize_synthetic=normalize, **kw)
    assert expanded >= base - 1e-12 * abs(float(base))


def test_ee_can_make_the_semihard_triplet_loss_easier():
    """The exception to the rule above: negatives that EE makes hard leave the semi-hard band."""
    lowered = 0
    for seed in range(100):
        x, y = random_batch([4] * 8, 8, seed=seed)
        base = triplet_loss(x, y, mining="semihard")
        expanded = triplet_loss(x, y, mining="semihard", n_synthetic=2)
        lowered += bool(expanded < base - 1e-9)
    assert lowered > 0, "no batch found where EE lowers the semi-hard triplet loss"


# ------------------------------------------------- hypothesis: finite values and grads
#
# Every loss, on random batches of every dtype, at every scale and with degenerate layouts,
# either returns a finite value with a finite gradient or refuses the batch clearly:
# half precision with a TypeError naming embeddings, rows beyond the dtype's norm limit
# (or overflowing to Inf) with a ValueError naming embeddings. Hyperparameters are drawn
# up to their limits too. The unit tier runs EXAMPLES examples per test;
# tests/test_losses_properties_slow.py ten times as many.

KINDS = ["gaussian", "zeros", "duplicates", "antipodal", "integers", "tiny", "one_hot", "collinear"]
DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16]
EXAMPLES = 60

#: Hyperparameters drawn per loss: typical values and the ends of their ranges.
EDGES = [0.0, 1e-12, 0.2, 1.0, 1e3, HYPERPARAMETER_LIMIT]
POSITIVE_EDGES = [1.0 / HYPERPARAMETER_LIMIT, 2.0, 50.0, HYPERPARAMETER_LIMIT]
HYPERPARAMETERS = {
    "contrastive": {"margin": EDGES},
    "triplet-all": {"margin": EDGES},
    "triplet-all-squared": {"margin": EDGES},
    "triplet-semihard": {"margin": EDGES},
    "triplet-hardest": {"margin": EDGES},
    "lifted": {"margin": EDGES},
    "ms": {"alpha": POSITIVE_EDGES, "beta": POSITIVE_EDGES, "epsilon": EDGES,
           "base": [-HYPERPARAMETER_LIMIT, -1.0, 0.5, HYPERPARAMETER_LIMIT]},
    "npair": {"l2_reg": EDGES},
}


@st.composite
def batches(draw, *, pairs_only: bool, dtypes: list[torch.dtype] | None = None):
    """A random batch (float32 by default), its labels, n_synthetic and normalize_synthetic."""
    n_synthetic = draw(st.integers(0, 4))
    if pairs_only:
        sizes = [2] * draw(st.integers(1, 8))
    else:
        smallest = 2 if n_synthetic else 1
        sizes = draw(st.lists(st.integers(smallest, 5), min_size=1, max_size=6))
    dim = draw(st.sampled_from([1, 2, 3, 8, 32]))
    dtype = draw(st.sampled_from(dtypes or [torch.float32]))
    scale = 10.0 ** draw(st.floats(-40, 40) if dtypes else st.floats(-3, 3))
    kind = draw(st.sampled_from(KINDS))
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    labels = torch.cat([torch.full((size,), c) for c, size in enumerate(sizes)])
    if not pairs_only and draw(st.booleans()):
        labels = labels[torch.randperm(labels.shape[0], generator=gen)]
    batch = labels.shape[0]
    x = torch.randn(batch, dim, generator=gen, dtype=torch.float64)
    if kind == "zeros":
        x = torch.zeros(batch, dim, dtype=torch.float64)
    elif kind == "duplicates":
        x = x[:1].repeat(batch, 1)
    elif kind == "antipodal":
        x[1::2] = -x[: batch // 2 * 2 : 2]
    elif kind == "integers":
        x = x.round()
    elif kind == "tiny":
        x = x * 1e-6
    elif kind == "one_hot":  # orthogonal or identical unit vectors
        x = torch.eye(dim, dtype=torch.float64)[torch.randint(dim, (batch,), generator=gen)]
    elif kind == "collinear":  # every point on one line through the origin
        x = x[:1] * torch.randn(batch, 1, generator=gen, dtype=torch.float64)
    return (scale * x).to(dtype), labels, n_synthetic, draw(st.booleans())


def assert_finite_or_refused(loss, kw, batch) -> None:
    """A finite value and gradient, or the documented refusal of the batch.

    float16 and bfloat16 are computed in float32: the value is the float32 loss of the
    rounded inputs, and the gradient is the float32 gradient rounded to the input's dtype
    (which overflows only where that gradient exceeds the dtype's range, as any half-precision
    gradient does: mixed-precision training scales the loss for this).
    """
    x, y, n_synthetic, normalize = batch
    x = x.clone().requires_grad_(True)
    half = x.dtype in (torch.float16, torch.bfloat16)
    largest = float(x.detach().double().norm(dim=1).max())
    if not largest <= norm_limit(torch.float32 if half else x.dtype):  # NaN (inf - inf) counts as too large
        with pytest.raises(ValueError, match="embeddings (has a row of norm|contains NaN or Inf)"):
            loss(x, y, n_synthetic=n_synthetic, normalize_synthetic=normalize, **kw)
        return
    value = loss(x, y, n_synthetic=n_synthetic, normalize_synthetic=normalize, **kw)
    value.backward()
    assert value.dim() == 0
    assert bool(torch.isfinite(value)), f"loss is {value}"
    if half:
        single = x.detach().float().requires_grad_(True)
        reference = loss(single, y, n_synthetic=n_synthetic, normalize_synthetic=normalize, **kw)
        reference.backward()
        assert value.dtype == torch.float32 and torch.equal(value, reference)
        assert x.grad.dtype == x.dtype and torch.equal(x.grad, single.grad.to(x.dtype))
        assert bool(torch.isfinite(single.grad).all()), "gradient is not finite"
        return
    assert bool(torch.isfinite(x.grad).all()), "gradient is not finite"


@pytest.mark.parametrize("case", PAIR_LOSSES)
@settings(max_examples=EXAMPLES, deadline=None)
@given(batch=batches(pairs_only=False))
def test_random_batches_give_finite_values_and_gradients(case, batch):
    loss, kw = PAIR_LOSSES[case]
    assert_finite_or_refused(loss, kw, batch)


@settings(max_examples=2 * EXAMPLES, deadline=None)
@given(batch=batches(pairs_only=True))
def test_random_npair_batches_give_finite_values_and_gradients(batch):
    loss, kw = NPAIR
    assert_finite_or_refused(loss, kw, batch)


@st.composite
def hyperparameters(draw, case: str) -> dict:
    return {name: draw(st.sampled_from(values)) for name, values in HYPERPARAMETERS[case].items()}


def check_drawn_dtype_scale_and_hyperparameters(case: str, data: st.DataObject) -> None:
    """One loss (``case``) on a batch of any dtype and scale, with drawn hyperparameters: finite or refused."""
    loss, kw = NPAIR if case == "npair" else PAIR_LOSSES[case]
    batch = data.draw(batches(pairs_only=case == "npair", dtypes=DTYPES))
    assert_finite_or_refused(loss, {**kw, **data.draw(hyperparameters(case))}, batch)


@pytest.mark.parametrize("case", [*PAIR_LOSSES, "npair"])
@settings(max_examples=EXAMPLES, deadline=None)
@given(data=st.data())
def test_every_dtype_scale_and_hyperparameter_gives_finite_values_or_a_clear_error(case, data):
    """Scales from 1e-40 to 1e40 in float32, float64, float16 and bfloat16, hyperparameters to their limits."""
    check_drawn_dtype_scale_and_hyperparameters(case, data)

