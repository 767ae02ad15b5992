"""Checkers for notebook 02 · which modules change with the mode.

* :func:`check_exercise_1`: ``channel_dropout(x, p, training)``, what
  ``nn.Dropout2d`` does, by hand, for tensors ``(N, C, ...)``
* :func:`check_exercise_2`: ``update_running_stats(running_mean, running_var, batch, momentum)``,
  one BatchNorm running-statistics update for batches ``(N, C, ...)``, compared
  with ``nn.BatchNorm1d`` / ``nn.BatchNorm2d`` themselves
* :func:`check_exercise_3`: ``GaussianDropout(p)``, a layer that multiplies by
  noise of mean 1 in train mode only
* :func:`check_exercise_4`: ``changes_with_mode(module, x)``, whether a module's
  output depends on the mode (randomness aside), found without side effects

The checkers build their own test inputs and run under a forked random number
generator: calling one does not change the random numbers the rest of the
notebook sees. Failure messages say what the answer did and what was expected,
never the code to write.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

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


def _names_used(fn: object) -> set[str]:
    """Every global or attribute name a function's code (nested code included) refers to."""
    code = getattr(fn, "__code__", None)
    names: set[str] = set()
    todo = [code] if isinstance(code, types.CodeType) else []
    while todo:
        current = todo.pop()
        names.update(current.co_names)
        todo.extend(c for c in current.co_consts if isinstance(c, types.CodeType))
    return names


#: PyTorch's own dropout functions and layers, which exercise 1 asks the learner to do without.
_TORCH_DROPOUTS = {
    "dropout", "dropout1d", "dropout2d", "dropout3d", "feature_dropout", "native_dropout",
    "alpha_dropout", "feature_alpha_dropout", "Dropout", "Dropout1d", "Dropout2d", "Dropout3d",
    "AlphaDropout", "FeatureAlphaDropout",
}


# ---------------------------------------------------------------------------
# Exercise 1: channel dropout by hand
# ---------------------------------------------------------------------------


def check_exercise_1(channel_dropout: Callable[[torch.Tensor, float, bool], torch.Tensor]) -> CheckResult:
    """Check ``channel_dropout(x, p, training)`` against what ``nn.Dropout2d`` does."""
    with sandbox(_SEED):
        maps = torch.full((200, 50, 2, 2), 3.0)  # 10,000 (sample, channel) pairs of 2x2 maps
        seqs = torch.full((100, 40, 5), 3.0)
        ramp = torch.linspace(-2.0, 2.0, 4_000).reshape(10, 8, 50)

        def run(inp: torch.Tensor, p: float, training: bool) -> torch.Tensor:
            return _as_tensor(channel_dropout(inp, p, training), inp, "the result")

        def by_hand() -> object:
            used = sorted(_names_used(channel_dropout) & _TORCH_DROPOUTS)
            if used:
                return f"channel_dropout calls PyTorch's {used[0]}; the exercise asks you to build the mask yourself"
            return None

        def input_untouched() -> object:
            inp = ramp.clone()
            run(inp, 0.5, True)
            if not torch.equal(inp, ramp):
                return "the input tensor was changed in place; the caller's tensor must stay as it was"
            return None

        def eval_is_identity() -> object:
            out = run(ramp, 0.5, False)
            if not torch.equal(out, ramp):
                return "with training=False the output must equal the input exactly (the identity in eval mode)"
            return None

        def whole_channels(inp: torch.Tensor, what: str) -> Callable[[], object]:
            def check() -> object:
                out = run(inp, 0.5, True)
                flat = out.flatten(2)
                if not torch.equal(flat.amax(dim=2), flat.amin(dim=2)):
                    return (
                        f"on {what} some channels were partly zeroed: every (sample, channel) map must be "
                        "kept or dropped as a whole"
                    )
                values = set(torch.unique(out).tolist())
                if values == {0.0, 3.0}:
                    return "the kept values are still 3.0; with p=0.5 the kept channels must be scaled up to 6.0"
                if not values <= {0.0, 6.0}:
                    return f"with x=3 and p=0.5 every output should be 0.0 or 6.0, got values such as {sorted(values)[:5]}"
                if values == {6.0}:
                    return "nothing was zeroed with training=True and p=0.5"
                return None

            return check

        def per_sample() -> object:
            kept = run(maps, 0.5, True)[:, :, 0, 0] != 0  # (samples, channels)
            if torch.equal(kept, kept[:1].expand_as(kept)):
                return (
                    "every sample lost the same channels: the mask must be drawn for each (sample, channel) "
                    "pair, not once per channel"
                )
            if torch.equal(kept, kept[:, :1].expand_as(kept)):
                return "within a sample all channels were kept or dropped together: draw one decision per channel"
            return None

        def drop_rate(p: float) -> Callable[[], object]:
            def check() -> object:
                dropped = float((run(maps, p, True)[:, :, 0, 0] == 0).float().mean())
                if abs(dropped - (1 - p)) < 0.03 and abs(dropped - p) >= 0.03:
                    return f"with p={p} you dropped {dropped:.1%} of the channels: p is the probability of dropping"
                if abs(dropped - p) >= 0.03:
                    return f"with p={p} about {p:.0%} of the channels should be dropped, you dropped {dropped:.1%}"
                return None

            return check

        def p_zero() -> object:
            if not torch.allclose(run(ramp, 0.0, True), ramp):
                return "with p=0 nothing is dropped and the scale is 1: the output must equal the input"
            return None

        def p_one() -> object:
            out = run(ramp, 1.0, True)
            if torch.isnan(out).any():
                return "with p=1 your output contains nan; nn.Dropout2d(1.0) returns zeros (every channel dropped)"
            if torch.count_nonzero(out):
                return "with p=1 every channel is dropped, so the output must be all zeros"
            return None

        def small_batches() -> object:
            one = run(torch.ones(1, 6, 3), 0.5, True)
            if not torch.equal(one.amax(dim=2), one.amin(dim=2)):
                return "on a batch of one sample some channels were partly zeroed"
            empty = run(torch.ones(0, 6, 4, 4), 0.5, True)
            return None if empty.numel() == 0 else "an empty batch should give an empty output"

        def random_each_call() -> object:
            if torch.equal(run(maps, 0.5, True), run(maps, 0.5, True)):
                return "two calls gave the same mask: each call must draw a new one"
            return None

        return run_checks(
            "2.1 (channel_dropout)",
            [
                ("channel_dropout is a function", _is_function(channel_dropout, "channel_dropout")),
                ("the mask is built by hand", by_hand),
                ("the input is not modified", input_untouched),
                ("eval mode is the identity", eval_is_identity),
                ("images (N, C, H, W): whole channels, kept ones scaled", whole_channels(maps, "images (N, C, H, W)")),
                ("sequences (N, C, L): whole channels", whole_channels(seqs, "sequences (N, C, L)")),
                ("a new decision per sample and channel", per_sample),
                ("about p of the channels are dropped (p=0.2)", drop_rate(0.2)),
                ("about p of the channels are dropped (p=0.7)", drop_rate(0.7)),
                ("p=0 changes nothing", p_zero),
                ("p=1 drops everything (zeros, no nan)", p_one),
                ("a batch of one, and an empty batch", small_batches),
                ("a new mask every call", random_each_call),
            ],
            hint=(
                "one random decision per (sample, channel) pair decides for the whole map behind it; the "
                "kept maps are scaled so that the expected output equals the input. Check what your "
                "scale factor becomes at p=1."
            ),
        )


# ---------------------------------------------------------------------------
# Exercise 2: one running-statistics update, any BatchNorm shape
# ---------------------------------------------------------------------------


def _reference_update(
    running_mean: torch.Tensor, running_var: torch.Tensor, batch: torch.Tensor, momentum: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """What ``nn.BatchNorm1d`` / ``nn.BatchNorm2d`` itself does to its buffers on one train-mode pass."""
    layer = (nn.BatchNorm2d if batch.dim() == 4 else nn.BatchNorm1d)(batch.shape[1], momentum=momentum)
    with torch.no_grad():
        layer.running_mean.copy_(running_mean)
        layer.running_var.copy_(running_var)
        layer.train()(batch)
    return layer.running_mean.clone(), layer.running_var.clone()


def _per_channel(batch: torch.Tensor) -> torch.Tensor:
    """``(N, C, ...)`` as ``(C, N * ...)``: every value of a channel in one row."""
    return batch.transpose(0, 1).reshape(batch.shape[1], -1)


def check_exercise_2(update_running_stats: Callable[..., tuple[torch.Tensor, torch.Tensor]]) -> CheckResult:
    """Check ``update_running_stats`` against real BatchNorm layers on several batch shapes."""
    with sandbox(_SEED):
        cases = {
            "a batch (16, 3), momentum 0.1": (torch.zeros(3), torch.ones(3), torch.randn(16, 3) * 2 + 5, 0.1),
            "images (4, 2, 3, 3), momentum 0.3": (
                torch.tensor([1.0, -2.0]), torch.tensor([0.5, 4.0]), torch.randn(4, 2, 3, 3) * 3 - 1, 0.3,
            ),
            "ONE image (1, 3, 4, 4), momentum 0.1": (torch.zeros(3), torch.ones(3), torch.randn(1, 3, 4, 4) + 2, 0.1),
            "sequences (2, 4, 5), momentum 1.0": (torch.randn(4), torch.rand(4) + 0.5, torch.randn(2, 4, 5), 1.0),
            "images (8, 2, 2, 2), momentum 0.0": (torch.randn(2), torch.rand(2) + 0.5, torch.randn(8, 2, 2, 2), 0.0),
        }

        def returns_pair() -> object:
            mean, var, batch, m = cases["a batch (16, 3), momentum 0.1"]
            result = update_running_stats(mean.clone(), var.clone(), batch, m)
            if not isinstance(result, tuple | list) or len(result) != 2:
                return f"expected a pair (new_mean, new_var), got {type(result).__name__}"
            _as_tensor(result[0], mean, "new_mean")
            _as_tensor(result[1], var, "new_var")
            return None

        def matches(what: str) -> Callable[[], object]:
            def check() -> object:
                mean, var, batch, m = cases[what]
                result = update_running_stats(mean.clone(), var.clone(), batch, m)
                if not isinstance(result, tuple | list) or len(result) != 2:
                    return f"on {what}: expected a pair (new_mean, new_var), got {type(result).__name__}"
                new_mean = _as_tensor(result[0], mean, f"on {what}, new_mean")
                new_var = _as_tensor(result[1], var, f"on {what}, new_var")
                ref_mean, ref_var = _reference_update(mean, var, batch, m)
                values = _per_channel(batch)
                if not torch.allclose(new_mean, ref_mean, atol=1e-5):
                    if torch.allclose(new_mean, m * mean + (1 - m) * values.mean(1), atol=1e-5):
                        return (
                            f"on {what} your running mean gives the weight momentum to the OLD value; in "
                            "PyTorch momentum is the weight of the new batch"
                        )
                    return f"on {what} the running mean should be {ref_mean.tolist()}, got {new_mean.tolist()}"
                if not torch.allclose(new_var, ref_var, atol=1e-5):
                    if torch.allclose(new_var, (1 - m) * var + m * values.var(1, unbiased=False), atol=1e-5):
                        return (
                            f"on {what} the running variance used the biased variance (divide by the count); "
                            "BatchNorm stores the unbiased one (divide by the count minus one)"
                        )
                    if batch.dim() > 2 and batch.shape[0] > 1:
                        per_sample = (1 - m) * var + m * batch.flatten(2).var(2).mean(0)
                        if torch.allclose(new_var, per_sample, atol=1e-4):
                            return (
                                f"on {what} the running variance averages each sample's own variance; BatchNorm "
                                "takes one variance over all values of a channel, across samples and positions"
                            )
                    return f"on {what} the running variance should be {ref_var.tolist()}, got {new_var.tolist()}"
                return None

            return check

        def inputs_untouched() -> object:
            mean, var, batch, m = cases["images (4, 2, 3, 3), momentum 0.3"]
            mean_in, var_in, batch_in = mean.clone(), var.clone(), batch.clone()
            update_running_stats(mean_in, var_in, batch_in, m)
            for name, got, want in (("running_mean", mean_in, mean), ("running_var", var_in, var),
                                    ("batch", batch_in, batch)):
                if not torch.equal(got, want):
                    return f"{name} was changed in place; the caller's tensors must stay as they were"
            return None

        return run_checks(
            "2.2 (update_running_stats)",
            [
                ("update_running_stats is a function", _is_function(update_running_stats, "update_running_stats")),
                ("returns (new_mean, new_var) of the right shape", returns_pair),
                *((f"matches BatchNorm on {what}", matches(what)) for what in cases),
                ("the inputs are not modified", inputs_untouched),
            ],
            hint=(
                "a channel's statistics are taken over every value that channel holds in the batch: all "
                "samples and, for images and sequences, all positions. The count that the unbiased "
                "variance divides by is that number of values minus one."
            ),
        )


# ---------------------------------------------------------------------------
# Exercise 3: Gaussian dropout, a layer that respects the mode
# ---------------------------------------------------------------------------


def check_exercise_3(layer_class: type) -> CheckResult:
    """Check a ``GaussianDropout(p)`` class: multiplicative noise of mean 1 in train mode, identity in eval."""
    with sandbox(_SEED):
        x = torch.cat([torch.linspace(1.0, 1.5, 20_000), torch.linspace(2.5, 3.0, 20_000)]).reshape(200, 200)
        made: dict[float, nn.Module] = {}

        def layer(p: float) -> nn.Module:
            if p not in made:
                made[p] = layer_class(p=p)
            return made[p]

        def is_module_class() -> object:
            if not (inspect.isclass(layer_class) and issubclass(layer_class, nn.Module)):
                return "pass the class itself (GaussianDropout), a subclass of nn.Module, not an instance"
            layer(0.5)
            return None

        def run(p: float, training: bool, inp: torch.Tensor = x) -> torch.Tensor:
            with torch.no_grad():
                return _as_tensor(layer(p).train(training)(inp), inp, "the output")

        def input_untouched() -> object:
            inp = x.clone()
            run(0.5, True, inp)
            if not torch.equal(inp, x):
                return "the input was changed in place; the caller's tensor must stay as it was"
            return None

        def eval_identity() -> object:
            if not torch.equal(run(0.5, False), x):
                return "in eval mode the layer must return its input unchanged"
            return None

        def noise(p: float) -> Callable[[], object]:
            want = (p / (1 - p)) ** 0.5

            def check() -> object:
                factor = run(p, True) / x
                if torch.equal(factor, torch.ones_like(factor)):
                    return f"with p={p} in train mode the output equals the input: no noise was applied"
                small, large = factor[:100].flatten(), factor[100:].flatten()
                if abs(float(small.std()) - float(large.std())) > 0.1 * want:
                    return (
                        "the noise does not scale with the input: small inputs got relatively more noise than "
                        "large ones, as if it were added rather than multiplied"
                    )
                mean, std = float(factor.mean()), float(factor.std())
                if abs(mean - 1) > 0.03:
                    return f"with p={p} the output divided by the input should average 1, got {mean:.3f}"
                if abs(std - want) > 0.03 * want + 0.01:
                    return (
                        f"with p={p} the output divided by the input should have standard deviation "
                        f"{want:.3f}, got {std:.3f}"
                    )
                return None

            return check

        def p_zero() -> object:
            if not torch.allclose(run(0.0, True), x):
                return "with p=0 there is no noise: in train mode the output must equal the input"
            return None

        def new_noise_each_call() -> object:
            if torch.equal(run(0.5, True), run(0.5, True)):
                return "two train-mode calls applied the same noise: each call must draw new noise"
            return None

        def follows_parent() -> object:
            inner = layer(0.5).train()
            model = nn.Sequential(nn.Identity(), inner).eval()
            with torch.no_grad():
                if not torch.equal(model(x), x):
                    return "inside a model switched with model.eval() the layer still applies noise"
                model.train()
                if torch.equal(model(x), x):
                    return "inside a model switched back with model.train() the layer applies no noise"
            return None

        def other_shapes() -> object:
            for shape in ((1, 5), (2, 3, 4, 4), (0, 7)):
                inp = torch.ones(shape)
                with torch.no_grad():
                    _as_tensor(layer(0.5).train()(inp), inp, f"on an input of shape {shape} the output")
            return None

        return run_checks(
            "2.3 (GaussianDropout)",
            [
                ("GaussianDropout is an nn.Module class taking p", is_module_class),
                ("the input is not modified", input_untouched),
                ("eval mode returns the input", eval_identity),
                ("train mode, p=0.5: noise of mean 1 and std 1", noise(0.5)),
                ("train mode, p=0.2: noise of mean 1 and std 0.5", noise(0.2)),
                ("p=0: no noise", p_zero),
                ("new noise on every call", new_noise_each_call),
                ("model.eval() / model.train() on a parent switch it", follows_parent),
                ("any input shape, a batch of one, an empty batch", other_shapes),
            ],
            hint=(
                "the layer needs to know, at every call, which mode the model around it is in, and the "
                "noise multiplies each value: its spread is set by p alone."
            ),
        )


# ---------------------------------------------------------------------------
# Exercise 4: does a module change with the mode? (randomness aside, without side effects)
# ---------------------------------------------------------------------------


class _AlwaysDropout(nn.Module):
    """Drops in both modes (the F.dropout pitfall): random, but not mode-dependent."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.dropout(x, 0.5)


class _HelperReadsMode(nn.Module):
    """Reads ``self.training`` only inside a helper method: doubles its input in train mode."""

    def scale(self) -> float:
        return 2.0 if self.training else 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale()


class _NoisyBothScaledInTrain(nn.Module):
    """Random noise in both modes, and a factor 3 in train mode only: mode-dependent."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        noisy = x + torch.randn_like(x)
        return noisy * 3 if self.training else noisy


def _flags(module: nn.Module) -> list[bool]:
    return [m.training for m in module.modules()]


def _buffers(module: nn.Module) -> list[torch.Tensor]:
    return [b.clone() for b in module.buffers()]


def check_exercise_4(changes_with_mode: Callable[[nn.Module, torch.Tensor], bool]) -> CheckResult:
    """Check ``changes_with_mode(module, x) -> bool`` on modules with known answers."""
    with sandbox(_SEED):
        x = torch.randn(8, 6) * 2 + 1

        def answer(module: nn.Module, expected: bool, what: str, why: str = "") -> Callable[[], object]:
            def check() -> object:
                got = changes_with_mode(module, x)
                if not isinstance(got, bool):
                    return f"expected True or False (a Python bool), got {type(got).__name__}"
                if got != expected:
                    says = "depends" if expected else "does not depend"
                    return f"{what} {says} on the mode{why}, but you returned {got}"
                return None

            return check

        def leaves_no_trace(module: nn.Module, what: str) -> Callable[[], object]:
            def check() -> object:
                flags, buffers = _flags(module), _buffers(module)
                changes_with_mode(module, x)
                if _flags(module) != flags:
                    return f"on {what} the modes were changed: the module must come back in the mode(s) it had"
                after = _buffers(module)
                if any(not torch.equal(a, b) for a, b in zip(buffers, after, strict=True)):
                    return (
                        f"on {what} the BatchNorm running statistics changed: a train-mode pass ran on the "
                        "caller's module"
                    )
                return None

            return check

        def leaves_the_generator() -> object:
            torch.rand(7)  # a caller mid-way through their random numbers, not at a fresh seed
            state = torch.random.get_rng_state()
            changes_with_mode(nn.Dropout(0.5), x)
            if not torch.equal(state, torch.random.get_rng_state()):
                return (
                    "after your function the global random number generator is not where it was: the "
                    "caller's next random numbers (their dropout masks, shuffles, initial weights) come "
                    "out differently just because they asked this question"
                )
            return None

        bn_eval = nn.BatchNorm1d(6).eval()
        mixed = nn.Sequential(nn.Linear(6, 6), nn.BatchNorm1d(6), nn.Dropout(0.3))
        mixed[1].eval()
        return run_checks(
            "2.4 (changes_with_mode)",
            [
                ("changes_with_mode is a function", _is_function(changes_with_mode, "changes_with_mode")),
                ("Dropout(0.5)", answer(nn.Dropout(0.5), True, "Dropout(0.5)")),
                ("Linear", answer(nn.Linear(6, 3), False, "Linear(6, 3)")),
                ("LayerNorm", answer(nn.LayerNorm(6), False, "LayerNorm(6)")),
                ("BatchNorm1d", answer(nn.BatchNorm1d(6), True, "a fresh BatchNorm1d(6)")),
                ("RReLU", answer(nn.RReLU(), True, "RReLU()")),
                ("Dropout(p=0)", answer(nn.Sequential(nn.Linear(6, 6), nn.Dropout(0.0)), False,
                                        "Linear followed by Dropout(p=0)")),
                ("BatchNorm1d without running statistics",
                 answer(nn.BatchNorm1d(6, track_running_stats=False), False,
                        "BatchNorm1d(6, track_running_stats=False)", " (batch statistics in both modes)")),
                ("a layer that drops in both modes",
                 answer(_AlwaysDropout(), False, "a layer that calls F.dropout without training=",
                        " (it is random, but with the same random numbers both modes give the same output)")),
                ("a custom layer that reads the flag in a helper method",
                 answer(_HelperReadsMode(), True, "a layer whose helper method reads the mode flag",
                        " (it doubles its input in train mode)")),
                ("a layer that is random in both modes and scales in train mode",
                 answer(_NoisyBothScaledInTrain(), True, "a layer that adds noise in both modes and triples in train mode")),
                ("a BatchNorm in eval mode is left as it was", leaves_no_trace(bn_eval, "a BatchNorm in eval mode")),
                ("a mixed-mode model is left as it was", leaves_no_trace(mixed, "a mixed-mode model")),
                ("the caller's random numbers are left alone", leaves_the_generator),
            ],
            hint=(
                "two passes of a random layer differ even in the same mode. To see the mode alone, the "
                "train-mode and the eval-mode pass must draw the same random numbers, and neither may "
                "touch the caller's module."
            ),
        )
