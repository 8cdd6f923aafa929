"""Brute-force reference implementations: slow, written as loops, obviously right.

Every function here restates a formula from the papers (docs/paper.md §5, §1.5) with
plain Python loops over pairs and triplets and torch scalar operations, so that autograd
works through them. They share no code with :mod:`eelib.losses`, :mod:`eelib.pairs` or
:mod:`eelib.expansion`: the tests compare the fast, vectorised library against them.
They are meant to be read by students next to the formulas; use them on small batches
only (the triplet loop is cubic in the batch size).

Embedding Expansion is written out explicitly too: the pairing rule of CONTRIBUTING.md
as a loop over each class's members, the synthetic points by the internal-division
formula, and hard negative pair mining as an explicit min (or max) over the two
expanded sets. Every loss oracle accepts ``n_synthetic`` for that purpose.

:func:`official_ee_hphn_triplet` is different: it transcribes the official MXNet code
of EE + HPHN triplet (``loss/embedding_aug.py`` and ``loss/hphn_triplet.py`` of
``clovaai/embedding-expansion``) operation by operation, including its duplicated
synthetic rows, so that the library can be checked against the released code itself.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

#: Squared distances are clipped here before the square root (official ``euclidean_dist``).
SQRT_CLIP = 1e-12
#: Norms are clamped here before dividing (as ``torch.nn.functional.normalize`` does).
NORM_EPS = 1e-12
#: MXNet's ``L2Normalization`` computes ``x / sqrt(Σ x² + 1e-10)``.
MXNET_L2_EPS = 1e-10


# --------------------------------------------------------------------------- helpers


def _squared_distance(a: Tensor, b: Tensor) -> Tensor:
    """‖a − b‖² of two vectors, computed from their difference."""
    return ((a - b) ** 2).sum()


def _inner(a: Tensor, b: Tensor) -> Tensor:
    """a · b of two vectors."""
    return (a * b).sum()


def _mean(values: list[Tensor], like: Tensor) -> Tensor:
    """Mean of a list of 0-dim tensors; a gradient-carrying zero for an empty list."""
    if not values:
        return like.sum() * 0.0
    return torch.stack(values).mean()


def _members_by_class(labels: Tensor) -> dict[int, list[int]]:
    """Batch indices of every class, classes in order of first appearance."""
    members: dict[int, list[int]] = {}
    for index, label in enumerate(labels.tolist()):
        members.setdefault(label, []).append(index)
    return members


# ------------------------------------------------------------- Embedding Expansion


def pairs_loops(labels: Tensor) -> list[tuple[int, int]]:
    """EE's pairing rule (CONTRIBUTING.md) written as a loop over each class.

    A class with members ``m0, m1, m2, ...`` (batch order) gives the pairs
    ``(m0, m1), (m2, m3), ...``; in a class of odd size the last member forms no pair.

    Parameters
    ----------
    labels : Tensor of int, shape (B,)

    Returns
    -------
    list of (int, int)
        The pairs, sorted by their first index.

    Raises
    ------
    ValueError
        If a class has a single member.
    """
    pairs = []
    for label, members in _members_by_class(labels).items():
        if len(members) == 1:
            raise ValueError(f"labels: class {label} has a single sample; EE needs pairs")
        for start in range(0, len(members) - 1, 2):
            pairs.append((members[start], members[start + 1]))
    return sorted(pairs)


def synthetic_points_loops(x_i: Tensor, x_j: Tensor, n_synthetic: int, normalize: bool) -> list[Tensor]:
    r"""The ``n`` synthetic points of one segment (Ko & Gu 2020, Fig. 1).

    :math:`\bar x_k = x_i + \frac{k}{n+1}(x_j - x_i)`, k = 1..n, each divided by
    :math:`\max(\lVert\bar x_k\rVert, 10^{-12})` when ``normalize``.
    """
    points = []
    for k in range(1, n_synthetic + 1):
        point = x_i + (k / (n_synthetic + 1)) * (x_j - x_i)
        if normalize:
            point = point / point.norm().clamp_min(NORM_EPS)
        points.append(point)
    return points


def expanded_sets_loops(
    embeddings: Tensor, labels: Tensor, n_synthetic: int, normalize: bool = True
) -> list[list[Tensor]]:
    """The expanded set E(i) of every original, as explicit lists of points.

    E(i) holds ``x_i`` itself and the synthetic points of every segment that has i as
    an end (CONTRIBUTING.md, "EE in every loss").

    Returns
    -------
    list of list of Tensor
        ``sets[i][0]`` is ``x_i``; with ``n_synthetic = 0`` every set is ``[x_i]``.
    """
    sets = [[embeddings[i]] for i in range(embeddings.shape[0])]
    if n_synthetic == 0:
        return sets
    for i, j in pairs_loops(labels):
        for point in synthetic_points_loops(embeddings[i], embeddings[j], n_synthetic, normalize):
            sets[i].append(point)
            sets[j].append(point)
    return sets


def _hardest_pair(
    set_a: list[Tensor], set_b: list[Tensor], measure: Callable[[Tensor, Tensor], Tensor], pick: Callable
) -> Tensor:
    """``pick`` (min or max) of ``measure(a, b)`` over a in set_a, b in set_b."""
    return pick(measure(a, b) for a in set_a for b in set_b)


def _pair_tables(
    embeddings: Tensor, labels: Tensor, n_synthetic: int, normalize: bool, measure: str
) -> tuple[list[list[Tensor]], list[list[Tensor | None]]]:
    """Positives between originals, negatives mined over E(i) × E(k), by explicit loops.

    ``measure`` is ``"squared_distance"`` (negatives: the minimum) or ``"inner_product"``
    (negatives: the maximum).
    """
    fn, pick = (_squared_distance, min) if measure == "squared_distance" else (_inner, max)
    batch = embeddings.shape[0]
    sets = expanded_sets_loops(embeddings, labels, n_synthetic, normalize)
    y = labels.tolist()
    positive = [[fn(embeddings[i], embeddings[j]) for j in range(batch)] for i in range(batch)]
    negative = [
        [_hardest_pair(sets[i], sets[k], fn, pick) if y[i] != y[k] else None for k in range(batch)]
        for i in range(batch)
    ]
    return positive, negative


def _root(squared: Tensor) -> Tensor:
    """sqrt(max(squared, 1e-12))."""
    return squared.clamp_min(SQRT_CLIP).sqrt()


# ------------------------------------------------------------------------- losses


def contrastive_loss_loops(
    embeddings: Tensor,
    labels: Tensor,
    margin: float = 1.0,
    *,
    n_synthetic: int = 0,
    normalize_synthetic: bool = True,
) -> Tensor:
    r"""Contrastive loss (Hadsell et al. 2006, Eq. 4), one unordered pair at a time.

    :math:`\frac12 D_{ij}^2` for a positive pair, :math:`\frac12[m - D_{ij}]_+^2` for a
    negative pair, averaged over all :math:`B(B-1)/2` pairs :math:`i < j`. With
    ``n_synthetic > 0`` a negative :math:`D_{ij}` is the closest pair of E(i) × E(j).
    """
    batch = embeddings.shape[0]
    positive, negative = _pair_tables(embeddings, labels, n_synthetic, normalize_synthetic, "squared_distance")
    y = labels.tolist()
    terms = []
    for i in range(batch):
        for j in range(i + 1, batch):
            if y[i] == y[j]:
                terms.append(0.5 * positive[i][j])
            else:
                terms.append(0.5 * torch.relu(margin - _root(negative[i][j])) ** 2)
    return _mean(terms, embeddings)


def triplet_loss_loops(
    embeddings: Tensor,
    labels: Tensor,
    margin: float = 0.2,
    mining: str = "all",
    squared: bool = False,
    *,
    n_synthetic: int = 0,
    normalize_synthetic: bool = True,
) -> Tensor:
    r"""Triplet loss :math:`[d(a,p) - d(a,n) + m]_+` (Schroff et al. 2015, Eq. 1).

    ``mining="all"`` averages over every triplet (a ≠ p same label, n different label);
    ``"semihard"`` over those with :math:`0 < d(a,n) - d(a,p) \le m`; ``"hardest"``
    (Hermans et al. 2017, Eq. 5) takes per anchor the farthest positive and the closest
    negative and averages over anchors that have both. :math:`d` is the Euclidean
    distance, or its square when ``squared``. With ``n_synthetic > 0``, :math:`d(a,n)`
    is the closest pair of E(a) × E(n).
    """
    if mining not in ("all", "semihard", "hardest"):
        raise ValueError(f"mining must be 'all', 'semihard' or 'hardest', got {mining!r}")
    batch = embeddings.shape[0]
    positive, negative = _pair_tables(embeddings, labels, n_synthetic, normalize_synthetic, "squared_distance")
    d = (lambda sq: sq) if squared else _root
    y = labels.tolist()
    terms = []
    for a in range(batch):
        positives = [p for p in range(batch) if p != a and y[p] == y[a]]
        negatives = [k for k in range(batch) if y[k] != y[a]]
        if mining == "hardest":
            if positives and negatives:
                hardest_pos = max(d(positive[a][p]) for p in positives)
                hardest_neg = min(d(negative[a][k]) for k in negatives)
                terms.append(torch.relu(hardest_pos - hardest_neg + margin))
            continue
        for p in positives:
            for k in negatives:
                gap = d(negative[a][k]) - d(positive[a][p])
                if mining == "semihard" and not 0 < gap.item() <= margin:
                    continue
                terms.append(torch.relu(margin - gap))
    return _mean(terms, embeddings)


def npair_loss_loops(
    embeddings: Tensor,
    labels: Tensor,
    l2_reg: float = 0.0,
    *,
    n_synthetic: int = 0,
    normalize_synthetic: bool = True,
    scale: float = 1.0,
) -> Tensor:
    r"""Multi-class N-pair loss (Sohn 2016, Eq. 6) with its L2 penalty and a logit scale s.

    Each class appears exactly twice; its first instance (batch order) is the anchor
    :math:`f_i`, its second the positive :math:`f_i^+`. Then (Sohn's loss: s = 1)

    .. math::
        L = \frac1N \sum_i \log\Big(1 + \sum_{j\ne i} e^{s(f_i^\top f_j^+ - f_i^\top f_i^+)}\Big)
            + \frac{\lambda}{4}\Big(\tfrac1N\sum_i \lVert f_i\rVert^2
                                  + \tfrac1N\sum_i \lVert f_i^+\rVert^2\Big).

    With ``n_synthetic > 0`` each :math:`f_i^\top f_j^+` (j ≠ i) is the largest inner
    product over E(anchor i) × E(positive j).
    """
    members = _members_by_class(labels)
    if any(len(m) != 2 for m in members.values()):
        raise ValueError("labels: the N-pair loss needs every class exactly twice")
    anchors = [m[0] for m in members.values()]
    positives = [m[1] for m in members.values()]
    _, negative = _pair_tables(embeddings, labels, n_synthetic, normalize_synthetic, "inner_product")
    count = len(anchors)
    one = embeddings.sum() * 0.0  # the exponent of the "1 +" inside the log, connected to the input
    terms = []
    for i in range(count):
        own = _inner(embeddings[anchors[i]], embeddings[positives[i]])
        exponents = [one]
        exponents += [scale * (negative[anchors[i]][positives[j]] - own) for j in range(count) if j != i]
        terms.append(torch.logsumexp(torch.stack(exponents), 0))  # log(1 + Σ e^...)
    loss = torch.stack(terms).mean()
    if l2_reg > 0:
        anchor_norms = torch.stack([_inner(embeddings[a], embeddings[a]) for a in anchors]).mean()
        positive_norms = torch.stack([_inner(embeddings[p], embeddings[p]) for p in positives]).mean()
        loss = loss + 0.25 * l2_reg * (anchor_norms + positive_norms)
    return loss


def lifted_structure_loss_loops(
    embeddings: Tensor,
    labels: Tensor,
    margin: float = 1.0,
    *,
    n_synthetic: int = 0,
    normalize_synthetic: bool = True,
) -> Tensor:
    r"""Lifted structured loss (Oh Song et al. 2016, Eq. 4), one positive pair at a time.

    .. math::
        J_{ij} = \log\Big(\sum_{k: y_k \ne y_i} e^{m - D_{ik}}
                        + \sum_{l: y_l \ne y_j} e^{m - D_{jl}}\Big) + D_{ij},
        \qquad L = \frac{1}{2|\mathcal P|}\sum_{i<j,\ y_i = y_j} [J_{ij}]_+^2 .

    With ``n_synthetic > 0`` each negative :math:`D_{ik}` is the closest pair of E(i) × E(k).
    A batch without positive or negative pairs gives a gradient-carrying zero.
    """
    batch = embeddings.shape[0]
    positive, negative = _pair_tables(embeddings, labels, n_synthetic, normalize_synthetic, "squared_distance")
    y = labels.tolist()
    terms = []
    for i in range(batch):
        for j in range(i + 1, batch):
            if y[i] != y[j]:
                continue
            exponents = [margin - _root(negative[i][k]) for k in range(batch) if y[k] != y[i]]
            exponents += [margin - _root(negative[j][q]) for q in range(batch) if y[q] != y[j]]
            if not exponents:
                continue
            j_ij = torch.logsumexp(torch.stack(exponents), 0) + _root(positive[i][j])
            terms.append(torch.relu(j_ij) ** 2)
    if not terms:
        return embeddings.sum() * 0.0
    return torch.stack(terms).sum() / (2 * len(terms))


def ms_mining_loops(similarity: Tensor, labels: Tensor, epsilon: float) -> tuple[Tensor, Tensor]:
    r"""MS pair mining (Wang et al. 2019, Eq. 7–8), anchor by anchor, on a similarity matrix.

    Anchor i keeps negative k when :math:`S_{ik} + \epsilon > \min_{j \ne i,\, y_j = y_i} S_{ij}`
    and positive j when :math:`S_{ij} - \epsilon < \max_{y_k \ne y_i} S_{ik}`; an anchor
    without a positive or without a negative keeps nothing.

    Returns
    -------
    keep_pos, keep_neg : Tensor of bool, shape (B, B)
    """
    batch = labels.shape[0]
    y = labels.tolist()
    keep_pos = torch.zeros(batch, batch, dtype=torch.bool)
    keep_neg = torch.zeros(batch, batch, dtype=torch.bool)
    for i in range(batch):
        positives = [j for j in range(batch) if j != i and y[j] == y[i]]
        negatives = [k for k in range(batch) if y[k] != y[i]]
        if not positives or not negatives:
            continue
        weakest_pos = min(similarity[i, j].item() for j in positives)
        hardest_neg = max(similarity[i, k].item() for k in negatives)
        for j in positives:
            keep_pos[i, j] = similarity[i, j].item() - epsilon < hardest_neg
        for k in negatives:
            keep_neg[i, k] = similarity[i, k].item() + epsilon > weakest_pos
    return keep_pos, keep_neg


def pair_counts_loops(n_classes: int, per_class: int) -> dict[str, int]:
    """Unordered positive and negative pairs, and triplets (a, p, n) with a ≠ p, counted one by one.

    The batch is ``n_classes`` classes of ``per_class`` samples; every unordered pair is
    visited once, and the triplets of each anchor are its positives times its negatives.
    """
    labels = [c for c in range(n_classes) for _ in range(per_class)]
    positive = negative = triplets = 0
    for a, label in enumerate(labels):
        for b in range(a + 1, len(labels)):
            if labels[b] == label:
                positive += 1
            else:
                negative += 1
        positives = sum(1 for p, other in enumerate(labels) if p != a and other == label)
        triplets += positives * sum(1 for other in labels if other != label)
    return {"positive_pairs": positive, "negative_pairs": negative, "triplets": triplets}


def multi_similarity_loss_loops(
    embeddings: Tensor,
    labels: Tensor,
    alpha: float = 2.0,
    beta: float = 50.0,
    base: float = 0.5,
    epsilon: float = 0.1,
    *,
    n_synthetic: int = 0,
    normalize_synthetic: bool = True,
) -> Tensor:
    r"""Multi-similarity loss with MS mining (Wang et al. 2019, Eq. 7, 8, 12), anchor by anchor.

    For anchor i with inner products :math:`S`: keep negatives with
    :math:`S_{ik} + \epsilon > \min_{y_j = y_i} S_{ij}` and positives with
    :math:`S_{ij} - \epsilon < \max_{y_k \ne y_i} S_{ik}`, then

    .. math::
        \ell_i = \tfrac1\alpha \log\big[1 + \textstyle\sum_{j} e^{-\alpha(S_{ij} - \lambda)}\big]
               + \tfrac1\beta \log\big[1 + \sum_{k} e^{\beta(S_{ik} - \lambda)}\big],
        \qquad L = \frac1B \sum_i \ell_i,

    the sums running over the kept pairs (an empty sum gives 0). With
    ``n_synthetic > 0`` each negative :math:`S_{ik}` is the largest inner product of
    E(i) × E(k), before the mining.
    """
    batch = embeddings.shape[0]
    positive, negative = _pair_tables(embeddings, labels, n_synthetic, normalize_synthetic, "inner_product")
    y = labels.tolist()
    one = embeddings.sum() * 0.0  # the exponent of the "1 +" inside each log, connected to the input
    # mining reads positives off the originals and negatives off the mined table
    similarity = torch.tensor([[(positive[a][b] if y[a] == y[b] else negative[a][b]).item() for b in range(batch)]
                               for a in range(batch)], dtype=torch.float64)
    keep_pos, keep_neg = ms_mining_loops(similarity, labels, epsilon)
    terms = []
    for i in range(batch):
        positives = [j for j in range(batch) if j != i and y[j] == y[i]]
        negatives = [k for k in range(batch) if y[k] != y[i]]
        if not positives or not negatives:
            terms.append(one)
            continue
        kept_pos = [positive[i][j] for j in positives if keep_pos[i, j]]
        kept_neg = [negative[i][k] for k in negatives if keep_neg[i, k]]
        pos_term = torch.logsumexp(torch.stack([one] + [-alpha * (s - base) for s in kept_pos]), 0) / alpha
        neg_term = torch.logsumexp(torch.stack([one] + [beta * (s - base) for s in kept_neg]), 0) / beta
        terms.append(pos_term + neg_term)
    return torch.stack(terms).mean()


# ------------------------------------------------------- official EE + HPHN triplet


def _check_official_layout(labels: Tensor) -> None:
    """The official sampler writes every class as one contiguous block of even size."""
    y = labels.tolist()
    if len(y) % 2:
        raise ValueError("labels: the official layout needs an even batch size")
    for start in range(0, len(y), 2):
        if y[start] != y[start + 1]:
            raise ValueError(
                f"labels: rows {start} and {start + 1} differ; the official layout pairs "
                "adjacent rows, so every class must be a contiguous block of even size"
            )


def official_embedding_aug(
    embeddings: Tensor, labels: Tensor, n_synthetic: int, normalize: bool = True
) -> tuple[Tensor, Tensor]:
    r"""EE's synthetic points as the official code makes them (``get_embedding_aug``).

    Swap-adjacent pairing: row i is paired with :math:`\pi(i) = i + 1` (i even) or
    :math:`i - 1` (i odd). For groups g = 1..n row i gets
    :math:`(g\,x_{\pi(i)} + (n+1-g)\,x_i)/(n+1)`, divided by
    :math:`\sqrt{\sum x^2 + 10^{-10}}` (MXNet ``L2Normalization``) when ``normalize``
    (docs/paper.md §1.2).

    Parameters
    ----------
    embeddings : Tensor, shape (B, D)
    labels : Tensor of int, shape (B,)
        Official layout: every class a contiguous block of even size.
    n_synthetic : int
        ``n_inner_pts``.
    normalize : bool, default True
        ``l2_norm``.

    Returns
    -------
    points : Tensor, shape ((n + 1) B, D)
        ``[originals; group 1; ...; group n]``. Every synthetic point appears twice:
        row i of group g equals row :math:`\pi(i)` of group n + 1 − g.
    point_labels : Tensor, shape ((n + 1) B,)
        ``labels`` repeated n + 1 times.
    """
    _check_official_layout(labels)
    batch = embeddings.shape[0]
    swap = [i + 1 if i % 2 == 0 else i - 1 for i in range(batch)]
    partner, own = embeddings[swap], embeddings
    groups, group_labels = [embeddings], [labels]
    total = float(n_synthetic + 1)
    for n_idx in range(n_synthetic):
        left = float(n_idx + 1)
        inner_pts = (partner * left + own * (total - left)) / total
        if normalize:
            inner_pts = inner_pts / torch.sqrt((inner_pts**2).sum(1, keepdim=True) + MXNET_L2_EPS)
        groups.append(inner_pts)
        group_labels.append(labels)
    return torch.cat(groups), torch.cat(group_labels)


def official_ee_hphn_triplet(
    embeddings: Tensor, labels: Tensor, n_synthetic: int, margin: float, normalize: bool = True
) -> Tensor:
    r"""EE + HPHN triplet, transcribed from the official MXNet code (docs/paper.md §1.5).

    1. Expand the batch with :func:`official_embedding_aug` to :math:`N = (n+1)B` rows.
    2. :math:`D = \sqrt{\mathrm{clip}(\lVert x\rVert^2 + \lVert y\rVert^2 - 2x^\top y, 10^{-12}, 10^{12})}`
       over all N rows (``euclidean_dist``).
    3. ``dist_ap``: row max of ``D * is_pos`` on the ``[:B, :B]`` block (originals only).
    4. ``dist_neg = D * is_neg + rowmax(D) * is_pos``; ``dist_an`` is its row min
       (length N), reshaped to (n + 1, B) and minimised over axis 0, so anchor i gets
       the closest negative of itself and of the synthetic points made at its slot.
    5. :math:`\ell_i = [\mathrm{dist\_ap}_i - \mathrm{dist\_an}_i + m]_+`.

    Parameters
    ----------
    embeddings : Tensor, shape (B, D)
    labels : Tensor of int, shape (B,)
        Official layout: classes in contiguous blocks of even size.
    n_synthetic : int
        ``n_inner_pts``; 0 gives plain batch-hard triplet.
    margin : float
    normalize : bool, default True
        ``l2_norm`` of the official code.

    Returns
    -------
    Tensor, shape (B,)
        One loss per original anchor. The official trainer back-propagates their sum;
        :func:`eelib.triplet_loss` with ``mining="hardest"`` returns their mean.
    """
    batch = embeddings.shape[0]
    points, point_labels = official_embedding_aug(embeddings, labels, n_synthetic, normalize)

    squared_norms = (points**2).sum(1, keepdim=True)
    squared = squared_norms + squared_norms.T - 2 * points @ points.T
    dist = squared.clamp(SQRT_CLIP, 1e12).sqrt()

    is_pos = (point_labels[:, None] == point_labels[None, :]).to(dist.dtype)
    is_neg = (point_labels[:, None] != point_labels[None, :]).to(dist.dtype)
    dist_pos = dist * is_pos
    dist_ap = dist_pos[:batch, :batch].amax(1) if n_synthetic else dist_pos.amax(1)
    dist_neg = dist * is_neg + dist.amax(1, keepdim=True) * is_pos
    dist_an = dist_neg.amin(1)
    if n_synthetic:
        dist_an = dist_an.reshape(n_synthetic + 1, batch).amin(0)
    return torch.relu(dist_ap - dist_an + margin)


__all__ = [
    "contrastive_loss_loops",
    "expanded_sets_loops",
    "lifted_structure_loss_loops",
    "ms_mining_loops",
    "multi_similarity_loss_loops",
    "npair_loss_loops",
    "official_ee_hphn_triplet",
    "official_embedding_aug",
    "pair_counts_loops",
    "pairs_loops",
    "synthetic_points_loops",
    "triplet_loss_loops",
]
