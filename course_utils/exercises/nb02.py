"""Checkers for notebook 02 · which modules change with the mode.

* :func:`check_exercise_1`: ``inverted_dropout(x, p, training)``, dropout by hand
* :func:`check_exercise_2`: ``update_running_stats(running_mean, running_var, batch, momentum)``,
  one BatchNorm running-statistics update, compared with ``nn.BatchNorm1d`` itself
* :func:`check_exercise_3`: ``GaussianNoise(std)``, a layer that adds noise in train
  mode only
* :func:`check_exercise_4`: ``changes_with_mode(module, x)``, whether a module's
  output depends on the mode, found without side effects

The checkers build their own test inputs and run under a forked random number
generator: calling one does not change the random numbers the rest of the
notebook sees.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import torch
from torch import nn

from ..modes import mode_report
from ._core import CheckResult, run_checks, sandbox
from ._core import is_function as _is_function

__all__ = ["check_exercise_1", "check_exercise_2", "check_exercise_3", "check_exercise_4"]

_SEED = 2024


def _as_tensor(result: object, like: torch.Tensor, what: str) -> torch.Tensor:
    if not isinstance(result, torch.Tensor):
        raise AssertionError(f"{what} should be a tensor, got {type(result).__name__}")
    if result.shape != like.shape:
        raise AssertionError(f"{what} has shape {tuple(result.shape)}, expected {tuple(like.shape)}")
    return result


# ---------------------------------------------------------------------------
# Exercise 1: inverted dropout by hand
# ---------------------------------------------------------------------------


def check_exercise_1(inverted_dropout: Callable[[torch.Tensor, float, bool], torch.Tensor]) -> CheckResult:
    """Check ``inverted_dropout(x, p, training)`` against what ``nn.Dropout`` does."""
    with sandbox(_SEED):
        x = torch.full((200, 200), 3.0)
        ramp = torch.linspace(-2.0, 2.0, 40_000).reshape(200, 200)

        def run(inp: torch.Tensor, p: float, training: bool) -> torch.Tensor:
            return _as_tensor(inverted_dropout(inp, p, training), inp, "the result")

        def eval_is_identity() -> object:
            out = run(ramp, 0.5, False)
            if not torch.equal(out, ramp):
                return "with training=False the output must equal the input exactly (dropout is the identity in eval mode)"
            return None

        def values_zero_or_scaled() -> object:
            out = run(x, 0.5, True)
            values = set(torch.unique(out).tolist())
            if values == {0.0, 3.0}:
                return (
                    "the kept values are still 3.0: inverted dropout divides them by (1 - p), "
                    "so with p=0.5 they become 6.0"
                )
            if values == {3.0}:
                return "nothing was zeroed with training=True and p=0.5"
            if not values <= {0.0, 6.0}:
                shown = sorted(values)[:5]
                return f"with x=3 and p=0.5 every output should be 0.0 or 6.0, got values such as {shown}"
            return None

        def drop_rate(p: float) -> Callable[[], object]:
            def check() -> object:
                out = run(x, p, True)
                dropped = float((out == 0).float().mean())
                if abs(dropped - (1 - p)) < 0.02 and abs(dropped - p) >= 0.02:
                    return (
                        f"with p={p} you zeroed {dropped:.1%} of the values: p is the probability "
                        "of DROPPING a value, not of keeping it"
                    )
                if abs(dropped - p) >= 0.02:
                    return f"with p={p} about {p:.0%} of the values should be zero, you zeroed {dropped:.1%}"
                return None

            return check

        def keeps_the_mean() -> object:
            out = run(ramp + 1.0, 0.3, True)
            mean = float(out.mean())
            if abs(mean - 1.0) > 0.05:
                return f"the mean of the output should stay close to the input's mean 1.0, got {mean:.3f}"
            return None

        def p_zero_is_identity() -> object:
            out = run(ramp, 0.0, True)
            if not torch.allclose(out, ramp):
                return "with p=0 nothing is dropped and the scale is 1: the output must equal the input"
            return None

        def random_each_call() -> object:
            first, second = run(x, 0.5, True), run(x, 0.5, True)
            if torch.equal(first, second):
                return "two calls gave the same mask: draw a new random mask on every call"
            return None

        def input_untouched() -> object:
            inp = ramp.clone()
            run(inp, 0.5, True)
            if not torch.equal(inp, ramp):
                return "the input tensor was changed in place: build a new tensor (x * mask / (1 - p))"
            return None

        return run_checks(
            "1 (inverted_dropout)",
            [
                ("inverted_dropout is a function", _is_function(inverted_dropout, "inverted_dropout")),
                ("the input is not modified", input_untouched),
                ("eval mode is the identity", eval_is_identity),
                ("train mode: zeros and x / (1 - p)", values_zero_or_scaled),
                ("about p of the values are dropped (p=0.2)", drop_rate(0.2)),
                ("about p of the values are dropped (p=0.7)", drop_rate(0.7)),
                ("the mean is kept", keeps_the_mean),
                ("p=0 changes nothing", p_zero_is_identity),
                ("a new mask every call", random_each_call),
            ],
            hint=(
                "if not training, return x. Otherwise draw keep = (torch.rand_like(x) >= p) "
                "(True with probability 1 - p) and return x * keep / (1 - p)."
            ),
        )


# ---------------------------------------------------------------------------
# Exercise 2: one running-statistics update
# ---------------------------------------------------------------------------


def _reference_update(
    running_mean: torch.Tensor, running_var: torch.Tensor, batch: torch.Tensor, momentum: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """What ``nn.BatchNorm1d`` itself does to its buffers on one train-mode pass."""
    bn = nn.BatchNorm1d(batch.shape[1], momentum=momentum)
    with torch.no_grad():
        bn.running_mean.copy_(running_mean)
        bn.running_var.copy_(running_var)
        bn.train()(batch)
    return bn.running_mean.clone(), bn.running_var.clone()


def check_exercise_2(update_running_stats: Callable[..., tuple[torch.Tensor, torch.Tensor]]) -> CheckResult:
    """Check ``update_running_stats`` against a real ``nn.BatchNorm1d`` on several batches."""
    with sandbox(_SEED):
        cases = [
            (torch.zeros(3), torch.ones(3), torch.randn(16, 3) * 2 + 5, 0.1),
            (torch.tensor([1.0, -2.0]), torch.tensor([0.5, 4.0]), torch.randn(4, 2) * 3 - 1, 0.3),
            (torch.randn(5), torch.rand(5) + 0.5, torch.randn(8, 5), 1.0),
        ]

        def returns_pair() -> object:
            mean, var, batch, m = cases[0]
            result = update_running_stats(mean.clone(), var.clone(), batch, m)
            if not isinstance(result, tuple | list) or len(result) != 2:
                return f"return a pair (new_mean, new_var), got {type(result).__name__}"
            _as_tensor(result[0], mean, "new_mean")
            _as_tensor(result[1], var, "new_var")
            return None

        def matches(index: int) -> Callable[[], object]:
            def check() -> object:
                mean, var, batch, m = cases[index]
                new_mean, new_var = update_running_stats(mean.clone(), var.clone(), batch, m)
                ref_mean, ref_var = _reference_update(mean, var, batch, m)
                if not torch.allclose(new_mean, ref_mean, atol=1e-5):
                    swapped = m * mean + (1 - m) * batch.mean(0)
                    if torch.allclose(new_mean, swapped, atol=1e-5):
                        return (
                            f"with momentum={m} your running mean weighs the OLD value by m: PyTorch "
                            "uses new = (1 - momentum) * old + momentum * batch_mean"
                        )
                    return f"with momentum={m} the running mean should be {ref_mean.tolist()}, got {new_mean.tolist()}"
                if not torch.allclose(new_var, ref_var, atol=1e-5):
                    biased = (1 - m) * var + m * batch.var(0, unbiased=False)
                    if torch.allclose(new_var, biased, atol=1e-5):
                        return (
                            "the running variance used the biased batch variance (divide by N); "
                            "BatchNorm stores the unbiased one (divide by N - 1): batch.var(dim=0)"
                        )
                    return f"with momentum={m} the running variance should be {ref_var.tolist()}, got {new_var.tolist()}"
                return None

            return check

        def inputs_untouched() -> object:
            mean, var, batch, m = cases[1]
            mean_in, var_in, batch_in = mean.clone(), var.clone(), batch.clone()
            update_running_stats(mean_in, var_in, batch_in, m)
            for name, got, want in (("running_mean", mean_in, mean), ("running_var", var_in, var),
                                    ("batch", batch_in, batch)):
                if not torch.equal(got, want):
                    return f"{name} was changed in place: compute and return new tensors instead"
            return None

        return run_checks(
            "2 (update_running_stats)",
            [
                ("update_running_stats is a function", _is_function(update_running_stats, "update_running_stats")),
                ("returns (new_mean, new_var) of the right shape", returns_pair),
                ("matches nn.BatchNorm1d (momentum 0.1, fresh stats)", matches(0)),
                ("matches nn.BatchNorm1d (momentum 0.3, batch of 4)", matches(1)),
                ("matches nn.BatchNorm1d (momentum 1.0)", matches(2)),
                ("the inputs are not modified", inputs_untouched),
            ],
            hint=(
                "per feature (dim=0): new_mean = (1 - momentum) * running_mean + momentum * batch.mean(0), "
                "new_var = (1 - momentum) * running_var + momentum * batch.var(0) (unbiased, the default)."
            ),
        )


# ---------------------------------------------------------------------------
# Exercise 3: a noise layer that respects the mode
# ---------------------------------------------------------------------------


def check_exercise_3(layer_class: type) -> CheckResult:
    """Check a ``GaussianNoise(std)`` class: noise of that std in train mode, identity in eval mode."""
    with sandbox(_SEED):
        x = torch.linspace(-3.0, 3.0, 20_000).reshape(100, 200)
        made: list[nn.Module] = []

        def is_module_class() -> object:
            if not (inspect.isclass(layer_class) and issubclass(layer_class, nn.Module)):
                return "pass the class itself (GaussianNoise), a subclass of nn.Module, not an instance"
            made.append(layer_class(std=0.5))
            return None

        def run(training: bool) -> torch.Tensor:
            layer = made[0].train(training)
            return _as_tensor(layer(x), x, "the output")

        def eval_identity() -> object:
            if not torch.equal(run(False), x):
                return "in eval mode the layer must return its input unchanged: check self.training"
            return None

        def train_adds_noise() -> object:
            noise = run(True) - x
            if torch.count_nonzero(noise) == 0:
                return "in train mode the output equals the input: add noise when self.training is True"
            std, mean = float(noise.std()), float(noise.mean())
            if abs(std - 0.5) > 0.02:
                return f"with std=0.5 the added noise should have standard deviation 0.5, got {std:.3f}"
            if abs(mean) > 0.02:
                return f"the noise should have mean 0, got {mean:.3f}"
            return None

        def new_noise_each_call() -> object:
            if torch.equal(run(True), run(True)):
                return "two train-mode calls added the same noise: draw new noise on every call (torch.randn_like)"
            return None

        def follows_parent() -> object:
            layer = made[0].train()
            model = nn.Sequential(nn.Identity(), layer).eval()
            if not torch.equal(model(x), x):
                return (
                    "inside a model switched with model.eval() the layer still adds noise: read "
                    "self.training, which .eval() sets on every submodule"
                )
            model.train()
            if torch.equal(model(x), x):
                return "inside a model switched back with model.train() the layer adds no noise"
            return None

        def report_sees_it() -> object:
            row = mode_report(made[0])[""]
            if not row.depends_on_mode:
                return "mode_report does not see a mode dependence: the forward should read self.training"
            return None

        def input_untouched() -> object:
            inp = x.clone()
            made[0].train()(inp)
            if not torch.equal(inp, x):
                return "the input was changed in place (x += ...): return x + noise instead"
            return None

        return run_checks(
            "3 (GaussianNoise)",
            [
                ("GaussianNoise is an nn.Module class taking std", is_module_class),
                ("the input is not modified", input_untouched),
                ("eval mode returns the input", eval_identity),
                ("train mode adds N(0, std²) noise", train_adds_noise),
                ("new noise on every call", new_noise_each_call),
                ("model.eval() / model.train() on a parent switch it", follows_parent),
                ("mode_report sees that it depends on the mode", report_sees_it),
            ],
            hint=(
                "store std in __init__ (after super().__init__()); in forward, return "
                "x + torch.randn_like(x) * self.std if self.training else x."
            ),
        )


# ---------------------------------------------------------------------------
# Exercise 4: does a module change with the mode? (without side effects)
# ---------------------------------------------------------------------------


def _flags(module: nn.Module) -> list[bool]:
    return [m.training for m in module.modules()]


def _buffers(module: nn.Module) -> list[torch.Tensor]:
    return [b.clone() for b in module.buffers()]


def check_exercise_4(changes_with_mode: Callable[[nn.Module, torch.Tensor], bool]) -> CheckResult:
    """Check ``changes_with_mode(module, x) -> bool`` on modules with known answers."""
    with sandbox(_SEED):
        x = torch.randn(8, 6) * 2 + 1

        def answer(module: nn.Module, expected: bool, what: str) -> Callable[[], object]:
            def check() -> object:
                got = changes_with_mode(module, x)
                if not isinstance(got, bool):
                    return f"return True or False (a Python bool, e.g. bool(...)), got {type(got).__name__}"
                if got != expected:
                    says = "changes" if expected else "does not change"
                    return f"{what} {says} with the mode, but you returned {got}"
                return None

            return check

        def leaves_no_trace(module: nn.Module, what: str) -> Callable[[], object]:
            def check() -> object:
                flags, buffers = _flags(module), _buffers(module)
                changes_with_mode(module, x)
                if _flags(module) != flags:
                    return (
                        f"on {what} the modes were changed: the module must come back in the mode(s) "
                        "it had (record every submodule's flag, or work on a copy)"
                    )
                after = _buffers(module)
                if any(not torch.equal(a, b) for a, b in zip(buffers, after, strict=True)):
                    return (
                        f"on {what} the BatchNorm running statistics changed: a train-mode pass "
                        "updates them, so run it on copy.deepcopy(module)"
                    )
                return None

            return check

        bn_eval = nn.BatchNorm1d(6).eval()
        mixed = nn.Sequential(nn.Linear(6, 6), nn.BatchNorm1d(6), nn.Dropout(0.3))
        mixed[1].eval()
        return run_checks(
            "4 (changes_with_mode)",
            [
                ("changes_with_mode is a function", _is_function(changes_with_mode, "changes_with_mode")),
                ("Dropout(0.5)", answer(nn.Dropout(0.5), True, "Dropout(0.5)")),
                ("Linear", answer(nn.Linear(6, 3), False, "Linear(6, 3)")),
                ("LayerNorm", answer(nn.LayerNorm(6), False, "LayerNorm(6)")),
                ("BatchNorm1d", answer(nn.BatchNorm1d(6), True, "a fresh BatchNorm1d(6)")),
                ("RReLU", answer(nn.RReLU(), True, "RReLU()")),
                ("Dropout(p=0)", answer(nn.Sequential(nn.Linear(6, 6), nn.Dropout(0.0)), False,
                                        "Linear followed by Dropout(p=0)")),
                ("a BatchNorm in eval mode is left as it was", leaves_no_trace(bn_eval, "a BatchNorm in eval mode")),
                ("a mixed-mode model is left as it was", leaves_no_trace(mixed, "a mixed-mode model")),
            ],
            hint=(
                "run trained = copy.deepcopy(module).train() and evaluated = copy.deepcopy(module).eval() "
                "on the same x (under torch.no_grad()), and return not torch.allclose(out_train, out_eval). "
                "Copies leave the original's modes and running statistics alone."
            ),
        )

