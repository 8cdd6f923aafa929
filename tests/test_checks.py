"""The exercise self-checks accept the reference and catch typical mistakes with the right hint."""

from __future__ import annotations

import pytest
import torch

from eelib import checks
from eelib.checks import _contrastive_variant, _lifted_unsquared, _npair_with_distances, _triplet_hardest_variant
from eelib.expansion import expand
from eelib.losses import contrastive_loss, lifted_structure_loss, multi_similarity_loss, npair_loss, triplet_loss


def _expand_pair(x_i, x_j, n, normalize):
    return expand(torch.stack([x_i, x_j]), torch.zeros(2, dtype=torch.long), n, normalize=normalize).embeddings[2:]


REFERENCES = [
    (checks.check_contrastive, lambda e, y, margin=1.0: contrastive_loss(e, y, margin=margin)),
    (checks.check_triplet, lambda e, y, margin=0.2: triplet_loss(e, y, margin=margin, mining="hardest")),
    (checks.check_npair, lambda e, y: npair_loss(e, y)),
    (checks.check_lifted, lambda e, y, margin=1.0: lifted_structure_loss(e, y, margin=margin)),
    (checks.check_multi_similarity, lambda e, y, **p: multi_similarity_loss(e, y, **p)),
    (checks.check_ms_mining, checks.reference_ms_mining),
    (checks.check_pair_counts, checks.reference_pair_counts),
    (checks.check_expand, _expand_pair),
    (checks.check_expanded_distances, lambda sq, i, j, k, w: (1 - w) * sq[i, k] + w * sq[j, k] - w * (1 - w) * sq[i, j]),
]


@pytest.mark.parametrize("check, reference", REFERENCES, ids=lambda v: getattr(v, "__name__", ""))
def test_reference_passes(check, reference, capsys) -> None:
    assert check(reference) is True
    assert "✓" in capsys.readouterr().out


def test_triplet_modes_accept_their_reference() -> None:
    for mining in ("all", "semihard"):
        assert checks.check_triplet(lambda e, y, margin=0.2, m=mining: triplet_loss(e, y, margin=margin, mining=m), mining=mining)


def _mean_over_ordered_pairs(sim, y, eps):
    keep_pos, keep_neg = checks.reference_ms_mining(sim, y, eps)
    return keep_pos | torch.eye(len(y), dtype=torch.bool), keep_neg


WRONG = [
    (checks.check_contrastive, lambda e, y, margin=1.0: _contrastive_variant(e, y, margin, halve=False), "halve"),
    (checks.check_contrastive, lambda e, y, margin=1.0: _contrastive_variant(e, y, margin, square=False), "D²"),
    (checks.check_contrastive, lambda e, y, margin=1.0: _contrastive_variant(e, y, margin, per_kind=True), "separately"),
    (checks.check_contrastive, lambda e, y, margin=1.0: _contrastive_variant(e, y, margin, diagonal=True), "diagonal"),
    (checks.check_triplet, lambda e, y, margin=0.2: _triplet_hardest_variant(e, y, margin, squared=True), "squared"),
    (checks.check_triplet, lambda e, y, margin=0.2: _triplet_hardest_variant(e, y, margin, hinge=False), "hinge"),
    (checks.check_triplet, lambda e, y, margin=0.2: _triplet_hardest_variant(e, y, margin, all_anchors=True), "all anchors"),
    (checks.check_triplet, lambda e, y, margin=0.2: _triplet_hardest_variant(e, y, margin, min_positive=True), "farthest"),
    (checks.check_npair, _npair_with_distances, "inner products"),
    (checks.check_npair, lambda e, y: npair_loss(e, y) * (len(y) // 2), "sum"),
    (checks.check_lifted, lambda e, y, margin=1.0: _lifted_unsquared(e, y, margin), "square"),
    (checks.check_multi_similarity, lambda e, y, **p: multi_similarity_loss(e, y, **{**p, "epsilon": 1e6}), "mining"),
    (checks.check_ms_mining, _mean_over_ordered_pairs, "diagonal"),
    (checks.check_pair_counts, lambda c, k: {**checks.reference_pair_counts(c, k), "triplets": checks.reference_pair_counts(c, k)["triplets"] // 2}, "ordered"),
    (checks.check_expand, lambda a, b, n, normalize: _expand_pair(a, b, n, False), "norm"),
    (checks.check_expand, lambda a, b, n, normalize: _expand_pair(a, b, n, normalize).flip(0), "order"),
    (checks.check_expand, lambda a, b, n, normalize: torch.stack([a + k / (n + 2) * (b - a) for k in range(n + 2)]), "endpoints"),
    (checks.check_expanded_distances, lambda sq, i, j, k, w: (1 - w) * sq[i, k] + w * sq[j, k] + w * (1 - w) * sq[i, j], "minus sign"),
]


@pytest.mark.parametrize("check, wrong, hint", WRONG, ids=[f"{c.__name__}-{h}" for c, _, h in WRONG])
def test_typical_mistake_is_caught_with_its_hint(check, wrong, hint) -> None:
    with pytest.raises(AssertionError) as error:
        check(wrong)
    message = str(error.value)
    assert any(word in message for word in ("expected", "differ"))
    assert hint in message.split("Hint:")[-1]


def test_an_exception_in_student_code_is_reported_with_the_case() -> None:
    def broken(e, y, margin=1.0):
        raise RuntimeError("shape mismatch")

    with pytest.raises(AssertionError, match="raised RuntimeError: shape mismatch"):
        checks.check_contrastive(broken)


def test_a_non_scalar_result_is_explained() -> None:
    with pytest.raises(AssertionError, match="single number"):
        checks.check_contrastive(lambda e, y, margin=1.0: torch.zeros(3))
