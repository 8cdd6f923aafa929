"""Which extra installs what a layer needs: a missing package named with its extra.

The core needs only its own dependencies; ``eelib.course`` and ``eelib.experiments`` need
packages that come with an extra of pyproject.toml. Each of those modules calls
:func:`require` before its imports, so that a missing package raises an ImportError that
says which extra to install rather than a bare ``No module named 'ipywidgets'``.
"""

from __future__ import annotations

import importlib.util


def require(extra: str, *modules: str, by: str) -> None:
    """Raise an ImportError naming ``extra`` if one of ``modules`` cannot be imported.

    Looks the modules up without importing them (a module set to ``None`` in
    ``sys.modules`` counts as missing, as ``import`` treats it).

    Parameters
    ----------
    extra : str
        The extra of eelib that installs the modules (``"notebooks"``, ``"experiments"``).
    *modules : str
        Top-level import names (``"ipywidgets"``, ``"PIL"``).
    by : str
        The module that needs them, named in the message.

    Raises
    ------
    ImportError
        Naming the missing modules, ``by`` and the pip command that installs the extra;
        its ``name`` is the first missing module.

    Examples
    --------
    >>> require("experiments", "math", by="eelib.example")
    >>> require("experiments", "no_such_module_here", by="eelib.example")
    Traceback (most recent call last):
    ...
    ImportError: eelib.example needs no_such_module_here, which comes with eelib's 'experiments' extra: pip install "eelib[experiments]"
    """
    missing = [name for name in modules if _find(name) is None]
    if missing:
        raise ImportError(f"{by} needs {', '.join(missing)}, which comes with eelib's {extra!r} extra: "
                          f'pip install "eelib[{extra}]"', name=missing[0])


def _find(name: str) -> importlib.machinery.ModuleSpec | None:
    try:
        return importlib.util.find_spec(name)
    except ValueError:  # a module already imported without a spec
        return None
