"""Tests for eelib.data: class splits, digits, generated glyphs and the P×K sampler."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from eelib.data import (
    DataSplit,
    PKSampler,
    class_split,
    load_digits_split,
    make_glyphs,
    split_dataset,
)

pytestmark = pytest.mark.unit

# --- class_split / split_dataset --------------------------------------------------------


def test_class_split_takes_the_first_half_of_sorted_classes() -> None:
    labels = torch.tensor([7, 2, 9, 2, 4, 7, 4, 9])
    split = class_split(labels)
    assert split.train_classes.tolist() == [2, 4]
    assert split.test_classes.tolist() == [7, 9]
    assert split.train_indices.tolist() == [1, 3, 4, 6]
    assert split.test_indices.tolist() == [0, 2, 5, 7]


def test_class_split_with_explicit_size_and_numpy_input() -> None:
    labels = np.repeat(np.arange(1, 11), 3)
    split = class_split(labels, n_train_classes=7)
    assert split.train_classes.tolist() == list(range(1, 8))
    assert len(split.train_indices) == 21 and len(split.test_indices) == 9


def test_class_split_odd_number_of_classes_puts_the_extra_class_in_test() -> None:
    split = class_split([0, 1, 2, 3, 4])
    assert len(split.train_classes) == 2 and len(split.test_classes) == 3


@pytest.mark.parametrize(
    ("labels", "n_train", "error", "message"),
    [
        ([1, 1, 1], None, ValueError, "at least 2"),
        ([0, 1, 2], 3, ValueError, "less than the number of classes"),
        ([0, 1, 2], 0, ValueError, "n_train_classes must be >= 1"),
        ([0.0, 1.0], None, TypeError, "labels must hold integers"),
        ([[0, 1]], None, ValueError, "labels must be 1-D"),
        ([], None, ValueError, "labels is empty"),
    ],
)
def test_class_split_errors(labels, n_train, error, message) -> None:
    with pytest.raises(error, match=message):
        class_split(labels, n_train)


def test_split_dataset_rejects_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match="one label per row"):
        split_dataset(torch.zeros(4, 2), torch.tensor([0, 1, 1]))


def test_digits_split() -> None:
    data = load_digits_split()
    assert isinstance(data, DataSplit)
    assert data.x_train.shape == (901, 64) and data.x_test.shape == (896, 64)
    assert data.x_train.dtype == torch.float32 and data.y_train.dtype == torch.int64
    assert set(data.y_train.tolist()) == {0, 1, 2, 3, 4}
    assert set(data.y_test.tolist()) == {5, 6, 7, 8, 9}
    for x in (data.x_train, data.x_test):
        assert x.min() >= 0.0 and x.max() <= 1.0


# --- make_glyphs -----------------------------------------------------------------------


def test_glyphs_shapes_range_and_balance() -> None:
    x, y = make_glyphs(n_classes=10, per_class=7, image_size=8, seed=1)
    assert x.shape == (70, 64) and x.dtype == torch.float32
    assert y.shape == (70,) and y.dtype == torch.int64
    assert x.min() >= 0.0 and x.max() <= 1.0
    assert Counter(y.tolist()) == {c: 7 for c in range(10)}


def test_glyphs_are_deterministic_for_a_seed() -> None:
    first = make_glyphs(n_classes=6, per_class=5, seed=3)
    second = make_glyphs(n_classes=6, per_class=5, seed=3)
    other = make_glyphs(n_classes=6, per_class=5, seed=4)
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    assert not torch.equal(first[0], other[0])


def test_glyphs_without_nuisance_are_their_prototypes() -> None:
    x, y = make_glyphs(n_classes=8, per_class=4, image_size=12, difficulty=0.0)
    images = x.view(8, 4, -1)
    assert torch.allclose(images, images[:, :1].expand_as(images))
    prototypes = images[:, 0]
    gaps = torch.cdist(prototypes, prototypes) + torch.eye(8) * 1e9
    assert gaps.min() > 0.1  # classes are distinct drawings


def test_glyph_difficulty_spreads_classes() -> None:
    def mean_within_class_spread(difficulty: float) -> float:
        x, _ = make_glyphs(n_classes=6, per_class=20, difficulty=difficulty)
        images = x.view(6, 20, -1)
        return (images - images.mean(dim=1, keepdim=True)).norm(dim=-1).mean().item()

    assert mean_within_class_spread(0.2) < mean_within_class_spread(0.8)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"difficulty": 1.5}, ValueError, r"difficulty must be in \[0, 1\]"),
        ({"difficulty": "hard"}, TypeError, "difficulty must be a number"),
        ({"n_classes": 0}, ValueError, "n_classes must be >= 1"),
        ({"per_class": 2.5}, TypeError, "per_class must be a positive int"),
    ],
)
def test_glyph_errors(kwargs, error, message) -> None:
    with pytest.raises(error, match=message):
        make_glyphs(**kwargs)


# --- PKSampler -------------------------------------------------------------------------


def test_pk_batches_are_contiguous_class_blocks() -> None:
    labels = torch.arange(10).repeat_interleave(6)
    sampler = PKSampler(labels, classes_per_batch=3, samples_per_class=4, seed=0)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 3
    seen_classes = []
    for batch in batches:
        assert len(batch) == 12
        block_labels = labels[batch].view(3, 4)
        assert (block_labels == block_labels[:, :1]).all()  # one class per block
        assert block_labels[:, 0].unique().numel() == 3  # P distinct classes
        for block in torch.tensor(batch).view(3, 4):
            assert block.unique().numel() == 4  # without replacement: 6 >= K
        seen_classes += block_labels[:, 0].tolist()
    assert len(set(seen_classes)) == 9  # each class at most once per epoch


def test_pk_small_classes_are_drawn_with_replacement() -> None:
    labels = torch.tensor([0, 0, 1, 2, 2, 2])
    sampler = PKSampler(labels, classes_per_batch=3, samples_per_class=4, seed=1)
    (batch,) = list(sampler)
    blocks = labels[batch].view(3, 4)
    assert sorted(blocks[:, 0].tolist()) == [0, 1, 2]
    assert all((row == row[0]).all() for row in blocks)


def test_pk_drop_last_false_keeps_the_remainder() -> None:
    labels = torch.arange(7).repeat_interleave(2)
    sampler = PKSampler(labels, 3, 2, drop_last=False)
    batches = list(sampler)
    assert len(sampler) == len(batches) == 3
    assert [len(b) for b in batches] == [6, 6, 2]
    assert sorted(labels[sum(batches, [])].unique().tolist()) == list(range(7))


def test_pk_is_deterministic_and_epochs_differ() -> None:
    labels = np.repeat(np.arange(12), 5)
    first = PKSampler(labels, 4, 2, seed=7)
    second = PKSampler(labels, 4, 2, seed=7)
    epochs_first = [list(first) for _ in range(2)]
    assert epochs_first == [list(second) for _ in range(2)]
    assert epochs_first[0] != epochs_first[1]


def test_pk_works_as_a_dataloader_batch_sampler() -> None:
    labels = torch.arange(6).repeat_interleave(3)
    dataset = TensorDataset(torch.randn(18, 2), labels)
    loader = DataLoader(dataset, batch_sampler=PKSampler(labels, 2, 2, seed=0))
    shapes = [(x.shape, y.shape) for x, y in loader]
    assert shapes == [(torch.Size([4, 2]), torch.Size([4]))] * 3


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        (([0, 0, 1, 1], 3, 2), ValueError, "only 2 classes but classes_per_batch is 3"),
        (([0, 0, 1, 1], 0, 2), ValueError, "classes_per_batch must be >= 1"),
        (([0, 0, 1, 1], 2, 1.0), TypeError, "samples_per_class must be a positive int"),
        (([0.5, 1.5], 1, 2), TypeError, "labels must hold integers"),
    ],
)
def test_pk_errors(args, error, message) -> None:
    with pytest.raises(error, match=message):
        PKSampler(*args)


def test_latent_classes_shapes_and_determinism() -> None:
    from eelib.data import make_latent_classes

    x, y = make_latent_classes(n_classes=6, per_class=5, signal_dim=3, nuisance_dim=5, seed=1)
    assert x.shape == (30, 8) and x.dtype == torch.float32
    assert y.tolist() == [c for c in range(6) for _ in range(5)]
    x2, _ = make_latent_classes(n_classes=6, per_class=5, signal_dim=3, nuisance_dim=5, seed=1)
    assert torch.equal(x, x2)


def test_latent_classes_hide_the_class_in_a_few_directions() -> None:
    from eelib.data import make_latent_classes
    from eelib.metrics import recall_at_k

    clean, y = make_latent_classes(nuisance_std=0.0, seed=0)
    noisy, _ = make_latent_classes(seed=0)
    assert recall_at_k(clean, y, ks=(1,))[1] > 0.9
    assert recall_at_k(noisy, y, ks=(1,))[1] < 0.5


def test_latent_classes_reject_bad_arguments() -> None:
    from eelib.data import make_latent_classes

    with pytest.raises(ValueError, match="nuisance_dim"):
        make_latent_classes(nuisance_dim=-1)
    with pytest.raises(ValueError, match="within_class_std"):
        make_latent_classes(within_class_std=-0.1)
