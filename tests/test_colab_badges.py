"""Colab readiness: the badge tool, and the Colab cell every notebook starts with.

* ``tools/colab_badges.py`` puts "Open in Colab" / Binder badges above each
  notebook's title; it must be idempotent and touch nothing but that markdown.
* The Colab cell installs ``course_utils`` on Colab only, with ``--no-deps``
  (Colab's own torch, ipywidgets and matplotlib stay), straight from the
  course's repository, and does nothing anywhere else.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import shutil
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
REPO_URL = "https://github.com/train-eval-course/pytorch-train-vs-eval"

spec = importlib.util.spec_from_file_location("colab_badges", ROOT / "tools" / "colab_badges.py")
colab_badges = importlib.util.module_from_spec(spec)
spec.loader.exec_module(colab_badges)


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def source(cell: dict) -> str:
    return "".join(cell["source"])


def markdown_cells(nb: dict) -> list[dict]:
    return [c for c in nb["cells"] if c["cell_type"] == "markdown"]


def everything_but_the_first_markdown(nb: dict) -> str:
    first = markdown_cells(nb)[0]
    rest = dict(nb, cells=[c for c in nb["cells"] if c is not first])
    return json.dumps(rest, sort_keys=True)


# ---------------------------------------------------------------------------
# tools/colab_badges.py
# ---------------------------------------------------------------------------


@pytest.fixture
def notebook_copy(tmp_path: Path) -> Path:
    """A copy of a real, executed course notebook (with outputs) to run the tool on."""
    with_outputs = [p for p in NOTEBOOKS if any(
        c.get("outputs") for c in load(p)["cells"] if c["cell_type"] == "code"
    )]
    assert with_outputs, "expected at least one executed notebook in notebooks/"
    copy = tmp_path / with_outputs[0].name
    shutil.copy(with_outputs[0], copy)
    # Start from a notebook without badges, as a newly written one would be.
    nb = load(copy)
    first = markdown_cells(nb)[0]
    lines = "".join(first["source"]).splitlines(keepends=True)
    if lines and colab_badges.BADGE_LINE.match(lines[0]):
        first["source"] = "".join(lines[1:]).lstrip("\n").splitlines(keepends=True)
        copy.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return copy


def test_the_links_point_at_this_notebook_in_the_course_repository():
    name = "02-which-modules-change.ipynb"
    assert colab_badges.colab_url(name) == (
        "https://colab.research.google.com/github/train-eval-course/pytorch-train-vs-eval"
        "/blob/main/notebooks/02-which-modules-change.ipynb"
    )
    assert colab_badges.binder_url(name) == (
        "https://mybinder.org/v2/gh/train-eval-course/pytorch-train-vs-eval/HEAD"
        "?urlpath=lab/tree/notebooks/02-which-modules-change.ipynb"
    )
    assert colab_badges.REPO in REPO_URL, "badges and the Colab install cell must name one repository"


def test_badges_go_above_the_title_and_nothing_else_changes(notebook_copy: Path):
    before = load(notebook_copy)
    title = source(markdown_cells(before)[0])
    assert colab_badges.update_notebook(notebook_copy) is True

    after = load(notebook_copy)
    first = source(markdown_cells(after)[0])
    line = colab_badges.badge_line(notebook_copy.name)
    assert first == line + "\n\n" + title
    assert colab_badges.colab_url(notebook_copy.name) in line
    assert colab_badges.binder_url(notebook_copy.name) in line
    assert everything_but_the_first_markdown(after) == everything_but_the_first_markdown(before)
    code_before = [c for c in before["cells"] if c["cell_type"] == "code"]
    code_after = [c for c in after["cells"] if c["cell_type"] == "code"]
    assert code_after == code_before and any(c["outputs"] for c in code_after)


def test_a_second_run_changes_nothing(notebook_copy: Path):
    colab_badges.update_notebook(notebook_copy)
    once = notebook_copy.read_bytes()
    assert colab_badges.update_notebook(notebook_copy) is False
    assert notebook_copy.read_bytes() == once
    assert source(markdown_cells(load(notebook_copy))[0]).count("Open In Colab") == 1


def test_an_outdated_badge_line_is_replaced_not_duplicated(notebook_copy: Path):
    nb = load(notebook_copy)
    first = markdown_cells(nb)[0]
    title = source(first)
    old = "[![Open In Colab](https://x/badge.svg)](https://colab.research.google.com/github/old/repo)"
    first["source"] = [old + "\n", "\n"] + first["source"]
    notebook_copy.write_text(json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + "\n")
    assert colab_badges.update_notebook(notebook_copy) is True
    assert source(markdown_cells(load(notebook_copy))[0]) == (
        colab_badges.badge_line(notebook_copy.name) + "\n\n" + title
    )


def test_check_mode_reports_without_writing(notebook_copy: Path):
    before = notebook_copy.read_bytes()
    script = [sys.executable, str(ROOT / "tools" / "colab_badges.py")]
    missing = subprocess.run([*script, "--check", str(notebook_copy)], capture_output=True, text=True)
    assert missing.returncode == 1 and "needs badges" in missing.stdout
    assert notebook_copy.read_bytes() == before
    subprocess.run([*script, str(notebook_copy)], check=True, capture_output=True)
    ok = subprocess.run([*script, "--check", str(notebook_copy)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout


def test_a_notebook_without_markdown_is_refused_with_a_reason(tmp_path: Path):
    path = tmp_path / "99-no-title.ipynb"
    nb = {"cells": [{"cell_type": "code", "source": ["1"], "metadata": {}, "outputs": [],
                     "execution_count": None}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb, sort_keys=True, indent=1) + "\n")
    with pytest.raises(ValueError, match="no markdown cell"):
        colab_badges.update_notebook(path)
    with pytest.raises(ValueError, match="notebook file name"):
        colab_badges.badge_line("notebooks/00-start-here.ipynb")


# ---------------------------------------------------------------------------
# The Colab cell of every notebook
# ---------------------------------------------------------------------------


def contributing_colab_cell() -> str:
    """The Colab cell as CONTRIBUTING.md prescribes it, verbatim."""
    text = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    block = re.search(r"The Colab cell.*?```python\n(.*?)```", text, flags=re.S)
    assert block, "CONTRIBUTING.md should show the Colab cell in a ```python block"
    return textwrap.dedent(block.group(1)).strip()


def colab_cell(path: Path) -> str:
    code = [c for c in load(path)["cells"] if c["cell_type"] == "code"]
    assert code, f"{path.name}: has no code cells"
    return source(code[0]).strip()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_the_first_code_cell_is_the_colab_cell_verbatim(path: Path):
    assert colab_cell(path) == contributing_colab_cell(), (
        f"{path.name}: the first code cell must be CONTRIBUTING.md's Colab cell, verbatim"
    )


def test_the_colab_cell_installs_only_the_course_package_with_no_deps():
    tree = ast.parse(contributing_colab_cell())
    *imports, guard = tree.body
    assert all(isinstance(node, ast.Import) for node in imports)
    # Everything that acts sits under `if "google.colab" in sys.modules:`, with no else.
    assert isinstance(guard, ast.If) and not guard.orelse
    assert ast.unparse(guard.test) == "'google.colab' in sys.modules"
    calls = [n for n in ast.walk(guard) if isinstance(n, ast.Call)]
    assert [ast.unparse(c.func) for c in calls] == ["subprocess.run"]
    args = ast.literal_eval(ast.unparse(calls[0].args[0]).replace("sys.executable", "'python'"))
    assert args[:3] == ["python", "-m", "pip"] and args[3] == "install"
    assert "--no-deps" in args
    assert [a for a in args if not a.startswith("-")][3:] == [f"git+{REPO_URL}"]


def run_colab_cell(monkeypatch, on_colab: bool) -> list[list[str]]:
    calls: list[list[str]] = []
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: calls.append(list(cmd)))
    if on_colab:
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    exec(compile(contributing_colab_cell(), "<colab cell>", "exec"), {})
    return calls


def test_the_colab_cell_does_nothing_outside_colab(monkeypatch):
    assert run_colab_cell(monkeypatch, on_colab=False) == []


def test_on_colab_the_cell_runs_one_pip_install(monkeypatch):
    calls = run_colab_cell(monkeypatch, on_colab=True)
    assert calls == [[sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                      f"git+{REPO_URL}"]]


def test_every_course_notebook_carries_up_to_date_badges():
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "colab_badges.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, (
        f"badges missing or outdated; run `python tools/colab_badges.py`:\n{result.stdout}{result.stderr}"
    )
