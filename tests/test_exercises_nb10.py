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
    "E": "batch-of-one",
    "F": "forgot-train",
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


#: Exercise 1's wrong answers: one snippet mistaken for a neighbouring mistake of the gallery.
EXERCISE_1_WRONG = [
    ("A", "sigmoid-before-bce", "what does the loss compute from its input first"),
    ("B", "tracking-in-validation", "freshly built model"),
    ("C", "tracking-in-validation", "two iterations"),
    ("D", "no-grad-not-eval", "call this layer twice"),
    ("E", "frozen-bn-drift", "last batch of an epoch"),
    ("F", "forgot-eval", "step 101"),
]


@pytest.mark.parametrize(("letter", "answer", "needle"), EXERCISE_1_WRONG)
def test_exercise_1_rejects_each_confusion_without_naming_the_answer(capsys, letter, answer, needle):
    out = failed(nb10.check_exercise_1(dict(RIGHT, **{letter: answer})), capsys, "5 of 6 right",
                 f"{letter}: not {answer!r}", needle)
    for right in nb10.SNIPPETS[letter][0]:
        assert right not in out
        assert nb10.MISTAKES[right] not in out


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


def accuracy_calling_forward(model, X, y):
    """Also correct: model.forward(X) instead of model(X) (it skips the model's own hooks)."""
    with eval_mode(model), torch.no_grad():
        predictions = (model.forward(X) > 0).reshape(-1).float()
    return (predictions == y.reshape(-1).float()).float().mean().item()


def accuracy_buggy(model, X, y):
    with torch.no_grad():
        predictions = (model(X) > 0.5).float()
    return (predictions == y.squeeze()).float().mean()


def accuracy_buggy_item(model, X, y):
    return accuracy_buggy(model, X, y).item()


def variant(threshold=0.0, reshape=True, eval_=True, restore="all", no_grad=True, use_argmax=False,
            grad_switch=False):
    """accuracy_fixed with one thing changed.

    restore: "all" (in a finally: block), "after" (every flag, but not in finally:),
    "top" (one flag for the whole model), "train" (forced to train mode), "none".
    grad_switch: tracking switched off with set_grad_enabled(False) and forced back ON in finally:.
    """

    def fn(model, X, y):
        flags = {m: m.training for m in model.modules()}
        top = model.training

        def put_back():
            if restore in ("all", "after"):
                for m, flag in flags.items():
                    m.training = flag
            elif restore == "top":
                model.train(top)
            elif restore == "train":
                model.train()

        if eval_:
            model.eval()
        try:
            if grad_switch:
                torch.set_grad_enabled(False)
                logits = model(X)
            else:
                with torch.no_grad() if no_grad else torch.enable_grad():
                    logits = model(X)
        finally:
            if grad_switch:
                torch.set_grad_enabled(True)
            if restore != "after":
                put_back()
        if restore == "after":
            put_back()
        predictions = logits.argmax(dim=1, keepdim=True) if use_argmax else logits > threshold
        predictions = predictions.float()
        targets = y.float()
        if reshape:
            predictions, targets = predictions.reshape(-1), targets.reshape(-1)
        else:
            targets = targets.reshape(-1)  # predictions stay (N, 1)
        return (predictions == targets).float().mean().item()

    return fn


def accuracy_squeezed(model, X, y):
    """Right except for a batch of one: squeeze() makes 0-d tensors, and len() fails on them."""
    with eval_mode(model), torch.no_grad():
        predictions = (model(X) > 0).float().squeeze()
    return (predictions == y.float().squeeze()).sum().item() / len(predictions)


def test_exercise_2_accepts_correct_answers(capsys):
    passed(nb10.check_exercise_2(accuracy_fixed), capsys)
    passed(nb10.check_exercise_2(accuracy_with_helpers), capsys)
    passed(nb10.check_exercise_2(accuracy_calling_forward), capsys)


def test_exercise_2_rejects_the_buggy_original(capsys):
    failed(nb10.check_exercise_2(accuracy_buggy), capsys, "is a tensor", "Python float")
    failed(
        nb10.check_exercise_2(accuracy_buggy_item),
        capsys,
        "a logit between 0 and 0.5 were counted as class 0",
        "N x N table",
    )


#: Exercise 2's wrong answers: each is right except for one mistake; the message a learner sees.
EXERCISE_2_WRONG = [
    (variant(threshold=0.5), ("a logit between 0 and 0.5 were counted as class 0",)),
    (variant(use_argmax=True), ("with a single output column", "always 0")),
    (variant(reshape=False), ("shape (N, 1) were compared with labels of shape (N,)", "N x N table")),
    (variant(eval_=False, restore="none"), ("dropout was active during the forward pass",)),
    (variant(restore="none"), ("came back with some layers in eval mode",)),
    (variant(restore="train"), ("eval mode kept", "not switched to train mode")),
    (variant(restore="top"), ("MIXED modes", "1 layer(s) in a different mode")),
    (variant(restore="after"), ("forward pass raised an error", "restoring code did not run")),
    (variant(no_grad=False), ("gradient tracking on",)),
    (variant(grad_switch=True), ("inside torch.no_grad()", "left gradient tracking ON")),
    (accuracy_squeezed, ("a batch of one sample", "len() of a 0-d tensor")),
]


@pytest.mark.parametrize(("fn", "needles"), EXERCISE_2_WRONG)
def test_exercise_2_names_each_mistake(capsys, fn, needles):
    out = failed(nb10.check_exercise_2(fn), capsys, *needles)
    assert "model.eval()" not in out and "inference_mode()" not in out  # no code to copy


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
    failed(nb10.check_exercise_2(switches_grad_off), capsys, "turned off and never turned back")
    assert torch.is_grad_enabled()
    assert torch.equal(torch.rand(3), expected)


# ---------------------------------------------------------------------------
# Capstone: validate(model, loader, loss_fn)
# ---------------------------------------------------------------------------

DROPOUT = (nn.Dropout, nn.Dropout2d)


def make_validate(
    eval_metrics=True,
    weighted=True,
    batched=True,
    metrics_tracked=False,
    dropout_switch="layers",
    dropout_kinds=DROPOUT,
    both_on=False,
    gap="mean",
    gap_on="logits",
    gap_data="first",
    gap_value=None,
    bytes_grad_mode="grad",
    bytes_exclude="all",
    bytes_train_mode=False,
    bytes_data="first",
    bytes_value=None,
    first_inference=False,
    restore="all",
    grad_switch=False,
    as_tensors=False,
    percent=False,
    drop_key=None,
    call_forward=False,
):
    """The notebook's solution, with one behaviour changed per keyword."""

    def validate(model, loader, loss_fn):
        flags = {m: m.training for m in model.modules()}
        top = model.training
        forward = model.forward if call_forward else model

        def put_back():
            if restore in ("all", "after"):
                for m, flag in flags.items():
                    m.training = flag
            elif restore == "top":
                model.train(top)
            elif restore == "train":
                model.train()

        if eval_metrics:
            model.eval()
        try:
            if grad_switch:
                torch.set_grad_enabled(False)
            total, correct, count, means = 0.0, 0, 0, []
            first = None
            with torch.enable_grad() if metrics_tracked else torch.inference_mode():
                batches = list(loader) if batched else [tuple(map(torch.cat, zip(*loader, strict=True)))]
                for xb, yb in batches:
                    if first is None and first_inference:
                        first = xb  # an inference tensor
                    logits = forward(xb)
                    loss = loss_fn(logits, yb).item()
                    total += loss * len(xb)
                    correct += (logits.argmax(dim=1) == yb).sum().item()
                    count += len(xb)
                    means.append(loss)
            if first is None:
                first, _ = next(iter(loader))
            everything = torch.cat([xb for xb, _ in loader])
            gap_input = first if gap_data == "first" else everything
            with torch.no_grad():
                model.eval()
                if both_on:
                    for m in model.modules():
                        if isinstance(m, dropout_kinds):
                            m.train()
                off = forward(gap_input)
                if dropout_switch == "layers":
                    for m in model.modules():
                        if isinstance(m, dropout_kinds):
                            m.train()
                elif dropout_switch == "model":
                    model.train()
                on = forward(gap_input)
            model.eval()
            measured_model = copy.deepcopy(model).train() if bytes_train_mode else model
            bytes_input = first if bytes_data == "first" else everything
            exclude = {
                "all": [*measured_model.parameters(), *measured_model.buffers(), bytes_input],
                "none": [],
                "parameters": [*measured_model.parameters()],
                "no buffers": [*measured_model.parameters(), bytes_input],
                "no batch": [*measured_model.parameters(), *measured_model.buffers()],
            }[bytes_exclude]
            activation = saved_tensor_bytes(partial(measured_model, bytes_input), bytes_grad_mode, exclude=exclude)
        finally:
            if grad_switch:
                torch.set_grad_enabled(True)
            if restore != "after":
                put_back()
        if restore == "after":
            put_back()
        loss = total / count if weighted else sum(means) / len(means)
        accuracy = correct / count * (100 if percent else 1)
        if gap_on == "probabilities":
            on, off = on.softmax(dim=1), off.softmax(dim=1)
        difference = {"mean": (on - off).abs().mean(), "max": (on - off).abs().max(),
                      "signed": (on - off).mean()}[gap]
        report = {
            "loss": torch.tensor(loss) if as_tensors else loss,
            "accuracy": accuracy,
            "dropout_gap": difference if as_tensors else difference.item(),
            "activation_bytes": activation,
        }
        if gap_value is not None:
            report["dropout_gap"] = gap_value
        if bytes_value is not None:
            report["activation_bytes"] = bytes_value
        report.pop(drop_key, None)
        return report

    return validate


def validate_with_helpers(model, loader, loss_fn):
    """Also correct: eval_mode() restores the flags; the dropout layers switched inside it."""
    with eval_mode(model):
        n, total, correct = 0, 0.0, 0
        with torch.no_grad():
            for xb, yb in loader:
                logits = model(xb)
                total += loss_fn(logits, yb).item() * len(xb)
                correct += (logits.argmax(dim=1) == yb).sum().item()
                n += len(xb)
            first = next(iter(loader))[0]
            off = model(first)
            for m in model.modules():
                if isinstance(m, DROPOUT):
                    m.train()
            on = model(first)
        for m in model.modules():
            m.training = False
        activation = saved_tensor_bytes(partial(model, first), "grad",
                                         exclude=[*model.state_dict().values(), first])
    return {"loss": total / n, "accuracy": correct / n,
            "dropout_gap": (on - off).abs().mean().item(), "activation_bytes": activation}


def test_capstone_accepts_the_solution(capsys):
    passed(nb10.check_capstone(make_validate()), capsys)


def test_capstone_accepts_other_correct_answers(capsys):
    passed(nb10.check_capstone(make_validate(call_forward=True)), capsys)
    passed(nb10.check_capstone(validate_with_helpers), capsys)


#: The capstone's wrong answers: each is right except for one mistake; the message a learner sees.
CAPSTONE_WRONG = [
    # modes and tracking during the metric passes
    ({"eval_metrics": False}, ("dropout was active while the loss and accuracy were computed",)),
    ({"weighted": False}, ("averaged the per-batch means", "weighted by its size")),
    ({"batched": False}, ("one forward pass per batch", "40, 40, 40 and 30")),
    ({"metrics_tracked": True}, ("passes ran with gradient tracking on",)),
    # dropout_gap
    ({"dropout_switch": "none"}, ("dropout_gap is 0.0", "on in both or off in both")),
    ({"both_on": True}, ("dropout_gap is 0.0", "identical logits", "on in both or off in both")),
    ({"dropout_switch": "model"}, ("running statistics changed", "BatchNorm in eval mode in every pass")),
    ({"dropout_kinds": (nn.Dropout,)}, ("only the head's dropout layer", "Dropout2d layer")),
    ({"dropout_kinds": (nn.Dropout2d,)}, ("only the Dropout2d layer was active",)),
    ({"gap": "max"}, ("LARGEST absolute difference",)),
    ({"gap": "signed"}, ("signed differences",)),
    ({"gap_on": "probabilities"}, ("compared probabilities",)),
    ({"gap_data": "all"}, ("whole data set", "first batch only")),
    ({"gap_value": 0.6}, ("dropout_gap is 0.6000, expected",)),
    # activation_bytes
    ({"bytes_grad_mode": "no_grad"}, ("activation_bytes is 0", "WITH tracking on")),
    ({"bytes_grad_mode": "inference_mode"}, ("activation_bytes is 0",)),
    ({"bytes_exclude": "none"}, ("counted everything autograd saves",)),
    ({"bytes_exclude": "parameters"}, ("still counted the batch and BatchNorm's buffers",)),
    ({"bytes_exclude": "no buffers"}, ("running statistics (buffers)",)),
    ({"bytes_exclude": "no batch"}, ("still counted the input batch",)),
    ({"bytes_train_mode": True}, ("measured the model in train mode",)),
    ({"bytes_data": "all"}, ("a pass over the whole data set",)),
    ({"bytes_value": 274_432}, ("274,432 for batches of 64 and of 40 alike", "does not come from measuring")),
    ({"bytes_value": 1_000}, ("activation_bytes is 1,000, expected 274,432",)),
    ({"first_inference": True}, ("created inside inference_mode()", "inference tensor")),
    # modes and the grad switch afterwards
    ({"restore": "none"}, ("came back with some layers in eval mode",)),
    ({"restore": "train"}, ("eval mode kept", "not switched to train mode")),
    ({"restore": "top"}, ("MIXED modes",)),
    ({"restore": "after"}, ("forward pass raised an error", "restoring code did not run")),
    ({"grad_switch": True}, ("inside torch.no_grad()", "left gradient tracking ON")),
    # the report itself
    ({"as_tensors": True}, ("is a tensor", "Python float")),
    ({"percent": True}, ("not a percentage",)),
    ({"drop_key": "activation_bytes"}, ("the dict has no 'activation_bytes'",)),
]


@pytest.mark.parametrize(("bug", "needles"), CAPSTONE_WRONG, ids=[str(b) for b, _ in CAPSTONE_WRONG])
def test_capstone_names_each_mistake(capsys, bug, needles):
    out = failed(nb10.check_capstone(make_validate(**bug)), capsys, *needles)
    assert "model.eval()" not in out and "inference_mode():" not in out  # no code to copy


def test_capstone_catches_a_dropout_pass_on_a_copy_in_train_mode(capsys):
    """Running the 'dropout on' pass on a train-mode copy spares the statistics, but BatchNorm
    then normalises with batch statistics, so the gap no longer measures dropout alone."""
    def on_copy(model, loader, loss_fn):
        report = make_validate(dropout_switch="none")(model, loader, loss_fn)
        first = next(iter(loader))[0]
        twin = copy.deepcopy(model)
        with torch.no_grad():
            off = twin.eval()(first)
            on = twin.train()(first)
        report["dropout_gap"] = (on - off).abs().mean().item()
        return report

    failed(nb10.check_capstone(on_copy), capsys, "BatchNorm normalised with the batch's own statistics")


def test_capstone_catches_switching_grad_off_for_good(capsys):
    def leaves_grad_off(model, loader, loss_fn):
        report = make_validate()(model, loader, loss_fn)
        torch.set_grad_enabled(False)
        return report

    failed(nb10.check_capstone(leaves_grad_off), capsys, "turned off and never turned back")
    assert torch.is_grad_enabled()


def test_capstone_reports_non_functions_without_a_traceback(capsys):
    failed(nb10.check_capstone({"loss": 0.1}), capsys, "expected a function")


def test_wrong_answer_counts():
    """The counts the report quotes: how many wrong answers each checker's tests reject."""
    assert len(EXERCISE_2_WRONG) + 2 == 13  # + the buggy original, with and without .item()
    assert len(CAPSTONE_WRONG) + 3 == 36  # + the train-mode copy, grad left off, a non-function
