"""Argument types for the experiments' command lines: a bad value is a usage error naming it.

argparse calls a ``type`` on the text of an option; one that raises ``ArgumentTypeError``
ends the command with ``error: argument --epochs: expected an integer >= 1, got '0'``
before anything is loaded or, under torchrun, before any process group is formed.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable


def int_at_least(low: int) -> Callable[[str], int]:
    """An argparse ``type``: an integer >= ``low``, else a usage error saying what was expected."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {value}")
        return value
    parse.__name__ = f"integer >= {low}"
    return parse


def finite_number(minimum: float, *, strict: bool) -> Callable[[str], float]:
    """An argparse ``type``: a finite number >= ``minimum`` (> when ``strict``), else a usage error."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(value) or value < minimum or (strict and value == minimum):
            raise argparse.ArgumentTypeError(f"expected a finite number {'>' if strict else '>='} {minimum:g}, "
                                             f"got {text}")
        return value
    parse.__name__ = "number"
    return parse


__all__ = ["finite_number", "int_at_least"]
