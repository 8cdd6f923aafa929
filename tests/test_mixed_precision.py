"""float16 and bfloat16 embeddings: computed in float32 inside the loss, under torch.autocast too.

The loss and its gradient are the float32 ones of the rounded inputs (the gradient cast back
to the input's dtype by autograd); values too large for float32's budget are still refused
with the message of the float32 check, never returned as Inf or NaN.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from eelib.data import random_batch
from eelib.losses import LOSS_MODULES, LOSSES

pytestmark = pytest.mark.unit

CASES = {
    **{name: (name, {}) for name in LOSSES if name != "triplet"},
    **{f"triplet-{mining}": ("triplet", {"mining": mining}) for mining in ("all", "semihard", "hardest")},
}
HALF = [torch.float16, torch.bfloat16]


def _batch(name: str, dtype: torch.dtype = torch.float32):
    sizes = [2] * 6 if name == "npair" else [3, 4, 2, 3]
    return random_batch(sizes, 8, seed=5, dtype=dtype, norm_range=(0.5, 1.5))


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("dtype", HALF, ids=str)
@pytest.mark.parametrize("n_synthetic", [0, 2])
def test_half_embeddings_are_computed_in_float32(case, dtype, n_synthetic) -> None:
    name, settings = CASES[case]
    x, y = _batch(name)
    half = x.to(dtype).requires_grad_(True)
    single = half.detach().float().requires_grad_(True)  # the same rounded values, in float32
    loss = LOSS_MODULES[name](n_synthetic=n_synthetic, **settings)
    value, reference = loss(half, y), loss(single, y)
    value.backward()
    reference.backward()
    assert value.dtype == torch.float32 and torch.equal(value, reference) and bool(torch.isfinite(value))
    assert half.grad.dtype == dtype and torch.equal(half.grad, single.grad.to(dtype))
    assert bool(torch.isfinite(half.grad).all())


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("n_synthetic", [0, 2])
def test_under_cpu_autocast_the_loss_runs_in_float32(case, n_synthetic) -> None:
    """A bfloat16 autocast region: the model's output is bfloat16, the loss float32 and exact
    (equal to the loss of that output computed outside autocast), the parameters' gradients finite."""
    name, settings = CASES[case]
    x, y = _batch(name)
    torch.manual_seed(0)
    model = nn.Linear(8, 6)
    loss = LOSS_MODULES[name](n_synthetic=n_synthetic, **settings)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        embeddings = model(x)
        value = loss(embeddings, y)
    assert embeddings.dtype == torch.bfloat16 and value.dtype == torch.float32
    assert torch.equal(value, loss(embeddings.detach().float(), y))
    value.backward()
    assert all(bool(torch.isfinite(p.grad).all()) and p.grad.dtype == torch.float32 for p in model.parameters())
    assert any(bool((p.grad != 0).any()) for p in model.parameters())


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("dtype", HALF, ids=str)
def test_half_values_beyond_the_budget_are_refused(case, dtype) -> None:
    """Rows whose float32 squared distances would overflow, and Inf or NaN, are refused clearly."""
    name, settings = CASES[case]
    x, y = _batch(name)
    loss = LOSSES[name]
    # 1024 columns of 60000 (float16 holds them): row norm 1.9e6, above float32's limit of 1.3e6
    large = torch.full((x.shape[0], 1024), 60000.0).to(dtype)
    with pytest.raises(ValueError, match="embeddings has a row of norm .* above the limit"):
        loss(large, y, **settings)
    for bad in (float("inf"), float("nan")):
        broken = x.to(dtype).clone()
        broken[1, 2] = bad
        with pytest.raises(ValueError, match="embeddings contains NaN or Inf"):
            loss(broken, y, n_synthetic=1, **settings)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("n_synthetic", [0, 2])
def test_under_cuda_float16_autocast_the_loss_and_gradients_are_finite(case, n_synthetic) -> None:
    name, settings = CASES[case]
    x, y = _batch(name)
    x, y = x.cuda(), y.cuda()
    torch.manual_seed(0)
    model = nn.Linear(8, 6).cuda()
    loss = LOSS_MODULES[name](n_synthetic=n_synthetic, **settings)
    with torch.autocast("cuda", dtype=torch.float16):
        embeddings = model(x)
        value = loss(embeddings, y)
    assert embeddings.dtype == torch.float16 and value.dtype == torch.float32
    torch.testing.assert_close(value, loss(embeddings.detach().float(), y))
    value.backward()
    assert all(bool(torch.isfinite(p.grad).all()) for p in model.parameters())
