"""Multi-class N-pair loss (Sohn, NIPS 2016)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from eelib._validation import check_on_device, validate_batch
from eelib.losses._common import BatchRequirement, PairLoss, check_hyperparameters, full_precision, requires
from eelib.pairs import build_pair_matrices, validate_expansion


def npair_anchor_positive(labels: Tensor) -> tuple[Tensor, Tensor]:
    """Split an N-pair batch into anchors and positives, checking the layout on the device.

    Parameters
    ----------
    labels : Tensor of int, shape (2N,)
        Every class must appear exactly twice.

    Returns
    -------
    anchors, positives : Tensor of int64, shape (N,)
        For each class (in order of first appearance) the batch index of its first
        instance (the anchor) and of its second (the positive).

    Raises
    ------
    ValueError
        If a class does not appear exactly twice. The batch size is checked on the host;
        the labels' values on their device (:func:`eelib._validation.check_on_device`):
        sorted stably, a batch of pairs has equal labels at positions (2k, 2k + 1) and a
        new label at every even position.
    """
    batch = labels.shape[0]
    if batch % 2:
        raise ValueError(_layout_message(labels))
    order = torch.argsort(labels, stable=True)  # by class, then batch order
    ordered = labels[order]
    paired = ordered[0::2] == ordered[1::2]
    separated = ordered[2::2] != ordered[1:-1:2]
    check_on_device(paired.all() & separated.all(), "the N-pair loss needs every class exactly twice",
                    lambda: _layout_message(labels))
    anchors, positives = order[0::2], order[1::2]
    by_first_appearance = torch.argsort(anchors)
    return anchors[by_first_appearance], positives[by_first_appearance]


def _layout_message(labels: Tensor) -> str:
    classes, counts = torch.unique(labels, return_counts=True)
    bad = {int(c): int(k) for c, k in zip(classes[counts != 2], counts[counts != 2])}
    return f"labels: the N-pair loss needs a batch made of pairs, every class exactly twice; got class counts {bad}"


@requires(BatchRequirement(samples_per_class=2))
def npair_loss(
    embeddings: Tensor,
    labels: Tensor,
    *,
    n_synthetic: int = 0,
    normalize_synthetic: bool = True,
    l2_reg: float = 0.0,
    scale: float = 1.0,
) -> Tensor:
    r"""Multi-class N-pair loss: softmax cross-entropy over anchor–positive inner products.

    For N classes with one pair :math:`(f_i, f_i^+)` each (Sohn 2016, Eq. 6; with
    :math:`s = 1`),

    .. math::
        L = \frac1N \sum_i \log\Big(1 + \sum_{j \ne i} e^{s(f_i^\top f_j^+ - f_i^\top f_i^+)}\Big)
            + \frac{\lambda}{4}\Big(\overline{\lVert f\rVert^2} + \overline{\lVert f^+\rVert^2}\Big).

    Parameters
    ----------
    embeddings : Tensor, shape (2N, D)
        Not normalised by the loss (Sohn's loss works on raw inner products and uses the
        L2 penalty instead). float16 and bfloat16 are computed in float32.
    labels : Tensor of int, shape (2N,)
        Every class exactly twice; the first of the two in batch order is the anchor.
    n_synthetic : int, default 0
        Embedding Expansion's synthetic points per pair. With EE every off-diagonal logit
        :math:`f_i^\top f_j^+` becomes the largest inner product between the expanded
        sets of :math:`f_i` and :math:`f_j^+` (the segment of class i against that of
        class j), as Symmetrical Synthesis does for N-pair; for EE this form is
        UNVERIFIED (docs/paper.md §1.6). The positive logit stays original.
    normalize_synthetic : bool, default True
        L2-normalise synthetic points.
    l2_reg : float, default 0.0
        :math:`\lambda` of the embedding-norm penalty (TensorFlow's ``npairs_loss`` uses
        0.002).
    scale : float, default 1.0
        :math:`s > 0` multiplies every logit (an inverse temperature). Sohn's loss is
        :math:`s = 1`. On L2-normalised embeddings the logits lie in [−1, 1], so with
        :math:`s = 1` the loss cannot fall below :math:`\log(1 + (N-1)e^{-2})`; a larger
        :math:`s` removes that floor.

    Returns
    -------
    Tensor
        0-dim loss. A batch of a single class has no negative; its loss is the
        penalty alone (a zero when ``l2_reg = 0``), still connected to the input.

    References
    ----------
    K. Sohn. Improved Deep Metric Learning with Multi-class N-pair Loss Objective.
    NIPS 2016.
    """
    with full_precision(embeddings) as embeddings:
        checked = check_hyperparameters(l2_reg=l2_reg, scale=scale)
        l2_reg, scale = checked["l2_reg"], checked["scale"]
        validate_batch(embeddings, labels)
        n_synthetic, normalize_synthetic = validate_expansion(embeddings, n_synthetic, normalize_synthetic)
        anchors, positives = npair_anchor_positive(labels)  # the layout, checked before any expansion
        if n_synthetic == 0:  # the anchor-positive block of the Gram matrix only: a quarter of X Xᵀ
            logits = embeddings.index_select(0, anchors) @ embeddings.index_select(0, positives).T
            squared_norms = embeddings.square().sum(1) if l2_reg > 0 else None
        else:
            pm = build_pair_matrices(
                embeddings, labels, n_synthetic=n_synthetic,
                normalize_synthetic=normalize_synthetic, measure="inner_product", batch_order=False,
            )
            anchors, positives = pm.position[anchors], pm.position[positives]  # rows of the matrices
            # EE: mined off-diagonal logits, original diagonal
            eye = torch.eye(anchors.shape[0], dtype=torch.bool, device=embeddings.device)
            logits = torch.where(eye, pm.positive.index_select(0, anchors).index_select(1, positives),
                                 pm.negative.index_select(0, anchors).index_select(1, positives))
            squared_norms = pm.positive.diagonal()
        targets = torch.arange(anchors.shape[0], device=embeddings.device)
        loss = F.cross_entropy(logits * scale if scale != 1.0 else logits, targets)
        if l2_reg > 0:
            loss = loss + 0.25 * l2_reg * (squared_norms[anchors].mean() + squared_norms[positives].mean())
        return loss


class NPairLoss(PairLoss):
    """:func:`npair_loss` as a module: ``NPairLoss(l2_reg=0.002)(embeddings, labels)``; batches of pairs."""

    function = staticmethod(npair_loss)

    def __init__(self, *, l2_reg: float = 0.0, scale: float = 1.0, n_synthetic: int = 0,
                 normalize_synthetic: bool = True) -> None:
        super().__init__(l2_reg=l2_reg, scale=scale, n_synthetic=n_synthetic, normalize_synthetic=normalize_synthetic)
