"""Loaded by pytest for every test, the notebooks (nbval) included.

nbval compares each notebook cell's fresh outputs with the committed ones. Here
its comparison is replaced by ``tests/nbval_tolerance.py``: words, integers,
modes and booleans must match exactly; decimal numbers within a small tolerance,
so the suite holds on every CPU (see that module and the README).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "tests"))

import nbval_tolerance  # noqa: E402

nbval_tolerance.install()
