"""course_utils.modes: the mode report, and switching modes without losing state.

The central property: ``mode_report`` says a model depends on the mode exactly
when running it in train mode and in eval mode (same input, same seed) gives
different outputs. That is checked empirically on real PyTorch layers below.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.modes import (
    ModeReport,
    ModeRow,
    check_module,
    eval_mode,
    mode_dependence,
    mode_report,
    preserved_state,
    require_mode,
    restore_modes,
    snapshot_modes,
    train_mode,
)
from course_utils.style import EVAL_COLOR, TRAIN_COLOR

# Every test here must run without warnings (the LSTM test expects its one warning).
pytestmark = pytest.mark.filterwarnings("error")


# ---------------------------------------------------------------------------
# Custom layers, defined here so that their source code is available
# ---------------------------------------------------------------------------


class NoisyInTraining(nn.Module):
    """Adds Gaussian noise in train mode only: its forward reads self.training."""

    def forward(self, x):
        if self.training:
            return x + 0.1 * torch.randn_like(x)
        return x


class ForgotTrainingFlag(nn.Module):
    """The classic bug: F.dropout's ``training`` defaults to True, so it drops in eval too."""

    def forward(self, x):
        return F.dropout(x, 0.5)


class ForcedTraining(nn.Module):
    def forward(self, x):
        return F.dropout(x, p=0.5, training=True)


class NeverDrops(nn.Module):
    def forward(self, x):
        return F.dropout(x, 0.5, False)


class CorrectFunctionalDropout(nn.Module):
    def forward(self, x):
        return torch.nn.functional.dropout(x, p=0.5, training=self.training)


class ReadsModeInComprehension(nn.Module):
    def forward(self, xs):
        return [x * 2 if self.training else x for x in xs]


class InheritsForward(NoisyInTraining):
    """No forward of its own: the parent's forward (which reads self.training) is used."""


def _logged(forward):
    @functools.wraps(forward)
    def wrapper(self, x):
        return forward(self, x)

    return wrapper


class DecoratedForward(nn.Module):
    @_logged
    def forward(self, x):
        return x * 2 if self.training else x


class PlainCustom(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 4)

    def forward(self, x):
        return torch.relu(self.linear(x))


class FrozenBatchNormNet(nn.Module):
    """Overrides train() to keep its BatchNorm in eval mode (a common fine-tuning trick)."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(3, 3)
        self.bn = nn.BatchNorm1d(3)

    def train(self, mode: bool = True):
        super().train(mode)
        self.bn.eval()
        return self

    def forward(self, x):
        return self.bn(self.linear(x))


def small_cnn() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Dropout2d(0.5),
        nn.Flatten(),
        nn.Linear(4 * 6 * 6, 3),
    )


def transformer(dropout: float) -> nn.TransformerEncoder:
    layer = nn.TransformerEncoderLayer(
        d_model=8, nhead=2, dim_feedforward=16, dropout=dropout, batch_first=True
    )
    return nn.TransformerEncoder(layer, num_layers=2)


def lstm(num_layers: int) -> nn.LSTM:
    if num_layers == 1:
        with pytest.warns(UserWarning, match="dropout"):  # PyTorch says it will not drop
            return nn.LSTM(4, 6, num_layers=1, dropout=0.5)
    return nn.LSTM(4, 6, num_layers=num_layers, dropout=0.5)


def first_output(module: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """For modules that return a tuple (RNNs, attention): keep the main output."""
    return lambda x: module(x)[0]


def attention_output(module: nn.MultiheadAttention) -> Callable[[torch.Tensor], torch.Tensor]:
    return lambda x: module(x, x, x, need_weights=False)[0]


# ---------------------------------------------------------------------------
# The property: the report agrees with what the module actually does
# ---------------------------------------------------------------------------


@dataclass
class Case:
    build: Callable[[], nn.Module]
    shape: tuple[int, ...]
    depends: bool
    call: Callable[[nn.Module], Callable[[torch.Tensor], torch.Tensor]] = lambda m: m


CASES = {
    "transformer dropout=0.1": Case(lambda: transformer(0.1), (2, 5, 8), True),
    "transformer dropout=0": Case(lambda: transformer(0.0), (2, 5, 8), False),
    "lstm 2 layers dropout": Case(lambda: lstm(2), (5, 3, 4), True, first_output),
    "lstm 1 layer dropout": Case(lambda: lstm(1), (5, 3, 4), False, first_output),
    "gru 2 layers no dropout": Case(
        lambda: nn.GRU(4, 6, num_layers=2), (5, 3, 4), False, first_output
    ),
    "cnn batchnorm2d+dropout2d": Case(small_cnn, (4, 1, 6, 6), True),
    "batchnorm1d": Case(lambda: nn.BatchNorm1d(3), (8, 3), True),
    "batchnorm1d untracked": Case(
        lambda: nn.BatchNorm1d(3, track_running_stats=False), (8, 3), False
    ),
    "instancenorm tracked": Case(
        lambda: nn.InstanceNorm1d(3, track_running_stats=True), (2, 3, 6), True
    ),
    "instancenorm untracked": Case(lambda: nn.InstanceNorm1d(3), (2, 3, 6), False),
    "layernorm": Case(lambda: nn.LayerNorm(6), (4, 6), False),
    "groupnorm": Case(lambda: nn.GroupNorm(2, 4), (3, 4, 5), False),
    "dropout p=0": Case(lambda: nn.Dropout(0.0), (4, 6), False),
    "dropout": Case(lambda: nn.Dropout(0.5), (4, 6), True),
    "alpha dropout": Case(lambda: nn.AlphaDropout(0.5), (4, 6), True),
    "rrelu": Case(lambda: nn.RReLU(), (4, 6), True),
    "attention dropout": Case(
        lambda: nn.MultiheadAttention(8, 2, dropout=0.5, batch_first=True),
        (2, 5, 8),
        True,
        attention_output,
    ),
    "attention no dropout": Case(
        lambda: nn.MultiheadAttention(8, 2, batch_first=True), (2, 5, 8), False, attention_output
    ),
    "custom reads self.training": Case(NoisyInTraining, (4, 6), True),
    "custom without mode": Case(PlainCustom, (4, 4), False),
    "linear+relu": Case(lambda: nn.Sequential(nn.Linear(4, 4), nn.ReLU()), (4, 4), False),
}


def run_in(module: nn.Module, call, x: torch.Tensor, training: bool) -> torch.Tensor:
    module.train(training)
    torch.manual_seed(123)
    return call(module)(x)


@pytest.mark.parametrize("name", list(CASES))
def test_report_matches_train_vs_eval_outputs(name):
    case = CASES[name]
    torch.manual_seed(0)
    module = case.build()
    x = torch.randn(case.shape)
    report = mode_report(module)
    assert report[""].affected is case.depends, str(report)
    eval_out = run_in(module, case.call, x, training=False)
    train_out = run_in(module, case.call, x, training=True)
    # Grad mode stays on: with grad off, eval mode may take fused kernels (tested below).
    assert torch.equal(train_out, eval_out) is not case.depends


def test_report_is_the_same_in_both_modes():
    model = small_cnn()
    in_train = mode_report(model.train())
    in_eval = mode_report(model.eval())
    assert [(r.path, r.depends_on_mode, r.affected) for r in in_train] == [
        (r.path, r.depends_on_mode, r.affected) for r in in_eval
    ]
    assert all(r.training for r in in_train) and not any(r.training for r in in_eval)


def test_transformer_without_dropout_can_differ_in_the_last_digits_under_no_grad():
    torch.manual_seed(0)
    model = transformer(0.0)
    x = torch.randn(2, 5, 8)
    with torch.no_grad():
        train_out = model.train()(x)
        eval_out = model.eval()(x)
    # Same maths, but the fused eval kernel may round differently: close, not necessarily equal.
    torch.testing.assert_close(train_out, eval_out, rtol=0, atol=1e-5)
    report = mode_report(model)
    assert "fused kernel" in report["layers.0"].reason
    assert not report["layers.0"].depends_on_mode
    assert "fused kernel" in report["layers.0.self_attn"].reason


# ---------------------------------------------------------------------------
# Rows on real architectures
# ---------------------------------------------------------------------------


def test_transformer_rows():
    report = mode_report(transformer(0.1))
    dependent = {r.path for r in report.dependent}
    assert dependent == {
        f"layers.{i}.{name}"
        for i in (0, 1)
        for name in ("self_attn", "dropout", "dropout1", "dropout2")
    }
    assert report["layers.0.self_attn"].reason == "attention dropout p=0.1 in train mode"
    assert report["layers.1.dropout2"].class_name == "Dropout"
    for path in ("", "layers", "layers.0", "layers.1"):
        assert report[path].affected and not report[path].depends_on_mode
    for path in ("layers.0.linear1", "layers.0.norm1", "layers.0.self_attn.out_proj"):
        assert not report[path].affected
    assert len(report) == len(list(transformer(0.1).named_modules()))


def test_rnn_dropout_only_between_layers():
    dep2, why2 = mode_dependence(lstm(2))
    dep1, why1 = mode_dependence(lstm(1))
    assert dep2 and why2 == "dropout=0.5 between its 2 layers"
    assert not dep1 and "num_layers=1" in why1 and "no dropout" in why1
    assert mode_dependence(nn.GRU(3, 3, num_layers=3)) == (False, "dropout=0")


def test_cnn_rows():
    report = mode_report(small_cnn())
    assert [(r.path, r.class_name, r.depends_on_mode) for r in report] == [
        ("", "Sequential", False),
        ("0", "Conv2d", False),
        ("1", "BatchNorm2d", True),
        ("2", "ReLU", False),
        ("3", "Dropout2d", True),
        ("4", "Flatten", False),
        ("5", "Linear", False),
    ]
    assert "running stats" in report["1"].reason
    assert report["3"].reason == "drops with p=0.5 in train mode, identity in eval mode"


@pytest.mark.parametrize(
    ("module", "depends", "words"),
    [
        (nn.InstanceNorm2d(3, track_running_stats=True), True, "running stats"),
        (nn.InstanceNorm2d(3, affine=True), False, "both modes"),
        (nn.BatchNorm2d(3, track_running_stats=False), False, "both modes"),
        (nn.LayerNorm(4), False, ""),
        (nn.GroupNorm(1, 4), False, ""),
        (nn.Dropout(0.0), False, "never drops"),
        (nn.FeatureAlphaDropout(0.1), True, "p=0.1"),
        (nn.RReLU(0.1, 0.3), True, "random negative slope"),
        (nn.MultiheadAttention(4, 1, dropout=0.25), True, "p=0.25"),
    ],
)
def test_mode_dependence_of_builtin_layers(module, depends, words):
    dep, reason = mode_dependence(module)
    assert dep is depends
    assert words in reason


@pytest.mark.parametrize(
    ("cls", "depends", "words"),
    [
        (NoisyInTraining, True, "reads self.training"),
        (CorrectFunctionalDropout, True, "reads self.training"),
        (ReadsModeInComprehension, True, "reads self.training"),
        (InheritsForward, True, "reads self.training"),
        (DecoratedForward, True, "reads self.training"),
        (ForgotTrainingFlag, False, "BOTH modes"),
        (ForcedTraining, False, "BOTH modes"),
        (NeverDrops, False, ""),
        (PlainCustom, False, ""),
    ],
)
def test_mode_dependence_of_custom_layers(cls, depends, words):
    dep, reason = mode_dependence(cls())
    assert dep is depends
    assert reason == words if not words else words in reason


def test_forgotten_training_flag_drops_in_both_modes():
    layer = ForgotTrainingFlag()
    x = torch.ones(4, 50)
    eval_out = run_in(layer, lambda m: m, x, training=False)
    train_out = run_in(layer, lambda m: m, x, training=True)
    assert torch.equal(eval_out, train_out)  # no difference between the modes ...
    assert (eval_out == 0).any() and (eval_out == 2).any()  # ... because both drop and rescale
    report = mode_report(nn.Sequential(nn.Linear(50, 50), layer))
    assert "drops in both modes" in report["1"].reason.lower()
    assert "drops in BOTH modes" in str(report)


def test_shared_module_is_listed_under_every_path():
    drop = nn.Dropout(0.3)
    model = nn.Sequential(nn.Linear(3, 3), drop, nn.ReLU(), drop)
    report = mode_report(model)
    assert [r.path for r in report] == ["", "0", "1", "2", "3"]
    assert report["1"] == ModeRow("1", "Dropout", True, True, report["1"].reason, True)
    assert report["3"].depends_on_mode and report["3"].class_name == "Dropout"
    drop.eval()
    report = mode_report(model)
    assert not report["1"].training and not report["3"].training and report.mixed


def test_affected_propagates_to_ancestors_only():
    model = nn.Sequential(
        nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Dropout(0.1))),
        nn.Sequential(nn.Linear(2, 2)),
    )
    report = mode_report(model)
    assert {r.path for r in report if r.affected} == {"", "0", "0.1", "0.1.0"}
    assert [r.path for r in report.dependent] == ["0.1.0"]


# ---------------------------------------------------------------------------
# The report object: data and rendering
# ---------------------------------------------------------------------------


def mixed_model() -> nn.Sequential:
    model = nn.Sequential(
        nn.Linear(2, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Dropout(0.2), nn.Linear(4, 1)
    )
    model.train()
    model[3].eval()
    return model


def test_report_rows_summary_and_mixed():
    report = mode_report(mixed_model())
    assert isinstance(report, ModeReport)
    assert len(report) == 6 and [r.path for r in report] == ["", "0", "1", "2", "3", "4"]
    assert [r.mode for r in report] == ["train", "train", "train", "train", "eval", "train"]
    assert report.mixed
    assert [r.path for r in report.dependent] == ["1", "3"]
    assert report.summary() == (
        "6 modules, MIXED modes (5 train, 1 eval). Mode-dependent: 1 (BatchNorm1d), 3 (Dropout)."
    )
    eval_report = mode_report(nn.Sequential(nn.Linear(2, 2)).eval())
    assert not eval_report.mixed
    assert (
        eval_report.summary()
        == "2 modules, all in eval mode (0 train, 2 eval). Mode-dependent: none."
    )
    assert "all in train mode" in mode_report(nn.ReLU()).summary()


def test_report_lookup_error_lists_paths():
    with pytest.raises(KeyError, match="paths are"):
        mode_report(mixed_model())["5"]


def test_report_text_table():
    text = str(mode_report(mixed_model()))
    lines = text.splitlines()
    assert lines[0].split() == ["module", "class", "mode", "depends", "on", "mode?"]
    assert set(lines[1]) == {"-"}
    assert lines[2].split()[:3] == ["(model)", "Sequential", "train"]
    assert lines[4].split()[:4] == ["1", "BatchNorm1d", "train", "YES:"]
    assert lines[6].split()[:4] == ["3", "Dropout", "eval", "YES:"]
    assert lines[7].split() == ["4", "Linear", "train", "no"]
    # the columns line up under their headers
    col = lines[0].index("mode")
    assert [line[col:].split()[0] for line in lines[2:8]] == ["train"] * 4 + ["eval", "train"]
    col = lines[0].index("class")
    assert lines[4][col:].startswith("BatchNorm1d ")
    assert lines[-1] == mode_report(mixed_model()).summary()
    assert repr(mode_report(mixed_model())) == text


def test_report_indents_nested_modules():
    text = str(mode_report(transformer(0.1)))
    assert "\n      dropout1 " in text  # depth 3: layers.0.dropout1
    assert "\n        out_proj " in text  # depth 4


def test_report_html_table():
    report = mode_report(mixed_model())
    page = report._repr_html_()
    assert page.startswith("<table>") and page.count("<tr>") == len(report) + 1
    assert page.count(f"color:{TRAIN_COLOR}") == 5 and page.count(f"color:{EVAL_COLOR}") == 1
    assert "YES: drops with p=0.2" in page
    assert report.summary() in page


def test_report_html_escapes_names():
    odd = type("Gate<T>", (nn.Module,), {"forward": lambda self, x: x})
    page = mode_report(nn.Sequential(odd()))._repr_html_()
    assert "Gate&lt;T&gt;" in page and "Gate<T>" not in page


# ---------------------------------------------------------------------------
# Switching modes and restoring them
# ---------------------------------------------------------------------------


def flags(model: nn.Module) -> list[bool]:
    return [m.training for m in model.modules()]


@pytest.mark.parametrize(("switch", "inside"), [(eval_mode, False), (train_mode, True)])
def test_switch_restores_mixed_modes(switch, inside):
    model = mixed_model()
    before = flags(model)
    with switch(model) as same:
        assert same is model
        assert flags(model) == [inside] * len(before)
    assert flags(model) == before


@pytest.mark.parametrize("switch", [eval_mode, train_mode])
def test_switch_restores_when_the_block_raises(switch):
    model = mixed_model()
    before = flags(model)
    with pytest.raises(RuntimeError, match="boom"), switch(model):
        raise RuntimeError("boom")
    assert flags(model) == before


def test_switch_restores_modules_that_override_train():
    model = FrozenBatchNormNet().train()
    assert flags(model) == [True, True, False]
    with eval_mode(model):
        assert flags(model) == [False, False, False]
    assert flags(model) == [True, True, False]
    model.bn.train()  # now all True: train_mode's own .train() call would freeze bn again
    with train_mode(model):
        assert flags(model) == [True, True, False]
    assert flags(model) == [True, True, True]


def test_eval_mode_gives_deterministic_outputs_and_leaves_model_in_train():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 16), nn.Dropout(0.5), nn.Linear(16, 1)).train()
    x = torch.randn(8, 4)
    with eval_mode(model):
        a, b = model(x), model(x)
    assert torch.equal(a, b)
    assert model.training and model[1].training
    assert not torch.equal(model(x), model(x))


def test_snapshot_and_restore():
    model = mixed_model()
    snap = snapshot_modes(model)
    assert [flag for _, flag in snap] == flags(model)
    model.eval()
    restore_modes(snap)
    assert flags(model) == flags(mixed_model())


def test_preserved_state_restores_modes_and_grad_mode():
    model = mixed_model()
    before = flags(model)
    assert torch.is_grad_enabled()
    with preserved_state(model):
        model.eval()
        torch.set_grad_enabled(False)
    assert flags(model) == before and torch.is_grad_enabled()
    with torch.no_grad():
        with pytest.raises(ValueError), preserved_state(model):
            model.train()
            torch.set_grad_enabled(True)
            raise ValueError
        assert not torch.is_grad_enabled()
    assert flags(model) == before


def test_require_mode():
    model = mixed_model()
    require_mode(model.eval(), False, "evaluating")  # no error
    model[1].train()
    model[3].train()
    with pytest.raises(ValueError) as info:
        require_mode(model, False, "Evaluating")
    message = str(info.value)
    assert message == (
        "Evaluating needs the model in eval mode, but these submodules are not: 1, 3. "
        "Call model.eval() first."
    )
    with pytest.raises(
        ValueError, match=r"in train mode, .* are not: 3\. Call model.train\(\) first"
    ):
        require_mode(mixed_model(), True, "Training")
    many = nn.Sequential(*[nn.ReLU() for _ in range(8)])
    with pytest.raises(ValueError, match=r"not: \(model\), 0, 1, 2, 3 and 4 more\. Call"):
        require_mode(many, False, "Evaluating")
    with pytest.raises(TypeError, match="True .train mode. or False"):
        require_mode(many, "eval", "Evaluating")


@pytest.mark.parametrize(
    "not_a_module", [torch.zeros(2), nn.Linear(2, 2).state_dict(), "model", None]
)
def test_non_modules_are_rejected(not_a_module):
    with pytest.raises(TypeError, match="must be a torch.nn.Module"):
        check_module(not_a_module)
    with pytest.raises(TypeError, match="must be a torch.nn.Module"):
        mode_report(not_a_module)
    with pytest.raises(TypeError, match="must be a torch.nn.Module"), eval_mode(not_a_module):
        pass
    with pytest.raises(TypeError, match="must be a torch.nn.Module"):
        require_mode(not_a_module, False, "Evaluating")


def test_check_module_returns_the_module_and_names_it():
    model = nn.Linear(2, 2)
    assert check_module(model) is model
    with pytest.raises(TypeError, match=r"^net must be .* got Tensor"):
        check_module(model(torch.zeros(1, 2)), "net")


def test_no_warning_escapes_from_the_report():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        str(mode_report(transformer(0.1)))
        mode_report(small_cnn())._repr_html_()
