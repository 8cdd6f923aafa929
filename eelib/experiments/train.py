"""One training loop for every eelib loss, with or without Embedding Expansion.

Batches come from :class:`eelib.data.PKSampler` (P classes × K instances, each class a
contiguous block: the official EE layout, so EE's pairs are the official ones). After each
epoch the loop records the mean loss, Recall@1 on an evaluation set of unseen classes, and
two statistics of hard negative pair mining: the mean hardest-negative distance and the
share of anchors whose hardest negative pair involves a synthetic point.

On CPU a rerun with the same seed, data and thread count is bit-identical.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from eelib._validation import (
    as_label_tensor,
    validate_flag,
    validate_positive_int,
    validate_real,
    validate_seed,
)
from eelib.diagnostics import hardest_negative_pairs
from eelib.data import PKSampler
from eelib.losses import PairLoss, TripletLoss, batch_requirement
from eelib.metrics import recall_at_k

Samples = Tensor | Dataset


def gather(samples: Samples, index: Tensor) -> Tensor:
    """Rows ``index`` of a tensor, or the stacked inputs of those items of a Dataset.

    A Dataset (e.g. :class:`eelib.experiments.benchmark_folders.ImageListDataset`) yields ``(input, label)``
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


def _validate_model(model: object) -> nn.Module:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return model


def _validate_samples(name: str, samples: object) -> Samples:
    """A tensor with one row per sample, or a Dataset with a length."""
    if isinstance(samples, Tensor):
        if samples.dim() == 0:
            raise ValueError(f"{name} must have one row per sample, got a 0-dim tensor")
        return samples
    if not isinstance(samples, Dataset) or not hasattr(samples, "__len__"):
        raise TypeError(f"{name} must be a torch.Tensor or a Dataset with a length, got {type(samples).__name__}")
    return samples


def _model_device(model: nn.Module) -> torch.device:
    """Where the model's parameters (or buffers) live; CPU for a model without any."""
    for tensor in [*model.parameters(), *model.buffers()]:
        return tensor.device
    return torch.device("cpu")


@torch.no_grad()
def embed(model: nn.Module, x: Samples, batch_size: int = 1024) -> Tensor:
    """Embeddings of ``x`` (a tensor or a Dataset) in evaluation mode, in chunks, without gradients."""
    model = _validate_model(model)
    x = _validate_samples("x", x)
    batch_size = validate_positive_int("batch_size", batch_size)
    if len(x) == 0:
        raise ValueError("x is empty: there is nothing to embed")
    was_training = model.training
    model.eval()
    device = _model_device(model)
    chunks = [torch.arange(i, min(i + batch_size, len(x))) for i in range(0, len(x), batch_size)]
    out = torch.cat([model(gather(x, chunk).to(device)).cpu() for chunk in chunks])
    model.train(was_training)
    return out


def fit(
    model: nn.Module,
    x: Samples,
    y: Tensor,
    *,
    loss: PairLoss | Callable[[Tensor, Tensor], Tensor] | None = None,
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
    loss : PairLoss or callable, optional
        The loss, configured: an eelib loss module with its hyperparameters and EE, e.g.
        ``TripletLoss(mining="hardest", n_synthetic=2)`` (default ``TripletLoss()``), or any
        callable ``loss(embeddings, labels)`` (a ``functools.partial`` of an eelib loss
        function, a pytorch-metric-learning loss). The hardest-negative statistics use the
        module's ``n_synthetic`` and ``normalize_synthetic`` (a loss without them: no EE).
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

    Raises
    ------
    TypeError, ValueError
        For an argument of the wrong type or out of range (every count is an integer >= 1,
        ``lr`` > 0 and ``weight_decay`` >= 0 finite, flags booleans), before any training.
    """
    model = _validate_model(model)
    x = _validate_samples("x", x)
    y = as_label_tensor(y, "y")
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} samples but y has {len(y)} labels; there must be one label per sample")
    loss_fn = TripletLoss() if loss is None else _validate_loss(loss)
    n_synthetic = getattr(loss_fn, "n_synthetic", 0)
    normalize_synthetic = getattr(loss_fn, "normalize_synthetic", True)
    epochs = validate_positive_int("epochs", epochs)
    classes_per_batch = validate_positive_int("classes_per_batch", classes_per_batch)
    if classes_per_batch < 2:
        raise ValueError("classes_per_batch must be >= 2: a batch of one class has no negative pair, "
                         f"got {classes_per_batch}")
    required = batch_requirement(loss_fn).samples_per_class
    if samples_per_class is None:
        samples_per_class = required or 4
    samples_per_class = validate_positive_int("samples_per_class", samples_per_class)
    if required is not None and samples_per_class != required:
        raise ValueError(f"samples_per_class must be {required} for this loss (its batches must hold exactly "
                         f"{required} instances of every class), got {samples_per_class}")
    if n_synthetic and samples_per_class < 2:
        raise ValueError("samples_per_class must be >= 2 with n_synthetic > 0: Embedding Expansion pairs "
                         f"instances of the same class, got {samples_per_class}")
    if steps_per_epoch is not None:
        steps_per_epoch = validate_positive_int("steps_per_epoch", steps_per_epoch)
    stats_batches = validate_positive_int("stats_batches", stats_batches)
    lr = validate_real("lr", lr, minimum=0.0, exclusive_minimum=True)
    weight_decay = validate_real("weight_decay", weight_decay, minimum=0.0)
    seed = validate_seed("seed", seed, maximum=2**63 - 1)  # torch.manual_seed's range
    progress = validate_flag("progress", progress)
    if eval_set is not None:
        if not isinstance(eval_set, (tuple, list)) or len(eval_set) != 2:
            raise TypeError(f"eval_set must be a pair (samples, labels), got {type(eval_set).__name__}")
        eval_set = (_validate_samples("eval_set[0]", eval_set[0]), as_label_tensor(eval_set[1], "eval_set[1]"))
        if len(eval_set[0]) != len(eval_set[1]):
            raise ValueError(f"eval_set has {len(eval_set[0])} samples but {len(eval_set[1])} labels")
    if on_epoch_end is not None and not callable(on_epoch_end):
        raise TypeError(f"on_epoch_end must be callable, got {type(on_epoch_end).__name__}")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(f"device must name a torch device (e.g. 'cpu', 'cuda:0'), got {device!r}") from error
    if not any(parameter.requires_grad for parameter in model.parameters()):
        raise ValueError("model has no trainable parameters: there is nothing to fit")
    torch.manual_seed(seed)
    model.to(device).train()
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
            value = loss_fn(embeddings, yb)
            optimizer.zero_grad()
            value.backward()
            loss_value = value.item()  # after backward: on a GPU the backward pass is queued without waiting
            if not math.isfinite(loss_value):  # refused before the step: the model keeps its last finite state
                raise ValueError(f"the loss is {loss_value} at epoch {epoch + 1}, step {step + 1}; the model "
                                 "was not updated with it (a learning rate that is too high is the usual cause)")
            optimizer.step()
            losses.append(loss_value)
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


def _validate_loss(loss: object) -> Callable[[Tensor, Tensor], Tensor]:
    """A configured loss: a module or callable taking ``(embeddings, labels)``; a name is refused with the fix."""
    if isinstance(loss, str):
        raise TypeError(f"loss must be a configured loss such as eelib.losses.TripletLoss(margin=0.2), got the name "
                        f"{loss!r}; eelib.losses.make_loss({loss!r}, ...) builds one by name")
    if not callable(loss):
        raise TypeError(f"loss must be a loss module or a callable loss(embeddings, labels), got {type(loss).__name__}")
    return loss


def _gathered(x: Samples, y: Tensor, sampler: PKSampler) -> Iterator[tuple[Tensor, Tensor]]:
    """``(inputs, labels)`` of successive epochs of the sampler, forever, gathered in this process."""
    while True:
        for batch in sampler:
            index = torch.as_tensor(batch)
            yield gather(x, index), y[index]


__all__ = ["History", "embed", "fit", "gather"]
