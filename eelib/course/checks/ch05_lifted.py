"""Notebook 05's self-check: the lifted structured loss."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from eelib.course.checks._core import EMBEDDINGS, NUMBER, Symptom, gives, loss_cases, run_cases
from eelib.distances import pairwise_distances
from eelib.losses import lifted_structure_loss
from eelib.pairs import label_masks


def _lifted_variant(x: Tensor, y: Tensor, margin: float = 1.0, *, both_ends: bool = True,
                    hinge: bool = True, square: bool = True) -> Tensor:
    """Lifted structured loss (Oh Song et al. 2016, Eq. 4) with one typical mistake switched on."""
    d = pairwise_distances(x)
    pos, neg = label_masks(y)
    push = (margin - d).masked_fill(~neg, -math.inf).logsumexp(1)
    i, j = torch.nonzero(pos.triu(1), as_tuple=True)
    j_ij = (torch.logaddexp(push[i], push[j]) if both_ends else push[i]) + d[i, j]
    j_ij = torch.relu(j_ij) if hinge else j_ij
    return (j_ij**2 if square else j_ij).sum() / (2 * len(i))


def check_lifted(fn: Callable[..., Any]) -> bool:
    """Check ``fn(embeddings, labels, margin=...)`` against :func:`eelib.losses.lifted_structure_loss`."""
    def reference(x: Tensor, y: Tensor, margin: float) -> Tensor:
        return lifted_structure_loss(x, y, margin=margin)

    def variant(**flags: bool) -> Symptom:
        return gives(lambda x, y, margin: _lifted_variant(x, y, margin, **flags), NUMBER)

    mistakes = {
        "your value is twice the reference: the formula divides by 2|P| with P the unordered positive "
        "pairs; if you loop over ordered pairs (i, j) and (j, i), divide by twice as much.":
            gives(lambda x, y, margin: 2 * reference(x, y, margin), NUMBER),
        "J_ij uses the negatives of both ends: log(Σ_k e^(m − D_ik) + Σ_l e^(m − D_jl)).": variant(both_ends=False),
        "did you forget to square the hinge, [J]₊²?": variant(square=False),
        "you forgot the hinge: a negative J_ij contributes 0, [J]₊ = max(J, 0), before squaring.": variant(hinge=False),
    }
    cases = loss_cases([{"margin": 1.0}, {"margin": 0.5}])
    return run_cases("check_lifted", fn, reference, cases, NUMBER, mistakes,
                      "J_ij = log(Σ_k∈N(i) e^(m−D_ik) + Σ_l∈N(j) e^(m−D_jl)) + D_ij; loss = Σ [J_ij]₊² / (2|P|).",
                      differentiable=EMBEDDINGS)
