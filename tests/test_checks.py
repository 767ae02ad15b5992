"""course_utils.checks: the package's one set of input checks, used once per public call.

Three promises are tested here:

* the shared validators accept good values (and return them normalised) and
  refuse bad ones with a message that names the argument and says what it
  must be (the range, the choices) and what it got;
* no module keeps its own copy of a generic check (``_check_int``,
  ``check_range``...): they all live in ``course_utils/checks.py``;
* a public function validates each argument once, at its entry: ``fit`` and
  ``plot_decision_boundary`` check the model once, not again in every helper
  (or every epoch, or every batch) below them.
"""

from __future__ import annotations

import ast
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch
from torch import nn

from course_utils import checks, conversions, modes, plotting, training
from course_utils.checks import (
    SEED_MAX,
    check_choice,
    check_finite,
    check_int,
    check_labels,
    check_module,
    check_momentum,
    check_number,
    check_points,
    check_probability,
    check_seed,
    check_threshold,
    check_xy,
)

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "course_utils"
NAN = float("nan")


# ---------------------------------------------------------------------------
# check_int
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("value", [2, 5, 10, np.int64(5), np.int32(10)])
def test_check_int_returns_a_python_int(value):
    result = check_int("n", value, 2, 10)
    assert result == int(value) and type(result) is int


@pytest.mark.parametrize("value", [5.0, "5", True, False, np.bool_(True), None, [5], torch.tensor(5)])
def test_check_int_refuses_other_types_naming_the_range(value):
    with pytest.raises(TypeError, match=r"^n must be an int between 2 and 10, got "):
        check_int("n", value, 2, 10)


@pytest.mark.parametrize("value", [1, 11, -3])
def test_check_int_refuses_values_out_of_range(value):
    with pytest.raises(ValueError, match=rf"^n must be between 2 and 10, got {value}$"):
        check_int("n", value, 2, 10)


def test_check_int_open_ended_ranges_and_none():
    assert check_int("epochs", 10**9, 1) == 10**9
    with pytest.raises(ValueError, match=r"^epochs must be >= 1, got 0$"):
        check_int("epochs", 0, 1)
    with pytest.raises(TypeError, match=r"^epochs must be an int >= 1, got 'x'$"):
        check_int("epochs", "x", 1)
    assert check_int("batch_size", None, 1, allow_none=True) is None
    with pytest.raises(TypeError, match=r"^batch_size must be an int >= 1 or None, got 1\.5$"):
        check_int("batch_size", 1.5, 1, allow_none=True)
    with pytest.raises(TypeError, match=r"must be an int between 2 and 10, got None"):
        check_int("n", None, 2, 10)


def test_check_int_keeps_a_callers_wording():
    with pytest.raises(ValueError, match=r"^n_classes must be a positive int, got 0$"):
        check_int("n_classes", 0, 1, what="a positive int", type_error=ValueError)
    with pytest.raises(ValueError, match=r"^n_classes must be a positive int, got 'ten'$"):
        check_int("n_classes", "ten", 1, what="a positive int", type_error=ValueError)
    with pytest.raises(TypeError, match=r"^batch_size must be a whole number between 2 and 64, got 8\.0$"):
        check_int("batch_size", 8.0, 2, 64, kind="a whole number")
    with pytest.raises(ValueError, match=r"^depth must be between 0 and 4, got 9; use fewer layers$"):
        check_int("depth", 9, 0, 4, hint="; use fewer layers")


# ---------------------------------------------------------------------------
# check_number
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, 0.5, 1, np.float32(0.5), np.float64(1.0), np.int64(0)])
def test_check_number_returns_a_python_float(value):
    result = check_number("alpha", value, 0.0, 1.0)
    assert result == pytest.approx(float(value)) and type(result) is float


@pytest.mark.parametrize("value", ["0.5", True, np.bool_(False), None, torch.tensor(0.5), [0.5], 1j])
def test_check_number_refuses_other_types_naming_the_range(value):
    with pytest.raises(TypeError, match=r"^alpha must be a number between 0\.0 and 1\.0, got "):
        check_number("alpha", value, 0.0, 1.0)


@pytest.mark.parametrize(("value", "shown"), [(NAN, "nan"), (1.5, "1.5"), (-0.1, "-0.1"), (math.inf, "inf")])
def test_check_number_refuses_nan_and_values_out_of_range(value, shown):
    with pytest.raises(ValueError, match=rf"^alpha must be between 0\.0 and 1\.0, got {shown}$"):
        check_number("alpha", value, 0.0, 1.0)


def test_check_number_nan_is_out_of_every_range():
    for low, high in ((None, None), (0, None), (None, 0)):
        with pytest.raises(ValueError, match="got nan"):
            check_number("x", NAN, low, high)
    assert check_number("x", -1e300) == -1e300  # no bounds: any real number


@pytest.mark.parametrize(
    ("kwargs", "bad", "words"),
    [
        ({"low": 0}, -1, r"x must be >= 0, got -1"),
        ({"low": 0, "low_open": True}, 0, r"x must be > 0, got 0"),
        ({"high": 1}, 2, r"x must be <= 1, got 2"),
        ({"low": 0, "high": 1, "high_open": True}, 1, r"x must be in \[0, 1\), got 1"),
        ({"low": 0, "high": 1, "low_open": True}, 0, r"x must be in \(0, 1\], got 0"),
        ({"low": 0, "high": 1, "low_open": True, "high_open": True}, 1,
         r"x must be between 0 and 1 \(exclusive\), got 1"),
    ],
)
def test_check_number_open_and_one_sided_ranges(kwargs, bad, words):
    with pytest.raises(ValueError, match=f"^{words}"):
        check_number("x", bad, **kwargs)
    inside = 0.5 if "high" in kwargs else (2 if "low" in kwargs else -2)
    assert check_number("x", inside, **kwargs) == inside


def test_check_number_keeps_a_callers_wording():
    with pytest.raises(ValueError, match=r"^noise must be a number >= 0, got 'high'$"):
        check_number("noise", "high", 0, what="a number >= 0", type_error=ValueError)
    with pytest.raises(ValueError, match=r"^alpha must be >= 0\.0 and <= 1\.0, got 2$"):
        check_number("alpha", 2, 0.0, 1.0, what=">= 0.0 and <= 1.0")


# ---------------------------------------------------------------------------
# check_choice, check_probability, check_threshold, check_seed, check_momentum
# ---------------------------------------------------------------------------


def test_check_choice_returns_the_value_and_lists_the_choices_as_given():
    assert check_choice("mode", "eval", ["eval", "train"]) == "eval"
    assert check_choice("batch_size", 16, (8, 16, "full")) == 16
    with pytest.raises(ValueError, match=r"^mode must be one of \['eval', 'train'\], got 'test'$"):
        check_choice("mode", "test", ["eval", "train"])
    with pytest.raises(ValueError, match=r"^name must be one of \('circles', 'moons'\), got 'spirals'$"):
        check_choice("name", "spirals", ("circles", "moons"))


@pytest.mark.parametrize("value", [True, 1.5, None, np.array([8, 16]), torch.tensor([8, 16]), [8]])
def test_check_choice_does_not_take_bools_for_ints_or_crash_on_arrays(value):
    with pytest.raises(ValueError, match=r"^batch_size must be one of \(1, 8, 16\), got "):
        check_choice("batch_size", value, (1, 8, 16))


@pytest.mark.parametrize("value", [0, 1, 0.25, np.float32(0.25), torch.tensor(0.25), torch.tensor([0.25])])
def test_check_probability_accepts_numbers_and_one_element_tensors(value):
    result = check_probability("p", value)
    assert type(result) is float and 0.0 <= result <= 1.0


def test_check_probability_and_threshold_refuse_bad_values():
    with pytest.raises(ValueError, match=r"^p must be between 0 and 1, got 1\.5$"):
        check_probability("p", 1.5)
    with pytest.raises(TypeError, match=r"^p must be a number between 0 and 1, got tensor"):
        check_probability("p", torch.tensor([0.1, 0.2]))
    with pytest.raises(ValueError, match=r"threshold must be between 0 and 1, got 1\.5\. .*logits"):
        check_threshold(1.5)
    with pytest.raises(ValueError, match=r"threshold must be between 0 and 1, got nan"):
        check_threshold(NAN)
    with pytest.raises(TypeError, match=r"threshold must be a number between 0 and 1, got '0\.5'"):
        check_threshold("0.5")


@pytest.mark.parametrize("seed", [0, 42, SEED_MAX, np.int64(7)])
def test_check_seed_accepts_ints_in_range(seed):
    assert check_seed(seed) == int(seed) and type(check_seed(seed)) is int


@pytest.mark.parametrize("seed", [-1, SEED_MAX + 1, "a", 1.0, True, None])
def test_check_seed_refuses_with_the_range_and_an_example(seed):
    # Always a ValueError, as from course_utils.set_seed.
    with pytest.raises(ValueError, match=r"^seed must be an int from 0 to 2\*\*32 - 1 \(for example seed=0\), got "):
        check_seed(seed)


def test_check_seed_without_an_upper_bound_or_with_none():
    assert check_seed(2**40, high=None) == 2**40
    assert check_seed(None, high=None, allow_none=True) is None
    with pytest.raises(ValueError, match=r"^seed must be a non-negative int or None \(for example seed=0\), got -1$"):
        check_seed(-1, high=None, allow_none=True)


def test_check_momentum_explains_zero():
    assert check_momentum(1) == 1.0 and check_momentum(0.1) == 0.1
    with pytest.raises(ValueError, match=r"momentum must be in \(0, 1\]: with momentum=0 .* default is 0\.1"):
        check_momentum(0.0)
    with pytest.raises(ValueError, match=r"^momentum must be between 0\.0 and 1\.0, got 1\.5$"):
        check_momentum(1.5)
    with pytest.raises(TypeError, match=r"^momentum must be a number between 0\.0 and 1\.0"):
        check_momentum("0.1")


# ---------------------------------------------------------------------------
# Models and data
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [None, "model", nn.Linear(2, 1).state_dict(), torch.zeros(2)])
def test_check_module(bad):
    model = nn.Linear(2, 1)
    assert check_module(model) is model
    with pytest.raises(TypeError, match=r"^net must be a torch\.nn\.Module .*not its output or its state_dict"):
        check_module(bad, "net")


@pytest.mark.parametrize("X", [np.zeros((3, 2), dtype=np.float32), torch.zeros(3, 2), torch.zeros(3, 2).long()])
def test_check_points_takes_numpy_and_torch(X):
    points = check_points(X, who="f")
    assert isinstance(points, np.ndarray) and points.dtype == np.float64 and points.shape == (3, 2)


@pytest.mark.parametrize(
    ("X", "error", "words"),
    [
        ([[0.0, 1.0]], TypeError, r"X must be a NumPy array or a torch tensor, got list.*np\.asarray"),
        (np.zeros((2, 5)), ValueError, r"f needs X of shape \(N, 2\), got \(2, 5\): it looks transposed.*X\.T"),
        (np.zeros((5, 3)), ValueError, r"got \(5, 3\): it can only draw 2 input features"),
        (np.zeros(5), ValueError, r"one row per point"),
        (np.zeros((0, 2)), ValueError, r"f needs at least one point"),
        (np.array([["a", "b"]]), TypeError, r"X must hold real numbers"),
        (np.array([[0.0, NAN], [1.0, 1.0], [np.inf, 0.0]]), ValueError,
         r"X contains NaN or infinite values in 2 row\(s\) \(first: row 0\); remove or impute"),
        (torch.zeros(3, 2, device="meta"), ValueError, r"X is on the 'meta' device.*device='cpu'"),
    ],
)
def test_check_points_refuses_bad_points(X, error, words):
    with pytest.raises(error, match=words):
        check_points(X, who="f")


def test_check_labels():
    labels = check_labels(torch.tensor([[1.0], [0.0], [2.0]]), 3)
    assert labels.dtype == np.int64 and labels.tolist() == [1, 0, 2]
    assert check_labels(np.array([True, False]), 2).tolist() == [1, 0]
    with pytest.raises(ValueError, match=r"same number of points, got 3 points in X and 2 labels in y"):
        check_labels(np.array([0, 1]), 3)
    with pytest.raises(ValueError, match=r"class labels 0, 1, \.\.\., K-1.*not probabilities"):
        check_labels(np.array([0.5, 1.0]), 2)
    with pytest.raises(ValueError, match=r"one class label per point, shape \(N,\) or \(N, 1\), got \(2, 2\)"):
        check_labels(np.zeros((2, 2)), 2)


def test_check_xy():
    X, y = torch.randn(4, 2), torch.zeros(4, 1)
    assert check_xy(X, y) == (X, y)
    with pytest.raises(TypeError, match=r"^train X must be a torch\.Tensor, got ndarray.*torch\.from_numpy"):
        check_xy(X.numpy(), y, "train")
    with pytest.raises(ValueError, match=r"same number of samples \(first dimension\), got 4 and 3"):
        check_xy(X, y[:3])
    with pytest.raises(ValueError, match=r"y contains NaN or infinite values in 1 of 4 samples \(first: sample 2\)"):
        check_xy(X, torch.tensor([[0.0], [1.0], [NAN], [1.0]]))
    with pytest.raises(ValueError, match=r"at least one sample"):
        check_xy(X[:0], y[:0])


def test_check_finite_counts_rows_of_arrays_and_tensors():
    ints = np.arange(6).reshape(3, 2)
    assert check_finite("X", ints, fix="fix it") is ints
    for bad in (np.array([[1.0, NAN], [NAN, NAN], [0.0, 0.0]]), torch.tensor([[1.0, NAN], [NAN, NAN], [0.0, 0.0]])):
        with pytest.raises(ValueError, match=r"^X contains NaN or infinite values in 2 of 3 samples \(first: sample 0\); fix it$"):
            check_finite("X", bad, fix="fix it")


# ---------------------------------------------------------------------------
# One copy of each check
# ---------------------------------------------------------------------------

#: Generic checks that only course_utils/checks.py may define (under these names or
#: the per-module names their copies used to have).
SHARED_ONLY = {
    "_check_int", "_check_number", "_check_choice", "_check_seed", "_check_X", "_check_y",
    "_check_data", "_as_numpy", "_check_dropout_p", "_check_momentum",
    "check_range", "check_int", "check_number", "check_choice", "check_probability",
    "check_threshold", "check_seed", "check_momentum", "check_module", "check_real_device",
    "check_logits", "check_finite", "check_points", "check_labels", "check_xy", "as_numpy",
}


def _defined_functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}


def test_no_module_keeps_its_own_copy_of_a_shared_check():
    copies = {
        str(path.relative_to(ROOT)): sorted(_defined_functions(path) & SHARED_ONLY)
        for path in sorted(PACKAGE.rglob("*.py"))
        if path != PACKAGE / "checks.py"
    }
    copies = {path: names for path, names in copies.items() if names}
    assert not copies, f"define these checks once, in course_utils/checks.py, and import them: {copies}"


def test_checks_defines_what_it_exports():
    defined = _defined_functions(PACKAGE / "checks.py")
    assert set(checks.__all__) - {"SEED_MAX"} <= defined


def test_old_public_names_are_the_shared_checks():
    assert conversions.check_threshold is checks.check_threshold
    assert conversions.check_logits is checks.check_logits
    assert conversions.check_real_device is checks.check_real_device
    assert modes.check_module is checks.check_module
    assert {"check_threshold", "check_logits", "check_real_device"} <= set(conversions.__all__)
    assert "check_module" in modes.__all__


def test_importing_checks_loads_neither_torch_nor_numpy():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    code = "import json, sys, course_utils.checks; print(json.dumps([m for m in ('torch', 'numpy') if m in sys.modules]))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env,
                         timeout=120, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


# ---------------------------------------------------------------------------
# Validated once, at the entry of the public function
# ---------------------------------------------------------------------------


def _count_calls(monkeypatch: pytest.MonkeyPatch, name: str) -> list[tuple]:
    """Count the calls of ``checks.<name>`` from the modules that import it (it still checks).

    Calls inside course_utils.checks (one check built on another) are not counted.
    """
    original = getattr(checks, name)
    calls: list[tuple] = []

    def counting(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    patched = []
    for module_name, module in list(sys.modules.items()):
        if (
            module_name.split(".")[0] == "course_utils"
            and module_name != "course_utils.checks"
            and getattr(module, name, None) is original
        ):
            monkeypatch.setattr(module, name, counting)
            patched.append(module_name)
    assert patched, f"no module of course_utils imports checks.{name}"
    return calls


def _model() -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(2, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.2), nn.Linear(8, 1))


def _data(n: int = 40) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(n, 2, generator=gen)
    return X, (X[:, :1] * X[:, 1:] > 0).float()


def test_the_counter_sees_every_check(monkeypatch):
    calls = _count_calls(monkeypatch, "check_module")
    model = _model()
    modes.snapshot_modes(model)
    with modes.eval_mode(model):
        pass
    assert len(calls) == 2


def test_fit_checks_the_model_and_threshold_once(monkeypatch):
    model_checks = _count_calls(monkeypatch, "check_module")
    threshold_checks = _count_calls(monkeypatch, "check_threshold")
    model = _model()
    history = training.fit(
        model, _data(), _data(16), loss_fn=nn.BCEWithLogitsLoss(),
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1), epochs=3, batch_size=8, seed=0,
    )
    assert history.epochs == 3  # 3 epochs of 5 batches, each evaluated on the test data
    assert len(model_checks) == 1, f"fit checked the model {len(model_checks)} times"
    assert len(threshold_checks) == 1, f"fit checked the threshold {len(threshold_checks)} times"


def test_train_one_epoch_and_evaluate_check_the_model_once(monkeypatch):
    calls = _count_calls(monkeypatch, "check_module")
    model, (X, y) = _model(), _data()
    training.train_one_epoch(model, X, y, nn.BCEWithLogitsLoss(), torch.optim.SGD(model.parameters(), lr=0.1),
                             batch_size=8)
    assert len(calls) == 1
    training.evaluate(model.eval(), X, y, nn.BCEWithLogitsLoss(), batch_size=8)
    assert len(calls) == 2


def test_plot_decision_boundary_checks_each_argument_once(monkeypatch):
    import matplotlib.pyplot as plt

    counted = {name: _count_calls(monkeypatch, name)
               for name in ("check_module", "check_points", "check_threshold", "check_choice", "check_number")}
    X, y = _data()
    try:
        shown = plotting.plot_decision_boundary(_model().eval(), X, y, grid_resolution=20, response="probability")
    finally:
        plt.close("all")
    assert shown.accuracy is not None
    times = {name: len(calls) for name, calls in counted.items()}
    # check_choice: plot_method, response, mode; check_number: alpha, eps.
    assert times == {"check_module": 1, "check_points": 1, "check_threshold": 1, "check_choice": 3,
                     "check_number": 2}


def test_compute_decision_boundary_checks_the_model_once(monkeypatch):
    calls = _count_calls(monkeypatch, "check_module")
    plotting.compute_decision_boundary(_model(), _data()[0], grid_resolution=10)
    assert len(calls) == 1


def test_errors_name_the_public_function_that_was_called():
    with pytest.raises(ValueError, match=r"^compute_decision_boundary needs X of shape \(N, 2\)"):
        plotting.compute_decision_boundary(_model(), torch.zeros(4, 3))
    with pytest.raises(ValueError, match=r"^make_grid needs X of shape \(N, 2\)"):
        plotting.make_grid(torch.zeros(4, 3))
