"""Notebook 10's checkers accept correct answers and name the problem in typical wrong ones."""

from __future__ import annotations

import copy
import json
import re
from functools import partial
from pathlib import Path

import pytest
import torch
from torch import nn

from course_utils.exercises import nb10
from course_utils.measure import saved_tensor_bytes
from course_utils.modes import eval_mode

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "10-common-mistakes.ipynb"


def failed(result, capsys, *needles: str) -> str:
    """Assert the checker failed, printed one ❌ line naming ``needles``, and no traceback."""
    out = capsys.readouterr().out
    assert not result.passed, out
    assert out.startswith("❌"), out
    assert "Traceback" not in out
    for needle in needles:
        assert needle in out, f"{needle!r} not in {out!r}"
    return out


def passed(result, capsys) -> None:
    out = capsys.readouterr().out
    assert result.passed, out
    assert out.startswith("✅"), out


# ---------------------------------------------------------------------------
# The gallery's ids
# ---------------------------------------------------------------------------


def test_mistake_ids_match_the_notebook_table():
    """Exercise 1 answers with the ids (and numbers) of the notebook's table."""
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    markdown = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    rows = re.findall(r"^\| (\d+) \| \[.*?\]\(#([a-z-]+)\) \|.*\| `([a-z-]+)` \|$", markdown, re.M)
    assert [(int(n), anchor) for n, anchor, _ in rows] == list(enumerate(nb10.MISTAKES, start=1))
    assert all(anchor == label for _, anchor, label in rows)
    for mistake_id in nb10.MISTAKES:  # every link has its target
        assert f'<a id="{mistake_id}"></a>' in markdown


# ---------------------------------------------------------------------------
# Exercise 1: spot the bug
# ---------------------------------------------------------------------------

RIGHT = {
    "A": "softmax-before-ce",
    "B": "no-grad-not-eval",
    "C": "forgot-zero-grad",
    "D": "functional-dropout",
    "E": "frozen-bn-drift",
    "F": "inference-tensors",
}


def test_exercise_1_accepts_the_answers(capsys):
    passed(nb10.check_exercise_1(RIGHT), capsys)


def test_exercise_1_accepts_numbers_case_and_the_other_name_for_b(capsys):
    ids = list(nb10.MISTAKES)
    answers = {k.lower(): ids.index(v) + 1 for k, v in RIGHT.items()}
    answers["b"] = "Forgot_Eval"
    passed(nb10.check_exercise_1(answers), capsys)


def test_exercise_1_names_the_wrong_snippet_with_a_hint(capsys):
    answers = dict(RIGHT, C="forgot-train")
    out = failed(nb10.check_exercise_1(answers), capsys, "5 of 6 right", "C: not 'forgot-train'", ".grad")
    assert "forgot-zero-grad" not in out  # the hint does not give the answer away


@pytest.mark.parametrize(
    ("answers", "needle"),
    [
        (["softmax-before-ce"], "should be a dict"),
        ({k: v for k, v in RIGHT.items() if k != "F"}, "no answer for snippet(s) F"),
        (dict(RIGHT, G="forgot-eval"), "remove G"),
        (dict(RIGHT, A="softmax-before-cross-entropy"), "did you mean 'softmax-before-ce'"),
        (dict(RIGHT, A=15), "is not an id from the table"),
    ],
)
def test_exercise_1_explains_malformed_answers(capsys, answers, needle):
    failed(nb10.check_exercise_1(answers), capsys, needle)


# ---------------------------------------------------------------------------
# Exercise 2: accuracy_fixed
# ---------------------------------------------------------------------------


def accuracy_fixed(model, X, y):
    flags = {m: m.training for m in model.modules()}
    model.eval()
    try:
        with torch.inference_mode():
            predictions = (model(X) > 0).reshape(-1).long()
        return (predictions == y.reshape(-1).long()).float().mean().item()
    finally:
        for m, flag in flags.items():
            m.training = flag


def accuracy_with_helpers(model, X, y):
    """Also correct: the course's eval_mode and probabilities thresholded at 0.5."""
    with eval_mode(model), torch.no_grad():
        probabilities = torch.sigmoid(model(X)).reshape(-1)
    return ((probabilities > 0.5).float() == y.reshape(-1).float()).float().mean().item()


def accuracy_buggy(model, X, y):
    with torch.no_grad():
        predictions = (model(X) > 0.5).float()
    return (predictions == y.squeeze()).float().mean()


def accuracy_buggy_item(model, X, y):
    return accuracy_buggy(model, X, y).item()


def variant(threshold=0.0, reshape=True, eval_=True, restore="all", no_grad=True, use_argmax=False):
    """accuracy_fixed with one thing changed."""

    def fn(model, X, y):
        flags = {m: m.training for m in model.modules()}
        top = model.training
        if eval_:
            model.eval()
        with torch.no_grad() if no_grad else torch.enable_grad():
            logits = model(X)
        predictions = logits.argmax(dim=1, keepdim=True) if use_argmax else logits > threshold
        predictions = predictions.float()
        targets = y.float()
        if reshape:
            predictions, targets = predictions.reshape(-1), targets.reshape(-1)
        else:
            targets = targets.reshape(-1)  # predictions stay (N, 1)
        result = (predictions == targets).float().mean().item()
        if restore == "all":
            for m, flag in flags.items():
                m.training = flag
        elif restore == "top":
            model.train(top)
        elif restore == "train":
            model.train()
        return result

    return fn


def test_exercise_2_accepts_correct_answers(capsys):
    passed(nb10.check_exercise_2(accuracy_fixed), capsys)
    passed(nb10.check_exercise_2(accuracy_with_helpers), capsys)


def test_exercise_2_rejects_the_buggy_original(capsys):
    failed(nb10.check_exercise_2(accuracy_buggy), capsys, "is a tensor", ".item()")
    failed(
        nb10.check_exercise_2(accuracy_buggy_item),
        capsys,
        "thresholded the logits at 0.5",
        "broadcasting",
    )


@pytest.mark.parametrize(
    ("fn", "needles"),
    [
        (variant(threshold=0.5), ("thresholded the logits at 0.5", "logits > 0")),
        (variant(use_argmax=True), ("argmax over a single column",)),
        (variant(reshape=False), ("(N,)", "broadcasting")),
        (variant(eval_=False, restore="none"), ("dropout is still active", "model.eval()")),
        (variant(restore="none"), ("came back (partly) in eval mode",)),
        (variant(restore="train"), ("eval mode kept", "instead of calling model.train()")),
        (variant(restore="top"), ("MIXED modes",)),
        (variant(no_grad=False), ("gradient tracking on",)),
    ],
)
def test_exercise_2_names_each_mistake(capsys, fn, needles):
    failed(nb10.check_exercise_2(fn), capsys, *needles)


def test_exercise_2_reports_non_functions_and_errors_without_a_traceback(capsys):
    failed(nb10.check_exercise_2(accuracy_fixed(nn.Linear(1, 1), torch.ones(2, 1), torch.ones(2))), capsys,
           "expected a function")

    def broken(model, X, y):
        raise KeyError("oops")

    failed(nb10.check_exercise_2(broken), capsys, "your code raised KeyError")


def test_exercise_2_restores_grad_switch_and_leaves_the_rng_alone(capsys):
    def switches_grad_off(model, X, y):
        torch.set_grad_enabled(False)
        return accuracy_fixed(model, X, y)

    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    failed(nb10.check_exercise_2(switches_grad_off), capsys, "gradient tracking is still off")
    assert torch.is_grad_enabled()
    assert torch.equal(torch.rand(3), expected)


# ---------------------------------------------------------------------------
# Capstone: validate
# ---------------------------------------------------------------------------

DROPOUT = (nn.Dropout, nn.Dropout2d)


def make_validate(
    eval_metrics=True,
    weighted=True,
    batched=True,
    metrics_tracked=False,
    dropout_switch="layers",
    bytes_grad_mode="inference_mode",
    bytes_outside=True,
    bytes_train_mode=False,
    first_inference=False,
    restore="all",
    as_tensors=False,
    percent=False,
    drop_key=None,
):
    """The notebook's solution, with one behaviour changed per keyword."""

    def validate(model, X, y, loss_fn, batch_size=64):
        flags = {m: m.training for m in model.modules()}
        top = model.training
        first = None if first_inference else X[:batch_size].clone()
        if eval_metrics:
            model.eval()
        step = batch_size if batched else len(X)
        total, correct, means = 0.0, 0, []
        with torch.enable_grad() if metrics_tracked else torch.inference_mode():
            if first is None:
                first = X[:batch_size].clone()  # an inference tensor
            for start in range(0, len(X), step):
                xb, yb = X[start:start + step], y[start:start + step]
                logits = model(xb)
                loss = loss_fn(logits, yb).item()
                total += loss * len(xb)
                correct += (logits.argmax(dim=1) == yb).sum().item()
                means.append(loss)
            model.eval()
            off = model(first)
            if dropout_switch == "layers":
                for m in model.modules():
                    if isinstance(m, DROPOUT):
                        m.train()
            elif dropout_switch == "model":
                model.train()
            on = model(first)
            model.eval()
            measured = {}
            if not bytes_outside:
                measured["bytes_grad"] = saved_tensor_bytes(partial(model, first), "grad")
        if bytes_outside:
            # a train-mode copy: the original's BatchNorm statistics stay as they are
            measured_model = copy.deepcopy(model).train() if bytes_train_mode else model
            measured["bytes_grad"] = saved_tensor_bytes(partial(measured_model, first), "grad")
        measured["bytes_no_grad"] = saved_tensor_bytes(partial(model, first), bytes_grad_mode)
        if restore == "all":
            for m, flag in flags.items():
                m.training = flag
        elif restore == "top":
            model.train(top)
        loss = total / len(X) if weighted else sum(means) / len(means)
        accuracy = correct / len(X) * (100 if percent else 1)
        gap = (on - off).abs().mean()
        report = {
            "loss": torch.tensor(loss) if as_tensors else loss,
            "accuracy": accuracy,
            "dropout_gap": gap if as_tensors else gap.item(),
            **measured,
        }
        report.pop(drop_key, None)
        return report

    return validate


def test_capstone_accepts_the_solution(capsys):
    passed(nb10.check_capstone(make_validate()), capsys)


def test_capstone_accepts_measuring_on_a_slice(capsys):
    """saved_tensor_bytes of X[:batch_size] (a view) counts X's storage; that is accepted too."""

    def on_slice(model, X, y, loss_fn, batch_size=64):
        report = make_validate()(model, X, y, loss_fn, batch_size)
        with eval_mode(model):
            report["bytes_grad"] = saved_tensor_bytes(partial(model, X[:batch_size]), "grad")
        return report

    passed(nb10.check_capstone(on_slice), capsys)


@pytest.mark.parametrize(
    ("bug", "needles"),
    [
        ({"eval_metrics": False}, ("dropout is active during the metric pass", "model.eval()")),
        ({"weighted": False}, ("averaged the per-batch means", "weight each batch by its size")),
        ({"batched": False}, ("loop over X in steps of batch_size",)),
        ({"metrics_tracked": True}, ("metric loop ran with gradient tracking on",)),
        ({"dropout_switch": "none"}, ("dropout_gap is 0.0", "dropout layers to train mode")),
        ({"dropout_switch": "model"}, ("running statistics changed", "only the dropout layers")),
        ({"bytes_grad_mode": "grad"}, ("bytes_no_grad is", "'no_grad' or 'inference_mode'")),
        ({"bytes_outside": False}, ("bytes_grad is 0", "outside any inference_mode()")),
        ({"bytes_train_mode": True}, ("measured in train mode",)),
        ({"first_inference": True}, ("RuntimeError", "Inference tensors cannot be saved")),
        ({"restore": "none"}, ("came back (partly) in eval mode",)),
        ({"restore": "top"}, ("MIXED modes",)),
        ({"as_tensors": True}, ("is a tensor", ".item()")),
        ({"percent": True}, ("not a percentage",)),
        ({"drop_key": "bytes_grad"}, ("the dict has no 'bytes_grad'",)),
    ],
)
def test_capstone_names_each_mistake(capsys, bug, needles):
    failed(nb10.check_capstone(make_validate(**bug)), capsys, *needles)


def test_capstone_catches_a_dropout_pass_on_a_copy_in_train_mode(capsys):
    """Running the 'dropout on' pass on a train-mode copy spares the statistics, but BatchNorm
    then normalises with batch statistics, so the gap no longer measures dropout alone."""
    def on_copy(model, X, y, loss_fn, batch_size=64):
        report = make_validate(dropout_switch="none")(model, X, y, loss_fn, batch_size)
        first = X[:batch_size].clone()
        twin = copy.deepcopy(model)
        with torch.no_grad():
            off = twin.eval()(first)
            on = twin.train()(first)
        report["dropout_gap"] = (on - off).abs().mean().item()
        return report

    failed(nb10.check_capstone(on_copy), capsys, "dropout has p=0", "BatchNorm was in train mode")


def test_capstone_catches_measuring_memory_on_the_model_in_train_mode(capsys):
    def measures_in_train_mode(model, X, y, loss_fn, batch_size=64):
        report = make_validate()(model, X, y, loss_fn, batch_size)
        flags = {m: m.training for m in model.modules()}
        report["bytes_grad"] = saved_tensor_bytes(partial(model.train(), X[:batch_size].clone()), "grad")
        for m, flag in flags.items():
            m.training = flag
        return report

    failed(nb10.check_capstone(measures_in_train_mode), capsys, "running statistics changed")


def test_capstone_reports_non_functions_without_a_traceback(capsys):
    failed(nb10.check_capstone({"loss": 0.1}), capsys, "expected a function")
