"""The exercise self-checks accept honest work and catch typical mistakes with the right hint.

The solutions below are written the way a student would write them (``torch.cdist``,
explicit masks, loops), independently of eelib and of the variants ``eelib.course.checks``
uses for its diagnosis; with every mistake switched off they are correct solutions. eelib's
own code (its losses, its loop oracles) is refused by every check: a solution must not
run it.
"""

from __future__ import annotations

import functools
import math

import pytest
import torch
import torch.nn.functional as F

import eelib.losses
from eelib import oracles
from eelib.course import checks
from eelib.expansion import expand
from eelib.losses import contrastive_loss

pytestmark = [pytest.mark.unit, pytest.mark.usefixtures("one_torch_thread")]

# --- student-style building blocks ------------------------------------------------------


def _masks(y):
    same = y[:, None] == y[None, :]
    return same & ~torch.eye(len(y), dtype=torch.bool), ~same


def _upper(y):
    return torch.ones(len(y), len(y), dtype=torch.bool).triu(1)


def _gram_identity(sq, i, j, k, w, sign=-1.0):
    return (1 - w) * sq[i, k] + w * sq[j, k] + sign * w * (1 - w) * sq[i, j]


# --- typical mistakes, each caught with its hint ----------------------------------------------


def contrastive_student(e, y, margin=1.0, *, half=0.5, power=2, hinge=True, on_squared=False, ordered=False):
    d = torch.cdist(e, e)
    pos, neg = _masks(y)
    gap = margin - (d**2 if on_squared else d)
    push = torch.relu(gap) if hinge else gap
    terms = torch.where(pos, half * d**power, half * push**power)
    if ordered:  # every ordered pair i ≠ j, divided by the number of unordered pairs
        return terms[pos | neg].sum() / _upper(y).sum()
    return terms[_upper(y)].mean()


def contrastive_per_kind(e, y, margin=1.0):
    d = torch.cdist(e, e)
    pos, neg = _masks(y)
    return (0.5 * d[pos & _upper(y)] ** 2).mean() + (0.5 * torch.relu(margin - d[neg & _upper(y)]) ** 2).mean()


def contrastive_whole_matrix(e, y, margin=1.0):
    d = torch.cdist(e, e)
    same = y[:, None] == y[None, :]
    return torch.where(same, 0.5 * d**2, 0.5 * torch.relu(margin - d) ** 2).mean()


def triplet_student(e, y, margin=0.2, *, squared=False, hinge=True, all_anchors=False, closest_positive=False):
    d = torch.cdist(e, e) ** (2 if squared else 1)
    pos, neg = _masks(y)
    if closest_positive:
        hard_pos = d.masked_fill(~pos, float("inf")).amin(1)
    else:
        hard_pos = d.masked_fill(~pos, float("-inf")).amax(1)
    hard_neg = d.masked_fill(~neg, float("inf")).amin(1)
    terms = hard_pos - hard_neg + margin
    terms = torch.relu(terms) if hinge else terms
    valid = pos.any(1) & neg.any(1)
    if all_anchors:
        return torch.where(valid, terms, torch.zeros_like(terms)).mean()
    return terms[valid].mean() if valid.any() else e.sum() * 0


def triplet_enumerated_student(e, y, margin=0.2, *, semihard=False, lower_inclusive=False,
                               upper_exclusive=False, nonzero_only=False):
    d = torch.cdist(e, e)
    pos, neg = _masks(y)
    count, total = 0, e.sum() * 0
    for a in range(len(y)):
        for p in torch.nonzero(pos[a]).flatten().tolist():
            for n in torch.nonzero(neg[a]).flatten().tolist():
                gap = d[a, n] - d[a, p]
                if semihard:
                    above = gap >= 0 if lower_inclusive else gap > 0
                    below = gap < margin if upper_exclusive else gap <= margin
                    if not (above and below):
                        continue
                loss = torch.relu(margin - gap)
                if nonzero_only and loss <= 0:
                    continue
                total, count = total + loss, count + 1
    return total / count if count else total


def _first_second(y):
    seen, anchors, positives = {}, [], []
    for index, label in enumerate(y.tolist()):
        if label in seen:
            anchors.append(seen[label])
            positives.append(index)
        else:
            seen[label] = index
    return anchors, positives


def npair_student(e, y, *, distances=False, normalise=False, interleaved=False, summed=False):
    if interleaved:  # assumes the batch is ordered a0, p0, a1, p1, ...
        anchors, positives = list(range(0, len(y), 2)), list(range(1, len(y), 2))
    else:
        anchors, positives = _first_second(y)
    e = F.normalize(e, dim=1) if normalise else e
    logits = -torch.cdist(e[anchors], e[positives]) if distances else e[anchors] @ e[positives].T
    return F.cross_entropy(logits, torch.arange(len(anchors)), reduction="sum" if summed else "mean")


def lifted_student(e, y, margin=1.0, *, only_i=False, power=2, hinge=True, ordered=False):
    d = torch.cdist(e, e)
    pos, neg = _masks(y)
    if not pos.any() or not neg.any():
        return e.sum() * 0
    push = (margin - d).masked_fill(~neg, float("-inf")).logsumexp(1)
    i, j = torch.nonzero(pos if ordered else pos.triu(1), as_tuple=True)
    j_ij = (push[i] if only_i else torch.logaddexp(push[i], push[j])) + d[i, j]
    j_ij = torch.relu(j_ij) if hinge else j_ij
    unordered = int(pos.triu(1).sum())
    return (j_ij**power).sum() / (2 * unordered)


def ms_mining_student(sim, y, eps, *, diagonal=False, inclusive=False, swapped_extremes=False):
    pos, neg = _masks(y)
    if diagonal:
        pos = pos | torch.eye(len(y), dtype=torch.bool)
    if swapped_extremes:
        pos_ref = sim.masked_fill(~pos, float("-inf")).amax(1, keepdim=True)
        neg_ref = sim.masked_fill(~neg, float("inf")).amin(1, keepdim=True)
    else:
        pos_ref = sim.masked_fill(~pos, float("inf")).amin(1, keepdim=True)
        neg_ref = sim.masked_fill(~neg, float("-inf")).amax(1, keepdim=True)
    if inclusive:
        return pos & (sim - eps <= neg_ref), neg & (sim + eps >= pos_ref)
    return pos & (sim - eps < neg_ref), neg & (sim + eps > pos_ref)


def ms_loss_student(e, y, alpha=2.0, beta=50.0, base=0.5, epsilon=0.1, *, mine=True, swap=False, summed=False):
    if swap:
        alpha, beta = beta, alpha
    sim = e @ e.T
    keep_pos, keep_neg = ms_mining_student(sim, y, epsilon) if mine else _masks(y)
    zero = torch.zeros(len(y), 1, dtype=sim.dtype)
    pos_term = torch.cat([zero, (-alpha * (sim - base)).masked_fill(~keep_pos, float("-inf"))], 1).logsumexp(1) / alpha
    neg_term = torch.cat([zero, (beta * (sim - base)).masked_fill(~keep_neg, float("-inf"))], 1).logsumexp(1) / beta
    per_anchor = pos_term + neg_term
    return per_anchor.sum() if summed else per_anchor.mean()


def counts_student(c, k, *, half_triplets=False, anchor_is_positive=False, ordered_pos=False, ordered_neg=False):
    n = c * k
    positive = c * k * (k - 1) // 2
    negative = n * (n - 1) // 2 - positive
    triplets = n * (k if anchor_is_positive else k - 1) * (n - k) // (2 if half_triplets else 1)
    return {"positive_pairs": positive * (2 if ordered_pos else 1),
            "negative_pairs": negative * (2 if ordered_neg else 1), "triplets": triplets}


def expand_student(a, b, n, normalize, *, weights="k/(n+1)", never_normalise=False, always_normalise=False,
                   reverse=False):
    ks = {"k/(n+1)": [k / (n + 1) for k in range(1, n + 1)],
          "endpoints": [k / (n + 1) for k in range(n + 2)],
          "k/n": [k / n for k in range(1, n + 1)]}[weights]
    points = torch.stack([a + w * (b - a) for w in ks]) if ks else torch.zeros(0, len(a), dtype=a.dtype)
    if (normalize and not never_normalise) or always_normalise:
        points = points / points.norm(dim=1, keepdim=True)
    return points.flip(0) if reverse else points


def parent_gradients_student(x_i, x_j, w, g, normalize, *, swap=False, project=True, divide=True):
    raw = (1 - w) * x_i + w * x_j
    if normalize:
        s = raw / raw.norm()
        if project:
            g = g - s * (s @ g)
        if divide:
            g = g / raw.norm()
    a, b = (w, 1 - w) if swap else (1 - w, w)
    return a * g, b * g


# --- an independent correct solution passes ------------------------------------------------

CORRECT = [
    (checks.check_contrastive, contrastive_student),
    (checks.check_triplet, triplet_student),
    (checks.check_npair, npair_student),
    (checks.check_lifted, lifted_student),
    (checks.check_multi_similarity, ms_loss_student),
    (checks.check_ms_mining, ms_mining_student),
    (checks.check_pair_counts, counts_student),
    (checks.check_expand, expand_student),
    (checks.check_expanded_distances, lambda sq, i, j, k, w: _gram_identity(sq, i, j, k, w)),
    (checks.check_parent_gradients, parent_gradients_student),
]


@pytest.mark.parametrize("check, solution", CORRECT, ids=[c.__name__ for c, _ in CORRECT])
def test_an_independent_correct_solution_passes(check, solution, capsys) -> None:
    assert check(solution) is True
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize("mining, flags", [("all", {}), ("semihard", {"semihard": True}), ("hardest", None)])
def test_every_triplet_mining_accepts_a_correct_solution(mining, flags) -> None:
    solution = triplet_student if flags is None else functools.partial(triplet_enumerated_student, **flags)
    assert checks.check_triplet(solution, mining=mining)


def test_a_list_of_points_is_accepted() -> None:
    def as_list(a, b, n, normalize):
        points = expand_student(a, b, n, normalize)
        return list(points) if n > 0 else points

    assert checks.check_expand(as_list)


def test_the_loss_checks_say_they_compared_gradients(capsys) -> None:
    checks.check_contrastive(contrastive_student)
    assert "(values and gradients)" in capsys.readouterr().out


WRONG = [
    (checks.check_contrastive, lambda e, y, margin=1.0: contrastive_student(e, y, margin, half=1.0), "did you halve"),
    (checks.check_contrastive, lambda e, y, margin=1.0: contrastive_student(e, y, margin, ordered=True), "count each pair twice"),
    (checks.check_contrastive, lambda e, y, margin=1.0: contrastive_student(e, y, margin, power=1), "D instead of D²"),
    (checks.check_contrastive, lambda e, y, margin=1.0: contrastive_student(e, y, margin, hinge=False), "forgot the hinge"),
    (checks.check_contrastive, lambda e, y, margin=1.0: contrastive_student(e, y, margin, on_squared=True), "not with D²"),
    (checks.check_contrastive, contrastive_per_kind, "separately"),
    (checks.check_contrastive, contrastive_whole_matrix, "diagonal included"),
    (checks.check_triplet, lambda e, y, margin=0.2: triplet_student(e, y, margin, squared=True), "squared distances"),
    (checks.check_triplet, lambda e, y, margin=0.2: triplet_student(e, y, margin, hinge=False), "forgot the hinge"),
    (checks.check_triplet, lambda e, y, margin=0.2: triplet_student(e, y, margin, all_anchors=True), "all anchors"),
    (checks.check_triplet, lambda e, y, margin=0.2: triplet_student(e, y, margin, closest_positive=True), "*farthest*"),
    (checks.check_npair, lambda e, y: npair_student(e, y, distances=True), "not negative distances"),
    (checks.check_npair, lambda e, y: npair_student(e, y, normalise=True), "do not normalise"),
    (checks.check_npair, lambda e, y: npair_student(e, y, interleaved=True), "batch may be shuffled"),
    (checks.check_npair, lambda e, y: npair_student(e, y, summed=True), "summed"),
    (checks.check_lifted, lambda e, y, margin=1.0: lifted_student(e, y, margin, ordered=True), "twice the reference"),
    (checks.check_lifted, lambda e, y, margin=1.0: lifted_student(e, y, margin, only_i=True), "both ends"),
    (checks.check_lifted, lambda e, y, margin=1.0: lifted_student(e, y, margin, power=1), "square the hinge"),
    (checks.check_lifted, lambda e, y, margin=1.0: lifted_student(e, y, margin, hinge=False), "forgot the hinge"),
    (checks.check_multi_similarity, lambda e, y, **p: ms_loss_student(e, y, **p, mine=False), "skipped the mining"),
    (checks.check_multi_similarity, lambda e, y, **p: ms_loss_student(e, y, **p, swap=True), "swapped"),
    (checks.check_multi_similarity, lambda e, y, **p: ms_loss_student(e, y, **p, summed=True), "summed"),
    (checks.check_ms_mining, lambda s, y, eps: ms_mining_student(s, y, eps, diagonal=True), "diagonal"),
    (checks.check_ms_mining, lambda s, y, eps: ms_mining_student(s, y, eps, inclusive=True), "strict"),
    (checks.check_ms_mining, lambda s, y, eps: ms_mining_student(s, y, eps, swapped_extremes=True), "*weakest*"),
    (checks.check_pair_counts, lambda c, k: counts_student(c, k, half_triplets=True), "ordered"),
    (checks.check_pair_counts, lambda c, k: counts_student(c, k, anchor_is_positive=True), "a ≠ p"),
    (checks.check_pair_counts, lambda c, k: counts_student(c, k, ordered_pos=True), "one positive pair"),
    (checks.check_pair_counts, lambda c, k: counts_student(c, k, ordered_neg=True), "one negative pair"),
    (checks.check_expand, lambda a, b, n, normalize: expand_student(a, b, n, normalize, never_normalise=True), "did you normalise"),
    (checks.check_expand, lambda a, b, n, normalize: expand_student(a, b, n, normalize, always_normalise=True), "only when"),
    (checks.check_expand, lambda a, b, n, normalize: expand_student(a, b, n, normalize, reverse=True), "towards x_j"),
    (checks.check_expand, lambda a, b, n, normalize: expand_student(a, b, n, normalize, weights="endpoints"), "not including the endpoints"),
    (checks.check_expand, lambda a, b, n, normalize: expand_student(a, b, n, normalize, weights="k/n"), "k/n"),
    (checks.check_expanded_distances, lambda sq, i, j, k, w: _gram_identity(sq, i, j, k, w, sign=1.0), "sign of the D²_ij term"),
    (checks.check_expanded_distances, lambda sq, i, j, k, w: _gram_identity(sq, i, j, k, w).sqrt(), "square root"),
    (checks.check_expanded_distances, lambda sq, i, j, k, w: (1 - w) ** 2 * sq[i, k] + w**2 * sq[j, k], "cross term"),
    (checks.check_parent_gradients, functools.partial(parent_gradients_student, swap=True), "1 − w"),
    (checks.check_parent_gradients, functools.partial(parent_gradients_student, project=False, divide=False),
     "straight through"),
    (checks.check_parent_gradients, functools.partial(parent_gradients_student, project=False), "radial part"),
    (checks.check_parent_gradients, functools.partial(parent_gradients_student, divide=False), "divide by ‖x̄‖"),
    (checks.check_parent_gradients,
     lambda a, b, w, g, normalize: parent_gradients_student(a, b, w, g, True), "identity"),
]


@pytest.mark.parametrize("check, wrong, hint", WRONG, ids=[f"{c.__name__}-{h}" for c, _, h in WRONG])
def test_typical_mistake_is_caught_with_its_hint(check, wrong, hint) -> None:
    with pytest.raises(AssertionError) as error:
        check(wrong)
    message = str(error.value)
    assert "case '" in message and ("expected" in message or "differ" in message)
    assert hint in message.split("Hint:")[-1], message


SEMIHARD_AND_ALL = [
    ("semihard", dict(semihard=True, upper_exclusive=True), "exactly at the margin"),
    ("semihard", dict(semihard=True, lower_inclusive=True), "exactly as far as the positive"),
    ("semihard", dict(), "select the semi-hard ones"),
    ("all", dict(nonzero_only=True), "positive loss"),
]


@pytest.mark.parametrize("mining, flags, hint", SEMIHARD_AND_ALL, ids=[h for _, _, h in SEMIHARD_AND_ALL])
def test_triplet_mining_boundaries_are_caught(mining, flags, hint) -> None:
    student = lambda e, y, margin=0.2: triplet_enumerated_student(e, y, margin, **flags)  # noqa: E731
    with pytest.raises(AssertionError) as error:
        checks.check_triplet(student, mining=mining)
    assert hint in str(error.value).split("Hint:")[-1], str(error.value)


def test_the_enumerated_student_triplet_is_right_when_written_right() -> None:
    """The loop version above is a correct solution when no mistake is switched on."""
    assert checks.check_triplet(lambda e, y, margin=0.2: triplet_enumerated_student(e, y, margin, semihard=True),
                                mining="semihard")


def test_the_margin_tie_is_what_catches_an_exclusive_margin() -> None:
    student = lambda e, y, margin=0.2: triplet_enumerated_student(e, y, margin, semihard=True, upper_exclusive=True)  # noqa: E731
    with pytest.raises(AssertionError, match="exactly at the margin \\(margin=1\\)"):
        checks.check_triplet(student, mining="semihard")


def test_an_order_dependent_solution_is_caught_on_the_permuted_batch() -> None:
    # Right on a batch ordered a0, p0, a1, p1, ... (the first case), wrong once it is permuted.
    with pytest.raises(AssertionError, match="case 'the same batch, permuted"):
        checks.check_npair(lambda e, y: npair_student(e, y, interleaved=True))


def test_an_exception_in_student_code_is_reported_with_the_case() -> None:
    def broken(e, y, margin=1.0):
        raise RuntimeError("shape mismatch")

    with pytest.raises(AssertionError, match="case 'random unit-norm batch'.*raised RuntimeError: shape mismatch"):
        checks.check_contrastive(broken)


def test_an_exception_in_a_non_loss_check_is_reported_too() -> None:
    with pytest.raises(AssertionError, match="n=1.*raised ZeroDivisionError"):
        checks.check_expand(lambda a, b, n, normalize: 1 / 0)


@pytest.mark.parametrize("check, result, message", [
    (checks.check_contrastive, lambda e, y, margin=1.0: torch.zeros(3), "single number"),
    (checks.check_contrastive, lambda e, y, margin=1.0: None, "a number is expected"),
    (checks.check_ms_mining, lambda s, y, eps: s > 0, "two boolean masks"),
    (checks.check_pair_counts, lambda c, k: [1, 2, 3], "a dict"),
    (checks.check_expand, lambda a, b, n, normalize: None, "tensor of points"),
])
def test_a_result_of_the_wrong_type_is_explained(check, result, message) -> None:
    with pytest.raises(AssertionError, match=message):
        check(result)


def test_a_missing_key_is_named() -> None:
    with pytest.raises(AssertionError, match="triplets: expected 8, got no such key"):
        checks.check_pair_counts(lambda c, k: {"positive_pairs": c * k * (k - 1) // 2,
                                               "negative_pairs": (c * k) * (c * k - 1) // 2 - c * k * (k - 1) // 2})


def test_an_unknown_mining_is_refused() -> None:
    with pytest.raises(ValueError, match="mining"):
        checks.check_triplet(lambda e, y, margin=0.2: 0.0, mining="easy")


# --- check_independent, for hidden tests ---------------------------------------------------


def calls_the_reference(e, y, margin=1.0):
    return contrastive_loss(e, y, margin=margin)


def calls_it_through_the_module(e, y, margin=1.0):
    return eelib.losses.contrastive_loss(e, y, margin=margin)


def hides_it_in_a_helper(e, y, margin=1.0):
    return calls_the_reference(e, y, margin)


@pytest.mark.parametrize("fn", [calls_the_reference, calls_it_through_the_module, hides_it_in_a_helper])
def test_check_independent_catches_a_call_to_eelib(fn) -> None:
    with pytest.raises(AssertionError, match="from eelib"):
        checks.check_independent(fn)


def test_check_independent_accepts_own_code_and_refuses_non_functions() -> None:
    assert checks.check_independent(contrastive_student)
    assert checks.check_independent(ms_loss_student)  # calls another function of this module
    with pytest.raises(TypeError, match="fn must be a Python function"):
        checks.check_independent(len)


# --- own work: a solution that runs eelib is refused by the self-check itself -------------

def _by_name(e, y, margin=1.0):
    return getattr(__import__("eelib").losses, "contrastive_" + "loss")(e, y, margin=margin)


REFUSED = [
    ("the reference itself", contrastive_loss),
    ("an assignment my_loss = contrastive_loss, wrapped", lambda e, y, margin=1.0: contrastive_loss(e, y, margin=margin)),
    ("through the module", calls_it_through_the_module),
    ("in a helper", hides_it_in_a_helper),
    ("a functools.partial", functools.partial(contrastive_loss)),
    ("looked up by a computed name", _by_name),
    ("eelib's loop oracle", lambda e, y, margin=1.0: oracles.contrastive_loss_loops(e, y, margin)),
]


@pytest.mark.parametrize("solution", [s for _, s in REFUSED], ids=[n for n, _ in REFUSED])
def test_a_solution_that_runs_eelib_is_refused(solution) -> None:
    with pytest.raises(AssertionError, match="uses eelib .*Write the computation yourself") as error:
        checks.check_contrastive(solution)
    assert "✓" not in str(error.value)


def test_the_refusal_names_what_ran() -> None:
    with pytest.raises(AssertionError, match=r"eelib\.losses\.contrastive\.contrastive_loss"):
        checks.check_contrastive(_by_name)
    with pytest.raises(AssertionError, match=r"uses eelib \(oracles from eelib\.oracles\)"):
        checks.check_contrastive(lambda e, y, margin=1.0: oracles.contrastive_loss_loops(e, y, margin))


def test_every_check_refuses_eelib() -> None:
    points_of = lambda a, b, n, normalize: expand(torch.stack([a, b]), torch.zeros(2, dtype=torch.long),  # noqa: E731
                                                  n_synthetic=n, normalize_synthetic=normalize).embeddings[2:]
    for check, cheat in [(checks.check_expand, points_of),
                         (checks.check_ms_mining, checks.reference_ms_mining),
                         (checks.check_pair_counts, checks.reference_pair_counts),
                         (checks.check_npair, lambda e, y: eelib.losses.npair_loss(e, y))]:
        with pytest.raises(AssertionError, match="uses eelib"):
            check(cheat)


def test_an_attribute_named_like_an_eelib_global_is_not_a_reference() -> None:
    # A notebook that did `from eelib import expand` may still call the tensor method x.expand.
    namespace = {"torch": torch, "expand": expand}
    exec("def my_counts(c, k):\n"
         "    n = torch.tensor(c * k).expand(1)\n"
         "    pos = c * k * (k - 1) // 2\n"
         "    return {'positive_pairs': pos, 'negative_pairs': int(n[0]) * (int(n[0]) - 1) // 2 - pos,\n"
         "            'triplets': int(n[0]) * (k - 1) * (int(n[0]) - k)}\n", namespace)
    assert checks.check_pair_counts(namespace["my_counts"])
    assert checks.check_independent(namespace["my_counts"])


def test_autograd_is_refused_where_the_gradient_is_the_exercise() -> None:
    def by_autograd(x_i, x_j, w, g, normalize):
        a, b = x_i.clone().requires_grad_(), x_j.clone().requires_grad_()
        s = (1 - w) * a + w * b
        s = F.normalize(s, dim=0) if normalize else s
        s.backward(g)
        return a.grad, b.grad

    with pytest.raises(AssertionError, match="calls autograd .*Derive the gradient by hand"):
        checks.check_parent_gradients(by_autograd)


def test_the_watch_is_removed_after_a_check() -> None:
    import sys

    checks.check_contrastive(contrastive_student)
    with pytest.raises(AssertionError):
        checks.check_contrastive(contrastive_loss)
    assert sys.getprofile() is None


# --- gradients: a graph, finite, equal to the reference's -------------------------------

def without_graph(e, y, margin=1.0):
    return contrastive_student(e, y, margin).item()


def rebuilt_as_new_tensor(e, y, margin=1.0):
    return torch.tensor(contrastive_student(e, y, margin).item())


def root_of_squares(e, y, margin=1.0):
    """Distances as √(Σ diff²): right values, NaN gradients (the diagonal is a zero distance)."""
    d = ((e[:, None] - e[None, :]) ** 2).sum(-1).sqrt()
    pos, neg = _masks(y)
    terms = torch.where(pos, 0.5 * d**2, 0.5 * torch.relu(margin - d) ** 2)
    return terms[_upper(y)].mean()


def detached_negatives(e, y, margin=1.0):
    d = torch.cdist(e, e)
    pos, neg = _masks(y)
    terms = torch.where(pos, 0.5 * d**2, 0.5 * torch.relu(margin - d.detach()) ** 2)
    return terms[_upper(y)].mean()


def zero_without_graph_for_one_class(e, y, margin=0.2):
    if len(torch.unique(y)) == 1:
        return torch.tensor(0.0, dtype=e.dtype)
    return triplet_student(e, y, margin)


@pytest.mark.parametrize("check, solution, hint", [
    (checks.check_contrastive, without_graph, "no autograd graph"),
    (checks.check_contrastive, rebuilt_as_new_tensor, "no autograd graph"),
    (checks.check_triplet, zero_without_graph_for_one_class, "embeddings.sum() * 0"),
    (checks.check_contrastive, root_of_squares, "√ at zero distance"),
    (checks.check_contrastive, detached_negatives, "cut from the graph"),
    (checks.check_expand, lambda a, b, n, normalize: expand_student(a, b, n, normalize).detach(), "no autograd graph"),
    (checks.check_expanded_distances, lambda sq, i, j, k, w: _gram_identity(sq.detach(), i, j, k, w), ".detach()"),
    (checks.check_expanded_distances, lambda sq, i, j, k, w: _gram_identity(sq, i, j, k, w).item(), ".item()"),
    (checks.check_expanded_distances,
     lambda sq, i, j, k, w: (1 - w) * sq[i, k] + w * sq[j, k] - w * (1 - w) * sq[i, j].item(), "cut from the graph"),
], ids=["float", "torch.tensor", "zero for one class", "sqrt at zero", "detached term", "detached points",
        "detached Gram identity", "Gram identity as a number", "one Gram term a number"])
def test_gradient_mistakes_are_caught_with_their_hint(check, solution, hint) -> None:
    with pytest.raises(AssertionError) as error:
        check(solution)
    assert hint in str(error.value).split("Hint:")[-1], str(error.value)


def test_the_nan_gradient_is_caught_even_where_the_value_is_checked_first() -> None:
    # Every value agrees (√ is right away from zero): only the gradient tells.
    with pytest.raises(AssertionError, match="(?s)case 'random unit-norm batch'.*not finite"):
        checks.check_contrastive(root_of_squares)


def test_a_solution_with_a_clamped_root_passes() -> None:
    def clamped(e, y, margin=1.0):
        d = ((e[:, None] - e[None, :]) ** 2).sum(-1).clamp_min(1e-12).sqrt()
        pos, neg = _masks(y)
        terms = torch.where(pos, 0.5 * d**2, 0.5 * torch.relu(margin - d) ** 2)
        return terms[_upper(y)].mean()

    assert checks.check_contrastive(clamped)
    assert math.isfinite(float(clamped(torch.zeros(3, 2), torch.tensor([0, 0, 1]))))


def test_pytorch_metric_learning_is_refused_too() -> None:
    pml = pytest.importorskip("pytorch_metric_learning.losses")
    lifted = pml.LiftedStructureLoss(neg_margin=1.0, pos_margin=0.0)
    with pytest.raises(AssertionError, match="uses pytorch-metric-learning"):
        checks.check_lifted(lambda e, y, margin=1.0: lifted(e, y))


def test_the_gram_identity_reference_is_the_distance_to_the_point_built_explicitly() -> None:
    generator = torch.Generator().manual_seed(11)
    x = torch.randn(7, 5, generator=generator, dtype=torch.float64)
    sq = torch.cdist(x, x) ** 2
    for i, j, k in ((0, 1, 2), (3, 3, 5), (4, 6, 4), (2, 5, 1)):
        for w in (0.0, 0.2, 0.5, 0.9, 1.0):
            point = (1 - w) * x[i] + w * x[j]
            assert float(checks.synthetic_distance_reference(sq, i, j, k, w)) == pytest.approx(
                float((point - x[k]).pow(2).sum()), rel=1e-12, abs=1e-12)


def test_the_gram_check_accepts_either_order_of_a_symmetric_entry() -> None:
    assert checks.check_expanded_distances(
        lambda sq, i, j, k, w: (1 - w) * sq[k, i] + w * sq[j, k] - w * (1 - w) * sq[j, i])


@pytest.mark.parametrize("check, wrong, answer", [
    (checks.check_pair_counts, lambda c, k: {"positive_pairs": 0, "negative_pairs": 0, "triplets": 0},
     ["(K−1)", "(K − 1)", "N(N", "N·"]),
    (checks.check_expanded_distances, lambda sq, i, j, k, w: sq[i, k] + 0 * w, ["w(1−w)D²_ij", "w(1 − w)D²_ij"]),
    (checks.check_expanded_distances, lambda sq, i, j, k, w: _gram_identity(sq, i, j, k, w, sign=1.0),
     ["w(1−w)D²_ij", "− w(1−w)"]),
    (checks.check_parent_gradients, lambda a, b, w, g, normalize: (0 * a, 0 * b), ["I − s sᵀ", "(I − ss"]),
], ids=["counts", "gram, no known mistake", "gram, sign", "parents"])
def test_hints_of_derivation_exercises_do_not_state_the_formula(check, wrong, answer) -> None:
    with pytest.raises(AssertionError) as error:
        check(wrong)
    hint = str(error.value).split("Hint:")[-1]
    assert hint.strip() and not any(piece in hint for piece in answer), hint
