"""Timing helpers for the experiments and the benchmarks."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from eelib._validation import validate_count, validate_positive_int


def median_ms(fn: Callable[[], object], *, repeats: int = 200, warmup: int = 10) -> float:
    """Median wall time of ``fn()`` in milliseconds, after ``warmup`` untimed calls.

    The median, not the mean, so that an interruption by another process on a shared
    machine does not move the figure.
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    repeats = validate_positive_int("repeats", repeats)
    warmup = validate_count("warmup", warmup, minimum=0)
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


__all__ = ["median_ms"]
