"""Notebook 02's self-check: the contrastive loss."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from eelib.course.checks._core import EMBEDDINGS, NUMBER, Symptom, gives, loss_cases, run_cases
from eelib.distances import pairwise_distances
from eelib.losses import contrastive_loss
from eelib.pairs import label_masks


def _contrastive_variant(x: Tensor, y: Tensor, margin: float = 1.0, *, square: bool = True,
                         hinge: bool = True, margin_on_squared: bool = False,
                         diagonal: bool = False, per_kind: bool = False) -> Tensor:
    """The contrastive loss with one typical mistake switched on."""
    d = pairwise_distances(x)
    pos, neg = label_masks(y)
    gap = margin - (d**2 if margin_on_squared else d)
    push = torch.relu(gap) if hinge else gap
    pull, push = (0.5 * d**2, 0.5 * push**2) if square else (0.5 * d, 0.5 * push)
    if per_kind:
        return pull[pos].mean() + push[neg].mean()
    terms = torch.where(pos | torch.eye(len(y), dtype=torch.bool), pull, push)
    return terms.mean() if diagonal else terms[torch.ones_like(pos).triu(1)].mean()


def check_contrastive(fn: Callable[..., Any]) -> bool:
    """Check ``fn(embeddings, labels, margin=...)`` against :func:`eelib.losses.contrastive_loss`.

    The reference is Hadsell et al. (2006), Eq. 4, averaged over unordered pairs i < j.
    """
    def reference(x: Tensor, y: Tensor, margin: float) -> Tensor:
        return contrastive_loss(x, y, margin=margin)

    def variant(**flags: bool) -> Symptom:
        return gives(lambda x, y, margin: _contrastive_variant(x, y, margin, **flags), NUMBER)

    mistakes = {
        "your value is twice the reference: did you halve (½D², ½[m − D]₊²)? "
        "Or did you count each pair twice (i, j and j, i) while dividing by the unordered pairs?":
            gives(lambda x, y, margin: 2 * reference(x, y, margin), NUMBER),
        "you used D instead of D²: both terms are squared.": variant(square=False),
        "you forgot the hinge: a negative farther than m contributes 0, [m − D]₊ = max(m − D, 0).": variant(hinge=False),
        "the margin is compared with the distance D, not with D²: [m − D]₊².": variant(margin_on_squared=True),
        "you averaged positives and negatives separately; average over all unordered pairs at once.": variant(per_kind=True),
        "you averaged over the whole B × B matrix, diagonal included; average over the pairs i < j.": variant(diagonal=True),
    }
    cases = loss_cases([{"margin": 1.0}, {"margin": 0.5}])
    return run_cases("check_contrastive", fn, reference, cases, NUMBER, mistakes,
                      "compare one pair by hand: ½D² for equal labels, ½ max(0, m − D)² otherwise.",
                      differentiable=EMBEDDINGS)
