"""course_utils.exercises._core: the friendly pass/fail framework every checker uses."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_utils.exercises import CheckResult, run_checks


def ok():
    return None


def test_all_checks_pass(capsys):
    result = run_checks("1.2", [("returns None", ok), ("returns True", lambda: True)], hint="h")
    assert capsys.readouterr().out == "✅ Exercise 1.2 passed (2 checks).\n"
    assert isinstance(result, CheckResult)
    assert result and result.passed
    assert result.message == "✅ Exercise 1.2 passed (2 checks)."
    assert result.failures == []
    assert repr(result) == "CheckResult(exercise='1.2', passed=True)"


def test_failure_message_with_hint(capsys):
    result = run_checks(
        "3",
        [("shape", ok), ("values", lambda: "expected 0.5, got 0.7"), ("dtype", ok)],
        hint="use torch.sigmoid",
    )
    expected = (
        "❌ Exercise 3: check 2 of 3 failed (values): expected 0.5, got 0.7\n"
        "   Hint: use torch.sigmoid"
    )
    assert capsys.readouterr().out == expected + "\n"
    assert not result and result.passed is False
    assert result.message == expected
    assert result.failures == ["expected 0.5, got 0.7"]
    assert repr(result) == "CheckResult(exercise='3', passed=False)"


def test_no_hint_line_without_a_hint(capsys):
    run_checks("1", [("values", lambda: False)])
    assert capsys.readouterr().out == (
        "❌ Exercise 1: check 1 of 1 failed (values): the result was not what was expected\n"
    )


def test_stops_at_the_first_failure():
    ran = []

    def check(name, outcome):
        def run():
            ran.append(name)
            return outcome

        return (name, run)

    result = run_checks("1", [check("a", None), check("b", "wrong"), check("c", None)])
    assert ran == ["a", "b"]
    assert result.failures == ["wrong"]


def test_exception_in_learner_code_is_reported_without_traceback(capsys):
    def learner():
        return 1 / 0

    result = run_checks("2", [("runs", learner)], hint="check the denominator")
    out = capsys.readouterr().out
    assert out == (
        "❌ Exercise 2: check 1 of 1 failed (runs): your code raised ZeroDivisionError: division by zero\n"
        "   Hint: check the denominator\n"
    )
    assert "Traceback" not in out and not result


def test_exception_message_first_line_only_and_empty_message():
    def multi():
        raise ValueError("bad shape\nmore details")

    def empty():
        raise KeyError

    assert run_checks("1", [("x", multi)]).failures == ["your code raised ValueError: bad shape"]
    assert run_checks("1", [("x", empty)]).failures == ["your code raised KeyError"]


def test_assertion_errors_give_the_failure_message():
    def with_message():
        raise AssertionError("return a float")

    def bare():
        raise AssertionError  # pytest rewrites `assert` in this file, so raise it directly

    assert run_checks("1", [("x", with_message)]).failures == ["return a float"]
    assert run_checks("1", [("x", bare)]).failures == ["the check's condition was not met"]


@pytest.mark.parametrize("truthy", [True, np.True_, torch.tensor(True), np.bool_(1)])
def test_true_like_results_pass(truthy):
    assert run_checks("1", [("x", lambda: truthy)]).passed


@pytest.mark.parametrize("falsy", [False, np.False_, torch.tensor(False), ""])
def test_false_like_results_fail(falsy):
    result = run_checks("1", [("x", lambda: falsy)])
    assert result.failures == ["the result was not what was expected"]


def test_ambiguous_result_is_a_failure_not_a_crash():
    result = run_checks("1", [("x", lambda: torch.tensor([True, False]))])
    assert not result
    assert result.failures == ["the check returned Tensor, not True/False/None/a message"]


def test_needs_at_least_one_check():
    with pytest.raises(ValueError, match="at least one"):
        run_checks("1", [])


def test_result_is_not_displayed_twice(capsys):
    result = run_checks("1", [("x", ok)])
    capsys.readouterr()
    result._ipython_display_()  # what Jupyter calls when the result is a cell's last value
    assert capsys.readouterr().out == ""
