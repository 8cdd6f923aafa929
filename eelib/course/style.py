"""One look for every figure of the course: a colour-blind-safe palette and axis defaults."""

from __future__ import annotations

import matplotlib as mpl

from eelib._validation import validate_int

#: Okabe & Ito (2008) colour-universal-design palette, distinguishable under the common
#: colour-vision deficiencies. Black is left out so that it can mark highlights.
OKABE_ITO = (
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#009E73",  # bluish green
    "#F0E442",  # yellow
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#CC79A7",  # reddish purple
    "#999999",  # grey
)

#: Colour map for distance heat maps, in the paper's convention (docs/paper.md §3): near is
#: red, then yellow, far is blue. ColorBrewer's RdYlBu is colour-blind safe; its light
#: yellow middle is why class separators are drawn dark (:data:`SEPARATOR_COLOR`).
DISTANCE_CMAP = "RdYlBu"

#: Colour of the lines between classes on a heat map: dark, visible on red, yellow and blue.
SEPARATOR_COLOR = "0.15"


def class_color(label: int) -> str:
    """Colour of a class label (an integer of any sign), cycling through :data:`OKABE_ITO`.

    A float such as ``1.5`` is refused rather than truncated into another class's colour.
    """
    return OKABE_ITO[validate_int("label", label) % len(OKABE_ITO)]


def apply_course_style() -> None:
    """Set matplotlib defaults used by every notebook (palette, grid, font sizes)."""
    mpl.rcParams.update(
        {
            "axes.prop_cycle": mpl.cycler(color=OKABE_ITO),
            "axes.grid": True,
            "grid.alpha": 0.3,
            "figure.dpi": 90,
            "font.size": 10,
            "image.cmap": DISTANCE_CMAP,
        }
    )
