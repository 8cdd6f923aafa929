"""Embedding networks: every model maps its input to L2-normalised embeddings.

The EE paper embeds images with an ImageNet-pretrained GoogLeNet, global average pooling,
a 512-d linear layer and L2-normalisation (official code; docs/paper.md §4.1). The course
trains the same kind of head on small offline data, so this module offers

* :class:`MLPEmbedder` for feature vectors (digits, generated glyphs),
* :class:`SmallConvEmbedder`, a small CNN trained from scratch, for images,
* :func:`pretrained_backbone_embedder`, the paper's set-up, which needs torchvision and
  pretrained weights that are already on disk (it is never used by tests or notebooks).

The losses of :mod:`eelib.losses` never normalise their input, so normalisation lives here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from eelib._validation import validate_choice, validate_flag, validate_memory, validate_positive_int

#: Backbones accepted by :func:`pretrained_backbone_embedder`, with their feature widths.
BACKBONE_FEATURES = {"googlenet": 1024, "resnet18": 512}


def _widths(name: str, widths: object) -> list[int]:
    """A sequence of layer widths, each a positive int."""
    if isinstance(widths, (str, bytes)) or not isinstance(widths, Sequence):
        raise TypeError(f"{name} must be a sequence of positive ints, got {type(widths).__name__}")
    return [validate_positive_int(name, w) for w in widths]


def _check_parameter_memory(model: str, n_parameters: int) -> None:
    """Refuse a model whose float32 parameters, gradients and Adam's two moments would not fit."""
    validate_memory(f"{model} with {n_parameters} parameters", 16 * n_parameters)


def _embed(head_output: Tensor, normalize: bool) -> Tensor:
    """L2-normalise each row when ``normalize``."""
    return F.normalize(head_output, p=2.0, dim=1) if normalize else head_output


class MLPEmbedder(nn.Module):
    """Multi-layer perceptron embedder: (Linear → ReLU)* → Linear → L2-normalisation.

    Parameters
    ----------
    in_dim : int
        Number of input features; inputs of shape (B, ...) are flattened to (B, in_dim).
    embedding_dim : int, default 64
    hidden : sequence of int, default (256,)
        Widths of the hidden layers; ``()`` gives a linear embedding.
    normalize : bool, default True
        L2-normalise the output rows (the paper's head does).

    Shapes
    ------
    input (B, in_dim) or (B, ...) with ``in_dim`` elements per sample; output (B, embedding_dim).
    """

    def __init__(
        self,
        in_dim: int,
        embedding_dim: int = 64,
        hidden: Sequence[int] = (256,),
        *,
        normalize: bool = True,
    ) -> None:
        super().__init__()
        self.in_dim = validate_positive_int("in_dim", in_dim)
        widths = [self.in_dim, *_widths("hidden", hidden)]
        embedding_dim = validate_positive_int("embedding_dim", embedding_dim)
        _check_parameter_memory("MLPEmbedder", sum((a + 1) * b for a, b in zip(widths, [*widths[1:], embedding_dim])))
        layers: list[nn.Module] = []
        for fan_in, fan_out in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(widths[-1], embedding_dim)
        self.normalize = validate_flag("normalize", normalize)

    def forward(self, x: Tensor) -> Tensor:
        x = x.flatten(start_dim=1)
        if x.shape[1] != self.in_dim:
            raise ValueError(
                f"x has {x.shape[1]} features per sample but the model expects in_dim={self.in_dim}"
            )
        return _embed(self.head(self.body(x)), self.normalize)


class SmallConvEmbedder(nn.Module):
    """A small CNN trained from scratch: conv blocks → global average pooling → Linear → L2.

    Each block is a 3×3 convolution, batch normalisation and ReLU; a 2×2 max-pool separates
    consecutive blocks, so the input side must be at least ``2**(len(widths) − 1)``
    (4 for the default, which suits the 8×8 glyphs and digits).

    Parameters
    ----------
    embedding_dim : int, default 64
    in_channels : int, default 3
        1 for the glyphs of :func:`eelib.data.make_glyphs` viewed as images.
    widths : sequence of int, default (32, 64, 128)
        Channels of each block.
    normalize : bool, default True
        L2-normalise the output rows.

    Shapes
    ------
    input (B, in_channels, H, W); output (B, embedding_dim).
    """

    def __init__(
        self,
        embedding_dim: int = 64,
        in_channels: int = 3,
        *,
        widths: Sequence[int] = (32, 64, 128),
        normalize: bool = True,
    ) -> None:
        super().__init__()
        channels = [validate_positive_int("in_channels", in_channels), *_widths("widths", widths)]
        if len(channels) < 2:
            raise ValueError("widths must hold at least one block width")
        embedding_dim = validate_positive_int("embedding_dim", embedding_dim)
        _check_parameter_memory("SmallConvEmbedder", sum(9 * a * b + 2 * b for a, b in zip(channels[:-1], channels[1:]))
                                + (channels[-1] + 1) * embedding_dim)
        layers: list[nn.Module] = []
        for index, (fan_in, fan_out) in enumerate(zip(channels[:-1], channels[1:])):
            if index > 0:
                layers.append(nn.MaxPool2d(2))
            layers += [
                nn.Conv2d(fan_in, fan_out, kernel_size=3, padding=1, bias=False),
                nn.BatchNorm2d(fan_out),
                nn.ReLU(),
            ]
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(channels[-1], embedding_dim)
        self.normalize = validate_flag("normalize", normalize)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4:
            raise ValueError(
                f"x must be a batch of images with shape (B, C, H, W), got {tuple(x.shape)}"
            )
        pooled = self.features(x).mean(dim=(2, 3))
        return _embed(self.head(pooled), self.normalize)


class BackboneEmbedder(nn.Module):
    """A feature extractor followed by the paper's head: Linear → L2-normalisation.

    The linear layer is initialised like the official code's ``Xavier(magnitude=2)`` in
    MXNet: uniform on ±sqrt(2 / ((fan_in + fan_out) / 2)), i.e. PyTorch's Xavier-uniform
    with gain sqrt(2/3); biases start at zero.

    Parameters
    ----------
    backbone : nn.Module
        Maps a batch of images to features of shape (B, feature_dim).
    feature_dim : int
    embedding_dim : int, default 512
    normalize : bool, default True
    """

    def __init__(
        self,
        backbone: nn.Module,
        feature_dim: int,
        embedding_dim: int = 512,
        *,
        normalize: bool = True,
    ) -> None:
        super().__init__()
        if not isinstance(backbone, nn.Module):
            raise TypeError(f"backbone must be a torch.nn.Module, got {type(backbone).__name__}")
        self.backbone = backbone
        feature_dim = validate_positive_int("feature_dim", feature_dim)
        embedding_dim = validate_positive_int("embedding_dim", embedding_dim)
        _check_parameter_memory("BackboneEmbedder's head", (feature_dim + 1) * embedding_dim)
        self.head = nn.Linear(feature_dim, embedding_dim)
        nn.init.xavier_uniform_(self.head.weight, gain=math.sqrt(2.0 / 3.0))
        nn.init.zeros_(self.head.bias)
        self.normalize = validate_flag("normalize", normalize)

    def forward(self, x: Tensor) -> Tensor:
        return _embed(self.head(self.backbone(x)), self.normalize)


def pretrained_backbone_embedder(
    name: str = "googlenet",
    embedding_dim: int = 512,
    *,
    pretrained: bool = True,
    normalize: bool = True,
    allow_download: bool = False,
) -> BackboneEmbedder:
    """The paper's embedder: an ImageNet backbone without its classifier, plus a linear head.

    ``"googlenet"`` (Inception-v1, 1024-d pooled features) is the backbone of the EE paper;
    ``"resnet18"`` (512-d) is a common lighter alternative. The classifier (and GoogLeNet's
    dropout and auxiliary heads) are removed, keeping global average pooling. Inputs are
    ImageNet-normalised images such as those of :func:`eelib.experiments.benchmark_folders.load_benchmark`.

    torchvision is imported here, not at module import, because it is optional. With
    ``pretrained=True`` the weights must already be in the torch hub cache (the file
    torchvision would download, under ``torch.hub.get_dir()/checkpoints``): eelib never
    reaches the network unless ``allow_download=True`` is passed.

    Parameters
    ----------
    name : {"googlenet", "resnet18"}, default "googlenet"
    embedding_dim : int, default 512
    pretrained : bool, default True
        Load torchvision's ImageNet-1k weights.
    normalize : bool, default True
    allow_download : bool, default False
        Let torchvision download missing pretrained weights.

    Returns
    -------
    BackboneEmbedder
        Maps (B, 3, H, W) images to (B, embedding_dim) embeddings.

    Raises
    ------
    ImportError
        If torchvision is not installed.
    ValueError
        If ``name`` is not a known backbone.
    FileNotFoundError
        If the pretrained weights are not in the cache and ``allow_download`` is False.
    """
    name = validate_choice("name", name, BACKBONE_FEATURES)
    pretrained = validate_flag("pretrained", pretrained)
    normalize = validate_flag("normalize", normalize)
    allow_download = validate_flag("allow_download", allow_download)
    try:
        from torchvision import models
    except ImportError as err:
        raise ImportError(
            f"pretrained_backbone_embedder needs torchvision, which is not installed or could "
            f"not be imported ({err}). Install the torchvision release built for your torch "
            "version (pip install torchvision) and place the pretrained weights in the torch "
            "hub cache, or use SmallConvEmbedder or MLPEmbedder, which need neither."
        ) from err
    if name == "googlenet":
        weights = models.GoogLeNet_Weights.IMAGENET1K_V1 if pretrained else None
    else:
        weights = models.ResNet18_Weights.IMAGENET1K_V1 if pretrained else None
    if weights is not None and not allow_download:
        _require_cached(weights.url, name)
    if name == "googlenet":
        # With weights, torchvision's builder forces aux_logits=True to load the checkpoint and
        # drops the auxiliary heads afterwards; it rejects an explicit aux_logits=False.
        options = {} if pretrained else {"aux_logits": False, "init_weights": True}
        backbone = models.googlenet(weights=weights, **options)
        backbone.dropout = nn.Identity()
    else:
        backbone = models.resnet18(weights=weights)
    backbone.fc = nn.Identity()
    return BackboneEmbedder(backbone, BACKBONE_FEATURES[name], embedding_dim, normalize=normalize)


#: Image models by name, as the command lines of the experiments accept them.
IMAGE_MODELS = ("small-cnn", "googlenet", "resnet18")


def image_embedder(kind: str, embedding_dim: int) -> nn.Module:
    """An image model by name: ``"small-cnn"`` (:class:`SmallConvEmbedder`, trained from scratch)
    or a pretrained backbone (:func:`pretrained_backbone_embedder`, weights from the cache).

    Parameters
    ----------
    kind : {"small-cnn", "googlenet", "resnet18"}
    embedding_dim : int

    Returns
    -------
    torch.nn.Module
        Maps (B, 3, H, W) images to (B, embedding_dim) L2-normalised embeddings.
    """
    kind = validate_choice("kind", kind, IMAGE_MODELS)
    if kind == "small-cnn":
        return SmallConvEmbedder(embedding_dim)
    return pretrained_backbone_embedder(kind, embedding_dim)


def _require_cached(url: str, name: str) -> None:
    """Refuse to build a pretrained backbone whose weights torchvision would have to download."""
    path = Path(torch.hub.get_dir()) / "checkpoints" / PurePosixPath(urlparse(url).path).name
    if not path.is_file():
        raise FileNotFoundError(
            f"pretrained {name} weights are not at {path}, and eelib does not download on its "
            f"own. Download {url} to that path (set TORCH_HOME to move the cache), pass "
            "allow_download=True, or use pretrained=False."
        )


def count_parameters(model: nn.Module, *, trainable_only: bool = True) -> int:
    """Number of scalar parameters of ``model``.

    Parameters
    ----------
    model : nn.Module
    trainable_only : bool, default True
        Count only parameters with ``requires_grad``.

    Returns
    -------
    int
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    trainable_only = validate_flag("trainable_only", trainable_only)
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


__all__ = [
    "BACKBONE_FEATURES",
    "BackboneEmbedder",
    "MLPEmbedder",
    "SmallConvEmbedder",
    "count_parameters",
    "IMAGE_MODELS",
    "image_embedder",
    "pretrained_backbone_embedder",
]
