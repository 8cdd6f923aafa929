"""Pair masks and EE's hard negative pair mining (HNPM).

Every loss in :mod:`eelib.losses` starts from :func:`pair_matrices`: a B × B matrix
for positive pairs (always between originals) and one for negative pairs. Without EE
the two are the same matrix. With EE (``n_synthetic > 0``) the negative matrix is mined:

    D̃(i, k) = min over a ∈ E(i), b ∈ E(k) of D(a, b),

where the expanded set E(i) holds original i and the synthetic points on its segments
(:func:`eelib.expansion.expanded_sets`). Inner-product losses take the maximum of
``a · b`` instead. This is Ko & Gu's HNPM (Fig. 1: keep the closest pair between two
classes' original and synthetic points) applied to every negative pair of originals.
For batch-hard triplet it reproduces the official code exactly; for the other losses
the paper's per-loss form is unverified (docs/paper.md §1.6) and this rule is our choice.
Because ``x_i ∈ E(i)``, a mined negative is never farther than the original one,
``D̃(i, k) ≤ D(i, k)``: every loss that only grows as a negative comes closer (contrastive,
all and hardest triplet, N-pair, lifted, MS) can only grow with EE. Semi-hard triplet mining
is the exception: a negative that EE makes hard leaves the semi-hard band and is no longer
counted, so EE can lower that loss.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal, NamedTuple

import torch
from torch import Tensor

from eelib._validation import (
    needs_memory_check,
    validate_batch,
    validate_choice,
    validate_flag,
    validate_memory,
    validate_n_synthetic,
)
from eelib.distances import squared_distances_from_gram
from eelib.expansion import (
    Provenance,
    count_pairs,
    expanded_inner_products,
    expanded_sets,
    pair_within_classes,
    synthetic_provenance,
)

Measure = Literal["squared_distance", "inner_product"]
MEASURES = ("squared_distance", "inner_product")


class PairMatrices(NamedTuple):
    """Everything a pair loss needs about one batch: the seam through which EE reaches every loss.

    Attributes
    ----------
    positive : Tensor, shape (B, B)
        Measure between originals; read it on positive pairs.
    negative : Tensor, shape (B, B)
        Measure for negative pairs: the same matrix as ``positive`` when ``mined`` is
        false, the hardest pair between expanded sets when it is true. Read it on
        negative pairs only.
    same_label : Tensor of bool, shape (B, B)
        Positive pairs ``i ≠ j`` with ``y_i = y_j`` (diagonal excluded).
    different_label : Tensor of bool, shape (B, B)
        Negative pairs ``y_i ≠ y_k``.
    mined : bool
        Whether ``negative`` was mined over EE's expanded sets (``n_synthetic > 0``).
    """

    positive: Tensor
    negative: Tensor
    same_label: Tensor
    different_label: Tensor
    mined: bool


def label_masks(labels: Tensor) -> tuple[Tensor, Tensor]:
    """Boolean masks of positive pairs (diagonal excluded) and negative pairs."""
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(labels.shape[0], dtype=torch.bool, device=labels.device)
    return same & ~eye, ~same


def _reduce_over_sets(matrix: Tensor, sets: Tensor, measure: Measure) -> Tensor:
    """Hardest entry of ``matrix`` over ``sets[i] × sets[k]`` for every (i, k).

    ``index_select`` rather than ``matrix[sets]``: its backward is an ``index_add``, cheaper
    than the accumulating ``index_put`` of advanced indexing (measured in benchmarks/README.md).
    """
    n_sets, width = sets.shape
    flat = sets.reshape(-1)
    # min/max with indices: their backward scatters into the one selected entry, cheaper
    # than amin/amax's, which compares the whole input again to share ties.
    pick = torch.min if measure == "squared_distance" else torch.max
    rows = pick(matrix.index_select(0, flat).view(n_sets, width, -1), dim=1).values
    return pick(rows.index_select(1, flat).view(n_sets, n_sets, width), dim=2).values


def pair_matrices(
    embeddings: Tensor,
    labels: Tensor,
    *,
    n_synthetic: int,
    normalize_synthetic: bool,
    measure: Measure,
) -> PairMatrices:
    """Validate a batch and build its positive and (mined) negative matrices.

    Parameters
    ----------
    embeddings : Tensor, shape (B, D)
    labels : Tensor of int, shape (B,)
    n_synthetic : int
        EE's synthetic points per pair; 0 disables EE.
    normalize_synthetic : bool
        L2-normalise synthetic points (EE's default).
    measure : {"squared_distance", "inner_product"}
        What the matrices hold. Mining takes the minimum of squared distances or the
        maximum of inner products.

    Returns
    -------
    PairMatrices
    """
    validate_batch(embeddings, labels)
    n_synthetic, normalize_synthetic = validate_expansion(embeddings, labels, n_synthetic, normalize_synthetic)
    measure = validate_choice("measure", measure, MEASURES)
    return build_pair_matrices(embeddings, labels, n_synthetic=n_synthetic,
                               normalize_synthetic=normalize_synthetic, measure=measure)


def build_pair_matrices(
    embeddings: Tensor,
    labels: Tensor,
    *,
    n_synthetic: int,
    normalize_synthetic: bool,
    measure: Measure,
) -> PairMatrices:
    """:func:`pair_matrices` without the input checks, for a caller that has made them.

    A loss that must check its batch's layout before anything else (N-pair's pairs) calls
    :func:`eelib._validation.validate_batch` and :func:`validate_expansion` itself, then this.
    """
    gram = embeddings @ embeddings.T
    positive = squared_distances_from_gram(gram) if measure == "squared_distance" else gram
    same_label, different_label = label_masks(labels)
    if n_synthetic == 0:
        return PairMatrices(positive, positive, same_label, different_label, mined=False)
    provenance, sets = expansion_plan(labels, n_synthetic)
    expanded = expanded_inner_products(gram, provenance, normalize=normalize_synthetic)
    if measure == "squared_distance":
        expanded = squared_distances_from_gram(expanded)
    negative = _reduce_over_sets(expanded, sets, measure)
    return PairMatrices(positive, negative, same_label, different_label, mined=True)


def expansion_plan(labels: Tensor, n_synthetic: int) -> tuple[Provenance, Tensor]:
    """Provenance and expanded sets for a label layout, cached per layout.

    Pairing (and so everything here) depends only on which positions share a label, not on
    the label values or the embeddings. The labels are therefore replaced by canonical ids
    (0 for the first class to appear, 1 for the next, ...) and the plan is cached for that
    pattern: a P × K sampler writes the same block pattern in every batch, so a training
    run computes it once. The returned ``provenance.labels`` hold the canonical ids.
    """
    canonical: dict[int, int] = {}
    pattern = tuple(canonical.setdefault(label, len(canonical)) for label in labels.tolist())
    try:
        return _expansion_plan(pattern, n_synthetic, labels.device)
    except ValueError:
        # The plan sees canonical ids; pair the caller's labels so that the error names them.
        pair_within_classes(labels)
        raise


@lru_cache(maxsize=128)
def _expansion_plan(labels: tuple[int, ...], n_synthetic: int, device: torch.device) -> tuple[Provenance, Tensor]:
    label_tensor = torch.tensor(labels, dtype=torch.long, device=device)
    provenance = synthetic_provenance(label_tensor, n_synthetic)
    return provenance, expanded_sets(provenance, len(labels))


# --- the boundary: EE's arguments and the memory they imply -------------------------------


def pair_matrices_bytes(batch: int, n_synthetic: int, n_pairs: int, itemsize: int, pairs_per_sample: int = 2) -> int:
    """Estimated peak memory (bytes) of :func:`build_pair_matrices` plus the backward it records.

    The estimate follows the largest allocations: a few B × B matrices (Gram, distances,
    masks), and with EE the N × N expanded matrix (``N = B + n · P``) and the
    ``(B · L) × N`` rows gathered for mining over expanded sets of width ``L = 1 + n`` (or
    ``1 + 2n`` when a sample is in two pairs). Measured peak RSS of forward + backward
    (float32, 2026-11-30; the estimate is ``10 B²`` values without EE and ``3.5 (N² + B L N)``
    more with it): batch-hard triplet B = 8, n = 600: 120 to 209 MiB from run to run
    (estimate 232); B = 8, n = 2000: 1.47 GiB (2.5); B = 128, n = 100, any distance loss:
    0.99 GiB (1.7), MS and N-pair 0.83 GiB; contrastive B = 4000 without EE: 444 MiB (610).
    Update it with the code it describes (tests/test_validation.py checks it against a
    measurement).

    Parameters
    ----------
    batch : int
        B.
    n_synthetic : int
        n; 0 without EE.
    n_pairs : int
        P, the pairs :func:`eelib.expansion.pair_within_classes` forms (at most B).
    itemsize : int
        Bytes per value of the embeddings' dtype.
    pairs_per_sample : int, default 2
        The most pairs one sample is in (1 when every class has an even size); 2 is the bound.
    """
    values = 10 * batch * batch
    if n_synthetic:
        expanded = batch + n_synthetic * n_pairs
        width = 1 + pairs_per_sample * n_synthetic
        values += 7 * expanded * (expanded + batch * width) // 2
    return values * itemsize


def validate_expansion(embeddings: Tensor, labels: Tensor, n_synthetic: object,
                       normalize_synthetic: object) -> tuple[int, bool]:
    """Check EE's two arguments and refuse a batch whose pair matrices would not fit in memory.

    Called after :func:`eelib._validation.validate_batch`. The memory estimate
    (:func:`pair_matrices_bytes`) is made before anything is allocated, with an upper
    bound on the number of pairs first (no work on labels), and against the limit of
    :func:`eelib._validation.memory_limit_bytes`.

    Returns
    -------
    n_synthetic : int
    normalize_synthetic : bool
    """
    n_synthetic = validate_n_synthetic(n_synthetic)
    normalize_synthetic = validate_flag("normalize_synthetic", normalize_synthetic)
    batch, itemsize = labels.shape[0], embeddings.element_size()
    estimate = pair_matrices_bytes(batch, n_synthetic, batch, itemsize)  # P <= B
    if needs_memory_check(estimate):
        if n_synthetic:
            n_pairs, pairs_per_sample = count_pairs(labels)
            estimate = pair_matrices_bytes(batch, n_synthetic, n_pairs, itemsize, pairs_per_sample)
            what = f"n_synthetic={n_synthetic} with a batch of {batch} ({batch + n_synthetic * n_pairs} expanded rows)"
        else:
            what = f"a batch of {batch} embeddings"
        validate_memory(what, estimate, embeddings.device)
    return n_synthetic, normalize_synthetic

