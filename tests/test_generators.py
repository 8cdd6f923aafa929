"""The DAML-style generator baseline runs, learns, and is timed next to EE."""

from __future__ import annotations

import pytest
import torch

from eelib.data import PKSampler, make_latent_classes
from eelib.experiments.generators import TripletGenerator, generator_training_step, hardest_triplets, time_training_steps
from eelib.experiments.models import MLPEmbedder

pytestmark = pytest.mark.unit


def _batch():
    x, y = make_latent_classes(n_classes=8, per_class=8, seed=0)
    index = torch.tensor(next(iter(PKSampler(y, 8, 4))))
    return x[index], y[index]


def test_generator_outputs_unit_negatives() -> None:
    generator = TripletGenerator(6, hidden=16)
    out = generator(torch.randn(5, 6), torch.randn(5, 6), torch.randn(5, 6))
    assert out.shape == (5, 6)
    assert torch.allclose(out.norm(dim=1), torch.ones(5), atol=1e-6)


def test_hardest_triplets_are_valid() -> None:
    x, y = _batch()
    anchors, positives, negatives = hardest_triplets(x, y)
    assert len(anchors) == len(y)
    assert bool((y[anchors] == y[positives]).all()) and bool((anchors != positives).all())
    assert bool((y[anchors] != y[negatives]).all())


def test_generator_step_trains_both_networks() -> None:
    torch.manual_seed(0)
    x, y = _batch()
    model, generator = MLPEmbedder(64, 8, hidden=(16,)), TripletGenerator(8, hidden=16)
    before = [p.clone() for p in (*model.parameters(), *generator.parameters())]
    opt_m = torch.optim.Adam(model.parameters(), lr=1e-2)
    opt_g = torch.optim.Adam(generator.parameters(), lr=1e-2)
    first = generator_training_step(model, generator, opt_m, opt_g, x, y)
    for _ in range(20):
        last = generator_training_step(model, generator, opt_m, opt_g, x, y)
    after = [*model.parameters(), *generator.parameters()]
    assert all(not torch.equal(a, b) for a, b in zip(before, after))
    assert all(torch.isfinite(torch.tensor([*first, *last])))
    assert last[1] < first[1]  # the generator's own objective goes down


def test_timing_reports_three_methods_and_generator_parameters() -> None:
    x, y = _batch()
    rows = time_training_steps(lambda: MLPEmbedder(64, 8, hidden=(16,)), x, y, steps=3, warmup=1, embedding_dim=8)
    assert [r.method.split()[0] for r in rows] == ["triplet", "EE", "generator"]
    assert rows[0].parameters == rows[1].parameters < rows[2].parameters
    assert all(r.milliseconds > 0 for r in rows)
