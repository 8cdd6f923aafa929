"""Notebook 04's self-check: the N-pair loss."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from eelib.course.checks._core import EMBEDDINGS, NUMBER, Symptom, gives, loss_cases, run_cases
from eelib.losses import npair_loss
from eelib.losses.npair import npair_anchor_positive


def _npair_variant(x: Tensor, y: Tensor, *, distances: bool = False, normalise: bool = False,
                   anchor_rows: bool = False, swapped: bool = False) -> Tensor:
    """N-pair (Sohn 2016, Eq. 6) with one typical mistake switched on."""
    anchors, positives = npair_anchor_positive(y)
    if swapped:
        anchors, positives = positives, anchors
    x = F.normalize(x, dim=1) if normalise else x
    other = x[anchors] if anchor_rows else x[positives]
    logits = -torch.cdist(x[anchors], other) if distances else x[anchors] @ other.T
    return F.cross_entropy(logits, torch.arange(len(anchors)))


def check_npair(fn: Callable[..., Any]) -> bool:
    """Check ``fn(embeddings, labels)`` (every class exactly twice) against :func:`eelib.losses.npair_loss`."""
    def reference(x: Tensor, y: Tensor) -> Tensor:
        return npair_loss(x, y)

    def variant(**flags: bool) -> Symptom:
        return gives(lambda x, y: _npair_variant(x, y, **flags), NUMBER)

    mistakes = {
        "the logits are inner products f_iᵀf_j⁺, not negative distances.": variant(distances=True),
        "do not normalise: the N-pair loss works on the raw inner products.": variant(normalise=True),
        "the logits pair anchors with positives, f_iᵀf_j⁺, not anchors with anchors.": variant(anchor_rows=True),
        "the anchor of a class is its *first* occurrence in batch order, the positive its second.": variant(swapped=True),
        "you summed over the anchors; average them.": gives(lambda x, y: reference(x, y) * (len(y) // 2), NUMBER),
    }
    return run_cases("check_npair", fn, reference, loss_cases([{}], pairs_only=True), NUMBER, mistakes,
                      "build the N × N matrix of anchor·positive inner products and apply the cross-entropy "
                      "with the diagonal as the target; the batch may be shuffled.", differentiable=EMBEDDINGS)
