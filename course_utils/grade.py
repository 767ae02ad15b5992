"""Grade a class's submitted notebooks with the course's own exercise checkers.

Usage::

    python -m course_utils.grade SUBMISSIONS/ [--out DIR] [--timeout S] [--jobs N]
    make grade DIR=SUBMISSIONS/

``SUBMISSIONS/`` holds the learners' ``.ipynb`` files in any layout:
``alice/04-the-training-loop.ipynb`` (one folder per student, the folder name is
the student), or ``alice_04-the-training-loop.ipynb`` (the student is the part of
the name before the notebook's ``NN-``; without one, the whole file stem). Which
course notebook a file is comes from the ``NN-`` in its name, or else from its
title cell (``# NN · Title``).

Each submission is run top to bottom in a fresh kernel, in a throw-away folder
that also holds its ``HOME`` and ``TMPDIR`` and is deleted afterwards, with the
network blocked and writes outside that folder refused (see
``course_utils/_grading/sitecustomize.py``), and killed after ``--timeout``
seconds. Errors do not stop it, so every checker that can still run reports.
The checkers' lines (``✅ Exercise 4.1 passed (6 checks).`` / ``❌ Exercise 4.1:
...``) are collected; an exercise of the course notebook whose checker never
reported is *missing*. The list of exercises comes from the course's own
notebooks (the ``nbNN.check_...`` calls in their solution cells) and the labels
from ``course_utils/exercises/nbNN.py``.

Written to ``--out`` (default: ``SUBMISSIONS-grades/`` next to the folder):

``grades.csv``
    One row per submission: student, submission, notebook, status (``ok``,
    ``error``: a cell raised or the submission tried something blocked,
    ``timeout``, ``invalid``: not gradable), one column per exercise of the
    course (``04: Exercise 1 (train_step)``: 1 passed, 0 failed, empty when
    missing or another notebook), passed, total, score (``passed/total``) and
    the reason.
``summary.md``
    Pass rate per exercise, the most common failures per exercise (what to
    explain again) and the submissions that need a look, with reasons.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["CourseNotebook", "Exercise", "Row", "grade", "grade_bench", "load_course", "main"]

PACKAGE = Path(__file__).resolve().parent
COURSE_NOTEBOOKS = PACKAGE.parent / "notebooks"
SANDBOX = PACKAGE / "_grading"  # its sitecustomize.py goes first on the kernels' PYTHONPATH
STATUSES = ("ok", "error", "timeout", "invalid")
_NUMBER = re.compile(r"(?<!\d)(\d\d)-")
_CALL = re.compile(r"\b(nb\d\d)\.(check_\w+)\s*\(")
_LABEL = re.compile(r"run_checks\(\s*[\"']([^\"']+)[\"']")
_RESULT = re.compile(r"^(✅|❌) Exercise (.*)$", re.M)
_CHECK = re.compile(r"^(check \d+ of \d+ failed \(.*?\)): (.*)$")


@dataclass(frozen=True)
class Exercise:
    """One checker of a course notebook: ``nb04.check_exercise_1`` labelled ``1 (train_step)``."""

    notebook: str
    checker: str
    label: str

    @property
    def column(self) -> str:
        return f"{self.notebook}: Exercise {self.label}"


@dataclass(frozen=True)
class CourseNotebook:
    """A notebook of the course: ``04``, ``04-the-training-loop``, its title and exercises."""

    number: str
    slug: str
    title: str
    exercises: tuple[Exercise, ...]


@dataclass
class Row:
    """The grade of one submission (one line of ``grades.csv``)."""

    student: str
    submission: str
    notebook: str = ""
    status: str = "ok"
    results: dict[str, int] = field(default_factory=dict)  # column -> 1 passed / 0 failed
    failures: dict[str, str] = field(default_factory=dict)  # column -> the checker's message
    reason: str = ""
    total: int = 0

    @property
    def passed(self) -> int:
        return sum(self.results.values())


# ---------------------------------------------------------------------------
# The course: notebooks, their exercises and labels
# ---------------------------------------------------------------------------


def _title(nb: object) -> str:
    for cell in nb.cells[:3]:  # type: ignore[attr-defined]
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return ""


def _labels(module: Path) -> dict[str, str]:
    """``check_exercise_1 -> "1 (train_step)"``: the first ``run_checks("...")`` after each ``def``."""
    if not module.is_file():
        return {}
    source = module.read_text(encoding="utf-8")
    defs = list(re.finditer(r"^def (check_\w+)\(", source, re.M))
    labels = {}
    for i, match in enumerate(defs):
        end = defs[i + 1].start() if i + 1 < len(defs) else len(source)
        label = _LABEL.search(source, match.end(), end)
        if label:
            labels[match.group(1)] = label.group(1)
    return labels


def load_course(notebooks: Path = COURSE_NOTEBOOKS) -> list[CourseNotebook]:
    """The course notebooks in ``notebooks`` and, for each, the exercises its solution cells check."""
    import nbformat

    if not notebooks.is_dir():
        raise ValueError(f"no course notebooks at {notebooks}: pass --course DIR (the repository's notebooks/)")
    course = []
    for path in sorted(notebooks.glob("[0-9][0-9]-*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        number = path.name[:2]
        labels = _labels(PACKAGE / "exercises" / f"nb{number}.py")
        calls: list[str] = []
        for cell in nb.cells:
            if cell.cell_type == "code" and "solution" in cell.metadata.get("tags", []):
                calls += [c for m, c in _CALL.findall(cell.source) if m == f"nb{number}" and c not in calls]
        if not calls:  # no solution cells: every checker of the module
            calls = list(labels)
        exercises = tuple(Exercise(number, c, labels.get(c, c)) for c in calls)
        course.append(CourseNotebook(number, path.stem, _title(nb), exercises))
    if not course:
        raise ValueError(f"no NN-name.ipynb notebooks in {notebooks}")
    return course


# ---------------------------------------------------------------------------
# Submissions: who, which notebook
# ---------------------------------------------------------------------------


def find_submissions(root: Path) -> list[Path]:
    """Every file under ``root``, hidden files and folders (``.ipynb_checkpoints``) left out."""
    files = []
    for path in sorted(root.rglob("*")):
        parts = path.relative_to(root).parts
        if path.is_file() and not any(p.startswith(".") or p == "__MACOSX" for p in parts):
            files.append(path)
    return files


def _which(name: str, course: list[CourseNotebook]) -> CourseNotebook | None:
    """The course notebook a file name names: its full slug, else its last known ``NN-``."""
    for notebook in course:
        if notebook.slug in name:
            return notebook
    by_number = {n.number: n for n in course}
    for number in reversed(_NUMBER.findall(name)):
        if number in by_number:
            return by_number[number]
    return None


def student_of(path: Path, root: Path) -> str:
    """The first folder under ``root``, or the file stem before its ``NN-`` notebook part."""
    parts = path.relative_to(root).parts
    if len(parts) > 1:
        return parts[0]
    matches = list(_NUMBER.finditer(path.stem))
    if matches:
        before = path.stem[: matches[-1].start()].strip(" _-.")
        if before:
            return before
    return path.stem


# ---------------------------------------------------------------------------
# Grading one submission (in a worker process)
# ---------------------------------------------------------------------------


def _matplotlib_fonts() -> list[Path]:
    """This user's matplotlib font list: copied into each kernel's HOME, it saves a rebuild."""
    cache = os.environ.get("MPLCONFIGDIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "matplotlib"
    )
    return sorted(Path(cache).glob("fontlist-v*.json"))


def _kernel_env(sandbox: Path) -> dict[str, str]:
    home, tmp = sandbox / "home", sandbox / "tmp"
    (home / ".matplotlib").mkdir(parents=True)
    tmp.mkdir()
    for fonts in _matplotlib_fonts():
        shutil.copy(fonts, home / ".matplotlib" / fonts.name)
    paths = [str(SANDBOX), str(PACKAGE.parent), os.environ.get("PYTHONPATH", "")]
    return {
        **os.environ,
        "HOME": str(home),
        "TMPDIR": str(tmp),
        "TEMP": str(tmp),
        "TMP": str(tmp),
        "MPLCONFIGDIR": str(home / ".matplotlib"),
        # Caches that torch may create on first use, kept inside the sandbox (torch builds
        # its inductor cache path from the temp dir it saw first, not always TMPDIR).
        "TORCHINDUCTOR_CACHE_DIR": str(tmp / "torchinductor"),
        "TRITON_CACHE_DIR": str(tmp / "triton"),
        "TORCH_HOME": str(home / ".torch"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "PYTHONPATH": os.pathsep.join(p for p in paths if p),
        "PYTHONDONTWRITEBYTECODE": "1",  # no .pyc writes into site-packages
        "PYTHONHASHSEED": "0",
        "OMP_NUM_THREADS": "1",  # submissions run side by side
        "COURSE_OFFLINE": "1",
        "COURSE_GRADING_SANDBOX": str(sandbox),
    }


def _execute(nb: object, timeout: float) -> tuple[str, list[str], list[str]]:
    """Run ``nb`` in place in a fresh sandboxed kernel: (status, problems, blocked attempts)."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    problems: list[str] = []
    status = "ok"
    with tempfile.TemporaryDirectory(prefix="course-grade-") as tmp:
        sandbox = Path(tmp).resolve()
        work = sandbox / "work"
        work.mkdir()
        client = NotebookClient(
            nb,
            timeout=math.ceil(timeout),
            kernel_name="python3",
            allow_errors=True,
            shutdown_kernel="immediate",
            resources={"metadata": {"path": str(work)}},
        )
        index = 0
        try:
            env = _kernel_env(sandbox)
            quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}  # not the cells' output
            with client.setup_kernel(env=env, cwd=str(work), **quiet):
                deadline = time.monotonic() + timeout  # from when the kernel is up
                for index, cell in enumerate(nb.cells):  # type: ignore[attr-defined]
                    if cell.cell_type != "code":
                        continue
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise CellTimeoutError("out of time")
                    client.timeout = max(1, math.ceil(left))
                    client.execute_cell(cell, index)
        except CellTimeoutError:
            status = "timeout"
            problems.append(f"timed out after {timeout:g} s (in cell {index + 1})")
        except DeadKernelError:
            status = "error"
            problems.append(f"the kernel died in cell {index + 1} (exit(), a crash or out of memory)")
        log = sandbox / ".grading-violations"
        blocked = log.read_text(encoding="utf-8").splitlines() if log.is_file() else []
    return status, problems, list(dict.fromkeys(blocked))


def _outcomes(nb: object, notebook: CourseNotebook) -> tuple[dict[str, str], list[str]]:
    """``{label: "" (passed) or failure message}`` from the checkers' lines, and the cells' errors."""
    labels = sorted((e.label for e in notebook.exercises), key=len, reverse=True)
    seen: dict[str, str] = {}
    errors = []
    for number, cell in enumerate(nb.cells, start=1):  # type: ignore[attr-defined]
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                evalue = re.sub(r" \(\d+\.py, line \d+\)", "", str(output.get("evalue", "")))  # the cell's file
                value = evalue.strip().splitlines()
                errors.append(f"cell {number} raised {output.get('ename')}: {value[0] if value else ''}".rstrip(": "))
                continue
            text = output.get("text", "") or output.get("data", {}).get("text/plain", "")
            for mark, rest in _RESULT.findall("".join(text) if isinstance(text, list) else text):
                for label in labels:  # the longest label first: "1 (x)" before "1"
                    if mark == "✅" and rest.startswith(f"{label} passed"):
                        seen[label] = ""
                    elif mark == "❌" and rest.startswith(f"{label}: "):
                        seen[label] = rest[len(label) + 2 :].strip() or "failed"
                    else:
                        continue
                    break
    return seen, errors


def grade_one(path: Path, root: Path, course: list[CourseNotebook], timeout: float) -> Row:
    """Grade one submitted file; never raises: whatever goes wrong becomes the row's reason."""
    row = Row(student_of(path, root), path.relative_to(root).as_posix())
    try:
        return _grade(row, path, course, timeout)
    except Exception as exc:  # a bug here, or something unforeseen: report it, keep grading
        row.status, row.reason = "error", f"the grader failed: {type(exc).__name__}: {exc}"
        return row


def _grade(row: Row, path: Path, course: list[CourseNotebook], timeout: float) -> Row:
    import nbformat

    notebook = _which(path.name, course)
    row.notebook = notebook.slug if notebook else ""
    if path.suffix != ".ipynb":
        row.status, row.reason = "invalid", f"not a notebook (a {path.suffix or 'no-extension'} file, expected .ipynb)"
        return row
    try:
        content = json.loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError) as exc:
        row.status, row.reason = "invalid", f"not a notebook: the file is not valid JSON ({exc})"
        return row
    if not isinstance(content, dict) or not {"cells", "nbformat"} <= content.keys():
        row.status, row.reason = "invalid", "not a Jupyter notebook: JSON without the 'cells' and 'nbformat' keys"
        return row
    try:
        nb = nbformat.reads(json.dumps(content), as_version=4)
        nbformat.validate(nb)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        row.status, row.reason = "invalid", f"not a Jupyter notebook: {first[:200]}"
        return row
    if notebook is None:
        title = _title(nb)
        notebook = next((n for n in course if title and n.title == title), None)
        if notebook is None:
            row.status = "invalid"
            row.reason = "cannot tell which course notebook this is (name it NN-name.ipynb or keep its title cell)"
            return row
        row.notebook = notebook.slug
    for cell in nb.cells:  # stale outputs must not count
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    status, problems, blocked = _execute(nb, timeout)
    seen, errors = _outcomes(nb, notebook)
    row.total = len(notebook.exercises)
    missing = []
    for exercise in notebook.exercises:
        if exercise.label in seen:
            row.results[exercise.column] = 0 if seen[exercise.label] else 1
            if seen[exercise.label]:
                row.failures[exercise.column] = seen[exercise.label]
        else:
            missing.append(f"Exercise {exercise.label}")
    if blocked:
        more = f" and {len(blocked) - 3} more" if len(blocked) > 3 else ""
        problems.append(f"tried to {'; '.join(blocked[:3])}{more} (blocked)")
    if errors and status == "ok":
        status = "error"
    if errors:
        problems.append(errors[0] + (f" (and {len(errors) - 1} more errors)" if len(errors) > 1 else ""))
    if blocked and status == "ok":
        status = "error"
    if missing:
        problems.append(f"missing: {', '.join(missing)} (the checker never reported)")
    row.status, row.reason = status, "; ".join(problems)
    return row


# ---------------------------------------------------------------------------
# The class: run everything, write grades.csv and summary.md
# ---------------------------------------------------------------------------


def grade(
    submissions: Path | str,
    out: Path | str | None = None,
    *,
    timeout: float = 120,
    jobs: int | None = None,
    course_dir: Path | str = COURSE_NOTEBOOKS,
    progress: bool = True,
) -> list[Row]:
    """Grade every file under ``submissions``; write ``grades.csv`` and ``summary.md`` to ``out``.

    Returns the rows (sorted by student, then submission). ``jobs`` submissions
    run at the same time (default: one per CPU core).
    """
    root = Path(submissions).resolve()
    if not root.is_dir():
        raise ValueError(f"{submissions} is not a folder: pass the folder that holds the submitted notebooks")
    if timeout <= 0:
        raise ValueError(f"timeout must be positive (seconds), got {timeout}")
    jobs = jobs or os.cpu_count() or 1
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    course = load_course(Path(course_dir))
    out_dir = Path(out) if out is not None else root.with_name(root.name + "-grades")
    files = find_submissions(root)
    start = time.perf_counter()
    rows = list(_run_all(files, root, course, timeout, jobs, progress))
    rows.sort(key=lambda r: (r.student, r.submission))
    out_dir.mkdir(parents=True, exist_ok=True)
    write_csv(rows, course, out_dir / "grades.csv")
    (out_dir / "summary.md").write_text(summary(rows, course, time.perf_counter() - start), encoding="utf-8")
    return rows


def _run_all(
    files: list[Path], root: Path, course: list[CourseNotebook], timeout: float, jobs: int, progress: bool
) -> Iterable[Row]:
    from tqdm.auto import tqdm

    bar = tqdm(total=len(files), desc="grading", unit="notebook", file=sys.stderr, disable=not progress)
    # spawn: the workers start clean (no threads or sockets copied from this process)
    with ProcessPoolExecutor(min(jobs, max(1, len(files))), mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(grade_one, f, root, course, timeout): f for f in files}
        for future in as_completed(futures):
            try:
                row = future.result()
            except Exception as exc:  # the worker itself died
                f = futures[future]
                row = Row(student_of(f, root), f.relative_to(root).as_posix(), status="error")
                row.reason = f"the grader failed: {type(exc).__name__}: {exc}"
            bar.update()
            yield row
    bar.close()


def write_csv(rows: list[Row], course: list[CourseNotebook], path: Path) -> None:
    """``grades.csv``: one row per submission, one column per exercise of the course."""
    columns = [e.column for n in course for e in n.exercises]
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["student", "submission", "notebook", "status", *columns, "passed", "total", "score", "reason"])
        for r in rows:
            values = [r.results.get(c, "") for c in columns]
            scores = [r.passed, r.total, f"{r.passed}/{r.total}"] if r.total else ["", "", ""]
            writer.writerow([r.student, r.submission, r.notebook, r.status, *values, *scores, r.reason])


def summary(rows: list[Row], course: list[CourseNotebook], seconds: float = 0.0) -> str:
    """``summary.md``: pass rates, the most common failures per exercise, the broken submissions."""
    counts = Counter(r.status for r in rows)
    students = len({r.student for r in rows})
    lines = [
        "# Grading summary",
        "",
        f"{len(rows)} submissions from {students} students: "
        + ", ".join(f"{counts[s]} {s}" for s in STATUSES)
        + (f". Graded in {seconds:.0f} s." if seconds else "."),
        "",
        "## Pass rate per exercise",
        "",
        "Of the submissions of that notebook that could be run (not `invalid`); "
        "*missing*: the checker never reported (cell deleted, or the run stopped before it).",
        "",
        "| Exercise | Submissions | Passed | Failed | Missing | Pass rate |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    failures: list[tuple[str, Counter[str], dict[str, str]]] = []
    for notebook in course:
        graded = [r for r in rows if r.notebook == notebook.slug and r.status != "invalid"]
        if not graded:
            continue
        for e in notebook.exercises:
            passed = sum(r.results.get(e.column) == 1 for r in graded)
            failed = sum(r.results.get(e.column) == 0 for r in graded)
            rate = f"{100 * passed / len(graded):.0f} %"
            lines.append(f"| {e.column} | {len(graded)} | {passed} | {failed} | {len(graded) - passed - failed} | {rate} |")
            why: Counter[str] = Counter()
            example: dict[str, str] = {}
            for r in graded:
                if e.column in r.failures:
                    message = r.failures[e.column].splitlines()[0]
                    match = _CHECK.match(message)
                    key = match.group(1) if match else message
                    why[key] += 1
                    example.setdefault(key, match.group(2) if match else "")
            if why:
                failures.append((e.column, why, example))
    lines += ["", "## What to explain again: the most common failures", ""]
    if not failures:
        lines.append("No checker failed.")
    for column, why, example in failures:
        lines += [f"### {column}", ""]
        for key, n in why.most_common(5):
            shown = f"{key}: e.g. {example[key]}" if example[key] else key
            lines.append(f"* {n} × {shown}")
        lines.append("")
    broken = [r for r in rows if r.status != "ok" or r.reason]
    lines += ["", "## Submissions that need a look", ""]
    if not broken:
        lines.append("None: every submission ran to the end with every checker reporting.")
    else:
        lines += ["| Student | Submission | Status | Reason |", "|---|---|---|---|"]
        for r in broken:
            reason = r.reason.replace("|", "\\|").replace("\n", " ")
            lines.append(f"| {r.student} | {r.submission} | {r.status} | {reason} |")
    return "\n".join(lines).rstrip() + "\n"


def grade_bench(n: int = 30, notebook: str = "01-train-and-eval-modes", jobs: int | None = None) -> float:
    """Seconds to grade ``n`` copies of a course notebook (not part of the test suite)."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "submissions"
        for i in range(n):
            (folder / f"student{i:03d}").mkdir(parents=True)
            shutil.copy(COURSE_NOTEBOOKS / f"{notebook}.ipynb", folder / f"student{i:03d}" / f"{notebook}.ipynb")
        start = time.perf_counter()
        grade(folder, Path(tmp) / "out", jobs=jobs)
        return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_utils.grade", description=__doc__.split("\n\n")[0])
    parser.add_argument("submissions", type=Path, help="folder of submitted notebooks (any layout)")
    parser.add_argument("--out", type=Path, help="where grades.csv and summary.md go (default: SUBMISSIONS-grades/)")
    parser.add_argument("--timeout", type=float, default=120, help="seconds per notebook (default 120)")
    parser.add_argument("--jobs", type=int, default=None, help="notebooks at a time (default: CPU cores)")
    parser.add_argument("--course", type=Path, default=COURSE_NOTEBOOKS, help="the course's notebooks/ folder")
    args = parser.parse_args(argv)
    try:
        rows = grade(args.submissions, args.out, timeout=args.timeout, jobs=args.jobs, course_dir=args.course)
    except ValueError as exc:
        parser.error(str(exc))
    out = args.out or args.submissions.resolve().with_name(args.submissions.resolve().name + "-grades")
    counts = Counter(r.status for r in rows)
    print(f"{len(rows)} submissions: " + ", ".join(f"{counts[s]} {s}" for s in STATUSES))
    print(f"wrote {out / 'grades.csv'} and {out / 'summary.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
