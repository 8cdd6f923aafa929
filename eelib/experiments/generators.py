"""A minimal generator-based baseline (DAML-style), written to time EE against it.

Generator methods synthesise hard negatives with a network: DAML (Duan et al., CVPR 2018)
feeds an (anchor, positive, negative) triplet of embeddings to a generator that outputs a
synthetic negative, trained adversarially to the metric; HDML (Zheng et al., CVPR 2019)
interpolates a negative towards the anchor and decodes it back to feature space with a
generator, keeping its label with a softmax head (docs/paper.md §6.1–6.2). Both add
parameters, a second optimiser and a second backward pass to every training step.

This module is **not** a reproduction of either paper: it is a minimal, untuned DAML-style
generator with DAML's three generator terms, so that the cost of a generator step can be
measured next to an EE step on the same model and data (:func:`time_training_steps`). Its
accuracy in the experiments is evidence about this generator only, not about DAML or HDML.
Its loss weights are our choice (DAML's λ are UNVERIFIED).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from eelib._validation import validate_positive_int
from eelib.experiments.models import _check_parameter_memory, count_parameters
from eelib.experiments.timing import median_ms
from eelib.losses import triplet_loss
from eelib.losses.triplet import batch_hard
from eelib.pairs import pair_matrices


class TripletGenerator(nn.Module):
    """Maps (anchor, positive, negative) embeddings to a synthetic hard negative (DAML-style).

    Parameters
    ----------
    embedding_dim : int
    hidden : int, default 512
        Width of the two hidden layers.
    """

    def __init__(self, embedding_dim: int, hidden: int = 512) -> None:
        super().__init__()
        embedding_dim = validate_positive_int("embedding_dim", embedding_dim)
        hidden = validate_positive_int("hidden", hidden)
        _check_parameter_memory(f"TripletGenerator with embedding_dim={embedding_dim} and hidden={hidden}",
                                4 * embedding_dim * hidden + hidden * hidden)
        self.net = nn.Sequential(
            nn.Linear(3 * embedding_dim, hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, embedding_dim),
        )

    def forward(self, anchor: Tensor, positive: Tensor, negative: Tensor) -> Tensor:
        """A unit-norm synthetic negative for each triplet, shape (T, embedding_dim)."""
        return F.normalize(self.net(torch.cat([anchor, positive, negative], dim=1)), dim=1)


def hardest_triplets(embeddings: Tensor, labels: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Per anchor, its farthest positive and closest negative (indices), for valid anchors.

    The selection of batch-hard triplet (:func:`eelib.losses.triplet.batch_hard`), on
    squared distances (which order pairs as distances do).
    """
    with torch.no_grad():
        pm = pair_matrices(embeddings, labels, n_synthetic=0, normalize_synthetic=True, measure="squared_distance")
        hard = batch_hard(pm, pm.positive, pm.negative)
    anchors = torch.nonzero(hard.valid).squeeze(1)
    return anchors, hard.positive_index[anchors], hard.negative_index[anchors]


def generator_loss(anchor: Tensor, positive: Tensor, negative: Tensor, synthetic: Tensor,
                   margin: float, reg_weight: float = 1.0, adv_weight: float = 1.0) -> Tensor:
    """DAML's three generator terms: be hard, stay near the real negative, fool the metric.

    ``‖ñ − a‖² + reg_weight · ‖ñ − n‖² + adv_weight · [d(a, ñ)² − d(a, p)² − m]₊`` (the last
    term rewards synthetic negatives that violate the triplet constraint).
    """
    hard = (synthetic - anchor).pow(2).sum(1)
    stay = (synthetic - negative).pow(2).sum(1)
    adversarial = torch.relu((synthetic - anchor).pow(2).sum(1) - (positive - anchor).pow(2).sum(1) - margin)
    return (hard + reg_weight * stay + adv_weight * adversarial).mean()


class GeneratorTripletLoss:
    """Batch-hard triplet with a DAML-style generator: a loss for :func:`eelib.experiments.train.fit`.

    Each call trains the generator one step on its own objective (:func:`generator_loss`,
    on detached embeddings, with its own optimiser) and returns the metric's loss: batch-hard
    triplet on the real batch plus a triplet term with the synthetic negatives (detached)
    in place of the real ones. The two updates touch disjoint parameters, so the order of
    the steps does not matter.

    Parameters
    ----------
    generator : TripletGenerator
    optimizer : torch.optim.Optimizer
        The generator's optimiser.
    margin : float, default 0.2

    Attributes
    ----------
    last_generator_loss : float
        The generator's objective at the last call.
    """

    def __init__(self, generator: TripletGenerator, optimizer: torch.optim.Optimizer, margin: float = 0.2) -> None:
        self.generator, self.optimizer, self.margin = generator, optimizer, margin
        self.last_generator_loss = float("nan")

    def __call__(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        anchors, positives, negatives = hardest_triplets(embeddings.detach(), labels)
        a, p, n = embeddings[anchors], embeddings[positives], embeddings[negatives]
        synthetic = self.generator(a.detach(), p.detach(), n.detach())
        gen = generator_loss(a.detach(), p.detach(), n.detach(), synthetic, self.margin)
        self.optimizer.zero_grad()
        gen.backward()
        self.optimizer.step()
        self.last_generator_loss = float(gen.detach())
        real = triplet_loss(embeddings, labels, margin=self.margin, mining="hardest")
        fake = torch.relu((a - p).norm(dim=1) - (a - synthetic.detach()).norm(dim=1) + self.margin).mean()
        return real + fake


def generator_training_step(model: nn.Module, generator: TripletGenerator, model_optimizer: torch.optim.Optimizer,
                            generator_optimizer: torch.optim.Optimizer, x: Tensor, y: Tensor,
                            margin: float = 0.2) -> tuple[float, float]:
    """One step of metric + generator training (:class:`GeneratorTripletLoss`); returns both losses."""
    loss = GeneratorTripletLoss(generator, generator_optimizer, margin)
    metric = loss(model(x), y)
    model_optimizer.zero_grad()
    metric.backward()
    model_optimizer.step()
    return float(metric.detach()), loss.last_generator_loss


def ee_training_step(model: nn.Module, optimizer: torch.optim.Optimizer, x: Tensor, y: Tensor,
                     n_synthetic: int = 2, margin: float = 0.2) -> float:
    """One step of EE + batch-hard triplet (``n_synthetic=0``: plain batch-hard triplet)."""
    loss = triplet_loss(model(x), y, margin=margin, mining="hardest", n_synthetic=n_synthetic)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return float(loss.detach())


class StepTiming(NamedTuple):
    """Median time of one training step and the trainable parameters it involves."""

    method: str
    milliseconds: float
    parameters: int


def time_training_steps(model_factory, x: Tensor, y: Tensor, *, steps: int = 30, warmup: int = 5,
                        embedding_dim: int, n_synthetic: int = 2, seed: int = 0) -> list[StepTiming]:
    """Time triplet, EE + triplet and generator + triplet steps on the same batch.

    Parameters
    ----------
    model_factory : callable
        Returns a fresh embedding model.
    x, y : Tensor
        One batch (official P × K layout).
    steps, warmup : int
        Timed and untimed repetitions; the median is reported.
    embedding_dim : int
        Output size of the model (the generator's input and output).
    n_synthetic : int, default 2
    seed : int, default 0

    Returns
    -------
    list of StepTiming
    """
    results = []
    for method, n in (("triplet (batch-hard)", 0), (f"EE (n = {n_synthetic}) + triplet", n_synthetic)):
        torch.manual_seed(seed)
        model = model_factory()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
        step_ms = median_ms(lambda: ee_training_step(model, optimizer, x, y, n), repeats=steps, warmup=warmup)
        results.append(StepTiming(method, step_ms, count_parameters(model)))
    torch.manual_seed(seed)
    model = model_factory()
    generator = TripletGenerator(embedding_dim)
    model_opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    gen_opt = torch.optim.Adam(generator.parameters(), lr=1e-4)
    results.append(StepTiming("generator (DAML-style) + triplet",
                              median_ms(lambda: generator_training_step(model, generator, model_opt, gen_opt, x, y),
                                        repeats=steps, warmup=warmup),
                              count_parameters(model) + count_parameters(generator)))
    return results


__all__ = [
    "GeneratorTripletLoss",
    "StepTiming",
    "TripletGenerator",
    "ee_training_step",
    "generator_loss",
    "generator_training_step",
    "hardest_triplets",
    "time_training_steps",
]
