"""Checkers for notebook 07 · a CNN in train and eval mode.

* :func:`check_exercise_1`: ``conv_output_size(size, kernel_size, stride=1, padding=0)``,
  the side length after a convolution or pooling layer, checked against real
  ``nn.Conv2d`` and ``nn.MaxPool2d`` layers.
* :func:`check_exercise_2`: ``stable_accuracy(model, X, y, batch_size=32)``,
  validation accuracy in eval mode over mini-batches that does not depend on
  the batch size, moves no BatchNorm statistics and restores every mode.

Every checker builds its own hidden models and data inside a forked random
number generator, so calling it does not change the random numbers the rest
of the notebook sees, and it switches gradient tracking back on if the
learner's code left it off.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable

import torch
from torch import nn

from ._core import CheckResult, run_checks, sandbox
from ._core import is_function as _is_function

__all__ = ["check_exercise_1", "check_exercise_2"]

_SEED = 707


# ---------------------------------------------------------------------------
# Exercise 1: conv_output_size
# ---------------------------------------------------------------------------

# (size, kernel_size, stride, padding): plain convs, padded convs, strided convs, pools
_CASES = [
    (28, 5, 1, 0),
    (8, 3, 1, 0),
    (8, 3, 1, 1),
    (28, 5, 1, 2),
    (24, 2, 2, 0),
    (8, 2, 2, 0),
    (7, 3, 2, 0),
    (8, 3, 2, 1),
    (32, 7, 3, 3),
    (9, 4, 2, 1),
    (5, 5, 1, 0),
    (64, 3, 2, 0),
]


def _true_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """What PyTorch itself computes: run a real Conv2d on a zero image."""
    conv = nn.Conv2d(1, 1, kernel, stride=stride, padding=padding)
    with torch.no_grad():
        return conv(torch.zeros(1, 1, size, size)).shape[-1]


def _diagnose(got: object, size: int, k: int, s: int, p: int, want: int) -> str:
    call = f"conv_output_size({size}, kernel_size={k}, stride={s}, padding={p})"
    if isinstance(got, bool) or not isinstance(got, numbers.Real):
        return f"{call} returned {got!r}; return a Python int"
    if not isinstance(got, numbers.Integral):
        if abs(got - ((size + 2 * p - k) / s + 1)) < 1e-9:
            return (
                f"{call} returned {got!r}, a float: a layer cannot produce part of a pixel, "
                "so round down with floor division (//) and return an int"
            )
        return f"{call} returned the float {got!r}; return an int (use // for the division)"
    got = int(got)
    if got == want:
        return ""
    if p and got == (size - k) // s + 1:
        return f"{call} returned {got}, expected {want}: padding adds `padding` pixels on BOTH sides (2 * padding)"
    if p and got == (size + p - k) // s + 1:
        return f"{call} returned {got}, expected {want}: padding is added on both sides, so count it twice"
    if got == (size + 2 * p - k) // s:
        return f"{call} returned {got}, expected {want}: the first window position counts too (+ 1)"
    if s > 1 and got == size + 2 * p - k + 1:
        return f"{call} returned {got}, expected {want}: with stride {s} the window jumps {s} pixels, so divide by the stride"
    if s > 1 and got == -(-(size + 2 * p - k) // s) + 1:
        return f"{call} returned {got}, expected {want}: round DOWN (//), a window that does not fit is dropped"
    return f"{call} returned {got}, expected {want} (what nn.Conv2d gives)"


def check_exercise_1(conv_output_size: Callable[..., int]) -> CheckResult:
    """Check ``conv_output_size(size, kernel_size, stride=1, padding=0)`` against real layers."""

    def case(size: int, k: int, s: int, p: int) -> Callable[[], object]:
        def check() -> object:
            want = _true_size(size, k, s, p)
            got = conv_output_size(size, kernel_size=k, stride=s, padding=p)
            return _diagnose(got, size, k, s, p, want) or None

        return check

    def defaults() -> object:
        problem = _diagnose(conv_output_size(28, 5), 28, 5, 1, 0, 24)
        return f"{problem} (called as conv_output_size(28, 5), so stride=1 and padding=0 must be the defaults)" if problem else None

    def every_case() -> object:
        for size, k, s, p in _CASES:
            want = _true_size(size, k, s, p)
            got = conv_output_size(size, kernel_size=k, stride=s, padding=p)
            problem = _diagnose(got, size, k, s, p, want)
            if problem:
                return problem
        return None

    def pooling() -> object:
        for size in (24, 8, 9, 4):
            pool = nn.MaxPool2d(2)
            want = pool(torch.zeros(1, 1, size, size)).shape[-1]
            got = conv_output_size(size, kernel_size=2, stride=2)
            if got != want:
                return (
                    f"a 2x2 max-pool (kernel_size=2, stride=2) on {size}x{size} gives {want}x{want}, "
                    f"your function returned {got!r}: pooling windows follow the same formula"
                )
        return None

    with sandbox(_SEED):
        return run_checks(
            "1 (conv_output_size)",
            [
                ("conv_output_size is a function", _is_function(conv_output_size, "conv_output_size")),
                ("the source's 5x5 conv on 28x28 (default stride and padding)", defaults),
                ("a 3x3 conv with padding 1 keeps 8x8", case(8, 3, 1, 1)),
                ("a strided conv", case(7, 3, 2, 0)),
                ("twelve conv shapes compared with nn.Conv2d", every_case),
                ("2x2 max-pooling compared with nn.MaxPool2d", pooling),
            ],
            hint=(
                "a window of kernel_size pixels slides over size + 2 * padding pixels in steps of "
                "stride: (size + 2 * padding - kernel_size) // stride + 1"
            ),
        )


# ---------------------------------------------------------------------------
# Exercise 2: stable_accuracy
# ---------------------------------------------------------------------------


class _TinyCNN(nn.Module):
    """Conv -> BatchNorm2d -> ReLU -> Dropout2d -> MaxPool -> Linear, for (N, 1, 8, 8) input."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, 3, padding=1),
            nn.BatchNorm2d(6),
            nn.ReLU(),
            nn.Dropout2d(0.5),
            nn.MaxPool2d(2),
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(6 * 4 * 4, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def _hidden_task() -> tuple[_TinyCNN, torch.Tensor, torch.Tensor]:
    """A model whose running statistics are far from the test batch's, and labels
    such that the eval-mode accuracy is exactly 0.75."""
    model = _TinyCNN().train()
    with torch.no_grad():
        for _ in range(40):  # running stats from brighter, higher-contrast images
            model(torch.rand(32, 1, 8, 8) * 3 + 1)
    X = torch.rand(60, 1, 8, 8)
    model.eval()
    with torch.no_grad():
        y = model(X).argmax(dim=1)
    y[:15] = (y[:15] + 1) % 3  # a quarter of the labels disagree with the model
    return model, X, y


def _flags(model: nn.Module) -> list[tuple[str, bool]]:
    return [(name or "(model)", m.training) for name, m in model.named_modules()]


def _moved_modes(before: list[tuple[str, bool]], model: nn.Module) -> str:
    mode = {True: "train", False: "eval"}
    moved = [
        f"{name} (was {mode[old]}, now {mode[new]})"
        for (name, old), (_, new) in zip(before, _flags(model), strict=True)
        if old != new
    ]
    return ", ".join(moved[:3]) + (f" and {len(moved) - 3} more" if len(moved) > 3 else "")


def _stats(model: nn.Module) -> list[torch.Tensor]:
    return [b.detach().clone() for name, b in model.named_buffers() if "running" in name]


def _as_fraction(result: object) -> float:
    if isinstance(result, torch.Tensor):
        raise AssertionError(
            f"return a Python float, not a tensor (got a tensor of shape {tuple(result.shape)}); "
            "use .item() on a one-element tensor"
        )
    if isinstance(result, bool) or not isinstance(result, numbers.Real):
        raise AssertionError(f"return the accuracy as a float between 0 and 1, got {result!r}")
    value = float(result)
    if not 0.0 <= value <= 1.0:
        raise AssertionError(
            f"an accuracy lies between 0 and 1, got {value:.4f}; divide the number of correct "
            "predictions by len(y)"
        )
    return value


def _saved_tensor_count(fn: Callable[[], object]) -> int:
    count = 0

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal count
        count += 1
        return t

    with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return count


def check_exercise_2(stable_accuracy: Callable[..., float]) -> CheckResult:
    """Check ``stable_accuracy(model, X, y, batch_size=32)`` on a hidden CNN with BatchNorm and dropout."""
    with sandbox(_SEED):
        model, X, y = _hidden_task()

        def correct_value() -> object:
            model.train()
            stats = _stats(model)
            value = _as_fraction(stable_accuracy(model, X, y, batch_size=20))
            if abs(value - 0.75) < 1e-9:
                return None
            if not all(torch.equal(a, b) for a, b in zip(stats, _stats(model), strict=True)):
                return (
                    f"you returned {value:.4f}, expected 0.7500, and BatchNorm's running statistics "
                    "moved: the model was evaluated in train mode; call model.eval() first"
                )
            return f"you returned {value:.4f}, expected 0.7500 (the eval-mode accuracy)"

        def default_batch_size() -> object:
            value = _as_fraction(stable_accuracy(model, X, y))
            if abs(value - 0.75) >= 1e-9:
                return f"called without batch_size you returned {value:.4f}, expected 0.7500"
            return None

        def batch_size_does_not_matter() -> object:
            results = {}
            for bs in (1, 7, 32, 60, 500):
                model.train()
                results[bs] = _as_fraction(stable_accuracy(model, X, y, batch_size=bs))
            if len({round(v, 9) for v in results.values()}) == 1:
                return None
            shown = ", ".join(f"{bs}: {v:.4f}" for bs, v in results.items())
            if abs(results[1] - 0.75) < 1e-9 and abs(results[7] - 0.75) >= 1e-9:
                return (
                    f"the accuracy changed with batch_size ({shown}): averaging the per-batch "
                    "accuracies gives the last, smaller batch too much weight; count the correct "
                    "predictions over all batches and divide by len(y)"
                )
            return (
                f"the accuracy changed with batch_size ({shown}); in eval mode every image is "
                "processed on its own, so the batch size must not matter"
            )

        def deterministic() -> object:
            model.train()
            first = _as_fraction(stable_accuracy(model, X, y, batch_size=20))
            second = _as_fraction(stable_accuracy(model, X, y, batch_size=20))
            if first != second:
                return f"two calls gave {first:.4f} and {second:.4f}: dropout was still active"
            return None

        def stats_untouched() -> object:
            model.train()
            before = _stats(model)
            stable_accuracy(model, X, y, batch_size=20)
            if not all(torch.equal(a, b) for a, b in zip(before, _stats(model), strict=True)):
                return (
                    "BatchNorm's running statistics changed during validation: a model in train "
                    "mode updates them on every forward pass, even under torch.no_grad()"
                )
            return None

        def restores(prepare: Callable[[], object], what: str) -> Callable[[], object]:
            def check() -> object:
                prepare()
                before = _flags(model)
                stable_accuracy(model, X, y, batch_size=20)
                moved = _moved_modes(before, model)
                if moved:
                    return (
                        f"for {what}, stable_accuracy changed the modes of {moved}; record every "
                        "flag first and put each one back (course_utils.modes.preserved_state does it)"
                    )
                return None

            return check

        def mixed() -> None:
            model.train()
            model.features.eval()

        def no_graph() -> object:
            model.train()
            saved = _saved_tensor_count(lambda: stable_accuracy(model, X, y, batch_size=20))
            if saved:
                return (
                    f"autograd saved {saved} tensors for a backward pass that never comes: run "
                    "the forward passes under torch.inference_mode() or torch.no_grad()"
                )
            return None

        def grad_mode_kept() -> object:
            torch.set_grad_enabled(True)
            stable_accuracy(model, X, y, batch_size=20)
            if not torch.is_grad_enabled():
                return (
                    "after stable_accuracy, gradient tracking is off for the rest of the program: "
                    "use `with torch.inference_mode():` instead of torch.set_grad_enabled(False)"
                )
            return None

        return run_checks(
            "2 (stable_accuracy)",
            [
                ("stable_accuracy is a function", _is_function(stable_accuracy, "stable_accuracy")),
                ("the eval-mode accuracy of a model handed over in train mode", correct_value),
                ("the same number for batch sizes 1, 7, 32, 60 and 500", batch_size_does_not_matter),
                ("works with the default batch_size", default_batch_size),
                ("the same number on every call", deterministic),
                ("BatchNorm's running statistics are not touched", stats_untouched),
                ("no autograd graph is recorded", no_graph),
                ("a model in train mode is back in train mode", restores(model.train, "a model in train mode")),
                ("a model in eval mode stays in eval mode", restores(model.eval, "a model in eval mode")),
                ("mixed modes come back exactly", restores(mixed, "a mixed-mode model (features eval, head train)")),
                ("gradient tracking is still on afterwards", grad_mode_kept),
            ],
            hint=(
                "inside `with preserved_state(model), torch.inference_mode():` call model.eval(), "
                "loop over zip(X.split(batch_size), y.split(batch_size)), add up "
                "(logits.argmax(dim=1) == yb).sum().item(), and divide by len(y)"
            ),
        )
