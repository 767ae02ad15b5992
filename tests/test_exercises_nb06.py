"""The notebook 06 checkers accept correct answers and reject each classic mistake with its reason."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest
import torch
from torch import nn

from course_utils.data import make_dataset
from course_utils.exercises import nb06
from course_utils.plotting import compute_decision_boundary

# ---------------------------------------------------------------------------
# Exercise 6.1: grid_labels(model, points)
# ---------------------------------------------------------------------------


def _to_labels(logits: torch.Tensor) -> torch.Tensor:
    if logits.shape[1] == 1:
        return (torch.sigmoid(logits[:, 0]) >= 0.5).long()
    return logits.argmax(dim=1)


def right(model, points):
    before = {m: m.training for m in model.modules()}
    model.eval()
    try:
        with torch.inference_mode():
            logits = model(points)
    finally:
        for m, flag in before.items():
            m.training = flag
    return _to_labels(logits)


def right_no_grad_and_train_method(model, points):
    """Another correct answer: no_grad instead of inference_mode, modes put back with .train(flag)."""
    before = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with torch.no_grad():
            logits = model(points)
    finally:
        for m, flag in before:
            m.train(flag)
    return _to_labels(logits)


def wrong_mode(model, points):  # forward pass in whatever mode the model arrived in
    with torch.inference_mode():
        return _to_labels(model(points))


def forced_eval(model, points):  # modes not restored: left in eval
    model.eval()
    with torch.inference_mode():
        return _to_labels(model(points))


def forced_train_at_end(model, points):  # "restored" to train regardless of where they were
    model.eval()
    with torch.inference_mode():
        labels = _to_labels(model(points))
    model.train()
    return labels


def top_flag_only(model, points):  # restores only the model's own flag, not each layer's
    was = model.training
    model.eval()
    try:
        with torch.inference_mode():
            logits = model(points)
    finally:
        model.train(was)
    return _to_labels(logits)


def no_finally(model, points):  # modes restored, but not when the forward pass raises
    before = {m: m.training for m in model.modules()}
    model.eval()
    with torch.inference_mode():
        logits = model(points)
    for m, flag in before.items():
        m.training = flag
    return _to_labels(logits)


def tracking_then_detach(model, points):
    before = {m: m.training for m in model.modules()}
    model.eval()
    try:
        logits = model(points).detach()
    finally:
        for m, flag in before.items():
            m.training = flag
    return _to_labels(logits)


def grad_switch_left_off(model, points):
    before = {m: m.training for m in model.modules()}
    model.eval()
    torch.set_grad_enabled(False)
    try:
        logits = model(points)
    finally:
        for m, flag in before.items():
            m.training = flag
    return _to_labels(logits)


def _with(to_labels):
    def answer(model, points):
        before = {m: m.training for m in model.modules()}
        model.eval()
        try:
            with torch.inference_mode():
                logits = model(points)
        finally:
            for m, flag in before.items():
                m.training = flag
        return to_labels(logits)

    return answer


def dropout_only_to_eval(model, points):  # BatchNorm forgotten: only Dropout layers switched
    before = {m: m.training for m in model.modules()}
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.eval()
    try:
        with torch.inference_mode():
            logits = model(points)
    finally:
        for m, flag in before.items():
            m.training = flag
    return _to_labels(logits)


def no_grad_missing(model, points):
    before = {m: m.training for m in model.modules()}
    model.eval()
    try:
        logits = model(points)
    finally:
        for m, flag in before.items():
            m.training = flag
    return _to_labels(logits)


def grad_forced_on(model, points):  # tracking off inside, then forced on: wrong for a caller inside no_grad
    before = {m: m.training for m in model.modules()}
    model.eval()
    torch.set_grad_enabled(False)
    try:
        logits = model(points)
    finally:
        torch.set_grad_enabled(True)
        for m, flag in before.items():
            m.training = flag
    return _to_labels(logits)


def grad_left_off_when_raising(model, points):  # tracking restored on the normal path only
    before = {m: m.training for m in model.modules()}
    model.eval()
    torch.set_grad_enabled(False)
    try:
        logits = model(points)
        torch.set_grad_enabled(True)
    finally:
        for m, flag in before.items():
            m.training = flag
    return _to_labels(logits)


def model_output_squeezed(model, points):  # squeeze() drops the batch axis of a single point too
    before = {m: m.training for m in model.modules()}
    model.eval()
    try:
        with torch.inference_mode():
            logits = model(points).squeeze()
    finally:
        for m, flag in before.items():
            m.training = flag
    if logits.ndim <= 1 and logits.numel() == len(points):
        return (torch.sigmoid(logits) >= 0.5).long().reshape(-1)
    return logits.argmax(dim=-1)


WRONG_1 = {
    "grad switch forced on at the end": (grad_forced_on, "for a caller who had gradient tracking switched off"),
    "grad switch left off only when the forward pass raises": (
        grad_left_off_when_raising, "after the forward pass raised, gradient tracking was left off"),
    "squeeze() on the 4-class model's output": (
        model_output_squeezed, "one point through a 4-class model (1 point) your labels have shape ()"),
    "argmax(dim=1).squeeze() on one point": (
        _with(lambda z: _to_labels(z) if z.shape[1] == 1 else z.argmax(dim=1).squeeze()),
        "with a batch of one, the batch axis has size 1 too"),
    "only Dropout switched to eval": (dropout_only_to_eval, "running statistics changed"),
    "no no_grad at all": (no_grad_missing, "gradient tracking on"),
    "forward pass in the mode it arrived in": (wrong_mode, "dropout active"),
    "modes left in eval": (forced_eval, "the model itself (Sequential) train -> eval"),
    "modes forced to train at the end": (forced_train_at_end, "layer 0 (Linear) eval -> train"),
    "only the top-level flag restored": (top_flag_only, "layer 0 (Linear) eval -> train"),
    "restored without finally": (no_finally, "when the model's forward pass raised"),
    "tracking on, then detach()": (tracking_then_detach, "gradient tracking on"),
    "grad switch left off": (grad_switch_left_off, "still switched off"),
    "threshold on the logit": (_with(lambda z: (z[:, 0] >= 0.5).long() if z.shape[1] == 1 else z.argmax(1)),
                               "applies to the probability, not to the logit"),
    "strict > at P = 0.5": (_with(lambda z: (torch.sigmoid(z[:, 0]) > 0.5).long() if z.shape[1] == 1
                                  else z.argmax(1)), "P >= 0.5 counts as class 1"),
    "sigmoid for every shape": (_with(lambda z: (torch.sigmoid(z) >= 0.5).long().squeeze(1)
                                      if z.shape[1] == 1 else (torch.sigmoid(z) >= 0.5).long()),
                                "a 4-class model (100 points) your labels have shape (100, 4)"),
    "argmax over the wrong dim": (_with(lambda z: _to_labels(z) if z.shape[1] == 1 else z.argmax(0)),
                                  "shape (4,)"),
    "labels as bool": (_with(lambda z: _to_labels(z).bool()), "dtype torch.bool"),
    "labels as float": (_with(lambda z: _to_labels(z).float()), "dtype torch.float32"),
    "one column kept": (_with(lambda z: _to_labels(z)[:, None]), "shape (4, 1)"),
    "squeeze() on a batch of one": (_with(lambda z: (torch.sigmoid(z) >= 0.5).long().squeeze()
                                          if z.shape[1] == 1 else z.argmax(1)), "on a batch of one (1 point) your labels have shape ()"),
    "probabilities, not labels": (_with(lambda z: torch.sigmoid(z[:, 0]) if z.shape[1] == 1 else z.argmax(1)),
                                  "dtype torch.float32"),
    "fails on an empty grid": (_with(lambda z: _to_labels(z) if len(z) else z[0]), "your code raised IndexError"),
    "returns a NumPy array": (_with(lambda z: _to_labels(z).numpy()), "returned ndarray"),
    "not a function": (right(nn.Linear(2, 1), torch.zeros(3, 2)), "expected a function"),
}


@pytest.mark.parametrize("answer", [right, right_no_grad_and_train_method], ids=["inference_mode", "no_grad"])
def test_exercise_1_right_answers_pass(answer, capsys):
    assert nb06.check_exercise_1(answer).passed
    assert "✅ Exercise 6.1 (grid_labels) passed" in capsys.readouterr().out


def test_exercise_1_does_not_touch_the_notebooks_random_numbers():
    torch.manual_seed(5)
    expected = torch.rand(4)
    torch.manual_seed(5)
    nb06.check_exercise_1(right)
    assert torch.equal(torch.rand(4), expected)


@pytest.mark.parametrize(("answer", "says"), list(WRONG_1.values()), ids=list(WRONG_1))
def test_exercise_1_rejects_each_classic_mistake(answer, says, capsys):
    result = nb06.check_exercise_1(answer)
    out = capsys.readouterr().out
    assert torch.is_grad_enabled()
    assert not result.passed
    assert says in result.message, result.message
    assert "❌ Exercise 6.1 (grid_labels)" in out and "Hint:" in out
    assert "Traceback" not in out


# ---------------------------------------------------------------------------
# Exercise 6.2: a BatchNorm network in train mode
# ---------------------------------------------------------------------------


def _measured() -> tuple[dict, nn.Module]:
    bn_net = nb06.exercise_2_model()
    circles = make_dataset("circles")
    first, second = (compute_decision_boundary(bn_net, circles.X_test, circles.y_test, mode="train")
                     for _ in range(2))
    answers = {
        "same_every_time": bool((first.labels == second.labels).all()),
        "grid_share_class_1": float(first.labels.mean()),
        "test_accuracy": first.accuracy,
    }
    return answers, bn_net


@pytest.fixture(scope="module")
def measured() -> tuple[dict, nn.Module]:
    return _measured()


def test_exercise_2_measured_answers_pass(measured, capsys):
    answers, bn_net = measured
    assert nb06.check_exercise_2(answers, bn_net).passed
    assert "✅ Exercise 6.2 (BatchNorm in train mode) passed" in capsys.readouterr().out


def test_exercise_2_the_train_mode_boundary_is_repeatable_but_wrong(measured):
    """The facts the exercise is built on, with margins."""
    answers, bn_net = measured
    circles = make_dataset("circles")
    evals = compute_decision_boundary(bn_net, circles.X_test, circles.y_test)
    assert answers["same_every_time"]
    assert answers["grid_share_class_1"] > evals.labels.mean() + 0.2  # the inner class swells
    assert answers["test_accuracy"] < evals.accuracy - 0.3


def _train_by_hand(bn_net: nn.Module) -> nn.Module:
    """A learner's own train-mode pass over the test points, not put back."""
    circles = make_dataset("circles")
    bn_net.train()
    with torch.no_grad():
        bn_net(circles.X_test)
    return bn_net


def _mutated(name: str) -> tuple[dict, nn.Module]:
    answers, _ = _measured()
    bn_net = nb06.exercise_2_model()
    if name == "left in train mode":
        bn_net.train()
    elif name == "running statistics moved":
        _train_by_hand(bn_net).eval()
    return answers, bn_net


@pytest.mark.parametrize(
    ("name", "says"),
    [("left in train mode", "in train mode"), ("running statistics moved", "running statistics")],
)
def test_exercise_2_rejects_a_network_that_was_changed(name, says, capsys):
    answers, bn_net = _mutated(name)
    result = nb06.check_exercise_2(answers, bn_net)
    assert not result.passed and says in result.message, result.message
    assert "Hint:" in capsys.readouterr().out


def test_exercise_2_accepts_one_element_tensors(measured, capsys):
    answers, bn_net = measured
    as_tensors = {key: torch.tensor(value) for key, value in answers.items()}
    assert nb06.check_exercise_2(as_tensors, bn_net).passed, capsys.readouterr().out


def _eval_numbers() -> dict:
    bn_net = nb06.exercise_2_model()
    circles = make_dataset("circles")
    evals = compute_decision_boundary(bn_net, circles.X_test, circles.y_test)
    return {"grid_share_class_1": float(evals.labels.mean()), "test_accuracy": evals.accuracy}


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"same_every_time": False}, "same_every_time does not match"),
        ("eval share", "running statistics (eval mode)"),
        ("eval accuracy", "running statistics (eval mode)"),
        ({"grid_share_class_1": 0.3}, "is not the share of the grid"),
        ({"test_accuracy": 0.75}, "is not the test accuracy"),
        ("share in percent", "a fraction between 0 and 1"),
        ({"test_accuracy": "50%"}, "test_accuracy must be a number"),
        ({"same_every_time": "yes"}, "must be True or False"),
        ({"test_accuracy": 1.0}, "the test points go through by themselves"),
        ({"test_accuracy": float("nan")}, "must be a number"),
        ("a key missing", "missing: test_accuracy"),
        ("an extra key", "unexpected keys: flips"),
        ("a key twice", "appears more than once"),
        ("a list", "must be a dict"),
        ("no network", "pass the network you worked on"),
        ("another network", "not the network from exercise_2_model()"),
    ],
    ids=["not repeatable", "eval share", "eval accuracy", "made-up share", "made-up accuracy", "percent",
         "text", "yes", "test points alone", "nan", "missing", "extra", "twice", "list", "no network", "other network"],
)
def test_exercise_2_rejects_wrong_answers(measured, change, says, capsys):
    answers, bn_net = dict(measured[0]), measured[1]
    net = bn_net
    if isinstance(change, dict):
        answers.update(change)
    elif change == "eval share":
        answers["grid_share_class_1"] = _eval_numbers()["grid_share_class_1"]
    elif change == "eval accuracy":
        answers["test_accuracy"] = _eval_numbers()["test_accuracy"]
    elif change == "share in percent":
        answers["grid_share_class_1"] *= 100
    elif change == "a key missing":
        del answers["test_accuracy"]
    elif change == "an extra key":
        answers["flips"] = 0.0
    elif change == "a key twice":
        answers["Test_Accuracy"] = 0.3
    elif change == "a list":
        answers = list(answers.values())
    elif change == "no network":
        net = None
    elif change == "another network":
        net = nn.Linear(2, 1)
    result = nb06.check_exercise_2(answers, net) if net is not None else nb06.check_exercise_2(answers)
    out = capsys.readouterr().out
    assert not result.passed
    assert says in result.message, result.message
    assert "❌ Exercise 6.2 (BatchNorm in train mode)" in out and "Hint:" in out


def test_exercise_2_model_is_the_same_every_call_and_in_eval_mode():
    a, b = nb06.exercise_2_model(), nb06.exercise_2_model()
    assert a is not b
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))
    assert not any(m.training for m in a.modules())


def test_no_failure_message_or_hint_contains_code(capsys):
    """Messages say what is wrong with the answer, never the code to write."""
    for answer, _ in WRONG_1.values():
        nb06.check_exercise_1(answer)
    answers, bn_net = _measured()
    nb06.check_exercise_2({**answers, "same_every_time": False}, bn_net)
    nb06.check_exercise_2(answers)
    out = capsys.readouterr().out
    for code in ("model.eval()", "inference_mode()", "no_grad()", "finally:", "sigmoid(", "argmax(",
                 "mode=\"train\"", ">= 0.5)", ".long()", "np.array_equal", ".mean()"):
        assert code not in out, code
