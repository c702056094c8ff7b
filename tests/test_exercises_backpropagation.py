"""The checks of notebook 02: reference solutions pass, plausible mistakes are explained, nothing raises."""

from __future__ import annotations

import math

import pytest

from course_utils.autograd import Value
from course_utils.checks import CORRECT, INCORRECT, NOT_ATTEMPTED
from course_utils.exercises.backpropagation import check_central_difference, check_grad_by_hand, check_sigmoid_value


# ---------------------------------------------------------------- reference solutions
def sigmoid(v):
    x = v.data
    s = 1 / (1 + math.exp(-x)) if x >= 0 else math.exp(x) / (1 + math.exp(x))
    return Value(s, (v,), "sigmoid", (s * (1 - s),))


def grad_by_hand(x, y):
    t = math.tanh(x * y + x)
    return ((1 - t * t) * (y + 1), (1 - t * t) * x)


def central_difference(f, xs, eps=1e-5):
    grads = []
    for i in range(len(xs)):
        up, down = list(xs), list(xs)
        up[i] += eps
        down[i] -= eps
        grads.append((f(up) - f(down)) / (2 * eps))
    return grads


# ---------------------------------------------------------------- plausible mistakes
def sigmoid_returns_float(v):
    return 1 / (1 + math.exp(-v.data))


def sigmoid_without_children(v):
    return Value(1 / (1 + math.exp(-v.data)))


def sigmoid_wrong_local(v):
    s = 1 / (1 + math.exp(-v.data))
    return Value(s, (v,), "sigmoid", (s,))  # forgot the (1 - s)


def sigmoid_composed(v):  # built from the engine's own ops: also right
    return 1 / (1 + (-v).exp())


def grad_one_use_of_x(x, y):
    t = math.tanh(x * y + x)
    return ((1 - t * t) * y, (1 - t * t) * x)  # forgot the second use of x


def grad_no_tanh(x, y):
    return (y + 1, x)


def forward_difference(f, xs, eps=1e-5):
    base = f(list(xs))
    grads = []
    for i in range(len(xs)):
        up = list(xs)
        up[i] += eps
        grads.append((f(up) - base) / eps)
    return grads


def difference_that_mutates(f, xs, eps=1e-5):
    grads = []
    for i in range(len(xs)):
        xs[i] += eps  # never restored
        up = f(xs)
        xs[i] -= 2 * eps
        grads.append((up - f(xs)) / (2 * eps))
    return grads


def not_attempted(*args, **kwargs):
    raise NotImplementedError()


def raises(*args, **kwargs):
    raise ZeroDivisionError("oops")


CHECKS = [
    (check_sigmoid_value, sigmoid, [sigmoid_returns_float, sigmoid_without_children, sigmoid_wrong_local]),
    (check_grad_by_hand, grad_by_hand, [grad_one_use_of_x, grad_no_tanh]),
    (check_central_difference, central_difference, [forward_difference, difference_that_mutates]),
]


@pytest.mark.parametrize("check, reference, wrong", CHECKS)
def test_reference_passes(check, reference, wrong):
    result = check(reference)
    assert result.status == CORRECT, str(result)


@pytest.mark.parametrize("check, reference, wrong", CHECKS)
def test_plausible_mistakes_fail_with_an_explanation(check, reference, wrong):
    for answer in wrong:
        result = check(answer)
        assert result.status == INCORRECT, f"{answer.__name__}: {result}"
        assert result.details and result.hint, f"{answer.__name__} should be explained: {result}"


@pytest.mark.parametrize("check", [c for c, _, _ in CHECKS])
def test_not_attempted_raising_and_non_callables_are_explained(check):
    assert check(not_attempted).status == NOT_ATTEMPTED
    result = check(raises)
    assert result.status == INCORRECT and "ZeroDivisionError" in str(result) and "oops" in str(result)
    assert check(42).status == INCORRECT


def test_specific_explanations():
    assert "not a Value" in str(check_sigmoid_value(sigmoid_returns_float))
    assert "no children" in str(check_sigmoid_value(sigmoid_without_children))
    assert check_sigmoid_value(sigmoid_composed).status == CORRECT
    assert "forward difference" in str(check_central_difference(forward_difference))
    tuple_of_tensor = check_grad_by_hand(lambda x, y: list(grad_by_hand(x, y)))
    assert tuple_of_tensor.status == CORRECT  # a list is as good as a tuple
