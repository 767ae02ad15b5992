"""Performance benchmark of the course: notebooks, widgets, imports, set-up and the test suite.

Usage::

    python tools/bench.py                 # notebooks, widgets, import (the default)
    python tools/bench.py widgets         # one section (or several)
    python tools/bench.py all --markdown  # every section, as Markdown tables
    make bench                                   # the default sections

Sections and their targets (for a 2-core laptop-class CPU):

``notebooks``
    Each notebook executed top to bottom in a fresh kernel (nbclient, as
    ``tools/run_notebooks.py`` does, but nothing is written back). Time from
    kernel start to the end of the last cell: target <= 20 s. Peak resident
    memory (RSS) of the kernel process and its children, sampled every 20 ms
    with psutil: target <= 600 MB.
``widgets``
    Every control of every widget is driven the way a click does it (setting
    ``.value``, calling ``.click()``), N times, and the callback is timed:
    target p95 <= 50 ms. Two figures per control: *with refresh* is the whole
    callback including the figure update that the no-ipympl fallback pays
    (matplotlib renders the figure to PNG/JPEG bytes sent to an ``Image``
    widget); *without refresh* leaves the figure update out, which is what the
    callback costs with ipympl (``%matplotlib widget``), where it only calls
    ``draw_idle()`` and the figure is rendered afterwards, outside the
    callback. The live boundary trainer's frames per second come from its
    synchronous ``step()``: target >= 15 fps.
``import``
    ``import course_utils`` (and ``.exercises``, ``.widgets``) in a fresh
    interpreter, median of 5: which heavy libraries each one pulls in (the
    package is lazy: none of torch, keras or matplotlib.pyplot) and how long it
    takes; ``from course_utils import setup`` (the first cell's import, which
    loads torch) for comparison.
``setup``
    A fresh ``git clone`` of this repository (committed work only) to a working
    environment with the README's install command (``make install``).
``suite``
    ``make test``: wall time (target <= 3 min once everything is installed).

``all`` runs every section. Results print as a table (``--markdown`` for
Markdown, ready to paste into ``docs/benchmark.md``) and are saved to
``build/bench.json`` (sections from earlier runs are kept unless re-measured).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = [
    "SECTIONS",
    "DEFAULT_SECTIONS",
    "TARGETS",
    "Table",
    "machine_info",
    "bench_notebook",
    "bench_floor",
    "bench_notebooks",
    "bench_widgets",
    "bench_import",
    "bench_setup",
    "bench_grading",
    "bench_suite",
    "main",
]

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = ("notebooks", "widgets", "import", "grading", "setup", "suite")
DEFAULT_SECTIONS = ("notebooks", "widgets", "import", "grading")

#: The targets each measurement is judged against.
TARGETS = {
    "notebook_seconds": 20.0,
    "notebook_peak_rss_mb": 600.0,
    "notebook_rss_over_floor": 1.4,
    "widget_p95_ms": 50.0,
    "live_fps": 60.0,
    "suite_seconds": 240.0,
    "grading_30_seconds": 300.0,
}

#: Libraries whose import a bare ``import course_utils`` must not trigger.
HEAVY_MODULES = ("torch", "keras", "matplotlib", "matplotlib.pyplot", "ipywidgets", "sklearn", "numpy")


# ---------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------


@dataclass
class Table:
    """One section's results: a title, column names, rows of cells, and notes."""

    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    data: list[dict[str, Any]] = field(default_factory=list)  # the raw numbers, for JSON

    def add(self, cells: Sequence[object], **raw: Any) -> None:
        if len(cells) != len(self.columns):
            raise ValueError(f"{self.title}: {len(cells)} cells for {len(self.columns)} columns")
        self.rows.append([str(c) for c in cells])
        self.data.append(raw)

    def text(self) -> str:
        widths = [max(len(r[i]) for r in [self.columns, *self.rows]) for i in range(len(self.columns))]
        line = "  ".join("-" * w for w in widths)
        out = [f"== {self.title}", "  ".join(c.ljust(w) for c, w in zip(self.columns, widths, strict=True)), line]
        out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in self.rows]
        out += [f"  * {n}" for n in self.notes]
        return "\n".join(out)

    def markdown(self) -> str:
        def esc(s: str) -> str:
            return s.replace("|", "\\|")

        out = [f"### {self.title}", "", "| " + " | ".join(map(esc, self.columns)) + " |"]
        out.append("| " + " | ".join("---" for _ in self.columns) + " |")
        out += ["| " + " | ".join(map(esc, r)) + " |" for r in self.rows]
        if self.notes:
            out += [""] + [f"* {n}" for n in self.notes]
        return "\n".join(out)


def _status(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "FAIL")


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def _p95(values: Sequence[float]) -> float:
    """95th percentile with linear interpolation (numpy's default), without numpy."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    pos = 0.95 * (len(ordered) - 1)
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


# ---------------------------------------------------------------------------
# The machine
# ---------------------------------------------------------------------------


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, Any]:
    """Where the numbers come from: CPUs, memory, versions and the load at the start."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count() or 1
    info: dict[str, Any] = {
        "date": _dt.datetime.now().isoformat(timespec="seconds"),
        "nproc": usable,
        "cpu": _cpu_model(),
        "os": platform.platform(terse=True),
        "python": platform.python_version(),
        "torch": _version("torch"),
        "matplotlib": _version("matplotlib"),
        "ipywidgets": _version("ipywidgets"),
        "keras": _version("keras"),
    }
    with contextlib.suppress(ImportError):
        import psutil

        info["memory_gb"] = round(psutil.virtual_memory().total / 1e9, 1)
    with contextlib.suppress(OSError, AttributeError):
        info["load_average_1min"] = round(os.getloadavg()[0], 2)
    return info


def machine_table(info: dict[str, Any]) -> Table:
    table = Table("Machine", ["item", "value"])
    labels = {
        "date": "measured",
        "nproc": "CPU cores (nproc)",
        "cpu": "CPU model",
        "memory_gb": "memory (GB)",
        "os": "OS",
        "python": "Python",
        "torch": "torch",
        "matplotlib": "matplotlib",
        "ipywidgets": "ipywidgets",
        "keras": "keras",
        "load_average_1min": "load average at start (1 min)",
    }
    for key, label in labels.items():
        if key in info:
            table.add([label, info[key]])
    load = info.get("load_average_1min")
    if isinstance(load, float) and load > 0.5 * info["nproc"]:
        table.notes.append(
            f"the machine was busy when the run started (load {load} on {info['nproc']} cores): "
            "timings are inflated; re-run on an idle machine for reference numbers"
        )
    return table


# ---------------------------------------------------------------------------
# Notebooks
# ---------------------------------------------------------------------------


def _kernel_pid(client: Any) -> int | None:
    """The kernel's process id, once nbclient has started it (None before)."""
    km = getattr(client, "km", None)
    if km is None:
        return None
    provisioner = getattr(km, "provisioner", None)
    for owner, attr in ((provisioner, "pid"), (getattr(provisioner, "process", None), "pid")):
        pid = getattr(owner, attr, None) if owner is not None else None
        if isinstance(pid, int):
            return pid
    kernel = getattr(km, "kernel", None)  # jupyter_client < 7
    pid = getattr(kernel, "pid", None)
    return pid if isinstance(pid, int) else None


class RssSampler:
    """Samples the resident memory of a process tree from a background thread.

    ``find_pid`` is polled until it returns a pid; after that the process and
    all its children are measured every ``interval`` seconds. ``peak`` is the
    largest sum seen, in bytes.
    """

    def __init__(self, find_pid: Callable[[], int | None], interval: float = 0.02):
        self.find_pid = find_pid
        self.interval = interval
        self.peak = 0
        self.samples = 0
        self.started_at: float | None = None  # perf_counter() when the pid first appeared
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        import psutil

        process = None
        while not self._stop.is_set():
            if process is None:
                pid = self.find_pid()
                if pid is not None:
                    self.started_at = time.perf_counter()
                    with contextlib.suppress(psutil.Error):
                        process = psutil.Process(pid)
            if process is not None:
                try:
                    total = process.memory_info().rss
                    for child in process.children(recursive=True):
                        with contextlib.suppress(psutil.Error):
                            total += child.memory_info().rss
                except psutil.Error:  # the kernel has exited
                    break
                self.samples += 1
                self.peak = max(self.peak, total)
            self._stop.wait(self.interval)


def _cell_seconds(cell: Any) -> float | None:
    """A cell's execution time from nbclient's timing metadata."""
    timing = cell.get("metadata", {}).get("execution", {})
    start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not (start and end):
        return None
    parse = _dt.datetime.fromisoformat
    try:
        return (parse(end.replace("Z", "+00:00")) - parse(start.replace("Z", "+00:00"))).total_seconds()
    except ValueError:
        return None


def bench_notebook(path: Path, timeout: int = 300, interval: float = 0.02) -> dict[str, Any]:
    """Execute one notebook in a fresh kernel; return its times and peak kernel memory."""
    import nbformat
    from nbclient import NotebookClient

    path = Path(path).resolve()
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    env = {**os.environ, "PYTHONHASHSEED": os.environ.get("PYTHONHASHSEED", "0")}
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    error = None
    with RssSampler(lambda: _kernel_pid(client), interval) as sampler:
        start = time.perf_counter()
        try:
            client.execute(env=env)
        except Exception as exc:  # a failing cell: report it, keep benchmarking the others
            error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}"
        elapsed = time.perf_counter() - start
    cells = [(i, _cell_seconds(c)) for i, c in enumerate(c for c in nb.cells if c.cell_type == "code")]
    timed = [(i, s) for i, s in cells if s is not None]
    slowest = max(timed, key=lambda t: t[1]) if timed else (None, None)
    kernel_start = (sampler.started_at - start) if sampler.started_at is not None else None
    return {
        "notebook": path.name,
        "seconds": elapsed,
        "kernel_start_seconds": kernel_start,
        "cells_seconds": sum(s for _, s in timed) if timed else None,
        "code_cells": len(cells),
        "slowest_cell": slowest[0],
        "slowest_cell_seconds": slowest[1],
        "peak_rss_mb": sampler.peak / 1e6 if sampler.samples else None,
        "rss_samples": sampler.samples,
        "error": error,
    }


#: The memory floor: a notebook that only imports what every course notebook imports.
FLOOR_SOURCE = """\
import ipywidgets
import matplotlib.pyplot as plt
import sklearn.datasets
import torch

%matplotlib inline
plt.plot([0, 1], [0, 1])
plt.show()
"""


def bench_floor(runs: int = 3) -> dict[str, Any]:
    """Peak kernel memory of :data:`FLOOR_SOURCE`, the median of ``runs`` fresh kernels."""
    import tempfile

    import nbformat

    peaks = []
    with tempfile.TemporaryDirectory(prefix="bench-floor-") as tmp:
        path = Path(tmp) / "floor.ipynb"
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(FLOOR_SOURCE)])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, path)
        for _ in range(runs):
            r = bench_notebook(path)
            if r["error"] is not None or r["peak_rss_mb"] is None:
                raise RuntimeError(f"the floor notebook failed: {r['error']}")
            peaks.append(r["peak_rss_mb"])
    return {"peak_rss_mb": statistics.median(peaks), "runs_mb": peaks}


def bench_notebooks(paths: Sequence[Path] | None = None, progress: bool = True) -> Table:
    """Time every notebook (default: all of ``notebooks/``); compare its peak memory with the floor."""
    table = Table(
        "Notebooks: execution in a fresh kernel",
        ["notebook", "time (s)", "cells (s)", "slowest cell", "peak RSS (MB)", "peak / floor", "status"],
    )
    if paths is None:
        paths = sorted((ROOT / "notebooks").glob("*.ipynb"))
    if not paths:
        table.notes.append("no notebooks found (run from a checkout of the course repository)")
        return table
    t_max, rss_max = TARGETS["notebook_seconds"], TARGETS["notebook_peak_rss_mb"]
    ratio_max = TARGETS["notebook_rss_over_floor"]
    if progress:
        print("  running the floor notebook (imports only) ...", file=sys.stderr, flush=True)
    floor = bench_floor()
    floor_mb = floor["peak_rss_mb"]
    table.add(["(floor: imports only)", "–", "–", "–", f"{floor_mb:.0f}", "1.00", "n/a"],
              notebook="(floor)", **floor)
    for path in paths:
        if progress:
            print(f"  running {path.name} ...", file=sys.stderr, flush=True)
        r = bench_notebook(path)
        r["floor_mb"] = floor_mb
        r["over_floor"] = r["peak_rss_mb"] / floor_mb if r["peak_rss_mb"] is not None else None
        ok = (
            r["error"] is None
            and r["seconds"] <= t_max
            and (r["peak_rss_mb"] is not None and r["peak_rss_mb"] <= rss_max)
            and r["over_floor"] <= ratio_max
        )
        slowest = (
            f"#{r['slowest_cell'] + 1}: {r['slowest_cell_seconds']:.2f} s"
            if r["slowest_cell"] is not None
            else "–"
        )
        rss = f"{r['peak_rss_mb']:.0f}" if r["peak_rss_mb"] is not None else "–"
        cells = f"{r['cells_seconds']:.1f}" if r["cells_seconds"] is not None else "–"
        status = _status(ok) if r["error"] is None else f"FAIL ({r['error'][:60]})"
        ratio = f"{r['over_floor']:.2f}" if r["over_floor"] is not None else "–"
        table.add([r["notebook"], f"{r['seconds']:.1f}", cells, slowest, rss, ratio, status], **r)
    total = sum(d["seconds"] for d in table.data if d["notebook"] != "(floor)")
    table.notes += [
        f"targets: time <= {t_max:.0f} s, peak RSS <= {rss_max:.0f} MB and <= {ratio_max} x the floor "
        f"per notebook; all {len(paths)} notebooks took {total:.0f} s one after the other",
        "floor: a notebook that only imports ipywidgets, matplotlib.pyplot (inline, one plot), "
        f"sklearn.datasets and torch; median of {len(floor['runs_mb'])} fresh kernels "
        f"({', '.join(f'{m:.0f}' for m in floor['runs_mb'])} MB)",
        "time: kernel start to the end of the last cell (nbclient); cells: the sum of the "
        "cells' own execution times; slowest cell: its number among the code cells",
        "peak RSS: resident memory of the kernel process and its children, sampled every 20 ms",
    ]
    return table


# ---------------------------------------------------------------------------
# Widgets
# ---------------------------------------------------------------------------


def _prepare_widget_process() -> None:
    """Mirror a notebook kernel: Agg backend (the no-ipympl path), course style, 1 thread."""
    import matplotlib

    matplotlib.use("Agg")
    from course_utils.runtime import setup

    setup(seed=0)


def _warm_torch_optim() -> float:
    """Seconds for the first optimizer of a process, which imports ``torch._dynamo``.

    Every notebook that trains pays this once, before it reaches a widget; the
    bench pays it up front so that constructor times are the widget's own.
    """
    import torch

    start = time.perf_counter()
    torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    return time.perf_counter() - start


@contextlib.contextmanager
def _refresh_disabled(widget: Any) -> Iterator[None]:
    """Replace the figure refresh (PNG/JPEG rendering) with a no-op, as ipympl's draw_idle is."""
    saved: list[tuple[Any, str]] = []
    host = getattr(widget, "host", None)
    if host is not None and hasattr(host, "refresh"):
        saved.append((host, "refresh"))
        host.refresh = lambda *a, **k: None
    if "refresh" in {name for cls in type(widget).__mro__ for name in vars(cls)}:
        saved.append((widget, "refresh"))
        widget.refresh = lambda *a, **k: None
    try:
        yield
    finally:
        for owner, name in saved:
            with contextlib.suppress(AttributeError):
                delattr(owner, name)  # the instance attribute goes; the method is back


def _slider_at(control: Any, fraction: float) -> Any:
    """The value ``fraction`` of the way along a slider (a log slider's min and max are
    exponents), rounded to its step; 0 and 1 give its exact ends."""
    lo, hi = control.min, control.max
    kind = type(control).__name__
    if kind == "FloatLogSlider":
        return getattr(control, "base", 10) ** (lo + fraction * (hi - lo))
    if fraction in (0, 1):
        return hi if fraction else lo
    value = lo + fraction * (hi - lo)
    if kind.startswith("Int"):
        return int(round(value))
    step = getattr(control, "step", None) or 0
    return lo + round((value - lo) / step) * step if step else value


def _slider_values(control: Any) -> list[Any]:
    """Two valid values a quarter and three quarters along a slider's range."""
    a, b = _slider_at(control, 0.25), _slider_at(control, 0.75)
    return _slider_ends(control) if a == b else [a, b]


def _slider_ends(control: Any) -> list[Any]:
    """A slider's two extremes, as values."""
    return [_slider_at(control, 0), _slider_at(control, 1)]


def _control_actions(widget: Any) -> list[tuple[str, str, Callable[[int], None]]]:
    """``(name, what it does, action(i))`` for every enabled control of a widget."""
    import ipywidgets as w

    actions = []
    for control in getattr(widget, "controls", []):
        name = getattr(control, "description", "") or type(control).__name__
        if isinstance(control, w.Button):
            if control.disabled:
                continue
            actions.append((f"{name} (button)", "click()", lambda i, c=control: c.click()))
        elif hasattr(control, "options") and hasattr(control, "value"):  # Dropdown, ToggleButtons
            values = [o[1] if isinstance(o, tuple) else o for o in control.options]
            start = values.index(control.value) if control.value in values else 0
            cycle = values[start + 1 :] + values[: start + 1]

            def choose(i: int, c: Any = control, cyc: list = cycle) -> None:
                c.value = cyc[i % len(cyc)]

            actions.append((f"{name} ({type(control).__name__})", f"cycle {len(cycle)} options", choose))
        elif hasattr(control, "min") and hasattr(control, "max") and hasattr(control, "value"):
            values = _slider_values(control)

            def move(i: int, c: Any = control, vals: list = values) -> None:
                c.value = vals[i % 2]

            actions.append((f"{name} (slider)", f"alternate {values[0]:.3g} / {values[1]:.3g}", move))
            # A jump across the whole range: the largest change one event can bring.
            ends = _slider_ends(control)

            def jump(i: int, c: Any = control, vals: list = ends) -> None:
                c.value = vals[i % 2]

            actions.append((f"{name} (slider)", f"jump min / max {ends[0]:.3g} / {ends[1]:.3g}", jump))
            # What a drag does: one slider step at a time.
            here = control.value
            if isinstance(control, w.FloatLogSlider):  # min/max/step are exponents there
                up = here * control.base**control.step
                there = up if up <= control.base**control.max else here / control.base**control.step
            else:
                step = getattr(control, "step", None) or (control.max - control.min) / 100
                there = here + step if here + step <= control.max else here - step

            def nudge(i: int, c: Any = control, vals: tuple = (there, here)) -> None:
                c.value = vals[i % 2]

            actions.append((f"{name} (slider)", f"drag one step {here:.3g} / {there:.3g}", nudge))
    return actions


def _time_action(action: Callable[[int], None], repeats: int, warmup: int = 2) -> list[float]:
    for i in range(warmup):
        action(i)
    times = []
    for i in range(warmup, warmup + repeats):
        start = time.perf_counter()
        action(i)
        times.append(time.perf_counter() - start)
    return times


#: (label, module, class name, constructor arguments, builder of the arguments)
def _widget_specs() -> list[tuple[str, str, str, Callable[[], tuple[tuple, dict]]]]:
    def threshold_args() -> tuple[tuple, dict]:
        import numpy as np

        rng = np.random.default_rng(0)
        y = rng.integers(0, 2, 400)
        p = np.clip(rng.normal(0.35 + 0.3 * y, 0.2), 0.001, 0.999)
        return (p, y), {}

    none = lambda: ((), {})  # noqa: E731
    return [
        ("ModeExplorer", "mode_explorer", "ModeExplorer", none),
        ("BatchNormPanel", "mode_explorer", "BatchNormPanel", none),
        ("ThresholdExplorer", "threshold", "ThresholdExplorer", threshold_args),
        ("LiveBoundaryTrainer", "live_boundary", "LiveBoundaryTrainer", none),
        ("PlaygroundTrainer", "playground", "PlaygroundTrainer", none),
    ]


def _build_widget(module: str, cls_name: str, args: Callable[[], tuple[tuple, dict]]) -> tuple[Any, float]:
    import importlib

    cls = getattr(importlib.import_module(f"course_utils.widgets.{module}"), cls_name)
    a, k = args()
    start = time.perf_counter()
    widget = cls(*a, **k)
    return widget, time.perf_counter() - start


def _first_display_seconds(widget: Any) -> float:
    """What showing the widget costs: the figure's first full render (refresh)."""
    refresh = widget.refresh if hasattr(type(widget), "refresh") else widget.host.refresh
    start = time.perf_counter()
    refresh()
    return time.perf_counter() - start


def bench_widgets(repeats: int = 30, fps_frames: int = 40) -> list[Table]:
    """Callback latency of every control of every widget, and the live trainer's frame rate."""
    _prepare_widget_process()
    first_optimizer = _warm_torch_optim()
    target = TARGETS["widget_p95_ms"] / 1000
    table = Table(
        "Widgets: callback latency per control",
        [
            "widget",
            "control",
            "action",
            "with refresh: median / p95 (ms)",
            "without refresh: median / p95 (ms)",
            "p95 target: with / without refresh",
        ],
    )
    fps_table = Table(
        "Live boundary trainer: frames per second (synchronous step())",
        ["variant", "frames", "fps", "median frame (ms)", "p95 frame (ms)", "status"],
    )
    trainer = None
    for label, module, cls_name, args in _widget_specs():
        try:
            widget, build = _build_widget(module, cls_name, args)
        except (ImportError, AttributeError) as exc:
            table.add([label, "–", "missing", "–", "–", "missing"], widget=label, error=repr(exc))
            continue
        except Exception as exc:  # noqa: BLE001 - a broken widget is a row, not a crash
            table.add([label, "–", f"error: {type(exc).__name__}", "–", "–", "FAIL"],
                      widget=label, error=repr(exc))
            continue
        try:
            display = _first_display_seconds(widget)
        except Exception:  # noqa: BLE001
            display = float("nan")
        table.add(
            [label, "(construct + first render)", "constructor, then one refresh",
             _ms(build + display), _ms(build), "n/a"],
            widget=label, control="(construct)", construct_seconds=build, first_render_seconds=display,
        )
        for control, what, action in _control_actions(widget):
            try:
                with_refresh = _time_action(action, repeats)
                with _refresh_disabled(widget):
                    without = _time_action(action, repeats)
            except Exception as exc:  # noqa: BLE001
                table.add([label, control, what, f"error: {type(exc).__name__}: {exc}"[:80], "–", "FAIL"],
                          widget=label, control=control, error=repr(exc))
                continue
            p95_with, p95_without = _p95(with_refresh), _p95(without)
            table.add(
                [label, control, what,
                 f"{_ms(statistics.median(with_refresh))} / {_ms(p95_with)}",
                 f"{_ms(statistics.median(without))} / {_ms(p95_without)}",
                 f"{_status(p95_with <= target)} / {_status(p95_without <= target)}"],
                widget=label, control=control, action=what, repeats=repeats,
                with_refresh_seconds=with_refresh, without_refresh_seconds=without,
            )
        if cls_name == "LiveBoundaryTrainer":
            trainer = widget
    table.notes += [
        f"each control driven {repeats} times after 2 warm-up calls, the way a click does "
        "(setting .value / calling .click()); target p95 <= "
        f"{TARGETS['widget_p95_ms']:.0f} ms",
        "with refresh: the whole callback including the figure update that the no-ipympl "
        "fallback pays (the figure is rendered with Agg and sent as PNG/JPEG bytes to an Image widget)",
        "without refresh: the same callback with the figure update left out; with ipympl "
        "(%matplotlib widget) the callback only calls draw_idle() and the figure is rendered "
        "afterwards, outside the callback, so this is the latency before the kernel is free again",
        f"the process's first torch optimizer (it imports torch._dynamo) took {first_optimizer:.1f} s "
        "before the widgets were built; a notebook pays that once, at its first optimizer",
    ]
    if trainer is not None:
        _bench_fps(trainer, fps_frames, fps_table)
    else:
        fps_table.add(["LiveBoundaryTrainer", "–", "–", "–", "–", "missing"])
    return [table, fps_table]


def _bench_fps(trainer: Any, frames: int, table: Table) -> None:
    target = TARGETS["live_fps"]
    variants = (
        ("step() with redraw (no ipympl: blit + JPEG)", {}),
        ("step(redraw=False) (ipympl: draw_idle)", {"redraw": False}),
    )
    for name, kwargs in variants:
        try:
            trainer.reset()
            trainer.step(**kwargs)  # warm-up
            times = []
            for _ in range(frames):
                start = time.perf_counter()
                trainer.step(**kwargs)
                times.append(time.perf_counter() - start)
        except Exception as exc:  # noqa: BLE001
            table.add([name, "–", "–", "–", "–", f"error: {type(exc).__name__}"], error=repr(exc))
            continue
        fps = len(times) / sum(times)
        table.add(
            [name, len(times), f"{fps:.1f}", _ms(statistics.median(times)), _ms(_p95(times)),
             _status(fps >= target)],
            variant=name, fps=fps, frame_seconds=times,
            steps_per_frame=getattr(trainer, "steps_per_frame", None),
        )
    table.notes.append(
        f"default settings ({getattr(trainer, 'steps_per_frame', '?')} optimizer steps per frame, "
        f"{getattr(trainer, 'grid_resolution', '?')}x{getattr(trainer, 'grid_resolution', '?')} "
        f"boundary grid); target >= {target:.0f} fps"
    )


# ---------------------------------------------------------------------------
# Imports
# ---------------------------------------------------------------------------

_IMPORT_PROBE = """
import json, sys, time
start = time.perf_counter()
exec({statement!r})
seconds = time.perf_counter() - start
print(json.dumps({{"seconds": seconds, "modules": len(sys.modules),
                   "loaded": [m for m in {heavy!r} if m in sys.modules]}}))
"""

IMPORT_STATEMENTS = (
    ("import course_utils", ("torch", "keras", "matplotlib.pyplot")),
    ("import course_utils.exercises", ("keras", "matplotlib.pyplot")),
    ("import course_utils.widgets", ("keras", "matplotlib.pyplot")),
    ("from course_utils import setup", ("keras", "matplotlib.pyplot")),
)


def _probe_import(statement: str, python: str = sys.executable) -> tuple[dict[str, Any], float]:
    code = _IMPORT_PROBE.format(statement=statement, heavy=HEAVY_MODULES)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    start = time.perf_counter()
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    wall = time.perf_counter() - start
    if out.returncode != 0:
        raise RuntimeError(f"{statement!r} failed: {out.stderr.strip().splitlines()[-1:]}")
    return json.loads(out.stdout.strip().splitlines()[-1]), wall


def bench_import(repeats: int = 5) -> Table:
    """Import time of the package in a fresh interpreter, and the heavy modules it pulls in."""
    table = Table(
        f"Import cost (fresh interpreter, median of {repeats})",
        ["statement", "import (ms)", "process wall (ms)", "heavy modules loaded", "must not load", "status"],
    )
    for statement, forbidden in IMPORT_STATEMENTS:
        try:
            runs = [_probe_import(statement) for _ in range(repeats)]
        except RuntimeError as exc:
            table.add([statement, "–", "–", str(exc)[:60], ", ".join(forbidden), "FAIL"], error=str(exc))
            continue
        loaded = runs[-1][0]["loaded"]
        bad = [m for m in forbidden if m in loaded]
        seconds = statistics.median(r[0]["seconds"] for r in runs)
        wall = statistics.median(r[1] for r in runs)
        table.add(
            [statement, _ms(seconds), _ms(wall), ", ".join(loaded) or "none", ", ".join(forbidden),
             _status(not bad)],
            statement=statement, seconds=seconds, wall_seconds=wall, loaded=loaded,
            forbidden=list(forbidden), modules=runs[-1][0]["modules"],
        )
    table.notes += [
        "import: time spent inside the import statement; process wall: the whole `python -c` "
        "run including interpreter start-up",
        "`import course_utils` is lazy: submodules (and torch, matplotlib, ipywidgets) load on "
        "first use of a name; the first notebook cell's `from course_utils import setup` loads torch",
    ]
    return table


# ---------------------------------------------------------------------------
# Set-up from a fresh clone, and the test suite
# ---------------------------------------------------------------------------


def _run_timed(cmd: Sequence[str], cwd: Path, log: Path, env: dict[str, str] | None = None,
               timeout: float | None = None) -> tuple[int, float, str]:
    """Run ``cmd``, log its output to ``log``; return (exit code, seconds, last lines)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with log.open("w") as fh:
        try:
            rc = subprocess.run(cmd, cwd=cwd, stdout=fh, stderr=subprocess.STDOUT, env=env,
                                timeout=timeout, check=False).returncode
        except subprocess.TimeoutExpired:
            rc = 124
    seconds = time.perf_counter() - start
    tail = log.read_text(errors="replace").strip().splitlines()[-3:]
    return rc, seconds, " / ".join(tail)


def _dir_mb(path: Path) -> float:
    total = 0
    for dirpath, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total / 1e6


def bench_setup(keep: bool = False) -> Table:
    """``git clone`` + ``make install`` in a temporary folder, then a smoke import."""
    table = Table("Set-up: fresh clone to a working environment", ["step", "time (s)", "result"])
    if not (ROOT / ".git").exists() or shutil.which("git") is None or shutil.which("make") is None:
        table.notes.append("needs a git checkout of the course, git and make")
        return table
    logs = ROOT / "build" / "bench-setup"
    work = Path(tempfile.mkdtemp(prefix="course-setup-"))
    clone = work / "course"
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    try:
        steps = [
            ("git clone", ["git", "clone", "--quiet", str(ROOT), str(clone)], work),
            ("make install", ["make", "install"], clone),
            ("smoke test: import torch, ipywidgets, keras, course_utils; setup()",
             [str(clone / ".venv" / "bin" / "python"), "-c",
              "import os; os.environ.setdefault('KERAS_BACKEND', 'torch'); "
              "import torch, ipywidgets, keras, course_utils; course_utils.setup(seed=0); print('ok')"],
             clone),
        ]
        total = 0.0
        for name, cmd, cwd in steps:
            slug = re.sub(r"[^a-z]+", "-", name.lower()).strip("-")[:20]
            rc, seconds, tail = _run_timed(cmd, cwd, logs / f"{slug}.log", env=env, timeout=3600)
            total += seconds
            table.add([name, f"{seconds:.1f}", "ok" if rc == 0 else f"FAILED (exit {rc}): {tail[:80]}"],
                      step=name, seconds=seconds, exit_code=rc)
            if rc != 0:
                break
        table.add(["total", f"{total:.1f}", ""], step="total", seconds=total)
        venv = clone / ".venv"
        if venv.exists():
            table.notes.append(f"the new .venv holds {_dir_mb(venv):.0f} MB")
        cache = Path(os.environ.get("PIP_CACHE_DIR", Path.home() / ".cache" / "pip"))
        sources = [f"{k}={os.environ[k]}" for k in ("PIP_FIND_LINKS", "PIP_INDEX_URL") if os.environ.get(k)]
        if cache.exists():
            sources.append(f"pip's download cache ({_dir_mb(cache):.0f} MB)")
        if sources:
            table.notes.append(
                f"pip could take packages from {', '.join(sources)}: a machine that must download "
                "everything (about 1 GB of wheels) takes longer"
            )
        table.notes.append("the clone holds committed work only; logs in build/bench-setup/")
    finally:
        if keep:
            table.notes.append(f"kept in {clone}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return table


_PYTEST_SUMMARY = re.compile(r"^=*\s*(?P<text>\d+ \w+.*? in (?P<seconds>[\d.]+)s\b.*?)\s*=*$")


def bench_grading(n: int = 30) -> Table:
    """Wall time of ``python -m course_utils.grade`` on ``n`` submissions (copies of notebook 01)."""
    import os

    from course_utils.grade import grade_bench

    table = Table("Batch grading", ["submissions", "parallel kernels", "time (s)", "per submission (s)", "status"])
    jobs = os.cpu_count() or 1
    seconds = grade_bench(n, jobs=jobs)
    target = TARGETS["grading_30_seconds"] * n / 30
    table.add([n, jobs, f"{seconds:.1f}", f"{seconds / n:.2f}", _status(seconds <= target)],
              submissions=n, jobs=jobs, seconds=seconds)
    table.notes += [
        f"target: <= {target:.0f} s for {n} submissions (a class's lab, graded while the lecturer waits)",
        "each submission: a fresh kernel runs the whole notebook (01, three exercises) offline, in a "
        "throw-away folder; the number of parallel kernels is the number of cores",
    ]
    return table


def bench_suite(command: Sequence[str] = ("make", "test")) -> Table:
    """Wall time of the whole test suite (``make test``) and of each pytest run inside it."""
    table = Table("Test suite", ["what", "time (s)", "result", "status"])
    log = ROOT / "build" / "bench-suite.log"
    rc, seconds, _ = _run_timed(list(command), ROOT, log, timeout=3600)
    target = TARGETS["suite_seconds"]
    runs = []
    for line in log.read_text(errors="replace").splitlines():
        match = _PYTEST_SUMMARY.match(line.strip())
        if match and re.search(r"\b(passed|failed|errors?|skipped|xfailed)\b", match["text"]):
            runs.append((match["text"], float(match["seconds"])))
    table.add([" ".join(command), f"{seconds:.1f}", "ok" if rc == 0 else f"exit code {rc}",
               _status(rc == 0 and seconds <= target)],
              what=" ".join(command), seconds=seconds, exit_code=rc)
    for i, (text, run_seconds) in enumerate(runs, start=1):
        failed = re.search(r"\b(failed|errors?)\b", text) is not None
        table.add([f"pytest run {i} of {len(runs)}", f"{run_seconds:.1f}", text,
                   _status(not failed and run_seconds <= target)],
                  what=f"pytest run {i}", seconds=run_seconds, summary=text)
    table.notes += [
        f"target: <= {target:.0f} s once everything is installed; `{' '.join(command)}` also checks "
        "the install, lints, and runs whatever else the Makefile's test target runs",
        "the pytest runs' own times come from their summary lines; full output in build/bench-suite.log",
    ]
    return table


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------


def _save(path: Path, info: dict[str, Any], results: dict[str, list[Table]]) -> None:
    saved: dict[str, Any] = {}
    if path.exists():
        with contextlib.suppress(ValueError, OSError):
            saved = json.loads(path.read_text())
    saved.setdefault("sections", {})
    saved["machine"] = info
    for name, tables in results.items():
        saved["sections"][name] = {
            "machine": info,
            "tables": [
                {"title": t.title, "columns": t.columns, "rows": t.rows, "notes": t.notes, "data": t.data}
                for t in tables
            ],
        }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(saved, indent=1, default=str))


def _report(path: Path, sections: Sequence[str], render: Callable[[Table], str]) -> int:
    """Print the tables saved in ``path`` (every saved section, or the ones named)."""
    if not path.exists():
        print(f"{path} does not exist: run `python tools/bench.py` first", file=sys.stderr)
        return 1
    saved = json.loads(path.read_text())
    wanted = [s for s in (sections or SECTIONS) if s in saved.get("sections", {})]
    if "all" in sections:
        wanted = [s for s in SECTIONS if s in saved.get("sections", {})]
    out = [render(machine_table(saved["machine"]))]
    for name in wanted:
        section = saved["sections"][name]
        for t in section["tables"]:
            table = Table(t["title"], t["columns"], t["rows"], t["notes"])
            measured = section["machine"].get("date", "?")
            load = section["machine"].get("load_average_1min")
            if measured != saved["machine"].get("date"):
                table.notes.append(f"measured {measured} (load average {load} at the start)")
            out.append(render(table))
    print("\n\n".join(out))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python tools/bench.py",
        description="Benchmark the course's notebooks, widgets, imports, set-up and test suite.",
    )
    parser.add_argument(
        "sections", nargs="*", metavar="SECTION",
        help=f"any of {', '.join(SECTIONS)} or 'all' (default: {' '.join(DEFAULT_SECTIONS)})",
    )
    parser.add_argument("--markdown", action="store_true", help="print Markdown tables")
    parser.add_argument("--repeats", type=int, default=30, help="calls per widget control (default 30)")
    parser.add_argument("--notebook", action="append", metavar="PATH",
                        help="benchmark only this notebook (repeatable)")
    parser.add_argument("--json", type=Path, default=ROOT / "build" / "bench.json",
                        help="where to save the results (default build/bench.json)")
    parser.add_argument("--keep", action="store_true", help="setup: keep the temporary clone")
    parser.add_argument("--report", action="store_true",
                        help="measure nothing: print the sections saved in the JSON file")
    args = parser.parse_args(argv)
    render = Table.markdown if args.markdown else Table.text
    if args.report:
        return _report(args.json, args.sections, render)

    sections = list(args.sections) or list(DEFAULT_SECTIONS)
    if "all" in sections:
        sections = list(SECTIONS)
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s) {unknown}: choose from {', '.join(SECTIONS)} or all")
    if args.repeats < 3:
        parser.error("--repeats must be at least 3")

    info = machine_info()
    results: dict[str, list[Table]] = {}
    runners: dict[str, Callable[[], list[Table]]] = {
        "notebooks": lambda: [bench_notebooks([Path(p) for p in args.notebook] if args.notebook else None)],
        "widgets": lambda: bench_widgets(repeats=args.repeats),
        "import": lambda: [bench_import()],
        "grading": lambda: [bench_grading()],
        "setup": lambda: [bench_setup(keep=args.keep)],
        "suite": lambda: [bench_suite()],
    }
    for name in sections:
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        results[name] = runners[name]()
    _save(args.json, info, results)

    tables = [machine_table(info)] + [t for name in sections for t in results[name]]
    print("\n\n".join(render(t) for t in tables))
    failed = [t.title for t in tables if any("FAIL" in c for r in t.rows for c in r)]
    if failed:
        print(f"\nBelow target in: {'; '.join(failed)}", file=sys.stderr)
    print(f"\nSaved to {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
