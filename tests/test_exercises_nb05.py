"""The notebook 05 checkers accept correct answers and reject each classic mistake,
saying what the answer did (never the code to write)."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.exercises import nb05


def assert_fails(result, out: str, says: str, exercise: str) -> None:
    assert not result.passed
    assert says in result.message, result.message
    assert f"❌ Exercise {exercise}" in out and "Hint:" in out
    assert "Traceback" not in out


# ---------------------------------------------------------------------------
# Exercise 5.1: to_labels for (N, C, d1, ...) outputs
# ---------------------------------------------------------------------------


def to_labels(logits: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    if logits.shape[1] == 1:
        return (torch.sigmoid(logits[:, 0]) >= threshold).long()
    return logits.argmax(dim=1)


def labels_squeeze_everything(logits, threshold=0.5):
    if logits.shape[1] == 1:
        return (torch.sigmoid(logits).squeeze() >= threshold).long()
    return logits.argmax(dim=1)


def labels_argmax_last_axis(logits, threshold=0.5):
    if logits.shape[1] == 1:
        return to_labels(logits, threshold)
    return logits.argmax(dim=-1)


def labels_flattened(logits, threshold=0.5):  # the rule for (N, 1) classifiers, applied to images
    if logits.shape[1] == 1:
        return (torch.sigmoid(logits.reshape(-1)) >= threshold).long()
    return logits.argmax(dim=1)


def labels_strict(logits, threshold=0.5):
    if logits.shape[1] == 1:
        return (torch.sigmoid(logits[:, 0]) > threshold).long()
    return logits.argmax(dim=1)


def labels_logit_space(logits, threshold=0.5):  # logit >= logit(threshold): infinite at threshold 1
    if logits.shape[1] == 1:
        return (logits[:, 0] >= torch.logit(torch.tensor(threshold))).long()
    return logits.argmax(dim=1)


def labels_from_raw_logits(logits, threshold=0.5):
    if logits.shape[1] == 1:
        return (logits[:, 0] >= threshold).long()
    return logits.argmax(dim=1)


def labels_ignore_threshold(logits, threshold=0.5):
    return to_labels(logits)


def labels_as_bool(logits, threshold=0.5):
    return to_labels(logits, threshold).bool()


def labels_in_place(logits, threshold=0.5):
    if logits.shape[1] == 1:
        return (logits[:, 0].sigmoid_() >= threshold).long()
    return logits.argmax(dim=1)


def labels_argmin(logits, threshold=0.5):
    if logits.shape[1] == 1:
        return to_labels(logits, threshold)
    return logits.argmin(dim=1)


def labels_keep_class_axis(logits, threshold=0.5):
    if logits.shape[1] == 1:
        return (torch.sigmoid(logits) >= threshold).long()
    return logits.argmax(dim=1)


def labels_per_sample(logits, threshold=0.5):  # a loop over the batch: nothing to stack when it is empty
    return torch.stack([to_labels(sample.unsqueeze(0), threshold)[0] for sample in logits])


def test_to_labels_correct_passes(capsys):
    assert nb05.check_exercise_1(to_labels).passed
    assert "✅ Exercise 5.1 (to_labels) passed (14 checks)." in capsys.readouterr().out


def test_to_labels_other_correct_forms_pass():
    def via_probabilities(logits, threshold=0.5):
        if logits.size(1) == 1:
            return (torch.sigmoid(logits) >= threshold).squeeze(1).long()
        return torch.softmax(logits, dim=1).argmax(dim=1)

    assert nb05.check_exercise_1(via_probabilities).passed


def labels_squeeze_after_argmax(logits, threshold=0.5):  # multi-class path squeezed: a batch of one loses its axis
    if logits.shape[1] == 1:
        return (torch.sigmoid(logits[:, 0]) >= threshold).long()
    return logits.argmax(dim=1).squeeze()


TO_LABELS_MISTAKES = [
    (labels_squeeze_after_argmax, "a batch of one sample with 4 classes (logits of shape (1, 4)) you returned shape ()"),
    (labels_squeeze_everything, "every other axis of size 1 vanished too"),
    (labels_argmax_last_axis, "you reduced the last axis, but the classes are on axis 1"),
    (labels_flattened, "all axes were flattened into one"),
    (labels_strict, "probability is exactly the threshold 0.5 (logit 0"),
    (labels_logit_space, "probability is exactly the threshold 1.0 (logit 35"),
    (labels_from_raw_logits, "the logits compared with 0.5"),
    (labels_ignore_threshold, "the threshold 0.8 was ignored"),
    (labels_as_bool, "dtype torch.bool"),
    (labels_in_place, "changed the logits it was given"),
    (labels_argmin, "the class with the smallest logit"),
    (labels_keep_class_axis, "the class axis (axis 1) is still there"),
    (labels_per_sample, "your code raised RuntimeError"),
    (lambda logits, threshold=0.5: to_labels(logits, threshold).tolist(), "return a tensor of labels"),
    ("to_labels", "expected a function"),
]


@pytest.mark.parametrize(("wrong", "says"), TO_LABELS_MISTAKES)
def test_to_labels_mistakes_fail_with_a_reason(wrong, says, capsys):
    result = nb05.check_exercise_1(wrong)
    assert_fails(result, capsys.readouterr().out, says, "5.1")


# ---------------------------------------------------------------------------
# Exercise 5.2: best_threshold
# ---------------------------------------------------------------------------


def _counts_f1(predicted, truth):
    tp = (predicted & truth).sum().item()
    fp = (predicted & ~truth).sum().item()
    fn = (~predicted & truth).sum().item()
    denominator = 2 * tp + fp + fn
    return 2 * tp / denominator if denominator else 0.0


def best_threshold(probs: torch.Tensor, targets: torch.Tensor) -> tuple[float, float]:
    p, truth = probs.reshape(-1), targets.reshape(-1) == 1
    best = (1.0, 0.0)
    for t in p.unique().tolist():
        f1 = _counts_f1(p >= t, truth)
        if f1 > best[1]:
            best = (t, f1)
    return best


def best_threshold_ties_split(probs, targets):  # walks the sorted samples one by one: splits tied probabilities
    p, truth = probs.reshape(-1), targets.reshape(-1) == 1
    order = torch.sort(p, descending=True, stable=True).indices
    best = (1.0, 0.0)
    for k in range(1, len(p) + 1):
        predicted = torch.zeros_like(truth)
        predicted[order[:k]] = True
        f1 = _counts_f1(predicted, truth)
        if f1 > best[1]:
            best = (p[order[k - 1]].item(), f1)
    return best


def best_threshold_grid(probs, targets):  # a fixed grid can step over the best threshold
    p, truth = probs.reshape(-1), targets.reshape(-1) == 1
    return max(((t, _counts_f1(p >= t, truth)) for t in (i / 100 for i in range(101))), key=lambda r: r[1])


def best_threshold_fine_grid_below_one(probs, targets):  # "threshold 1 predicts nothing"
    p, truth = probs.reshape(-1), targets.reshape(-1) == 1
    grid = torch.linspace(0, 0.99, 10_000).tolist()
    return max(((t, _counts_f1(p >= t, truth)) for t in grid), key=lambda r: r[1])


def best_threshold_strict(probs, targets):
    p, truth = probs.reshape(-1), targets.reshape(-1) == 1
    return max(((t, _counts_f1(p > t, truth)) for t in p.unique().tolist()), key=lambda r: r[1])


def best_threshold_unguarded_tensors(probs, targets):  # precision * recall formula: 0/0 where TP = 0
    p, y = probs.reshape(-1), targets.reshape(-1).float()
    candidates = p.unique()
    f1s = []
    for t in candidates:
        predicted = (p >= t).float()
        tp = (predicted * y).sum()
        precision, recall = tp / predicted.sum(), tp / y.sum()
        f1s.append(2 * precision * recall / (precision + recall))
    i = torch.stack(f1s).argmax()
    return candidates[i].item(), f1s[i].item()


def best_threshold_guards_precision_only(probs, targets):
    p, truth = probs.reshape(-1), targets.reshape(-1) == 1
    best = (1.0, 0.0)
    for t in p.unique().tolist():
        predicted = p >= t
        tp, n_predicted = (predicted & truth).sum().item(), predicted.sum().item()
        precision = tp / n_predicted if n_predicted else 0.0
        recall = tp / truth.sum().item()
        f1 = 2 * precision * recall / (precision + recall)
        if f1 > best[1]:
            best = (t, f1)
    return best


def best_threshold_half(probs, targets):  # hard-coded threshold
    p, truth = probs.reshape(-1), targets.reshape(-1) == 1
    return 0.5, _counts_f1(p >= 0.5, truth)


def best_threshold_no_reshape(probs, targets):  # (N, 1) against (N,) broadcasts to (N, N)
    truth = targets == 1
    best = (1.0, 0.0)
    for t in probs.unique().tolist():
        f1 = _counts_f1(probs >= t, truth)
        if f1 > best[1]:
            best = (t, f1)
    return best


def test_best_threshold_correct_passes(capsys):
    assert nb05.check_exercise_2(best_threshold).passed
    assert "✅ Exercise 5.2 (best_threshold) passed (9 checks)." in capsys.readouterr().out


def test_best_threshold_vectorised_answer_passes():
    def vectorised(probs, targets):
        p, y = probs.reshape(-1), targets.reshape(-1).float()
        candidates = p.unique()
        predicted = (p.unsqueeze(0) >= candidates.unsqueeze(1)).float()  # one row per threshold
        tp = predicted @ y
        f1 = 2 * tp / (predicted.sum(1) + y.sum())
        f1 = torch.nan_to_num(f1)
        i = int(f1.argmax())
        return float(candidates[i]), float(f1[i])

    assert nb05.check_exercise_2(vectorised).passed


BEST_THRESHOLD_MISTAKES = [
    (best_threshold_ties_split, "2 samples have exactly that probability, and one threshold gives them all the same label"),
    (best_threshold_grid, "some threshold you did not try does better"),
    (best_threshold_fine_grid_below_one, "some threshold you did not try does better"),
    (best_threshold_strict, "strictly above your threshold"),
    (best_threshold_unguarded_tensors, "the F1 you returned is nan"),
    (best_threshold_guards_precision_only, "divided by zero"),
    (best_threshold_half, "some threshold you did not try does better"),
    (best_threshold_no_reshape, "broadcasting compared every sample with every target"),
    (lambda p, y: tuple(torch.tensor(v) for v in best_threshold(p, y)), "is a tensor"),
    (lambda p, y: best_threshold(p, y)[1], "return a pair (threshold, f1)"),
    (lambda p, y: (float(p.max()) + 0.1, 0.0), "lies in [0, 1]"),
    ("best_threshold", "expected a function"),
]


@pytest.mark.parametrize(("wrong", "says"), BEST_THRESHOLD_MISTAKES)
def test_best_threshold_mistakes_fail_with_a_reason(wrong, says, capsys):
    result = nb05.check_exercise_2(wrong)
    assert_fails(result, capsys.readouterr().out, says, "5.2")


def test_best_threshold_sorting_in_place_is_caught(capsys):
    def sorts_in_place(probs, targets):
        flat = probs.view(-1)
        flat.copy_(flat.sort().values)
        return best_threshold(probs, targets)

    assert_fails(nb05.check_exercise_2(sorts_in_place), capsys.readouterr().out, "changed the tensors", "5.2")


# ---------------------------------------------------------------------------
# Exercise 5.3: evaluate, the repaired buggy_evaluate
# ---------------------------------------------------------------------------


def evaluate(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    modes = {m: m.training for m in model.modules()}
    model.eval()
    try:
        with torch.no_grad():
            logits = model(X)
    finally:
        for m, training in modes.items():
            m.training = training
    targets = y.reshape(logits.shape).float()
    labels = (torch.sigmoid(logits) >= 0.5).float()
    return {
        "loss": F.binary_cross_entropy_with_logits(logits, targets).item(),
        "accuracy": (labels == targets).float().mean().item(),
    }


def buggy_evaluate(model, X, y):  # the notebook's buggy version, verbatim
    model.eval()
    probs = torch.sigmoid(model(X))
    loss = nn.BCEWithLogitsLoss()(probs, y.reshape(probs.shape).float())
    labels = (probs >= 0.5).float()
    accuracy = (labels == y).float().mean()
    model.train()
    return {"loss": loss.item(), "accuracy": accuracy.item()}


def _values(logits, y):
    targets = y.reshape(logits.shape).float()
    labels = (torch.sigmoid(logits) >= 0.5).float()
    return {
        "loss": F.binary_cross_entropy_with_logits(logits, targets).item(),
        "accuracy": (labels == targets).float().mean().item(),
    }


def evaluate_train_mode(model, X, y):  # no eval(): dropout and batch statistics in the forward pass
    with torch.no_grad():
        return _values(model(X), y)


def evaluate_detach(model, X, y):  # tracking on, detached afterwards
    modes = {m: m.training for m in model.modules()}
    model.eval()
    try:
        logits = model(X).detach()
    finally:
        for m, training in modes.items():
            m.training = training
    return _values(logits, y)


def _eval_logits(model, X):
    modes = {m: m.training for m in model.modules()}
    model.eval()
    try:
        with torch.no_grad():
            return model(X)
    finally:
        for m, training in modes.items():
            m.training = training


def evaluate_double_sigmoid(model, X, y):
    logits = _eval_logits(model, X)
    probs = torch.sigmoid(logits)
    result = _values(logits, y)
    result["loss"] = F.binary_cross_entropy_with_logits(probs, y.reshape(probs.shape).float()).item()
    return result


def evaluate_bce_on_probabilities(model, X, y):  # BCELoss on sigmoid(logits): wrong where sigmoid rounds to 1.0
    logits = _eval_logits(model, X)
    result = _values(logits, y)
    result["loss"] = F.binary_cross_entropy(torch.sigmoid(logits), y.reshape(logits.shape).float()).item()
    return result


def evaluate_grad_off_when_raising(model, X, y):  # the switch comes back on the normal path only
    modes = {m: m.training for m in model.modules()}
    model.eval()
    torch.set_grad_enabled(False)
    try:
        logits = model(X)
        torch.set_grad_enabled(True)
    finally:
        for m, training in modes.items():
            m.training = training
    return _values(logits, y)


def evaluate_broadcast(model, X, y):
    logits = _eval_logits(model, X)
    result = _values(logits, y)
    result["accuracy"] = ((torch.sigmoid(logits) >= 0.5).float() == y).float().mean().item()
    return result


def evaluate_logit_threshold(model, X, y):
    logits = _eval_logits(model, X)
    result = _values(logits, y)
    result["accuracy"] = ((logits >= 0.5).float() == y.reshape(logits.shape).float()).float().mean().item()
    return result


def evaluate_strict_threshold(model, X, y):  # P > 0.5 instead of P >= 0.5: a logit of exactly 0 becomes class 0
    logits = _eval_logits(model, X)
    result = _values(logits, y)
    labels = (torch.sigmoid(logits) > 0.5).float()
    result["accuracy"] = (labels == y.reshape(logits.shape).float()).float().mean().item()
    return result


def evaluate_forced_train(model, X, y):  # always ends in train mode
    model.eval()
    try:
        with torch.no_grad():
            logits = model(X)
    finally:
        model.train()
    return _values(logits, y)


def evaluate_root_flag_only(model, X, y):  # restores the model's own flag, not each module's
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            logits = model(X)
    finally:
        model.train(was_training)
    return _values(logits, y)


def evaluate_restore_without_finally(model, X, y):
    modes = {m: m.training for m in model.modules()}
    model.eval()
    with torch.no_grad():
        logits = model(X)
    for m, training in modes.items():
        m.training = training
    return _values(logits, y)


def evaluate_hides_errors(model, X, y):
    try:
        return evaluate(model, X, y)
    except RuntimeError:
        return {"loss": 0.0, "accuracy": 0.0}


def evaluate_switch_off(model, X, y):  # turns tracking off for good
    torch.set_grad_enabled(False)
    modes = {m: m.training for m in model.modules()}
    model.eval()
    try:
        logits = model(X)
    finally:
        for m, training in modes.items():
            m.training = training
    return _values(logits, y)


def evaluate_switch_on_at_end(model, X, y):  # turns tracking on for a caller who had it off
    torch.set_grad_enabled(False)
    try:
        return evaluate(model, X, y)
    finally:
        torch.set_grad_enabled(True)


def test_evaluate_correct_passes(capsys):
    assert nb05.check_exercise_3(evaluate).passed
    assert "✅ Exercise 5.3 (evaluate) passed (14 checks)." in capsys.readouterr().out


def test_evaluate_on_a_copy_passes():
    def on_a_copy(model, X, y):
        twin = copy.deepcopy(model).eval()
        with torch.inference_mode():
            logits = twin(X)
        return _values(logits, y)

    assert nb05.check_exercise_3(on_a_copy).passed


EVALUATE_MISTAKES = [
    (evaluate_bce_on_probabilities, "the binary cross-entropy of the probabilities"),
    (evaluate_grad_off_when_raising, "a model whose forward pass raises: after the forward pass raised, gradient tracking"),
    (buggy_evaluate, "the forward pass ran with gradient tracking on"),
    (evaluate_train_mode, "module(s) were in train mode"),
    (evaluate_detach, "detaching the result afterwards does not undo that"),
    (evaluate_double_sigmoid, "the sigmoid was applied twice"),
    (evaluate_broadcast, "the mean of an 40x40 table"),
    (evaluate_logit_threshold, "labels from the logits compared with 0.5"),
    (evaluate_strict_threshold, "at P = 0.5 exactly (logit 0) were labelled 0"),
    (evaluate_forced_train, "a model in eval mode: afterwards"),
    (evaluate_root_flag_only, "a model with a frozen BatchNorm: afterwards 1 module(s) changed mode (body.1 eval -> train)"),
    (evaluate_restore_without_finally, "a model whose forward pass raises: afterwards"),
    (evaluate_hides_errors, "hid the error"),
    (evaluate_switch_off, "tracking was off for a caller who had it on"),
    (evaluate_switch_on_at_end, "tracking was on for a caller who had it off"),
    (lambda m, X, y: {k: torch.tensor(v) for k, v in evaluate(m, X, y).items()}, "is a tensor"),
    (lambda m, X, y: tuple(evaluate(m, X, y).values()), "return a dict with the keys 'loss' and 'accuracy'"),
    (lambda m, X, y: None, "never ran the model's forward pass"),
    ("evaluate", "expected a function"),
]


@pytest.mark.parametrize(("wrong", "says"), EVALUATE_MISTAKES)
def test_evaluate_mistakes_fail_with_a_reason(wrong, says, capsys):
    before = torch.is_grad_enabled()
    result = nb05.check_exercise_3(wrong)
    assert torch.is_grad_enabled() == before  # the checker puts the caller's switch back
    assert_fails(result, capsys.readouterr().out, says, "5.3")


# ---------------------------------------------------------------------------
# All checkers
# ---------------------------------------------------------------------------


def test_checkers_do_not_touch_the_global_rng():
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    nb05.check_exercise_1(to_labels)
    nb05.check_exercise_2(best_threshold)
    nb05.check_exercise_3(evaluate)
    assert torch.equal(torch.rand(3), expected)


def test_no_failure_message_or_hint_shows_solution_code(capsys):
    answers = [
        (nb05.check_exercise_1, [w for w, _ in TO_LABELS_MISTAKES]),
        (nb05.check_exercise_2, [w for w, _ in BEST_THRESHOLD_MISTAKES]),
        (nb05.check_exercise_3, [w for w, _ in EVALUATE_MISTAKES]),
    ]
    for checker, wrongs in answers:
        for wrong in wrongs:
            checker(wrong)
    out = capsys.readouterr().out
    for code in ("torch.sigmoid(", ".argmax(", "dim=1", ".reshape(", "no_grad", ".eval()", "finally:", "unique("):
        assert code not in out, code
