"""Write the student release of the course (``make release``).

Usage::

    python tools/release.py                  # -> build/release/
    python tools/release.py --out DIR        # somewhere else

The lecturer's copy is the repository itself. The release is what learners get:

* every notebook, with each **solution cell** (tagged ``solution``) replaced by
  a scaffold: the same function and class signatures with ``...`` as body,
  assignments as ``name = ...``, and the checker call, so the learner fills in
  the blanks and runs the cell. The scaffold has no outputs, and the solution's
  outputs are gone with it. Cells tagged ``predict-then-run`` keep their code
  but lose their stored output (it would answer the question before the learner
  predicts); every other cell, output and checker is unchanged;
* the helper package ``course_utils`` (the checkers), ``pyproject.toml``,
  ``requirements.txt``, ``binder/``, ``docs/``, ``README.md``, and a small
  ``Makefile`` whose ``make lab`` installs and opens the course;
* not the tests or the development tools (the tests hold worked answers).

Before writing anything, it checks that no solution leaks into the release:
no distinctive line of a solution cell (one that does not also appear in the
notebook's teaching cells) may appear in any other cell, hint or stored output
of any released notebook, nor in the README or docs. A leak stops the release
with the notebook, the place and the line.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "build" / "release"
#: What a learner gets besides the notebooks (paths relative to the repository).
SHIPPED = ["course_utils", "pyproject.toml", "requirements.txt", "binder", "docs", "README.md", "tools/lab.sh"]
SOLUTION_TAG = "solution"
#: Cells whose stored output would answer a "predict, then run" question: the release
#: keeps the code and drops the output, so the learner predicts before running.
PREDICT_TAG = "predict-then-run"
SCAFFOLD_NOTE = "# Exercise: replace each `...` with your code, then run this cell to check it."
RELEASE_MAKEFILE = """\
# The course, student release. `make lab` creates .venv, installs the pinned
# requirements and opens JupyterLab on the course.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
STAMP := $(VENV)/.installed-stamp

.PHONY: install lab

$(STAMP): requirements.txt pyproject.toml
\t@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
\t$(VENV)/bin/python -m pip install --quiet --upgrade pip
\t$(VENV)/bin/python -m pip install --quiet -r requirements.txt
\t$(VENV)/bin/python -m pip install --quiet --no-deps -e .
\t@touch $(STAMP)

install: $(STAMP)

lab: install
\tbash tools/lab.sh
"""
#: Lines too common to count as giving a solution away.
MIN_LEAK_LENGTH = 16


class LeakError(RuntimeError):
    """Solution text found somewhere in the student release."""


def is_solution(cell: nbformat.NotebookNode) -> bool:
    return cell.cell_type == "code" and SOLUTION_TAG in cell.get("metadata", {}).get("tags", [])


def _is_checker_call(node: ast.stmt) -> bool:
    """``nbXX.check_exercise_1(...)`` or ``check_...(...)`` as a statement."""
    if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)):
        return False
    func = node.value.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return name.startswith("check")


def _signature(lines: list[str], node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> list[str]:
    """The decorator and ``def``/``class`` lines of ``node``, up to its body."""
    first = min([d.lineno for d in node.decorator_list] + [node.lineno]) - 1
    return lines[first : node.body[0].lineno - 1]


def _docstring(node: ast.AST, indent: str) -> list[str]:
    doc = ast.get_docstring(node, clean=True)
    if not doc:
        return []
    text = doc.replace('"""', '\\"\\"\\"').splitlines()
    if len(text) == 1:
        return [f'{indent}"""{text[0]}"""']
    return [f'{indent}"""{text[0]}', *[f"{indent}{t}" if t else "" for t in text[1:]], f'{indent}"""']


def _body_indent(lines: list[str], node: ast.AST) -> str:
    line = lines[node.body[0].lineno - 1]
    return line[: len(line) - len(line.lstrip())]


def _scaffold_def(lines: list[str], node: ast.AST) -> list[str]:
    indent = _body_indent(lines, node)
    out = _signature(lines, node) + _docstring(node, indent)
    if isinstance(node, ast.ClassDef):
        methods = [n for n in node.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
        for i, method in enumerate(methods):
            if i:
                out.append("")
            out += _scaffold_def(lines, method)
        if not methods:
            out.append(f"{indent}...")
    else:
        out.append(f"{indent}...")
    return out


def scaffold(source: str) -> str:
    """The exercise scaffold of a solution cell's source (see the module docstring)."""
    tree = ast.parse(source)
    lines = source.splitlines()
    out: list[str] = [SCAFFOLD_NOTE]
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            out += ["", "", *_scaffold_def(lines, node), "", ""]
        elif isinstance(node, ast.Import | ast.ImportFrom) or _is_checker_call(node):
            out.append(ast.get_source_segment(source, node) or "")
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = " = ".join(ast.get_source_segment(source, t) or "_" for t in targets)
            out.append(f"{names} = ...")
        # Anything else (loops, prints, with-blocks) is part of the answer: left out.
    text = re.sub(r"\n{4,}", "\n\n\n", "\n".join(out)).strip("\n")
    return text.replace(SCAFFOLD_NOTE + "\n\n\n", SCAFFOLD_NOTE + "\n") + "\n"


def release_notebook(nb: nbformat.NotebookNode) -> tuple[nbformat.NotebookNode, list[str]]:
    """``(student copy, solution sources)``: solution cells replaced by scaffolds."""
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    solutions = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and PREDICT_TAG in cell.get("metadata", {}).get("tags", []):
            cell.outputs, cell.execution_count = [], None
        if not is_solution(cell):
            continue
        solutions.append(cell.source)
        metadata = {
            key: value for key, value in cell.metadata.items() if key not in ("jupyter", "execution", "tags")
        }
        metadata["tags"] = ["exercise"]
        new = nbformat.v4.new_code_cell(scaffold(cell.source), metadata=metadata)
        new.id = cell.get("id", new.id)
        nb.cells[i] = new
    return nb, solutions


# ---------------------------------------------------------------------------
# Leak check
# ---------------------------------------------------------------------------


_DETAILS = re.compile(r"<details>.*?</details>", re.S | re.I)


def _normal(line: str) -> str:
    return " ".join(line.split())


def teaching_text(nb: nbformat.NotebookNode) -> str:
    """What the notebook teaches openly: every non-solution cell's source, without the
    collapsed ``<details>`` blocks (hints) and without outputs."""
    return "\n".join(_DETAILS.sub("", c.source) for c in nb.cells if not is_solution(c))


def distinctive_lines(solutions: Iterable[str], teaching: str, scaffolds: str) -> set[str]:
    """Solution lines that give the answer away: long enough, not a comment (a trailing
    comment is dropped), and not already shown openly by the notebook's teaching cells
    or in the scaffold the learner gets."""
    known = "\n".join(_normal(line) for line in (teaching + "\n" + scaffolds).splitlines())
    found = set()
    for source in solutions:
        for line in source.splitlines():
            text = _normal(line.split("  #")[0])
            if len(text) >= MIN_LEAK_LENGTH and not text.startswith("#") and text not in known:
                found.add(text)
    return found


def _texts(nb: nbformat.NotebookNode) -> Iterable[tuple[str, str]]:
    """``(where, text)`` for every cell source and every text output of a notebook."""
    for i, cell in enumerate(nb.cells):
        yield f"cell {i} ({cell.cell_type})", cell.source
        for output in cell.get("outputs", []):
            if "text" in output:
                yield f"cell {i} output", output["text"]
            for mime, data in output.get("data", {}).items():
                if isinstance(data, str) and not mime.startswith("image/"):
                    yield f"cell {i} output {mime}", data


def find_leaks(
    released: nbformat.NotebookNode, solutions: list[str], original: nbformat.NotebookNode,
    extra_texts: Sequence[tuple[str, str]] = (),
) -> list[str]:
    """Where a distinctive solution line appears in the release (empty: no leak)."""
    teaching = teaching_text(original)
    scaffolds = "\n".join(c.source for c in released.cells if "exercise" in c.metadata.get("tags", []))
    needles = distinctive_lines(solutions, teaching, scaffolds)
    leaks = []
    for where, text in [*_texts(released), *extra_texts]:
        normal = "\n".join(_normal(line) for line in text.splitlines())
        for needle in sorted(needles):
            if needle in normal:
                leaks.append(f"{where}: {needle!r}")
    return leaks


# ---------------------------------------------------------------------------
# The release
# ---------------------------------------------------------------------------


def _tracked(paths: Sequence[str]) -> list[Path]:
    """The files git tracks under ``paths`` (so no caches or build outputs are shipped)."""
    done = subprocess.run(
        ["git", "ls-files", "--", *paths], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return [ROOT / line for line in done.stdout.splitlines() if (ROOT / line).is_file()]


def build_release(out: Path, notebooks: Sequence[Path] | None = None) -> list[str]:
    """Write the release to ``out`` (replaced if it exists); return one line per notebook."""
    notebooks = list(notebooks or sorted((ROOT / "notebooks").glob("*.ipynb")))
    extra = [(str(p.relative_to(ROOT)), p.read_text(encoding="utf-8"))
             for p in _tracked(["README.md", "docs"]) if p.suffix in (".md", ".txt", ".html")]
    released, report, leaks = {}, [], []
    for path in notebooks:
        original = nbformat.read(path, as_version=4)
        student, solutions = release_notebook(original)
        leaks += [f"{path.name}: {leak}" for leak in find_leaks(student, solutions, original, extra)]
        released[path.name] = student
        report.append(f"{path.name}: {len(solutions)} solution cells replaced by scaffolds")
    if leaks:
        raise LeakError("solution text found in the release:\n  " + "\n  ".join(leaks[:20]))

    if out.exists():
        shutil.rmtree(out)
    (out / "notebooks").mkdir(parents=True)
    for name, nb in released.items():
        nbformat.write(nb, out / "notebooks" / name)
    for source in _tracked(SHIPPED):
        target = out / source.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    (out / "Makefile").write_text(RELEASE_MAKEFILE, encoding="utf-8")
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the student release (no solutions).")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: build/release)")
    args = parser.parse_args(argv)
    try:
        report = build_release(args.out)
    except LeakError as exc:
        print(f"release NOT written: {exc}", file=sys.stderr)
        return 1
    print("\n".join(report))
    print(f"student release written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
