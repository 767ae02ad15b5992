"""The notebook output comparison forgives floating-point drift, and nothing else.

``tests/nbval_tolerance.py`` replaces nbval's comparison. These tests pin down
what it forgives (drift of a few per cent in decimals, whitespace) and what it
must never forgive: a number 40 % off, a flipped sign, ``True``/``False``,
``train``/``eval``, an integer, a changed word. They run the rule over every
compared output of every committed notebook, and run nbval itself on a small
notebook to show the hook is really in place.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbval_tolerance import (
    DEFAULT,
    MAX_REL,
    NUMBER,
    Tolerance,
    cell_tolerance,
    outputs_difference,
    text_difference,
)
from test_determinism import NOTEBOOKS, comparable, is_compared

ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------------------
# The rule on small examples
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stored", "fresh"),
    [
        ("logits from -8.73 to 6.56", "logits from -8.62 to 6.58"),  # drift between CPUs
        ("running_mean moved by 0.7162", "running_mean moved by 0.7239"),
        ("loss 0.0250", "loss 0.0245"),
        ("tensor([[ 0.1234, -0.5678]])", "tensor([[ 0.1240, -0.5690]])"),
        ("mean -0.0000, std 1.0000", "mean 0.0000, std 0.9999"),
        ("diff 1e-12", "diff 0.0"),  # below the absolute allowance (1e-9)
        ("acc  0.95 | 0.93", "acc 0.951 | 0.931"),  # whitespace runs count as one
        ("torch 2.13.0 on cpu", "torch 2.13.0 on cpu"),
        ("value nan", "value nan"),
    ],
)
def test_drift_is_forgiven(stored, fresh):
    assert text_difference(stored, fresh) is None


@pytest.mark.parametrize(
    ("stored", "fresh", "says"),
    [
        ("accuracy 0.50", "accuracy 0.70", "number 1"),  # 40 % off
        ("loss 0.0250", "loss 0.0350", "number 1"),  # 40 % off
        ("mean 0.25", "mean -0.25", "number 1"),  # flipped sign
        ("same output: True", "same output: False", "text differs"),
        ("dropout is in train mode", "dropout is in eval mode", "text differs"),
        ("features.4 Dropout2d train", "features.4 Dropout2d eval", "text differs"),
        ("100 of 150 correct", "101 of 150 correct", "integer 1"),
        ("torch.Size([64, 10])", "torch.Size([64, 11])", "integer 2"),
        ("layer conv2", "layer conv3", "text differs"),  # digits inside names are words
        ("torch 2.13.0", "torch 2.14.0", "text differs"),  # versions are words
        ("dtype torch.float32", "dtype torch.float64", "text differs"),
        ("value nan", "value 0.5", "text differs"),
        ("eps 1e-08", "eps 1.4e-08", "number 1"),  # small constants are compared too
        ("diff 2.9802e-08", "diff 0.0", "number 1"),  # float noise: print a bound, not the value
        ("a 0.5", "a 0.5 b 0.5", "text differs"),
    ],
)
def test_real_changes_fail(stored, fresh, says):
    why = text_difference(stored, fresh)
    assert why is not None and says in why, why


def test_the_message_names_the_number_and_the_tolerance():
    why = text_difference("train loss 0.50, test loss 0.60", "train loss 0.50, test loss 0.90")
    assert "number 2" in why and "stored 0.60" in why and "computed 0.90" in why
    assert "rel 0.05" in why


def test_tolerance_bounds():
    assert DEFAULT.close(1.0, 1.04)
    assert not DEFAULT.close(1.0, 1.4)
    assert not DEFAULT.close(1e-3, 1.4e-3)
    assert DEFAULT.close(0.0, 5e-10)
    assert not DEFAULT.close(0.0, 5e-7)
    assert not DEFAULT.close(math.inf, -math.inf)
    assert not DEFAULT.close(math.nan, 1.0)
    assert Tolerance(rel=MAX_REL).close(1.0, 1.2)
    # The widest a cell may ask for still fails a number that is 40 % off.
    assert not Tolerance(rel=MAX_REL).close(1.0, 1.4)
    assert not Tolerance(rel=MAX_REL).close(1.0, 0.6)


def _cell(metadata):
    return nbformat.v4.new_code_cell("print(1)", metadata=metadata)


def test_a_cell_widens_its_tolerance_only_with_a_reason():
    assert cell_tolerance(_cell({})) == DEFAULT
    wide = cell_tolerance(_cell({"nbval-tolerance": {"rel": 0.2, "why": "accuracy after 300 steps"}}))
    assert wide == Tolerance(rel=0.2, abs=DEFAULT.abs)
    with pytest.raises(ValueError, match="why"):
        cell_tolerance(_cell({"nbval-tolerance": {"rel": 0.2}}))
    with pytest.raises(ValueError, match="40 %"):
        cell_tolerance(_cell({"nbval-tolerance": {"rel": 0.5, "why": "too wide"}}))


# ---------------------------------------------------------------------------
# The rule on every committed output
# ---------------------------------------------------------------------------


def _compared_texts():
    """``(notebook, cell index, cell, {key: [values]})`` for every compared code cell."""
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        for i, cell in enumerate(nb.cells):
            if cell.cell_type == "code" and is_compared(cell) and cell.outputs:
                yield path.name, i, cell, comparable(cell.outputs)


def _mutations(text: str):
    """Every single change a regression could make: each decimal 40 % off, each word flipped."""
    for match in NUMBER.finditer(text):
        token = match.group()
        if "." not in token and "e" not in token.lower():
            yield f"integer {token} + 1", text[: match.start()] + str(int(token) + 1) + text[match.end():]
            continue
        value = float(token)
        if abs(value) < 1e-8:  # near the rule's absolute allowance (1e-9)
            continue
        decimals = len(token.split(".")[1].split("e")[0].split("E")[0]) if "." in token else 0
        changed = f"{value * 1.4:.{decimals + 1}f}" if "e" not in token.lower() else f"{value * 1.4:.3e}"
        yield f"{token} x 1.4", text[: match.start()] + changed + text[match.end():]
    for a, b in (("True", "False"), ("train", "eval")):
        for word, other in ((a, b), (b, a)):
            for match in re.finditer(rf"\b{word}\b", text):
                yield f"{word} -> {other}", text[: match.start()] + other + text[match.end():]


def test_every_committed_output_fails_when_a_number_word_or_mode_changes():
    escaped, checked = [], 0
    for name, index, cell, flat in _compared_texts():
        tol = cell_tolerance(cell)
        for key, values in flat.items():
            for k, value in enumerate(values):
                if not isinstance(value, str):
                    continue
                for what, mutated in _mutations(value):
                    changed = {**flat, key: values[:k] + [mutated] + values[k + 1:]}
                    checked += 1
                    if outputs_difference(flat, changed, tol) is None:
                        escaped.append(f"{name} cell {index}: {what}")
    assert checked > 1000, f"only {checked} changes tried: are the notebooks executed?"
    assert not escaped, f"{len(escaped)} of {checked} changes pass unnoticed: {escaped[:10]}"


def test_every_tolerance_widening_states_why():
    for name, index, cell, _ in _compared_texts():
        try:
            cell_tolerance(cell)
        except ValueError as exc:
            pytest.fail(f"{name} cell {index}: {exc}")


# ---------------------------------------------------------------------------
# nbval itself uses the rule
# ---------------------------------------------------------------------------


CODE = 'print(f"loss {0.5:.4f}, mode train, ok True")'
#: ``(stored output, what the message must say)``: drift first, then three regressions.
STORED = [
    ("loss 0.5012, mode train, ok True\n", None),
    ("loss 0.7000, mode train, ok True\n", "number 1"),
    ("loss 0.5000, mode eval, ok True\n", "text differs"),
    ("loss 0.5000, mode train, ok False\n", "text differs"),
]


def _notebook(tmp_path: Path) -> Path:
    """A notebook whose cells all print the same line, each stored with another output."""
    nb = nbformat.v4.new_notebook()
    for i, (stored, _) in enumerate(STORED, start=1):
        cell = nbformat.v4.new_code_cell(CODE, execution_count=i)
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=stored)]
        nb.cells.append(cell)
    path = tmp_path / "check.ipynb"
    nbformat.write(nb, path)
    return path


def _nbval(path: Path, plugin: bool = True) -> subprocess.CompletedProcess:
    args = [sys.executable, "-m", "pytest", "-rA", "-p", "no:cacheprovider", "-p", "no:xdist",
            "--nbval", "--nbval-current-env", "--rootdir", str(path.parent), "-c", os.devnull]
    if plugin:
        args += ["-p", "nbval_tolerance"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([*args, str(path)], capture_output=True, text=True, env=env, timeout=120,
                          cwd=path.parent)


def test_nbval_itself_forgives_drift_and_fails_regressions(tmp_path):
    path = _notebook(tmp_path)
    result = _nbval(path)
    summary = result.stdout.splitlines()
    assert "PASSED check.ipynb::Cell 0" in summary, result.stdout[-3000:]
    for i, (_, says) in enumerate(STORED[1:], start=1):
        assert any(line.startswith(f"FAILED check.ipynb::Cell {i}") for line in summary), result.stdout[-3000:]
        assert says in result.stdout
    # Without the plugin, nbval's exact comparison fails the drift too.
    plain = _nbval(path, plugin=False)
    assert any(line.startswith("FAILED check.ipynb::Cell 0") for line in plain.stdout.splitlines())
