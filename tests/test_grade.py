"""``python -m course_utils.grade`` grades a class: every kind of submission gets a clear row.

Submissions are built from notebook 01: the committed notebook as is, and, to
keep the test short, a trimmed copy (title, Colab and set-up cells, then the
Exercises section with self-contained solution cells) with one change each:
a classic mistake per exercise, a syntax error, a deleted or moved cell, a
write outside the folder, an infinite loop; plus files that are not notebooks.
"""

from __future__ import annotations

import ast
import copy
import csv
import json
from pathlib import Path

import nbformat
import psutil
import pytest

from course_utils import grade as grading

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "01-train-and-eval-modes.ipynb"
NAME = NOTEBOOK.name

WRONG = [  # one classic mistake per exercise of notebook 01
    '''def count_modes(model):
    children = list(model.children())  # only the direct children, not every module
    n_train = sum(m.training for m in children)
    return n_train, len(children) - n_train


nb01.check_exercise_1(count_modes)
''',
    '''def predict(model, x):
    model.eval()  # never switched back, and a graph is built
    return model(x)


nb01.check_exercise_2(predict)
''',
    '''def flip_rate(model, x, n_passes=100):
    with torch.no_grad():  # never switches to train mode: nothing ever flips
        reference = model.eval()(x).argmax(dim=1)
        changed = sum((model(x).argmax(dim=1) != reference).sum().item() for _ in range(n_passes))
    return changed / (n_passes * len(x))


nb01.check_exercise_3(flip_rate)
''',
]


def _is_solution(cell) -> bool:
    return cell.cell_type == "code" and "solution" in cell.metadata.get("tags", [])


def _self_contained(source: str) -> str:
    """A solution cell's imports, definitions and checker calls (no uses of the notebook's models)."""
    tree = ast.parse(source)
    keep = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef)
    parts = [
        ast.get_source_segment(source, node)
        for node in tree.body
        if isinstance(node, keep) or "check_" in (ast.get_source_segment(source, node) or "")
    ]
    return "\n\n".join(p for p in parts if p) + "\n"


def _trimmed(nb):
    """Title, Colab and set-up cells, then everything from ``## Exercises`` on."""
    start = next(i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and c.source.startswith("## Exercises"))
    first_code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"][:2]
    short = copy.deepcopy(nb)
    short.cells = [nb.cells[0], *(nb.cells[i] for i in first_code), *nb.cells[start:]]
    for cell in short.cells:
        if _is_solution(cell):  # outputs kept on purpose: stale ✅ lines must not count
            cell.source = _self_contained(cell.source)
    return short


def _solutions(nb) -> list:
    return [c for c in nb.cells if _is_solution(c)]


def _code(source: str):
    return nbformat.v4.new_code_cell(source)


def _write(path: Path, nb) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


@pytest.fixture(scope="module")
def course():
    notebook = next(n for n in grading.load_course() if n.slug == NOTEBOOK.stem)
    assert len(notebook.exercises) == 3, "the test's mistakes are written for notebook 01's three exercises"
    return notebook


@pytest.fixture(scope="module")
def graded(tmp_path_factory, course):
    """One run over the whole class (jobs=2); returns (rows by student, summary, folders)."""
    tmp = tmp_path_factory.mktemp("grade")
    subs, outside = tmp / "submissions", tmp / "outside.txt"
    full = nbformat.read(NOTEBOOK, as_version=4)
    base = _trimmed(full)
    setup_at = [i for i, c in enumerate(base.cells) if c.cell_type == "code"][1]

    _write(subs / "alice" / NAME, full)  # the committed notebook as is: all correct

    for student, mistakes in [("bob", [0]), ("carol", [1])]:
        nb = copy.deepcopy(base)
        for k in mistakes:
            _solutions(nb)[k].source = WRONG[k]
        path = subs / f"{student}_{NAME}" if student == "bob" else subs / student / NAME  # both layouts
        _write(path, nb)

    nb = copy.deepcopy(base)  # named freely: found by its title cell; two mistakes
    _solutions(nb)[0].source, _solutions(nb)[2].source = WRONG[0], WRONG[2]
    _write(subs / "peggy" / "my homework.ipynb", nb)

    nb = copy.deepcopy(base)  # syntax error in exercise 1; the later checkers still run
    _solutions(nb)[0].source = "def count_modes(model)\n    return 0, 0\n\nnb01.check_exercise_1(count_modes)\n"
    _write(subs / "frank" / NAME, nb)

    nb = copy.deepcopy(base)  # exercise 3's solution cell deleted
    nb.cells.remove(_solutions(nb)[2])
    _write(subs / "grace" / NAME, nb)

    nb = copy.deepcopy(base)  # exercise 1's cell moved above the set-up cell
    cell = _solutions(nb)[0]
    nb.cells.remove(cell)
    nb.cells.insert(setup_at, cell)
    _write(subs / "heidi" / NAME, nb)

    nb = copy.deepcopy(base)  # writes outside its folder (and hides the error)
    nb.cells.insert(
        setup_at + 1,
        _code(f"try:\n    open({str(outside)!r}, 'w').write('was I graded?')\nexcept PermissionError as exc:\n    print(exc)\n"),
    )
    _write(subs / "mallory" / NAME, nb)

    (subs / "ivan").mkdir()
    (subs / "ivan" / NAME).write_text(NOTEBOOK.read_text(encoding="utf-8")[:5000], encoding="utf-8")
    (subs / "judy").mkdir()
    (subs / "judy" / NAME).write_text(json.dumps({"student": "judy", "answers": [1, 2]}), encoding="utf-8")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# My homework"), _code("1 + 1")])
    _write(subs / "oscar" / "homework.ipynb", nb)
    (subs / "oscar" / "notes.txt").write_text("see attached", encoding="utf-8")
    (subs / "oscar" / ".ipynb_checkpoints").mkdir()  # hidden: ignored
    (subs / "oscar" / ".ipynb_checkpoints" / "homework-checkpoint.ipynb").write_text("{}", encoding="utf-8")

    rows = grading.grade(subs, tmp / "out", timeout=120, jobs=2, progress=False)
    with (tmp / "out" / "grades.csv").open(encoding="utf-8") as f:
        table = list(csv.DictReader(f))
    assert len(rows) == len(table) == 12
    return table, (tmp / "out" / "summary.md").read_text(encoding="utf-8"), outside


def _row(table, student: str, submission: str | None = None) -> dict[str, str]:
    [row] = [r for r in table if r["student"] == student and (submission is None or r["submission"] == submission)]
    return row


EXPECTED = {  # student: (status, exercise 1, 2, 3, score, words in the reason)
    "alice": ("ok", "1", "1", "1", "3/3", ""),
    "bob": ("ok", "0", "1", "1", "2/3", ""),
    "carol": ("ok", "1", "0", "1", "2/3", ""),
    "peggy": ("ok", "0", "1", "0", "1/3", ""),
    "frank": ("error", "", "1", "1", "2/3", "raised SyntaxError"),
    "grace": ("ok", "1", "1", "", "2/3", "missing: Exercise 1.3"),
    "heidi": ("error", "", "1", "1", "2/3", "raised NameError"),
    "mallory": ("error", "1", "1", "1", "3/3", "tried to write outside its folder"),
    "ivan": ("invalid", "", "", "", "", "not valid JSON"),
    "judy": ("invalid", "", "", "", "", "not a Jupyter notebook: JSON without the 'cells'"),
}


@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_each_submission_gets_its_row(graded, course, student):
    table, _, _ = graded
    row = _row(table, student)
    status, *marks, score, reason = EXPECTED[student]
    assert row["status"] == status, row
    assert [row[e.column] for e in course.exercises] == marks, row
    assert row["score"] == score
    assert reason in row["reason"], row["reason"]
    if status != "invalid":
        assert row["notebook"] == NOTEBOOK.stem
    if not reason:
        assert row["reason"] == ""


def test_layouts_and_students(graded):
    table, _, _ = graded
    assert _row(table, "bob")["submission"] == f"bob_{NAME}"  # student from the file name
    assert _row(table, "peggy")["notebook"] == NOTEBOOK.stem  # notebook from the title cell
    assert not any("checkpoint" in r["submission"] for r in table)
    other = [r["student"] for r in table if r["student"] not in EXPECTED]
    assert other == ["oscar", "oscar"]


def test_what_cannot_be_graded_says_why(graded):
    table, _, _ = graded
    homework = _row(table, "oscar", "oscar/homework.ipynb")
    assert homework["status"] == "invalid"
    assert "cannot tell which course notebook this is" in homework["reason"]
    notes = _row(table, "oscar", "oscar/notes.txt")
    assert notes["status"] == "invalid" and "not a notebook" in notes["reason"]
    assert "cell 3 raised NameError: name 'nn' is not defined" in _row(table, "heidi")["reason"]
    assert "SyntaxError: expected ':';" in _row(table, "frank")["reason"]  # no kernel file name


def test_writes_outside_are_blocked_and_reported(graded):
    table, _, outside = graded
    assert not outside.exists()
    assert str(outside) in _row(table, "mallory")["reason"]


def test_summary_pass_rates_failures_and_broken_submissions(graded, course):
    _, summary, _ = graded
    ex1, ex2, ex3 = (e.column for e in course.exercises)
    # 8 runnable submissions of notebook 01; exercise 1: 4 passed, 2 failed, 2 missing
    assert f"| {ex1} | 8 | 4 | 2 | 2 | 50 % |" in summary
    assert f"| {ex2} | 8 | 7 | 1 | 0 | 88 % |" in summary
    assert f"| {ex3} | 8 | 6 | 1 | 1 | 75 % |" in summary
    section = summary.split(f"### {ex1}\n", 1)[1].split("###", 1)[0]
    assert section.lstrip().startswith("* 2 × check ")  # the same mistake, counted once per student
    assert f"### {ex2}" in summary and f"### {ex3}" in summary
    broken = summary.split("## Submissions that need a look", 1)[1]
    for student in ("frank", "grace", "heidi", "mallory", "ivan", "judy", "oscar"):
        assert f"| {student} |" in broken
    for student in ("alice", "bob", "carol", "peggy"):
        assert f"| {student} |" not in broken
    assert "12 submissions from 11 students: 5 ok, 3 error, 0 timeout, 4 invalid" in summary


def test_an_infinite_loop_times_out_and_the_kernel_is_killed(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))  # the workers' throw-away folders go here
    (tmp_path / "tmp").mkdir()
    nb = _trimmed(nbformat.read(NOTEBOOK, as_version=4))  # its committed ✅ outputs must not count
    nb.cells.insert(2, _code("while True:\n    pass\n"))  # after the Colab cell, before set-up
    _write(tmp_path / "subs" / "trent" / NAME, nb)

    code = grading.main([str(tmp_path / "subs"), "--out", str(tmp_path / "out"), "--timeout", "5", "--jobs", "1"])

    assert code == 0
    assert "1 submissions: 0 ok, 0 error, 1 timeout, 0 invalid" in capsys.readouterr().out
    with (tmp_path / "out" / "grades.csv").open(encoding="utf-8") as f:
        [row] = list(csv.DictReader(f))
    assert row["status"] == "timeout"
    assert "timed out after 5 s (in cell 3)" in row["reason"]
    assert row["score"] == "0/3" and "missing: Exercise 1" in row["reason"]
    assert list((tmp_path / "tmp").iterdir()) == []  # the throw-away folder is gone
    left = [" ".join(p.cmdline()) for p in psutil.Process().children(recursive=True)]
    assert not [c for c in left if "ipykernel" in c or "course_utils" in c]  # no kernel left running


def test_bad_arguments_are_explained(tmp_path):
    with pytest.raises(ValueError, match="is not a folder"):
        grading.grade(tmp_path / "nope")
    with pytest.raises(ValueError, match="timeout must be positive"):
        grading.grade(tmp_path, timeout=0)
