"""Checks for notebook 02, Backpropagation.

- `check_power(power)`: a new engine operation, a ** b with both a and b Values (its local derivatives derived).
- `check_grad_by_hand(grad_f)`: the two partial derivatives of f(x, y) = tanh(x*y + x), by hand.
- `check_mlp_backward(mlp_backward)`: the backward pass of a two-layer tanh network with a mean
  softmax-cross-entropy loss, on tensors, by hand (checked against torch.autograd).

Earlier exercises of the notebook, kept for older copies of it: `check_sigmoid_value(sigmoid)` and
`check_central_difference(central_difference)` (both re-typed a formula the notebook shows).
"""

from __future__ import annotations

import contextlib
import math
from unittest import mock

import numpy as np
import torch
import torch.func

from course_utils.autograd import Value, _is_value
from course_utils.checks import CORRECT, INCORRECT, Case, CheckResult, attempt, check_function, compare

# ---------------------------------------------------------------- exercise 1: sigmoid for Value
_SIGMOID_POINTS = (-3.0, -0.5, 0.0, 0.7, 4.0, -40.0)


def _sigmoid_problem(sigmoid, x: float) -> str | None:
    """Run the learner's sigmoid on Value(x) alone; explain the first thing that is wrong."""
    v = Value(x, label="v")
    out = sigmoid(v)
    if not _is_value(out):
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


# ---------------------------------------------------------------- exercise 1: a ** b with two Values
# (a, b) pairs: a below and above 1 (log a < 0 and > 0), integer and fractional exponents, a negative one.
_POWER_POINTS = ((2.0, 3.0), (0.5, 1.5), (1.7, -0.6), (3.0, 0.0), (0.9, 2.5))


def _power_problem(power, value_class, a_data: float, b_data: float, same: bool = False) -> str | None:
    """Run power(a, b) (or power(a, a) when `same`) and compare value and gradients with torch.pow."""
    a = value_class(a_data)
    b = a if same else value_class(b_data)
    out = power(a, b)
    where = f"power(a, a) with a = {a_data:g}" if same else f"power(a, b) with a = {a_data:g}, b = {b_data:g}"
    if not _is_value(out):
        return f"{where} returned {type(out).__name__}, not a Value, so backward() cannot run through it"
    ta = torch.tensor(a_data, dtype=torch.float64, requires_grad=True)
    tb = ta if same else torch.tensor(b_data, dtype=torch.float64, requires_grad=True)
    t_out = ta**tb
    t_out.backward()
    problem = compare(t_out.item(), out.data, atol=1e-9, rtol=1e-9, where=f"the data of {where}")
    if problem:
        return problem
    children = [id(c) for c in out._prev]
    if id(a) in children and id(b) not in children:
        return (
            f"{where}: b is not among the children of the Value you return, but b is not a constant here: "
            "a change in b changes a**b too, so record (a, b) as the children, with a local derivative for each"
        )
    if id(a) not in children or id(b) not in children:
        return (
            f"{where}: the Value you return must have a and b themselves as its children (one new node, as the "
            "engine's own operations do), so that backward() hands each of them its share"
        )
    out.backward()
    if same:
        return compare(ta.grad.item(), a.grad, atol=1e-9, rtol=1e-7, where=f"a.grad after {where}(a, a).backward()")
    expected, got = [ta.grad.item(), tb.grad.item()], [a.grad, b.grad]
    problem = compare(expected[1], got[1], atol=1e-9, rtol=1e-7, where=f"b.grad for {where}")
    if problem:
        if got[1] == 0:
            problem += "; b is not a constant here: a change in b changes a**b too"
        return problem
    return compare(expected[0], got[0], atol=1e-9, rtol=1e-7, where=f"a.grad for {where}")


def check_power(power) -> CheckResult:
    """Check `power(a, b) -> Value` for a ** b with two Values (a > 0) against `torch.pow`.

    The answer must be one new node whose children are `a` and `b` (in either order), with the data
    a**b and the two local derivatives; its gradients after `backward()` are compared with autograd at
    five points and for power(a, a) (a used twice, so both of its local derivatives add up). The
    Values passed in are of the same class as the one the answer returns (the notebook's own engine).
    """
    name = "power"
    hint = (
        "Write a**b as exp(b * log a) and differentiate with respect to each input; "
        "then return Value(a.data ** b.data, (a, b), '**', (d_da, d_db))."
    )
    if not callable(power):
        return CheckResult(
            name,
            INCORRECT,
            f"Expected a function, got {type(power).__name__}.",
            hint="Pass the function itself: check_power(power).",
        )
    # Find out which engine the answer builds its Values with, so every input is of that same class.
    first, failed = attempt(name, lambda: power(Value(2.0), Value(3.0)))
    if failed is not None:
        if failed.status == INCORRECT:
            failed.hint = hint
            failed.details.insert(0, "input: power(Value(2), Value(3))")
        return failed
    value_class = type(first) if _is_value(first) else Value
    cases = [(a, b, False) for a, b in _POWER_POINTS] + [(1.3, 1.3, True)]
    for a, b, same in cases:
        problem, failed = attempt(name, lambda a=a, b=b, same=same: _power_problem(power, value_class, a, b, same))
        if failed is not None:
            if failed.status == INCORRECT:
                failed.hint = hint
            return failed
        if problem:
            return CheckResult(name, INCORRECT, "Not right yet.", [problem], hint)
    return CheckResult(
        name,
        CORRECT,
        f"Data and both gradients match torch.pow at {len(_POWER_POINTS)} points, and power(a, a) adds up "
        "both uses of a (the slope of x**x is x**x (log x + 1)).",
    )


# ---------------------------------------------------------------- exercise 3: backprop through a tensor MLP
# (seed, N, D, H, C): batch, inputs, hidden units, classes. No two of D, H, C are equal, so a transposed
# weight gradient has the wrong shape and cannot pass by accident.
_MLP_CASES = ((0, 6, 3, 5, 4), (1, 4, 2, 7, 3), (2, 9, 4, 3, 5))


def _mlp_inputs(seed: int, n: int, d: int, h: int, c: int) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g, dtype=torch.float64)
    y = torch.randint(0, c, (n,), generator=g)
    W1 = torch.randn(d, h, generator=g, dtype=torch.float64) / d**0.5
    b1 = 0.1 * torch.randn(h, generator=g, dtype=torch.float64)
    W2 = torch.randn(h, c, generator=g, dtype=torch.float64) / h**0.5
    b2 = 0.1 * torch.randn(c, generator=g, dtype=torch.float64)
    return X, y, W1, b1, W2, b2


def _mlp_gradients(X, y, W1, b1, W2, b2) -> list[torch.Tensor]:
    """The reference: loss = mean cross-entropy of softmax(tanh(X W1 + b1) W2 + b2), by torch.autograd."""
    params = [t.detach().clone().requires_grad_(True) for t in (W1, b1, W2, b2)]
    with torch.enable_grad():
        hidden = torch.tanh(X @ params[0] + params[1])  # (N, H)
        logits = hidden @ params[2] + params[3]  # (N, C)
        torch.nn.functional.cross_entropy(logits, y).backward()
    return [p.grad for p in params]


_GRAD_NAMES = ("dW1", "db1", "dW2", "db2")


def _refuse(shown: str):
    def refuse(*args, **kwargs):
        raise RuntimeError(f"{shown} is ruled out in this exercise: compute the gradients by hand")

    return refuse


@contextlib.contextmanager
def _autograd_ruled_out():
    """While the learner's code runs, autograd's entry points refuse to work (`loss.backward()` calls
    `torch.autograd.backward`), so `torch.enable_grad()` inside the answer cannot bring autograd back."""
    with contextlib.ExitStack() as stack:
        for module, name, shown in (
            (torch.autograd, "backward", "autograd (loss.backward() or torch.autograd.backward)"),
            (torch.autograd, "grad", "torch.autograd.grad"),
            (torch.func, "grad", "torch.func.grad"),
            (torch.func, "grad_and_value", "torch.func.grad_and_value"),
            (torch.func, "vjp", "torch.func.vjp"),
            (torch.func, "jacrev", "torch.func.jacrev"),
        ):
            stack.enter_context(mock.patch.object(module, name, _refuse(shown)))
        yield


def _as_tensor(x) -> torch.Tensor | None:
    """A tensor, nested list or NumPy array as a float64 tensor; None if it is none of these."""
    if isinstance(x, torch.Tensor):
        return x.detach().to(torch.float64)
    if isinstance(x, np.ndarray):
        return torch.from_numpy(np.asarray(x, dtype=np.float64))
    if isinstance(x, (list, tuple)):
        try:
            return torch.tensor(x, dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError):
            return None
    return None


def _mlp_problem(expected: list[torch.Tensor], got, n: int, variables: dict[str, tuple]) -> str | None:
    if isinstance(got, dict):
        got = [got.get(k) for k in _GRAD_NAMES]
    if not isinstance(got, (list, tuple)) or len(got) != 4:
        return f"expected 4 gradients (dW1, db1, dW2, db2), got {type(got).__name__}"
    # From the loss backwards (dW2, db2, then dW1, db1): the first gradient that is off shows where the chain broke.
    for k in (2, 3, 0, 1):
        name, e, g_raw = _GRAD_NAMES[k], expected[k], got[k]
        g = _as_tensor(g_raw)
        if g is None:
            return f"{name}: expected a tensor, NumPy array or nested list, got {type(g_raw).__name__}"
        var, shape = variables[name]
        if tuple(g.shape) != tuple(e.shape):
            if g.dim() == 2 and tuple(g.shape) == tuple(e.shape)[::-1]:
                return (
                    f"{name} has shape {tuple(g.shape)}, the transpose of {var}'s shape {shape}: a gradient has the "
                    f"shape of its variable, so it is X^T dA (inputs^T times the gradient above), not the other way"
                )
            return (
                f"{name} has shape {tuple(g.shape)}, but {var} has shape {shape}: a gradient has its variable's shape"
            )
        if not bool(torch.isfinite(g).all()):
            return f"{name} contains inf or nan"
        if torch.allclose(g, e, rtol=1e-4, atol=1e-6):
            continue
        scale = float((g * e).sum() / (e * e).sum()) if float((e * e).sum()) > 0 else 0.0
        if torch.allclose(g, scale * e, rtol=1e-3, atol=1e-6):
            if abs(scale - n) < 1e-3 * n:
                return (
                    f"{name} is {n} times too large, N = {n} being the batch size: the loss is the mean over the "
                    "batch, not the sum, so dZ = (p - onehot(y)) / N"
                )
            if abs(scale - 1 / n) < 1e-3 / n:
                return f"{name} is {n} times too small: divide by N once, in dZ, not again later"
        worst = float((g - e).abs().max())
        where = (
            "; dW2 and db2 are right, so look between the logits and the first layer: dH = dZ W2^T, then tanh's slope"
            if k in (0, 1)
            else ""
        )
        return f"{name} differs from autograd's (largest difference {worst:.3g}){where}"
    return None


def check_mlp_backward(mlp_backward) -> CheckResult:
    """Check `mlp_backward(X, y, W1, b1, W2, b2) -> (dW1, db1, dW2, db2)` against torch.autograd.

    The network: hidden = tanh(X @ W1 + b1), logits = hidden @ W2 + b2, loss = the mean over the
    batch of softmax cross-entropy with integer labels y. Tried on three batches whose sizes are all
    different (a transposed gradient has the wrong shape). The answer may be a tuple or list of
    tensors (float32 or float64), NumPy arrays or nested lists. It runs under `torch.no_grad()`, with
    `torch.autograd.backward`/`grad` and `torch.func`'s gradient transforms ruled out: the gradients must
    be computed by hand, not by autograd.
    """
    name = "mlp_backward"
    hint = (
        "Go backwards one line at a time: dZ = (softmax(Z) - onehot(y)) / N; dW2 = H^T dZ; db2 = dZ summed over "
        "the batch; dH = dZ W2^T; dA = dH * (1 - H**2); dW1 = X^T dA; db1 = dA summed over the batch."
    )
    if not callable(mlp_backward):
        return CheckResult(
            name,
            INCORRECT,
            f"Expected a function, got {type(mlp_backward).__name__}.",
            hint="Pass the function itself: check_mlp_backward(mlp_backward).",
        )
    for i, (seed, n, d, h, c) in enumerate(_MLP_CASES, start=1):
        inputs = _mlp_inputs(seed, n, d, h, c)
        expected = _mlp_gradients(*inputs)
        variables = {
            "dW1": ("W1", (d, h)),
            "db1": ("b1", (h,)),
            "dW2": ("W2", (h, c)),
            "db2": ("b2", (c,)),
        }

        def run(inputs=inputs):
            with torch.no_grad(), _autograd_ruled_out():  # no autograd: the gradients are to be derived by hand
                return mlp_backward(*(t.clone() for t in inputs))

        got, failed = attempt(name, run)
        if failed is not None:
            if failed.status == INCORRECT:
                failed.hint = hint
                failed.details.insert(0, f"case {i}: N = {n}, D = {d}, H = {h}, C = {c}")
                if any("does not require grad" in line or "ruled out" in line for line in failed.details):
                    failed.details.append(
                        "the check runs your function under torch.no_grad(), autograd ruled out: compute by hand"
                    )
            return failed
        problem = _mlp_problem(expected, got, n, variables)
        if problem:
            return CheckResult(
                name,
                INCORRECT,
                f"Case {i} of {len(_MLP_CASES)} does not match.",
                [f"case {i}: N = {n}, D = {d}, H = {h}, C = {c}", problem],
                hint,
            )
    return CheckResult(
        name,
        CORRECT,
        f"All {len(_MLP_CASES)} batches match torch.autograd: you backpropagated through a network by hand.",
    )
