"""The README's researcher example runs as written and trains: its loss falls.

The block is read from README.md (the first ``python`` block of the researcher section),
not copied here, so the README cannot drift from what runs.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

pytestmark = [pytest.mark.unit, pytest.mark.usefixtures("one_torch_thread")]

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## Researchers"


def readme_example() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme.count(SECTION) == 1, f"README.md needs one section starting {SECTION!r}"
    section = readme.split(SECTION, 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    assert blocks, "the researcher section has no python block"
    return blocks[0]


def _loss(namespace: dict) -> float:
    """The example's loss for its model as it is now, computed the way the example does."""
    with torch.no_grad():
        embeddings = torch.nn.functional.normalize(namespace["model"](namespace["features"]), dim=1)
        return namespace["loss_fn"](embeddings, namespace["labels"]).item()


def test_readme_example_is_short_and_uses_ee() -> None:
    code = [line for line in readme_example().splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert 5 <= len(code) - sum(line.startswith(("import ", "from ")) for line in code) <= 10
    assert "n_synthetic=" in readme_example()


def test_readme_example_trains_with_ee() -> None:
    source = readme_example()
    setup = source.split("\nfor ", 1)[0]  # everything before the training loop
    torch.manual_seed(0)
    untrained: dict = {}
    exec(compile(setup, "README.md", "exec"), untrained)  # noqa: S102
    torch.manual_seed(0)
    trained: dict = {}
    exec(compile(source, "README.md", "exec"), trained)  # noqa: S102
    assert torch.isfinite(trained["loss"]) and trained["loss"].ndim == 0
    before, after = _loss(untrained), _loss(trained)
    assert after < 0.9 * before, f"the README example's loss went from {before:.4f} to {after:.4f}"
