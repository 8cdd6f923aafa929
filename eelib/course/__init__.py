"""The course layer: what the notebooks show and check.

Needs the ``course`` extra (``pip install "eelib[course]"``). Importing this package loads
nothing; each module imports what it needs:

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
