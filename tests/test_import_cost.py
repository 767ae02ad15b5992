"""Importing the course's package is cheap and has no side effects.

``import course_utils`` runs in every notebook's first cell, and the widget
and exercise packages are imported before anything is shown. None of them may
load Keras (slow, and it picks a backend), or ``matplotlib.pyplot`` (it selects
a backend and creates global figure state before ``%matplotlib widget`` can
run); the bare package and the checker package load no torch either, as
``course_utils/__init__.py`` promises. Each check runs in a fresh interpreter,
since this test process has long imported all of them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WATCHED = ("torch", "keras", "matplotlib", "matplotlib.pyplot", "ipywidgets", "sklearn")

PROBE = """
import json, sys
{code}
print(json.dumps(sorted(m for m in {watched!r} if m in sys.modules)))
"""


def loaded_after(code: str) -> list[str]:
    """The watched modules present in a fresh interpreter after running ``code``."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    env.pop("MPLBACKEND", None)
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(code=code, watched=WATCHED)],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=120, check=False,
    )
    assert out.returncode == 0, f"{code!r} failed in a fresh interpreter:\n{out.stderr[-2000:]}"
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    ("statement", "forbidden"),
    [
        ("import course_utils", ("torch", "keras", "matplotlib.pyplot", "ipywidgets")),
        ("import course_utils.exercises", ("torch", "keras", "matplotlib.pyplot", "ipywidgets")),
        ("import course_utils.widgets", ("keras", "matplotlib.pyplot")),
    ],
)
def test_importing_the_package_loads_nothing_heavy(statement, forbidden):
    loaded = loaded_after(statement)
    bad = [m for m in forbidden if m in loaded]
    assert not bad, f"`{statement}` imports {bad}; import them inside the functions that need them"


def test_no_module_of_the_package_imports_keras_or_pyplot():
    # Every submodule, and every lazily exported name, in one interpreter.
    code = (
        "import importlib, pkgutil, course_utils, course_utils.widgets\n"
        "for m in pkgutil.walk_packages(course_utils.__path__, 'course_utils.'):\n"
        "    importlib.import_module(m.name)\n"
        "for pkg in (course_utils, course_utils.widgets):\n"
        "    [getattr(pkg, name) for name in pkg.__all__]\n"
    )
    loaded = loaded_after(code)
    assert "torch" in loaded, "the probe did not import the package's modules"
    bad = [m for m in ("keras", "matplotlib.pyplot") if m in loaded]
    assert not bad, (
        f"importing course_utils' modules loads {bad}: import it inside the function "
        "that needs it (as training.History.plot does with pyplot)"
    )


def test_the_probe_can_fail():
    assert "matplotlib.pyplot" in loaded_after("import matplotlib.pyplot")
