"""The Binder configuration (binder/) builds the environment the course was tested in.

repo2docker (what mybinder.org runs) only reads binder/ when that folder exists,
so binder/requirements.txt must carry the same pins as the top-level
requirements.txt; these tests catch the two drifting apart.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
BINDER = ROOT / "binder"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
# Used only by `make test` / `make lint`, not by a learner's session.
DEV_ONLY = {"pytest", "pytest-xdist", "nbval", "ruff", "nbqa", "playwright"}


def pins(path: Path) -> tuple[dict[str, str], list[str]]:
    """The ``name==version`` lines of a requirements file, and its option lines."""
    found, options = {}, []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-"):
            options.append(line)
            continue
        req = Requirement(line)
        specs = list(req.specifier)
        assert len(specs) == 1 and specs[0].operator == "==", f"{path.name}: pin {line!r} exactly"
        found[req.name.lower()] = specs[0].version
    return found, options


def test_runtime_is_the_tested_python():
    assert (BINDER / "runtime.txt").read_text().strip() == "python-3.11"
    assert sys.version_info[:2] == (3, 11), "the course is tested on Python 3.11, as Binder runs it"


def test_binder_pins_match_the_top_level_requirements():
    top, _ = pins(ROOT / "requirements.txt")
    binder, _ = pins(BINDER / "requirements.txt")
    expected = {name: version for name, version in top.items() if name not in DEV_ONLY}
    expected["torch"] = f"{top['torch']}+cpu"
    assert binder == expected


def test_torch_comes_from_the_cpu_index():
    binder, options = pins(BINDER / "requirements.txt")
    assert binder["torch"].endswith("+cpu"), "an unqualified torch pin can resolve to the CUDA build"
    assert f"--extra-index-url {CPU_INDEX}" in options


def test_post_build_installs_the_course_package_without_touching_the_pins():
    post_build = BINDER / "postBuild"
    text = post_build.read_text(encoding="utf-8")
    assert text.startswith("#!/bin/bash\n"), "repo2docker runs postBuild as a bash script"
    assert "set -e" in text, "without set -e a failing step would not fail the Binder build"
    assert "pip install --no-cache-dir --no-deps -e ." in text
    assert os.access(post_build, os.X_OK), "postBuild should be executable (chmod +x)"
