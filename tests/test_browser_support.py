"""Unit tests of the browser tests' own machinery (tests/browser_support.py).

The browser tier itself needs JupyterLab and Chromium; what is checked here needs neither.
"""

from __future__ import annotations

import pytest
from _pytest.config import PytestPluginManager
from browser_support import BrowserReport

pytestmark = pytest.mark.unit


def test_report_survives_a_hook_call_for_a_file_outside_tests():
    # The browser fixtures register the report as a plugin. When pytest then runs a doctest
    # in eelib/, it calls hooks through a subset of plugins, which pluggy keeps in a set: a
    # report that cannot be hashed stopped a whole CI run with INTERNALERROR after all tests.
    manager = PytestPluginManager()
    report = BrowserReport()
    manager.register(report, "eelib-browser-report")
    caller = manager.subset_hook_caller("pytest_runtest_logreport", remove_plugins=[object()])
    assert any(impl.plugin is report for impl in caller.get_hookimpls())
