"""Notebook 03's self-check: the triplet loss under each mining."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from eelib.course.checks._core import EMBEDDINGS, NUMBER, Symptom, gives, loss_cases, run_cases
from eelib.distances import pairwise_distances
from eelib.losses import triplet_loss
from eelib.pairs import label_masks


def _triplet_hardest_variant(x: Tensor, y: Tensor, margin: float = 0.2, *, hinge: bool = True,
                             all_anchors: bool = False, min_positive: bool = False) -> Tensor:
    """Batch-hard triplet with one typical mistake switched on."""
    d = pairwise_distances(x)
    pos, neg = label_masks(y)
    if min_positive:
        hard_pos = d.masked_fill(~pos, math.inf).amin(1)
    else:
        hard_pos = d.masked_fill(~pos, -math.inf).amax(1)
    hard_neg = d.masked_fill(~neg, math.inf).amin(1)
    valid = pos.any(1) & neg.any(1)
    terms = hard_pos - hard_neg + margin
    terms = torch.relu(terms) if hinge else terms
    if all_anchors:
        return torch.where(valid, terms, torch.zeros_like(terms)).mean()
    return terms[valid].mean()


def _triplet_enumerated_variant(x: Tensor, y: Tensor, margin: float = 0.2, *, semihard: bool = False,
                                strict_margin: bool = False, nonstrict_zero: bool = False,
                                nonzero_only: bool = False, divide_by_all: bool = False) -> Tensor:
    """All / semi-hard triplet over the B × B × B triplets, with one mistake switched on."""
    d = pairwise_distances(x)
    pos, neg = label_masks(y)
    valid = pos[:, :, None] & neg[:, None, :]
    gap = d[:, None, :] - d[:, :, None]  # d(a, n) − d(a, p), indexed [a, p, n]
    terms = torch.relu(margin - gap)
    chosen = valid
    if semihard:
        above = gap >= 0 if nonstrict_zero else gap > 0
        below = gap < margin if strict_margin else gap <= margin
        chosen = valid & above & below
    if nonzero_only:
        chosen = chosen & (terms > 0)
    return terms[chosen].sum() / (valid if divide_by_all else chosen).sum()


def check_triplet(fn: Callable[..., Any], mining: str = "hardest") -> bool:
    """Check ``fn(embeddings, labels, margin=...)`` against :func:`eelib.losses.triplet_loss`.

    Parameters
    ----------
    fn : callable
        The student's loss, with Euclidean (not squared) distances.
    mining : {"all", "semihard", "hardest"}, default "hardest"
        The mining the student implemented: the mean over all valid triplets, over the
        semi-hard ones (0 < d(a,n) − d(a,p) ≤ m), or batch-hard (Hermans et al. 2017, Eq. 5).
    """
    if mining not in ("all", "semihard", "hardest"):
        raise ValueError(f"mining must be 'all', 'semihard' or 'hardest', got {mining!r}")

    def reference(x: Tensor, y: Tensor, margin: float) -> Tensor:
        return triplet_loss(x, y, margin=margin, mining=mining)

    def hardest(**flags: bool) -> Symptom:
        return gives(lambda x, y, margin: _triplet_hardest_variant(x, y, margin, **flags), NUMBER)

    def enumerated(**flags: bool) -> Symptom:
        return gives(lambda x, y, margin: _triplet_enumerated_variant(x, y, margin, **flags), NUMBER)

    mistakes = {"you used squared distances; this exercise uses the Euclidean distance D.":
                gives(lambda x, y, margin: triplet_loss(x, y, margin=margin, mining=mining, squared=True), NUMBER)}
    if mining == "hardest":
        mistakes |= {
            "you forgot the hinge [·]₊ = max(·, 0).": hardest(hinge=False),
            "you averaged over all anchors, including those without a positive or a negative; leave them out.":
                hardest(all_anchors=True),
            "the hardest positive is the *farthest* one (max), not the closest.": hardest(min_positive=True),
        }
    elif mining == "all":
        mistakes |= {"you averaged only the triplets with a positive loss; average over every valid triplet.":
                     enumerated(nonzero_only=True)}
    else:
        mistakes |= {
            "semi-hard is 0 < d(a,n) − d(a,p) ≤ m: a negative exactly at the margin counts (with loss 0).":
                enumerated(semihard=True, strict_margin=True),
            "semi-hard is 0 < d(a,n) − d(a,p): a negative exactly as far as the positive is not semi-hard.":
                enumerated(semihard=True, nonstrict_zero=True),
            "you divided by the number of all triplets; average over the semi-hard ones only.":
                enumerated(semihard=True, divide_by_all=True),
            "you kept every triplet: select the semi-hard ones first.": enumerated(),
        }
    cases = loss_cases([{"margin": 0.2}, {"margin": 1.0}])
    return run_cases(f"check_triplet[{mining}]", fn, reference, cases, NUMBER, mistakes,
                      "per anchor and positive, d(a,p) and d(a,n) are Euclidean distances; "
                      "compare one anchor by hand with the formula of the notebook.", differentiable=EMBEDDINGS)
