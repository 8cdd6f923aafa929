"""Notebook 07's self-check: counting pairs and triplets."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from eelib.course.checks._core import COUNTS, Case, Symptom, gives, run_cases


def reference_pair_counts(n_classes: int, per_class: int) -> dict[str, int]:
    """Unordered positive and negative pairs, and triplets (ordered a ≠ p), in ``n_classes × per_class``."""
    n = n_classes * per_class
    positive = n_classes * per_class * (per_class - 1) // 2
    negative = n * (n - 1) // 2 - positive
    triplets = n * (per_class - 1) * (n - per_class)
    return {"positive_pairs": positive, "negative_pairs": negative, "triplets": triplets}


def check_pair_counts(fn: Callable[[int, int], Mapping[str, int]]) -> bool:
    """Check ``fn(n_classes, per_class)`` returns the numbers of pairs and triplets of a batch."""
    def changed(**values: Callable[[int, int], int]) -> Symptom:
        return gives(lambda c, k: {**reference_pair_counts(c, k), **{key: f(c, k) for key, f in values.items()}},
                      COUNTS)

    mistakes = {
        "(a, p) is ordered: (a, p, n) and (p, a, n) are two different triplets.":
            changed(triplets=lambda c, k: reference_pair_counts(c, k)["triplets"] // 2),
        "a triplet needs a ≠ p: each anchor has K − 1 positives, not K.":
            changed(triplets=lambda c, k: c * k * k * (c * k - k)),
        "count unordered pairs: {a, b} and {b, a} are one positive pair, so count each once.":
            changed(positive_pairs=lambda c, k: c * k * (k - 1)),
        "count unordered pairs: {a, b} and {b, a} are one negative pair; every pair of the batch is "
        "either positive or negative.":
            changed(negative_pairs=lambda c, k: 2 * reference_pair_counts(c, k)["negative_pairs"]),
    }
    cases = [Case(f"{c} classes × {k} per class", (c, k), {}) for c, k in ((2, 2), (4, 4), (32, 4), (10, 1), (1, 5), (100, 8))]
    return run_cases("check_pair_counts", fn, reference_pair_counts, cases, COUNTS, mistakes,
                      "count per anchor first: how many positives and how many negatives does one sample "
                      "have in a batch of C classes × K? Then ask whether a pair has been counted twice.")
