"""Notebook 03's checkers accept correct answers and name the problem in wrong ones.

Each wrong answer below is right except for ONE classic mistake, and each test
asserts the words the learner sees. Counts of rejected wrong answers:
exercise 3.1: 17, exercise 3.2: 6, exercise 3.3: 15 (plus a non-function for each).
"""

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


def validate_on_a_copy_ok(model, X, y, loss_fn):  # the caller's model is never switched at all
    import copy

    with torch.no_grad():
        return _metrics(copy.deepcopy(model).eval()(X), y, loss_fn)


def validate_no_grad_ok(model, X, y, loss_fn):
    from course_utils.modes import eval_mode

    with eval_mode(model), torch.no_grad():
        return _metrics(model(X), y, loss_fn)


def validate_forgets_eval(model, X, y, loss_fn):
    with torch.inference_mode():
        return _metrics(model(X), y, loss_fn)


def validate_dropout_off_only(model, X, y, loss_fn):
    flags = {m: m.training for m in model.modules()}
    for m in model.modules():
        if isinstance(m, torch.nn.Dropout):
            m.eval()
    try:
        with torch.inference_mode():
            return _metrics(model(X), y, loss_fn)
    finally:
        for m, flag in flags.items():
            m.training = flag


def validate_forgets_no_grad(model, X, y, loss_fn):
    flags = {m: m.training for m in model.modules()}
    model.eval()
    try:
        return _metrics(model(X), y, loss_fn)
    finally:
        for m, flag in flags.items():
            m.training = flag


def validate_tracks_then_detaches(model, X, y, loss_fn):
    flags = {m: m.training for m in model.modules()}
    model.eval()
    try:
        return _metrics(model(X).detach(), y, loss_fn)
    finally:
        for m, flag in flags.items():
            m.training = flag


def validate_leaves_eval(model, X, y, loss_fn):
    model.eval()
    with torch.inference_mode():
        return _metrics(model(X), y, loss_fn)


def validate_always_train(model, X, y, loss_fn):
    model.eval()
    try:
        with torch.inference_mode():
            return _metrics(model(X), y, loss_fn)
    finally:
        model.train()


def validate_restores_top_flag_only(model, X, y, loss_fn):
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            return _metrics(model(X), y, loss_fn)
    finally:
        model.train(was_training)


def validate_restores_children_only(model, X, y, loss_fn):
    flags = {m: m.training for m in [model, *model.children()]}
    model.eval()
    try:
        with torch.inference_mode():
            return _metrics(model(X), y, loss_fn)
    finally:
        for m, flag in flags.items():
            m.train(flag)


def validate_without_finally(model, X, y, loss_fn):
    flags = {m: m.training for m in model.modules()}
    model.eval()
    with torch.inference_mode():
        result = _metrics(model(X), y, loss_fn)
    for m, flag in flags.items():
        m.training = flag
    return result


def validate_returns_tensors(model, X, y, loss_fn):
    flags = {m: m.training for m in model.modules()}
    model.eval()
    try:
        with torch.inference_mode():
            logits = model(X)
            return loss_fn(logits, y), ((logits > 0).float() == y).float().mean()
    finally:
        for m, flag in flags.items():
            m.training = flag


def validate_switches_grad_off(model, X, y, loss_fn):
    flags = {m: m.training for m in model.modules()}
    model.eval()
    torch.set_grad_enabled(False)
    try:
        return _metrics(model(X), y, loss_fn)
    finally:
        for m, flag in flags.items():
            m.training = flag


def validate_forces_grad_on(model, X, y, loss_fn):
    flags = {m: m.training for m in model.modules()}
    model.eval()
    torch.set_grad_enabled(False)
    try:
        return _metrics(model(X), y, loss_fn)
    finally:
        torch.set_grad_enabled(True)
        for m, flag in flags.items():
            m.training = flag


def validate_binary_only(model, X, y, loss_fn):
    flags = {m: m.training for m in model.modules()}
    model.eval()
    try:
        with torch.inference_mode():
            logits = model(X)
            loss = loss_fn(logits, y).item()
            acc = ((logits > 0).float() == y.view(-1, 1).float()).float().mean().item()
            return loss, acc
    finally:
        for m, flag in flags.items():
            m.training = flag


def validate_squeezes(model, X, y, loss_fn):
    flags = {m: m.training for m in model.modules()}
    model.eval()
    try:
        with torch.inference_mode():
            logits = model(X)
            loss = loss_fn(logits, y).item()
            squeezed = logits.squeeze()
            pred = (squeezed > 0).float() if squeezed.dim() == 1 else logits.argmax(dim=1)
            return loss, (pred == y.squeeze()).float().mean().item()
    finally:
        for m, flag in flags.items():
            m.training = flag


def validate_sigmoid_ok(model, X, y, loss_fn, strict=False):
    """Also correct: class 1 when the probability is at least (or above) 0.5."""
    flags = {m: m.training for m in model.modules()}
    model.eval()
    try:
        with torch.no_grad():
            logits = model(X)
            loss = loss_fn(logits, y).item()
            if logits.shape[1] == 1:
                p = torch.sigmoid(logits)
                pred = (p > 0.5 if strict else p >= 0.5).float()
            else:
                pred = logits.argmax(dim=1)
            return loss, (pred == y).float().mean().item()
    finally:
        for m, flag in flags.items():
            m.training = flag


def validate_sigmoid_strict_ok(model, X, y, loss_fn):
    return validate_sigmoid_ok(model, X, y, loss_fn, strict=True)


def validate_swallows_error(model, X, y, loss_fn):
    try:
        return validate_ok(model, X, y, loss_fn)
    except Exception:  # MISTAKE: the caller never hears of a wrong input
        return float("nan"), float("nan")


def validate_known_layer_types_only(model, X, y, loss_fn):
    flags = {m: m.training for m in model.modules()}
    for m in model.modules():  # MISTAKE: a custom layer that reads self.training stays in train mode
        if isinstance(m, (torch.nn.Dropout, torch.nn.BatchNorm1d)):
            m.eval()
    try:
        with torch.inference_mode():
            return _metrics(model(X), y, loss_fn)
    finally:
        for m, flag in flags.items():
            m.training = flag


def validate_first_batch_only(model, X, y, loss_fn):
    half = len(X) // 2
    return validate_ok(model, X[:half], y[:half], loss_fn)


@pytest.mark.parametrize(
    "solution",
    [validate_ok, validate_no_grad_ok, validate_on_a_copy_ok, validate_sigmoid_ok, validate_sigmoid_strict_ok],
)
def test_exercise_1_accepts_correct_validate(solution, capsys):
    result = nb03.check_exercise_1(solution)
    assert result.passed, result.message
    assert "✅ Exercise 3.1" in capsys.readouterr().out
    assert torch.is_grad_enabled()


EXERCISE_1_MISTAKES = [
    (validate_forgets_eval, "dropout was active"),
    (validate_dropout_off_only, "running_mean"),
    (validate_forgets_no_grad, "gradient tracking on"),
    (validate_tracks_then_detaches, "gradient tracking on"),
    (validate_leaves_eval, "came back in eval mode"),
    (validate_always_train, "came back in train mode"),
    (validate_restores_top_flag_only, "MIXED modes"),
    (validate_restores_children_only, "MIXED modes"),
    (validate_without_finally, "the code that gives the modes back did not run"),
    (validate_returns_tensors, "is a tensor"),
    (validate_switches_grad_off, "is off after it"),
    (validate_forces_grad_on, "switched gradient tracking back ON"),
    (validate_binary_only, "column with the largest logit"),
    (validate_squeezes, "batch of ONE"),
    (validate_first_batch_only, "on all of X"),
    (validate_swallows_error, "instead of letting the error reach the caller"),
    (validate_known_layer_types_only, "custom layer"),
]


@pytest.mark.parametrize(("solution", "named"), EXERCISE_1_MISTAKES)
def test_exercise_1_names_the_mistake(solution, named):
    result = nb03.check_exercise_1(solution)
    assert not result.passed
    assert named in result.message, result.message
    assert torch.is_grad_enabled(), "the checker must switch gradient tracking back on"


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
# Exercise 2: which_context, BatchNorm only, two batches sharing one example
# ---------------------------------------------------------------------------


def _context(out):
    if out.requires_grad:
        return "grad"
    return "inference_mode" if out.is_inference() else "no_grad"


def which_context_ok(out_a, out_b):
    return ("eval" if torch.equal(out_a[0], out_b[0]) else "train"), _context(out_a)


def which_context_allclose_ok(out_a, out_b):
    return ("eval" if torch.allclose(out_a[:1], out_b[:1]) else "train"), _context(out_b)


def which_context_whole_outputs(out_a, out_b):
    return ("eval" if torch.equal(out_a, out_b) else "train"), _context(out_a)


def which_context_mode_from_grad(out_a, out_b):
    return ("train" if out_a.requires_grad else "eval"), _context(out_a)


def which_context_ignores_inference(out_a, out_b):
    mode = "eval" if torch.equal(out_a[0], out_b[0]) else "train"
    return mode, "grad" if out_a.requires_grad else "no_grad"


def which_context_reads_global_switch(out_a, out_b):
    mode = "eval" if torch.equal(out_a[0], out_b[0]) else "train"
    if torch.is_inference_mode_enabled():
        return mode, "inference_mode"
    return mode, "grad" if torch.is_grad_enabled() else "no_grad"


def which_context_last_example(out_a, out_b):
    return ("eval" if torch.equal(out_a[-1], out_b[-1]) else "train"), _context(out_a)


def which_context_bad_label(out_a, out_b):
    return "evaluation", "none"


@pytest.mark.parametrize("solution", [which_context_ok, which_context_allclose_ok])
def test_exercise_2_accepts_correct_answers(solution, capsys):
    assert nb03.check_exercise_2(solution).passed
    assert "✅ Exercise 3.2" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("solution", "named"),
    [
        (which_context_whole_outputs, "whole outputs never agree"),
        (which_context_last_example, "whole outputs never agree"),
        (which_context_mode_from_grad, "says nothing about the mode"),
        (which_context_ignores_inference, "is an inference tensor"),
        (which_context_reads_global_switch, "exactly when autograd recorded the pass"),
        (which_context_bad_label, "answer with a mode from"),
    ],
)
def test_exercise_2_names_the_mistake(solution, named):
    result = nb03.check_exercise_2(solution)
    assert not result.passed
    assert named in result.message, result.message


# ---------------------------------------------------------------------------
# Exercise 3: extract_features (the fixed version of the notebook's buggy one)
# ---------------------------------------------------------------------------


def _restore(flags):
    for m, flag in flags.items():
        m.training = flag


def extract_ok(backbone, X):
    flags = {m: m.training for m in backbone.modules()}
    backbone.eval()
    try:
        with torch.no_grad():
            return backbone(X)
    finally:
        _restore(flags)


def extract_clone_ok(backbone, X):
    flags = {m: m.training for m in backbone.modules()}
    backbone.eval()
    try:
        with torch.inference_mode():
            feats = backbone(X)
    finally:
        _restore(flags)
    return feats.clone()  # outside the context: an ordinary tensor


def extract_buggy_from_notebook(backbone, X):
    backbone.eval()
    with torch.inference_mode():
        features = backbone(X)
    backbone.train()
    return features.detach()


def extract_inference_tensors(backbone, X):
    flags = {m: m.training for m in backbone.modules()}
    backbone.eval()
    try:
        with torch.inference_mode():
            return backbone(X)
    finally:
        _restore(flags)


def extract_with_graph(backbone, X):
    flags = {m: m.training for m in backbone.modules()}
    backbone.eval()
    try:
        return backbone(X)
    finally:
        _restore(flags)


def extract_tracks_then_detaches(backbone, X):
    return extract_with_graph(backbone, X).detach()


def extract_forgets_eval(backbone, X):
    with torch.no_grad():
        return backbone(X)


def extract_leaves_eval(backbone, X):
    backbone.eval()
    with torch.no_grad():
        return backbone(X)


def extract_always_train(backbone, X):
    backbone.eval()
    try:
        with torch.no_grad():
            return backbone(X)
    finally:
        backbone.train()


def extract_restores_one_flag(backbone, X):
    was = backbone.training
    backbone.eval()
    try:
        with torch.no_grad():
            return backbone(X)
    finally:
        backbone.train(was)


def extract_without_finally(backbone, X):
    flags = {m: m.training for m in backbone.modules()}
    backbone.eval()
    with torch.no_grad():
        feats = backbone(X)
    _restore(flags)
    return feats


def extract_swallows_error(backbone, X):
    try:
        return extract_ok(backbone, X)
    except Exception:  # MISTAKE: the caller never hears of a wrong input
        return None


def extract_known_layer_types_only(backbone, X):
    flags = {m: m.training for m in backbone.modules()}
    for m in backbone.modules():  # MISTAKE: a custom layer that reads self.training stays in train mode
        if isinstance(m, (torch.nn.Dropout, torch.nn.BatchNorm1d)):
            m.eval()
    try:
        with torch.no_grad():
            return backbone(X)
    finally:
        _restore(flags)


def extract_restores_children_only(backbone, X):
    flags = {m: m.training for m in [backbone, *backbone.children()]}
    backbone.eval()
    try:
        with torch.no_grad():
            return backbone(X)
    finally:
        for m, flag in flags.items():
            m.train(flag)


def extract_grad_switch_off(backbone, X):
    flags = {m: m.training for m in backbone.modules()}
    backbone.eval()
    torch.set_grad_enabled(False)  # MISTAKE: never switched back
    try:
        return backbone(X)
    finally:
        _restore(flags)


def extract_grad_forced_on(backbone, X):
    flags = {m: m.training for m in backbone.modules()}
    backbone.eval()
    torch.set_grad_enabled(False)
    try:
        return backbone(X)
    finally:
        torch.set_grad_enabled(True)  # MISTAKE: on even inside a caller's no_grad()
        _restore(flags)


@pytest.mark.parametrize("solution", [extract_ok, extract_clone_ok])
def test_exercise_3_accepts_correct_answers(solution, capsys):
    result = nb03.check_exercise_3(solution)
    assert result.passed, result.message
    assert "✅ Exercise 3.3" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("solution", "named"),
    [
        (extract_buggy_from_notebook, "inference tensors"),
        (extract_inference_tensors, "inference tensors"),
        (extract_with_graph, "carry a graph"),
        (extract_tracks_then_detaches, "ran with gradient tracking on"),
        (extract_forgets_eval, "dropout was active"),
        (extract_leaves_eval, "came back in eval mode"),
        (extract_always_train, "un-froze it"),
        (extract_restores_one_flag, "MIXED modes"),
        (extract_without_finally, "the code that gives the modes back did not run"),
        (lambda backbone, X: backbone(X).detach().numpy(), "return the features as a tensor"),
        (extract_swallows_error, "instead of letting the error reach the caller"),
        (extract_known_layer_types_only, "custom layer"),
        (extract_restores_children_only, "the BatchNorm inside the fine-tuned second block"),
        (extract_grad_switch_off, "is off after it"),
        (extract_grad_forced_on, "switched gradient tracking back ON"),
    ],
)
def test_exercise_3_names_the_mistake(solution, named):
    result = nb03.check_exercise_3(solution)
    assert not result.passed
    assert named in result.message, result.message
    assert torch.is_grad_enabled()


@pytest.mark.parametrize("checker", [nb03.check_exercise_1, nb03.check_exercise_2, nb03.check_exercise_3])
def test_messages_and_hints_hold_no_code(checker):
    """A failure says what went wrong, not the code to write."""
    result = checker(lambda *args: None)
    assert not result.passed
    for code in ("model.eval()", "torch.no_grad()", "inference_mode():", "finally:", ".item()",
                 "for m in", "m.training", "torch.equal(", ".is_inference()"):
        assert code not in result.message
