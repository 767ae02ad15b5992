"""The warm-up checker of notebook 00: a right answer passes, each typical slip fails clearly."""

from __future__ import annotations

import pytest

from course_utils.exercises import nb00


def right(module):
    return "train" if module.training else "eval"


def always_train(module):
    return "train"


def returns_the_flag(module):
    return module.training


def switches_it(module):
    module.eval()
    return "eval"


def all_submodules(module):
    return "train" if all(m.training for m in module.modules()) else "eval"


def any_submodule(module):
    return "train" if any(m.training for m in module.modules()) else "eval"


def test_right_answer_passes(capsys):
    assert nb00.check_warmup(right)
    assert "✅ Exercise 0.1 (describe_mode) passed (6 checks)." in capsys.readouterr().out


@pytest.mark.parametrize(
    ("answer", "says"),
    [
        (always_train, "for a module in eval mode you returned 'train', expected 'eval'"),
        (returns_the_flag, "return the text 'train' or 'eval', got bool True"),
        (switches_it, "describing the mode changed it"),
        (all_submodules, "a model in train mode with one layer in eval mode"),
        (any_submodule, "a model in eval mode with one layer in train mode"),
        (right(__import__("torch").nn.Linear(1, 1)), "expected a function, got str"),
    ],
)
def test_each_slip_fails_with_what_is_wrong(answer, says, capsys):
    result = nb00.check_warmup(answer)
    out = capsys.readouterr().out
    assert not result
    assert says in out, out
    assert "module.training" not in out  # the message never writes the answer
