"""Bad input anywhere a learner can pass something gets a clear error that says what to do.

Every public helper a notebook calls (conversions, the training loop, the
plotting helper, data and models, measuring, seeding, the widgets'
constructors) must answer a wrong shape, dtype, device, NaN, empty data, an
out-of-range threshold or a non-module model with a ``ValueError`` or
``TypeError`` whose message names the problem and the fix, not with a deep
PyTorch traceback. Exercise checkers never raise at all: a wrong answer (not a
function, a function with the wrong signature, one that crashes) is a printed
❌ line with a hint.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch
from torch import nn

from course_utils import conversions, data, freezing, measure, models, modes, runtime, training
from course_utils.exercises import CheckResult, all_checkers

NAN = float("nan")
META = "meta"


def _mlp(out: int = 1) -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, out))


@pytest.fixture
def xy() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(24, 2, generator=gen)
    return X, (X[:, :1] > 0).float()


def _raises(call, error, match):
    with pytest.raises(error, match=match):
        call()


# ---------------------------------------------------------------------------
# conversions
# ---------------------------------------------------------------------------

LOGITS = torch.tensor([[2.0], [-1.0], [0.5]])
MULTI = torch.tensor([[2.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 2.0]])

CONVERSION_CASES = {
    "logits as a list": (lambda: conversions.logits_to_labels([0.1, 0.2]), TypeError,
                         r"logits must be a torch\.Tensor"),
    "integer logits": (lambda: conversions.logits_to_probabilities(torch.tensor([[1], [0]])), TypeError,
                       r"floating point, got dtype torch\.int64"),
    "3-D logits": (lambda: conversions.logits_to_labels(torch.zeros(2, 3, 4)), ValueError,
                   r"shape \(N,\), \(N, 1\) or \(N, K\).*got \(2, 3, 4\)"),
    "empty logits": (lambda: conversions.logits_to_labels(torch.zeros(0, 1)), ValueError, r"N > 0"),
    "NaN logits": (lambda: conversions.logits_to_labels(torch.tensor([[NAN], [1.0]])), ValueError,
                   r"logits contain NaN in 1 of 2 rows.*smaller learning rate"),
    "NaN logits to probabilities": (
        lambda: conversions.logits_to_probabilities(torch.tensor([[0.0, NAN]])), ValueError, r"NaN"),
    "meta logits": (lambda: conversions.logits_to_labels(torch.zeros(3, 1, device=META)), ValueError,
                    r"'meta' device.*holds no values.*device='cpu'"),
    "threshold above 1": (lambda: conversions.logits_to_labels(LOGITS, 1.5), ValueError,
                          r"threshold must be between 0 and 1.*got 1\.5"),
    "threshold below 0": (lambda: conversions.logits_to_labels(LOGITS, -0.1), ValueError,
                          r"threshold must be between 0 and 1"),
    "threshold NaN": (lambda: conversions.logits_to_labels(LOGITS, NAN), ValueError, r"got nan"),
    "threshold as text": (lambda: conversions.logits_to_labels(LOGITS, "0.5"), TypeError,
                          r"threshold must be a number"),
    "targets as a list": (lambda: conversions.accuracy(LOGITS, [0, 1, 1]), TypeError,
                          r"targets must be a torch\.Tensor"),
    "wrong number of targets": (lambda: conversions.accuracy(LOGITS, torch.zeros(4)), ValueError,
                                r"disagree on the number of samples: 3 vs 4"),
    "one-hot targets": (lambda: conversions.accuracy(MULTI, torch.eye(3)), ValueError,
                        r"one-hot targets pass targets\.argmax\(dim=1\)"),
    "probabilities as targets": (lambda: conversions.accuracy(LOGITS, torch.tensor([0.2, 0.9, 0.5])),
                                 ValueError, r"whole-number labels.*not probabilities"),
    "NaN targets": (lambda: conversions.accuracy(LOGITS, torch.tensor([0.0, NAN, 1.0])), ValueError,
                    r"targets contain NaN"),
    "meta targets": (lambda: conversions.accuracy(LOGITS, torch.zeros(3, device=META)), ValueError,
                     r"targets is on the 'meta' device"),
    "binary model, label 2": (lambda: conversions.accuracy(LOGITS, torch.tensor([0, 1, 2])), ValueError,
                              r"label 2.*only 0 or 1.*one output per class"),
    "3 classes, label 7": (lambda: conversions.accuracy(MULTI, torch.tensor([0, 1, 7])), ValueError,
                           r"class 7.*3 columns.*classes 0 to 2"),
    "negative label": (lambda: conversions.accuracy(MULTI, torch.tensor([0, -1, 2])), ValueError,
                       r"class -1"),
}


@pytest.mark.parametrize("case", CONVERSION_CASES)
def test_conversions_reject_bad_input(case):
    _raises(*CONVERSION_CASES[case])


# ---------------------------------------------------------------------------
# fit, evaluate, train_one_epoch
# ---------------------------------------------------------------------------


def _fit(X, y, model=None, loss_fn=None, **kwargs):
    model = model if model is not None else _mlp()
    args = {
        "loss_fn": loss_fn if loss_fn is not None else nn.BCEWithLogitsLoss(),
        "optimizer": torch.optim.SGD(model.parameters(), lr=0.1),
        "epochs": 1,
    }
    args.update(kwargs)
    return training.fit(model, (X, y), **args)


def _meta_model() -> nn.Module:
    return nn.Linear(2, 1, device=META)


TRAINING_CASES = {
    "not a module": (lambda X, y: training.fit("net", (X, y), loss_fn=nn.BCEWithLogitsLoss(),
                                               optimizer=torch.optim.SGD(_mlp().parameters(), lr=0.1),
                                               epochs=1),
                     TypeError, r"must be a torch\.nn\.Module.*not its output or its state_dict"),
    "NumPy X": (lambda X, y: _fit(X.numpy(), y), TypeError, r"X must be a torch\.Tensor.*torch\.from_numpy"),
    "X and y of different lengths": (lambda X, y: _fit(X, y[:10]), ValueError, r"same number of samples"),
    "empty data": (lambda X, y: _fit(X[:0], y[:0]), ValueError, r"at least one sample"),
    "NaN in X": (lambda X, y: _fit(torch.where(X > 1.5, NAN, X), y), ValueError,
                 r"X contains NaN or infinite values in \d+ of 24 samples.*remove those samples"),
    "inf in y": (lambda X, y: _fit(X, torch.where(y > 0, float("inf"), y)), ValueError,
                 r"y contains NaN or infinite"),
    "meta X": (lambda X, y: _fit(X.to(META), y), ValueError, r"train X is on the 'meta' device"),
    "meta model": (lambda X, y: _fit(X, y, model=_meta_model()), ValueError,
                   r"parameters are on the 'meta' device.*to_empty"),
    "float64 X (from NumPy)": (lambda X, y: _fit(X.double(), y), ValueError,
                               r"X is torch\.float64 but the model's parameters are torch\.float32.*X\.float\(\)"),
    "integer X": (lambda X, y: _fit(X.long(), y), ValueError, r"X holds torch\.int64 values.*X\.float\(\)"),
    "3 features for a 2-input model": (lambda X, y: _fit(torch.randn(24, 3), y), ValueError,
                                       r"X has 3 features per sample.*in_features"),
    "long targets for BCEWithLogitsLoss": (lambda X, y: _fit(X, y.long()), ValueError,
                                           r"loss_fn\(logits, y\) failed.*BCEWithLogitsLoss needs float targets"),
    "(N,) targets for (N, 1) logits": (lambda X, y: _fit(X, y[:, 0]), ValueError,
                                       r"logits have shape \(24, 1\).*y has shape \(24,\)"),
    "float targets for CrossEntropyLoss": (
        lambda X, y: _fit(X, torch.arange(24.0) % 3, model=_mlp(3), loss_fn=nn.CrossEntropyLoss()),
        ValueError, r"CrossEntropyLoss needs class indices of dtype long"),
    "loss class without brackets": (lambda X, y: _fit(X, y, loss_fn=nn.BCEWithLogitsLoss), TypeError,
                                    r"pass BCEWithLogitsLoss\(\) with brackets"),
    "optimizer class": (lambda X, y: _fit(X, y, optimizer=torch.optim.SGD), TypeError,
                        r"optimizer must be a torch\.optim\.Optimizer"),
    "zero epochs": (lambda X, y: _fit(X, y, epochs=0), ValueError, r"epochs must be an int >= 1"),
    "threshold 2": (lambda X, y: _fit(X, y, threshold=2), ValueError, r"threshold must be between 0 and 1"),
    "batch size 0": (lambda X, y: _fit(X, y, batch_size=0), ValueError, r"batch_size must be a positive int"),
}


@pytest.mark.parametrize("case", TRAINING_CASES)
def test_fit_rejects_bad_input(case, xy):
    call, error, match = TRAINING_CASES[case]
    _raises(lambda: call(*xy), error, match)


EVALUATE_CASES = {
    "train mode": (lambda m, X, y: training.evaluate(m.train(), X, y, nn.BCEWithLogitsLoss()), ValueError,
                   r"evaluate\(\) needs the model in eval mode.*Call model\.eval\(\) first"),
    "NaN in X": (lambda m, X, y: training.evaluate(m, X * NAN, y, nn.BCEWithLogitsLoss()), ValueError,
                 r"X contains NaN"),
    "meta X": (lambda m, X, y: training.evaluate(m, X.to(META), y, nn.BCEWithLogitsLoss()), ValueError,
               r"'meta' device"),
    "1-D X": (lambda m, X, y: training.evaluate(m, X[:, 0], y, nn.BCEWithLogitsLoss()), ValueError,
              r"the model failed on a batch of X with shape \(24,\)"),
    "threshold -1": (lambda m, X, y: training.evaluate(m, X, y, nn.BCEWithLogitsLoss(), threshold=-1),
                     ValueError, r"threshold must be between 0 and 1"),
    "not a loss": (lambda m, X, y: training.evaluate(m, X, y, "bce"), TypeError, r"loss_fn must be callable"),
}


@pytest.mark.parametrize("case", EVALUATE_CASES)
def test_evaluate_rejects_bad_input(case, xy):
    call, error, match = EVALUATE_CASES[case]
    _raises(lambda: call(_mlp().eval(), *xy), error, match)


def test_train_one_epoch_rejects_bad_input(xy):
    X, y = xy
    model = _mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    loss = nn.BCEWithLogitsLoss()
    _raises(lambda: training.train_one_epoch(model, X, y, loss, torch.optim.SGD(_mlp().parameters(), lr=0.1)),
            ValueError, r"does not hold any of this model's parameters")
    _raises(lambda: training.train_one_epoch(model, X, y, loss, opt, set_train_mode="train"), TypeError,
            r"set_train_mode must be a function")
    _raises(lambda: training.train_one_epoch(model, X.double(), y, loss, opt), ValueError, r"X\.float\(\)")
    with torch.no_grad():
        _raises(lambda: training.train_one_epoch(model, X, y, loss, opt), RuntimeError,
                r"gradient tracking switched off.*outside torch\.no_grad\(\)")


def test_divergence_is_recorded_as_nan_not_raised(xy):
    # A learning rate far too high is an experiment, not bad input: fit reports NaN.
    X, y = xy
    model = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 1))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        history = training.fit(model, (X * 1e3, y), loss_fn=nn.MSELoss(),
                               optimizer=torch.optim.SGD(model.parameters(), lr=1e3), epochs=5)
    assert np.isnan(history.train_loss[-1]) and np.isnan(history.train_acc[-1])


def test_history_plot_rejects_bad_input():
    with pytest.raises(ValueError, match=r"History is empty: train for at least one epoch"):
        training.History().plot()


# ---------------------------------------------------------------------------
# plot_decision_boundary
# ---------------------------------------------------------------------------



def _plot(model=None, X=None, y=None, grid_resolution=20, **kwargs):
    from course_utils.plotting import plot_decision_boundary

    gen = torch.Generator().manual_seed(1)
    X = torch.randn(20, 2, generator=gen) if X is None else X
    model = _mlp().eval() if model is None else model
    return plot_decision_boundary(model, X, y, grid_resolution=grid_resolution, **kwargs)


class _NaNModel(nn.Module):
    def forward(self, x):
        return x[:, :1] * NAN


PLOT_CASES = {
    "not a module": (lambda: _plot(model="model"), TypeError, r"torch\.nn\.Module.*not its output or its state_dict"),
    "a state_dict": (lambda: _plot(model=_mlp().state_dict()), TypeError, r"torch\.nn\.Module"),
    "X as a list": (lambda: _plot(X=[[0.0, 1.0]]), TypeError, r"NumPy array or a torch tensor.*np\.asarray"),
    "3 features": (lambda: _plot(X=torch.randn(5, 3)), ValueError, r"X of shape \(N, 2\), got \(5, 3\)"),
    "1-D X": (lambda: _plot(X=torch.randn(5)), ValueError, r"one row per point"),
    "empty X": (lambda: _plot(X=torch.zeros(0, 2)), ValueError, r"at least one point"),
    "NaN in X": (lambda: _plot(X=torch.tensor([[0.0, NAN], [1.0, 1.0]])), ValueError,
                 r"NaN or infinite values in 1 row.*remove or impute"),
    "complex X": (lambda: _plot(X=np.zeros((3, 2), dtype=complex)), TypeError, r"real numbers"),
    "y of another length": (lambda: _plot(y=torch.zeros(7)), ValueError, r"same number of points"),
    "probabilities as y": (lambda: _plot(y=torch.rand(20)), ValueError, r"class labels.*not probabilities"),
    "model for 3 inputs": (lambda: _plot(model=nn.Linear(3, 1)), ValueError,
                           r"first layer takes 2 inputs, e\.g\. nn\.Linear\(2, \.\.\.\)"),
    "model with NaN output": (lambda: _plot(model=_NaNModel()), ValueError,
                              r"NaN or infinite logits.*smaller learning rate"),
    "threshold 1.5": (lambda: _plot(threshold=1.5), ValueError, r"threshold must be between 0 and 1"),
    "grid_resolution 1": (lambda: _plot(grid_resolution=1), ValueError,
                          r"grid_resolution must be between 2 and 1000"),
    "unknown mode": (lambda: _plot(mode="test"), ValueError, r"mode must be one of \['eval', 'train'\]"),
    "unknown response": (lambda: _plot(response="prob"), ValueError, r"response must be one of"),
    "ax not an Axes": (lambda: _plot(ax="left"), TypeError, r"ax must be a matplotlib Axes"),
    "alpha 2": (lambda: _plot(alpha=2), ValueError, r"alpha must be >= 0\.0 and <= 1\.0"),
    "meta X": (lambda: _plot(X=torch.zeros(4, 2, device=META)), ValueError, r"'meta' device"),
    "meta model": (lambda: _plot(model=nn.Linear(2, 1, device=META)), ValueError, r"'meta' device"),
}



@pytest.mark.parametrize("case", list(PLOT_CASES.values()), ids=list(PLOT_CASES))
def test_plot_decision_boundary_rejects_bad_input(case):
    import matplotlib.pyplot as plt

    try:
        _raises(*case)
    finally:
        plt.close("all")


# ---------------------------------------------------------------------------
# data, models, modes, measure, runtime
# ---------------------------------------------------------------------------

PACKAGE_CASES = {
    "unknown data set": (lambda: data.make_dataset("spirals"), ValueError,
                         r"name must be one of \('circles', 'moons', 'blobs'\), got 'spirals'"),
    "too few samples": (lambda: data.make_dataset(n_samples=5), ValueError, r"n_samples must be an int >= 10"),
    "test_size 1.5": (lambda: data.make_dataset(test_size=1.5), ValueError, r"test_size must be between 0 and 1"),
    "test_size as text": (lambda: data.make_dataset(test_size="20%"), ValueError, r"fraction such as 0\.2"),
    "negative noise": (lambda: data.make_dataset(noise=-1), ValueError, r"noise must be a number >= 0"),
    "seed as text": (lambda: data.make_dataset(seed="a"), ValueError, r"seed must be an int.*seed=0"),
    "one blob": (lambda: data.make_dataset("blobs", n_classes=1), ValueError, r"n_classes must be an int >= 2"),
    "one digit": (lambda: data.digits_images((3,)), ValueError, r"2\+ distinct digits from 0-9"),
    "digit 11": (lambda: data.digits_images((3, 11)), ValueError, r"digits from 0-9"),
    "digits as an int": (lambda: data.digits_images(3), TypeError, r"tuple of digits such as \(3, 8\)"),
    "unknown activation": (lambda: models.make_mlp(activation="relu6"), ValueError,
                           r"activation must be one of \['gelu', 'none', 'relu', 'sigmoid', 'tanh'\]"),
    "dropout 1": (lambda: models.make_mlp(dropout=1.0), ValueError, r"dropout must be in \[0, 1\)"),
    "dropout as text": (lambda: models.make_mlp(dropout="0.5"), TypeError, r"dropout must be a number"),
    "hidden as an int": (lambda: models.make_mlp(hidden=16), TypeError, r"sequence of layer widths such as \(16, 16\)"),
    "zero-width layer": (lambda: models.make_mlp(hidden=(0,)), ValueError, r"layer sizes must be positive ints"),
    "CNN image size 10": (lambda: models.SmallCNN(image_size=10), ValueError, r"divisible by 4"),
    "CNN channels as an int": (lambda: models.SmallCNN(channels=16), TypeError, r"pair \(c1, c2\).*\(16, 32\)"),
    "CNN zero classes": (lambda: models.SmallCNN(n_classes=0), ValueError, r"n_classes must be a positive int"),
    "CNN dropout 1.5": (lambda: models.SmallCNN(dropout=1.5), ValueError, r"dropout must be in \[0, 1\)"),
    "CNN image without batch dim": (lambda: models.SmallCNN()(torch.rand(1, 8, 8)), ValueError,
                                    r"add a batch dimension with x\.unsqueeze\(0\)"),
    "mode_report of a string": (lambda: modes.mode_report("model"), TypeError, r"torch\.nn\.Module"),
    "eval_mode of a list": (lambda: modes.eval_mode([nn.Linear(1, 1)]).__enter__(), TypeError,
                            r"torch\.nn\.Module"),
    "preserved_state of a tensor": (lambda: modes.preserved_state(torch.zeros(1)).__enter__(), TypeError,
                                    r"not its output"),
    "require_mode('yes')": (lambda: modes.require_mode(nn.Linear(1, 1), "yes", "x"), TypeError,
                            r"training must be True \(train mode\) or False \(eval mode\)"),
    "freeze of a state_dict": (lambda: freezing.freeze(nn.Linear(1, 1).state_dict()), TypeError, r"not its output or its state_dict"),
    "freeze keep_eval='bn'": (lambda: freezing.freeze(nn.Linear(1, 1), keep_eval="bn"), ValueError,
                              r"keep_eval must be one of 'all', 'norm', 'none'"),
    "saved_tensor_bytes(42)": (lambda: measure.saved_tensor_bytes(42), TypeError,
                               r"fn must be a callable taking no arguments"),
    "unknown grad mode": (lambda: measure.saved_tensor_bytes(lambda: None, "fast"), ValueError,
                          r"grad_mode must be one of \('grad', 'no_grad', 'inference_mode'\)"),
    "zero repeats": (lambda: measure.time_per_call(lambda: None, repeats=0), ValueError, r"repeats must be >= 1"),
    "negative seed": (lambda: runtime.set_seed(-1), ValueError, r"seed must be an int from 0 to 2\*\*32 - 1"),
    "float seed": (lambda: runtime.setup(seed=1.5), ValueError, r"for example 0"),
    "zero threads": (lambda: runtime.setup(threads=0), ValueError, r"threads must be a positive int"),
}


@pytest.mark.parametrize("case", PACKAGE_CASES)
def test_package_helpers_reject_bad_input(case):
    _raises(*PACKAGE_CASES[case])


# ---------------------------------------------------------------------------
# Widgets' constructors and setters
# ---------------------------------------------------------------------------


def _threshold(*args, **kwargs):
    from course_utils.widgets import ThresholdExplorer

    return ThresholdExplorer(*args, **kwargs)


def _threshold_from_logits(*args, **kwargs):
    from course_utils.widgets import ThresholdExplorer

    return ThresholdExplorer.from_logits(*args, **kwargs)


def _widget(name, **kwargs):
    import course_utils.widgets as w

    return getattr(w, name)(**kwargs)


Y4 = torch.tensor([0, 1, 0, 1])

WIDGET_CASES = {
    "threshold: logits instead of probabilities": (
        lambda: _threshold(torch.tensor([-2.0, 3.0, 0.5, 1.0]), Y4), ValueError,
        r"must lie in \[0, 1\].*look like logits.*torch\.sigmoid\(logits\).*from_logits"),
    "threshold: labels instead of probabilities": (lambda: _threshold(Y4, Y4), TypeError,
                                                   r"did you pass predicted labels"),
    "threshold: two columns": (lambda: _threshold(torch.rand(4, 2), Y4), ValueError,
                               r"shape \(N,\) or \(N, 1\), got \(4, 2\).*pick one class against the rest"),
    "threshold: NaN": (lambda: _threshold(torch.tensor([0.1, NAN, 0.3, 0.9]), Y4), ValueError,
                       r"1 NaN or infinite value.*index 1"),
    "threshold: empty": (lambda: _threshold(torch.zeros(0), torch.zeros(0)), ValueError, r"is empty"),
    "threshold: lengths differ": (lambda: _threshold(torch.rand(4), Y4[:3]), ValueError,
                                  r"4 probabilities and 3 targets"),
    "threshold: three classes": (lambda: _threshold(torch.rand(4), torch.tensor([0, 1, 2, 1])), ValueError,
                                 r"targets must be binary.*\(targets == k\)"),
    "threshold: one class": (lambda: _threshold(torch.rand(4), torch.ones(4)), ValueError,
                             r"only class 1.*both classes"),
    "threshold: 1.5": (lambda: _threshold(torch.rand(4), Y4, threshold=1.5), ValueError,
                       r"threshold must be between 0 and 1"),
    "threshold: a string": (lambda: _threshold("probs", Y4), TypeError, r"torch\.Tensor or a numpy array"),
    "threshold: meta tensor": (lambda: _threshold(torch.zeros(4, device=META), Y4), ValueError,
                               r"'meta' device"),
    "threshold: 3 logits per sample": (lambda: _threshold_from_logits(torch.randn(4, 3), Y4), ValueError,
                                       r"one logit per sample.*torch\.softmax\(logits, dim=1\)\[:, k\]"),
    "threshold: NaN logits": (lambda: _threshold_from_logits(torch.tensor([NAN, 1.0, 0.0, 2.0]), Y4),
                              ValueError, r"logits contain NaN"),
    "mode explorer: p=1": (lambda: _widget("ModeExplorer", p=1.0), ValueError, r"p must be below 1.*p=0\.5"),
    "mode explorer: mode 'test'": (lambda: _widget("ModeExplorer", mode="test"), ValueError,
                                   r"mode must be one of \['train', 'eval'\]"),
    "mode explorer: one sample": (lambda: _widget("ModeExplorer", n_samples=1), ValueError,
                                  r"n_samples must be between 2 and 256"),
    "batchnorm panel: batch of 1": (lambda: _widget("BatchNormPanel", batch_size=1), ValueError,
                                    r"batch_size must be between 2 and 64"),
    "batchnorm panel: momentum 0": (lambda: _widget("BatchNormPanel", momentum=0), ValueError,
                                    r"momentum must be in \(0, 1\].*default is 0\.1"),
    "live boundary: unknown data set": (lambda: _widget("LiveBoundaryTrainer", dataset="spirals"), ValueError,
                                        r"dataset must be one of \['circles', 'moons', 'blobs'\]"),
    "live boundary: lr 5": (lambda: _widget("LiveBoundaryTrainer", lr=5), ValueError,
                            r"lr must be between 0\.0001 and 1"),
    "live boundary: dropout 0.9": (lambda: _widget("LiveBoundaryTrainer", dropout=0.9), ValueError,
                                   r"dropout must be between 0\.0 and 0\.8"),
    "live boundary: depth as text": (lambda: _widget("LiveBoundaryTrainer", depth="2"), TypeError,
                                     r"depth must be an int between 0 and 4"),
    "live boundary: unknown activation": (lambda: _widget("LiveBoundaryTrainer", activation="swish"),
                                          ValueError, r"activation must be one of"),
}


@pytest.mark.parametrize("case", WIDGET_CASES)
def test_widget_constructors_reject_bad_input(case):
    _raises(*WIDGET_CASES[case])


def test_threshold_setter_rejects_bad_input():
    w = _threshold(torch.tensor([0.2, 0.8, 0.4, 0.6]), Y4)
    before = dict(w.state)
    for bad, error in ((1.5, ValueError), (-0.01, ValueError), (NAN, ValueError), ("0.5", TypeError)):
        with pytest.raises(error, match=r"threshold must be"):
            w.set_threshold(bad)
    assert w.state == before and w.slider.value == 0.5  # nothing moved


# ---------------------------------------------------------------------------
# Exercise checkers: a friendly ❌, never a traceback
# ---------------------------------------------------------------------------


def _checkers() -> list[tuple[str, object]]:
    return all_checkers()


def _crashing_answer(*args, **kwargs):
    raise RuntimeError("something inside the answer broke")


BAD_ANSWERS = {
    "an int": 42,
    "None": None,
    "the result of calling it": torch.zeros(3),
    "a function without arguments": lambda: None,
    "a function that raises": _crashing_answer,
}

def _checker_params():
    return [
        pytest.param(fn, answer, id=f"{name}-{label}")
        for name, fn in _checkers()
        for label, answer in BAD_ANSWERS.items()
    ]


@pytest.mark.parametrize(("checker", "answer"), _checker_params())
def test_checkers_answer_bad_answers_with_a_friendly_failure(checker, answer, capsys):
    result = checker(answer)
    out = capsys.readouterr().out
    assert isinstance(result, CheckResult) and not result, f"{checker.__module__}.{checker.__name__}"
    assert out.startswith("❌ Exercise"), out
    assert "Traceback" not in out
    # The failure says what went wrong with this answer (the hints live in the notebook).
    detail = out.splitlines()[0].split("failed", 1)[-1]
    assert len(detail.strip(" ():")) > 20, out


def test_there_are_checkers_to_test():
    assert len(_checkers()) >= 10
