"""``python -m eelib.experiments``: the paper's experiments at laptop scale (see :mod:`eelib.experiments.runner`)."""

import sys

from eelib.experiments.runner import main

sys.exit(main())
