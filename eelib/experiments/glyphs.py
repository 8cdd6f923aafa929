"""Font glyphs: an offline image data set of real characters, rendered from matplotlib's fonts.

matplotlib ships the DejaVu and STIX font families (``mpl-data/fonts/ttf``). Each class here
is one character; its samples are that character rendered in one of 16 styles (DejaVu Sans,
Sans Mono and Serif, STIX General; each regular, bold, italic and bold italic), then
randomly rotated, scaled, sheared and shifted, downsampled and lightly noised. Training
and test classes are different characters, so retrieval is tested on *unseen characters*
(the zero-shot protocol of the EE paper, docs/paper.md §4.1), and the task is
fine-grained: a serif "a" in bold italic has to land next to a plain sans "a" and away from
"ɑ", "α" and "ɒ".

The alphabet (:data:`ALPHABET`, 279 characters) holds the letters and digits that every one
of the 16 fonts covers, without precomposed accented letters, and with look-alikes across
scripts (Latin "A", Greek "Α", Cyrillic "А") reduced to one: a character is left out when its
renderings in the 16 styles, side by side, correlate above 0.93 with those of a character
kept before it (16-px canvas; :func:`near_duplicates` recomputes this check). The characters are shuffled
once (fixed seed) before class ids are assigned, so both halves of a class split mix
Latin, Greek, Cyrillic and IPA letters.

Rendering needs Pillow and matplotlib's font files, so it lives in the experiments layer.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import matplotlib
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont
from torch import Tensor

from eelib._validation import validate_positive_int

#: The 16 styles, as font files of matplotlib's ``mpl-data/fonts/ttf``.
FONT_FILES = (
    "DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf", "DejaVuSans-BoldOblique.ttf",
    "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf", "DejaVuSansMono-Oblique.ttf",
    "DejaVuSansMono-BoldOblique.ttf",
    "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSerif-Italic.ttf", "DejaVuSerif-BoldItalic.ttf",
    "STIXGeneral.ttf", "STIXGeneralBol.ttf", "STIXGeneralItalic.ttf", "STIXGeneralBolIta.ttf",
)

#: Letters and digits covered by all 16 styles, look-alikes removed (see the module docstring).
ALPHABET = (
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyzÆØÞßæðøþĦħıĸłŊŋŒœŦƈƐƒƕƙƛƞƪƫƭ"
    "ƺƾȷɐɑɒɓɔɕɖɗɘəɚɛɜɝɞɟɠɡɢɣɤɥɦɧɨɩɪɫɬɭɮɯɰɱɲɳɴɶɷɸɹɺɻɼɽɾɿʀʁʂʃʄʅʆʇʈʉʊʋʌʍʎʏʐʑʒʓʕʖʗʘʙʚʛʜʝʞʟʠʡʣʤʦʧʨ"
    "ΓΔΘΞΠΣΦΨΩαβγδζθικλμνξπρςστυφχψωϘϙϚϛϝϞϟϠϡЂЄЉЊЋЏБГДЖЗИКЛУФЦЧШЩЪЫЬЭЮЯбгджзиклмнптфцчшщъыьэюя"
    "ђєјљњћџѢѣѳҐґ"
)

#: Correlation of the side-by-side renderings above which two characters count as look-alikes.
DUPLICATE_CORRELATION = 0.93

#: Side of the canvas the fonts are drawn on, before augmentation and downsampling.
CANVAS = 32

#: Seed of the one shuffle that assigns class ids to characters.
CLASS_ORDER_SEED = 0


def font_path(file_name: str) -> Path:
    """Path of one of matplotlib's bundled font files."""
    return Path(matplotlib.get_data_path()) / "fonts" / "ttf" / file_name


def glyph_characters(n_classes: int | None = None) -> str:
    """The characters of the classes ``0, 1, …``: :data:`ALPHABET` in its fixed shuffled order.

    Parameters
    ----------
    n_classes : int, optional
        How many (default: all 279).
    """
    order = np.random.default_rng(CLASS_ORDER_SEED).permutation(len(ALPHABET))
    characters = "".join(ALPHABET[i] for i in order)
    if n_classes is None:
        return characters
    n_classes = validate_positive_int("n_classes", n_classes)
    if n_classes > len(ALPHABET):
        raise ValueError(f"n_classes must be at most {len(ALPHABET)} (the alphabet's size), got {n_classes}")
    return characters[:n_classes]


@lru_cache(maxsize=4)
def render_characters(characters: str, canvas: int = CANVAS) -> Tensor:
    """Every character in every style, centred on a square canvas.

    Returns
    -------
    Tensor, shape (len(characters), len(FONT_FILES), canvas, canvas), float32 in [0, 1]
        Ink is 1, background 0.
    """
    size = round(0.8 * canvas)
    fonts = [ImageFont.truetype(str(font_path(name)), size) for name in FONT_FILES]
    images = np.zeros((len(characters), len(fonts), canvas, canvas), dtype=np.float32)
    for i, character in enumerate(characters):
        for j, font in enumerate(fonts):
            image = Image.new("L", (canvas, canvas), 0)
            ImageDraw.Draw(image).text((canvas / 2, canvas / 2), character, fill=255, font=font, anchor="mm")
            images[i, j] = np.asarray(image, dtype=np.float32) / 255.0
    return torch.from_numpy(images)


def near_duplicates(characters: str, threshold: float = DUPLICATE_CORRELATION, canvas: int = 16) -> list[tuple[str, str, float]]:
    """Pairs of characters whose renderings in the 16 styles, side by side, correlate above ``threshold``.

    Used to build and to check :data:`ALPHABET` (whose own list is empty).
    """
    images = render_characters(characters, canvas).flatten(1).double()
    rows = images - images.mean(1, keepdim=True)
    rows = rows / rows.norm(dim=1, keepdim=True)
    correlation = (rows @ rows.T).triu(1)
    i, j = torch.nonzero(correlation > threshold, as_tuple=True)
    return [(characters[a], characters[b], float(correlation[a, b])) for a, b in zip(i.tolist(), j.tolist())]


def _random_affine(n: int, generator: torch.Generator, strength: float) -> Tensor:
    """(n, 2, 3) affine maps: rotation ±12°, scale ×0.85–1.1, shear ±0.15, shift ±8 %, times ``strength``."""
    def uniform(low: float, high: float) -> Tensor:
        return low + (high - low) * torch.rand(n, generator=generator)

    angle = strength * uniform(-12.0, 12.0) * math.pi / 180.0
    scale = torch.exp(strength * uniform(math.log(0.85), math.log(1.1)))
    aspect = torch.exp(strength * uniform(-0.1, 0.1))
    shear = strength * uniform(-0.15, 0.15)
    cos, sin = torch.cos(angle), torch.sin(angle)
    # grid_sample maps output coordinates to input ones: the inverse of the drawn transform.
    linear = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)
    linear = linear @ torch.stack([torch.stack([torch.ones(n), shear], -1),
                                   torch.stack([torch.zeros(n), torch.ones(n)], -1)], -2)
    linear = linear / torch.stack([scale * aspect, scale / aspect], -1)[:, None, :]
    shift = strength * 0.16 * (torch.rand(n, 2, generator=generator) - 0.5) * 2
    return torch.cat([linear, shift[:, :, None]], dim=2)


def make_font_glyphs(
    n_classes: int = 240,
    per_class: int = 10,
    image_size: int = 16,
    *,
    augmentation: float = 1.0,
    noise: float = 0.05,
    seed: int = 0,
) -> tuple[Tensor, Tensor]:
    """Rendered characters, each class a character, each sample a random style and distortion.

    Parameters
    ----------
    n_classes : int, default 240
        Characters (classes), the first of :func:`glyph_characters`; with the default class
        split 120 train and 120 test.
    per_class : int, default 10
        Samples per character; each draws one of the 16 styles at random, then a random
        affine distortion.
    image_size : int, default 16
        Side of the output images (the canvas of 32 px is average-pooled down to it); must
        divide 32.
    augmentation : float, default 1.0
        Size of the affine distortion (0: none; 1: rotation up to ±12°, scale ×0.85–1.1,
        anisotropy ×e^±0.1, shear ±0.15, shift up to ±8 % of the side).
    noise : float, default 0.05
        Standard deviation of Gaussian pixel noise (images are clipped to [0, 1]).
    seed : int, default 0
        Draws styles, distortions and noise; the characters of each class do not depend on it.

    Returns
    -------
    x : Tensor, shape (n_classes * per_class, image_size**2), float32 in [0, 1]
        Flattened images, rows grouped by class (``x.view(-1, 1, s, s)`` for a CNN).
    y : Tensor, shape (n_classes * per_class,), int64
        Class ids; class ``c`` is the character ``glyph_characters()[c]``.
    """
    characters = glyph_characters(n_classes)
    per_class = validate_positive_int("per_class", per_class)
    image_size = validate_positive_int("image_size", image_size)
    if CANVAS % image_size:
        raise ValueError(f"image_size must divide {CANVAS}, got {image_size}")
    for name, value in (("augmentation", augmentation), ("noise", noise)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
            raise ValueError(f"{name} must be a number >= 0, got {value!r}")
    generator = torch.Generator().manual_seed(seed)
    renders = render_characters(characters)
    y = torch.arange(len(characters)).repeat_interleave(per_class)
    style = torch.randint(len(FONT_FILES), (len(y),), generator=generator)
    images = renders[y, style][:, None]  # (N, 1, canvas, canvas)
    grid = F.affine_grid(_random_affine(len(y), generator, float(augmentation)), list(images.shape), align_corners=False)
    images = F.grid_sample(images, grid, align_corners=False, padding_mode="zeros")
    images = F.avg_pool2d(images, CANVAS // image_size).flatten(1)
    images = images + noise * torch.randn(images.shape, generator=generator)
    return images.clamp(0.0, 1.0), y


__all__ = ["ALPHABET", "FONT_FILES", "font_path", "glyph_characters", "make_font_glyphs", "near_duplicates",
           "render_characters"]
