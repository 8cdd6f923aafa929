"""The dtype, scale and hyperparameter property of test_losses_properties.py with ten times the examples."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_losses_properties import EXAMPLES, PAIR_LOSSES, check_drawn_dtype_scale_and_hyperparameters

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]


@pytest.mark.parametrize("case", [*PAIR_LOSSES, "npair"])
@settings(max_examples=10 * EXAMPLES, deadline=None)
@given(data=st.data())
def test_many_dtypes_scales_and_hyperparameters(case, data):
    check_drawn_dtype_scale_and_hyperparameters(case, data)
