"""Notebook 03's checkers accept correct answers and name the problem in wrong ones."""

from __future__ import annotations

import pytest
import torch

from course_utils.exercises import nb03

# ---------------------------------------------------------------------------
# Exercise 1: validate
# ---------------------------------------------------------------------------


def _metrics(logits, y, loss_fn):
    loss = loss_fn(logits, y).item()
    pred = (logits > 0).float() if logits.shape[1] == 1 else logits.argmax(dim=1)
    return loss, (pred == y).float().mean().item()


def validate_ok(model, X, y, loss_fn):
    flags = {m: m.training for m in model.modules()}
    model.eval()
    try:
        with torch.inference_mode():
            return _metrics(model(X), y, loss_fn)
    finally:
        for m, flag in flags.items():
            m.training = flag


def validate_no_grad_ok(model, X, y, loss_fn):
    from course_utils.modes import eval_mode

    with eval_mode(model), torch.no_grad():
        return _metrics(model(X), y, loss_fn)


def validate_forgets_eval(model, X, y, loss_fn):
    with torch.inference_mode():
        return _metrics(model(X), y, loss_fn)


def validate_forgets_no_grad(model, X, y, loss_fn):
    flags = {m: m.training for m in model.modules()}
    model.eval()
    result = _metrics(model(X), y, loss_fn)
    for m, flag in flags.items():
        m.training = flag
    return result


def validate_leaves_eval(model, X, y, loss_fn):
    model.eval()
    with torch.inference_mode():
        return _metrics(model(X), y, loss_fn)


def validate_always_train(model, X, y, loss_fn):
    model.eval()
    with torch.inference_mode():
        result = _metrics(model(X), y, loss_fn)
    model.train()
    return result


def validate_restores_top_flag_only(model, X, y, loss_fn):
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        result = _metrics(model(X), y, loss_fn)
    model.train(was_training)
    return result


def validate_returns_tensors(model, X, y, loss_fn):
    flags = {m: m.training for m in model.modules()}
    model.eval()
    with torch.inference_mode():
        logits = model(X)
        loss = loss_fn(logits, y)
        acc = ((logits > 0).float() == y).float().mean()
    for m, flag in flags.items():
        m.training = flag
    return loss, acc


def validate_switches_grad_off(model, X, y, loss_fn):
    flags = {m: m.training for m in model.modules()}
    model.eval()
    torch.set_grad_enabled(False)
    result = _metrics(model(X), y, loss_fn)
    for m, flag in flags.items():
        m.training = flag
    return result


def validate_binary_only(model, X, y, loss_fn):
    flags = {m: m.training for m in model.modules()}
    model.eval()
    with torch.inference_mode():
        logits = model(X)
        loss = loss_fn(logits, y).item()
        acc = ((logits > 0).float() == y.view(-1, 1).float()).float().mean().item()
    for m, flag in flags.items():
        m.training = flag
    return loss, acc


@pytest.mark.parametrize("solution", [validate_ok, validate_no_grad_ok])
def test_exercise_1_accepts_correct_validate(solution, capsys):
    result = nb03.check_exercise_1(solution)
    assert result.passed, result.message
    assert "✅" in capsys.readouterr().out
    assert torch.is_grad_enabled()


@pytest.mark.parametrize(
    ("solution", "named"),
    [
        (validate_forgets_eval, "dropout is still active"),
        (validate_forgets_no_grad, "gradient tracking on"),
        (validate_leaves_eval, "came back in eval mode"),
        (validate_always_train, "came back in train mode"),
        (validate_restores_top_flag_only, "MIXED modes"),
        (validate_returns_tensors, "is a tensor"),
        (validate_switches_grad_off, "gradient tracking is still off"),
        (validate_binary_only, "argmax"),
    ],
)
def test_exercise_1_names_the_mistake(solution, named):
    result = nb03.check_exercise_1(solution)
    assert not result.passed
    assert named in result.message
    assert torch.is_grad_enabled(), "the checker must switch gradient tracking back on"


def test_exercise_1_reports_bn_stats_when_only_batchnorm_is_in_train_mode():
    def validate_dropout_off_only(model, X, y, loss_fn):
        flags = {m: m.training for m in model.modules()}
        for m in model.modules():
            if isinstance(m, torch.nn.Dropout):
                m.eval()
        with torch.inference_mode():
            result = _metrics(model(X), y, loss_fn)
        for m, flag in flags.items():
            m.training = flag
        return result

    result = nb03.check_exercise_1(validate_dropout_off_only)
    assert not result.passed
    assert "running_mean" in result.message


def test_exercise_1_reports_a_crash_without_traceback():
    def crashes(model, X, y, loss_fn):
        raise KeyError("oops")

    result = nb03.check_exercise_1(crashes)
    assert not result.passed
    assert "your code raised KeyError" in result.message


def test_checkers_do_not_move_the_callers_random_stream():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    nb03.check_exercise_1(validate_ok)
    nb03.check_exercise_2(which_context_ok)
    nb03.check_exercise_3(extract_ok)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize(
    "checker", [nb03.check_exercise_1, nb03.check_exercise_2, nb03.check_exercise_3]
)
def test_checkers_reject_a_non_function(checker):
    result = checker((0.5, 0.9))
    assert not result and "pass `" in result.message and "without calling it" in result.message


# ---------------------------------------------------------------------------
# Exercise 2: which_context
# ---------------------------------------------------------------------------


def which_context_ok(out1, out2):
    mode = "eval" if torch.equal(out1, out2) else "train"
    if out1.requires_grad:
        return mode, "grad"
    return mode, "inference_mode" if out1.is_inference() else "no_grad"


def which_context_mode_from_grad(out1, out2):
    mode = "train" if out1.requires_grad else "eval"
    if out1.requires_grad:
        return mode, "grad"
    return mode, "inference_mode" if out1.is_inference() else "no_grad"


def which_context_ignores_inference(out1, out2):
    mode = "eval" if torch.equal(out1, out2) else "train"
    return mode, "grad" if out1.requires_grad else "no_grad"


def which_context_bad_label(out1, out2):
    return "evaluation", "none"


def test_exercise_2_accepts_correct_answer():
    assert nb03.check_exercise_2(which_context_ok).passed


@pytest.mark.parametrize(
    ("solution", "named"),
    [
        (which_context_mode_from_grad, "requires_grad says nothing about the mode"),
        (which_context_ignores_inference, "is_inference()"),
        (which_context_bad_label, "answer with a mode from"),
    ],
)
def test_exercise_2_names_the_mistake(solution, named):
    result = nb03.check_exercise_2(solution)
    assert not result.passed
    assert named in result.message


# ---------------------------------------------------------------------------
# Exercise 3: extract_features
# ---------------------------------------------------------------------------


def extract_ok(backbone, X):
    flags = {m: m.training for m in backbone.modules()}
    backbone.eval()
    try:
        with torch.no_grad():
            return backbone(X)
    finally:
        for m, flag in flags.items():
            m.training = flag


def extract_clone_ok(backbone, X):
    was = backbone.training
    backbone.eval()
    with torch.inference_mode():
        feats = backbone(X)
    backbone.train(was)
    return feats.clone()


def extract_inference_tensors(backbone, X):
    was = backbone.training
    backbone.eval()
    with torch.inference_mode():
        feats = backbone(X)
    backbone.train(was)
    return feats


def extract_with_graph(backbone, X):
    was = backbone.training
    backbone.eval()
    feats = backbone(X)
    backbone.train(was)
    return feats


def extract_forgets_eval(backbone, X):
    with torch.no_grad():
        return backbone(X)


def extract_leaves_eval(backbone, X):
    backbone.eval()
    with torch.no_grad():
        return backbone(X)


@pytest.mark.parametrize("solution", [extract_ok, extract_clone_ok])
def test_exercise_3_accepts_correct_answers(solution):
    result = nb03.check_exercise_3(solution)
    assert result.passed, result.message


@pytest.mark.parametrize(
    ("solution", "named"),
    [
        (extract_inference_tensors, "inference tensors"),
        (extract_with_graph, "carry a graph"),
        (extract_forgets_eval, "dropout is active"),
        (extract_leaves_eval, "came back in eval mode"),
    ],
)
def test_exercise_3_names_the_mistake(solution, named):
    result = nb03.check_exercise_3(solution)
    assert not result.passed
    assert named in result.message
