"""Notebook 06's self-checks: multi-similarity mining and the loss."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from eelib.course.checks._core import (
    EMBEDDINGS,
    MASKS,
    NUMBER,
    Case,
    Symptom,
    gives,
    loss_batches,
    loss_cases,
    run_cases,
)
from eelib.losses import multi_similarity_loss
from eelib.losses._common import log1p_sum_exp
from eelib.losses.multi_similarity import ms_mining
from eelib.pairs import label_masks


def reference_ms_mining(similarity: Tensor, labels: Tensor, epsilon: float) -> tuple[Tensor, Tensor]:
    """MS mining on one similarity matrix: :func:`eelib.losses.multi_similarity.ms_mining`.

    Returns
    -------
    keep_pos, keep_neg : Tensor of bool, shape (B, B)
    """
    return ms_mining(similarity, similarity, *label_masks(labels), epsilon)


def _ms_mining_variant(similarity: Tensor, labels: Tensor, epsilon: float, *, diagonal: bool = False,
                       non_strict: bool = False, wrong_extremes: bool = False) -> tuple[Tensor, Tensor]:
    """MS mining with one typical mistake switched on."""
    pos, neg = label_masks(labels)
    if diagonal:
        pos = pos | torch.eye(len(labels), dtype=torch.bool)
    if wrong_extremes:
        pos_ref = similarity.masked_fill(~pos, -math.inf).amax(1, keepdim=True)
        neg_ref = similarity.masked_fill(~neg, math.inf).amin(1, keepdim=True)
    else:
        pos_ref = similarity.masked_fill(~pos, math.inf).amin(1, keepdim=True)
        neg_ref = similarity.masked_fill(~neg, -math.inf).amax(1, keepdim=True)
    if non_strict:
        return pos & (similarity - epsilon <= neg_ref), neg & (similarity + epsilon >= pos_ref)
    return pos & (similarity - epsilon < neg_ref), neg & (similarity + epsilon > pos_ref)


def check_ms_mining(fn: Callable[..., Any]) -> bool:
    """Check ``fn(similarity, labels, epsilon) -> (keep_pos, keep_neg)``, two boolean B × B masks."""
    def variant(**flags: bool) -> Symptom:
        return gives(lambda s, y, eps: _ms_mining_variant(s, y, eps, **flags), MASKS)

    mistakes = {
        "a point is never its own positive: leave the diagonal out of keep_pos.": variant(diagonal=True),
        "the inequalities are strict (S + ε > min S⁺, S − ε < max S⁻): ties are not kept.": variant(non_strict=True),
        "compare negatives with the anchor's *weakest* positive (min) and positives with its "
        "*hardest* negative (max).": variant(wrong_extremes=True),
    }
    cases = [Case(f"{name}, epsilon={eps}", (x @ x.T, y, eps), {})
             for eps in (0.1, 0.0, 0.5) for name, x, y in loss_batches(pairs_only=False)]
    return run_cases("check_ms_mining", fn, reference_ms_mining, cases, MASKS, mistakes,
                      "per anchor: keep negative k when S_ik + ε > min over positives S_ij; keep positive j "
                      "when S_ij − ε < max over negatives S_ik.")


def _ms_loss_unmined(x: Tensor, y: Tensor, alpha: float, beta: float, base: float, epsilon: float) -> Tensor:
    """The MS loss (Eq. 12) over every positive and negative pair, without the mining step."""
    similarity = x @ x.T
    pos, neg = label_masks(y)
    return (log1p_sum_exp(-alpha * (similarity - base), pos) / alpha
            + log1p_sum_exp(beta * (similarity - base), neg) / beta).mean()


def check_multi_similarity(fn: Callable[..., Any]) -> bool:
    """Check ``fn(embeddings, labels, alpha=, beta=, base=, epsilon=)`` against the MS loss (Eq. 12)."""
    def reference(x: Tensor, y: Tensor, **params: float) -> Tensor:
        return multi_similarity_loss(x, y, **params)

    mistakes = {
        "you skipped the mining step: keep negatives with S + ε > min positive S and positives with "
        "S − ε < max negative S.": gives(_ms_loss_unmined, NUMBER),
        "α scales the positive term and β the negative one; you swapped them.":
            gives(lambda x, y, **p: reference(x, y, **{**p, "alpha": p["beta"], "beta": p["alpha"]}), NUMBER),
        "you summed over the anchors; average them (an anchor with nothing mined counts as 0).":
            gives(lambda x, y, **p: reference(x, y, **p) * len(y), NUMBER),
    }
    settings = [{"alpha": 2.0, "beta": 50.0, "base": 0.5, "epsilon": 0.1},
                {"alpha": 1.0, "beta": 10.0, "base": 0.3, "epsilon": 0.3}]
    return run_cases("check_multi_similarity", fn, reference, loss_cases(settings), NUMBER, mistakes,
                      "per anchor: (1/α) log(1 + Σ_P e^(−α(S−λ))) + (1/β) log(1 + Σ_N e^(β(S−λ))) over the "
                      "mined pairs, mean over the batch.", differentiable=EMBEDDINGS)
