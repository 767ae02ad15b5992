"""Every notebook is deterministic and restart-safe.

nbval (same pytest run) executes each notebook once and compares its outputs
with the committed ones. This test executes it once more, in a fresh kernel
started by nbclient (as ``make regen`` does), and checks:

* this run and nbval's are **identical**, exactly, number for number: on one
  machine the course depends on nothing but its seed. (The root ``conftest.py``
  runs a notebook's nbval cells and this test in one process, nbval first, and
  ``tests/nbval_tolerance.py`` records what nbval computed. Run on its own, this
  test executes the notebook twice instead.);
* they match the committed outputs under **the same rule as nbval**
  (``tests/nbval_tolerance.py``: words, integers, modes and booleans exactly,
  decimals within the tolerance), since the committed outputs may come from
  another CPU. Text outputs only (images and widget-view model ids are skipped),
  the sanitizers of ``tests/nbval_sanitize.cfg``, streams merged, and no
  comparison for cells marked ``# NBVAL_IGNORE_OUTPUT``.

The same runs check that a notebook can be re-run from the top at any time:
it creates or changes no file in the repository (temporary files must go to a
``tempfile.TemporaryDirectory()``), and leaves nothing in its temporary folder
once the kernel has shut down.

One test class per notebook, so ``pytest -n 2 --dist loadscope`` spreads the
notebooks over the workers.
"""

from __future__ import annotations

import copy
import difflib
import os
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient
from nbval.plugin import (
    coalesce_streams,
    find_comment_markers,
    find_metadata_tags,
    get_sanitize_patterns,
    transform_streams_for_comparison,
)
from nbval_tolerance import RECORDED, cell_tolerance, outputs_difference

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
SANITIZE = get_sanitize_patterns((ROOT / "tests" / "nbval_sanitize.cfg").read_text())
CELL_TIMEOUT_S = 300

#: What nbval does not compare (its own list, plus images as without --nbdime).
SKIP_COMPARE = {
    "metadata",
    "traceback",
    "prompt_number",
    "output_type",
    "name",
    "execution_count",
    "application/vnd.jupyter.widget-view+json",
    "image/png",
    "image/jpeg",
}

#: Folders whose contents may change while the suite runs (installs, caches, artefacts).
IGNORED_DIRS = {".git", ".venv", "build", "__pycache__", "test-artifacts", ".pytest_cache", ".ruff_cache"}

pytestmark = pytest.mark.slow


# ---------------------------------------------------------------------------
# nbval's comparison rules
# ---------------------------------------------------------------------------


def _sanitize(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    import re

    for regex, replace in SANITIZE:
        value = re.sub(regex, replace, value)
    return value


def comparable(outputs: list) -> dict[str, list]:
    """A cell's outputs as nbval compares them: ``{field or MIME type: [values]}``."""
    outs = transform_streams_for_comparison(coalesce_streams(copy.deepcopy(list(outputs))))
    flat: dict[str, list] = defaultdict(list)
    for out in outs:
        for key, value in out.items():
            if key in SKIP_COMPARE:
                continue
            if key == "data":
                for mime, data in value.items():
                    if mime not in SKIP_COMPARE:
                        flat[mime].append(_sanitize(data))
            else:
                flat[key].append(_sanitize(value))
    return dict(flat)


def is_compared(cell: Any) -> bool:
    """False for cells nbval does not check: NBVAL_IGNORE_OUTPUT / NBVAL_SKIP, by comment or tag."""
    options = dict(find_metadata_tags(cell.get("metadata", {})))
    options.update(dict(find_comment_markers(cell.source)))
    if options.get("skip") or options.get("check") is False:
        return False
    return cell.get("execution_count") is not None


def _describe_difference(index: int, source: str, committed: dict, fresh: dict) -> str:
    head = source.strip().splitlines()[:3]
    lines = [f"code cell {index + 1} (starts: {' / '.join(head)[:120]!r})"]
    for key in sorted(set(committed) | set(fresh)):
        a, b = committed.get(key), fresh.get(key)
        if a == b:
            continue
        a_text = "\n".join(map(str, a or ["<missing>"]))
        b_text = "\n".join(map(str, b or ["<missing>"]))
        diff = difflib.unified_diff(
            a_text.splitlines(), b_text.splitlines(), "committed", "fresh run", lineterm="", n=1
        )
        lines.append(f"  {key}:\n    " + "\n    ".join(list(diff)[:30]))
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------


def repo_listing(root: Path = ROOT) -> dict[str, tuple[int, int]]:
    """``{relative path: (size, mtime_ns)}`` of every file outside the ignored folders."""
    listing = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in IGNORED_DIRS and not d.startswith(".venv")]
        for name in filenames:
            path = Path(dirpath, name)
            try:
                stat = path.stat()
            except OSError:  # removed while we looked
                continue
            listing[str(path.relative_to(root))] = (stat.st_size, stat.st_mtime_ns)
    return listing


def files_under(folder: str) -> list[str]:
    """Files left anywhere under ``folder``. Empty folders do not count: torch creates an
    empty ``torchinductor_<user>`` cache folder in TMPDIR when a process makes its first optimizer."""
    return sorted(
        str(Path(d, f).relative_to(folder)) for d, _, files in os.walk(folder) for f in files
    )


def listing_changes(before: dict, after: dict, watched: str = "") -> list[str]:
    """Files created or deleted anywhere, and files changed under the folder ``watched``.

    Changes to existing files elsewhere are not reported: someone may be editing the
    course while the suite runs, and a notebook writes where it runs (its own folder).
    """
    new = [f"new: {p}" for p in sorted(set(after) - set(before))]
    gone = [f"deleted: {p}" for p in sorted(set(before) - set(after))]
    changed = [
        f"changed: {p}"
        for p in sorted(set(before) & set(after))
        if before[p] != after[p] and p.startswith(watched)
    ]
    return new + gone + changed


# ---------------------------------------------------------------------------
# The test, one class per notebook
# ---------------------------------------------------------------------------


def execute_fresh(path: Path, tmpdir: str) -> Any:
    """Run ``path`` top to bottom in a new kernel whose TMPDIR is ``tmpdir``; return the notebook."""
    nb = nbformat.read(path, as_version=4)
    run = copy.deepcopy(nb)
    for cell in run.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    env = {**os.environ, "TMPDIR": tmpdir, "PYTHONHASHSEED": os.environ.get("PYTHONHASHSEED", "0")}
    client = NotebookClient(
        run,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute(env=env)
    return nb, run


class _NotebookCheck:
    path: Path

    def test_runs_are_identical_match_committed_outputs_and_leave_no_files(self):
        path = self.path
        before = repo_listing()
        with tempfile.TemporaryDirectory(prefix="nb-tmp-") as tmpdir:
            committed, fresh = execute_fresh(path, tmpdir)
            fresh_code = [c for c in fresh.cells if c.cell_type == "code"]
            # The other run: nbval's, in this process (see the root conftest), else a new one.
            nbval_run = RECORDED.get(str(path), {})
            if len(nbval_run) == len(fresh_code):
                other = [nbval_run[i] for i in range(len(fresh_code))]
                other_name = "nbval's run"
            else:
                _, again = execute_fresh(path, tmpdir)
                other = [c.outputs for c in again.cells if c.cell_type == "code"]
                other_name = "a second fresh run"
            leftovers = files_under(tmpdir)
        after = repo_listing()

        committed_code = [c for c in committed.cells if c.cell_type == "code"]
        assert len(committed_code) == len(fresh_code) == len(other)
        not_identical = [
            _describe_difference(i, f.source, comparable(f.outputs), comparable(g))
            for i, (f, g) in enumerate(zip(fresh_code, other, strict=True))
            if is_compared(f) and comparable(f.outputs) != comparable(g)
        ]
        assert not not_identical, (
            f"{path.name}: a fresh run and {other_name} on this machine gave different outputs "
            "(something is not seeded, or depends on earlier runs):\n" + "\n".join(not_identical[:3])
        )
        differences = [
            f"{why}\n" + _describe_difference(i, c.source, comparable(c.outputs), comparable(f.outputs))
            for i, (c, f) in enumerate(zip(committed_code, fresh_code, strict=True))
            if is_compared(c)
            and (why := outputs_difference(comparable(c.outputs), comparable(f.outputs), cell_tolerance(c)))
        ]
        assert not differences, (
            f"{path.name}: a fresh run does not match the committed outputs, beyond the "
            "floating-point tolerance of tests/nbval_tolerance.py:\n" + "\n".join(differences[:3])
        )
        changes = listing_changes(before, after, watched=str(path.parent.relative_to(ROOT)) + os.sep)
        assert not changes, (
            f"{path.name}: running it changed files in the repository; write temporary files "
            "to a tempfile.TemporaryDirectory() instead:\n  " + "\n  ".join(changes[:10])
        )
        assert not leftovers, (
            f"{path.name}: left {leftovers[:5]} in its temporary folder; use "
            "`with tempfile.TemporaryDirectory() as d:` so they are removed"
        )


for _path in NOTEBOOKS:
    _name = "TestNotebook" + "".join(part.capitalize() for part in _path.stem.split("-"))
    globals()[_name] = type(_name, (_NotebookCheck,), {"path": _path, "__doc__": _path.name})


def test_there_are_notebooks_to_check():
    assert NOTEBOOKS, "no notebooks found in notebooks/"


# ---------------------------------------------------------------------------
# The comparison itself must be able to fail
# ---------------------------------------------------------------------------


def _stream(text: str, name: str = "stdout") -> Any:
    return nbformat.v4.new_output("stream", name=name, text=text)


def _display(data: dict) -> Any:
    return nbformat.v4.new_output("display_data", data=data)


def test_comparison_sees_a_changed_number():
    assert comparable([_stream("acc 0.9500\n")]) != comparable([_stream("acc 0.9512\n")])
    # ...which the committed-outputs part forgives (drift), but not 40 % or a flipped word.
    assert outputs_difference(comparable([_stream("acc 0.9500\n")]), comparable([_stream("acc 0.9512\n")])) is None
    assert outputs_difference(comparable([_stream("acc 0.50\n")]), comparable([_stream("acc 0.70\n")]))
    assert outputs_difference(comparable([_stream("train True\n")]), comparable([_stream("eval True\n")]))


def test_comparison_merges_streams_like_nbval():
    assert comparable([_stream("a\n"), _stream("b\n")]) == comparable([_stream("a\nb\n")])


def test_comparison_skips_images_and_widget_ids_but_not_text():
    one = _display({"image/png": "AAAA", "text/plain": "<Figure>",
                    "application/vnd.jupyter.widget-view+json": {"model_id": "1"}})
    two = _display({"image/png": "BBBB", "text/plain": "<Figure>",
                    "application/vnd.jupyter.widget-view+json": {"model_id": "2"}})
    assert comparable([one]) == comparable([two])
    three = _display({"image/png": "AAAA", "text/plain": "<Figure 2>"})
    assert comparable([one]) != comparable([three])


def test_comparison_applies_the_sanitizers():
    a = _stream("<object at 0x7f3a12345678> in /home/me/.venv/lib/python3.11/site-packages/x.py\n")
    b = _stream("<object at 0x55aa00000000> in /opt/env/lib/python3.11/site-packages/x.py\n")
    assert comparable([a]) == comparable([b])


def test_ignored_cells_are_not_compared():
    cell = nbformat.v4.new_code_cell("# NBVAL_IGNORE_OUTPUT\n# timings vary\nprint(1)", execution_count=1)
    assert not is_compared(cell)
    tagged = nbformat.v4.new_code_cell("print(1)", execution_count=1, metadata={"tags": ["nbval-ignore-output"]})
    assert not is_compared(tagged)
    assert is_compared(nbformat.v4.new_code_cell("print(1)", execution_count=1))


def test_listing_reports_new_and_changed_files(tmp_path):
    (tmp_path / "keep.txt").write_text("a")
    before = repo_listing(tmp_path)
    (tmp_path / "new.txt").write_text("b")
    (tmp_path / "keep.txt").write_text("changed")
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "x.pyc").write_text("ignored")
    changes = listing_changes(before, repo_listing(tmp_path))
    assert changes == ["new: new.txt", "changed: keep.txt"]
    assert listing_changes(before, repo_listing(tmp_path), watched="notebooks/") == ["new: new.txt"]


def test_a_notebook_and_its_determinism_test_share_one_scope():
    """The root conftest groups them, so nbval's run can serve as one of the two runs."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("root_conftest", ROOT / "conftest.py")
    root_conftest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(root_conftest)
    path = NOTEBOOKS[0]
    cls = "TestNotebook" + "".join(part.capitalize() for part in path.stem.split("-"))
    assert root_conftest.notebook_scope(f"notebooks/{path.name}::Cell 3") == path.stem
    assert root_conftest.notebook_scope(f"tests/test_determinism.py::{cls}::test_x") == path.stem
    assert root_conftest.notebook_scope("tests/test_modes.py::test_x") is None
