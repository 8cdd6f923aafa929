"""Peak memory of tensors allocated by a piece of PyTorch code, on any device.

On a GPU, ``torch.cuda.max_memory_allocated`` answers "how much memory did this training
step need?"; on a CPU PyTorch keeps no such counter, and the process's resident set is
too coarse (the allocator returns and reuses pages). :class:`TensorMemoryPeak` counts
exactly instead: it sees every tensor an operator creates (a
:class:`~torch.utils._python_dispatch.TorchDispatchMode`, which also sees the backward
pass), adds the size of its storage while that storage is alive, and records the
largest total. Tensors that existed before (parameters, the input batch) are not
counted, so the figure is the memory the code itself needed on top of them.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten


class TensorMemoryPeak(TorchDispatchMode):
    """Within ``with TensorMemoryPeak() as tracker:``, the peak bytes of live new tensor storages.

    Attributes
    ----------
    peak_bytes : int
        The largest total, over the block, of the storages created in it and still alive.
    live_bytes : int
        The total still alive now.

    Examples
    --------
    >>> x = torch.ones(1000, 250)  # 1 MB, allocated before: not counted
    >>> with TensorMemoryPeak() as tracker:
    ...     a = x * 2          # +1 MB
    ...     b = a + 1          # +1 MB: 2 MB live
    ...     del a
    ...     c = b.sum()        # +4 bytes
    >>> tracker.peak_bytes, tracker.live_bytes
    (2000000, 1000004)
    """

    def __init__(self) -> None:
        super().__init__()
        self._sizes: dict[int, int] = {}
        self.live_bytes = 0
        self.peak_bytes = 0

    def _release(self, key: int) -> None:
        self.live_bytes -= self._sizes.pop(key)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for value in tree_flatten(out)[0]:
            if isinstance(value, torch.Tensor):
                storage = value.untyped_storage()
                key = id(storage)
                if key not in self._sizes:
                    self._sizes[key] = storage.nbytes()
                    self.live_bytes += storage.nbytes()
                    weakref.finalize(storage, self._release, key)
        self.peak_bytes = max(self.peak_bytes, self.live_bytes)
        return out


def peak_bytes(fn: Callable[[], object]) -> int:
    """Peak bytes of the tensors ``fn()`` allocates (see :class:`TensorMemoryPeak`)."""
    with TensorMemoryPeak() as tracker:
        fn()
    return tracker.peak_bytes


__all__ = ["TensorMemoryPeak", "peak_bytes"]
