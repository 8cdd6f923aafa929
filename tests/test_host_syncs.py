"""A loss step reads nothing back to the host: no call that makes a GPU stop and report.

Counted with a ``TorchFunctionMode`` (every torch call made while it is active passes
through it, on any device): value reads (``.item()``, ``.tolist()``, ``float()``,
``bool()``, ``int()`` of a tensor, ``torch.equal``), data-dependent shapes (``nonzero``,
``unique``, boolean-mask indexing, ``masked_select``, ``bincount``, ``repeat_interleave``
without ``output_size``) and copies to the host (``.cpu()``, ``.numpy()``). On the CPU they
cost nothing, but the same calls on a GPU each wait for the queue to drain.

A forward and backward pass of every loss makes none, with and without EE, validation
included: value checks run on the device (:func:`eelib._validation.check_on_device`) and
EE's segment layout has a shape that follows from the batch size alone
(:func:`eelib.pairs.segment_layout`), built on the device from the labels.
"""

from __future__ import annotations

from collections import Counter

import pytest
import torch
from torch.overrides import TorchFunctionMode

from eelib.data import random_batch
from eelib.losses import LOSS_MODULES, LOSSES

pytestmark = pytest.mark.unit

READS = {"item", "tolist", "__bool__", "__float__", "__int__", "__index__", "__complex__", "equal", "allclose",
         "is_nonzero", "cpu", "numpy", "nonzero", "argwhere", "unique", "unique_consecutive", "masked_select",
         "bincount"}


class HostSyncCounter(TorchFunctionMode):
    """Counts, by name, the torch calls made inside ``with`` that read values back to the host."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: Counter[str] = Counter()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        if name in READS:
            self.calls[name] += 1
        elif name in ("__getitem__", "__setitem__") and _has_boolean_index(args[1]):
            self.calls["boolean-mask indexing"] += 1
        elif name == "repeat_interleave" and "output_size" not in kwargs and isinstance(
                args[1] if len(args) > 1 else kwargs.get("repeats"), torch.Tensor):
            self.calls["repeat_interleave"] += 1
        return func(*args, **kwargs)


def _has_boolean_index(index: object) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return any(isinstance(part, torch.Tensor) and part.dtype == torch.bool for part in parts)


def test_the_counter_sees_every_kind_of_read() -> None:
    """The counter is not blind: each kind of read it looks for is counted."""
    x = torch.randn(4, 3)
    reads = [
        lambda: x.sum().item(), lambda: x.tolist(), lambda: bool(x.sum() > 0), lambda: float(x.sum()),
        lambda: int(x.argmax()), lambda: torch.nonzero(x > 0), lambda: torch.unique(x), lambda: x[x > 0],
        lambda: x.numpy(), lambda: torch.bincount(torch.tensor([1, 2])), lambda: torch.equal(x, x),
        lambda: torch.arange(2).repeat_interleave(torch.tensor([1, 2])),
    ]
    for read in reads:
        with HostSyncCounter() as counter:
            read()
        assert sum(counter.calls.values()) >= 1, read
    with HostSyncCounter() as counter:
        (x @ x.T).relu().amax(1).sum()
    assert not counter.calls


CASES = {
    **{name: (name, {}) for name in LOSSES if name != "triplet"},
    **{f"triplet-{mining}": ("triplet", {"mining": mining}) for mining in ("all", "semihard", "hardest")},
}


def _step_reads(loss, x, y) -> Counter[str]:
    x = x.clone().requires_grad_(True)
    with HostSyncCounter() as counter:
        loss(x, y).backward()
    return counter.calls


def _batch(name: str, layout: str) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch the loss ``name`` accepts (N-pair: pairs), classes in order or shuffled."""
    sizes = [2] * 8 if name == "npair" else [4, 3, 4, 2, 5]
    return random_batch(sizes, 16, seed=0, dtype=torch.float32, shuffle=layout == "shuffled")


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("layout", ["official", "shuffled"])
@pytest.mark.parametrize("n_synthetic", [0, 2])
def test_a_loss_step_reads_nothing(case, layout, n_synthetic) -> None:
    name, settings = CASES[case]
    x, y = _batch(name, layout)
    assert _step_reads(LOSS_MODULES[name](n_synthetic=n_synthetic, **settings), x, y) == Counter()
    assert _step_reads(lambda e, labels: LOSSES[name](e, labels, n_synthetic=n_synthetic, **settings), x, y) == Counter()


def test_a_refused_batch_is_still_refused_with_its_message() -> None:
    """The device-side checks that replaced host reads still raise the named error on the CPU."""
    x, _ = _batch("contrastive", "official")
    y = torch.arange(x.shape[0])  # every class a single instance
    with pytest.raises(ValueError, match=r"labels: class\(es\) \[0, 1, 2"):
        LOSS_MODULES["contrastive"](n_synthetic=2)(x, y)
