"""Embedding Expansion: synthetic points by internal division (Ko & Gu, CVPR 2020).

Given two embeddings ``x_i`` and ``x_j`` of the same class, EE places ``n`` synthetic
points on the segment between them, cutting it into ``n + 1`` equal parts (the paper's
equal internal division, Fig. 1):

    x̄ᵢⱼ_k = x_i + k / (n + 1) · (x_j − x_i),        k = 1, …, n,

and L2-normalises them, x̂ = x̄ / ‖x̄‖₂, so that they lie on the unit hypersphere with
the originals. Each synthetic point inherits the label of its two parents.

Pairing rule
------------
Pairs are formed inside each class, in batch order: the class's 1st and 2nd instance,
its 3rd and 4th, and so on. On a batch laid out as the official sampler lays it out
(every class a contiguous block of an even number of instances) this is the official
code's "swap adjacent" pairing, and the synthetic points are exactly the official
ones without its duplicates (the official code generates every point twice).

*Odd class sizes* (not possible with the official sampler): the last instance of a class
of odd size forms no pair, so a class of ``m`` instances yields ``floor(m / 2)`` pairs and
that instance's expanded set is itself alone (it still meets the other classes' synthetic
points as a negative). With this rule every original ends at most one segment, so the
losses lay EE's segments out in a table whose shape follows from the batch size alone and
never read the labels back to the host (:func:`eelib.pairs.segment_layout`). A class with a
single instance cannot be expanded and raises ``ValueError``.

Why distances among synthetic points are cheap (the Gram identity)
------------------------------------------------------------------
Every point of the expanded batch, original or synthetic, is ``(1 − w) x_a + w x_b``
for two originals ``a, b`` (for an original, ``a = b`` and ``w = 0``). Stacking these
coefficients in a sparse matrix ``A`` (two non-zeros per row), the inner products of the
whole expanded batch are ``K = A G Aᵀ`` with ``G = X Xᵀ`` the originals' Gram matrix.
Normalisation only rescales rows and columns by ``1/sqrt(K_rr)``, and squared distances
are ``K_rr + K_ss − 2 K_rs``. So once ``G`` is known, no D-dimensional work is needed
for any synthetic point: :func:`expanded_inner_products` costs O(N²) scalar operations
for ``N`` expanded points, however large the embedding dimension D is.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from eelib._validation import (
    validate_batch,
    validate_count,
    validate_finite,
    validate_flag,
    validate_labels,
    validate_memory,
    validate_n_synthetic,
)

#: Norms are clamped at this value before dividing, as in ``torch.nn.functional.normalize``.
NORM_EPS = 1e-12


@lru_cache(maxsize=None)
def norm_eps(dtype: torch.dtype) -> float:
    """:data:`NORM_EPS`, or ``sqrt`` of the smallest normal number of ``dtype`` where that is larger.

    The Gram route clamps squared norms at ``norm_eps ** 2``, which must not round to 0
    (``rsqrt(0) · 0`` is NaN): 1e-24 is a normal number in float32, float64 and bfloat16,
    but not in float16, whose clamp is therefore its smallest normal number (eps 7.8e-3).
    """
    return max(NORM_EPS, math.sqrt(float(torch.finfo(dtype).tiny)))


#: Bytes per expanded row of a :class:`Provenance` (five int64/float64/bool vectors, with slack).
PROVENANCE_BYTES_PER_ROW = 48


class Expansion(NamedTuple):
    """An expanded batch: the originals first, then the synthetic points.

    Every row ``r`` satisfies, before normalisation of synthetic rows,
    ``embeddings[r] = (1 − weight[r]) · x[parent_a[r]] + weight[r] · x[parent_b[r]]``,
    where ``x`` is the original batch. For original rows ``parent_a = parent_b = r`` and
    ``weight = 0``.

    Attributes
    ----------
    embeddings : Tensor, shape (N, D)
        ``N = B + n · P`` rows: the ``B`` originals, then ``n`` synthetic points for each
        of the ``P`` pairs, pair by pair, with ``k = 1..n`` inside a pair.
    labels : Tensor, shape (N,)
        Synthetic points carry their parents' label.
    is_synthetic : Tensor of bool, shape (N,)
    parent_a, parent_b : Tensor of int64, shape (N,)
        Row indices into the original batch of the segment's two ends.
    weight : Tensor, shape (N,)
        Position on the segment, ``k / (n + 1)``; the weight of ``parent_b``.
    """

    embeddings: Tensor
    labels: Tensor
    is_synthetic: Tensor
    parent_a: Tensor
    parent_b: Tensor
    weight: Tensor


class Provenance(NamedTuple):
    """Where each row of an expanded batch comes from (see :class:`Expansion`)."""

    labels: Tensor
    is_synthetic: Tensor
    parent_a: Tensor
    parent_b: Tensor
    weight: Tensor


class ClassRuns(NamedTuple):
    """A batch's labels sorted into runs of one class each (see :func:`class_runs`).

    Attributes
    ----------
    order : Tensor of int64, shape (B,)
        Batch rows in class order (a stable sort: batch order inside a class).
    rank : Tensor of int64, shape (B,)
        Position of ``order[t]`` inside its class: 0 for the class's first instance.
    size : Tensor of int64, shape (B,)
        Number of instances of the class of ``order[t]``.
    """

    order: Tensor
    rank: Tensor
    size: Tensor


def class_runs(labels: Tensor) -> ClassRuns:
    """Sort a batch by class and find each instance's rank and class size, on the device.

    Every output has the batch's shape and nothing is read back to the host, so a GPU
    never waits for it: the pairing rule (:func:`pair_within_classes`) and the losses'
    segment layout (:func:`eelib.pairs.segment_layout`) both start from here.

    Parameters
    ----------
    labels : Tensor of int, shape (B,)
        Checked by the caller.
    """
    batch = labels.shape[0]
    order = torch.argsort(labels, stable=True)
    sorted_labels = labels[order]
    position = torch.arange(batch, device=labels.device)
    starts_class = torch.ones(batch, dtype=torch.bool, device=labels.device)
    starts_class[1:] = sorted_labels[1:] != sorted_labels[:-1]
    class_start = torch.where(starts_class, position, 0).cummax(0).values
    class_index = torch.cumsum(starts_class, 0) - 1
    size = torch.zeros_like(position).scatter_add_(0, class_index, torch.ones_like(position))[class_index]
    return ClassRuns(order, position - class_start, size)


def single_instance_message(labels: Tensor) -> str:
    """Why EE refuses ``labels``: the classes with a single instance, by label value."""
    values, counts = torch.unique(labels, return_counts=True)
    lonely = values[counts == 1].tolist()
    return (f"labels: class(es) {lonely} have a single sample in the batch; Embedding "
            "Expansion (n_synthetic > 0) needs at least two samples of every class")


def pair_within_classes(labels: Tensor) -> Tensor:
    """Pair the instances of each class in batch order.

    Parameters
    ----------
    labels : Tensor of int, shape (B,)

    Returns
    -------
    Tensor of int64, shape (P, 2)
        Row indices ``(i, j)`` of each pair, sorted by ``i``. Within a class the pairs
        are (1st, 2nd), (3rd, 4th), ...; the last instance of a class of odd size forms
        no pair.

    Raises
    ------
    ValueError
        If a class has a single instance in the batch.
    """
    labels = validate_labels(labels)
    runs = class_runs(labels)
    if bool((runs.size == 1).any()):
        raise ValueError(single_instance_message(labels))
    opens_pair = (runs.rank % 2 == 0) & (runs.rank + 1 < runs.size)
    first = runs.order[:-1][opens_pair[:-1]]
    second = runs.order[1:][opens_pair[:-1]]
    pairs = torch.stack([first, second], dim=1)
    return pairs[torch.argsort(pairs[:, 0])]


def synthetic_provenance(labels: Tensor, n_synthetic: int) -> Provenance:
    """Parents and weights of every row of the expanded batch, without any embeddings.

    Parameters
    ----------
    labels : Tensor of int, shape (B,)
    n_synthetic : int
        Synthetic points per pair (the paper's n).

    Returns
    -------
    Provenance
        Fields of length ``N = B + n · P`` laid out as in :class:`Expansion`.
    """
    labels = validate_labels(labels)
    n_synthetic = validate_n_synthetic(n_synthetic)
    batch = labels.shape[0]
    _validate_expanded_rows(batch, n_synthetic, PROVENANCE_BYTES_PER_ROW, labels.device,
                            lambda rows: f"n_synthetic={n_synthetic} with a batch of {batch} (at most {rows} expanded rows)")
    return _provenance(labels, n_synthetic)


def _validate_expanded_rows(batch: int, n_synthetic: int, bytes_per_row: int, device: torch.device,
                            what: Callable[[int], str]) -> None:
    """Refuse an expansion whose rows (at most ``N = B (1 + n)``) of ``bytes_per_row`` would not fit in memory.

    ``what(N)`` describes the call in the message. Arithmetic on sizes: no label is read.
    """
    rows = batch * (1 + n_synthetic)
    validate_memory(what(rows), rows * bytes_per_row, device)


def _provenance(labels: Tensor, n_synthetic: int) -> Provenance:
    """:func:`synthetic_provenance` for checked arguments."""
    batch = labels.shape[0]
    device = labels.device
    originals = torch.arange(batch, device=device)
    if n_synthetic == 0:
        pairs = torch.empty(0, 2, dtype=torch.long, device=device)
    else:
        pairs = pair_within_classes(labels)
    steps = torch.arange(1, n_synthetic + 1, device=device, dtype=torch.float64) / (n_synthetic + 1)
    parent_a = torch.cat([originals, pairs[:, 0].repeat_interleave(n_synthetic)])
    parent_b = torch.cat([originals, pairs[:, 1].repeat_interleave(n_synthetic)])
    weight = torch.cat([torch.zeros(batch, dtype=torch.float64, device=device), steps.repeat(pairs.shape[0])])
    is_synthetic = torch.arange(parent_a.shape[0], device=device) >= batch
    return Provenance(labels[parent_a], is_synthetic, parent_a, parent_b, weight)


def expand(
    embeddings: Tensor, labels: Tensor, *, n_synthetic: int, normalize_synthetic: bool = True
) -> Expansion:
    """Generate EE's synthetic points explicitly (the paper's Fig. 1).

    Parameters
    ----------
    embeddings : Tensor, shape (B, D)
        Original embeddings (normally already L2-normalised by the model).
    labels : Tensor of int, shape (B,)
    n_synthetic : int
        Number ``n`` of synthetic points per pair; 0 returns the batch unchanged.
    normalize_synthetic : bool, default True
        L2-normalise the synthetic points onto the unit hypersphere (the paper's
        default; the originals are left as they are).

    Returns
    -------
    Expansion
        Originals first, then ``n`` points per pair at weights ``k / (n + 1)``.

    Examples
    --------
    >>> x = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    >>> out = expand(x, torch.tensor([0, 0]), n_synthetic=1, normalize_synthetic=False)
    >>> out.embeddings[2]
    tensor([0.5000, 0.5000])
    """
    validate_batch(embeddings, labels)
    n_synthetic = validate_n_synthetic(n_synthetic)
    normalize = validate_flag("normalize_synthetic", normalize_synthetic)
    batch, dim = embeddings.shape
    # the gathered parents, the weighted sum and the normalised copy: four (N, D) matrices
    bytes_per_row = 4 * dim * embeddings.element_size() + PROVENANCE_BYTES_PER_ROW
    _validate_expanded_rows(batch, n_synthetic, bytes_per_row, embeddings.device, lambda rows: (
        f"n_synthetic={n_synthetic} with a batch of {batch} (at most {rows} rows of dimension {dim})"))
    prov = _provenance(labels, n_synthetic)
    weight = prov.weight.to(embeddings.dtype)[:, None]
    points = (1 - weight) * embeddings[prov.parent_a] + weight * embeddings[prov.parent_b]
    if normalize and n_synthetic > 0:
        synthetic = F.normalize(points[batch:], dim=1, eps=norm_eps(points.dtype))
        points = torch.cat([points[:batch], synthetic])
    return Expansion(points, prov.labels, prov.is_synthetic, prov.parent_a, prov.parent_b, prov.weight.to(embeddings.dtype))


class EmbeddingExpansion(nn.Module):
    """EE's expansion as a module: ``expansion(embeddings, labels)`` is :func:`expand` with fixed settings.

    It adds no parameters. Give it to :class:`eelib.pml_reference.ExpandedLoss` to train any
    pytorch-metric-learning loss with Embedding Expansion.

    Parameters
    ----------
    n_synthetic : int, default 2
        Synthetic points per pair (the paper's n; 2 in its experiments).
    normalize_synthetic : bool, default True
        L2-normalise the synthetic points.

    Examples
    --------
    >>> expansion = EmbeddingExpansion(n_synthetic=1, normalize_synthetic=False)
    >>> expansion(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 0])).embeddings[2]
    tensor([0.5000, 0.5000])
    """

    def __init__(self, *, n_synthetic: int = 2, normalize_synthetic: bool = True) -> None:
        super().__init__()
        self.n_synthetic = validate_n_synthetic(n_synthetic)
        self.normalize_synthetic = validate_flag("normalize_synthetic", normalize_synthetic)

    def forward(self, embeddings: Tensor, labels: Tensor) -> Expansion:  # noqa: D102
        return expand(embeddings, labels, n_synthetic=self.n_synthetic, normalize_synthetic=self.normalize_synthetic)

    def extra_repr(self) -> str:  # noqa: D102
        return f"n_synthetic={self.n_synthetic}, normalize_synthetic={self.normalize_synthetic}"


def synthetic_coefficients(
    gram_aa: Tensor, gram_bb: Tensor, gram_ab: Tensor, weight: Tensor, *, normalize: bool
) -> tuple[Tensor, Tensor, Tensor]:
    """Coefficients of ``x_a`` and ``x_b`` in synthetic points, and their squared norms, read off G.

    The point ``x̄ = v x_a + w x_b`` (``v = 1 − w``) has ``‖x̄‖² = v² G_aa + w² G_bb + 2 v w G_ab``.
    Normalising it only rescales its two coefficients by ``1 / max(‖x̄‖, eps)``, so no
    D-dimensional work is needed (docs/paper.md §2.3).

    Parameters
    ----------
    gram_aa, gram_bb, gram_ab : Tensor
        ``x_a · x_a``, ``x_b · x_b`` and ``x_a · x_b``, broadcastable against ``weight``.
    weight : Tensor
        ``w``, the position on the segment (the coefficient of ``x_b`` before normalising).
    normalize : bool
        Rescale onto the unit sphere, as :func:`expand` does.

    Returns
    -------
    v, w, squared_norms : Tensor
        The two coefficients and ``‖v x_a + w x_b‖²`` (about 1 once normalised).
    """
    v, w = 1 - weight, weight
    squared_norms = v * v * gram_aa + w * w * gram_bb + 2 * v * w * gram_ab
    if normalize:
        inverse_norms = squared_norms.clamp_min(norm_eps(squared_norms.dtype) ** 2).rsqrt()  # 1 / max(‖x̄‖, eps)
        v, w = v * inverse_norms, w * inverse_norms
        squared_norms = squared_norms * inverse_norms * inverse_norms
    return v, w, squared_norms


def expanded_inner_products(gram: Tensor, provenance: Provenance, *, normalize: bool = True) -> Tensor:
    """Inner products of the whole expanded batch from the originals' Gram matrix.

    Computes ``K = A G Aᵀ`` with the two-non-zero rows of ``A`` applied by indexing.
    With ``normalize`` each synthetic row of ``A`` is first divided by ``‖x̄‖``, read off
    ``G`` as ``sqrt(v² G_aa + w² G_bb + 2 v w G_ab)`` (``v = 1 − w``). No
    D-dimensional work is done: this is why EE's extra distances are cheap
    (docs/paper.md §2.3).

    Parameters
    ----------
    gram : Tensor, shape (B, B)
        ``X Xᵀ`` of the original batch.
    provenance : Provenance
        From :func:`synthetic_provenance`.
    normalize : bool, default True
        Put the synthetic points on the unit sphere (the originals are left as they are).

    Returns
    -------
    Tensor, shape (N, N)
        Equal (up to round-off) to ``E Eᵀ`` for ``E = expand(...).embeddings``.
    """
    normalize = validate_flag("normalize", normalize)
    if not isinstance(gram, torch.Tensor) or not gram.is_floating_point() or gram.dim() != 2:
        raise TypeError(f"gram must be a 2-D floating-point tensor, got {gram!r:.80}")
    if not isinstance(provenance, Provenance):
        raise TypeError(f"provenance must be a Provenance (from synthetic_provenance), got {type(provenance).__name__}")
    validate_finite("gram", gram)
    a, b = provenance.parent_a, provenance.parent_b
    w = provenance.weight.to(gram.dtype)  # coefficient of x_b
    v = 1 - w  # coefficient of x_a
    if normalize:
        diagonal = gram.diagonal()
        v_unit, w_unit, _ = synthetic_coefficients(diagonal[a], diagonal[b], gram[a, b], w, normalize=True)
        v = torch.where(provenance.is_synthetic, v_unit, v)
        w = torch.where(provenance.is_synthetic, w_unit, w)
    # K = A G Aᵀ, A's two non-zeros per row applied by index_select (whose backward is
    # an index_add, much cheaper than the accumulating index_put of gram[a]).
    rows = v[:, None] * gram.index_select(0, a) + w[:, None] * gram.index_select(0, b)
    return rows.index_select(1, a) * v[None, :] + rows.index_select(1, b) * w[None, :]


def expanded_sets(provenance: Provenance, n_originals: int) -> Tensor:
    """Index the expanded set E(i) of every original: i and its segments' synthetic points.

    Parameters
    ----------
    provenance : Provenance
    n_originals : int
        Number ``B`` of original rows.

    Returns
    -------
    Tensor of int64, shape (B, L)
        Row ``i`` lists the expanded-batch rows in E(i), padded with ``i`` itself
        (padding is harmless for the min/max reductions of hard negative pair mining).
        With the official layout every E(i) has ``1 + n`` members.
    """
    if not isinstance(provenance, Provenance):
        raise TypeError(f"provenance must be a Provenance (from synthetic_provenance), got {type(provenance).__name__}")
    n_originals = validate_count("n_originals", n_originals, minimum=1)
    device = provenance.parent_a.device
    synthetic_rows = torch.nonzero(provenance.is_synthetic).squeeze(1)
    owner = torch.cat([provenance.parent_a[synthetic_rows], provenance.parent_b[synthetic_rows]])
    member = torch.cat([synthetic_rows, synthetic_rows])
    order = torch.argsort(owner, stable=True)
    owner, member = owner[order], member[order]
    counts = torch.bincount(owner, minlength=n_originals)
    width = 1 + (int(counts.max()) if owner.numel() else 0)
    table = torch.arange(n_originals, device=device)[:, None].repeat(1, width)
    offsets = torch.cumsum(counts, 0) - counts
    slot = 1 + torch.arange(owner.shape[0], device=device) - offsets[owner]
    table[owner, slot] = member
    return table
