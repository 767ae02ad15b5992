"""course_utils.runtime: seeding, device choice and the one-line notebook setup."""

from __future__ import annotations

import os
import random

import matplotlib as mpl
import numpy as np
import pytest
import torch

from course_utils import runtime
from course_utils.runtime import get_device, set_seed, setup
from course_utils.style import COURSE_STYLE


def draws() -> tuple[list[float], list[float], float]:
    return torch.rand(3).tolist(), np.random.rand(3).tolist(), random.random()


@pytest.fixture
def restore_globals(monkeypatch):
    """setup() changes process-wide settings: put them back after the test."""
    monkeypatch.setenv("PYTHONHASHSEED", os.environ.get("PYTHONHASHSEED", "0"))
    threads = torch.get_num_threads()
    numpy_options = np.get_printoptions()
    rc = mpl.rcParams.copy()
    yield
    torch.set_num_threads(threads)
    torch.set_printoptions(profile="default")
    np.set_printoptions(**numpy_options)
    mpl.rcParams.update(rc)


def test_same_seed_same_draws_in_all_three_generators(restore_globals):
    set_seed(7)
    first = draws()
    draws()  # move every generator on
    set_seed(7)
    assert draws() == first
    set_seed(8)
    other = draws()
    assert all(a != b for a, b in zip(first, other, strict=True))
    assert os.environ["PYTHONHASHSEED"] == "8"


def test_seed_replays_model_initialisation(restore_globals):
    set_seed(0)
    a = torch.nn.Linear(3, 2).weight
    set_seed(0)
    b = torch.nn.Linear(3, 2).weight
    assert torch.equal(a, b)


@pytest.mark.parametrize("bad", [-1, True, False, 1.5, "0", None, 2**32])
def test_set_seed_rejects_bad_seeds(bad, restore_globals):
    with pytest.raises(ValueError, match="seed must be an int from 0 to 2\\*\\*32 - 1"):
        set_seed(bad)


def test_largest_seed_is_accepted(restore_globals):
    set_seed(2**32 - 1)
    first = draws()
    set_seed(2**32 - 1)
    assert draws() == first


@pytest.mark.parametrize(
    ("cuda", "mps", "expected"),
    [(True, True, "cuda"), (True, False, "cuda"), (False, True, "mps"), (False, False, "cpu")],
)
def test_device_order_cuda_then_mps_then_cpu(monkeypatch, cuda, mps, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    device = get_device()
    assert isinstance(device, torch.device) and device.type == expected


def test_device_without_mps_backend(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.delattr(torch.backends, "mps")
    assert get_device() == torch.device("cpu")


def test_setup_returns_device_and_sets_everything(restore_globals):
    torch.set_num_threads(2)
    mpl.rcParams["font.size"] = 7
    device = setup(seed=5)
    assert device == get_device()
    assert torch.get_num_threads() == 1
    assert str(torch.tensor([1 / 3, 2e-6])) == "tensor([0.3333, 0.0000])"
    assert np.array2string(np.array([1 / 3, 2e-6])) == "[0.3333 0.    ]"
    assert mpl.rcParams["font.size"] == COURSE_STYLE["font.size"]
    assert tuple(mpl.rcParams["figure.figsize"]) == COURSE_STYLE["figure.figsize"]
    seeded = draws()
    set_seed(5)
    assert draws() == seeded


def test_setup_threads_none_keeps_pytorch_setting(restore_globals):
    torch.set_num_threads(2)
    setup(threads=None)
    assert torch.get_num_threads() == 2
    setup(threads=2)
    assert torch.get_num_threads() == 2


@pytest.mark.parametrize("bad", [0, -1, 1.0, True, "1"])
def test_setup_rejects_bad_thread_counts(bad, restore_globals):
    threads = torch.get_num_threads()
    with pytest.raises(ValueError, match="threads must be a positive int"):
        setup(threads=bad)
    assert torch.get_num_threads() == threads


def test_setup_rejects_bad_seed(restore_globals):
    with pytest.raises(ValueError, match="seed must be"):
        setup(seed=-3)


def test_public_names():
    assert runtime.__all__ == ["set_seed", "get_device", "setup", "free_memory_after_each_cell"]
    import course_utils

    assert course_utils.setup is setup and course_utils.set_seed is set_seed


class FakeEvents:
    def __init__(self):
        self.callbacks = {"post_run_cell": []}

    def register(self, event, function):
        self.callbacks[event].append(function)


class FakeShell:
    def __init__(self):
        self.events = FakeEvents()


def test_a_kernel_frees_what_a_cell_left_behind_once_the_cell_ends(monkeypatch):
    import gc
    import weakref

    from matplotlib.figure import Figure

    freezes = []
    monkeypatch.setattr(runtime, "_frozen", False)
    monkeypatch.setattr(gc, "freeze", lambda: freezes.append(1))
    shell = FakeShell()
    assert runtime.free_memory_after_each_cell(shell) is True
    assert runtime.free_memory_after_each_cell(shell) is True  # again, as when setup() is re-run
    hooks = shell.events.callbacks["post_run_cell"]
    assert len(hooks) == 1 and len(freezes) == 1, "one hook and one freeze per kernel"

    fig = Figure()
    fig.subplots().plot([0, 1])  # figure <-> axes <-> canvas: a reference cycle
    gone = weakref.ref(fig)
    gc.disable()  # no automatic collection may beat the hook to it
    try:
        del fig  # what rebinding `fig` in a later cell does
        assert gone() is not None, "a figure cycle outlives its last name"
        hooks[0](None)  # the cell ends
        assert gone() is None
    finally:
        gc.enable()


def test_outside_a_kernel_nothing_is_registered_or_frozen(monkeypatch):
    import gc

    freezes = []
    monkeypatch.setattr(runtime, "_frozen", False)
    monkeypatch.setattr(gc, "freeze", lambda: freezes.append(1))
    monkeypatch.delitem(__import__("sys").modules, "IPython", raising=False)
    assert runtime.free_memory_after_each_cell() is False
    assert freezes == []
