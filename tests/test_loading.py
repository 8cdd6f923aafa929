"""The P × K DataLoader, generated image folders, and fit's batch hook (eelib.experiments.loading)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from eelib.data import PKSampler, make_latent_classes
from eelib.experiments.benchmark_folders import EvalTransform, load_benchmark
from eelib.experiments.loading import endless, pk_loader, write_image_folder
from eelib.experiments.models import MLPEmbedder
from eelib.experiments.train import fit
from eelib.losses import TripletLoss

pytestmark = [pytest.mark.unit, pytest.mark.usefixtures("one_torch_thread")]


@pytest.fixture(scope="module")
def image_root(tmp_path_factory) -> Path:
    return write_image_folder(tmp_path_factory.mktemp("images"), n_classes=6, per_class=5, image_size=32, seed=1)


def test_generated_folder_reads_as_sop(image_root: Path) -> None:
    train = load_benchmark("sop", image_root, "train", image_size=24)
    test = load_benchmark("sop", image_root, "test", image_size=24)
    assert (len(train), train.n_classes, len(test), test.n_classes) == (15, 3, 15, 3)
    image, label = train[0]
    assert image.shape == (3, 24, 24) and label == 0
    assert not torch.equal(train[0][0], train[1][0])  # images of a class differ


@pytest.mark.parametrize("workers", [0, 2])
def test_loader_yields_the_samplers_pk_batches(image_root: Path, workers: int) -> None:
    data = load_benchmark("sop", image_root, "train", transform=EvalTransform(16))
    loader = pk_loader(data, classes_per_batch=2, samples_per_class=4, seed=3, workers=workers)
    expected = list(PKSampler(data.labels, 2, 4, seed=3))
    batches = list(loader)
    assert len(batches) == len(expected) == 1
    images, labels = batches[0]
    assert images.shape == (8, 3, 16, 16)
    assert labels.tolist() == data.labels[expected[0]].tolist()
    assert torch.equal(images, torch.stack([data[i][0] for i in expected[0]]))  # the same items, in order


def test_endless_runs_over_epochs(image_root: Path) -> None:
    data = load_benchmark("sop", image_root, "train", transform=EvalTransform(8))
    stream = endless(pk_loader(data, classes_per_batch=3, samples_per_class=2, seed=0))
    first, second = next(stream)[1], next(stream)[1]
    assert len(first) == len(second) == 6  # one batch per epoch here: the second comes from epoch 2


def test_fit_with_a_loader_equals_fit_with_tensors() -> None:
    """The batch hook changes where batches come from, not what training does."""
    x, y = make_latent_classes(n_classes=8, per_class=12, seed=0)
    settings = dict(loss=TripletLoss(mining="hardest", n_synthetic=2), epochs=2,
                    classes_per_batch=4, samples_per_class=4, steps_per_epoch=3, seed=5, progress=False)
    torch.manual_seed(0)
    plain = fit(MLPEmbedder(x.shape[1], 8, hidden=(16,)), x, y, **settings)
    torch.manual_seed(0)
    loader = pk_loader((x, y), classes_per_batch=4, samples_per_class=4, seed=5)
    hooked = fit(MLPEmbedder(x.shape[1], 8, hidden=(16,)), x, y, batches=endless(loader), **settings)
    assert plain.loss == hooked.loss
    for a, b in zip(plain.model.parameters(), hooked.model.parameters()):
        assert torch.equal(a, b)


def test_loader_needs_labels() -> None:
    with pytest.raises(ValueError, match="labels is needed"):
        pk_loader(torch.utils.data.TensorDataset(torch.zeros(4, 2)), classes_per_batch=2, samples_per_class=2)


def test_folder_needs_two_classes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="n_classes must be >= 2"):
        write_image_folder(tmp_path, n_classes=1)
