"""Frames for the course site: the widgets' own pictures and readouts, for a viewer without a kernel.

Each interactive widget of the course (the loss playgrounds of notebooks 02–06, the EE
explorer and the training heat maps of 08) is a function of a few discrete control
settings. For the static site (``./course site``, ``tools/build_site.py``) every setting
offered there is rendered once by the widget's own update code, and a small viewer in the
page swaps the pictures and the readout when a control moves. Nothing in this module draws:
each widget module has a ``frames`` function that returns a :class:`FrameSet` made with the
widget's own rendering (so the site shows the pixels and the numbers the live widget shows).

Registration: each widget registers a frame exporter when it is built (:func:`register`),
with IPython's execution counter at that moment; the site build runs
:func:`export_registered` in the kernel after the notebook's last cell, which writes every
registered widget's frames (PNG files and one JSON description per widget) and an index
that names the cell each viewer belongs in.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The kinds of control the site's viewer offers.
CONTROL_KINDS = ("range", "checkbox", "select")


@dataclass(frozen=True)
class Control:
    """One control of a viewer.

    Attributes
    ----------
    name : str
        Identifier (also the viewer's CSS class suffix).
    label : str
        What the page shows next to the control.
    kind : str
        ``"range"`` (a slider over ``values``), ``"checkbox"`` (``values`` is
        ``(False, True)``) or ``"select"`` (a drop-down over ``values``).
    values : tuple
        Every value offered, JSON-serialisable, in order.
    value : object
        The initial value (one of ``values``).
    """

    name: str
    label: str
    kind: str
    values: tuple
    value: Any

    def __post_init__(self) -> None:
        if self.kind not in CONTROL_KINDS:
            raise ValueError(f"kind must be one of {CONTROL_KINDS}, got {self.kind!r}")
        if not self.values:
            raise ValueError(f"control {self.name!r}: values must not be empty")
        if self.kind == "checkbox" and tuple(self.values) != (False, True):
            raise ValueError(f"control {self.name!r}: a checkbox offers the values (False, True), got {self.values}")
        if self.value not in self.values:
            raise ValueError(f"control {self.name!r}: value {self.value!r} is not among its values {self.values}")


@dataclass(frozen=True)
class Frame:
    """What one setting of the controls shows: the readout text and the PNG images."""

    readout: str
    images: tuple[bytes, ...]


@dataclass(frozen=True)
class FrameSet:
    """Every frame of one widget on the site.

    Attributes
    ----------
    id : str
        A name unique within a notebook (the widget's CSS prefix, e.g. ``"ee"``).
    controls : tuple of Control
    frames : dict
        Keyed by the tuple of control values (in the order of ``controls``); one frame for
        every combination.
    note : str
        A sentence the viewer shows, e.g. which controls of the live widget it leaves out.
    """

    id: str
    controls: tuple[Control, ...]
    frames: dict[tuple, Frame] = field(repr=False)
    note: str = ""


def control_from_widget(name: str, widget: Any) -> Control:
    """The :class:`Control` offering every value of an ipywidgets control, at its current value.

    Sliders (``IntSlider``, ``FloatSlider``: every step from ``min`` to ``max``;
    ``SelectionSlider``) become ranges, ``Dropdown`` a select, ``Checkbox`` a checkbox.
    Float steps are rounded to 10 decimals, as the slider's own readout shows them.

    Raises
    ------
    TypeError
        For any other widget.
    """
    label = getattr(widget, "description", "") or name
    kind_name = type(widget).__name__
    if kind_name == "Checkbox":
        return Control(name, label, "checkbox", (False, True), bool(widget.value))
    if kind_name in ("Dropdown", "SelectionSlider"):
        values = tuple(o[1] if isinstance(o, tuple) else o for o in widget.options)
        return Control(name, label, "select" if kind_name == "Dropdown" else "range", values, widget.value)
    if kind_name in ("IntSlider", "FloatSlider"):
        steps = round((widget.max - widget.min) / widget.step)
        values = tuple(widget.min + i * widget.step for i in range(steps + 1))
        if kind_name == "FloatSlider":
            values = tuple(round(v, 10) for v in values)
            return Control(name, label, "range", values, round(widget.value, 10))
        return Control(name, label, "range", values, widget.value)
    raise TypeError(f"widget {name!r}: a {kind_name} cannot be offered on the site (sliders, Dropdown, Checkbox can)")


def png_bytes(bundle: tuple[dict, dict]) -> bytes:
    """The PNG in a display bundle ``(data, metadata)`` as the widgets make it (base64 → bytes)."""
    return base64.b64decode(bundle[0]["image/png"])


def frame_key(indices: Sequence[int]) -> str:
    """The key of a frame in the JSON: the controls' value indices joined by ``"|"`` (the viewer builds the same)."""
    return "|".join(str(int(i)) for i in indices)


def write_frame_set(frame_set: FrameSet, folder: Path) -> dict[str, Any]:
    """Write the PNGs of ``frame_set`` into ``folder/<id>/`` and return its JSON description.

    Identical images are written once (files are named by their content's hash). The
    description lists the controls (values, initial index) and, per key of value indices
    (:func:`frame_key`), the readout and the image paths relative to ``folder``.

    Raises
    ------
    ValueError
        If a combination of control values has no frame.
    """
    images_dir = Path(folder) / frame_set.id
    images_dir.mkdir(parents=True, exist_ok=True)
    index_of = [{_canonical(v): i for i, v in enumerate(c.values)} for c in frame_set.controls]
    frames: dict[str, dict[str, Any]] = {}
    for values, frame in frame_set.frames.items():
        indices = [index_of[k][_canonical(v)] for k, v in enumerate(values)]
        paths = []
        for png in frame.images:
            name = hashlib.sha256(png).hexdigest()[:20] + ".png"
            target = images_dir / name
            if not target.exists():
                target.write_bytes(png)
            paths.append(f"{frame_set.id}/{name}")
        frames[frame_key(indices)] = {"readout": frame.readout, "images": paths}
    expected = 1
    for control in frame_set.controls:
        expected *= len(control.values)
    if len(frames) != expected:
        raise ValueError(f"frame set {frame_set.id!r} has {len(frames)} frames for {expected} combinations of controls")
    return {
        "id": frame_set.id,
        "note": frame_set.note,
        "controls": [{"name": c.name, "label": c.label, "kind": c.kind, "values": list(c.values),
                      "index": c.values.index(c.value)} for c in frame_set.controls],
        "frames": frames,
    }


def _canonical(value: Any) -> str:
    return json.dumps(value)


#: (execution count of the cell that built the widget, exporter) for every widget built in this process.
_REGISTERED: list[tuple[int | None, Callable[[], FrameSet]]] = []


def _execution_count() -> int | None:
    """IPython's execution counter now (None outside IPython)."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with the course extra
        return None
    return getattr(get_ipython(), "execution_count", None)


def register(exporter: Callable[[], FrameSet]) -> None:
    """Record a widget's frame exporter with IPython's execution counter while its cell runs (None outside IPython)."""
    _REGISTERED.append((_execution_count(), exporter))


def export_registered(folder: str | Path) -> dict[str, Any]:
    """Write the frames of every registered widget into ``folder`` and an ``index.json``.

    Returns the index: ``{"export_count": ..., "widgets": [...]}``, per widget its JSON
    description (:func:`write_frame_set`) with ``"cell"``, IPython's execution counter
    while the cell that built it ran, and ``"export_count"``, the counter while this
    export runs. (Whether IPython counts a cell before or after running it differs between
    versions; the caller knows the export cell's own number and maps the counters onto
    cell numbers with it.) Frame set ids must be unique.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    widgets = []
    for cell, exporter in _REGISTERED:
        description = write_frame_set(exporter(), folder)
        if any(entry["id"] == description["id"] for entry in widgets):
            raise ValueError(f"two widgets export frames under the same id {description['id']!r}")
        widgets.append({"cell": cell, **description})
    index = {"export_count": _execution_count(), "widgets": widgets}
    (folder / "index.json").write_text(json.dumps(index, indent=1, ensure_ascii=False), encoding="utf-8")
    return index


__all__ = ["CONTROL_KINDS", "Control", "control_from_widget", "Frame", "FrameSet", "export_registered", "frame_key", "png_bytes", "register",
           "write_frame_set"]
