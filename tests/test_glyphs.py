"""Font glyphs: the alphabet is covered by every font, has no look-alikes, and the data set is what it says."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from matplotlib.ft2font import FT2Font

from eelib.data import class_split
from eelib.experiments.glyphs import (
    ALPHABET,
    CANVAS,
    FONT_FILES,
    font_path,
    glyph_characters,
    make_font_glyphs,
    near_duplicates,
    render_characters,
)

pytestmark = pytest.mark.unit


def test_every_character_is_in_every_font() -> None:
    assert len(set(ALPHABET)) == len(ALPHABET) == 279
    for name in FONT_FILES:
        charmap = FT2Font(str(font_path(name))).get_charmap()
        missing = [c for c in ALPHABET if ord(c) not in charmap]
        assert not missing, f"{name} lacks {missing}"


def test_the_alphabet_has_no_look_alikes_and_the_check_finds_them() -> None:
    assert near_duplicates(ALPHABET) == []
    found = near_duplicates("AΑ" + "x")  # Latin A and Greek Alpha
    assert [(a, b) for a, b, _ in found] == [("A", "Α")]


def test_every_rendering_has_ink() -> None:
    renders = render_characters(ALPHABET)
    assert renders.shape == (len(ALPHABET), len(FONT_FILES), CANVAS, CANVAS)
    assert float(renders.sum(dim=(2, 3)).min()) > 5.0


def test_samples_without_augmentation_are_their_class_in_one_of_the_styles() -> None:
    x, y = make_font_glyphs(n_classes=12, per_class=5, augmentation=0.0, noise=0.0, seed=3)
    styles = F.avg_pool2d(render_characters(glyph_characters(12)).flatten(0, 1)[:, None], 2).view(12, 16, 256)
    for sample, label in zip(x, y):
        assert bool(torch.isclose(styles[label], sample[None], atol=1e-5).all(1).any()), int(label)


def test_train_and_test_characters_differ_and_do_not_depend_on_the_seed() -> None:
    x0, y0 = make_font_glyphs(n_classes=20, per_class=4, seed=0)
    x1, y1 = make_font_glyphs(n_classes=20, per_class=4, seed=1)
    assert x0.shape == (80, 256) and float(x0.min()) >= 0 and float(x0.max()) <= 1
    assert torch.equal(y0, y1) and not torch.equal(x0, x1)
    assert torch.equal(make_font_glyphs(n_classes=20, per_class=4, seed=0)[0], x0)
    split = class_split(y0)
    characters = glyph_characters(20)
    train = {characters[c] for c in split.train_classes.tolist()}
    test = {characters[c] for c in split.test_classes.tolist()}
    assert len(train) == len(test) == 10 and not train & test


@pytest.mark.parametrize("kwargs, message", [
    ({"n_classes": 280}, "at most 279"),
    ({"image_size": 12}, "must divide 32"),
    ({"noise": -0.1}, "noise"),
    ({"augmentation": float("nan")}, "augmentation"),
    ({"per_class": 0}, "per_class"),
])
def test_bad_arguments_are_refused(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        make_font_glyphs(**kwargs)
