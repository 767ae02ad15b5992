"""Checker for notebook 00 · start here: a warm-up that shows how checkers work.

* :func:`check_warmup`: ``describe_mode(module) -> "train" | "eval"``, the mode
  of the module itself, read without changing it.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from ._core import CheckResult, function_check, run_checks, sandbox

__all__ = ["check_warmup"]

_SEED = 0


def _flags(module: nn.Module) -> list[bool]:
    return [m.training for m in module.modules()]


def check_warmup(describe_mode: Callable[[nn.Module], str]) -> CheckResult:
    """Check ``describe_mode(module)``: ``"train"`` or ``"eval"``, the module's own mode."""

    def expect(build: Callable[[], nn.Module], expected: str) -> Callable[[], object]:
        def check() -> object:
            module = build()
            before = _flags(module)
            got = describe_mode(module)
            if _flags(module) != before:
                return "describing the mode changed it: the module's mode flags differ afterwards"
            if not isinstance(got, str):
                return f"return the text 'train' or 'eval', got {type(got).__name__} {got!r}"
            if got != expected:
                return f"for a module in {expected} mode you returned {got!r}, expected {expected!r}"
            return None

        return check

    def mixed() -> nn.Module:
        model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5))
        model[1].eval()  # the model itself stays in train mode
        return model

    def outer_eval_inner_train() -> nn.Module:
        model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5)).eval()
        model[1].train()
        return model

    checks = [
        function_check(describe_mode, "describe_mode"),
        ("a freshly built layer", expect(lambda: nn.Linear(3, 2), "train")),
        ("a layer after .eval()", expect(lambda: nn.Dropout(0.5).eval(), "eval")),
        ("after .eval() and then .train()", expect(lambda: nn.Dropout(0.5).eval().train(), "train")),
        ("a model in train mode with one layer in eval mode", expect(mixed, "train")),
        ("a model in eval mode with one layer in train mode", expect(outer_eval_inner_train, "eval")),
    ]
    with sandbox(_SEED):
        return run_checks(
            "0.1 (describe_mode)",
            checks,
            hint="every nn.Module carries a boolean attribute that .train() and .eval() set; "
            "read it, don't call anything that sets it",
        )
