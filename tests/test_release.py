"""``make release`` writes a student copy of the course with no solution in it.

The release is built once into a temporary folder; the tests then read it as a
learner (what is there, what runs) and as a lecturer (nothing gives the
answers away).
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import io
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
TOOL = ROOT / "tools" / "release.py"

_spec = importlib.util.spec_from_file_location("release", TOOL)
release = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(release)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("release") / "course"
    report = release.build_release(out)
    return out, report


def _solutions(path: Path) -> list[nbformat.NotebookNode]:
    return [c for c in nbformat.read(path, as_version=4).cells if release.is_solution(c)]


# ---------------------------------------------------------------------------
# Scaffolds
# ---------------------------------------------------------------------------


SOLUTION = '''\
import torch


def flip_rate(model, x, passes=100):
    """Share of passes whose prediction differs from the eval-mode one."""
    model.eval()
    with torch.no_grad():
        ref = model(x)
    return float(sum((model(x) != ref).any() for _ in range(passes)) / passes)


class Noisy(torch.nn.Module):
    def __init__(self, std=0.2):
        super().__init__()
        self.std = std

    def forward(self, x):
        return x + self.std * torch.randn_like(x) if self.training else x


bytes_no_grad = 12 * 4
for _ in range(3):
    print("part of the answer")
nb01.check_exercise_3(flip_rate)
'''


def test_scaffold_keeps_signatures_docstrings_and_the_checker_call():
    text = release.scaffold(SOLUTION)
    ast.parse(text)
    assert text.startswith(release.SCAFFOLD_NOTE)
    assert "import torch" in text
    assert "def flip_rate(model, x, passes=100):" in text
    assert "Share of passes whose prediction differs" in text
    assert "class Noisy(torch.nn.Module):" in text
    assert "def __init__(self, std=0.2):" in text and "def forward(self, x):" in text
    assert "bytes_no_grad = ..." in text
    assert text.rstrip().endswith("nb01.check_exercise_3(flip_rate)")


def test_scaffold_gives_nothing_away():
    text = release.scaffold(SOLUTION)
    for answer in ("model.eval()", "torch.no_grad()", "randn_like", "12 * 4", "part of the answer",
                   "self.std = std", "super().__init__()"):
        assert answer not in text, answer
    body = text.split("\n", 1)[1]  # after the note that explains the `...`
    assert body.count("...") == 4  # flip_rate, __init__, forward, bytes_no_grad


# ---------------------------------------------------------------------------
# The release as a learner gets it
# ---------------------------------------------------------------------------


def test_report_has_one_line_per_notebook(built):
    _, report = built
    assert len(report) == len(NOTEBOOKS)
    assert all("solution cells replaced" in line for line in report)


def test_the_release_has_the_course_but_not_the_tests(built):
    out, _ = built
    for needed in ("notebooks", "course_utils/exercises/_core.py", "pyproject.toml",
                   "requirements.txt", "README.md", "Makefile", "tools/lab.sh", "binder/postBuild"):
        assert (out / needed).exists(), needed
    assert not (out / "tests").exists() and not (out / "tools" / "release.py").exists()
    assert not list(out.rglob("__pycache__"))
    makefile = (out / "Makefile").read_text()
    assert "lab: install" in makefile and "tests" not in makefile


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_solutions_are_replaced_by_scaffolds_and_nothing_else_changes(built, path):
    out, _ = built
    original = nbformat.read(path, as_version=4)
    student = nbformat.read(out / "notebooks" / path.name, as_version=4)
    assert len(student.cells) == len(original.cells)
    solutions = 0
    for before, after in zip(original.cells, student.cells, strict=True):
        if release.is_solution(before):
            solutions += 1
            assert "solution" not in after.metadata.get("tags", [])
            assert after.metadata["tags"] == ["exercise"]
            assert not after.outputs and after.execution_count is None
            assert "..." in after.source and "check" in after.source
            assert not after.metadata.get("jupyter", {}).get("source_hidden")
            ast.parse(after.source)
        elif release.PREDICT_TAG in before.metadata.get("tags", []):
            assert after.source == before.source and not after.outputs  # predict before running
        else:
            assert after.source == before.source
            assert after.get("outputs") == before.get("outputs")
    assert solutions == len(_solutions(path))


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if _solutions(p)], ids=lambda p: p.name)
def test_a_scaffold_run_as_is_fails_its_checker_politely(built, path):
    """A learner who runs the blank scaffold gets a ❌ from the checker, not a traceback."""
    out, _ = built
    student = nbformat.read(out / "notebooks" / path.name, as_version=4)
    scaffold = next(c for c in student.cells if "exercise" in c.metadata.get("tags", []))
    module = path.name[:2]
    namespace: dict = {}
    exec(f"from course_utils.exercises import nb{module}", namespace)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(scaffold.source, f"{path.name} scaffold", "exec"), namespace)
    assert "❌" in printed.getvalue(), printed.getvalue()[-500:]


def test_no_solution_line_appears_in_its_notebook_or_the_docs(built):
    """A solution's distinctive lines are nowhere in its released notebook (cells, hints,
    outputs, raw JSON) nor in the README or docs. (A later notebook may teach the same
    line openly: that is not a leak of this exercise.)"""
    out, _ = built
    docs = [p.read_text(encoding="utf-8") for p in [out / "README.md", *(out / "docs").rglob("*.md")]]
    for path in NOTEBOOKS:
        original = nbformat.read(path, as_version=4)
        released = out / "notebooks" / path.name
        student = nbformat.read(released, as_version=4)
        scaffolds = "\n".join(c.source for c in student.cells)
        needles = release.distinctive_lines(
            [c.source for c in _solutions(path)], release.teaching_text(original), scaffolds
        )
        texts = [text for _, text in release._texts(student)] + docs + [released.read_text()]
        for needle in needles:
            assert not any(needle in " ".join(t.split()) for t in texts), (
                f"{path.name}: {needle!r} is in the release"
            )


# ---------------------------------------------------------------------------
# The leak check itself
# ---------------------------------------------------------------------------


def _leaky_copy(where: str) -> tuple[nbformat.NotebookNode, list[str], nbformat.NotebookNode]:
    path = next(p for p in NOTEBOOKS if _solutions(p))
    original = nbformat.read(path, as_version=4)
    student, solutions = release.release_notebook(original)
    line = sorted(release.distinctive_lines(solutions, release.teaching_text(original), ""), key=len)[-1]
    markdown = next(c for c in student.cells if c.cell_type == "markdown")
    if where == "hint":
        markdown.source += f"\n\n<details><summary>Hint</summary>\n\n`{line}`\n</details>\n"
    else:
        code = next(c for c in student.cells if c.cell_type == "code" and c.outputs)
        code.outputs.append(nbformat.v4.new_output("stream", name="stdout", text=f"{line}\n"))
    return student, solutions, original


@pytest.mark.parametrize("where", ["hint", "output"])
def test_a_solution_line_in_a_hint_or_an_output_is_a_leak(where):
    student, solutions, original = _leaky_copy(where)
    leaks = release.find_leaks(student, solutions, original)
    assert leaks and ("markdown" in leaks[0] if where == "hint" else "output" in leaks[0]), leaks


def test_a_leak_stops_the_release(tmp_path, monkeypatch):
    def leaky(nb):
        student, solutions = real(nb)
        for cell in student.cells:
            if cell.cell_type == "markdown":
                cell.source += "\n\n<details>\n" + "\n".join(solutions) + "\n</details>"
                break
        return student, solutions

    real = release.release_notebook
    monkeypatch.setattr(release, "release_notebook", leaky)
    with pytest.raises(release.LeakError, match="solution text found"):
        release.build_release(tmp_path / "out")
    assert not (tmp_path / "out").exists(), "nothing may be written when a solution leaks"


def test_command_line(tmp_path):
    done = subprocess.run([sys.executable, str(TOOL), "--out", str(tmp_path / "r")],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "student release written to" in done.stdout
