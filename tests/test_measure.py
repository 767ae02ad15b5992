"""course_utils.measure: what autograd keeps for backward, and forward timing."""

from __future__ import annotations

import time

import pytest
import torch
from torch import nn

from course_utils.measure import (
    GRAD_MODES,
    grad_context,
    interleaved_times,
    saved_tensor_bytes,
    time_per_call,
)


@pytest.fixture
def model_and_input():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 1)), torch.randn(10, 3)


def test_grad_saves_tensors_no_grad_and_inference_mode_save_none(model_and_input):
    model, x = model_and_input
    saved = {mode: saved_tensor_bytes(lambda: model(x), mode) for mode in GRAD_MODES}
    assert saved["grad"] > 0
    assert saved["no_grad"] == 0 and saved["inference_mode"] == 0


def test_default_is_grad(model_and_input):
    model, x = model_and_input
    assert saved_tensor_bytes(lambda: model(x)) == saved_tensor_bytes(lambda: model(x), "grad") > 0


def test_exact_bytes_for_simple_ops():
    x = torch.randn(10, 3, requires_grad=True)
    assert saved_tensor_bytes(lambda: torch.relu(x)) == 10 * 3 * 4  # keeps its output
    assert saved_tensor_bytes(lambda: x * x) == 10 * 3 * 4  # x saved twice, counted once
    assert saved_tensor_bytes(lambda: x * 2) == 0  # the gradient is just 2
    weight_only = nn.Linear(3, 5, bias=False)
    assert saved_tensor_bytes(lambda: weight_only(torch.randn(10, 3))) == 10 * 3 * 4  # the input


def test_bytes_grow_with_batch_size(model_and_input):
    model, _ = model_and_input
    small = saved_tensor_bytes(lambda: model(torch.randn(10, 3)))
    large = saved_tensor_bytes(lambda: model(torch.randn(20, 3)))
    assert large > small


def test_grad_mode_is_forced_and_then_restored(model_and_input):
    model, x = model_and_input
    with torch.no_grad():
        assert saved_tensor_bytes(lambda: model(x), "grad") > 0
        assert not torch.is_grad_enabled()
    assert saved_tensor_bytes(lambda: model(x), "no_grad") == 0
    assert torch.is_grad_enabled() and not torch.is_inference_mode_enabled()


def test_grad_context():
    with grad_context("no_grad"):
        assert not torch.is_grad_enabled()
    with grad_context("inference_mode"):
        assert torch.is_inference_mode_enabled()
    with torch.no_grad(), grad_context("grad"):
        assert torch.is_grad_enabled()


@pytest.mark.parametrize("bad", ["eval", "train", "", "no grad"])
def test_bad_grad_mode(bad):
    with pytest.raises(
        ValueError, match="grad_mode must be one of \\('grad', 'no_grad', 'inference_mode'\\)"
    ):
        saved_tensor_bytes(lambda: None, bad)
    with pytest.raises(ValueError, match="grad_mode must be one of"):
        time_per_call(lambda: None, bad, repeats=1, warmup=0)


def test_fn_must_be_callable(model_and_input):
    model, x = model_and_input
    with pytest.raises(TypeError, match="fn must be a callable taking no arguments, got Tensor"):
        saved_tensor_bytes(model(x))
    with pytest.raises(TypeError, match="fn must be a callable"):
        time_per_call(model(x))


def test_time_per_call_runs_warmup_plus_repeats():
    calls = []
    seconds = time_per_call(
        lambda: calls.append(torch.is_grad_enabled()), "no_grad", repeats=4, warmup=2
    )
    assert isinstance(seconds, float) and seconds >= 0
    assert calls == [False] * 6


def test_time_per_call_none_keeps_the_grad_mode():
    calls = []
    with torch.no_grad():
        time_per_call(lambda: calls.append(torch.is_grad_enabled()), None, repeats=2, warmup=0)
    time_per_call(lambda: calls.append(torch.is_grad_enabled()), None, repeats=1, warmup=0)
    assert calls == [False, False, True]


def test_time_per_call_measures_time():
    assert time_per_call(lambda: time.sleep(0.01), repeats=3, warmup=0) >= 0.009


@pytest.mark.parametrize(("repeats", "warmup"), [(0, 1), (3, -1), (2.5, 0)])
def test_time_per_call_validation(repeats, warmup):
    with pytest.raises(ValueError, match="repeats must be >= 1 and warmup >= 0"):
        time_per_call(lambda: None, repeats=repeats, warmup=warmup)


def test_exclude_leaves_out_tensors_that_exist_anyway():
    x = torch.randn(10, 3)
    layer = nn.Linear(3, 5, bias=False)
    # a Linear saves its input (for the weight gradient) and a reference to its weight
    assert saved_tensor_bytes(lambda: layer(x.requires_grad_(False))) == 10 * 3 * 4
    assert saved_tensor_bytes(lambda: layer(x), exclude=[x]) == 0
    model = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 1))
    everything = saved_tensor_bytes(lambda: model(x))
    added = saved_tensor_bytes(lambda: model(x), exclude=[*model.parameters(), x])
    assert added == 10 * 8 * 4  # the ReLU output, the one activation kept only for backward
    assert 0 < added < everything
    assert saved_tensor_bytes(lambda: model(x), exclude=x) == everything - 10 * 3 * 4  # one tensor is fine
    assert saved_tensor_bytes(lambda: model(x), "no_grad", exclude=[x]) == 0


def test_exclude_must_hold_tensors():
    with pytest.raises(TypeError, match="exclude must be an iterable of tensors"):
        saved_tensor_bytes(lambda: None, exclude=3)
    with pytest.raises(TypeError, match="exclude must hold only tensors .*got a Linear"):
        saved_tensor_bytes(lambda: None, exclude=[nn.Linear(2, 2)])


def test_interleaved_times_alternates_and_rotates():
    order = []
    fns = {name: (lambda name=name: order.append(name)) for name in "abc"}
    result = interleaved_times(fns, repeats=3, warmup=1)
    assert set(result) == {"a", "b", "c"} and all(v >= 0 for v in result.values())
    # 4 rounds, every variant once per round, the starting variant rotating
    assert order == list("abc" "bca" "cab" "abc")


def test_interleaved_times_medians_follow_the_work():
    result = interleaved_times(
        {"fast": lambda: None, "slow": lambda: time.sleep(0.005)}, repeats=5, warmup=0
    )
    assert result["slow"] >= 0.0045 > result["fast"]


def test_interleaved_times_runs_under_each_variants_own_context(model_and_input):
    model, x = model_and_input
    seen = {}

    def run(grad_mode):
        with grad_context(grad_mode):
            seen[grad_mode] = model(x).requires_grad

    interleaved_times({g: (lambda g=g: run(g)) for g in GRAD_MODES}, repeats=1, warmup=0)
    assert seen == {"grad": True, "no_grad": False, "inference_mode": False}


@pytest.mark.parametrize("bad", [{}, [lambda: None], None])
def test_interleaved_times_needs_a_dict_of_callables(bad):
    with pytest.raises(TypeError, match="fns must be a non-empty dict mapping a name to a callable"):
        interleaved_times(bad)


def test_interleaved_times_rejects_a_non_callable():
    with pytest.raises(TypeError, match="fns\\['b'\\] must be a callable taking no arguments, got int"):
        interleaved_times({"a": lambda: None, "b": 3})


@pytest.mark.parametrize(("repeats", "warmup"), [(0, 1), (3, -1), (2.5, 0), (True, 0)])
def test_interleaved_times_validation(repeats, warmup):
    with pytest.raises(ValueError, match="repeats must be >= 1 and warmup >= 0"):
        interleaved_times({"a": lambda: None}, repeats=repeats, warmup=warmup)


def test_interleaved_times_relative_to_gives_per_round_ratios():
    result = interleaved_times(
        {"base": lambda: time.sleep(0.002), "double": lambda: time.sleep(0.004)},
        repeats=5,
        warmup=1,
        relative_to="base",
    )
    assert result["base"] == 1.0
    assert 1.5 < result["double"] < 2.5


def test_interleaved_times_relative_to_must_name_a_variant():
    with pytest.raises(ValueError, match="relative_to must be one of the names in fns \\['a'\\]"):
        interleaved_times({"a": lambda: None}, relative_to="b")


@pytest.mark.parametrize("device", ["cuda", "mps"])
def test_timers_wait_for_a_gpu_before_reading_the_clock(monkeypatch, device):
    """Both timers synchronise CUDA and MPS (GPU calls return before the work is done)."""
    waits = []
    if device == "cuda":
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "synchronize", lambda: waits.append("cuda"))
    else:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
        monkeypatch.setattr(torch.mps, "synchronize", lambda: waits.append("mps"))
    time_per_call(lambda: None, repeats=2, warmup=1)
    assert waits == [device] * 3
    waits.clear()
    interleaved_times({"a": lambda: None}, repeats=2, warmup=1)
    assert waits == [device] * 6
