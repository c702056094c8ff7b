"""Checks for the exercises of notebook 01, Activation Functions.

- `check_softplus(softplus)`: log(1 + e^x), stable for large |x|.
- `check_softplus_derivative(softplus_derivative)`: its derivative, without autograd.
- `check_leaky_relu_init_std(leaky_relu_init_std)`: the He-style weight std for a leaky ReLU of any slope,
  derived (the library's `torch.nn.init` helpers are ruled out).
- `check_predict_ratio(predict_ratio)`: a prediction of the gradient ratio across a deep leaky ReLU
  network initialised with plain He, then measured.
- `check_elu(elu)`: kept for old copies of the notebook.
"""

from __future__ import annotations

import math
import sys

import torch
from torch.nn import functional as F

from course_utils.activations import backward_signal_norms
from course_utils.checks import CORRECT, INCORRECT, Case, CheckResult, attempt, check_function, check_value
from course_utils.repro import single_thread


def _inputs() -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return [
        torch.tensor([0.0]),
        torch.tensor([-3.0, -0.5, 0.0, 0.5, 3.0]),
        torch.randn(4, 5, generator=g) * 3,
        torch.tensor([-100.0, 100.0]),  # large inputs: exp(100) overflows float32
    ]


def check_softplus(softplus) -> CheckResult:
    """`softplus(x)` = log(1 + exp(x)), elementwise, and stable for large |x|."""
    return check_function(
        "softplus",
        softplus,
        [Case((x,)) for x in _inputs()],
        reference=F.softplus,
        atol=1e-5,
        hint="exp(x) overflows to inf for x = 100 in float32. Split off the part that grows: for x > 0, "
        "log(1 + e^x) = x + log(1 + e^-x). One formula for both signs: max(x, 0) + log(1 + e^-|x|).",
        success="It matches torch.nn.functional.softplus, large inputs included.",
    )


def check_softplus_derivative(softplus_derivative) -> CheckResult:
    """The derivative of softplus, checked against autograd (large inputs included)."""

    def reference(x):
        x = x.clone().requires_grad_(True)
        F.softplus(x).sum().backward()
        return x.grad

    return check_function(
        "softplus_derivative",
        softplus_derivative,
        [Case((x,)) for x in _inputs()],
        reference=reference,
        atol=1e-5,
        hint="The chain rule gives e^x / (1 + e^x); written that way it is inf / inf = nan at x = 100. "
        "Divide top and bottom by e^x: which function of this notebook is 1 / (1 + e^-x)?",
        success="It matches the gradient autograd computes, at x = +-100 too.",
    )


# ---------------------------------------------------------------- initialisation for a leaky ReLU
def _init_std_reference(fan_in, negative_slope):
    return math.sqrt(2 / ((1 + negative_slope**2) * fan_in))


def _forbidden_codes() -> dict:
    """The code objects of the torch.nn.init helpers that would hand over the answer."""
    init = torch.nn.init
    names = ("calculate_gain", "kaiming_normal_", "kaiming_uniform_", "_calculate_correct_fan")
    return {
        getattr(init, n).__code__: f"torch.nn.init.{n}" for n in names if hasattr(getattr(init, n, None), "__code__")
    }


def _calls_forbidden(fn, *args):
    """Run `fn(*args)`; return (result, name of a forbidden torch.nn.init helper it called, or None)."""
    codes, seen = _forbidden_codes(), []

    def profile(frame, event, arg):
        if event == "call" and frame.f_code in codes:
            seen.append(codes[frame.f_code])

    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        result = fn(*args)
    finally:
        sys.setprofile(previous)
    return result, (seen[0] if seen else None)


def check_leaky_relu_init_std(leaky_relu_init_std) -> CheckResult:
    """`leaky_relu_init_std(fan_in, negative_slope)`: the std that keeps the signal's variance through a leaky ReLU layer.

    Accepts a Python float, a 0-d tensor or a NumPy number; rejects He's std that ignores the slope, a slope
    that is not squared, a variance for a standard deviation, and the answer taken from `torch.nn.init`.
    """
    name = "leaky_relu_init_std"
    hint = (
        "For z symmetric about 0, the slope is 1 on half the units and a on the other half, so "
        "E[f'(z)^2] = (1 + a^2) / 2. Keeping fan_in * Var(W) * E[f'(z)^2] = 1 gives the variance; "
        "return its square root."
    )
    if not callable(leaky_relu_init_std):
        return CheckResult(
            name,
            INCORRECT,
            f"Expected a function, got {type(leaky_relu_init_std).__name__}.",
            hint="Pass the function itself: check_leaky_relu_init_std(leaky_relu_init_std).",
        )
    cases = [(64, 0.0), (64, 0.01), (100, 0.5), (10, 1.0), (256, 0.2), (3, 2.0)]
    for i, (fan_in, slope) in enumerate(cases, start=1):
        outcome, failed = attempt(name, lambda f=fan_in, s=slope: _calls_forbidden(leaky_relu_init_std, f, s))
        if failed is not None:  # a CheckResult is falsy unless it passed
            return failed
        got, forbidden = outcome
        if forbidden:
            return CheckResult(
                name,
                INCORRECT,
                f"Your function calls {forbidden}, which knows the answer already.",
                ["This exercise asks you to derive the standard deviation yourself."],
                hint,
            )
        result = check_value(name, got, _init_std_reference(fan_in, slope), hint=hint, rtol=1e-6)
        if not result.passed:
            detail = f"case {i} of {len(cases)}: fan_in={fan_in}, negative_slope={slope}"
            return CheckResult(name, INCORRECT, "The value does not match.", [detail, *result.details], hint)
    return CheckResult(
        name,
        CORRECT,
        f"All {len(cases)} cases match: std = sqrt(2 / ((1 + a^2) fan_in)). With a = 0 it is He's "
        "sqrt(2 / fan_in); with a = 1 (no bend at all) it is 1 / sqrt(fan_in), right for a linear layer.",
    )


# ---------------------------------------------------------------- a prediction, then the experiment
MISMATCH_DEPTH = 20  # layers of the network in the prediction exercise
MISMATCH_SLOPE = 0.5  # its leaky ReLU's negative slope
MISMATCH_WIDTH = 128


def mismatch_theory(depth: int = MISMATCH_DEPTH, negative_slope: float = MISMATCH_SLOPE) -> float:
    """The predicted first-to-last gradient norm ratio: depth - 1 factors of sqrt(1 + a^2)."""
    return (1 + negative_slope**2) ** ((depth - 1) / 2)


@single_thread()  # small matrices: one thread is fastest, and a busy machine stays usable
def measure_mismatch(
    seeds=(0, 1, 2),
    depth: int = MISMATCH_DEPTH,
    negative_slope: float = MISMATCH_SLOPE,
    width: int = MISMATCH_WIDTH,
    n_samples: int = 64,
) -> list[float]:
    """The measured first-to-last ratio ||dL/dz_first|| / ||dL/dz_last||, one per seed (plain He init)."""
    ratios = []
    for seed in seeds:
        g = torch.Generator().manual_seed(seed)
        std = math.sqrt(2 / width)  # He's std, which ignores the negative slope
        x = torch.randn(n_samples, width, generator=g, dtype=torch.float64)
        grad_out = torch.randn(n_samples, width, generator=g, dtype=torch.float64)
        weights = [torch.randn(width, width, generator=g, dtype=torch.float64) * std for _ in range(depth)]
        norms = backward_signal_norms(
            x,
            weights,
            lambda z: torch.where(z > 0, z, negative_slope * z),
            lambda z: torch.where(z > 0, torch.ones_like(z), torch.full_like(z, negative_slope)),
            grad_out,
        )
        ratios.append((norms[0] / norms[-1]).item())
    return ratios


def check_predict_ratio(predict_ratio) -> CheckResult:
    """`predict_ratio(depth, negative_slope)`: ||dL/dz_first|| / ||dL/dz_last|| for a deep leaky ReLU network
    initialised with plain He (std sqrt(2 / fan_in), blind to the slope), predicted from the variance argument.

    Accepts floats, 0-d tensors and NumPy numbers; rejects `depth` factors instead of `depth - 1`, a ratio of
    mean squares for a ratio of norms, and a slope that is not squared. When right, the message adds the ratio
    measured on three seeds for depth 20 and slope 0.5.
    """
    hint = (
        "Per layer the mean square of the gradient is multiplied by fan_out * Var(W) * E[f'(z)^2] = "
        "fan_out * (2 / fan_in) * (1 + a^2) / 2 = 1 + a^2. Count the layers between the first and the last "
        "(not the layers), and remember that a norm is the square root of a mean square."
    )
    cases = [
        Case((MISMATCH_DEPTH, MISMATCH_SLOPE)),
        Case((10, 0.5)),
        Case((30, 0.0)),
        Case((5, 1.0)),
        Case((2, 0.3)),
        Case((12, 0.01)),
    ]
    result = check_function(
        "predict_ratio", predict_ratio, cases, reference=mismatch_theory, rtol=1e-6, atol=0, hint=hint
    )
    if not result.passed:
        return result
    measured = measure_mismatch()
    return CheckResult(
        result.name,
        CORRECT,
        f"{result.message} For depth {MISMATCH_DEPTH} and slope {MISMATCH_SLOPE} you predict "
        f"{mismatch_theory():.3g}; measured on three seeds (width {MISMATCH_WIDTH}): "
        f"{min(measured):.3g} to {max(measured):.3g}.",
    )


# ---------------------------------------------------------------- kept for old copies of the notebook
def check_elu(elu) -> CheckResult:
    """`elu(x, alpha)`: x for x > 0, alpha * (exp(x) - 1) otherwise."""
    cases = [Case((x,), {"alpha": a}) for x in _inputs()[:3] for a in (1.0, 0.5)]
    return check_function(
        "elu",
        elu,
        cases,
        reference=lambda x, alpha: F.elu(x, alpha=alpha),
        atol=1e-5,
        hint="torch.where(x > 0, x, alpha * (torch.exp(x) - 1)) picks one formula per element.",
        success="It matches torch.nn.functional.elu for both values of alpha.",
    )
