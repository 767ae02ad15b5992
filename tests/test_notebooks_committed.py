"""The notebooks are committed the way learners and nbval need them.

nbval (run by the same pytest command) re-executes every notebook and compares
outputs; these tests catch what nbval alone would not: a notebook committed
without outputs, with an error output, out of order, or with machine-specific
paths in its outputs.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
NAME = re.compile(r"^\d\d-[a-z0-9-]+\.ipynb$")


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def code_cells(nb: dict) -> list[dict]:
    return [c for c in nb["cells"] if c["cell_type"] == "code" and "".join(c["source"]).strip()]


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 2, "notebooks/ should hold the course notebooks"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_named_in_order(path: Path):
    assert NAME.match(path.name), f"{path.name}: name notebooks NN-lower-case-words.ipynb"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_executed_in_order(path: Path):
    cells = code_cells(load(path))
    counts = [c.get("execution_count") for c in cells]
    assert None not in counts, f"{path.name}: has unexecuted cells; run `make regen NB={path.relative_to(ROOT)}`"
    assert counts == list(range(1, len(counts) + 1)), (
        f"{path.name}: execution counts {counts[:8]}... are not 1..N; re-run it top to bottom"
    )
    assert any(c["outputs"] for c in cells), f"{path.name}: committed without any output"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_has_no_error_outputs(path: Path):
    for i, cell in enumerate(code_cells(load(path))):
        for out in cell["outputs"]:
            assert out["output_type"] != "error", (
                f"{path.name}, code cell {i + 1}: committed with an error "
                f"({out.get('ename')}); pitfall cells must use course_utils.expect_error"
            )
        tags = cell.get("metadata", {}).get("tags", [])
        assert "raises-exception" not in tags, f"{path.name}: use expect_error, not raises-exception"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_outputs_hold_no_machine_specific_paths(path: Path):
    text = json.dumps([c["outputs"] for c in code_cells(load(path))])
    for marker in (str(ROOT), "/root/", "/tmp/", "/.venv/"):
        assert marker not in text, f"{path.name}: an output contains the local path {marker!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_ignored_outputs_say_why(path: Path):
    for cell in code_cells(load(path)):
        src = "".join(cell["source"])
        if "NBVAL_IGNORE_OUTPUT" in src:
            lines = [line.strip() for line in src.strip().splitlines()]
            i = lines.index("# NBVAL_IGNORE_OUTPUT")
            why = lines[i + 1] if i + 1 < len(lines) else ""
            assert why.startswith("#") and len(why) > 12, (
                f"{path.name}: the line after '# NBVAL_IGNORE_OUTPUT' must be a comment "
                "saying why the output is not compared"
            )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_has_the_teaching_structure(path: Path):
    text = "\n".join("".join(c["source"]) for c in load(path)["cells"] if c["cell_type"] == "markdown")
    lowered = text.lower()
    assert text.lstrip().startswith(("#", "[![", "<a")), f"{path.name}: should open with a title"
    if not path.name.startswith("00-"):
        for needed in ("learning objectives", "recap", "exercise"):
            assert needed in lowered, f"{path.name}: has no '{needed}' section"


def test_readme_lists_every_notebook():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for path in NOTEBOOKS:
        assert path.name in readme, f"README.md does not list {path.name}"
