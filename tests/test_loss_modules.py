"""The module form of the losses and of EE's expansion: one implementation, PML-style calls,
consistent argument names."""

from __future__ import annotations

import inspect

import pytest
import torch

from eelib import EmbeddingExpansion, expand
from eelib.data import random_batch
from eelib.losses import (
    HYPERPARAMETERS,
    LOSS_MODULES,
    LOSSES,
    BatchRequirement,
    ContrastiveLoss,
    NPairLoss,
    PairLoss,
    TripletLoss,
    batch_requirement,
    make_loss,
)

pytestmark = pytest.mark.unit

#: Settings away from the defaults, per loss, so that a module that dropped one would differ.
SETTINGS = {
    "contrastive": {"margin": 0.7},
    "triplet": {"margin": 0.3, "mining": "semihard", "squared": True},
    "npair": {"l2_reg": 0.01, "scale": 3.0},
    "lifted": {"margin": 0.6},
    "multi_similarity": {"alpha": 1.5, "beta": 20.0, "base": 0.3, "epsilon": 0.2},
}

EE_NAMES = ("n_synthetic", "normalize_synthetic")


@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.parametrize("n_synthetic", [0, 2])
@pytest.mark.parametrize("normalize_synthetic", [True, False])
def test_the_module_computes_the_function(name, n_synthetic, normalize_synthetic) -> None:
    """Value and float64 gradient of the module equal the function's with the same settings."""
    x, y = random_batch([2] * 5, 6, seed=3, norm_range=(0.5, 1.5))
    settings = {**SETTINGS[name], "n_synthetic": n_synthetic, "normalize_synthetic": normalize_synthetic}
    module = LOSS_MODULES[name](**settings)
    a, b = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    by_module, by_function = module(a, y), LOSSES[name](b, y, **settings)
    by_module.backward()
    by_function.backward()
    assert torch.equal(by_module, by_function) and torch.equal(a.grad, b.grad)
    assert module.n_synthetic == n_synthetic and module.normalize_synthetic == normalize_synthetic
    assert list(module.parameters()) == [] and isinstance(module, PairLoss)


@pytest.mark.parametrize("name", LOSSES)
def test_module_and_function_take_the_same_keywords_with_the_same_defaults(name) -> None:
    """Every setting is keyword-only, named as in the function, defaulting as in the function."""
    function = inspect.signature(LOSSES[name]).parameters
    module = inspect.signature(LOSS_MODULES[name]).parameters
    assert list(function)[:2] == ["embeddings", "labels"]
    options = {k: p for k, p in function.items() if k not in ("embeddings", "labels")}
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in options.values())
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in module.values())
    assert {k: p.default for k, p in options.items()} == {k: p.default for k, p in module.items()}
    # one name for one idea: every hyperparameter is one of the shared, checked names
    assert set(options) - set(EE_NAMES) <= set(HYPERPARAMETERS)


def test_expand_and_its_module_use_the_losses_names() -> None:
    parameters = inspect.signature(expand).parameters
    assert [k for k, p in parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY] == list(EE_NAMES)
    assert list(inspect.signature(EmbeddingExpansion).parameters) == list(EE_NAMES)
    x, y = random_batch([3, 2, 4], 5, seed=2, shuffle=True)
    for normalize in (True, False):
        by_module = EmbeddingExpansion(n_synthetic=3, normalize_synthetic=normalize)(x, y)
        by_function = expand(x, y, n_synthetic=3, normalize_synthetic=normalize)
        assert all(torch.equal(a, b) for a, b in zip(by_module, by_function))
    with pytest.raises(TypeError):
        expand(x, y, 2)  # n_synthetic is a keyword, as in the losses


@pytest.mark.parametrize(("make", "error", "message"), [
    (lambda: ContrastiveLoss(margin=-1.0), ValueError, "margin must be in"),
    (lambda: TripletLoss(mining="hard"), ValueError, "mining must be one of"),
    (lambda: TripletLoss(squared="yes"), TypeError, "squared must be True or False"),
    (lambda: NPairLoss(scale=0.0), ValueError, "scale must be in"),
    (lambda: TripletLoss(n_synthetic=-1), ValueError, "n_synthetic must be >= 0"),
    (lambda: TripletLoss(normalize_synthetic=1), TypeError, "normalize_synthetic must be True or False"),
    (lambda: EmbeddingExpansion(n_synthetic=2.0), TypeError, "n_synthetic"),
    (lambda: TripletLoss(0.2), TypeError, "positional"),
    (lambda: make_loss("npair", margin=0.2), TypeError, "margin"),
])
def test_bad_settings_are_refused_when_the_module_is_built(make, error, message) -> None:
    with pytest.raises(error, match=message):
        make()


def test_modules_print_their_settings_and_declare_their_batches() -> None:
    assert repr(TripletLoss(mining="hardest", n_synthetic=2)) == (
        "TripletLoss(margin=0.2, mining='hardest', squared=False, n_synthetic=2, normalize_synthetic=True)")
    assert batch_requirement(NPairLoss()) == BatchRequirement(samples_per_class=2)
    assert batch_requirement(TripletLoss()) == BatchRequirement()


def test_a_module_follows_its_embeddings_to_any_device_and_into_a_model() -> None:
    """No buffers, no state: the module composes with nn.Sequential-style code and state dicts."""
    module = TripletLoss(n_synthetic=1)
    assert module.state_dict() == {}
    x, y = random_batch([2, 2, 2], 4, seed=0, dtype=torch.float32)
    assert module.to(torch.float64)(x, y).dtype == torch.float32  # nothing to convert: the batch decides
