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

:func:`hardest_pair_matrix` computes D̃ from the B × B Gram matrix alone, segment by segment,
without forming the expanded batch's N × N matrix (see the comment above it); its result and
gradients equal the reduction of that matrix over the expanded sets (tests/test_hardest_pairs.py).
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Literal, NamedTuple

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from eelib._validation import (
    check_on_device,
    validate_batch,
    validate_choice,
    validate_flag,
    validate_memory,
    validate_n_synthetic,
)
from eelib.distances import squared_distances_from_gram
from eelib.expansion import (
    Provenance,
    class_runs,
    expanded_sets,
    pair_within_classes,
    single_instance_message,
    synthetic_coefficients,
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
    position : Tensor of int64, shape (B,), or None
        ``None`` when row ``i`` of every matrix is original ``i`` (batch order). Otherwise
        the matrices are in EE's segment layout order (``batch_order=False``) and original
        ``i`` is row ``position[i]``.
    """

    positive: Tensor
    negative: Tensor
    same_label: Tensor
    different_label: Tensor
    mined: bool
    position: Tensor | None = None


def label_masks(labels: Tensor) -> tuple[Tensor, Tensor]:
    """Boolean masks of positive pairs (diagonal excluded) and negative pairs."""
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(labels.shape[0], dtype=torch.bool, device=labels.device)
    return same & ~eye, ~same


def pair_matrices(
    embeddings: Tensor,
    labels: Tensor,
    *,
    n_synthetic: int,
    normalize_synthetic: bool,
    measure: Measure,
    batch_order: bool = True,
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
    batch_order : bool, default True
        Return EE's matrices in batch order. The mining works in the segment layout's
        order (:func:`segment_layout`); a caller whose result does not depend on the order
        of the batch (every loss) passes ``False`` and skips putting them back, which
        costs four gathers of B × B matrices and their backward.

    Returns
    -------
    PairMatrices
    """
    validate_batch(embeddings, labels)
    n_synthetic, normalize_synthetic = validate_expansion(embeddings, n_synthetic, normalize_synthetic)
    measure = validate_choice("measure", measure, MEASURES)
    batch_order = validate_flag("batch_order", batch_order)
    return build_pair_matrices(embeddings, labels, n_synthetic=n_synthetic,
                               normalize_synthetic=normalize_synthetic, measure=measure, batch_order=batch_order)


def build_pair_matrices(
    embeddings: Tensor,
    labels: Tensor,
    *,
    n_synthetic: int,
    normalize_synthetic: bool,
    measure: Measure,
    batch_order: bool = True,
) -> PairMatrices:
    """:func:`pair_matrices` without the input checks, for a caller that has made them.

    A loss that must check its batch's layout before anything else (N-pair's pairs) calls
    :func:`eelib._validation.validate_batch` and :func:`validate_expansion` itself, then this.
    With EE the embeddings are first gathered into the segment layout's order (B × D
    values), so that the B × B matrices are built in the order the mining needs.
    """
    def measured(gram: Tensor) -> Tensor:
        return squared_distances_from_gram(gram, check_finite=False) if measure == "squared_distance" else gram

    if n_synthetic == 0:
        positive = measured(embeddings @ embeddings.T)
        return PairMatrices(positive, positive, *label_masks(labels), mined=False)
    layout = segment_layout(labels)
    laid_out = embeddings.index_select(0, layout.rows)
    gram = laid_out @ laid_out.T
    positive = measured(gram)
    negative = mine_in_layout(gram, positive, layout.is_segment, n_synthetic=n_synthetic,
                              normalize_synthetic=normalize_synthetic, measure=measure)
    if batch_order:
        def back(matrix: Tensor) -> Tensor:
            return matrix.index_select(0, layout.position).index_select(1, layout.position)
        return PairMatrices(back(positive), back(negative), *label_masks(labels), mined=True)
    batch = labels.shape[0]  # an odd batch's padding row is the last one
    return PairMatrices(positive[:batch, :batch], negative[:batch, :batch],
                        *label_masks(labels.index_select(0, layout.rows[:batch])), mined=True,
                        position=layout.position)


def _label_pattern(labels: Tensor) -> tuple[int, ...]:
    """Labels replaced by canonical ids: 0 for the first class to appear, 1 for the next, ...

    EE's pairing depends only on which positions share a label, so everything derived from
    it is cached per pattern: a P × K sampler writes the same pattern in every batch.
    """
    canonical: dict[int, int] = {}
    return tuple(canonical.setdefault(label, len(canonical)) for label in labels.tolist())


def expansion_plan(labels: Tensor, n_synthetic: int) -> tuple[Provenance, Tensor]:
    """Provenance and expanded sets for a label layout, cached per layout.

    Pairing (and so everything here) depends only on which positions share a label, not on
    the label values or the embeddings (see :func:`_label_pattern`). The returned
    ``provenance.labels`` hold the canonical ids.
    """
    try:
        return _expansion_plan(_label_pattern(labels), n_synthetic, labels.device)
    except ValueError:
        # The plan sees canonical ids; pair the caller's labels so that the error names them.
        pair_within_classes(labels)
        raise


@lru_cache(maxsize=128)
def _expansion_plan(labels: tuple[int, ...], n_synthetic: int, device: torch.device) -> tuple[Provenance, Tensor]:
    label_tensor = torch.tensor(labels, dtype=torch.long, device=device)
    provenance = synthetic_provenance(label_tensor, n_synthetic)
    return provenance, expanded_sets(provenance, len(labels))


# ------------------------------------------------------- hardest pairs, segment by segment
#
# Segment p is the pair of rows (2p, 2p + 1) of the segment layout: the two ends of one of
# EE's segments, and E(i) = {x_i} ∪ S(p(i)), S(p) the n synthetic points of segment p.
# For originals i (of segment p) and k (of segment r) the hardest pair of E(i) × E(k) is
# the best of four candidates, each shared by whole rows or columns of segments:
#
#     base(i, k)          x_i against x_k                     (the B × B matrix itself)
#     row(p, k)           best of S(p) against x_k            (P × B)
#     column(i, r)        best of x_i against S(r)            (B × P)
#     both(p, r)          best of S(p) against S(r)           (P × P)
#
# Every inner product involved is a combination of the 2 × 2 block of G between the
# segments' ends, so nothing of size N × N is formed: work is O((n + 2)² B²) scalars,
# done in blocks of rows that stay in cache. In score form, ⟨a, b⟩ − h_a − h_b with h half
# a point's squared norm for distances, a squared distance is −2 · score, so every
# candidate is a maximum of scores. The backward pass recomputes a block's scores,
# routes each entry's gradient to the single candidate (and the single synthetic point)
# that won, and applies the transposed combinations: only B² entries carry gradient.
# The layout is a permutation of the batch (every original ends at most one segment:
# expansion.py's pairing rule): the pairs of each class first, then the originals without
# a pair, two by two, padded with one repeated row when B is odd. Those last rows form
# no segment: their synthetic points are given the score −∞ (an infinite h), so they never
# win. The layout's shape therefore follows from B alone and is built on the device.

#: Elements (rows × columns) of one block's B-wide working arrays on the CPU: small enough
#: for cache (measured in benchmarks/README.md). On a GPU, ``DEVICE_BLOCK_ELEMENTS``: fewer,
#: larger kernels.
BLOCK_ELEMENTS = 1 << 16
DEVICE_BLOCK_ELEMENTS = 1 << 26


def block_elements(device: torch.device | str) -> int:
    """The block budget on ``device``: :data:`BLOCK_ELEMENTS` on the CPU, else :data:`DEVICE_BLOCK_ELEMENTS`."""
    return BLOCK_ELEMENTS if torch.device(device).type == "cpu" else DEVICE_BLOCK_ELEMENTS


class SegmentLayout(NamedTuple):
    """EE's segments as adjacent row pairs (see the comment above :class:`_HardestPairs`).

    Attributes
    ----------
    rows : Tensor of int64, shape (R,)
        The original held by each layout row, ``R = B`` rounded up to even: a permutation
        of the batch, then the first row again when ``B`` is odd.
    position : Tensor of int64, shape (B,)
        The layout row of each original (the inverse permutation).
    is_segment : Tensor of bool, shape (R / 2,)
        Whether rows (2p, 2p + 1) are the two ends of a segment; false for the originals
        without a pair (and the padding).
    """

    rows: Tensor
    position: Tensor
    is_segment: Tensor


def segment_layout(labels: Tensor) -> SegmentLayout:
    """The segment layout of a batch's labels, built on the device without reading them back.

    Raises
    ------
    ValueError
        If a class has a single instance (on an accelerator: a device-side assertion).
    """
    batch = labels.shape[0]
    runs = class_runs(labels)
    check_on_device((runs.size >= 2).all(), "every class needs at least two samples for Embedding Expansion",
                    lambda: single_instance_message(labels))
    unpaired = (runs.rank == runs.size - 1) & (runs.size % 2 == 1)
    # a stable sort keeps each class's pairs adjacent, and every class has an even number of them
    rows = runs.order[torch.argsort(unpaired.to(torch.uint8), stable=True)]
    layout_rows = torch.arange(batch, device=labels.device)
    position = torch.empty_like(rows).scatter_(0, rows, layout_rows)
    if batch % 2:
        rows = torch.cat([rows, rows[:1]])
    paired_rows = batch - unpaired.sum()
    is_segment = torch.arange(0, rows.shape[0], 2, device=labels.device) < paired_rows
    return SegmentLayout(rows, position, is_segment)


def hardest_pair_matrix(
    gram: Tensor,
    base: Tensor,
    layout: SegmentLayout,
    *,
    n_synthetic: int,
    normalize_synthetic: bool,
    measure: Measure,
) -> Tensor:
    """EE's mined matrix: the hardest pair of E(i) × E(k) for every (i, k).

    Parameters
    ----------
    gram : Tensor, shape (B, B)
        ``X Xᵀ`` of the original batch.
    base : Tensor, shape (B, B)
        The measure between originals: squared distances from ``gram`` or ``gram`` itself.
    layout : SegmentLayout
        From :func:`segment_layout`.
    n_synthetic : int
        Synthetic points per segment (≥ 1).
    normalize_synthetic : bool
        Synthetic points on the unit sphere.
    measure : {"squared_distance", "inner_product"}
        Minimum of squared distances or maximum of inner products.

    Returns
    -------
    Tensor, shape (B, B)
        Equal (up to round-off) to the reduction of the expanded batch's matrix over
        :func:`eelib.expansion.expanded_sets`, with gradients to match.

    Notes
    -----
    Runs the eager, blocked kernel, or the compiled one after :func:`use_compiled_mining`
    (for ``n_synthetic`` up to :data:`COMPILED_MAX_SYNTHETIC`).
    """
    gram = gram.index_select(0, layout.rows).index_select(1, layout.rows)
    base = base.index_select(0, layout.rows).index_select(1, layout.rows)
    mined = mine_in_layout(gram, base, layout.is_segment, n_synthetic=n_synthetic,
                           normalize_synthetic=normalize_synthetic, measure=measure)
    return mined.index_select(0, layout.position).index_select(1, layout.position)


def mine_in_layout(
    gram: Tensor,
    base: Tensor,
    is_segment: Tensor,
    *,
    n_synthetic: int,
    normalize_synthetic: bool,
    measure: Measure,
) -> Tensor:
    """:func:`hardest_pair_matrix` on matrices already in the segment layout's order (R × R, R even).

    ``is_segment`` is :attr:`SegmentLayout.is_segment`; the result is in the same order.
    """
    distance = measure == "squared_distance"
    diagonal = gram.diagonal()
    weight = torch.arange(1, n_synthetic + 1, dtype=gram.dtype, device=gram.device) / (n_synthetic + 1)
    v, w, squared_norms = synthetic_coefficients(
        diagonal[0::2, None], diagonal[1::2, None], gram.diagonal(1)[0::2, None], weight, normalize=normalize_synthetic
    )
    # (P, n, 2): coefficients of each segment's first and second end
    coefficients = torch.stack(torch.broadcast_tensors(v, w, squared_norms)[:2], dim=-1)
    # h of the synthetic points (0 for inner products), ∞ for rows that form no segment
    half_synthetic = torch.where(is_segment[:, None], squared_norms / 2 if distance else torch.zeros_like(squared_norms),
                                 math.inf)
    half_original = diagonal / 2 if distance else None
    compiled = _compiled["enabled"] and n_synthetic <= COMPILED_MAX_SYNTHETIC
    kernel = _CompiledHardestPairs if compiled else _HardestPairs
    return kernel.apply(gram, base, coefficients, half_synthetic, half_original, distance)


class _BlockScores:
    """The candidates' scores for one block of segments, in buffers reused from block to block.

    For segments ``p0 ≤ p < p1`` (rows ``2 p0 … 2 p1 − 1``) it holds, with ``c`` the
    coefficients of the synthetic points and ``h`` half squared norms (for inner products,
    ``h`` of the originals is absent and ``h`` of synthetic points 0, or ∞ off the segments):

    * ``synthetic_vs_original`` (b, n, B): ⟨s_pj, x_k⟩ − h_pj, and ``row_best`` (b, B) its
      maximum over j; ``row`` = ``row_best`` − h_k;
    * ``columns`` (b, 2, 2, P): the block's rows of G with the two ends of each column
      segment apart; ``original_vs_synthetic_raw`` (b, 2, n, P): ⟨x_i, s_rl⟩, and
      ``original_vs_synthetic`` the same − h_rl; ``column_best`` (b, 2, P) its maximum over
      l; ``column`` = ``column_best`` − h_i;
    * ``synthetic_pairs`` (b, n·n, P): ⟨s_pj, s_rl⟩ − h_pj − h_rl; ``both`` its maximum.

    ``*_measure`` are the same candidates as squared distances (−2 · score, clipped at 0)
    or inner products (the score).
    """

    def __init__(self, gram: Tensor, coefficients: Tensor, half_synthetic: Tensor,
                 half_original: Tensor | None, distance: bool) -> None:
        self.gram, self.coefficients = gram, coefficients
        self.half_synthetic, self.half_original, self.distance = half_synthetic, half_original, distance
        self.pairs, self.n = coefficients.shape[0], coefficients.shape[1]
        self.block = max(1, min(self.pairs, block_elements(gram.device) // gram.shape[0]))
        batch, pairs, n, size = gram.shape[0], self.pairs, self.n, self.block
        new = gram.new_empty
        # coefficient of each column segment's ends, column segments last: (2, n, P)
        self.column_coefficients = coefficients.permute(2, 1, 0).contiguous()
        self.half_by_column = half_synthetic.T.contiguous().view(1, 1, n, pairs)
        self.synthetic_vs_original = new(size, n, batch)
        self.row_best, self.row, self.row_measure = new(size, batch), new(size, batch), new(size, batch)
        self.columns = new(size, 2, 2, pairs)
        self.original_vs_synthetic_raw = new(size, 2, n, pairs)
        self.original_vs_synthetic = new(size, 2, n, pairs)
        self.column_best, self.column, self.column_measure = new(size, 2, pairs), new(size, 2, pairs), new(size, 2, pairs)
        self.synthetic_pairs = new(size, n * n, pairs)
        self.both, self.both_measure = new(size, pairs), new(size, pairs)

    def blocks(self):
        """``(p0, p1)`` of every block of segments."""
        for p0 in range(0, self.pairs, self.block):
            yield p0, min(self.pairs, p0 + self.block)

    def row_scores(self, p0: int, p1: int) -> Tensor:
        """``synthetic_vs_original`` and ``row_best`` for segments ``p0 … p1 − 1``."""
        b, batch = p1 - p0, self.gram.shape[0]
        a = self.synthetic_vs_original[:b]
        torch.bmm(self.coefficients[p0:p1], self.gram[2 * p0:2 * p1].view(b, 2, batch), out=a)
        a.sub_(self.half_synthetic[p0:p1, :, None])
        torch.amax(a, 1, out=self.row_best[:b])
        return a

    def compute(self, p0: int, p1: int) -> None:
        """Fill the buffers for segments ``p0 … p1 − 1`` (views of length ``b = p1 − p0``)."""
        b, n, pairs = p1 - p0, self.n, self.pairs
        rows = self.gram[2 * p0:2 * p1]
        coefficients = self.coefficients[p0:p1]
        hs, ho = self.half_synthetic, self.half_original
        self.row_scores(p0, p1)
        row_best = self.row_best[:b]
        row = row_best if ho is None else torch.sub(row_best, ho, out=self.row[:b])
        # the block's originals against the synthetic points of every segment
        columns = self.columns[:b]
        columns.copy_(rows.view(b, 2, pairs, 2).permute(0, 1, 3, 2))
        raw = self.original_vs_synthetic_raw[:b]
        cc = self.column_coefficients
        torch.mul(columns[:, :, 0, None, :], cc[0], out=raw)
        raw.addcmul_(columns[:, :, 1, None, :], cc[1])
        against = torch.sub(raw, self.half_by_column, out=self.original_vs_synthetic[:b])
        column_best = torch.amax(against, 2, out=self.column_best[:b])
        column = column_best if ho is None else torch.sub(
            column_best, ho[2 * p0:2 * p1].view(b, 2, 1), out=self.column[:b])
        # synthetic against synthetic: ⟨s_pj, s_rl⟩ = Σ_x c_pjx ⟨x_(p,x), s_rl⟩
        pairs_view = self.synthetic_pairs[:b].view(b, n, n * pairs)
        torch.bmm(coefficients, raw.view(b, 2, n * pairs), out=pairs_view)
        pairs_view.sub_(hs[p0:p1, :, None]).sub_(self.half_by_column.view(1, 1, n * pairs))
        both = torch.amax(self.synthetic_pairs[:b], 1, out=self.both[:b])
        self.row_score, self.column_score, self.both_score = row, column, both
        self.row_m = self._measure(row, self.row_measure[:b])
        self.column_m = self._measure(column, self.column_measure[:b])
        self.both_m = self._measure(both, self.both_measure[:b])

    def _measure(self, score: Tensor, out: Tensor) -> Tensor:
        if not self.distance:
            return score
        return torch.mul(score, -2, out=out).clamp_min_(0)


def _route(grad: Tensor, candidates: Tensor, best: Tensor, out: Tensor) -> Tensor:
    """Give all of ``grad`` to the first candidate (along dim 1) equal to ``best``."""
    remaining = grad
    for j in range(candidates.shape[1] - 1):
        share = out[:, j]
        torch.eq(candidates[:, j], best, out=share)
        share.mul_(remaining)
        remaining = remaining - share
    out[:, -1].copy_(remaining)
    return out


class _HardestPairs(torch.autograd.Function):
    """Hardest pair over E(i) × E(k) in the segment layout (see the comment above)."""

    @staticmethod
    def forward(ctx, gram, base, coefficients, half_synthetic, half_original, distance):  # noqa: D102
        ctx.save_for_backward(gram, base, coefficients, half_synthetic, half_original)
        ctx.distance = distance
        scores = _BlockScores(gram, coefficients, half_synthetic, half_original, distance)
        better = torch.minimum if distance else torch.maximum
        batch, pairs = gram.shape[0], scores.pairs
        mined = torch.empty_like(base)
        # a single block (small batches): keep its scores for the backward pass
        ctx.scores = scores if scores.block == scores.pairs else None
        for p0, p1 in scores.blocks():
            b = p1 - p0
            scores.compute(p0, p1)
            out = mined[2 * p0:2 * p1].view(b, 2, batch)
            better(base[2 * p0:2 * p1].view(b, 2, batch), scores.row_m.view(b, 1, batch), out=out)
            column = better(scores.column_m, scores.both_m.view(b, 1, pairs))
            out4 = out.view(b, 2, pairs, 2)
            better(out4, column.unsqueeze(-1), out=out4)
        return mined

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):  # noqa: D102
        # The column candidate ⟨x_i, s_rl⟩ is the row candidate of segment r against
        # original i, and G is symmetric (G = X Xᵀ, whose backward adds the transposed
        # gradient anyway), so the gradients of the column and both candidates are handed,
        # transposed, to the row candidate of the other segment: pass 1 routes the
        # gradient and collects it per (segment, original), pass 2 applies it through the
        # row candidates' Σ_x c_pjx G[(p,x), k].
        gram, base, coefficients, half_synthetic, half_original = ctx.saved_tensors
        distance, kept_scores = ctx.distance, ctx.scores
        scores = kept_scores or _BlockScores(gram, coefficients, half_synthetic, half_original, distance)
        batch, pairs, n, size = gram.shape[0], scores.pairs, scores.n, scores.block
        grad = grad.contiguous()
        grad_gram, grad_base = torch.empty_like(gram), torch.empty_like(base)
        grad_coefficients = torch.zeros_like(coefficients)
        grad_half_synthetic = torch.zeros_like(half_synthetic)
        grad_half_by_column = gram.new_zeros(n, pairs)
        row_grads = gram.new_zeros(pairs, batch)  # d loss / d row score, per (segment, original)
        synthetic_grads = gram.new_zeros(pairs, n, batch)  # d loss / d ⟨s_pj, x_k⟩ from both-synthetic pairs
        new = gram.new_empty
        kept, other = new(size, 2, batch), new(size, 2, pairs, 2)
        grad_a, grad_pairs, grad_raw = new(size, n, batch), new(size, n * n, pairs), new(size, 2, n, pairs)
        wins = torch.lt if distance else torch.gt
        better = torch.minimum if distance else torch.maximum
        for p0, p1 in scores.blocks():  # pass 1
            b, r0, r1 = p1 - p0, 2 * p0, 2 * p1
            if kept_scores is None:
                scores.compute(p0, p1)
            g = grad[r0:r1].view(b, 2, batch)
            base_block = base[r0:r1].view(b, 2, batch)
            # which of base, row, column and both won each entry (ties: in that order)
            best_so_far = better(base_block, scores.row_m.view(b, 1, batch))
            column = better(scores.column_m, scores.both_m.view(b, 1, pairs))
            to_column = wins(column.unsqueeze(-1), best_so_far.view(b, 2, pairs, 2), out=other[:b])
            to_column.mul_(g.view(b, 2, pairs, 2))
            rest = torch.sub(g, to_column.view(b, 2, batch), out=kept[:b])
            to_base = grad_base[r0:r1].view(b, 2, batch)
            torch.eq(best_so_far, base_block, out=to_base).mul_(rest)
            to_row = rest.sub_(to_base)
            grad_row = torch.add(to_row[:, 0], to_row[:, 1])
            grad_column_both = torch.add(to_column[..., 0], to_column[..., 1])
            grad_column = torch.eq(column, scores.column_m, out=column).mul_(grad_column_both)
            grad_both_x = grad_column_both.sub_(grad_column)
            grad_both = torch.add(grad_both_x[:, 0], grad_both_x[:, 1])
            if distance:  # measure −2 · score, clipped at 0
                for g_m, score in ((grad_row, scores.row_score), (grad_column, scores.column_score),
                                   (grad_both, scores.both_score)):
                    g_m.mul_(torch.le(score, 0, out=torch.empty_like(score))).mul_(-2)
            row_grads[p0:p1] += grad_row
            row_grads[:, r0:r1] += grad_column.view(2 * b, pairs).T
            # both synthetic: ⟨s_pj, s_rl⟩ = Σ_x c_pjx ⟨x_(p,x), s_rl⟩
            gp = _route(grad_both, scores.synthetic_pairs[:b], scores.both[:b], grad_pairs[:b]).view(b, n, n * pairs)
            raw = scores.original_vs_synthetic_raw[:b].view(b, 2, n * pairs)
            grad_coefficients[p0:p1] += torch.bmm(gp, raw.transpose(1, 2))
            gr = torch.bmm(coefficients[p0:p1].transpose(1, 2), gp, out=grad_raw[:b].view(b, 2, n * pairs))
            synthetic_grads[:, :, r0:r1] += gr.view(2 * b, n, pairs).permute(2, 1, 0)
            grad_half_synthetic[p0:p1] -= gp.sum(2)
            grad_half_by_column -= gp.view(b, n, n, pairs).sum((0, 1))
        for p0, p1 in scores.blocks():  # pass 2: the row candidates ⟨s_pj, x_k⟩ = Σ_x c_pjx G[(p,x), k]
            b, r0, r1 = p1 - p0, 2 * p0, 2 * p1
            rows = gram[r0:r1].view(b, 2, batch)
            a = scores.synthetic_vs_original[:b] if kept_scores is not None else scores.row_scores(p0, p1)
            ga = _route(row_grads[p0:p1], a, scores.row_best[:b], grad_a[:b])
            grad_half_synthetic[p0:p1] -= ga.sum(2)
            ga += synthetic_grads[p0:p1]
            torch.bmm(coefficients[p0:p1].transpose(1, 2), ga, out=grad_gram[r0:r1].view(b, 2, batch))
            grad_coefficients[p0:p1] += torch.bmm(ga, rows.transpose(1, 2))
        grad_half_original = None if half_original is None else -row_grads.sum(0)
        grad_half_synthetic += grad_half_by_column.T
        return grad_gram, grad_base, grad_coefficients, grad_half_synthetic, grad_half_original, None

# ------------------------------------------------------- the same kernel, compiled
#
# torch.compile (inductor: C++ on the CPU, Triton on a GPU) fuses a whole-matrix version of
# the kernel above into a few loops, where the eager kernel runs about a hundred operators per
# block. The formula and the tie rule are the eager kernel's (base, row, column, both; the
# first synthetic point of a segment, the first pair in (j, l) order); only the order of
# summation differs, so the two agree to round-off (tests/test_hardest_pairs.py runs these
# functions eagerly, tests/test_hardest_pairs_compiled.py compiled). Off by default
# (:func:`use_compiled_mining`): compiling takes minutes on a small CPU, where the compiled
# kernel was measured no faster than the eager one (benchmarks/README.md); it is meant for a
# GPU, where the eager kernel's launches dominate (benchmarks/gpu_check.py measures it). The
# whole-matrix form holds the n² P² synthetic pairs at once, so it runs only up to
# :data:`COMPILED_MAX_SYNTHETIC` points per segment.

#: The largest ``n_synthetic`` the compiled kernel takes; above it the eager kernel runs.
COMPILED_MAX_SYNTHETIC = 4

#: ``enabled`` (by :func:`use_compiled_mining`) and, once first enabled, the compiled ``forward`` and ``backward``.
_compiled: dict[str, object] = {"enabled": False}


def use_compiled_mining(enabled: bool = True) -> None:
    """Run :func:`hardest_pair_matrix` through ``torch.compile`` (``enabled``) or eagerly (the default).

    The first call of each configuration (measure, dtype, device) compiles, which takes from
    seconds on a GPU to minutes on a busy CPU; later calls, at any batch size, reuse the
    kernel. Needs a C++ compiler on the CPU (Triton on a GPU).

    Parameters
    ----------
    enabled : bool, default True
    """
    enabled = validate_flag("enabled", enabled)
    if enabled and "forward" not in _compiled:
        _compiled["forward"] = torch.compile(_dense_forward, dynamic=True)
        _compiled["backward"] = torch.compile(_dense_backward, dynamic=True)
    _compiled["enabled"] = enabled


def compiled_mining_enabled() -> bool:
    """Whether :func:`use_compiled_mining` is on."""
    return bool(_compiled["enabled"])


def _dense_measure(score: Tensor, distance: bool) -> Tensor:
    return (score * -2).clamp_min(0) if distance else score


def _dense_synthetic_pairs(raw: Tensor, coefficients: Tensor, half_synthetic: Tensor) -> Tensor:
    """⟨s_pj, s_rl⟩ − h_pj − h_rl for every pair of segments, (P, n, n, P)."""
    pairs, n = coefficients.shape[0], coefficients.shape[1]
    by_end = raw.view(pairs, n, pairs, 2)
    out = by_end[:, :, None, :, 0] * coefficients[:, :, 0].T + by_end[:, :, None, :, 1] * coefficients[:, :, 1].T
    return out - half_synthetic.view(pairs, n, 1, 1) - half_synthetic.T


def _dense_synthetic_vs_original(rows: Tensor, coefficients: Tensor) -> Tensor:
    return coefficients[:, :, 0:1] * rows[:, 0:1] + coefficients[:, :, 1:2] * rows[:, 1:2]


def _dense_forward(gram, base, coefficients, half_synthetic, half_original, distance: bool):
    """:class:`_HardestPairs`'s forward on whole matrices: the mined matrix, the row and the both scores."""
    pairs, n = coefficients.shape[0], coefficients.shape[1]
    batch = 2 * pairs
    raw = _dense_synthetic_vs_original(gram.view(pairs, 2, batch), coefficients)
    scored = raw - half_synthetic[:, :, None]
    row = scored.amax(1)
    if half_original is not None:
        row = row - half_original
    both = _dense_synthetic_pairs(raw, coefficients, half_synthetic).reshape(pairs, n * n, pairs).amax(1)
    better = torch.minimum if distance else torch.maximum
    row_measure, both_measure = _dense_measure(row, distance), _dense_measure(both, distance)
    crossed = better(row_measure.T.reshape(pairs, 2, pairs), both_measure.view(pairs, 1, pairs))
    mined = better(better(base.view(pairs, 2, pairs, 2), row_measure.view(pairs, 1, pairs, 2)), crossed.unsqueeze(-1))
    return mined.reshape(batch, batch), row, both


def _dense_backward(grad, gram, base, coefficients, half_synthetic, half_original, row, both, mined, distance: bool):
    """:class:`_HardestPairs`'s backward on whole matrices."""
    pairs, n = coefficients.shape[0], coefficients.shape[1]
    batch = 2 * pairs
    rows = gram.view(pairs, 2, batch)
    row_measure, both_measure = _dense_measure(row, distance), _dense_measure(both, distance)
    g, chosen, zero = grad.view(pairs, 2, batch), mined.view(pairs, 2, batch), grad.new_zeros(())
    # route every entry to base, row, column or both (ties: in that order)
    base_won = chosen == base.view(pairs, 2, batch)
    row_won = (chosen == row_measure.view(pairs, 1, batch)) & ~base_won
    grad_base = torch.where(base_won, g, zero)
    grad_row = torch.where(row_won, g, zero).sum(1)
    crossed = torch.where(row_won | base_won, zero, g).view(pairs, 2, pairs, 2).sum(-1)
    column = row_measure.T.reshape(pairs, 2, pairs)
    column_won = column <= both_measure.view(pairs, 1, pairs) if distance else column >= both_measure.view(pairs, 1, pairs)
    to_column = torch.where(column_won, crossed, zero)
    grad_both = (crossed - to_column).sum(1)
    grad_row = grad_row + to_column.reshape(batch, pairs).T
    if distance:  # measure −2 · score, clipped at 0
        grad_row = torch.where(row <= 0, grad_row * -2, zero)
        grad_both = torch.where(both <= 0, grad_both * -2, zero)
    # through the synthetic points' inner products (the first j, the first (j, l) that wins)
    raw = _dense_synthetic_vs_original(rows, coefficients)
    scored = raw - half_synthetic[:, :, None]
    steps = torch.arange(n * n, device=raw.device)
    grad_raw = torch.where(steps[:n].view(1, n, 1) == scored.argmax(1, keepdim=True), grad_row.unsqueeze(1), zero)
    synthetic = _dense_synthetic_pairs(raw, coefficients, half_synthetic).reshape(pairs, n * n, pairs)
    grad_pairs = torch.where(steps.view(1, n * n, 1) == synthetic.argmax(1, keepdim=True),
                             grad_both.unsqueeze(1), zero).view(pairs, n, n, pairs)
    grad_half_synthetic = -grad_raw.sum(2) - grad_pairs.sum((2, 3)) - grad_pairs.sum((0, 1)).T
    by_end = raw.view(pairs, n, pairs, 2)
    grad_raw = grad_raw + torch.stack(
        [(grad_pairs * coefficients[:, :, y].T).sum(2) for y in range(2)], -1).view(pairs, n, batch)
    grad_gram = torch.stack([(grad_raw * coefficients[:, :, x:x + 1]).sum(1) for x in range(2)], 1)
    grad_coefficients = torch.stack(
        [(grad_raw * rows[:, x:x + 1]).sum(2) + (grad_pairs * by_end[:, :, None, :, x]).sum((0, 1)).T
         for x in range(2)], -1)
    grad_half_original = None if half_original is None else -grad_row.sum(0)
    return grad_gram.view(batch, batch), grad_base.view(batch, batch), grad_coefficients, grad_half_synthetic, \
        grad_half_original


class _CompiledHardestPairs(torch.autograd.Function):
    """:class:`_HardestPairs` through the compiled whole-matrix kernel (see the comment above)."""

    @staticmethod
    def forward(ctx, gram, base, coefficients, half_synthetic, half_original, distance):  # noqa: D102
        mined, row, both = _compiled["forward"](gram, base, coefficients, half_synthetic, half_original, distance)
        ctx.save_for_backward(gram, base, coefficients, half_synthetic, half_original, row, both, mined)
        ctx.distance = distance
        return mined

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):  # noqa: D102
        return (*_compiled["backward"](grad.contiguous(), *ctx.saved_tensors, ctx.distance), None)


# --- the boundary: EE's arguments and the one memory guard ---------------------------------

#: Values held per entry of the B × N expanded problem (the Gram, distance and mask matrices,
#: the mining's candidates and their backward).
VALUES_PER_ENTRY = 10

#: Values held per pair of synthetic points of different segments (the mining's
#: synthetic-against-synthetic candidates, saved for the backward pass).
VALUES_PER_SYNTHETIC_PAIR = 3


def expansion_bytes(batch: int, n_synthetic: int, itemsize: int, *, whole: bool = False) -> int:
    """A bound on the peak memory (bytes) of a loss on a batch of ``batch`` with ``n_synthetic``.

    The expanded batch has at most ``N = B (1 + n)`` rows (EE forms at most one pair per
    original). A loss works on the ``B × N`` problem and never forms the N × N matrix, but
    its mining compares the synthetic points of the segments in a block with every other
    segment's: ``10 B N + 3 (n B)²`` values. Work on the whole expanded batch
    (``whole=True``: :mod:`eelib.diagnostics`) holds ``N × N`` matrices: ``10 N²`` values.
    Arithmetic on sizes only: no labels are read. tests/test_validation.py checks that the
    bound covers a measured peak.

    Parameters
    ----------
    batch : int
        B.
    n_synthetic : int
        n; 0 without EE.
    itemsize : int
        Bytes per value of the embeddings' dtype.
    whole : bool, default False
        Bound work on the whole expanded batch instead of a loss.
    """
    expanded = batch * (1 + n_synthetic)
    if whole:
        return VALUES_PER_ENTRY * expanded * expanded * itemsize
    synthetic = n_synthetic * batch
    return (VALUES_PER_ENTRY * batch * expanded + VALUES_PER_SYNTHETIC_PAIR * synthetic * synthetic) * itemsize


def validate_expansion(embeddings: Tensor, n_synthetic: object, normalize_synthetic: object, *,
                       whole: bool = False) -> tuple[int, bool]:
    """Check EE's two arguments and refuse a batch whose problem would not fit in memory.

    Called after :func:`eelib._validation.validate_batch`; the one memory guard of the
    losses (:func:`expansion_bytes` against :func:`eelib._validation.memory_limit_bytes`),
    made before anything is allocated.

    Returns
    -------
    n_synthetic : int
    normalize_synthetic : bool
    """
    n_synthetic = validate_n_synthetic(n_synthetic)
    normalize_synthetic = validate_flag("normalize_synthetic", normalize_synthetic)
    batch = embeddings.shape[0]
    n_bytes = expansion_bytes(batch, n_synthetic, embeddings.element_size(), whole=whole)
    if n_synthetic:
        what = f"n_synthetic={n_synthetic} with a batch of {batch} (at most {batch * (1 + n_synthetic)} expanded rows)"
    else:
        what = f"a batch of {batch} embeddings"
    validate_memory(what, n_bytes, embeddings.device)
    return n_synthetic, normalize_synthetic
