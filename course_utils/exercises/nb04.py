"""Checkers for notebook 04 · the training loop.

* :func:`check_exercise_1`: ``train_step_in_chunks(model, X, y, loss_fn, optimizer,
  chunk_size) -> float``: ONE optimizer step for the batch ``(X, y)``, with the
  forward and backward passes done chunk by chunk (gradient accumulation, for a
  batch that does not fit in memory at once). The accumulated gradient is the
  size-weighted mean of the chunks' gradients (a short last chunk counts by its
  size); the returned loss is the batch's loss before the update.
* :func:`check_exercise_2`: ``test_step_in_chunks(model, X, y, loss_fn, chunk_size)
  -> (loss, accuracy)``, the fixed version of a buggy chunked evaluation: eval
  mode, no tracking, size-weighted means, the same numbers as one full-batch
  evaluation, gradient tracking and every module's mode left as the caller had
  them.

Each checker builds its own small hidden models and data and compares the
learner's function with a reference implementation on identical copies; hooks
record what happened *during* the call (the mode of every layer in each forward
pass, the grad switch, the chunk sizes, the optimizer's steps), not only the
state afterwards. Failure messages say what the answer did and what was
expected, never the code. The checkers run under a forked random number
generator, so calling one does not change the random numbers the rest of the
notebook sees.
"""

from __future__ import annotations

import copy
import numbers
from collections.abc import Callable

import torch
from torch import nn

from ..conversions import accuracy
from ._core import CheckResult, run_checks, sandbox
from ._core import is_function as _is_function

__all__ = ["check_exercise_1", "check_exercise_2"]

_SEED = 404
_LR = 0.1
_TOL = 1e-5


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _params(model: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def _max_diff(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    return max((x - y).abs().max().item() for x, y in zip(a, b, strict=True))


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:3])
    return shown + (f" and {len(names) - 3} more" if len(names) > 3 else "")


class _Spy:
    """Hooks on a model that record, for every forward pass of the learner's code,
    the batch size, the grad switch and which submodules were NOT in train mode.

    Every hook is a closure over this spy (never a bound method of it), so a
    ``copy.deepcopy`` of the model made by the learner's code still reports here.
    """

    def __init__(self, model: nn.Module) -> None:
        self.sizes: list[int] = []
        self.grad_on: list[bool] = []
        self.eval_layers: list[str] = []
        self.train_layers: list[str] = []
        for name, module in model.named_modules():
            module.register_forward_pre_hook(self._layer_hook(name or "(model)"))
        model.register_forward_pre_hook(self._model_hook())

    def _layer_hook(self, name: str):
        def hook(module: nn.Module, _inputs) -> None:
            target = self.train_layers if module.training else self.eval_layers
            if name not in target:
                target.append(name)

        return hook

    def _model_hook(self):
        sizes, grad_on = self.sizes, self.grad_on

        def hook(_module: nn.Module, inputs) -> None:
            sizes.append(int(inputs[0].shape[0]))
            grad_on.append(torch.is_grad_enabled())

        return hook


def _chunk_report(sizes: list[int], n: int, chunk_size: int) -> str | None:
    """What is wrong with the forward passes' batch sizes, or None."""
    if not sizes:
        return "the model was never called"
    if max(sizes) > chunk_size:
        return (
            f"the model ran a forward pass on {max(sizes)} examples at once, but chunks may hold "
            f"at most chunk_size = {chunk_size} (forward passes on {sizes} examples)"
        )
    if sum(sizes) != n:
        return (
            f"the forward passes covered {sum(sizes)} examples ({sizes}), but the batch holds "
            f"{n}: every example should go through the model exactly once"
        )
    return None


# ---------------------------------------------------------------------------
# Exercise 1: train_step_in_chunks
# ---------------------------------------------------------------------------


def _reference_train_step(model, X, y, loss_fn, optimizer, chunk_size) -> float:
    model.train()
    optimizer.zero_grad()
    total = 0.0
    for xb, yb in zip(X.split(chunk_size), y.split(chunk_size), strict=True):
        loss = loss_fn(model(xb), yb)
        share = len(xb) / len(X)
        (loss * share).backward()
        total += loss.item() * share
    optimizer.step()
    return total


def _bn_net() -> nn.Module:
    """BatchNorm (so chunking changes the result) but no dropout (so results compare exactly)."""
    return nn.Sequential(nn.Linear(3, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 1))


def _plain_net() -> nn.Module:
    """No mode-dependent layer: chunks of one example are allowed."""
    return nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 1))


def _mode_net() -> nn.Module:
    return nn.Sequential(
        nn.Linear(3, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.2), nn.Linear(8, 1)
    )


def _data(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    X = torch.randn(n, 3)
    return X, (X[:, :1] * X[:, 1:2] > 0).float()


def check_exercise_1(train_step_in_chunks: Callable) -> CheckResult:
    """Check ``train_step_in_chunks(model, X, y, loss_fn, optimizer, chunk_size) -> float``.

    One optimizer step for the whole batch, its gradient accumulated over chunks
    of at most ``chunk_size`` examples and weighted by their sizes; every forward
    pass in train mode; stale gradients from before the call ignored; the
    batch's loss before the update returned as a Python float.
    """
    fn = train_step_in_chunks
    loss_fn = nn.BCEWithLogitsLoss()
    with sandbox(_SEED):
        nets = {"bn": _bn_net(), "plain": _plain_net()}
        datasets = {n: _data(n) for n in (10, 12, 7)}
        got: dict[str, object] = {}

        def run(net: str, n: int, chunk_size: int, stale: bool = False):
            """(learner's result, its weights, reference loss, reference weights, spy, steps)."""
            X, y = datasets[n]
            ref_model = copy.deepcopy(nets[net])
            ref_opt = torch.optim.SGD(ref_model.parameters(), lr=_LR)
            ref_loss = _reference_train_step(ref_model, X, y, loss_fn, ref_opt, chunk_size)
            model = copy.deepcopy(nets[net])
            opt = torch.optim.SGD(model.parameters(), lr=_LR)
            if stale:  # what a previous step (or a forgotten backward) left behind
                for p in model.parameters():
                    p.grad = torch.full_like(p, 0.5)
            steps: list[int] = []
            opt.register_step_post_hook(lambda *_: steps.append(1))
            spy = _Spy(model)
            result = fn(model, X, y, loss_fn, opt, chunk_size)
            return result, _params(model), ref_loss, _params(ref_model), spy, len(steps)

        def returns_float() -> object:
            got["main"] = run("bn", 10, 4)
            value = got["main"][0]
            if isinstance(value, torch.Tensor):
                return (
                    "you returned a tensor; expected a plain Python float (a tensor would keep "
                    "the last chunk's graph alive)"
                )
            if not _is_number(value):
                return f"expected the loss as a float, got {type(value).__name__}"
            return None

        def forward_in_train_mode() -> object:
            model = _mode_net().eval()  # as the previous epoch's validation left it
            opt = torch.optim.SGD(model.parameters(), lr=_LR)
            spy = _Spy(model)
            X, y = datasets[12]
            fn(model, X, y, loss_fn, opt, 4)
            if not spy.sizes:
                return "the model was never called"
            if spy.eval_layers:
                return (
                    f"given a model in eval mode, your forward passes ran with {_names(spy.eval_layers)} "
                    "in eval mode: dropout was off and BatchNorm used its running statistics, so "
                    "the step trained a different network from the one that will be used"
                    + (" (the model was in train mode only afterwards)" if all(_modes_of(model)) else "")
                )
            return None

        def chunks() -> object:
            return _chunk_report(got["main"][4].sizes, 10, 4)

        def one_step() -> object:
            steps = got["main"][5]
            if steps != 1:
                return (
                    f"the optimizer took {steps} steps in one call; expected exactly one step for "
                    "the whole batch, after every chunk has added its gradient"
                )
            return None

        def loss_value() -> object:
            value, ref_loss = float(got["main"][0]), got["main"][2]
            if abs(value - ref_loss) > _TOL:
                return (
                    f"the returned loss {value:.6f} is not the batch's loss before the update "
                    f"({ref_loss:.6f}): the chunks hold 4, 4 and 2 examples, so each chunk's loss "
                    "counts by its size"
                )
            return None

        def equal_chunks() -> object:
            _, after, _, ref_after, spy, steps = run("bn", 12, 4)
            if _chunk_report(spy.sizes, 12, 4) or steps != 1:
                return _chunk_report(spy.sizes, 12, 4) or f"the optimizer took {steps} steps"
            if _max_diff(after, ref_after) > _TOL:
                return (
                    "with three chunks of 4, the weights did not move as one SGD step on the "
                    "mean of the three chunks' gradients: the step used only some chunks' "
                    "gradients, or their sum instead of their mean"
                )
            return None

        def short_last_chunk() -> object:
            _, after, _, ref_after, _, _ = got["main"]
            if _max_diff(after, ref_after) > _TOL:
                return (
                    "with chunks of 4, 4 and 2 examples, the weights did not move as one step on "
                    "the gradient of the batch's mean loss: the short last chunk should count half "
                    "as much as a full one, not the same"
                )
            return None

        def stale_gradients_ignored() -> object:
            _, after, _, ref_after, _, _ = run("bn", 12, 4, stale=True)
            if _max_diff(after, ref_after) > _TOL:
                return (
                    "every .grad already held a value when the function was called (left over from "
                    "an earlier backward pass), and it was added to this step's gradient"
                )
            return None

        def edge_chunk_sizes() -> object:
            for chunk_size, what in ((1, "chunks of ONE example"), (50, "a chunk_size larger than the batch")):
                value, after, ref_loss, ref_after, spy, steps = run("plain", 7, chunk_size)
                problem = _chunk_report(spy.sizes, 7, chunk_size)
                if problem:
                    return f"with {what}: {problem}"
                if steps != 1 or not _is_number(value) or abs(float(value) - ref_loss) > _TOL:
                    return f"with {what}, the step or the returned loss differ from a correct step"
                if _max_diff(after, ref_after) > _TOL:
                    return f"with {what} (7 examples), the weights differ from one correct step"
            return None

        return run_checks(
            "4.1",
            [
                ("train_step_in_chunks is a function", _is_function(fn, "train_step_in_chunks")),
                ("it returns the loss as a Python float", returns_float),
                ("every forward pass runs in train mode", forward_in_train_mode),
                ("the model sees chunks of at most chunk_size examples", chunks),
                ("exactly one optimizer step per call", one_step),
                ("the loss is the batch's loss before the update", loss_value),
                ("equal chunks: the step uses every chunk's gradient, averaged", equal_chunks),
                ("a short last chunk counts by its size", short_last_chunk),
                ("gradients left over from before the call are not used", stale_gradients_ignored),
                ("chunks of one, and one chunk for the whole batch", edge_chunk_sizes),
            ],
            hint=(
                "backward() adds to what .grad holds, so the chunks can add up their gradients "
                "before the one step. Think about what the sum must be scaled by so that it is the "
                "gradient of the WHOLE batch's mean loss, and about what .grad holds when the "
                "function starts."
            ),
        )


def _modes_of(model: nn.Module) -> list[bool]:
    return [m.training for m in model.modules()]


# ---------------------------------------------------------------------------
# Exercise 2: test_step_in_chunks
# ---------------------------------------------------------------------------


class _Net(nn.Module):
    """BatchNorm and Dropout, so a train-mode evaluation gives different numbers."""

    def __init__(self, n_out: int):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(3, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.5))
        self.head = nn.Linear(16, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def _case2(n_out: int, n: int = 42) -> tuple[nn.Module, torch.Tensor, torch.Tensor, nn.Module]:
    """A model in train mode whose BatchNorm running statistics are already trained."""
    model = _Net(n_out).train()
    with torch.no_grad():
        for _ in range(20):
            model(torch.randn(32, 3) * 2 + 1)
    X = torch.randn(n, 3) * 2 + 1
    if n_out == 1:
        return model, X, (X.sum(1, keepdim=True) > 3).float(), nn.BCEWithLogitsLoss()
    return model, X, (X[:, 0] > 1).long() + (X[:, 1] > 1).long(), nn.CrossEntropyLoss()


def _reference_test_step(model, X, y, loss_fn) -> tuple[float, float]:
    """One full-batch evaluation in eval mode: what the chunks must add up to."""
    model = copy.deepcopy(model).eval()
    with torch.inference_mode():
        logits = model(X)
        return loss_fn(logits, y).item(), accuracy(logits, y)


def _as_pair(result: object) -> tuple[float, float] | str:
    if not isinstance(result, tuple | list) or len(result) != 2:
        return f"expected a pair (loss, accuracy), got {type(result).__name__}"
    if any(isinstance(v, torch.Tensor) for v in result):
        return "you returned tensors; expected two plain Python floats"
    if not all(_is_number(v) for v in result):
        return f"expected two floats (loss, accuracy), got {[type(v).__name__ for v in result]}"
    return float(result[0]), float(result[1])


def check_exercise_2(test_step_in_chunks: Callable) -> CheckResult:
    """Check ``test_step_in_chunks(model, X, y, loss_fn, chunk_size) -> (loss, accuracy)``.

    Every forward pass in eval mode, without gradient tracking, on chunks of at
    most ``chunk_size`` examples; loss and accuracy averaged by chunk size, so
    they equal one full-batch evaluation; two Python floats; the grad switch
    afterwards as the caller had it (on, or off inside the caller's no_grad());
    every module back in the mode it had (train, eval, or mixed).
    """
    fn = test_step_in_chunks
    with sandbox(_SEED):
        seen: dict[str, object] = {}

        def run_case(n_out: int, n: int, chunk_size: int):
            model, X, y, loss_fn = _case2(n_out, n)
            reference = _reference_test_step(model, X, y, loss_fn)
            spy = _Spy(model)
            result = fn(model, X, y, loss_fn, chunk_size)
            return result, reference, spy

        def compare(result, reference, what: str) -> str | None:
            pair = _as_pair(result)
            if isinstance(pair, str):
                return pair
            (loss, acc), (ref_loss, ref_acc) = pair, reference
            if abs(loss - ref_loss) > _TOL or abs(acc - ref_acc) > 1e-6:
                return (
                    f"{what} you returned (loss {loss:.4f}, accuracy {acc:.4f}); one evaluation of "
                    f"the whole batch in eval mode gives (loss {ref_loss:.4f}, accuracy {ref_acc:.4f})"
                )
            return None

        def returns_pair() -> object:
            seen["binary"] = run_case(1, 42, 16)
            pair = _as_pair(seen["binary"][0])
            return pair if isinstance(pair, str) else None

        def eval_mode() -> object:
            spy = seen["binary"][2]
            if not spy.sizes:
                return "the model was never called"
            if spy.train_layers:
                return (
                    f"your forward passes ran with {_names(spy.train_layers)} in train mode: dropout "
                    "dropped units and BatchNorm normalised each chunk with its own statistics (and "
                    "updated its running statistics with test data)"
                )
            return None

        def no_tracking() -> object:
            spy = seen["binary"][2]
            if any(spy.grad_on):
                return (
                    "the forward passes ran with gradient tracking on, so autograd recorded a graph "
                    "and saved activations for a backward pass that never comes"
                )
            return None

        def chunks() -> object:
            return _chunk_report(seen["binary"][2].sizes, 42, 16)

        def weighted_means() -> object:
            result, reference, _ = seen["binary"]
            problem = compare(result, reference, "with chunks of 16, 16 and 10 examples,")
            if problem:
                return problem + " (a short last chunk counts by its size)"
            return None

        def multiclass() -> object:
            result, reference, _ = run_case(3, 40, 16)
            return compare(result, reference, "on a 3-class model,")

        def edge_chunk_sizes() -> object:
            for chunk_size, what in ((1, "with chunks of ONE example,"), (100, "with one chunk for the whole batch,")):
                result, reference, spy = run_case(1, 9, chunk_size)
                problem = _chunk_report(spy.sizes, 9, chunk_size) or compare(result, reference, what)
                if problem:
                    return problem
            return None

        def grad_on_stays_on() -> object:
            torch.set_grad_enabled(True)
            run_case(1, 12, 5)
            if not torch.is_grad_enabled():
                torch.set_grad_enabled(True)
                return (
                    "gradient tracking was on before your function and is off after it: the next "
                    "training step would record nothing and backward() would fail"
                )
            return None

        def grad_off_stays_off() -> object:
            with torch.no_grad():
                run_case(1, 12, 5)
                still_off = not torch.is_grad_enabled()
            if not still_off:
                return (
                    "called inside a caller's no_grad() block, your function switched gradient "
                    "tracking back ON for the rest of the caller's block"
                )
            return None

        def modes_restored() -> object:
            def frozen_bn(model: nn.Module) -> None:
                model.train()
                model.body[1].eval()

            setups = (
                (lambda m: m.train(), "a model in train mode (as the previous training epoch left it)"),
                (lambda m: m.eval(), "a model kept in eval mode on purpose (frozen)"),
                (frozen_bn, "a model with its BatchNorm frozen in eval mode and the rest in train mode"),
            )
            for set_modes, what in setups:
                model, X, y, loss_fn = _case2(1, 20)
                set_modes(model)
                before = _modes_of(model)
                fn(model, X, y, loss_fn, 8)
                after = _modes_of(model)
                if after != before:
                    return (
                        f"{what} came back with {sum(after)} of {len(after)} modules in train mode, "
                        f"not {sum(before)}: an evaluation step between epochs must give every "
                        "module back the mode it had, whatever happens to it during the call"
                    )
            return None

        return run_checks(
            "4.2",
            [
                ("test_step_in_chunks is a function", _is_function(fn, "test_step_in_chunks")),
                ("it returns (loss, accuracy) as two floats", returns_pair),
                ("every forward pass runs in eval mode", eval_mode),
                ("the forward passes build no graph", no_tracking),
                ("the model sees chunks of at most chunk_size examples", chunks),
                ("loss and accuracy equal one full-batch evaluation", weighted_means),
                ("it also works for a 3-class model", multiclass),
                ("chunks of one, and one chunk for the whole batch", edge_chunk_sizes),
                ("gradient tracking is back on afterwards", grad_on_stays_on),
                ("it stays off inside a caller's no_grad()", grad_off_stays_off),
                ("every module gets its mode back", modes_restored),
            ],
            hint=(
                "the buggy version has three problems: two are about the settings the forward "
                "passes run in, one about how the per-chunk numbers are combined when the last "
                "chunk is shorter."
            ),
        )
