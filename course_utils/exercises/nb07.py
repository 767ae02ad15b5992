"""Checkers for notebook 07 · a CNN in train and eval mode.

* :func:`check_exercise_1`: ``conv_output_size(size, kernel_size, stride=1, padding=0,
  dilation=1)``, the side length after a convolution or pooling layer, checked
  against real ``nn.Conv2d`` and ``nn.MaxPool2d`` layers, and the learner's
  ``in_features`` for a network the notebook never shows, checked by running it.
* :func:`check_exercise_2`: ``stable_accuracy(model, X, y, batch_size=32)``,
  the repaired ``validate``: eval-mode accuracy over mini-batches that does not
  depend on the batch size, records no graph, moves no BatchNorm statistics,
  refuses an empty test set and gives every layer its mode (and the caller its
  grad switch, on or off) back, also when a forward pass raises.

Failure messages say what the answer did and what was expected, never the code
to write. Every checker builds its own hidden models and data inside a forked
random number generator, so calling it does not change the random numbers the
rest of the notebook sees, and it switches gradient tracking back on if the
learner's code left it off.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable

import torch
from torch import nn

from ._core import CheckResult, run_checks, sandbox
from ._core import is_function as _is_function

__all__ = ["check_exercise_1", "check_exercise_2", "exercise_1_network"]

_SEED = 707


# ---------------------------------------------------------------------------
# Exercise 7.1: conv_output_size and the in_features of a new network
# ---------------------------------------------------------------------------

# (size, kernel_size, stride, padding, dilation): plain, padded, strided, dilated convs
_CASES = [
    (28, 5, 1, 0, 1),
    (8, 3, 1, 0, 1),
    (8, 3, 1, 1, 1),
    (28, 5, 1, 2, 1),
    (7, 3, 2, 0, 1),
    (8, 3, 2, 1, 1),
    (32, 7, 3, 3, 1),
    (9, 4, 2, 1, 1),
    (5, 5, 1, 0, 1),
    (64, 3, 2, 0, 1),
    (8, 3, 1, 1, 2),
    (16, 3, 1, 0, 3),
    (33, 5, 2, 4, 2),
    (10, 2, 3, 0, 4),
    (2, 3, 1, 1, 1),
    (1, 3, 1, 1, 1),
]


def exercise_1_network() -> nn.Sequential:
    """The network of exercise 7.1, up to its Flatten (for 32x32 colour images)."""
    return nn.Sequential(
        nn.Conv2d(3, 16, kernel_size=5, stride=2, padding=2),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, kernel_size=3, padding=1, dilation=2),
        nn.MaxPool2d(2),
        nn.Flatten(),
    )


def _true_size(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    """What PyTorch itself computes: run a real Conv2d on a zero image."""
    conv = nn.Conv2d(1, 1, kernel, stride=stride, padding=padding, dilation=dilation)
    with torch.no_grad():
        return conv(torch.zeros(1, 1, size, size)).shape[-1]


def _diagnose(got: object, size: int, k: int, s: int, p: int, d: int, want: int) -> str:
    call = f"conv_output_size({size}, kernel_size={k}, stride={s}, padding={p}, dilation={d})"
    if isinstance(got, bool) or not isinstance(got, numbers.Real):
        return f"{call} returned {got!r} ({type(got).__name__}), expected the int {want}"
    span = d * (k - 1) + 1  # pixels covered by the (dilated) kernel
    if not isinstance(got, numbers.Integral):
        if float(got).is_integer():
            return (
                f"{call} returned the float {got!r}, expected the int {want}: a side length "
                "counts pixels, so it is an int"
            )
        if abs(got - ((size + 2 * p - span) / s + 1)) < 1e-9:
            return (
                f"{call} returned {got!r}, a float with a fractional part: a layer cannot "
                f"produce part of a pixel; nn.Conv2d gives {want}, a whole number"
            )
        return f"{call} returned the float {got!r}, expected the int {want}"
    got = int(got)
    if got == want:
        return ""
    if d > 1 and got == (size + 2 * p - k) // s + 1:
        return (
            f"{call} returned {got}, expected {want}: with dilation={d} the {k} taps of the "
            f"kernel lie {d} pixels apart, so it spans {span} pixels, not {k}"
        )
    if p and got == (size - span) // s + 1:
        return f"{call} returned {got}, expected {want}: the padding was not counted at all"
    if p and got == (size + p - span) // s + 1:
        return (
            f"{call} returned {got}, expected {want}: padding={p} adds {p} pixel{'s' * (p > 1)} on EACH "
            f"side, so the padded input is {size + 2 * p} wide"
        )
    if got == (size + 2 * p - span) // s:
        return (
            f"{call} returned {got}, expected {want}: one window position is missing "
            "(the window at the very first position counts too)"
        )
    if s > 1 and got == size + 2 * p - span + 1:
        return (
            f"{call} returned {got}, expected {want}: that counts every position, but with "
            f"stride={s} the window jumps {s} pixels at a time"
        )
    if s > 1 and got == -(-(size + 2 * p - span) // s) + 1:
        return (
            f"{call} returned {got}, expected {want}: one position too many; a last window "
            "that would run past the edge is dropped, not counted"
        )
    return f"{call} returned {got}, expected {want} (what nn.Conv2d gives)"


def _true_in_features() -> int:
    with torch.no_grad():
        return exercise_1_network()(torch.zeros(1, 3, 32, 32)).shape[1]


def _diagnose_in_features(in_features: object) -> str:
    if in_features is None:
        return (
            "no in_features was given: pass your prediction for the network's first Linear "
            "layer as the second argument"
        )
    if isinstance(in_features, bool) or not isinstance(in_features, numbers.Integral):
        return f"in_features must be an int (a number of features), got {in_features!r}"
    got, want = int(in_features), _true_in_features()
    if got == want:
        return ""
    # the classic slips, recognised by their number (the true side length before Flatten is 3)
    slips = {
        32 * 4 * 4: "the dilated conv was treated like an ordinary 3x3 conv: its taps lie 2 pixels apart",
        32 * 6 * 6: "the maps are 6x6 just before the last MaxPool2d, which halves them once more",
        32 * 7 * 7: "that skips the first MaxPool2d",
        3 * 3: "that is the size of ONE channel (3x3); Flatten keeps all 32 channels",
        16 * 3 * 3: "that uses the 16 channels of the first conv; the second conv outputs 32",
        32 * 3: "a channel of 3x3 holds 3 * 3 numbers, not 3",
    }
    if got in slips:
        return f"in_features={got} is not what Flatten produces for one 32x32 image: {slips[got]}"
    return (
        f"in_features={got} is not what Flatten produces for one 32x32 image: follow one side "
        "length through the four layers with your function, then count channels x height x width"
    )


def check_exercise_1(conv_output_size: Callable[..., int], in_features: object = None) -> CheckResult:
    """Check ``conv_output_size(size, kernel_size, stride=1, padding=0, dilation=1)``
    against real layers, and ``in_features`` against the exercise's network."""

    def call(size: int, k: int, s: int, p: int, d: int) -> object:
        return conv_output_size(size, kernel_size=k, stride=s, padding=p, dilation=d)

    def case(size: int, k: int, s: int, p: int, d: int) -> Callable[[], object]:
        def check() -> object:
            return _diagnose(call(size, k, s, p, d), size, k, s, p, d, _true_size(size, k, s, p, d)) or None

        return check

    def defaults() -> object:
        problem = _diagnose(conv_output_size(28, 5), 28, 5, 1, 0, 1, 24)
        if problem:
            return f"{problem} (called as conv_output_size(28, 5): stride 1, padding 0 and dilation 1 are the defaults)"
        return None

    def every_case() -> object:
        for size, k, s, p, d in _CASES:
            problem = _diagnose(call(size, k, s, p, d), size, k, s, p, d, _true_size(size, k, s, p, d))
            if problem:
                return problem
        return None

    def pooling() -> object:
        for size, k, s in ((24, 2, 2), (9, 2, 2), (7, 3, 2), (4, 2, 2)):
            want = nn.MaxPool2d(k, stride=s)(torch.zeros(1, 1, size, size)).shape[-1]
            got = conv_output_size(size, kernel_size=k, stride=s)
            if got != want:
                return (
                    f"a max-pool with kernel_size={k}, stride={s} on {size}x{size} gives "
                    f"{want}x{want}, your function returned {got!r}: pooling windows slide like "
                    "convolution windows"
                )
        return None

    def too_big() -> object:
        size, k, d = 4, 3, 2  # a 3x3 kernel with dilation 2 spans 5 pixels: no position fits
        try:
            got = conv_output_size(size, kernel_size=k, dilation=d)
        except ValueError:
            return None
        return (
            f"conv_output_size({size}, kernel_size={k}, dilation={d}) returned {got!r}: the kernel "
            f"spans 5 pixels and does not fit in a {size}x{size} input anywhere, so nn.Conv2d "
            "refuses this input; raise a ValueError that says so instead of returning a size"
        )

    def padding_makes_it_fit() -> object:
        for size in (1, 2):  # a 3x3 kernel with padding 1 fits in the padded 3x3 or 4x4 input
            try:
                got = conv_output_size(size, kernel_size=3, padding=1)
            except ValueError:
                return (
                    f"conv_output_size({size}, kernel_size=3, padding=1) raised ValueError, but "
                    f"nn.Conv2d accepts this input and gives {size}x{size}: the padding counts "
                    f"when you ask whether the kernel fits (the padded input is {size + 2} wide)"
                )
            problem = _diagnose(got, size, 3, 1, 1, 1, size)
            if problem:
                return problem
        return None

    def network() -> object:
        return _diagnose_in_features(in_features) or None

    with sandbox(_SEED):
        return run_checks(
            "7.1",
            [
                ("conv_output_size is a function", _is_function(conv_output_size, "conv_output_size")),
                ("the 5x5 conv on 28x28 of section 3 (default stride, padding, dilation)", defaults),
                ("a 3x3 conv with padding 1 keeps 8x8", case(8, 3, 1, 1, 1)),
                ("a strided conv", case(7, 3, 2, 0, 1)),
                ("a dilated conv", case(8, 3, 1, 1, 2)),
                ("a 3x3 conv with padding 1 on 1x1 and 2x2 maps (the padding makes it fit)", padding_makes_it_fit),
                (f"{len(_CASES)} conv shapes compared with nn.Conv2d", every_case),
                ("max-pooling compared with nn.MaxPool2d", pooling),
                ("a kernel larger than the padded input raises ValueError", too_big),
                ("in_features of the 32x32 network, compared with running it", network),
            ],
            hint=(
                "count the positions a window can take: how wide is the padded input, how many "
                "pixels does a kernel with gaps cover, and how far does it move each step?"
            ),
        )


# ---------------------------------------------------------------------------
# Exercise 7.2: stable_accuracy
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


class _PlantedError(RuntimeError):
    """The error the checker's broken model raises on purpose."""


class _BreaksOnSecondBatch(_TinyCNN):
    """The same network, but its second forward pass raises (like a corrupt batch)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls == 2:
            raise _PlantedError("batch 2 could not be processed (an error planted by the checker)")
        return super().forward(x)


def _hidden_model() -> _TinyCNN:
    """A model whose running statistics are far from the test images' statistics."""
    model = _TinyCNN().train()
    with torch.no_grad():
        for _ in range(40):  # running stats from brighter, higher-contrast images
            model(torch.rand(32, 1, 8, 8) * 3 + 1)
    return model.eval()


def _labels(model: nn.Module, X: torch.Tensor, n_wrong: int) -> torch.Tensor:
    """Labels that agree with the model's eval-mode predictions except for the first ``n_wrong``."""
    model.eval()
    with torch.no_grad():
        y = model(X).argmax(dim=1)
    y[:n_wrong] = (y[:n_wrong] + 1) % 3
    return y


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
            f"stable_accuracy returned a tensor of shape {tuple(result.shape)}; "
            "expected a Python float"
        )
    if isinstance(result, bool) or not isinstance(result, numbers.Real):
        raise AssertionError(f"expected the accuracy as a float between 0 and 1, got {result!r}")
    value = float(result)
    if not 0.0 <= value <= 1.0:
        raise AssertionError(
            f"an accuracy lies between 0 and 1, got {value:.4f}: is that a count of correct "
            "predictions rather than a fraction of the images?"
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


def _explain(value: float, model: nn.Module, X: torch.Tensor, y: torch.Tensor, bs: int, moved: bool) -> str:
    """Why ``value`` is not the eval-mode accuracy: the classic slips, recognised by their number."""
    state = [m.training for m in model.modules()]
    model.eval()
    with torch.no_grad():
        right = [(model(xb).argmax(dim=1) == yb) for xb, yb in zip(X.split(bs), y.split(bs), strict=True)]
    for m, flag in zip(model.modules(), state, strict=True):
        m.training = flag
    n = len(y)
    want = sum(r.sum().item() for r in right) / n
    n_batches = len(right)

    def near(candidate: float) -> bool:
        return abs(value - candidate) < 1e-6

    seen = f"with batch_size={bs} on {n} images you returned {value:.4f}, expected {want:.4f}"
    if moved:
        return f"{seen}, and BatchNorm's running statistics moved: the forward passes ran in train mode"
    if n_batches > 1 and near(sum(r.float().mean().item() for r in right) / n_batches):
        return (
            f"{seen}: that is the mean of the {n_batches} per-batch accuracies, which gives the "
            f"last batch ({len(right[-1])} images) as much weight as a full batch of {bs}"
        )
    if n_batches > 1 and near(sum(r.sum().item() for r in right) / (n_batches * bs)):
        return (
            f"{seen}: that divides by {n_batches} x {bs} = {n_batches * bs} images, but there are "
            f"only {n} (the last batch is shorter)"
        )
    if n_batches > 1 and near(right[-1].sum().item() / n):
        return f"{seen}: only the last batch's correct predictions were counted"
    if n_batches > 1 and near(right[-1].float().mean().item()):
        return f"{seen}: that is the accuracy of the last batch alone"
    return f"{seen} (the eval-mode accuracy)"


def check_exercise_2(stable_accuracy: Callable[..., float]) -> CheckResult:
    """Check ``stable_accuracy(model, X, y, batch_size=32)`` on hidden CNNs with BatchNorm and dropout."""
    with sandbox(_SEED):
        model = _hidden_model()
        X = torch.rand(60, 1, 8, 8)
        y = _labels(model, X, n_wrong=15)  # eval-mode accuracy 45/60 = 0.75
        X2 = torch.rand(45, 1, 8, 8)
        y2 = _labels(model, X2, n_wrong=18)  # a second test set: 27/45 = 0.6

        def value_on(X: torch.Tensor, y: torch.Tensor, bs: int) -> tuple[float, str | None]:
            model.train()
            stats = _stats(model)
            value = _as_fraction(stable_accuracy(model, X, y, batch_size=bs))
            moved = not all(torch.equal(a, b) for a, b in zip(stats, _stats(model), strict=True))
            if moved or abs(value - _reference(X, y)) > 1e-6:  # float32 means are fine
                return value, _explain(value, model, X, y, bs, moved)
            return value, None

        def _reference(X: torch.Tensor, y: torch.Tensor) -> float:
            state = [m.training for m in model.modules()]
            model.eval()
            with torch.no_grad():
                acc = (model(X).argmax(dim=1) == y).sum().item() / len(y)
            for m, flag in zip(model.modules(), state, strict=True):
                m.training = flag
            return acc

        def first_task() -> object:
            return value_on(X, y, 20)[1]

        def second_task() -> object:
            value, problem = value_on(X2, y2, 20)
            if problem and abs(value - _reference(X, y)) < 1e-6:
                return (
                    f"on a second hidden test set (45 images) you returned {value:.4f}, the "
                    f"accuracy of the first one, expected {_reference(X2, y2):.4f}: the number "
                    "must come from the model's predictions on the data it is given"
                )
            return problem

        def batch_sizes() -> object:
            for bs in (1, 7, 32, 60, 500):
                problem = value_on(X, y, bs)[1]
                if problem:
                    return problem
            return None

        def batches_seen(bs: int | None) -> Callable[[], object]:
            def check() -> object:
                sizes: list[int] = []
                handle = model.register_forward_pre_hook(lambda _m, args: sizes.append(len(args[0])))
                try:
                    model.train()
                    if bs is None:
                        stable_accuracy(model, X, y)
                    else:
                        stable_accuracy(model, X, y, batch_size=bs)
                finally:
                    handle.remove()
                limit = 32 if bs is None else bs
                shown = sizes if len(sizes) <= 10 else [*sizes[:10], "..."]
                call = "without batch_size" if bs is None else f"with batch_size={bs}"
                if not sizes:
                    return f"called {call}, the model's forward pass never ran on the model itself"
                if max(sizes) > limit:
                    return (
                        f"called {call} on {len(y)} images, the model saw batches of sizes {shown}; "
                        f"expected batches of at most {limit} images"
                        + (" (32 is the default)" if bs is None else "")
                    )
                if sum(sizes) != len(y):
                    return (
                        f"called {call}, the model saw {sum(sizes)} images in batches of sizes "
                        f"{shown}; expected each of the {len(y)} images exactly once"
                    )
                return None

            return check

        def deterministic() -> object:
            model.train()
            first = _as_fraction(stable_accuracy(model, X, y, batch_size=20))
            second = _as_fraction(stable_accuracy(model, X, y, batch_size=20))
            if first != second:
                return (
                    f"two calls on the same data gave {first:.4f} and {second:.4f}: dropout "
                    "was still active"
                )
            return None

        def stats_untouched() -> object:
            for prepare in (model.train, mixed):
                prepare()
                before = _stats(model)
                stable_accuracy(model, X, y, batch_size=20)
                if not all(torch.equal(a, b) for a, b in zip(before, _stats(model), strict=True)):
                    return (
                        "BatchNorm's running statistics changed during validation: some layers "
                        "ran in train mode, which updates them on every forward pass (even "
                        "without gradient tracking)"
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
                        f"for {what}, stable_accuracy changed the modes of {moved}; the model "
                        "must come back with exactly the modes it was handed over in"
                    )
                return None

            return check

        def mixed() -> None:
            model.train()
            model.features.eval()

        def error_midway() -> object:
            broken = _BreaksOnSecondBatch()
            broken.load_state_dict(model.state_dict())
            broken.train()
            broken.features.eval()  # mixed modes
            before = _flags(broken)
            torch.set_grad_enabled(True)
            try:
                value = stable_accuracy(broken, X, y, batch_size=20)
            except Exception:  # the planted error (or the learner's own, wrapping it)
                moved = _moved_modes(before, broken)
                if moved:
                    return (
                        "the model's forward pass raised an error on the 2nd batch; after it, the "
                        f"modes of {moved} had changed: the modes must come back also when an "
                        "error interrupts the loop"
                    )
                if not torch.is_grad_enabled():
                    return (
                        "the model's forward pass raised an error on the 2nd batch; after it, "
                        "gradient tracking was off for the rest of the program: the switch must "
                        "come back also when an error interrupts the loop"
                    )
                return None
            return (
                f"the model's forward pass raised an error on the 2nd batch, but stable_accuracy "
                f"returned {value!r} as if nothing happened: the error must reach the caller "
                "(an accuracy over part of the data is not the accuracy)"
            )

        def empty() -> object:
            mixed()
            before = _flags(model)
            try:
                value = stable_accuracy(model, X[:0], y[:0])
            except ValueError:
                moved = _moved_modes(before, model)
                if moved:
                    return f"for an empty test set the ValueError came, but the modes of {moved} changed"
                return None
            except Exception as exc:
                return (
                    f"an empty test set (0 images) made your code raise {type(exc).__name__}; "
                    "expected a ValueError that says the test set is empty"
                )
            return (
                f"for an empty test set (0 images) stable_accuracy returned {value!r}: there is no "
                "accuracy to report; expected a ValueError that says the test set is empty"
            )

        def no_graph() -> object:
            model.train()
            saved = _saved_tensor_count(lambda: stable_accuracy(model, X, y, batch_size=20))
            if saved:
                return (
                    f"autograd saved {saved} tensors during stable_accuracy: a graph was recorded "
                    "for a backward pass that never comes (detaching the result afterwards is "
                    "too late)"
                )
            return None

        def grad_mode_kept() -> object:
            torch.set_grad_enabled(True)
            stable_accuracy(model, X, y, batch_size=20)
            if not torch.is_grad_enabled():
                return (
                    "after stable_accuracy, gradient tracking is off for the rest of the program; "
                    "it must be on again, as it was before the call"
                )
            torch.set_grad_enabled(False)  # a caller that switched tracking off itself
            try:
                stable_accuracy(model, X, y, batch_size=20)
                if torch.is_grad_enabled():
                    return (
                        "called with gradient tracking switched off by the caller, stable_accuracy "
                        "switched it on: it must come back as it was before the call, off here"
                    )
            finally:
                torch.set_grad_enabled(True)
            return None

        return run_checks(
            "7.2",
            [
                ("stable_accuracy is a function", _is_function(stable_accuracy, "stable_accuracy")),
                ("the eval-mode accuracy of a model handed over in train mode", first_task),
                ("the eval-mode accuracy on a second hidden test set", second_task),
                ("the same number for batch sizes 1, 7, 32, 60 and 500", batch_sizes),
                ("the model sees mini-batches of batch_size images", batches_seen(7)),
                ("the default batch_size is 32", batches_seen(None)),
                ("the same number on every call", deterministic),
                ("BatchNorm's running statistics are not touched", stats_untouched),
                ("no autograd graph is recorded", no_graph),
                ("a model in train mode is back in train mode", restores(model.train, "a model in train mode")),
                ("a model in eval mode stays in eval mode", restores(model.eval, "a model in eval mode")),
                ("mixed modes come back exactly", restores(mixed, "a mixed-mode model (features eval, head train)")),
                ("an empty test set raises ValueError", empty),
                ("gradient tracking comes back as the caller had it (on, or off)", grad_mode_kept),
                ("a forward pass that raises: the error reaches the caller, modes and tracking come back", error_midway),
            ],
            hint=(
                "compute in eval mode without recording a graph, count correct predictions over "
                "all images, and on every way out of the function (an error included) leave each "
                "layer in the mode it arrived in, and gradient tracking as the caller had it"
            ),
        )
