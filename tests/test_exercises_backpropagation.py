"""The checks of notebook 02: reference solutions pass, plausible mistakes are explained, nothing raises."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from course_utils.autograd import Value
from course_utils.checks import CORRECT, INCORRECT, NOT_ATTEMPTED
from course_utils.exercises.backpropagation import (
    check_central_difference,
    check_grad_by_hand,
    check_mlp_backward,
    check_power,
    check_sigmoid_value,
)


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


# ---------------------------------------------------------------- exercise 1: a ** b with two Values
def power(a, b):
    out = a.data**b.data
    return Value(out, (a, b), "**", (b.data * a.data ** (b.data - 1), out * math.log(a.data)))


def power_children_swapped(a, b):  # another order of the children, with their local derivatives: also right
    out = math.exp(b.data * math.log(a.data))
    return Value(out, (b, a), "pow", (out * math.log(a.data), b.data * out / a.data))


def power_exponent_constant(a, b):  # treats b as a constant, as the table's a**n does
    return Value(a.data**b.data, (a,), "**", (b.data * a.data ** (b.data - 1),))


def power_log_of_b(a, b):  # d/db with log b instead of log a
    out = a.data**b.data
    return Value(out, (a, b), "**", (b.data * a.data ** (b.data - 1), out * math.log(abs(b.data) + 1e-12)))


def power_same_rule_twice(a, b):  # the a**n rule used for both inputs
    local = b.data * a.data ** (b.data - 1)
    return Value(a.data**b.data, (a, b), "**", (local, local))


def power_composed(a, b):  # right value and gradients, but not the one new node the exercise asks for
    return (b * a.log()).exp()


def test_power_accepts_a_notebook_engine_of_its_own():
    """The notebook defines its own Value class; the check must build its inputs with that class."""
    import course_utils.autograd as autograd

    source = Path(autograd.__file__).read_text(encoding="utf-8")
    lesson = source.split("# ---- the lesson: the same lines as notebook 02's mechanism cell ----\n")[1]
    namespace = {"math": math}
    exec(lesson.split("\n# ---- the public engine")[0], namespace)
    NotebookValue = namespace["Value"]

    def notebook_power(a, b):
        out = a.data**b.data
        return NotebookValue(out, (a, b), "**", (b.data * a.data ** (b.data - 1), out * math.log(a.data)))

    assert check_power(notebook_power).status == CORRECT
    assert check_power(power_children_swapped).status == CORRECT
    result = check_power(power_composed)
    assert result.status == INCORRECT and "children" in str(result)
    assert "not a constant" in str(check_power(power_exponent_constant))


# ---------------------------------------------------------------- exercise 3: backprop through a tensor MLP
def mlp_backward(X, y, W1, b1, W2, b2):
    N = X.shape[0]
    H = torch.tanh(X @ W1 + b1)
    Z = H @ W2 + b2
    dZ = (torch.softmax(Z, dim=1) - torch.nn.functional.one_hot(y, Z.shape[1]).to(Z.dtype)) / N
    dW2, db2 = H.T @ dZ, dZ.sum(0)
    dA = (dZ @ W2.T) * (1 - H**2)
    return X.T @ dA, dA.sum(0), dW2, db2


def mlp_backward_float32_lists(X, y, W1, b1, W2, b2):  # float32 arithmetic, nested lists in a list
    grads = mlp_backward(X.float(), y, W1.float(), b1.float(), W2.float(), b2.float())
    return [g.tolist() for g in grads]


def mlp_backward_numpy_dict(X, y, W1, b1, W2, b2):  # NumPy arrays in a dict keyed by name
    return dict(zip(("dW1", "db1", "dW2", "db2"), (g.numpy() for g in mlp_backward(X, y, W1, b1, W2, b2))))


def mlp_backward_transposed(X, y, W1, b1, W2, b2):  # dW = dA^T X: right for square shapes only, and transposed
    dW1, db1, dW2, db2 = mlp_backward(X, y, W1, b1, W2, b2)
    return dW1.T, db1, dW2.T, db2


def mlp_backward_sum(X, y, W1, b1, W2, b2):  # the gradient of the summed loss: N times too big
    return tuple(g * X.shape[0] for g in mlp_backward(X, y, W1, b1, W2, b2))


def mlp_backward_no_tanh_slope(X, y, W1, b1, W2, b2):  # forgot (1 - H**2)
    N = X.shape[0]
    H = torch.tanh(X @ W1 + b1)
    Z = H @ W2 + b2
    dZ = (torch.softmax(Z, dim=1) - torch.nn.functional.one_hot(y, Z.shape[1]).to(Z.dtype)) / N
    dA = dZ @ W2.T
    return X.T @ dA, dA.sum(0), H.T @ dZ, dZ.sum(0)


def mlp_backward_by_autograd(X, y, W1, b1, W2, b2):  # the library call the exercise rules out
    params = [t.clone().requires_grad_() for t in (W1, b1, W2, b2)]
    Z = torch.tanh(X @ params[0] + params[1]) @ params[2] + params[3]
    torch.nn.functional.cross_entropy(Z, y).backward()
    return [p.grad for p in params]


def mlp_backward_enable_grad(X, y, W1, b1, W2, b2):  # autograd switched back on inside the answer
    with torch.enable_grad():
        return mlp_backward_by_autograd(X, y, W1, b1, W2, b2)


def mlp_backward_autograd_grad(X, y, W1, b1, W2, b2):  # the same, through torch.autograd.grad
    with torch.enable_grad():
        params = [t.clone().requires_grad_() for t in (W1, b1, W2, b2)]
        Z = torch.tanh(X @ params[0] + params[1]) @ params[2] + params[3]
        return torch.autograd.grad(torch.nn.functional.cross_entropy(Z, y), params)


def test_mlp_backward_accepts_other_forms_and_explains_look_alikes():
    assert check_mlp_backward(mlp_backward_float32_lists).status == CORRECT
    assert check_mlp_backward(mlp_backward_numpy_dict).status == CORRECT
    transposed = check_mlp_backward(mlp_backward_transposed)
    assert transposed.status == INCORRECT and "transpose" in str(transposed)
    summed = check_mlp_backward(mlp_backward_sum)
    assert summed.status == INCORRECT and "too large" in str(summed) and "mean" in str(summed)
    assert check_mlp_backward(mlp_backward_no_tanh_slope).status == INCORRECT
    by_autograd = check_mlp_backward(mlp_backward_by_autograd)
    assert by_autograd.status == INCORRECT and "no_grad" in str(by_autograd)
    for sneaky in (mlp_backward_enable_grad, mlp_backward_autograd_grad):
        result = check_mlp_backward(sneaky)
        assert result.status == INCORRECT and "ruled out" in str(result)
    assert torch.autograd.backward.__module__ == "torch.autograd"  # and autograd works again after the check


CHECKS = [
    (
        check_power,
        power,
        [power_exponent_constant, power_log_of_b, power_same_rule_twice, power_composed, sigmoid_returns_float],
    ),
    (check_mlp_backward, mlp_backward, [mlp_backward_transposed, mlp_backward_sum, mlp_backward_no_tanh_slope]),
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


def test_grad_by_hand_accepts_tensors_and_rejects_a_single_path():
    as_tensors = check_grad_by_hand(
        lambda x, y: (torch.tensor(grad_by_hand(x, y)[0]), torch.tensor(grad_by_hand(x, y)[1]))
    )
    assert as_tensors.status == CORRECT  # a pair of 0-d tensors
    assert check_grad_by_hand(lambda x, y: torch.tensor(grad_by_hand(x, y), dtype=torch.float32)).status == CORRECT
    assert check_grad_by_hand(grad_one_use_of_x).status == INCORRECT  # right for y, misses x's second path
