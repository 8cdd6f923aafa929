"""Notebook 08's self-checks: EE's points, the Gram identity, the parents' gradients."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from eelib.course.checks._core import NUMBER, POINTS, Case, Symptom, gives, run_cases
from eelib.distances import pairwise_distances
from eelib.expansion import expand


def expand_reference(x_i: Tensor, x_j: Tensor, n: int, normalize: bool) -> Tensor:
    """The reference: EE's n synthetic points of one pair (Ko & Gu 2020, Eq. 1)."""
    pair = torch.stack([x_i, x_j])
    return expand(pair, torch.zeros(2, dtype=torch.long), n_synthetic=n, normalize_synthetic=normalize).embeddings[2:]


def _division(x_i: Tensor, x_j: Tensor, weights: Sequence[float], normalize: bool) -> Tensor:
    w = torch.tensor(list(weights), dtype=x_i.dtype)[:, None]
    points = x_i + w * (x_j - x_i)
    return F.normalize(points, dim=1) if normalize else points


def check_expand(fn: Callable[[Tensor, Tensor, int, bool], Tensor]) -> bool:
    """Check ``fn(x_i, x_j, n, normalize) -> Tensor[n, D]``: EE's synthetic points of one pair.

    The reference points are ``x_i + k/(n+1) (x_j − x_i)``, k = 1..n (Ko & Gu 2020, Eq. 1),
    divided by their L2 norm when ``normalize``.
    """
    mistakes = {
        "weights should be k/(n+1), k = 1..n, not including the endpoints (k = 0 and k = n + 1 are the originals).":
            lambda got, case: got.ndim == 2 and got.shape[0] == case.args[2] + 2,
        "with normalize=True, divide each synthetic point by its L2 norm (did you normalise?).":
            gives(lambda a, b, n, normalize: expand_reference(a, b, n, False), POINTS),
        "normalise only when normalize=True.": gives(lambda a, b, n, normalize: expand_reference(a, b, n, True), POINTS),
        "order the points from x_i towards x_j: k = 1 is the closest to x_i.":
            gives(lambda a, b, n, normalize: expand_reference(a, b, n, normalize).flip(0), POINTS),
        "weights should be k/(n+1), k = 1..n; k/n puts the last point on x_j.":
            gives(lambda a, b, n, normalize: _division(a, b, [k / n for k in range(1, n + 1)], normalize), POINTS),
    }
    generator = torch.Generator().manual_seed(0)
    pairs = [(f"unit-norm pair, D={dim}", *F.normalize(torch.randn(2, dim, generator=generator, dtype=torch.float64), dim=1))
             for dim in (2, 5)]
    pairs.append(("unnormalised pair, D=3", *(3 * torch.randn(2, 3, generator=generator, dtype=torch.float64))))
    cases = [Case(f"{name}, n={n}, normalize={normalize}", (x_i, x_j, n, normalize), {})
             for name, x_i, x_j in pairs for n in (1, 2, 4, 0) for normalize in (True, False)]
    return run_cases("check_expand", fn, expand_reference, cases, POINTS, mistakes,
                      "x_i + k/(n+1) (x_j − x_i) for k = 1..n, one point per row.", differentiable=(0, 1))


def synthetic_distance_reference(sq_dist: Tensor, i: int, j: int, k: int, w: float) -> Tensor:
    """The reference: ‖(1−w)x_i + w x_j − x_k‖² from squared distances alone (EE's Gram trick, Ko & Gu 2020, Sec. 3.3).

    ‖s − x_k‖² = (1−w)D²_ik + w D²_jk − w(1−w)D²_ij, differentiable in ``sq_dist``
    (``tests/test_checks.py`` compares it with the distance to the point built explicitly).
    """
    return (1 - w) * sq_dist[i, k] + w * sq_dist[j, k] - w * (1 - w) * sq_dist[i, j]


def check_expanded_distances(fn: Callable[[Tensor, int, int, int, float], Any]) -> bool:
    """Check ``fn(sq_dist, i, j, k, w)`` = ‖(1−w)x_i + w x_j − x_k‖² from squared distances only.

    Values and gradients with respect to ``sq_dist`` are compared with
    :func:`synthetic_distance_reference`; the gradient as G + Gᵀ, since ``sq_dist`` is
    symmetric and ``sq_dist[k, i]`` is as right as ``sq_dist[i, k]``.
    """
    x = torch.randn(6, 7, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    sq = pairwise_distances(x, squared=True)

    mistakes = {
        "check the sign of the D²_ij term: write 2(x_i − x_k)ᵀ(x_j − x_k) with squared distances (the "
        "law of cosines) and follow the minus sign it carries.":
            gives(lambda s, i, j, k, w: (1 - w) * s[i, k] + w * s[j, k] + w * (1 - w) * s[i, j], NUMBER),
        "return the *squared* distance ‖s − x_k‖², not its square root.":
            gives(lambda s, i, j, k, w: synthetic_distance_reference(s, i, j, k, w).sqrt(), NUMBER),
        "expanding the square leaves a cross term 2w(1−w)(x_i − x_k)ᵀ(x_j − x_k); express it "
        "through D²_ik + D²_jk − D²_ij.":
            gives(lambda s, i, j, k, w: (1 - w) ** 2 * s[i, k] + w**2 * s[j, k], NUMBER),
    }
    cases = [Case(f"i={i}, j={j}, k={k}, w={w:.3g}", (sq, i, j, k, w), {})
             for i, j, k, w in ((0, 1, 2, 0.5), (0, 1, 3, 1 / 3), (2, 4, 5, 0.25), (1, 2, 0, 0.9),
                                (3, 5, 3, 0.5), (0, 4, 2, 0.0), (0, 4, 2, 1.0))]
    return run_cases("check_expanded_distances", fn, synthetic_distance_reference, cases, NUMBER, mistakes,
                      "start from s − x_k = (1−w)(x_i − x_k) + w(x_j − x_k), expand the square, and write "
                      "(x_i − x_k)ᵀ(x_j − x_k) with squared distances.", differentiable=(0,), symmetric=True)


def parent_gradients_reference(x_i: Tensor, x_j: Tensor, w: float, grad_s: Tensor, normalize: bool) -> tuple[Tensor, Tensor]:
    """The reference: autograd carries ``grad_s`` from s = (1−w)x_i + w x_j (normalised) to x_i and x_j."""
    parents = [x.detach().clone().requires_grad_(True) for x in (x_i, x_j)]
    point = _division(*parents, [w], normalize)[0]
    grads = torch.autograd.grad(point, parents, grad_outputs=grad_s)
    return grads[0].detach(), grads[1].detach()


def _parent_gradients_variant(x_i: Tensor, x_j: Tensor, w: float, grad_s: Tensor, normalize: bool, *,
                              project: bool = True, divide: bool = True, swap: bool = False) -> Tensor:
    """The parents' gradients, (2, D), written out by hand with one typical mistake switched on."""
    raw = (1 - w) * x_i + w * x_j
    g = grad_s
    if normalize:
        norm = raw.norm()
        unit = raw / norm
        g = g - unit * (unit @ g) if project else g
        g = g / norm if divide else g
    shares = (w, 1 - w) if swap else (1 - w, w)
    return torch.stack([shares[0] * g, shares[1] * g])


def check_parent_gradients(fn: Callable[..., Any]) -> bool:
    """Check ``fn(x_i, x_j, w, grad_s, normalize) -> (grad_i, grad_j)``: how EE trains through a synthetic point.

    For the synthetic point ``s = x̄ / ‖x̄‖`` with ``x̄ = (1 − w) x_i + w x_j`` (``s = x̄``
    without normalisation), the gradient ``grad_s = ∂L/∂s`` reaches the parents as
    ``∂L/∂x_i = (1 − w) Jᵀ grad_s`` and ``∂L/∂x_j = w Jᵀ grad_s``, with the normalisation's
    Jacobian ``J = (I − s sᵀ) / ‖x̄‖`` (the identity without normalisation). The reference
    is autograd; the student's function must not call autograd itself.
    """
    def variant(**flags: bool) -> Symptom:
        return gives(lambda a, b, w, g, normalize: _parent_gradients_variant(a, b, w, g, normalize, **flags), POINTS)

    mistakes = {
        "x_i's share is 1 − w and x_j's is w: the point is closer to x_i when w is small.": variant(swap=True),
        "you passed grad_s straight through the normalisation: the parents receive Jᵀ grad_s, where J "
        "is the Jacobian of v ↦ v/‖v‖ at x̄, not grad_s itself.": variant(project=False, divide=False),
        "remove the radial part of grad_s (its component along s): moving along s changes x̄'s "
        "length, which the normalisation undoes.": variant(project=False),
        "after removing the radial part, divide by ‖x̄‖ (the length before normalisation): "
        "a short x̄ turns more per unit of change.": variant(divide=False),
        "without normalisation (normalize=False) s = x̄ and the Jacobian is the identity.":
            lambda got, case: not case.args[4] and POINTS.agree(
                got, _parent_gradients_variant(*case.args[:4], True)),
    }
    generator = torch.Generator().manual_seed(3)

    def random(*shape: int) -> Tensor:
        return torch.randn(*shape, generator=generator, dtype=torch.float64)

    cases = []
    for dim in (2, 5):
        x_i, x_j = F.normalize(random(2, dim), dim=1)
        for w in (1 / 3, 0.5, 0.75):
            g = random(dim)
            for normalize in (True, False):
                cases.append(Case(f"unit-norm parents, D={dim}, w={w:.3g}, normalize={normalize}",
                                  (x_i, x_j, w, g, normalize), {}))
    x_i, x_j = 2.0 * random(2, 3)
    cases.append(Case("unnormalised parents, D=3, w=0.25, normalize=True", (x_i, x_j, 0.25, random(3), True), {}))
    x_i, x_j = F.normalize(random(2, 3), dim=1)
    radial = F.normalize(0.5 * x_i + 0.5 * x_j, dim=0)
    cases.append(Case("grad_s along s itself (radial), w=0.5, normalize=True", (x_i, x_j, 0.5, radial, True), {}))
    return run_cases("check_parent_gradients", fn, parent_gradients_reference, cases, POINTS, mistakes,
                      "∂L/∂x_i = (1 − w) Jᵀ grad_s and ∂L/∂x_j = w Jᵀ grad_s (section 6). For J, differentiate "
                      "v_a/‖v‖ with respect to v_b: one term from the numerator, one from the norm. Without "
                      "normalisation J is the identity.", forbid_autograd=True)
