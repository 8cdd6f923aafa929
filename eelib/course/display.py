"""Showing figures in widgets: one drawing pass per figure.

Only the course's widgets need this module (it imports IPython); the figures themselves
are drawn by :mod:`eelib.course.figures` with matplotlib alone.
"""

from __future__ import annotations

import base64

from eelib._extras import require

require("notebooks", "IPython", by=__name__)

import matplotlib.pyplot as plt
from IPython.core.pylabtools import print_figure

#: A figure rendered for display: (data by MIME type, metadata).
Bundle = tuple[dict, dict]


def png_bundle(fig: plt.Figure) -> tuple[dict[str, str], dict]:
    """Encode a figure for ``display(data, metadata=..., raw=True)`` in one drawing pass.

    ``display(fig)`` draws a figure twice: once to find its tight bounding box, once to
    render it. The widget figures of the course have a fixed layout
    (``fig.subplots_adjust``), so one pass at the figure's own size suffices (what that
    saves per callback is measured in benchmarks/README.md).

    Returns
    -------
    data : dict
        ``{"image/png": base64 text, "text/plain": repr}``, as IPython's formatter gives.
    metadata : dict
        Empty.
    """
    png = print_figure(fig, "png", bbox_inches=None)
    return {"image/png": base64.b64encode(png).decode("ascii"), "text/plain": repr(fig)}, {}


__all__ = ["Bundle", "png_bundle"]
