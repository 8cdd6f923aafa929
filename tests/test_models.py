"""Tests for eelib.experiments.models: shapes, unit norms, determinism, the torchvision guard."""

from __future__ import annotations

import sys

import pytest
import torch
from torch import nn

from eelib.experiments.models import (
    BackboneEmbedder,
    MLPEmbedder,
    SmallConvEmbedder,
    count_parameters,
    pretrained_backbone_embedder,
)

pytestmark = pytest.mark.unit


def unit_rows(x: torch.Tensor) -> bool:
    return torch.allclose(x.norm(dim=1), torch.ones(x.shape[0]), atol=1e-5)


def test_mlp_shapes_and_unit_norm() -> None:
    model = MLPEmbedder(64, embedding_dim=16, hidden=(32, 32))
    out = model(torch.randn(5, 64))
    assert out.shape == (5, 16) and unit_rows(out)


def test_mlp_flattens_images_and_can_be_linear() -> None:
    model = MLPEmbedder(64, embedding_dim=8, hidden=())
    assert model(torch.rand(3, 1, 8, 8)).shape == (3, 8)
    assert count_parameters(model) == 64 * 8 + 8


def test_mlp_without_normalisation() -> None:
    model = MLPEmbedder(4, embedding_dim=3, normalize=False)
    assert not unit_rows(model(10 * torch.randn(6, 4)))


def test_mlp_rejects_wrong_width() -> None:
    with pytest.raises(ValueError, match="expects in_dim=64"):
        MLPEmbedder(64)(torch.randn(2, 63))


def test_conv_shapes_and_unit_norm_on_glyph_sized_images() -> None:
    model = SmallConvEmbedder(embedding_dim=12, in_channels=1)
    out = model(torch.rand(4, 1, 8, 8))
    assert out.shape == (4, 12) and unit_rows(out)


def test_conv_on_rgb_images_in_eval_mode() -> None:
    model = SmallConvEmbedder(embedding_dim=10, widths=(8, 16)).eval()
    out = model(torch.randn(2, 3, 20, 24))
    assert out.shape == (2, 10) and unit_rows(out)


def test_conv_rejects_non_image_input() -> None:
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        SmallConvEmbedder()(torch.randn(2, 64))


@pytest.mark.parametrize(
    "build",
    [
        lambda: MLPEmbedder(32, embedding_dim=8),
        lambda: SmallConvEmbedder(embedding_dim=8, in_channels=1, widths=(4, 8)),
    ],
)
def test_models_are_deterministic_under_manual_seed(build) -> None:
    x = torch.rand(3, 1, 4, 8)
    torch.manual_seed(0)
    first = build()
    torch.manual_seed(0)
    second = build()
    torch.manual_seed(1)
    third = build()
    assert torch.equal(first(x), second(x))
    assert not torch.equal(first(x), third(x))


def test_gradients_flow_through_the_normalisation() -> None:
    model = SmallConvEmbedder(embedding_dim=4, in_channels=1, widths=(4,))
    model(torch.rand(3, 1, 6, 6))[:, 0].sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_backbone_embedder_with_a_toy_backbone() -> None:
    backbone = nn.Sequential(nn.Flatten(), nn.Linear(12, 20))
    model = BackboneEmbedder(backbone, feature_dim=20, embedding_dim=6)
    out = model(torch.randn(2, 3, 2, 2))
    assert out.shape == (2, 6) and unit_rows(out)
    assert torch.count_nonzero(model.head.bias) == 0
    bound = (2.0 / ((20 + 6) / 2)) ** 0.5  # MXNet Xavier(magnitude=2), uniform
    assert model.head.weight.abs().max() <= bound


def test_count_parameters() -> None:
    model = MLPEmbedder(10, embedding_dim=4, hidden=(6,))
    assert count_parameters(model) == (10 * 6 + 6) + (6 * 4 + 4)
    model.head.weight.requires_grad_(False)
    assert count_parameters(model) == (10 * 6 + 6) + 4
    assert count_parameters(model, trainable_only=False) == (10 * 6 + 6) + (6 * 4 + 4)
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        count_parameters("mlp")


def test_pretrained_backbone_explains_missing_torchvision(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "torchvision", None)  # import fails even if installed
    with pytest.raises(ImportError, match="needs torchvision, which is not installed"):
        pretrained_backbone_embedder("googlenet")


class FakeTorchvision:
    """Stands in for torchvision (not a dependency): records which builders are called."""

    def __init__(self) -> None:
        self.built: list[tuple[str, object]] = []
        weights = type("Weights", (), {"url": "https://download.pytorch.org/models/googlenet-1378be20.pth"})
        self.models = type("models", (), {
            "GoogLeNet_Weights": type("GoogLeNet_Weights", (), {"IMAGENET1K_V1": weights}),
            "googlenet": self.builder("googlenet"),
        })

    def builder(self, name: str):
        def build(weights=None, **options):
            self.built.append((name, weights))
            backbone = nn.Sequential(nn.Flatten(), nn.LazyLinear(1024))
            backbone.fc, backbone.dropout = nn.Identity(), nn.Identity()
            return backbone
        return build


@pytest.fixture
def fake_torchvision(monkeypatch, tmp_path) -> FakeTorchvision:
    fake = FakeTorchvision()
    monkeypatch.setitem(sys.modules, "torchvision", fake)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty weights cache
    return fake


def test_pretrained_weights_missing_from_the_cache_are_never_downloaded(fake_torchvision, tmp_path) -> None:
    expected = tmp_path / "hub" / "checkpoints" / "googlenet-1378be20.pth"
    with pytest.raises(FileNotFoundError, match=f"weights are not at {expected}.*allow_download=True"):
        pretrained_backbone_embedder("googlenet")
    assert fake_torchvision.built == []  # torchvision was never asked, so it could not download


def test_pretrained_weights_in_the_cache_or_an_allowed_download_build_the_backbone(fake_torchvision, tmp_path) -> None:
    pretrained_backbone_embedder("googlenet", allow_download=True)
    cached = tmp_path / "hub" / "checkpoints" / "googlenet-1378be20.pth"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"weights")
    model = pretrained_backbone_embedder("googlenet", embedding_dim=8)
    assert [name for name, weights in fake_torchvision.built] == ["googlenet", "googlenet"]
    assert all(weights is not None for _, weights in fake_torchvision.built)
    assert model(torch.randn(2, 3, 4, 4)).shape == (2, 8)


def test_pretrained_backbone_rejects_unknown_name() -> None:
    with pytest.raises(ValueError, match="name must be one of"):
        pretrained_backbone_embedder("vgg16")


@pytest.mark.parametrize(
    ("build", "error"),
    [
        (lambda: MLPEmbedder(0), ValueError),
        (lambda: MLPEmbedder(8, embedding_dim=2.0), TypeError),
        (lambda: MLPEmbedder(8, hidden=(16, -1)), ValueError),
        (lambda: SmallConvEmbedder(widths=()), ValueError),
    ],
)
def test_bad_sizes_are_rejected(build, error) -> None:
    with pytest.raises(error, match="must"):
        build()
