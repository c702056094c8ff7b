"""Checks for notebook 02, Backpropagation.

- `check_sigmoid_value(sigmoid)`: a sigmoid for `Value`, forward and local derivative.
- `check_grad_by_hand(grad_f)`: the two partial derivatives of f(x, y) = tanh(x*y + x), by hand.
- `check_central_difference(central_difference)`: a numerical gradient by central differences.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from course_utils.autograd import Value
from course_utils.checks import CORRECT, INCORRECT, Case, CheckResult, attempt, check_function, compare

# ---------------------------------------------------------------- exercise 1: sigmoid for Value
_SIGMOID_POINTS = (-3.0, -0.5, 0.0, 0.7, 4.0, -40.0)


def _sigmoid_problem(sigmoid, x: float) -> str | None:
    """Run the learner's sigmoid on Value(x) alone; explain the first thing that is wrong."""
    v = Value(x, label="v")
    out = sigmoid(v)
    if not isinstance(out, Value):
        return f"sigmoid(Value({x:g})) returned {type(out).__name__}, not a Value, so backward() cannot run through it"
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    s = torch.sigmoid(t)
    s.backward()
    problem = compare(s.item(), out.data, atol=1e-9, rtol=1e-9, where="the output's data")
    if problem:
        return f"at x = {x:g}: {problem}"
    out.backward()
    if v.grad == 0.0 and t.grad.item() != 0.0 and not out._prev:
        return "the Value you return has no children: pass (v,) as its children so the gradient can reach v"
    problem = compare(t.grad.item(), v.grad, atol=1e-9, rtol=1e-7, where="v.grad after out.backward()")
    return f"at x = {x:g}: {problem}" if problem else None


def _sigmoid_in_graph_problem(sigmoid) -> str | None:
    """The learner's sigmoid inside a bigger expression: L = sigmoid(a*b + c) * a."""
    a, b, c = Value(0.8), Value(-1.5), Value(0.3)
    loss = sigmoid(a * b + c) * a
    ta, tb, tc = (torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in (0.8, -1.5, 0.3))
    (torch.sigmoid(ta * tb + tc) * ta).backward()
    loss.backward()
    return compare(
        [ta.grad.item(), tb.grad.item(), tc.grad.item()],
        [a.grad, b.grad, c.grad],
        atol=1e-9,
        rtol=1e-7,
        where="the gradients [a, b, c] of L = sigmoid(a*b + c) * a",
    )


def check_sigmoid_value(sigmoid) -> CheckResult:
    """Check `sigmoid(v: Value) -> Value` against `torch.sigmoid`: values and gradients.

    Tried at x in (-3, -0.5, 0, 0.7, 4, -40), then inside L = sigmoid(a*b + c) * a.
    """
    name = "sigmoid_value"
    hint = (
        "s = 1 / (1 + exp(-x)) for the data (for x < 0, exp(x) / (1 + exp(x)) avoids overflow); "
        "the local derivative is s * (1 - s). Return Value(s, (v,), 'sigmoid', (s * (1 - s),))."
    )
    if not callable(sigmoid):
        return CheckResult(
            name,
            INCORRECT,
            f"Expected a function, got {type(sigmoid).__name__}.",
            hint="Pass the function itself: check_sigmoid_value(sigmoid).",
        )
    for x in _SIGMOID_POINTS:
        problem, failed = attempt(name, lambda x=x: _sigmoid_problem(sigmoid, x))
        if failed is not None:  # (a CheckResult that is not CORRECT is falsy, hence `is not None`)
            if failed.status == INCORRECT:
                failed.hint = hint
                failed.details.insert(0, f"input: Value({x:g})")
            return failed
        if problem:
            return CheckResult(name, INCORRECT, "The sigmoid Value is not right yet.", [problem], hint)
    problem, failed = attempt(name, lambda: _sigmoid_in_graph_problem(sigmoid))
    if failed is not None:
        if failed.status == INCORRECT:
            failed.hint = hint
        return failed
    if problem:
        return CheckResult(
            name,
            INCORRECT,
            "Alone it works, but not inside a bigger expression.",
            [problem],
            "Does your Value record v as its child, and the local derivative (not the full gradient)?",
        )
    return CheckResult(
        name,
        CORRECT,
        f"Values and gradients match torch.sigmoid at {len(_SIGMOID_POINTS)} points "
        "and inside L = sigmoid(a*b + c) * a.",
    )


# ---------------------------------------------------------------- exercise 2: a gradient by hand
def _grad_by_engine(x: float, y: float) -> tuple[float, float]:
    """The reference: f(x, y) = tanh(x*y + x), differentiated by the engine."""
    vx, vy = Value(x), Value(y)
    (vx * vy + vx).tanh().backward()
    return (vx.grad, vy.grad)


def _as_pair(got):
    if isinstance(got, (torch.Tensor, np.ndarray)):
        got = tuple(float(v) for v in got.reshape(-1).tolist())
    if isinstance(got, list):
        got = tuple(got)
    return got


def check_grad_by_hand(grad_f) -> CheckResult:
    """Check `grad_f(x, y) -> (df/dx, df/dy)` for f(x, y) = tanh(x*y + x) at a few points."""
    points = [(1.2, 0.4), (0.5, -1.0), (-0.7, 2.0), (0.0, 3.0), (2.0, -1.5)]
    cases = [Case((x, y), expected=_grad_by_engine(x, y), label=f"x = {x}, y = {y}") for x, y in points]

    def compare_pair(expected, got):
        return compare(expected, _as_pair(got), atol=1e-8, rtol=1e-6)

    return check_function(
        "grad_by_hand",
        grad_f,
        cases,
        compare_fn=compare_pair,
        hint="Let u = x*y + x. Then df/du = 1 - tanh(u)**2, du/dy = x, and du/dx = y + 1: "
        "x is used twice, so both uses count.",
        success="They equal the engine's backward pass.",
    )


# ---------------------------------------------------------------- exercise 3: central differences
def _cubic(v):
    return v[0] ** 3 + v[0] * v[1] - 2 * v[1] ** 2


def _rational(v):
    return 1 / (1 + v[0] ** 2) + v[0] * v[1] * v[2]


def _single(v):
    return (v[0] - 0.5) ** 4


_CD_CASES = (
    (_cubic, [1.5, -2.0], "f = x0**3 + x0*x1 - 2*x1**2 at [1.5, -2.0]"),
    (_rational, [0.3, -1.2, 2.0], "f = 1/(1 + x0**2) + x0*x1*x2 at [0.3, -1.2, 2.0]"),
    (_single, [2.0], "f = (x0 - 0.5)**4 at [2.0]"),
)


def _exact_gradient(f, xs: list[float]) -> list[float]:
    values = [Value(x) for x in xs]
    f(values).backward()
    return [v.grad for v in values]


def check_central_difference(central_difference) -> CheckResult:
    """Check `central_difference(f, xs, eps)` (a list of partial derivatives) with eps = 1e-5.

    The exact gradients come from the engine; central differences agree to about 1e-9 here,
    forward differences only to about 1e-5, so they do not pass.
    """
    cases = [Case((f, list(xs), 1e-5), expected=_exact_gradient(f, list(xs)), label=text) for f, xs, text in _CD_CASES]

    def compare_list(expected, got):
        if isinstance(got, (torch.Tensor, np.ndarray)):
            got = got.reshape(-1).tolist()
        if isinstance(got, (list, tuple)) and not all(isinstance(g, (int, float)) and math.isfinite(g) for g in got):
            return f"expected a list of finite floats, got {got!r}"
        problem = compare(expected, got, atol=1e-7, rtol=1e-6)
        if problem and isinstance(got, (list, tuple)) and len(got) == len(expected):
            worst = max(abs(g - e) for g, e in zip(got, expected))
            if 1e-7 < worst < 1e-3:
                problem += " (an error near eps suggests a forward difference; use f(x + eps) and f(x - eps))"
        return problem

    return check_function(
        "central_difference",
        central_difference,
        cases,
        compare_fn=compare_list,
        hint="For each i: copy xs, add eps to entry i, copy again and subtract eps, then "
        "(f(up) - f(down)) / (2 * eps). Do not leave xs changed.",
        success="They match the exact gradients from backpropagation.",
    )
