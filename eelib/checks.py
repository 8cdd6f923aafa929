"""Self-checks for the exercises: compare a student's function with the reference.

Each ``check_*`` runs the student's function and eelib's reference on a table of cases
(random batches of several layouts and edge cases). On the first disagreement it raises
``AssertionError`` naming the case, the expected and the obtained value, and a hint. The
hint is diagnostic where possible: every check knows the typical mistakes (a missing hinge,
squared distances, a wrong average...) as small variants of the reference, and when the
student's value equals one of them the message names that mistake.

Examples
--------
>>> from eelib.checks import check_contrastive
>>> from eelib.losses import contrastive_loss
>>> check_contrastive(lambda e, y, margin=1.0: contrastive_loss(e, y, margin=margin))  # doctest: +ELLIPSIS
✓ check_contrastive: all ... cases agree with the reference.
True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from eelib.distances import pairwise_distances
from eelib.expansion import expand
from eelib.losses import (
    contrastive_loss,
    lifted_structure_loss,
    multi_similarity_loss,
    npair_loss,
    triplet_loss,
)
from eelib.mining import label_masks

TOLERANCE = 1e-6


class Case(NamedTuple):
    """One input on which student and reference are compared."""

    description: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


def _batch(classes: int, per_class: int, dim: int, seed: int, *, unit: bool = True, shuffle: bool = False) -> tuple[Tensor, Tensor]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(classes * per_class, dim, generator=generator, dtype=torch.float64)
    x = F.normalize(x, dim=1) if unit else 2 * x
    y = torch.arange(classes).repeat_interleave(per_class)
    if shuffle:
        order = torch.randperm(len(y), generator=generator)
        x, y = x[order], y[order]
    return x, y


def _loss_cases(kwargs: dict[str, Any], *, pairs_only: bool = False) -> list[Case]:
    """Random batches in several layouts, plus a few edge cases, for a loss check."""
    if pairs_only:
        layouts = [("8 classes × 2, unit-norm", _batch(8, 2, 5, 1)),
                   ("4 classes × 2, not normalised", _batch(4, 2, 3, 2, unit=False)),
                   ("6 classes × 2, shuffled", _batch(6, 2, 4, 3, shuffle=True))]
    else:
        layouts = [("4 classes × 4, unit-norm", _batch(4, 4, 5, 1)),
                   ("3 classes × 3, not normalised", _batch(3, 3, 3, 2, unit=False)),
                   ("5 classes × 2, shuffled", _batch(5, 2, 4, 3, shuffle=True)),
                   ("unbalanced classes (5, 2, 2) and a class of one", (_batch(1, 10, 4, 4)[0],
                                                     torch.tensor([0, 0, 0, 0, 0, 1, 1, 2, 2, 3])))]
    cases = [Case(name, (x, y), dict(kwargs)) for name, (x, y) in layouts]
    if not pairs_only:
        x, y = _batch(2, 3, 2, 5)
        cases.append(Case("two tight, far-apart clusters (every margin met)",
                          (torch.cat([x[:3] * 0.01 + 1.0, x[3:] * 0.01 - 1.0]), y), dict(kwargs)))
        cases.append(Case("a single class (no negative pair)", (_batch(1, 4, 3, 6)[0], torch.zeros(4, dtype=torch.long)), dict(kwargs)))
    return cases


def _as_float(value: Any) -> float:
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise AssertionError(f"your function returned a tensor of shape {tuple(value.shape)}; a single number (0-dim tensor) is expected")
        return float(value.detach())
    return float(value)


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=TOLERANCE, abs_tol=TOLERANCE)


def _run_value_check(
    name: str,
    student: Callable[..., Any],
    reference: Callable[..., Any],
    cases: Sequence[Case],
    mistakes: dict[str, Callable[..., Any]],
    general_hint: str,
) -> bool:
    """Compare scalar outputs case by case; diagnose known mistakes; raise on failure."""
    for case in cases:
        expected = _as_float(reference(*case.args, **case.kwargs))
        try:
            got = _as_float(student(*case.args, **case.kwargs))
        except AssertionError:
            raise
        except Exception as error:  # the student's code raised: report it with the case
            raise AssertionError(f"{name}: on case '{case.description}' your function raised "
                                 f"{type(error).__name__}: {error}") from error
        if _close(got, expected):
            continue
        hint = general_hint
        for mistake, variant in mistakes.items():
            try:
                if _close(got, _as_float(variant(*case.args, **case.kwargs))):
                    hint = mistake
                    break
            except Exception:  # a variant may not apply to every case
                continue
        raise AssertionError(f"{name}: case '{case.description}' (arguments {case.kwargs}): "
                             f"expected {expected:.6f}, got {got:.6f}.\nHint: {hint}")
    print(f"✓ {name}: all {len(cases)} cases agree with the reference.")
    return True


# --- variants used to diagnose typical mistakes -------------------------------------------


def _pairs_mean(values: Tensor, mask: Tensor) -> Tensor:
    return values[mask].mean() if bool(mask.any()) else values.sum() * 0


def _contrastive_variant(x: Tensor, y: Tensor, margin: float = 1.0, *, halve: bool = True,
                         square: bool = True, diagonal: bool = False, per_kind: bool = False) -> Tensor:
    d = pairwise_distances(x)
    pos, neg = label_masks(y)
    push = torch.relu(margin - d)
    pull, push = (d**2, push**2) if square else (d, push)
    if halve:
        pull, push = pull / 2, push / 2
    if per_kind:
        return _pairs_mean(pull, pos) + _pairs_mean(push, neg)
    if diagonal:  # every entry of the B × B matrix, a point with itself included
        return torch.where(pos | torch.eye(len(y), dtype=torch.bool), pull, push).mean()
    return torch.where(pos, pull, push)[torch.ones_like(pos).triu(1)].mean()


def _triplet_hardest_variant(x: Tensor, y: Tensor, margin: float = 0.2, *, squared: bool = False,
                             hinge: bool = True, all_anchors: bool = False, min_positive: bool = False) -> Tensor:
    d = pairwise_distances(x, squared=squared)
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
    return terms[valid].mean() if bool(valid.any()) else x.sum() * 0


# --- the checks -------------------------------------------------------------------------------


def check_contrastive(fn: Callable[..., Any]) -> bool:
    """Check ``fn(embeddings, labels, margin=...)`` against :func:`eelib.losses.contrastive_loss`."""
    cases = [c for m in (1.0, 0.5) for c in _loss_cases({"margin": m})]
    mistakes = {
        "you did not halve: each term is ½D² or ½[m − D]₊².": lambda x, y, margin: _contrastive_variant(x, y, margin, halve=False),
        "you used D instead of D² (the 2006 loss squares both terms).": lambda x, y, margin: _contrastive_variant(x, y, margin, square=False),
        "you averaged positives and negatives separately; average over all unordered pairs at once.": lambda x, y, margin: _contrastive_variant(x, y, margin, per_kind=True),
        "you averaged over the whole B × B matrix, diagonal included; average over the pairs i < j.": lambda x, y, margin: _contrastive_variant(x, y, margin, diagonal=True),
    }
    return _run_value_check("check_contrastive", fn, lambda x, y, margin: contrastive_loss(x, y, margin=margin),
                            cases, mistakes, "compare one pair by hand: ½D² for same labels, ½max(0, m − D)² otherwise.")


def check_triplet(fn: Callable[..., Any], mining: str = "hardest") -> bool:
    """Check ``fn(embeddings, labels, margin=...)`` against :func:`eelib.losses.triplet_loss`.

    Parameters
    ----------
    fn : callable
        The student's loss with Euclidean (non-squared) distances.
    mining : {"all", "semihard", "hardest"}, default "hardest"
    """
    cases = [c for m in (0.2, 1.0) for c in _loss_cases({"margin": m})]
    mistakes = {}
    if mining == "hardest":
        mistakes = {
            "you used squared distances; this exercise uses the Euclidean distance D.": lambda x, y, margin: _triplet_hardest_variant(x, y, margin, squared=True),
            "you forgot the hinge [·]₊ = max(·, 0).": lambda x, y, margin: _triplet_hardest_variant(x, y, margin, hinge=False),
            "you averaged over all anchors, including those without a positive or a negative; drop them.": lambda x, y, margin: _triplet_hardest_variant(x, y, margin, all_anchors=True),
            "the hardest positive is the *farthest* one (max), not the closest.": lambda x, y, margin: _triplet_hardest_variant(x, y, margin, min_positive=True),
        }
    return _run_value_check(f"check_triplet[{mining}]", fn,
                            lambda x, y, margin: triplet_loss(x, y, margin=margin, mining=mining),
                            cases, mistakes, "per anchor: max distance to a positive, min distance to a negative.")


def check_npair(fn: Callable[..., Any]) -> bool:
    """Check ``fn(embeddings, labels)`` (two per class) against :func:`eelib.losses.npair_loss`."""
    cases = _loss_cases({}, pairs_only=True)
    mistakes = {
        "the logits are inner products f_iᵀf_j⁺, not negative distances.": _npair_with_distances,
        "did you sum over anchors instead of averaging?": lambda x, y: npair_loss(x, y) * (len(y) // 2),
    }
    return _run_value_check("check_npair", fn, lambda x, y: npair_loss(x, y), cases, mistakes,
                            "build the N × N matrix of anchor·positive inner products and apply cross-entropy with the diagonal as the target.")


def _npair_with_distances(x: Tensor, y: Tensor) -> Tensor:
    anchors, positives = _first_second(y)
    logits = -torch.cdist(x[anchors], x[positives])
    return F.cross_entropy(logits, torch.arange(len(anchors)))


def _first_second(y: Tensor) -> tuple[Tensor, Tensor]:
    from eelib.losses.npair import npair_anchor_positive

    return npair_anchor_positive(y)


def check_lifted(fn: Callable[..., Any]) -> bool:
    """Check ``fn(embeddings, labels, margin=...)`` against :func:`eelib.losses.lifted_structure_loss`."""
    cases = [c for m in (1.0, 0.5) for c in _loss_cases({"margin": m})]
    mistakes = {
        "you summed over ordered positive pairs and divided by |P| of unordered pairs (or vice versa); the mean over ordered pairs equals the formula's 1/(2|P|) Σ over unordered pairs.": lambda x, y, margin: lifted_structure_loss(x, y, margin=margin) * 2,
        "did you forget to square the hinge [J]₊²?": lambda x, y, margin: _lifted_unsquared(x, y, margin),
    }
    return _run_value_check("check_lifted", fn, lambda x, y, margin: lifted_structure_loss(x, y, margin=margin),
                            cases, mistakes, "J_ij = log(Σ_k∈N(i) e^(m−D_ik) + Σ_l∈N(j) e^(m−D_jl)) + D_ij; loss = Σ [J]₊² / (2|P|).")


def _lifted_unsquared(x: Tensor, y: Tensor, margin: float) -> Tensor:
    d = pairwise_distances(x)
    pos, neg = label_masks(y)
    push = (margin - d).masked_fill(~neg, -math.inf).logsumexp(1)
    i, j = torch.nonzero(pos.triu(1), as_tuple=True)
    return torch.relu(torch.logaddexp(push[i], push[j]) + d[i, j]).sum() / (2 * len(i))


def check_multi_similarity(fn: Callable[..., Any]) -> bool:
    """Check ``fn(embeddings, labels, alpha=, beta=, base=, epsilon=)`` against the MS loss."""
    params = [{"alpha": 2.0, "beta": 50.0, "base": 0.5, "epsilon": 0.1},
              {"alpha": 1.0, "beta": 10.0, "base": 0.3, "epsilon": 0.3}]
    cases = [c for p in params for c in _loss_cases(p)]
    mistakes = {
        "you skipped the mining step: keep negatives with S + ε > min positive S and positives with S − ε < max negative S.":
            lambda x, y, **p: multi_similarity_loss(x, y, **{**p, "epsilon": 1e6}),
    }
    return _run_value_check("check_multi_similarity", fn, lambda x, y, **p: multi_similarity_loss(x, y, **p),
                            cases, mistakes, "per anchor: (1/α) log(1 + Σ_P e^(−α(S−λ))) + (1/β) log(1 + Σ_N e^(β(S−λ))), mean over the batch.")


def reference_ms_mining(similarity: Tensor, labels: Tensor, epsilon: float) -> tuple[Tensor, Tensor]:
    """MS mining (Wang et al. 2019, Eq. 7–8) on a similarity matrix: (keep_pos, keep_neg)."""
    pos, neg = label_masks(labels)
    weakest_pos = similarity.masked_fill(~pos, math.inf).amin(1, keepdim=True)
    hardest_neg = similarity.masked_fill(~neg, -math.inf).amax(1, keepdim=True)
    return pos & (similarity - epsilon < hardest_neg), neg & (similarity + epsilon > weakest_pos)


def check_ms_mining(fn: Callable[..., Any]) -> bool:
    """Check ``fn(similarity, labels, epsilon) -> (keep_pos, keep_neg)`` boolean B × B masks."""
    count = 0
    for eps in (0.1, 0.0, 0.5):
        for description, args, _ in _loss_cases({}):
            x, y = args
            sim = x @ x.T
            want_pos, want_neg = reference_ms_mining(sim, y, eps)
            try:
                got_pos, got_neg = fn(sim, y, eps)
            except Exception as error:
                raise AssertionError(f"check_ms_mining: on case '{description}', epsilon={eps}, your function raised {type(error).__name__}: {error}") from error
            for what, got, want in (("keep_pos", got_pos, want_pos), ("keep_neg", got_neg, want_neg)):
                got = torch.as_tensor(got, dtype=torch.bool)
                if got.shape != want.shape or not torch.equal(got, want):
                    hint = ("the diagonal (a point with itself) is never a positive pair."
                            if what == "keep_pos" and got.shape == want.shape and bool(got.diagonal().any())
                            else "compare each pair with the anchor's *weakest* positive (for negatives) or *hardest* negative (for positives), shifted by ε.")
                    raise AssertionError(f"check_ms_mining: case '{description}', epsilon={eps}: {what} differs from the reference "
                                         f"({int((got != want).sum()) if got.shape == want.shape else 'shape'} entries).\nHint: {hint}")
            count += 1
    print(f"✓ check_ms_mining: all {count} cases agree with the reference.")
    return True


def reference_pair_counts(n_classes: int, per_class: int) -> dict[str, int]:
    """Ordered-anchor counts in a batch of ``n_classes × per_class``: unordered pairs, triplets."""
    n = n_classes * per_class
    positive = n_classes * per_class * (per_class - 1) // 2
    negative = n * (n - 1) // 2 - positive
    triplets = n * (per_class - 1) * (n - per_class)
    return {"positive_pairs": positive, "negative_pairs": negative, "triplets": triplets}


def check_pair_counts(fn: Callable[[int, int], dict[str, int]]) -> bool:
    """Check ``fn(n_classes, per_class)`` returns the numbers of pairs and triplets."""
    cases = [(2, 2), (4, 4), (32, 4), (10, 1), (1, 5), (100, 8)]
    for n_classes, per_class in cases:
        want = reference_pair_counts(n_classes, per_class)
        got = fn(n_classes, per_class)
        for key, value in want.items():
            if key not in got:
                raise AssertionError(f"check_pair_counts: your result has no key '{key}'")
            if int(got[key]) != value:
                hint = {
                    "positive_pairs": "a class of K samples has K(K−1)/2 unordered positive pairs.",
                    "negative_pairs": "all unordered pairs N(N−1)/2 minus the positive ones.",
                    "triplets": "per anchor: (K − 1) positives times (N − K) negatives, for each of the N anchors.",
                }[key]
                if key == "triplets" and int(got[key]) == value // 2:
                    hint = "(a, p) is ordered: (a, p) and (p, a) are two different triplets."
                raise AssertionError(f"check_pair_counts: {n_classes} classes × {per_class}: {key} expected {value}, got {got[key]}.\nHint: {hint}")
    print(f"✓ check_pair_counts: all {len(cases)} cases agree with the reference.")
    return True


def check_expand(fn: Callable[[Tensor, Tensor, int, bool], Tensor]) -> bool:
    """Check ``fn(x_i, x_j, n, normalize) -> Tensor[n, D]``: EE's points of one pair."""
    generator = torch.Generator().manual_seed(0)
    count = 0
    for dim in (2, 5):
        x_i, x_j = F.normalize(torch.randn(2, dim, generator=generator, dtype=torch.float64), dim=1)
        for n in (1, 2, 4, 0):
            for normalize in (True, False):
                want = expand(torch.stack([x_i, x_j]), torch.zeros(2, dtype=torch.long), n,
                              normalize=normalize).embeddings[2:]
                got = torch.as_tensor(fn(x_i, x_j, n, normalize), dtype=torch.float64).reshape(-1, dim)
                if got.shape != want.shape:
                    hint = ("n points, k = 1..n: the endpoints (k = 0 and k = n + 1) are the originals, not synthetic points."
                            if got.shape[0] == n + 2 else f"expected {n} points of dimension {dim}.")
                    raise AssertionError(f"check_expand: n={n}, D={dim}: expected shape {tuple(want.shape)}, got {tuple(got.shape)}.\nHint: {hint}")
                if not torch.allclose(got, want, atol=1e-6):
                    raw = expand(torch.stack([x_i, x_j]), torch.zeros(2, dtype=torch.long), n, normalize=False).embeddings[2:]
                    if normalize and torch.allclose(got, raw, atol=1e-6):
                        hint = "with normalize=True divide each synthetic point by its L2 norm."
                    elif torch.allclose(got, raw.flip(0), atol=1e-6) or torch.allclose(got, F.normalize(raw.flip(0), dim=1), atol=1e-6):
                        hint = "order the points from x_i towards x_j: k = 1 is closest to x_i."
                    else:
                        hint = "weights should be k/(n+1), k = 1..n: x_i + k/(n+1) (x_j − x_i)."
                    raise AssertionError(f"check_expand: n={n}, D={dim}, normalize={normalize}: points differ from the reference "
                                         f"(max error {float((got - want).abs().max()):.3g}).\nHint: {hint}")
                count += 1
    print(f"✓ check_expand: all {count} cases agree with the reference.")
    return True


def check_expanded_distances(fn: Callable[[Tensor, int, int, int, float], Any]) -> bool:
    """Check ``fn(sq_dist, i, j, k, w)``: ‖(1−w)x_i + w x_j − x_k‖² from squared distances only."""
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(6, 7, generator=generator, dtype=torch.float64)
    sq = pairwise_distances(x, squared=True)
    cases = [(0, 1, 2, 0.5), (0, 1, 3, 1 / 3), (2, 4, 5, 0.25), (3, 5, 3, 0.5), (1, 2, 0, 0.9)]
    for i, j, k, w in cases:
        s = (1 - w) * x[i] + w * x[j]
        want = float(((s - x[k]) ** 2).sum())
        got = _as_float(fn(sq, i, j, k, w))
        if not _close(got, want):
            plus = (1 - w) * sq[i, k] + w * sq[j, k] + w * (1 - w) * sq[i, j]
            hint = ("the cross term has a minus sign and weight w(1−w): (1−w)D²_ik + w D²_jk − w(1−w) D²_ij."
                    if _close(got, float(plus)) else
                    "start from s − x_k = (1−w)(x_i − x_k) + w(x_j − x_k) and expand the square; express x_iᵀx_j through D²_ij.")
            raise AssertionError(f"check_expanded_distances: i={i}, j={j}, k={k}, w={w:.3f}: expected {want:.6f}, got {got:.6f}.\nHint: {hint}")
    print(f"✓ check_expanded_distances: all {len(cases)} cases agree with the reference.")
    return True


__all__ = [
    "check_contrastive",
    "check_expand",
    "check_expanded_distances",
    "check_lifted",
    "check_ms_mining",
    "check_multi_similarity",
    "check_npair",
    "check_pair_counts",
    "check_triplet",
    "reference_ms_mining",
    "reference_pair_counts",
]
