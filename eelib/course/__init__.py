"""The course layer: what the notebooks show and check.

Needs the ``notebooks`` extra (``pip install "eelib[notebooks]"``; ``eelib[course]`` adds
JupyterLab). Importing this package loads nothing but checks that matplotlib, which every
module draws with, is installed; each module imports what it needs, and the widget modules
first check for ipywidgets and IPython, so that a missing package names the extra:

style, figures
    The course's look and its matplotlib figures (heat maps, 2-D views); matplotlib only.
display
    One-pass PNG encoding of figures for widgets (IPython).
playground, explorer
    The loss playground of notebooks 02–06 and the Embedding Expansion explorer of 08
    (ipywidgets).
checks
    Self-checks for the exercises, with diagnostic hints.
"""

from eelib._extras import require

require("notebooks", "matplotlib", by=__name__)
