"""Loaded by pytest for every test, the notebooks (nbval) included.

nbval compares each notebook cell's fresh outputs with the committed ones. Here
its comparison is replaced by ``tests/nbval_tolerance.py``: words, integers,
modes and booleans must match exactly; decimal numbers within a small tolerance,
so the suite holds on every CPU (see that module and the README).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "tests"))

import nbval_tolerance  # noqa: E402
import pytest  # noqa: E402

nbval_tolerance.install()


def pytest_configure(config):
    # nbval_tolerance's hooks (it records what nbval computed) work without `-p`.
    if not config.pluginmanager.has_plugin("nbval_tolerance"):
        config.pluginmanager.register(nbval_tolerance, "nbval_tolerance")


# ---------------------------------------------------------------------------
# One notebook = one unit of work: its nbval cells, then its determinism test
# ---------------------------------------------------------------------------
#
# tests/test_determinism.py checks that two fresh runs of a notebook are identical.
# One of the two is nbval's own run: the determinism test compares its fresh run
# with the outputs nbval recorded in the same process, which saves a third
# execution of every notebook. For that, both must run in one xdist worker, nbval
# first: the scheduler below puts them in one scope, and the collection order puts
# the determinism tests after the notebooks.

_NOTEBOOK_CELL = re.compile(r"(?:^|/)notebooks/([^/]+)\.ipynb::")
_DETERMINISM_CLASS = re.compile(r"tests/test_determinism\.py::(TestNotebook\w+)::")


def _notebook_classes() -> dict[str, str]:
    root = Path(__file__).resolve().parent / "notebooks"
    return {
        "TestNotebook" + "".join(part.capitalize() for part in p.stem.split("-")): p.stem
        for p in root.glob("*.ipynb")
    }


def notebook_scope(nodeid: str) -> str | None:
    """The notebook a test belongs to (its nbval cells, its determinism test), or None."""
    if match := _NOTEBOOK_CELL.search(nodeid):
        return match.group(1)
    if (match := _DETERMINISM_CLASS.search(nodeid)) and match.group(1) in _notebook_classes():
        return _notebook_classes()[match.group(1)]
    return None


def pytest_collection_modifyitems(session, config, items):
    items.sort(key=lambda item: bool(_DETERMINISM_CLASS.search(item.nodeid)))  # stable


@pytest.hookimpl(optionalhook=True)  # only known when pytest-xdist is loaded
def pytest_xdist_make_scheduler(config, log):
    if config.getoption("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class NotebookScopeScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            scope = notebook_scope(nodeid)
            return f"notebook:{scope}" if scope else super()._split_scope(nodeid)

    return NotebookScopeScheduling(config, log)
