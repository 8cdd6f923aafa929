"""One training loop for every eelib loss, with or without Embedding Expansion.

Batches come from :class:`eelib.data.PKSampler` (P classes × K instances, each class a
contiguous block: the official EE layout, so EE's pairs are the official ones). After each
epoch the loop records the mean loss, Recall@1 on an evaluation set of unseen classes, and
two statistics of hard negative pair mining: the mean hardest-negative distance and the
share of anchors whose hardest negative pair involves a synthetic point.

On CPU a rerun with the same seed, data and thread count is bit-identical.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from eelib.analysis import hardest_negative_pairs
from eelib.data import PKSampler
from eelib.losses import LossFn, batch_requirement, get_loss
from eelib.metrics import recall_at_k

Samples = Tensor | Dataset


def gather(samples: Samples, index: Tensor) -> Tensor:
    """Rows ``index`` of a tensor, or the stacked inputs of those items of a Dataset.

    A Dataset (e.g. :class:`eelib.experiments.datasets.ImageListDataset`) yields ``(input, label)``
    items; only the inputs are stacked, the labels come from the caller's label tensor.
    """
    if isinstance(samples, Tensor):
        return samples[index]
    return torch.stack([samples[i][0] for i in index.tolist()])


@dataclass
class History:
    """What :func:`fit` records, one entry per epoch.

    Attributes
    ----------
    loss : list of float
        Mean training loss over the epoch's batches.
    recall_at_1 : list of float
        Recall@1 on the evaluation set after the epoch (empty without ``eval_set``).
    hardest_negative_distance : list of float
        Mean over anchors of the hardest negative pair's distance (HNPM).
    hardest_negative_synthetic_share : list of float
        Share of anchors whose hardest negative pair involves a synthetic point
        (0 without EE).
    seconds : list of float
        Wall time of each epoch's training steps (evaluation excluded).
    model : nn.Module
        The trained model (the same object that was passed in).
    """

    model: nn.Module
    loss: list[float] = field(default_factory=list)
    recall_at_1: list[float] = field(default_factory=list)
    hardest_negative_distance: list[float] = field(default_factory=list)
    hardest_negative_synthetic_share: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)


@torch.no_grad()
def embed(model: nn.Module, x: Samples, batch_size: int = 1024) -> Tensor:
    """Embeddings of ``x`` (a tensor or a Dataset) in evaluation mode, in chunks, without gradients."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    chunks = [torch.arange(i, min(i + batch_size, len(x))) for i in range(0, len(x), batch_size)]
    out = torch.cat([model(gather(x, chunk).to(device)).cpu() for chunk in chunks])
    model.train(was_training)
    return out


def fit(
    model: nn.Module,
    x: Samples,
    y: Tensor,
    *,
    loss: str | LossFn = "triplet",
    loss_kwargs: dict[str, Any] | None = None,
    n_synthetic: int = 0,
    normalize_synthetic: bool = True,
    epochs: int = 10,
    classes_per_batch: int = 8,
    samples_per_class: int | None = None,
    steps_per_epoch: int | None = None,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    seed: int = 0,
    eval_set: tuple[Samples, Tensor] | None = None,
    progress: bool = True,
    device: str | torch.device = "cpu",
    on_epoch_end: Callable[[int, History], None] | None = None,
    stats_batches: int = 4,
    batches: Iterable[tuple[Tensor, Tensor]] | None = None,
) -> History:
    """Train an embedding model with a pair loss, optionally with Embedding Expansion.

    Parameters
    ----------
    model : nn.Module
        Maps a batch of ``x`` to embeddings (normally L2-normalised, as in the paper).
    x : Tensor or Dataset
        Training samples (a Dataset yields ``(input, label)`` items, e.g. images).
    y : Tensor
        Integer label of every sample.
    loss : str or callable, default "triplet"
        A name in :data:`eelib.losses.LOSSES` or a function with the eelib signature
        ``loss(embeddings, labels, *, n_synthetic, normalize_synthetic, **kwargs)``.
    loss_kwargs : dict, optional
        Hyperparameters passed to the loss (e.g. ``{"margin": 0.2, "mining": "hardest"}``).
    n_synthetic : int, default 0
        EE's synthetic points per pair (the paper uses 2); 0 trains without EE.
    normalize_synthetic : bool, default True
    epochs : int, default 10
    classes_per_batch : int, default 8
        P of the P×K batches.
    samples_per_class : int, optional
        K; defaults to what the loss requires (2 for N-pair, whose batches are pairs; see
        :func:`eelib.losses.batch_requirement`) and to 4 for a loss that requires nothing.
    steps_per_epoch : int, optional
        Batches per epoch; default: enough batches to see about every training sample once.
    lr, weight_decay : float
        Adam's settings (the official EE recipe: lr 1e-4, weight decay 5e-4).
    seed : int, default 0
        Seeds torch and the sampler; a rerun on CPU is bit-identical.
    eval_set : (Tensor or Dataset, Tensor), optional
        Samples and labels of unseen classes for Recall@1 after each epoch.
    progress : bool, default True
        Show a tqdm progress bar (notebook-aware).
    device : str or torch.device, default "cpu"
    on_epoch_end : callable, optional
        Called as ``on_epoch_end(epoch, history)`` after each epoch's statistics.
    stats_batches : int, default 4
        The hardest-negative statistics are averaged over the last ``stats_batches``
        batches of each epoch (they cost an extra pass over the expanded batch).
    batches : iterable of (inputs, labels), optional
        Where the training batches come from instead of ``x`` indexed by a
        :class:`~eelib.data.PKSampler`: e.g. a DataLoader with worker processes
        (:func:`eelib.experiments.loading.pk_loader`) or one rank's share under
        DistributedDataParallel (:mod:`eelib.experiments.distributed`). It is iterated
        without end, so it must not run dry (see :func:`eelib.experiments.loading.endless`).

    Returns
    -------
    History
    """
    loss_fn = get_loss(loss)
    loss_kwargs = dict(loss_kwargs or {})
    required = batch_requirement(loss_fn).samples_per_class
    if samples_per_class is None:
        samples_per_class = required or 4
    if required is not None and samples_per_class != required:
        raise ValueError(f"samples_per_class must be {required} for this loss (its batches must hold exactly "
                         f"{required} instances of every class), got {samples_per_class}")
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    torch.manual_seed(seed)
    model.to(device).train()
    y = torch.as_tensor(y)
    if batches is None:
        batches = _gathered(x, y, PKSampler(y, classes_per_batch, samples_per_class, seed=seed))
    stream = iter(batches)
    batch_size = classes_per_batch * samples_per_class
    if steps_per_epoch is None:
        steps_per_epoch = max(1, len(y) // batch_size)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    history = History(model=model)
    bar = tqdm(range(epochs), desc="epochs", disable=not progress, leave=False)
    for epoch in bar:
        start = time.perf_counter()
        losses, distances, shares = [], [], []
        for step in range(steps_per_epoch):
            xb, yb = next(stream)
            xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
            embeddings = model(xb)
            value = loss_fn(embeddings, yb, n_synthetic=n_synthetic,
                            normalize_synthetic=normalize_synthetic, **loss_kwargs)
            optimizer.zero_grad()
            value.backward()
            optimizer.step()
            losses.append(value.item())
            if step < steps_per_epoch - stats_batches:
                continue
            hardest = hardest_negative_pairs(embeddings.detach(), yb, n_synthetic,
                                             normalize_synthetic=normalize_synthetic)
            distances.append(hardest.distance.mean().item())
            shares.append(hardest.involves_synthetic.float().mean().item())
        history.seconds.append(time.perf_counter() - start)
        history.loss.append(sum(losses) / len(losses))
        history.hardest_negative_distance.append(sum(distances) / len(distances))
        history.hardest_negative_synthetic_share.append(sum(shares) / len(shares))
        if eval_set is not None:
            history.recall_at_1.append(recall_at_k(embed(model, eval_set[0]), eval_set[1], ks=(1,))[1])
        postfix = {"loss": f"{history.loss[-1]:.4f}"}
        if history.recall_at_1:
            postfix["R@1"] = f"{history.recall_at_1[-1]:.3f}"
        bar.set_postfix(postfix)
        if on_epoch_end is not None:
            on_epoch_end(epoch, history)
    return history


def _gathered(x: Samples, y: Tensor, sampler: PKSampler) -> Iterator[tuple[Tensor, Tensor]]:
    """``(inputs, labels)`` of successive epochs of the sampler, forever, gathered in this process."""
    while True:
        for batch in sampler:
            index = torch.as_tensor(batch)
            yield gather(x, index), y[index]


__all__ = ["History", "embed", "fit", "gather"]
