"""Checkers for notebook 06 · decision boundaries.

* :func:`check_exercise_1`: ``build_model()`` returns a fresh model that
  reaches at least 90 % test accuracy on a hidden moons data set within at
  most 100 full-batch epochs (Adam, your learning rate). The hidden set is
  noisier than the notebook's moons (noise 0.25 instead of 0.2) and drawn with
  another seed, so a model that only fits the notebook's points does not pass
  by luck; with that much noise some points of each moon lie inside the other,
  which is why the target is 90 % and not 100 %.
* :func:`exercise_2_figure` draws four decision boundaries, panels A to D;
  :func:`check_exercise_2` checks which kind of model (and mode) drew each.

The checkers build their own data and models and run under a forked random
number generator: calling one does not change the random numbers the rest of
the notebook sees.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ..data import make_dataset
from ..models import make_mlp
from ..training import fit
from ._core import CheckResult, run_checks, sandbox

__all__ = ["check_exercise_1", "exercise_2_figure", "check_exercise_2", "ANSWERS_2"]

_SEED = 606
TARGET_ACCURACY = 0.90
MAX_EPOCHS = 100
#: The notebook's moons, ``make_dataset("moons", noise=0.2)`` (default seed 42).
NOTEBOOK_MOONS_NOISE = 0.2
#: The hidden data of exercise 1: noisier (0.25 > 0.2) and drawn with another seed than
#: the notebook's moons; 2000 points, so the 400 test points make the accuracy steady.
_MOONS = {"n_samples": 2000, "noise": 0.25, "seed": _SEED}

#: The three answers exercise 2 accepts for each panel.
ANSWERS_2 = ("linear", "non-linear", "train mode")
_PANELS = "ABCD"


# ---------------------------------------------------------------------------
# Exercise 1: a model that solves moons
# ---------------------------------------------------------------------------

_NONLINEAR = (nn.ReLU, nn.Tanh, nn.Sigmoid, nn.GELU, nn.LeakyReLU, nn.ELU, nn.SiLU, nn.Softplus,
              nn.Mish, nn.SELU, nn.CELU, nn.PReLU, nn.RReLU, nn.Hardtanh, nn.Softsign)


def _has_nonlinearity(model: nn.Module) -> bool:
    """False for a model made only of Linear/Identity/Dropout layers (a linear map)."""
    plain = (nn.Linear, nn.Identity, nn.Dropout, nn.Sequential)
    if any(isinstance(m, _NONLINEAR) for m in model.modules()):
        return True
    return not all(isinstance(m, plain) for m in model.modules())


def check_exercise_1(build_model: Callable[[], nn.Module], lr: float = 0.01,
                     epochs: int = MAX_EPOCHS) -> CheckResult:
    """Train ``build_model()`` on hidden, noisier moons data and require >= 90 % test accuracy.

    Args:
        build_model: a function with no arguments that returns a new, untrained
            model taking ``(N, 2)`` points and returning one logit per point.
        lr: the learning rate for ``torch.optim.Adam``.
        epochs: full-batch epochs to train for, at most 100.
    """
    box: dict[str, Any] = {}
    data = make_dataset("moons", **_MOONS)

    def callable_builder() -> str | None:
        if isinstance(build_model, nn.Module):
            return ("you passed a model; pass the function that builds it "
                    "(build_model, not build_model()), so the checker gets a fresh one")
        if not callable(build_model):
            return f"expected a function that returns a model, got {type(build_model).__name__}"
        return None

    def settings() -> str | None:
        if isinstance(epochs, bool) or not isinstance(epochs, int) or not 1 <= epochs <= MAX_EPOCHS:
            return f"epochs must be an int from 1 to {MAX_EPOCHS}, got {epochs!r}"
        if isinstance(lr, bool) or not isinstance(lr, int | float) or not 0 < lr <= 1:
            return f"lr must be a number in (0, 1], got {lr!r}"
        return None

    def builds_a_module() -> str | None:
        with sandbox(_SEED):
            model = build_model()
        if not isinstance(model, nn.Module):
            return f"build_model() must return an nn.Module, got {type(model).__name__}"
        if not any(p.requires_grad for p in model.parameters()):
            return "the model has no trainable parameters"
        box["model"] = model
        return None

    def one_logit_per_point() -> str | None:
        model = box["model"]
        with torch.no_grad():
            out = model.eval()(data.X_test[:5])
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != (5, 1):
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            return (f"for 5 points of shape (5, 2) the model returned {shape}; it needs one "
                    "logit per point, shape (5, 1): end with nn.Linear(..., 1)")
        return None

    def reaches_target() -> str | None:
        model = box["model"]
        with sandbox(_SEED):
            history = fit(
                model, (data.X_train, data.y_train), (data.X_test, data.y_test),
                loss_fn=nn.BCEWithLogitsLoss(), optimizer=torch.optim.Adam(model.parameters(), lr=lr),
                epochs=epochs,
            )
        acc = history.test_acc[-1]
        box["acc"] = acc
        if acc >= TARGET_ACCURACY:
            return None
        why = ""
        if not _has_nonlinearity(model):
            why = (" Your model has no non-linear activation between its Linear layers, so it is "
                   "one linear map and its boundary is a straight line, whatever its depth.")
        return f"test accuracy after {epochs} epochs is {acc:.1%}, below {TARGET_ACCURACY:.0%}.{why}"

    return run_checks(
        "1 (moons model)",
        [
            ("build_model is a function", callable_builder),
            ("epochs and lr are valid", settings),
            ("build_model() returns a trainable nn.Module", builds_a_module),
            ("the model outputs one logit per point", one_logit_per_point),
            (f"test accuracy >= {TARGET_ACCURACY:.0%} on hidden, noisier moons", reaches_target),
        ],
        hint=("use hidden layers with a non-linearity, e.g. make_mlp(hidden=(32, 32)); "
              "if it is too slow to learn, raise lr (0.01 to 0.05) or widen the layers."),
    )


# ---------------------------------------------------------------------------
# Exercise 2: read four boundaries
# ---------------------------------------------------------------------------

#: Which model drew each panel of :func:`exercise_2_figure`.
_TRUTH = {"A": "train mode", "B": "linear", "C": "non-linear", "D": "linear"}
_WHY = {
    "A": ("panel A is speckled: specks of the other class are scattered over the plane, because "
          "every grid point got its own random dropout mask, so it was drawn in train mode"),
    "B": ("panel B's boundary is a straight line. It came from a model with two hidden layers "
          "but no activation between them: without a non-linearity, depth stays linear"),
    "C": "panel C's boundary is curved and clean: a non-linear model, drawn in eval mode",
    "D": "panel D's boundary is a straight line: a linear model",
}


def _trained(hidden: tuple[int, ...], activation: str = "relu", dropout: float = 0.0,
             epochs: int = 60) -> nn.Module:
    data = make_dataset("circles", n_samples=400, noise=0.08, seed=_SEED)
    model = make_mlp(hidden=hidden, activation=activation, dropout=dropout)
    fit(model, (data.X_train, data.y_train), loss_fn=nn.BCEWithLogitsLoss(),
        optimizer=torch.optim.Adam(model.parameters(), lr=0.03), epochs=epochs)
    return model


def exercise_2_figure():
    """Four decision boundaries on the same circles data, panels A to D; returns the Figure.

    Each panel is one of: a linear model ("linear"), a non-linear model drawn
    in eval mode ("non-linear"), or a dropout model drawn in train mode
    ("train mode"). Two panels share an answer.
    """
    import matplotlib.pyplot as plt

    from ..plotting import plot_decision_boundary

    with sandbox(_SEED):
        data = make_dataset("circles", n_samples=400, noise=0.08, seed=_SEED)
        models = {
            "A": (_trained((32, 32), dropout=0.5), "train"),
            "B": (_trained((16, 16), activation="none"), "eval"),
            "C": (_trained((16, 16)), "eval"),
            "D": (_trained(()), "eval"),
        }
        fig, axes = plt.subplots(1, 4, figsize=(16, 4.4))
        for ax, (panel, (model, mode)) in zip(axes, models.items(), strict=True):
            plot_decision_boundary(model, data.X_test, data.y_test, ax=ax, mode=mode,
                                   grid_resolution=100, title=f"panel {panel}")
            if panel != "A":
                ax.get_legend().remove()
            ax.set_ylabel("")
    return fig


def check_exercise_2(answers: dict[str, str]) -> CheckResult:
    """Check ``answers``: a dict mapping each panel "A".."D" to one of :data:`ANSWERS_2`."""

    def is_a_dict() -> str | None:
        if not isinstance(answers, dict):
            return (f"answers must be a dict like {{'A': 'linear', ...}}, "
                    f"got {type(answers).__name__}")
        keys = {str(k).strip().upper() for k in answers}
        missing = [p for p in _PANELS if p not in keys]
        if missing:
            return f"answer every panel; missing: {', '.join(missing)}"
        extra = sorted(keys - set(_PANELS))
        if extra:
            return f"the panels are A, B, C and D; unexpected keys: {', '.join(extra)}"
        return None

    def normalised() -> dict[str, str]:
        return {str(k).strip().upper(): str(v).strip().lower() for k, v in answers.items()}

    def valid_values() -> str | None:
        bad = {k: v for k, v in normalised().items() if v not in ANSWERS_2}
        if bad:
            shown = ", ".join(f"{k}: {v!r}" for k, v in sorted(bad.items()))
            return f"each answer must be one of {list(ANSWERS_2)}; got {shown}"
        return None

    def panel(p: str) -> Callable[[], str | None]:
        def check() -> str | None:
            given = normalised()[p]
            if given == _TRUTH[p]:
                return None
            return f"panel {p} is not {given!r}: {_WHY[p]}"
        return check

    return run_checks(
        "2 (read the boundaries)",
        [
            ("answers is a dict with keys A-D", is_a_dict),
            ("every answer is one of the three kinds", valid_values),
            *[(f"panel {p}", panel(p)) for p in _PANELS],
        ],
        hint=("a straight boundary means a linear model (however many layers); a smooth curve "
              "means a non-linearity, drawn in eval mode; speckles mean dropout in train mode."),
    )
